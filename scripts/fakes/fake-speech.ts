/**
 * A local Speech-to-Text v2: a real gRPC server speaking `google.cloud.speech.v2.Speech` (Recognize,
 * BatchRecognize) and `google.longrunning.Operations` (GetOperation, CancelOperation) from the protos
 * `@google-cloud/speech` ships (their `google/api`, `google/rpc` and `google/longrunning` imports
 * come from google-gax's copies), so the real client library talks to it over HTTP/2 exactly as it
 * would to Google. Every other method answers UNIMPLEMENTED.
 *
 * It records every request and checks what the service checks before recognizing: the recognizer
 * name and location, the model, the language for that model, one audio source, the synchronous
 * limits (10 MB, 60 s), a decodable format. Refusals use the service's wording where it is known
 * from public reports (the language and model messages); the audio-length wording is this fake's
 * own. By default the answer is real recognition: the audio is transcribed with pocketsphinx and
 * returned the way v2 returns results (one result per utterance, `resultEndOffset` only, word
 * offsets and confidences when asked for, lower-case `languageCode`, billed duration rounded up to
 * the second). Tests can answer with canned results, an error, or never (to test aborts).
 *
 * Batch recognition reads `gs://` URIs from a map the test fills (`putObject`); an operation
 * reports progress for `pollsUntilDone` GetOperation calls, then finishes with the results inline,
 * packed in `Any` the way Google packs them.
 *
 * Listens on 127.0.0.1 with an ephemeral port, plaintext. Needs ffmpeg and pocketsphinx.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { protos } from '@google-cloud/speech';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { z } from 'zod';

import { runProcess } from '../../shared/engines/exec.js';
import { parsePocketsphinxOutput } from '../../shared/engines/stt/local.js';
import { sniffAudioContainer } from '../../shared/media/probe.js';
import { parseWavHeader, wavHeader } from '../../shared/media/wav.js';
import { bindLoopback, loadClientProto, shutdownWithin, statusError } from './grpc.js';

type ISpeechRecognitionResult = protos.google.cloud.speech.v2.ISpeechRecognitionResult;
type IRecognizeResponse = protos.google.cloud.speech.v2.IRecognizeResponse;

/** `build/src/index.js` → `build/protos` in both packages. */
const PROTO_FILE = 'google/cloud/speech/v2/cloud_speech.proto';
const SPEECH = 'google.cloud.speech.v2.Speech';
const OPERATIONS = 'google.longrunning.Operations';

export const FAKE_PROJECT = 'demo-scriptorium';

/** A request as the server decoded it. */
export interface RecordedRequest {
  readonly method: 'Recognize' | 'BatchRecognize';
  readonly recognizer: string;
  readonly model: string;
  readonly languageCodes: readonly string[];
  readonly features: {
    readonly enableWordTimeOffsets: boolean;
    readonly enableWordConfidence: boolean;
    readonly enableAutomaticPunctuation: boolean;
    readonly profanityFilter: boolean;
  };
  readonly decoding: { readonly kind: 'explicit'; readonly encoding: string; readonly sampleRateHertz: number; readonly audioChannelCount: number } | { readonly kind: 'auto' } | { readonly kind: 'none' };
  /** Inline audio (Recognize). */
  readonly content: Buffer;
  /** `uri` (Recognize) or the files' URIs (BatchRecognize). */
  readonly uris: readonly string[];
  /** Which batch output was asked for: `inline`, `gcs` or `none`. */
  readonly output: 'inline' | 'gcs' | 'none';
  readonly configMask: readonly string[];
  /** Request metadata (x-goog-request-params, x-goog-api-client, authorization when sent). */
  readonly metadata: Readonly<Record<string, string>>;
}

/** Audio the fake has decoded for a request: 16 kHz mono s16le samples. */
export interface DecodedAudio {
  readonly samples: Buffer;
  readonly durationSeconds: number;
}

/** What the fake does with one request after its own validation passed. */
export type FakeReply =
  | { readonly results: readonly ISpeechRecognitionResult[]; readonly billedSeconds?: number }
  | { readonly error: { readonly code: grpc.status; readonly message: string } }
  | { readonly hang: true };

/** Decides the reply to the `index`-th request (0-based, counting every request received). */
export type Responder = (request: RecordedRequest, audio: DecodedAudio, index: number) => FakeReply | Promise<FakeReply>;

export interface FakeSpeechOptions {
  /** The location this endpoint serves (default `global`). */
  readonly location?: string;
  /** Models that exist here (default long, short, telephony, chirp_2). */
  readonly models?: readonly string[];
  /** Languages every model has (default en-US, en-GB, de-DE, fr-FR, es-ES). */
  readonly languages?: readonly string[];
  /** GetOperation calls that report progress before a batch operation is done (default 1). */
  readonly pollsUntilDone?: number;
  /** Default {@link recognizeWithPocketsphinx}. */
  readonly respond?: Responder;
  /**
   * Reads a `gs://` URI batch recognition was given that `putObject` did not register (e.g. from
   * the storage emulator, as the service reads the bucket); undefined: the object does not exist.
   */
  readonly readObject?: (uri: string) => Promise<Buffer | undefined>;
}

export interface FakeSpeech {
  /** `127.0.0.1:PORT`, for `SCRIPTORIUM_STT_ENDPOINT` or the engine's `apiEndpoint`. */
  readonly endpoint: string;
  readonly requests: readonly RecordedRequest[];
  /** Names of GetOperation requests, in order. */
  readonly polls: readonly string[];
  /** Calls the client cancelled before the server answered. */
  readonly cancelled: number;
  /** Names of CancelOperation requests, in order. */
  readonly cancels: readonly string[];
  respond: Responder;
  /** Makes `gs://…` readable by batch recognition, with the bytes of a local file. */
  putObject(uri: string, path: string): void;
  close(): Promise<void>;
}

const ConfigSchema = z
  .object({
    model: z.string().default(''),
    languageCodes: z.array(z.string()).default([]),
    features: z
      .object({
        enableWordTimeOffsets: z.boolean().default(false),
        enableWordConfidence: z.boolean().default(false),
        enableAutomaticPunctuation: z.boolean().default(false),
        profanityFilter: z.boolean().default(false),
      })
      .nullish(),
    explicitDecodingConfig: z.object({ encoding: z.string(), sampleRateHertz: z.number(), audioChannelCount: z.number() }).nullish(),
    autoDecodingConfig: z.object({}).nullish(),
    decodingConfig: z.string().optional(),
  })
  .nullish();
const RecognizeSchema = z.object({
  recognizer: z.string(),
  config: ConfigSchema,
  configMask: z.object({ paths: z.array(z.string()) }).nullish(),
  content: z.instanceof(Buffer).optional(),
  uri: z.string().optional(),
  audioSource: z.string().optional(),
});
const BatchSchema = z.object({
  recognizer: z.string(),
  config: ConfigSchema,
  configMask: z.object({ paths: z.array(z.string()) }).nullish(),
  files: z.array(z.object({ uri: z.string().optional() })).default([]),
  recognitionOutputConfig: z
    .object({ gcsOutputConfig: z.object({ uri: z.string() }).nullish(), inlineResponseConfig: z.object({}).nullish(), output: z.string().optional() })
    .nullish(),
});

interface FakeOperation {
  readonly name: string;
  readonly uri: string;
  polls: number;
  readonly created: Date;
  /** Settled once recognition finished (the reply) — computed when the operation starts. */
  readonly outcome: Promise<FakeReply | { readonly fileError: { readonly code: number; readonly message: string } }>;
  /** CancelOperation was asked while it ran: it ends with CANCELLED. */
  cancelled: boolean;
}

/** Starts a fake on 127.0.0.1:0. Close it in `after`. */
export async function startFakeSpeech(options: FakeSpeechOptions = {}): Promise<FakeSpeech> {
  const location = options.location ?? 'global';
  const models = new Set(options.models ?? ['long', 'short', 'telephony', 'chirp_2']);
  const languages = new Set((options.languages ?? ['en-US', 'en-GB', 'de-DE', 'fr-FR', 'es-ES']).map((l) => l.toLowerCase()));
  const pollsUntilDone = options.pollsUntilDone ?? 1;
  const work = await mkdtemp(join(tmpdir(), 'fake-speech-'));
  const requests: RecordedRequest[] = [];
  const polls: string[] = [];
  const cancels: string[] = [];
  const objects = new Map<string, string>();
  const operations = new Map<string, FakeOperation>();
  let cancelled = 0;
  let respond: Responder = options.respond ?? recognizeWithPocketsphinx;

  const definition = loadClientProto('@google-cloud/speech', PROTO_FILE);
  const speech = definition[SPEECH];
  const ops = definition[OPERATIONS];
  if (!isService(speech, 'Recognize') || !isService(ops, 'GetOperation')) throw new Error(`${SPEECH} or ${OPERATIONS} not found in ${PROTO_FILE}`);

  const metadataOf = (call: grpc.ServerUnaryCall<unknown, unknown>): Record<string, string> =>
    Object.fromEntries(Object.entries(call.metadata.getMap()).map(([k, v]) => [k, typeof v === 'string' ? v : v.toString('base64')]));

  /** The service's checks shared by both methods; undefined when the request passes. */
  const checkConfig = (recognizer: string, config: z.infer<typeof ConfigSchema>): { code: grpc.status; message: string } | undefined => {
    const m = /^projects\/([^/]+)\/locations\/([^/]+)\/recognizers\/([^/]+)$/.exec(recognizer);
    if (!m) return { code: grpc.status.INVALID_ARGUMENT, message: `Invalid resource field value in the request: recognizer "${recognizer}".` };
    if (m[2] !== location) return { code: grpc.status.INVALID_ARGUMENT, message: `Expected resource location to be ${location}, but found ${m[2]} in resource name.` };
    if (m[3] !== '_') return { code: grpc.status.NOT_FOUND, message: `Unable to find Recognizer ${m[3]} from project ${m[1]}.` };
    const model = config?.model ?? '';
    if (model === '') return { code: grpc.status.INVALID_ARGUMENT, message: 'Recognizer is missing a model.' };
    if (!models.has(model)) return { code: grpc.status.INVALID_ARGUMENT, message: `The model "${model}" does not exist in the location named "${location}".` };
    const codes = config?.languageCodes ?? [];
    if (codes.length === 0) return { code: grpc.status.INVALID_ARGUMENT, message: 'Recognizer is missing a language code.' };
    for (const code of codes) {
      if (!languages.has(code.toLowerCase())) return { code: grpc.status.INVALID_ARGUMENT, message: `The language "${code}" is not supported by the model "${model}" in the location named "${location}".` };
    }
    return undefined;
  };

  const record = (method: RecordedRequest['method'], r: z.infer<typeof RecognizeSchema> | z.infer<typeof BatchSchema>, meta: Record<string, string>): RecordedRequest => {
    const c = r.config;
    const f = c?.features;
    const explicit = c?.explicitDecodingConfig;
    const decoding: RecordedRequest['decoding'] =
      c?.decodingConfig === 'explicitDecodingConfig' && explicit
        ? { kind: 'explicit', encoding: explicit.encoding, sampleRateHertz: explicit.sampleRateHertz, audioChannelCount: explicit.audioChannelCount }
        : c?.decodingConfig === 'autoDecodingConfig'
          ? { kind: 'auto' }
          : { kind: 'none' };
    const recorded: RecordedRequest = {
      method,
      recognizer: r.recognizer,
      model: c?.model ?? '',
      languageCodes: c?.languageCodes ?? [],
      features: {
        enableWordTimeOffsets: f?.enableWordTimeOffsets ?? false,
        enableWordConfidence: f?.enableWordConfidence ?? false,
        enableAutomaticPunctuation: f?.enableAutomaticPunctuation ?? false,
        profanityFilter: f?.profanityFilter ?? false,
      },
      decoding,
      content: 'content' in r && r.audioSource === 'content' && r.content ? r.content : Buffer.alloc(0),
      uris: 'files' in r ? r.files.map((x) => x.uri ?? '') : r.audioSource === 'uri' && r.uri ? [r.uri] : [],
      output: 'files' in r ? (r.recognitionOutputConfig?.output === 'inlineResponseConfig' ? 'inline' : r.recognitionOutputConfig?.output === 'gcsOutputConfig' ? 'gcs' : 'none') : 'none',
      configMask: r.configMask?.paths ?? [],
      metadata: meta,
    };
    requests.push(recorded);
    return recorded;
  };

  const recognize = (call: grpc.ServerUnaryCall<unknown, IRecognizeResponse>, callback: grpc.sendUnaryData<IRecognizeResponse>): void => {
    let answered = false;
    call.on('cancelled', () => {
      if (!answered) cancelled++;
    });
    const answer = (err: grpc.ServerErrorResponse | null, value?: IRecognizeResponse): void => {
      if (answered || call.cancelled) return;
      answered = true;
      callback(err, value);
    };
    const handle = async (): Promise<IRecognizeResponse | { error: { code: grpc.status; message: string } } | 'hang'> => {
      const parsed = RecognizeSchema.safeParse(call.request);
      if (!parsed.success) return { error: { code: grpc.status.INVALID_ARGUMENT, message: `Request contains an invalid argument. ${parsed.error.message}` } };
      const recorded = record('Recognize', parsed.data, metadataOf(call));
      const index = requests.length - 1;
      const refused = checkConfig(parsed.data.recognizer, parsed.data.config);
      if (refused) return { error: refused };
      if (parsed.data.audioSource !== 'content' && parsed.data.audioSource !== 'uri') {
        return { error: { code: grpc.status.INVALID_ARGUMENT, message: 'Request must contain either `content` or `uri`.' } };
      }
      if (parsed.data.audioSource === 'uri') return { error: { code: grpc.status.UNIMPLEMENTED, message: 'this fake reads inline content only in Recognize' } };
      if (recorded.content.length > 10 * 1024 * 1024) {
        return { error: { code: grpc.status.INVALID_ARGUMENT, message: `Request payload size exceeds the limit: 10485760 bytes.` } };
      }
      const audio = await decode(recorded, recorded.content, work);
      if ('error' in audio) return audio;
      if (audio.durationSeconds > 60) {
        return { error: { code: grpc.status.INVALID_ARGUMENT, message: `Audio can be of a maximum of 60 seconds, got ${audio.durationSeconds.toFixed(1)} seconds.` } };
      }
      const reply = await respond(recorded, audio, index);
      if ('hang' in reply) return 'hang';
      if ('error' in reply) return reply;
      return {
        results: [...reply.results],
        metadata: { requestId: randomUUID(), totalBilledDuration: { seconds: String(reply.billedSeconds ?? Math.ceil(audio.durationSeconds)), nanos: 0 } },
      };
    };
    void handle()
      .then((reply) => {
        if (reply === 'hang') return;
        if ('error' in reply) answer(statusError(reply.error.code, reply.error.message));
        else answer(null, reply);
      })
      .catch((err: unknown) => answer(statusError(grpc.status.INTERNAL, `fake Speech failed: ${err instanceof Error ? err.message : String(err)}`)));
  };

  const batchRecognize = (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>): void => {
    const parsed = BatchSchema.safeParse(call.request);
    if (!parsed.success) {
      callback(statusError(grpc.status.INVALID_ARGUMENT, `Request contains an invalid argument. ${parsed.error.message}`));
      return;
    }
    const recorded = record('BatchRecognize', parsed.data, metadataOf(call));
    const index = requests.length - 1;
    const refused = checkConfig(parsed.data.recognizer, parsed.data.config);
    if (refused) {
      callback(statusError(refused.code, refused.message));
      return;
    }
    if (recorded.uris.length !== 1 && recorded.output === 'inline') {
      callback(statusError(grpc.status.INVALID_ARGUMENT, 'Inline response is only supported for a single file.'));
      return;
    }
    if (recorded.output !== 'inline') {
      callback(statusError(grpc.status.UNIMPLEMENTED, 'this fake returns batch results inline only'));
      return;
    }
    const uri = recorded.uris[0] ?? '';
    const project = /^projects\/([^/]+)\//.exec(parsed.data.recognizer)?.[1] ?? FAKE_PROJECT;
    const name = `projects/${project}/locations/${location}/operations/${randomUUID()}`;
    const outcome = (async () => {
      const path = objects.get(uri);
      const bytes = path ? await readFile(path) : await options.readObject?.(uri);
      if (!bytes) return { fileError: { code: grpc.status.NOT_FOUND, message: `Unable to access audio file ${uri}: object not found.` } };
      const audio = await decode(recorded, bytes, work);
      if ('error' in audio) return { fileError: audio.error };
      return respond(recorded, audio, index);
    })();
    // Nobody may await it before the first poll: keep an unhandled rejection from crashing the test process.
    outcome.catch(() => undefined);
    operations.set(name, { name, uri, polls: 0, created: new Date(), outcome, cancelled: false });
    callback(null, { name, done: false, metadata: packAny('google.cloud.speech.v2.OperationMetadata', encodeMetadata(uri, 0, new Date())) });
  };

  const getOperation = (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>): void => {
    const name = z.object({ name: z.string() }).safeParse(call.request);
    const op = name.success ? operations.get(name.data.name) : undefined;
    polls.push(name.success ? name.data.name : '');
    if (!op) {
      callback(statusError(grpc.status.NOT_FOUND, `Operation ${name.success ? name.data.name : '?'} not found.`));
      return;
    }
    op.polls++;
    if (op.cancelled) {
      const metadata = packAny('google.cloud.speech.v2.OperationMetadata', encodeMetadata(op.uri, 0, op.created));
      callback(null, { name: op.name, done: true, metadata, error: { code: grpc.status.CANCELLED, message: 'Operation was cancelled.', details: [] } });
      return;
    }
    if (op.polls <= pollsUntilDone) {
      const percent = Math.round((op.polls / (pollsUntilDone + 1)) * 100);
      callback(null, { name: op.name, done: false, metadata: packAny('google.cloud.speech.v2.OperationMetadata', encodeMetadata(op.uri, percent, op.created)) });
      return;
    }
    void op.outcome
      .then((outcome) => {
        if ('hang' in outcome) return; // never finishes
        const metadata = packAny('google.cloud.speech.v2.OperationMetadata', encodeMetadata(op.uri, 100, op.created));
        if ('error' in outcome) {
          // A whole-operation failure: Operation.error.
          callback(null, { name: op.name, done: true, metadata, error: { code: outcome.error.code, message: outcome.error.message, details: [] } });
          return;
        }
        const file =
          'fileError' in outcome
            ? { error: { code: outcome.fileError.code, message: outcome.fileError.message } }
            : {
                inlineResult: { transcript: { results: [...outcome.results] } },
                metadata: { totalBilledDuration: { seconds: String(outcome.billedSeconds ?? 0) } },
              };
        const response = protos.google.cloud.speech.v2.BatchRecognizeResponse.fromObject({ results: { [op.uri]: file } });
        callback(null, {
          name: op.name,
          done: true,
          metadata,
          response: packAny('google.cloud.speech.v2.BatchRecognizeResponse', Buffer.from(protos.google.cloud.speech.v2.BatchRecognizeResponse.encode(response).finish())),
        });
      })
      .catch((err: unknown) => callback(statusError(grpc.status.INTERNAL, `fake Speech failed: ${err instanceof Error ? err.message : String(err)}`)));
  };

  const server = new grpc.Server();
  server.addService(speech, { Recognize: recognize, BatchRecognize: batchRecognize });
  // As google.longrunning says: cancelling is best effort; a finished or unknown operation is left alone.
  const cancelOperation = (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>): void => {
    const name = z.object({ name: z.string() }).safeParse(call.request);
    const op = name.success ? operations.get(name.data.name) : undefined;
    cancels.push(name.success ? name.data.name : '');
    if (!op) {
      callback(statusError(grpc.status.NOT_FOUND, `Operation ${name.success ? name.data.name : '?'} not found.`));
      return;
    }
    op.cancelled = true;
    callback(null, {});
  };
  server.addService(ops, { GetOperation: getOperation, CancelOperation: cancelOperation });
  const port = await bindLoopback(server);
  return {
    endpoint: `127.0.0.1:${port}`,
    requests,
    polls,
    get cancelled() {
      return cancelled;
    },
    cancels,
    get respond() {
      return respond;
    },
    set respond(next: Responder) {
      respond = next;
    },
    putObject(uri, path) {
      objects.set(uri, path);
    },
    async close() {
      await shutdownWithin(server);
      await rm(work, { recursive: true, force: true });
    },
  };
}

function isService(def: protoLoader.AnyDefinition | undefined, method: string): def is protoLoader.ServiceDefinition {
  return def !== undefined && !('format' in def) && method in def;
}

function packAny(type: string, value: Buffer): { typeUrl: string; value: Buffer } {
  return { typeUrl: `type.googleapis.com/${type}`, value };
}

function encodeMetadata(uri: string, percent: number, created: Date): Buffer {
  const now = Date.now();
  const stamp = (ms: number): { seconds: number; nanos: number } => ({ seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 });
  const message = protos.google.cloud.speech.v2.OperationMetadata.fromObject({
    createTime: stamp(created.getTime()),
    updateTime: stamp(now),
    method: 'google.cloud.speech.v2.Speech.BatchRecognize',
    progressPercent: percent,
    batchRecognizeMetadata: { transcriptionMetadata: { [uri]: { progressPercent: percent, uri } } },
  });
  return Buffer.from(protos.google.cloud.speech.v2.OperationMetadata.encode(message).finish());
}

/**
 * The request's audio as 16 kHz mono samples, decoded the way its config says: explicit LINEAR16
 * taken as is (at its declared rate and channels, converted by ffmpeg when they differ), auto
 * decoding by sniffing a container and converting with ffmpeg. Undecodable audio is refused with
 * INVALID_ARGUMENT.
 */
async function decode(request: RecordedRequest, bytes: Buffer, work: string): Promise<DecodedAudio | { error: { code: grpc.status; message: string } }> {
  const bad = (message: string): { error: { code: grpc.status; message: string } } => ({ error: { code: grpc.status.INVALID_ARGUMENT, message } });
  if (request.decoding.kind === 'none') return bad('Recognition config is missing a decoding config.');
  if (bytes.length === 0) return bad('Audio content is empty.');
  if (request.decoding.kind === 'explicit') {
    const d = request.decoding;
    if (d.encoding !== 'LINEAR16') return bad(`This fake decodes LINEAR16 only, got ${d.encoding}.`);
    if (d.sampleRateHertz < 8000 || d.sampleRateHertz > 48000) return bad(`Invalid audio sample rate: ${d.sampleRateHertz}. Valid values are 8000-48000.`);
    if (d.audioChannelCount < 1 || d.audioChannelCount > 8) return bad(`Invalid audio channel count: ${d.audioChannelCount}.`);
    if (d.sampleRateHertz === 16000 && d.audioChannelCount === 1) return { samples: bytes, durationSeconds: bytes.length / 32000 };
    return convert(bytes, ['-f', 's16le', '-sample_rate', String(d.sampleRateHertz), '-channels', String(d.audioChannelCount)], work, bad);
  }
  const container = sniffAudioContainer(bytes.subarray(0, 4096));
  if (!container) return bad('Audio data does not appear to be in a supported encoding. Use explicit decoding config for headerless audio.');
  if (container === 'wav') {
    const info = parseWavHeader(bytes.subarray(0, 65536), bytes.length);
    if (info && info.format === 1 && info.sampleRate === 16000 && info.channels === 1 && info.bitsPerSample === 16) {
      return { samples: bytes.subarray(info.dataOffset, info.dataOffset + info.dataBytes), durationSeconds: info.durationSeconds };
    }
  }
  return convert(bytes, [], work, bad);
}

async function convert(bytes: Buffer, inputFormat: string[], work: string, bad: (m: string) => { error: { code: grpc.status; message: string } }): Promise<DecodedAudio | { error: { code: grpc.status; message: string } }> {
  const dir = await mkdtemp(join(work, 'decode-'));
  try {
    const input = join(dir, 'in');
    await writeFile(input, bytes);
    const output = join(dir, 'out.raw');
    // To a file: runProcess hands stdout back as text, which would mangle samples.
    const r = await runProcess('ffmpeg', ['-nostdin', '-v', 'error', ...inputFormat, '-i', `file:${input}`, '-ac', '1', '-ar', '16000', '-f', 's16le', `file:${output}`], { timeoutMs: 60_000 });
    if (r.code !== 0) return bad(`Unable to decode audio: ${r.stderr.trim().split('\n').at(-1) ?? ''}`);
    const samples = await readFile(output);
    return { samples, durationSeconds: samples.length / 32000 };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Real recognition: pocketsphinx on the decoded audio, answered as v2 results. Times are
 * quantized as the service reports them (word offsets to 10 ms here, result ends to 10 ms).
 * Only en-* languages get words; others come back empty, as a model would on speech it has no
 * words for.
 */
export const recognizeWithPocketsphinx: Responder = async (request, audio) => {
  const language = request.languageCodes[0] ?? 'en-US';
  if (!/^en\b/i.test(language)) return { results: [] };
  const dir = await mkdtemp(join(tmpdir(), 'fake-speech-asr-'));
  try {
    const file = join(dir, 'audio.wav');
    await writeFile(file, Buffer.concat([wavHeader(audio.samples.length), audio.samples]));
    const r = await runProcess('pocketsphinx_continuous', ['-infile', file, '-time', 'yes', '-logfn', '/dev/null'], { timeoutMs: 120_000 });
    if (r.code !== 0) return { error: { code: grpc.status.INTERNAL, message: 'Internal error encountered.' } };
    const utterances = parsePocketsphinxOutput(r.stdout, audio.durationSeconds);
    return {
      results: utterances.map((u) => ({
        alternatives: [
          {
            transcript: punctuate(u.text, request.features.enableAutomaticPunctuation),
            confidence: u.confidence ?? 0,
            words: request.features.enableWordTimeOffsets || request.features.enableWordConfidence
              ? (u.words ?? []).map((w) => ({
                  word: w.text,
                  ...(request.features.enableWordTimeOffsets ? { startOffset: duration(w.start), endOffset: duration(w.end) } : {}),
                  ...(request.features.enableWordConfidence ? { confidence: w.confidence ?? 0 } : {}),
                }))
              : [],
          },
        ],
        resultEndOffset: duration(u.end),
        languageCode: language.toLowerCase(),
      })),
      billedSeconds: Math.ceil(audio.durationSeconds),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
};

/** Capitalized and ended with a period, as automatic punctuation would at least do. */
function punctuate(text: string, on: boolean): string {
  if (!on || text === '') return text;
  return `${text[0]?.toUpperCase() ?? ''}${text.slice(1)}.`;
}

/** Seconds as a protobuf Duration with decimal-string seconds, as gax's decoding produces them. */
export function duration(seconds: number): { seconds: string; nanos: number } {
  const centis = Math.round(seconds * 100);
  return { seconds: String(Math.floor(centis / 100)), nanos: (centis % 100) * 10_000_000 };
}

/** Canned results for every request. */
export function respondWithResults(results: readonly ISpeechRecognitionResult[], billedSeconds?: number): Responder {
  return () => ({ results, ...(billedSeconds !== undefined ? { billedSeconds } : {}) });
}

/** The same gRPC error for every request. */
export function respondWithError(code: grpc.status, message: string): Responder {
  return () => ({ error: { code, message } });
}

/** Never answers (until the client cancels or the server closes). */
export const respondNever: Responder = () => ({ hang: true });
