/**
 * A local Cloud Text-to-Speech: a real gRPC server speaking `google.cloud.texttospeech.v1.TextToSpeech`
 * from the protos `@google-cloud/text-to-speech` ships (their `google/api` imports come from
 * google-gax's copies), so the real client library talks to it over HTTP/2 exactly as it would to
 * Google. `ListVoices` and `SynthesizeSpeech` are implemented; `StreamingSynthesize` answers
 * UNIMPLEMENTED.
 *
 * It records every request and checks what the service checks before synthesizing, in this order:
 * one input set, the 5,000-byte limit (with the service's own message, as users have quoted it),
 * SSML well-formedness, a language code, the voice (it must exist and speak the language), the
 * encoding, the speaking rate range [0.25, 2.0] of the v1 proto, and sample rates Opus takes.
 * Where Google's exact wording is not known the messages are ours, written to carry the same
 * words (voice, language, SSML) the service's do.
 *
 * Audio is real speech: the text (SSML with its tags stripped) is spoken by flite, then resampled
 * and encoded by ffmpeg as the request asks: LINEAR16 with a WAV header at the voice's natural
 * 24 kHz (or the requested rate), MP3 at 32 kbit/s, Ogg Opus. Tests can instead answer with an
 * error, canned bytes, or never (to test aborts). Needs flite and ffmpeg.
 *
 * Listens on 127.0.0.1 with an ephemeral port, plaintext.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { protos } from '@google-cloud/text-to-speech';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { z } from 'zod';

import { runProcess } from '../../shared/engines/exec.js';
import { bindLoopback, loadClientProto, shutdownWithin, statusError } from './grpc.js';
import { RequestRecorder } from './recorder.js';

type ISynthesizeSpeechResponse = protos.google.cloud.texttospeech.v1.ISynthesizeSpeechResponse;
type IListVoicesResponse = protos.google.cloud.texttospeech.v1.IListVoicesResponse;

/** `build/src/index.js` → `build/protos` in both packages. */
const PROTO_FILE = 'google/cloud/texttospeech/v1/cloud_tts.proto';
const SERVICE = 'google.cloud.texttospeech.v1.TextToSpeech';

/** The message the service answers an over-limit input with (as quoted in user reports). */
export const TOO_LONG_MESSAGE =
  'Either `input.text` or `input.ssml` is longer than the limit of 5000 bytes. This limit is different from quotas. To fix, reduce the byte length of the characters in this request, or consider using the Long Audio API: https://cloud.google.com/text-to-speech/docs/create-audio-text-long-audio-synthesis.';

/** A voice the fake offers, as ListVoices returns it. */
export interface FakeVoice {
  readonly name: string;
  readonly languageCodes: readonly string[];
  readonly ssmlGender: 'MALE' | 'FEMALE' | 'NEUTRAL' | 'SSML_VOICE_GENDER_UNSPECIFIED';
  readonly naturalSampleRateHertz: number;
}

/** Real Google voice names, with the fields ListVoices gives them. */
export const FAKE_VOICES: readonly FakeVoice[] = [
  { name: 'en-US-Standard-C', languageCodes: ['en-US'], ssmlGender: 'FEMALE', naturalSampleRateHertz: 24000 },
  { name: 'en-US-Neural2-D', languageCodes: ['en-US'], ssmlGender: 'MALE', naturalSampleRateHertz: 24000 },
  { name: 'en-GB-Neural2-A', languageCodes: ['en-GB'], ssmlGender: 'FEMALE', naturalSampleRateHertz: 24000 },
  { name: 'de-DE-Standard-B', languageCodes: ['de-DE'], ssmlGender: 'MALE', naturalSampleRateHertz: 24000 },
  { name: 'es-ES-Wavenet-C', languageCodes: ['es-ES'], ssmlGender: 'FEMALE', naturalSampleRateHertz: 24000 },
  { name: 'id-ID-Standard-A', languageCodes: ['id-ID'], ssmlGender: 'FEMALE', naturalSampleRateHertz: 24000 },
];

/** A SynthesizeSpeech request as the server decoded it. */
export interface RecordedSynthesis {
  readonly kind: 'synthesize';
  /** Which input was set: `text` or `ssml` (undefined: neither). */
  readonly inputKind: 'text' | 'ssml' | undefined;
  readonly text: string;
  readonly ssml: string;
  readonly languageCode: string;
  readonly voiceName: string;
  readonly ssmlGender: string;
  readonly audioEncoding: string;
  readonly speakingRate: number;
  readonly sampleRateHertz: number;
  readonly pitch: number;
  readonly volumeGainDb: number;
  /** Request metadata (x-goog-api-client, authorization when sent). */
  readonly metadata: Readonly<Record<string, string>>;
}

export interface RecordedListVoices {
  readonly kind: 'listVoices';
  readonly languageCode: string;
  readonly metadata: Readonly<Record<string, string>>;
}

export type RecordedRequest = RecordedSynthesis | RecordedListVoices;

/** What the fake does with one request (after its own validation passed). */
export type FakeReply =
  | { readonly synthesize: true }
  | { readonly audioContent: Buffer }
  | { readonly error: { readonly code: grpc.status; readonly message: string } }
  | { readonly hang: true };

/** Decides the reply to the `index`-th request (0-based, counting every request received). */
export type Responder = (request: RecordedRequest, index: number) => FakeReply | Promise<FakeReply>;

export interface FakeTts {
  /** `127.0.0.1:PORT`, for `SCRIPTORIUM_TTS_ENDPOINT` or the engine's `apiEndpoint`. */
  readonly endpoint: string;
  /** Every request received, in order (including refused ones). */
  readonly requests: readonly RecordedRequest[];
  /** Calls the client cancelled before the server answered. */
  readonly cancelled: number;
  /** Replaceable between tests. */
  respond: Responder;
  waitForRequests(count: number): Promise<void>;
  close(): Promise<void>;
}

/** Synthesize real speech for every request. */
export const respondWithSpeech: Responder = () => ({ synthesize: true });

/** The same gRPC error for every request. */
export function respondWithError(code: grpc.status, message: string): Responder {
  return () => ({ error: { code, message } });
}

/** Never answers (until the client cancels or the server closes). */
export const respondNever: Responder = () => ({ hang: true });

const SynthesizeSchema = z.object({
  input: z.object({ text: z.string().optional(), ssml: z.string().optional(), inputSource: z.string().optional() }).nullish(),
  voice: z.object({ languageCode: z.string(), name: z.string(), ssmlGender: z.string() }).nullish(),
  audioConfig: z
    .object({ audioEncoding: z.string(), speakingRate: z.number(), pitch: z.number(), volumeGainDb: z.number(), sampleRateHertz: z.number() })
    .nullish(),
});
const ListVoicesSchema = z.object({ languageCode: z.string() });

const OPUS_RATES = new Set([8000, 12000, 16000, 24000, 48000]);
const LINEAR_RATES = { min: 8000, max: 48000 };

/** Starts a fake on 127.0.0.1:0. Close it in `after`. */
export async function startFakeTts(options: { respond?: Responder; voices?: readonly FakeVoice[] } = {}): Promise<FakeTts> {
  const voices = options.voices ?? FAKE_VOICES;
  const work = await mkdtemp(join(tmpdir(), 'fake-tts-'));
  const recorder = new RequestRecorder<RecordedRequest>();
  const requests = recorder.requests;
  let cancelled = 0;
  let sequence = 0;
  let respond: Responder = options.respond ?? respondWithSpeech;

  const definition = loadClientProto('@google-cloud/text-to-speech', PROTO_FILE);
  const service = definition[SERVICE];
  if (!isService(service)) throw new Error(`${SERVICE} not found in ${PROTO_FILE}`);

  const record = (r: RecordedRequest): number => recorder.record(r);
  const metadataOf = (call: grpc.ServerUnaryCall<unknown, unknown>): Record<string, string> =>
    Object.fromEntries(Object.entries(call.metadata.getMap()).map(([k, v]) => [k, typeof v === 'string' ? v : v.toString('base64')]));

  /** Answers once, unless the client has gone; counts cancellations. */
  const unary = <Res>(call: grpc.ServerUnaryCall<unknown, Res>, callback: grpc.sendUnaryData<Res>, handle: () => Promise<Res | { error: { code: grpc.status; message: string } } | 'hang'>): void => {
    let answered = false;
    call.on('cancelled', () => {
      if (!answered) cancelled++;
    });
    const answer = (err: grpc.ServerErrorResponse | null, value?: Res): void => {
      if (answered || call.cancelled) return;
      answered = true;
      callback(err, value);
    };
    void handle()
      .then((reply) => {
        if (reply === 'hang') return;
        if (typeof reply === 'object' && reply !== null && 'error' in reply) answer(statusError(reply.error.code, reply.error.message));
        else answer(null, reply);
      })
      .catch((err: unknown) => answer(statusError(grpc.status.INTERNAL, `fake Text-to-Speech failed: ${err instanceof Error ? err.message : String(err)}`)));
  };

  const listVoices = (call: grpc.ServerUnaryCall<unknown, IListVoicesResponse>, callback: grpc.sendUnaryData<IListVoicesResponse>): void => {
    unary(call, callback, async () => {
      const parsed = ListVoicesSchema.safeParse(call.request);
      if (!parsed.success) return { error: { code: grpc.status.INVALID_ARGUMENT, message: 'Request contains an invalid argument.' } };
      const recorded: RecordedListVoices = { kind: 'listVoices', languageCode: parsed.data.languageCode, metadata: metadataOf(call) };
      const index = record(recorded);
      const reply = await respond(recorded, index);
      if ('hang' in reply) return 'hang';
      if ('error' in reply) return reply;
      const wanted = parsed.data.languageCode.toLowerCase();
      const matching = voices.filter((v) => !wanted || v.languageCodes.some((c) => c.toLowerCase() === wanted || c.toLowerCase().split('-')[0] === wanted));
      return { voices: matching.map((v) => ({ ...v, languageCodes: [...v.languageCodes] })) };
    });
  };

  const synthesizeSpeech = (call: grpc.ServerUnaryCall<unknown, ISynthesizeSpeechResponse>, callback: grpc.sendUnaryData<ISynthesizeSpeechResponse>): void => {
    unary(call, callback, async () => {
      const parsed = SynthesizeSchema.safeParse(call.request);
      if (!parsed.success) return { error: { code: grpc.status.INVALID_ARGUMENT, message: `Request contains an invalid argument. ${parsed.error.message}` } };
      const r = parsed.data;
      const source = r.input?.inputSource;
      const recorded: RecordedSynthesis = {
        kind: 'synthesize',
        inputKind: source === 'text' || source === 'ssml' ? source : undefined,
        text: r.input?.text ?? '',
        ssml: r.input?.ssml ?? '',
        languageCode: r.voice?.languageCode ?? '',
        voiceName: r.voice?.name ?? '',
        ssmlGender: r.voice?.ssmlGender ?? '',
        audioEncoding: r.audioConfig?.audioEncoding ?? '',
        speakingRate: r.audioConfig?.speakingRate ?? 0,
        sampleRateHertz: r.audioConfig?.sampleRateHertz ?? 0,
        pitch: r.audioConfig?.pitch ?? 0,
        volumeGainDb: r.audioConfig?.volumeGainDb ?? 0,
        metadata: metadataOf(call),
      };
      const index = record(recorded);
      const refusal = validate(recorded, voices);
      if (refusal) return { error: { code: grpc.status.INVALID_ARGUMENT, message: refusal } };
      const reply = await respond(recorded, index);
      if ('hang' in reply) return 'hang';
      if ('error' in reply) return reply;
      if ('audioContent' in reply) return { audioContent: reply.audioContent };
      return { audioContent: await speak(recorded, voices, join(work, `request-${++sequence}`)) };
    });
  };

  const server = new grpc.Server();
  server.addService(service, { ListVoices: listVoices, SynthesizeSpeech: synthesizeSpeech });
  const port = await bindLoopback(server);
  return {
    endpoint: `127.0.0.1:${port}`,
    requests,
    get cancelled() {
      return cancelled;
    },
    get respond() {
      return respond;
    },
    set respond(next: Responder) {
      respond = next;
    },
    waitForRequests: (count) => recorder.waitFor(count),
    async close() {
      await shutdownWithin(server);
      await rm(work, { recursive: true, force: true });
    },
  };
}

function isService(def: protoLoader.AnyDefinition | undefined): def is protoLoader.ServiceDefinition {
  return def !== undefined && !('format' in def) && 'SynthesizeSpeech' in def;
}

/** The service's checks before synthesis; the refusal message, or undefined. */
function validate(r: RecordedSynthesis, voices: readonly FakeVoice[]): string | undefined {
  if (r.inputKind === undefined) return 'Request contains an invalid argument: input.text or input.ssml must be set.';
  const input = r.inputKind === 'text' ? r.text : r.ssml;
  if (Buffer.byteLength(input, 'utf8') > 5000) return TOO_LONG_MESSAGE;
  if (r.inputKind === 'ssml') {
    const problem = ssmlProblem(r.ssml);
    if (problem) return `Invalid SSML: ${problem}`;
  }
  if (!r.languageCode) return 'Request contains an invalid argument: voice.language_code is required.';
  if (r.voiceName) {
    const voice = voices.find((v) => v.name === r.voiceName);
    if (!voice) return `Voice '${r.voiceName}' does not exist. Is it misspelled?`;
    if (!voice.languageCodes.some((c) => c.toLowerCase() === r.languageCode.toLowerCase())) {
      return `Requested language code '${r.languageCode}' doesn't match the voice '${r.voiceName}' language code '${voice.languageCodes.join(', ')}'.`;
    }
  } else if (!voices.some((v) => v.languageCodes.some((c) => c.toLowerCase() === r.languageCode.toLowerCase()))) {
    return `Language code '${r.languageCode}' is not supported: no voice speaks it.`;
  }
  if (!['LINEAR16', 'MP3', 'OGG_OPUS'].includes(r.audioEncoding)) return `Request contains an invalid argument: unsupported audio_encoding ${r.audioEncoding}.`;
  if (r.speakingRate !== 0 && (r.speakingRate < 0.25 || r.speakingRate > 2)) return `Request contains an invalid argument: speaking_rate ${r.speakingRate} is outside [0.25, 2.0].`;
  if (r.sampleRateHertz !== 0) {
    if (r.audioEncoding === 'OGG_OPUS' && !OPUS_RATES.has(r.sampleRateHertz)) return `Request contains an invalid argument: sample_rate_hertz ${r.sampleRateHertz} is not supported for OGG_OPUS.`;
    if (r.sampleRateHertz < LINEAR_RATES.min || r.sampleRateHertz > LINEAR_RATES.max) return `Request contains an invalid argument: sample_rate_hertz ${r.sampleRateHertz} is not supported.`;
  }
  return undefined;
}

/**
 * A minimal well-formedness check of its own (not the engine's parser, so the two check each
 * other): a `<speak>` root, tags balanced and properly nested.
 */
function ssmlProblem(ssml: string): string | undefined {
  const trimmed = ssml.trim();
  if (!/^<speak[\s>]/.test(trimmed)) return 'the document must start with <speak>.';
  const stack: string[] = [];
  for (const m of trimmed.matchAll(/<(\/?)([A-Za-z][\w:.-]*)((?:\s+[\w:.-]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>|<!--[\s\S]*?-->|<!\[CDATA\[[\s\S]*?\]\]>|(<)/g)) {
    if (m[5] !== undefined) return `'<' at offset ${m.index} starts no tag.`;
    const [, close, name, , selfClosing] = m;
    if (!name) continue;
    if (close) {
      if (stack.pop() !== name) return `unexpected </${name}> at offset ${m.index}.`;
    } else if (!selfClosing) {
      stack.push(name);
    }
  }
  if (stack.length > 0) return `<${stack.at(-1) ?? ''}> is not closed.`;
  if (!trimmed.endsWith('</speak>')) return 'content after </speak>.';
  return undefined;
}

/** Real speech for a request: flite, then ffmpeg to the requested encoding and rate. */
async function speak(r: RecordedSynthesis, voices: readonly FakeVoice[], base: string): Promise<Buffer> {
  const text =
    r.inputKind === 'ssml'
      ? r.ssml
          .replace(/<[^>]*>/g, ' ')
          .replace(/&lt;/g, '<')
          .replace(/&gt;/g, '>')
          .replace(/&quot;/g, '"')
          .replace(/&apos;/g, "'")
          .replace(/&amp;/g, '&')
      : r.text;
  const voice = voices.find((v) => v.name === r.voiceName) ?? voices.find((v) => v.languageCodes.includes(r.languageCode));
  const rate = r.sampleRateHertz || voice?.naturalSampleRateHertz || 24000;
  const txt = `${base}.txt`;
  const wav = `${base}.wav`;
  const out = `${base}.out`;
  await writeFile(txt, `${text}\n`);
  try {
    const stretch = r.speakingRate > 0 ? 1 / r.speakingRate : 1;
    const flite = await runProcess('flite', ['-voice', 'kal16', '--setf', `duration_stretch=${stretch}`, '-f', txt, '-o', wav], { timeoutMs: 60_000 });
    if (flite.code !== 0) throw new Error(`flite failed: ${flite.stderr}`);
    const codec =
      r.audioEncoding === 'LINEAR16'
        ? ['-c:a', 'pcm_s16le', '-f', 'wav', '-bitexact']
        : r.audioEncoding === 'MP3'
          ? ['-c:a', 'libmp3lame', '-b:a', '32k', '-f', 'mp3']
          : ['-c:a', 'libopus', '-b:a', '32k', '-f', 'ogg'];
    const ffmpeg = await runProcess('ffmpeg', ['-nostdin', '-hide_banner', '-loglevel', 'error', '-y', '-i', wav, '-ac', '1', '-ar', String(rate), ...codec, out], { timeoutMs: 60_000 });
    if (ffmpeg.code !== 0) throw new Error(`ffmpeg failed: ${ffmpeg.stderr}`);
    return await readFile(out);
  } finally {
    await Promise.all([txt, wav, out].map((f) => rm(f, { force: true })));
  }
}
