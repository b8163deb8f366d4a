/**
 * The `google` speech-to-text engine: Cloud Speech-to-Text v2 through `@google-cloud/speech`
 * (`v2.SpeechClient`), with the implicit recognizer `projects/P/locations/L/recognizers/_` and the
 * model and language in each request.
 *
 * Two ways in, for the two sizes of recording:
 * - `transcribe`: `Recognize` with the audio inline, for one normalized segment of at most 60 s
 *   (the synchronous limit: 10 MB or one minute). The samples go headerless with an explicit
 *   LINEAR16 / 16 kHz / mono decoding config: the format is known exactly, so nothing is left to
 *   the service's format detection.
 * - `startBatch` / `checkBatch`: `BatchRecognize` on a `gs://` URI (up to 8 hours; any format the
 *   service auto-detects, e.g. the normalized WAV uploaded next to the original), results inline in
 *   the finished operation. Starting returns the operation's name at once, so a job can store it
 *   and poll from later invocations instead of holding a function open for the whole recording;
 *   `transcribeUri` does both in one call for callers that can wait.
 *
 * Requests ask for word time offsets, word confidence and automatic punctuation. The client
 * library's own retry (UNAVAILABLE and DEADLINE_EXCEEDED for up to 10 minutes, with sleeps that
 * cannot be interrupted) is off; RESOURCE_EXHAUSTED and UNAVAILABLE (the request was not
 * processed) are retried here a few times with short abortable backoff, everything else goes to the
 * pipeline's redelivery as a TransientError, or fails for good as a PermanentError:
 * INVALID_ARGUMENT is the request's fault (the language the model does not have:
 * LANGUAGE_NOT_SUPPORTED; audio: INPUT_CORRUPT / INPUT_TOO_LARGE; model or recognizer:
 * ENGINE_MISCONFIGURED), NOT_FOUND / PERMISSION_DENIED / UNAUTHENTICATED / FAILED_PRECONDITION the
 * configuration's. Aborting cancels the RPC in flight through a gRPC interceptor (the generated
 * client hides gax's cancellable promise).
 */
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

import { v2 } from '@google-cloud/speech';
import type { protos } from '@google-cloud/speech';
// The same @grpc/grpc-js instance the client library uses: channel credentials are checked with
// `instanceof`, so credentials from another copy would be rejected.
import { Operation, createDefaultBackoffSettings, grpc, operationsProtos } from 'google-gax';
import { raceAbort } from '../abort.js';
import { abortInterceptor } from '../grpc-abort.js';
import type { CallOptions, ClientOptions } from 'google-gax';

import { PermanentError, ScriptoriumError, TransientError } from '../../errors/index.js';
import { engineThrottle, type Throttle } from '../throttle.js';
import { readNormalizedWav } from '../../media/wav.js';
import type { TranscriptSegment, TranscriptWord } from '../../media/transcript.js';
import { abortError, checkAborted, errorText, normalizeLanguageTag, requestedLanguage } from './common.js';
import { STT_ERROR_CODES } from './types.js';
import type { SpeechToTextEngine, SttInput, SttOptions, SttResult } from './types.js';

type IRecognizeRequest = protos.google.cloud.speech.v2.IRecognizeRequest;
type IBatchRecognizeRequest = protos.google.cloud.speech.v2.IBatchRecognizeRequest;
type IBatchRecognizeResponse = protos.google.cloud.speech.v2.IBatchRecognizeResponse;
type IRecognitionConfig = protos.google.cloud.speech.v2.IRecognitionConfig;
type ISpeechRecognitionResult = protos.google.cloud.speech.v2.ISpeechRecognitionResult;
type IOperationMetadata = protos.google.cloud.speech.v2.IOperationMetadata;
type IDuration = protos.google.protobuf.IDuration;
type ITimestamp = protos.google.protobuf.ITimestamp;

/** The model used when none is configured: Google's general model for long-form audio, in `global`. */
export const GOOGLE_STT_DEFAULT_MODEL = 'long';
export const GOOGLE_STT_DEFAULT_LOCATION = 'global';

/** Settings of {@link createGoogleSttEngine}. */
export interface GoogleSttEngineOptions {
  /** The project billed for recognition. */
  readonly project: string;
  /** Speech-to-Text location (default `global`; `us`, `eu`, or a region such as `us-central1` for models only there). */
  readonly location?: string;
  /** Model (default `long`; e.g. `short`, `chirp_2`, `chirp_3`, `telephony`), which must exist in the location. */
  readonly model?: string;
  /** Language of inputs that name none (default `en-US`). */
  readonly language?: string;
  /** Full recognizer name to use instead of the implicit `projects/P/locations/L/recognizers/_`. */
  readonly recognizer?: string;
  /**
   * Endpoint, `host` or `host:port` (default port 443). Default: `speech.googleapis.com` for the
   * `global` location, `{location}-speech.googleapis.com` otherwise. A loopback host is spoken to
   * in plaintext without credentials (a local test server). Ignored when `client` is given.
   */
  readonly apiEndpoint?: string;
  /** A ready client. The engine does not close it. */
  readonly client?: v2.SpeechClient;
  /** Longest input of `transcribe`, in seconds (default and maximum 60, the synchronous limit). */
  readonly maxInputSeconds?: number;
  /** Deadline of one request (default 120 000 ms). */
  readonly requestTimeoutMs?: number;
  /** Extra attempts for a request refused with RESOURCE_EXHAUSTED or UNAVAILABLE (default 2). */
  readonly retries?: number;
  /** First backoff before such a retry; doubled each time, with jitter (default 1000 ms). */
  readonly retryDelayMs?: number;
  /** The limiter every request goes through (default the process's `speech` one: shared/engines/throttle.ts). */
  readonly throttle?: Throttle;
  /** Punctuation in transcripts (default true). */
  readonly automaticPunctuation?: boolean;
  /** Word confidences (default true; some models, e.g. chirp, refuse them). */
  readonly wordConfidence?: boolean;
}

/** A long recording in Cloud Storage, for batch recognition. */
export interface BatchInput {
  /** `gs://bucket/object`: audio in a format the service detects (WAV, FLAC, MP3, OGG/Opus, WebM/Opus, MP4/M4A AAC). */
  readonly uri: string;
  /** BCP-47; default the engine's language. */
  readonly language?: string;
  /** The recording's length, when known (reported as the result's duration). */
  readonly durationSeconds?: number;
}

/** A started batch recognition: store `operation` to check on it later. */
export interface BatchHandle {
  /** The long-running operation's name, `projects/P/locations/L/operations/ID`. */
  readonly operation: string;
  readonly uri: string;
  readonly language: string;
}

/** Where a batch recognition is. */
export type BatchStatus = { readonly done: false; readonly progressPercent: number | undefined } | { readonly done: true; readonly result: SttResult };

/** The `google` engine, with batch recognition; `close()` releases the gRPC channel of a client it created. */
export interface GoogleSttEngine extends SpeechToTextEngine {
  /** Starts batch recognition of a recording in Cloud Storage; resolves once the operation exists. */
  startBatch(input: BatchInput, options?: SttOptions): Promise<BatchHandle>;
  /** The operation's state; a finished one comes with its transcript, a failed one throws (mapped like `transcribe`). */
  checkBatch(handle: BatchHandle, options?: SttOptions & { readonly durationSeconds?: number }): Promise<BatchStatus>;
  /**
   * Asks the service to stop a started operation (best effort: Speech-to-Text may finish it anyway,
   * and a finished or unknown one is left as it is). Never throws for the service's refusal; returns
   * whether the request was accepted.
   */
  cancelBatch(handle: BatchHandle): Promise<boolean>;
  /** `startBatch`, then `checkBatch` every `pollIntervalMs` (default 5000) until done. */
  transcribeUri(input: BatchInput, options?: SttOptions & { readonly pollIntervalMs?: number; readonly onProgress?: (percent: number | undefined) => void }): Promise<SttResult>;
  close(): Promise<void>;
}

const DEFAULTS = { language: 'en-US', maxInputSeconds: 60, requestTimeoutMs: 120_000, retries: 2, retryDelayMs: 1000, pollIntervalMs: 5000 } as const;

/** gRPC status codes (google.rpc.Code). */
const CODE = {
  OK: 0,
  CANCELLED: 1,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;
const CODE_NAMES: Readonly<Record<number, string>> = Object.fromEntries(Object.entries(grpc.status).filter(([k]) => Number.isNaN(Number(k))).map(([k, v]) => [v, k]));
/** Refusals that say the request was not processed, so sending it again is free. */
const RETRY_HERE = new Set<number>([CODE.RESOURCE_EXHAUSTED, CODE.UNAVAILABLE]);

const { languageNotSupported, corrupt, tooLarge, invalid, engineMisconfigured, engineFailed, engineUnavailable } = STT_ERROR_CODES;

/** Resource names the service takes. */
const RECOGNIZER_NAME = /^projects\/[^/]+\/locations\/[^/]+\/recognizers\/[^/]+$/;
const GS_URI = /^gs:\/\/[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]\/.+$/;

/** What request building needs. */
export interface RequestSettings {
  readonly recognizer: string;
  readonly model: string;
  readonly automaticPunctuation: boolean;
  readonly wordConfidence: boolean;
}

/**
 * Creates the `google` engine. Throws a plain Error at once for settings that cannot work (no
 * project, a malformed recognizer name or location).
 */
export function createGoogleSttEngine(options: GoogleSttEngineOptions): GoogleSttEngine {
  const location = options.location ?? GOOGLE_STT_DEFAULT_LOCATION;
  if (!/^[a-z][a-z0-9-]*$/.test(location)) throw new Error(`Speech-to-Text location must look like global, us, eu or us-central1, got ${JSON.stringify(location)}`);
  if (!options.project && !options.recognizer) throw new Error('the google speech engine needs a project');
  const recognizer = options.recognizer ?? `projects/${options.project}/locations/${location}/recognizers/_`;
  if (!RECOGNIZER_NAME.test(recognizer)) throw new Error(`recognizer must be projects/{project}/locations/{location}/recognizers/{id}, got ${JSON.stringify(recognizer)}`);
  const settings: Settings = {
    recognizer,
    model: options.model ?? GOOGLE_STT_DEFAULT_MODEL,
    automaticPunctuation: options.automaticPunctuation ?? true,
    wordConfidence: options.wordConfidence ?? true,
    requestTimeoutMs: positive(options.requestTimeoutMs, DEFAULTS.requestTimeoutMs),
    retries: Math.max(0, Math.floor(options.retries ?? DEFAULTS.retries)),
    retryDelayMs: Math.max(0, options.retryDelayMs ?? DEFAULTS.retryDelayMs),
    throttle: options.throttle,
  };
  const defaultLanguage = requestedLanguage(options.language, DEFAULTS.language);
  const maxInputSeconds = Math.min(DEFAULTS.maxInputSeconds, positive(options.maxInputSeconds, DEFAULTS.maxInputSeconds));
  // Built on first use: a process whose engine never runs should not even resolve credentials.
  let client = options.client;
  let owned: v2.SpeechClient | undefined;
  const getClient = (): v2.SpeechClient => {
    if (!client) {
      owned = new v2.SpeechClient(clientOptions(recognizerLocation(recognizer), options.apiEndpoint));
      client = owned;
    }
    return client;
  };
  const call = (signal: AbortSignal | undefined): CallContext => ({ settings, client: getClient(), signal });

  const checkBatch = async (handle: BatchHandle, callOptions: SttOptions & { readonly durationSeconds?: number } = {}): Promise<BatchStatus> => {
    const { signal } = callOptions;
    try {
      checkAborted(signal);
      const ctx = call(signal);
      const request = new operationsProtos.google.longrunning.GetOperationRequest({ name: handle.operation });
      const [raw] = await withRetries(ctx, () => abortable(ctx.client.operationsClient.getOperation(request, callOptionsFor(ctx)), signal));
      const batchDescriptor = ctx.client.descriptors.longrunning.batchRecognize;
      if (!batchDescriptor) throw new Error('the Speech client has no batchRecognize descriptor');
      const op = new Operation(raw, batchDescriptor, createDefaultBackoffSettings());
      if (!op.done) return { done: false, progressPercent: progressOf(op.metadata as IOperationMetadata | null) };
      // The operation itself failed: polling it again gives the same answer, so the error says so
      // (a caller that keeps the handle drops it and starts anew on retry: see isEndedBatchError).
      if (op.error) throw endedBatch(toEngineError(op.error, signal, settings));
      const response = (op.result ?? {}) as IBatchRecognizeResponse;
      return { done: true, result: mapBatchResponse(response, handle, settings.model, callOptions.durationSeconds, elapsedMs(op.metadata as IOperationMetadata | null)) };
    } catch (err) {
      throw toEngineError(err, signal, settings);
    }
  };

  const startBatch = async (input: BatchInput, callOptions: SttOptions = {}): Promise<BatchHandle> => {
    const { signal } = callOptions;
    try {
      checkAborted(signal);
      const language = requestedLanguage(input.language, defaultLanguage);
      if (!GS_URI.test(input.uri)) throw new PermanentError(invalid, `batch recognition reads from Cloud Storage: expected gs://bucket/object, got ${JSON.stringify(input.uri)}`);
      const ctx = call(signal);
      const request = buildBatchRecognizeRequest(settings, language, input.uri);
      const [operation] = await withRetries(ctx, () => abortable(ctx.client.batchRecognize(request, callOptionsFor(ctx)), signal));
      if (!operation.name) throw new TransientError(engineFailed, 'BatchRecognize returned an operation without a name');
      return { operation: operation.name, uri: input.uri, language };
    } catch (err) {
      throw toEngineError(err, signal, settings);
    }
  };

  return {
    name: 'google',
    model: settings.model,
    defaultLanguage,
    languages: null,
    maxInputSeconds,
    supportsLanguage: (language) => normalizeLanguageTag(language) !== undefined,
    async transcribe(input: SttInput, callOptions: SttOptions = {}): Promise<SttResult> {
      const started = performance.now();
      const { signal } = callOptions;
      try {
        checkAborted(signal);
        const language = requestedLanguage(input.language, defaultLanguage);
        const wav = await readNormalizedWav(input.path);
        if (wav.durationSeconds > maxInputSeconds + 0.001) {
          throw new PermanentError(tooLarge, `the input lasts ${wav.durationSeconds.toFixed(1)} s; synchronous recognition takes at most ${maxInputSeconds} s (split it into segments, or use batch recognition from Cloud Storage)`);
        }
        const bytes = await readFile(input.path).catch((err: unknown) => {
          throw new TransientError(engineFailed, `input file cannot be read: ${errorText(err)}`, err);
        });
        const samples = bytes.subarray(wav.dataOffset, wav.dataOffset + wav.dataBytes);
        const ctx = call(signal);
        const request = buildRecognizeRequest(settings, language, samples);
        const [response] = await withRetries(ctx, () => abortable(ctx.client.recognize(request, callOptionsFor(ctx)), signal));
        const mapped = mapRecognitionResults(response.results ?? [], { durationSeconds: wav.durationSeconds });
        const billed = seconds(response.metadata?.totalBilledDuration);
        return {
          engine: 'google',
          model: settings.model,
          language: mapped.language ?? language,
          durationSeconds: wav.durationSeconds,
          segments: mapped.segments,
          engineMs: Math.round(performance.now() - started),
          ...(billed !== undefined ? { billedSeconds: billed } : {}),
        };
      } catch (err) {
        throw toEngineError(err, signal, settings);
      }
    },
    startBatch,
    checkBatch,
    async cancelBatch(handle: BatchHandle): Promise<boolean> {
      try {
        const ctx = call(undefined);
        const request = new operationsProtos.google.longrunning.CancelOperationRequest({ name: handle.operation });
        await ctx.client.operationsClient.cancelOperation(request, callOptionsFor(ctx));
        return true;
      } catch {
        // Cancelling is a courtesy to the bill: the job is cancelled whatever the service says.
        return false;
      }
    },
    async transcribeUri(input, callOptions = {}): Promise<SttResult> {
      const started = performance.now();
      const handle = await startBatch(input, callOptions);
      const interval = Math.max(10, callOptions.pollIntervalMs ?? DEFAULTS.pollIntervalMs);
      for (;;) {
        const status = await checkBatch(handle, { ...callOptions, ...(input.durationSeconds !== undefined ? { durationSeconds: input.durationSeconds } : {}) });
        if (status.done) return { ...status.result, engineMs: Math.round(performance.now() - started) };
        callOptions.onProgress?.(status.progressPercent);
        await sleep(interval, undefined, callOptions.signal ? { signal: callOptions.signal } : undefined).catch((err: unknown) => {
          throw callOptions.signal?.aborted ? abortError(callOptions.signal, err) : err;
        });
      }
    },
    async close(): Promise<void> {
      if (owned) {
        const closing = owned;
        owned = undefined;
        client = options.client;
        await closing.close();
      }
    },
  };
}

interface Settings extends RequestSettings {
  readonly requestTimeoutMs: number;
  readonly retries: number;
  readonly retryDelayMs: number;
  readonly throttle: Throttle | undefined;
}

interface CallContext {
  readonly settings: Settings;
  readonly client: v2.SpeechClient;
  readonly signal: AbortSignal | undefined;
}

// ---------------------------------------------------------------------------------------------
// Requests

/** Recognition settings both methods share: model, language, word times, confidences, punctuation. */
export function buildRecognitionConfig(settings: RequestSettings, language: string): IRecognitionConfig {
  return {
    model: settings.model,
    languageCodes: [language],
    features: {
      enableWordTimeOffsets: true,
      ...(settings.wordConfidence ? { enableWordConfidence: true } : {}),
      ...(settings.automaticPunctuation ? { enableAutomaticPunctuation: true } : {}),
    },
  };
}

/** `Recognize` with headerless 16 kHz mono LINEAR16 samples inline. */
export function buildRecognizeRequest(settings: RequestSettings, language: string, samples: Buffer): IRecognizeRequest {
  return {
    recognizer: settings.recognizer,
    config: {
      ...buildRecognitionConfig(settings, language),
      explicitDecodingConfig: { encoding: 'LINEAR16', sampleRateHertz: 16_000, audioChannelCount: 1 },
    },
    content: samples,
  };
}

/** `BatchRecognize` of one Cloud Storage file, format auto-detected, results inline in the operation. */
export function buildBatchRecognizeRequest(settings: RequestSettings, language: string, uri: string): IBatchRecognizeRequest {
  return {
    recognizer: settings.recognizer,
    config: { ...buildRecognitionConfig(settings, language), autoDecodingConfig: {} },
    files: [{ uri }],
    recognitionOutputConfig: { inlineResponseConfig: {} },
  };
}

function callOptionsFor(ctx: CallContext): CallOptions {
  return {
    timeout: ctx.settings.requestTimeoutMs,
    // Off: see the module comment. `null` makes gax send the call once, with the timeout above.
    retry: null,
    // gax hands `otherArgs.options` to grpc-js as call options.
    ...(ctx.signal ? { otherArgs: { options: { interceptors: [abortInterceptor(ctx.signal)] } } } : {}),
  };
}

async function withRetries<T>(ctx: CallContext, send: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    checkAborted(ctx.signal);
    try {
      return await (ctx.settings.throttle ?? engineThrottle('speech')).run(send, ctx.signal);
    } catch (err) {
      const code = grpcCode(err);
      if (attempt >= ctx.settings.retries || code === undefined || !RETRY_HERE.has(code)) throw err;
      const backoff = ctx.settings.retryDelayMs * 2 ** attempt * (0.5 + Math.random() / 2);
      await sleep(backoff, undefined, ctx.signal ? { signal: ctx.signal } : undefined).catch((sleepErr: unknown) => {
        throw ctx.signal?.aborted ? abortError(ctx.signal, sleepErr) : sleepErr;
      });
    }
  }
}



// ---------------------------------------------------------------------------------------------
// Responses

/** A protobuf Duration in seconds (int64 seconds arrive as strings, numbers or Longs). */
export function seconds(duration: IDuration | null | undefined): number | undefined {
  if (!duration) return undefined;
  const whole = duration.seconds === null || duration.seconds === undefined ? 0 : Number(duration.seconds.toString());
  const total = whole + (duration.nanos ?? 0) / 1e9;
  return Number.isFinite(total) ? Math.round(total * 1e6) / 1e6 : undefined;
}

/**
 * Segments from recognition results, one per result with text. A result carries only its end
 * (`resultEndOffset`); its start is its first word's, or else where the previous result ended.
 * Confidence 0 is proto3's "not set" and is dropped. The language is the one most of the text was
 * detected in, when the service says.
 */
export function mapRecognitionResults(results: readonly ISpeechRecognitionResult[], options: { readonly durationSeconds?: number } = {}): { segments: TranscriptSegment[]; language: string | undefined } {
  const limit = options.durationSeconds ?? Infinity;
  const clip = (t: number): number => Math.min(limit, Math.max(0, t));
  const segments: TranscriptSegment[] = [];
  const votes = new Map<string, number>();
  let previousEnd = 0;
  for (const result of results) {
    const alternative = result.alternatives?.[0];
    const text = alternative?.transcript?.trim() ?? '';
    const words: TranscriptWord[] = (alternative?.words ?? [])
      .filter((w) => (w.word ?? '').trim() !== '')
      .map((w) => {
        const start = clip(seconds(w.startOffset) ?? previousEnd);
        const end = Math.max(start, clip(seconds(w.endOffset) ?? start));
        return { text: (w.word ?? '').trim(), start, end, ...(w.confidence ? { confidence: round3(w.confidence) } : {}) };
      });
    const end = clip(seconds(result.resultEndOffset) ?? words.at(-1)?.end ?? previousEnd);
    const start = Math.min(end, words[0]?.start ?? previousEnd);
    previousEnd = Math.max(previousEnd, end);
    if (text === '') continue;
    const language = result.languageCode ? normalizeLanguageTag(result.languageCode) : undefined;
    if (language) votes.set(language, (votes.get(language) ?? 0) + text.length);
    segments.push({
      start,
      end,
      text,
      ...(alternative?.confidence ? { confidence: round3(alternative.confidence) } : {}),
      ...(words.length > 0 ? { words } : {}),
      ...(language ? { language } : {}),
    });
  }
  let language: string | undefined;
  let best = 0;
  for (const [tag, weight] of votes) {
    if (weight > best) [language, best] = [tag, weight];
  }
  return { segments, language };
}

/** The finished operation's transcript of the one file; its per-file error, mapped. */
export function mapBatchResponse(response: IBatchRecognizeResponse, handle: BatchHandle, model: string, durationSeconds: number | undefined, engineMs: number | undefined): SttResult {
  const entry = response.results?.[handle.uri] ?? Object.values(response.results ?? {})[0];
  if (!entry) throw new TransientError(engineFailed, `batch recognition finished without a result for ${handle.uri}`);
  if (entry.error && (entry.error.code ?? 0) !== CODE.OK) {
    throw Object.assign(new Error(entry.error.message ?? 'batch recognition failed'), { code: entry.error.code ?? 2, details: entry.error.message ?? '' });
  }
  const transcript = entry.inlineResult?.transcript ?? entry.transcript;
  if (!transcript) {
    throw new PermanentError(engineMisconfigured, `batch recognition of ${handle.uri} returned no inline transcript${entry.cloudStorageResult?.uri ? ` (it wrote ${entry.cloudStorageResult.uri})` : ''}`);
  }
  const results = transcript.results ?? [];
  const lastEnd = Math.max(0, ...results.map((r) => seconds(r.resultEndOffset) ?? 0));
  const duration = durationSeconds ?? lastEnd;
  const mapped = mapRecognitionResults(results, { durationSeconds: duration });
  const billed = seconds(entry.metadata?.totalBilledDuration ?? transcript.metadata?.totalBilledDuration ?? response.totalBilledDuration);
  return {
    engine: 'google',
    model,
    language: mapped.language ?? handle.language,
    durationSeconds: duration,
    segments: mapped.segments,
    engineMs: engineMs ?? 0,
    ...(billed !== undefined ? { billedSeconds: billed } : {}),
  };
}

function progressOf(metadata: IOperationMetadata | null | undefined): number | undefined {
  const overall = metadata?.progressPercent;
  if (typeof overall === 'number' && overall > 0) return overall;
  const files = Object.values(metadata?.batchRecognizeMetadata?.transcriptionMetadata ?? {});
  const percents = files.map((f) => f.progressPercent).filter((p): p is number => typeof p === 'number');
  return percents.length > 0 ? Math.min(...percents) : overall ?? undefined;
}

function elapsedMs(metadata: IOperationMetadata | null | undefined): number | undefined {
  const at = (t: ITimestamp | null | undefined): number | undefined => (t ? (seconds({ seconds: t.seconds ?? null, nanos: t.nanos ?? null }) ?? 0) * 1000 : undefined);
  const created = at(metadata?.createTime);
  const updated = at(metadata?.updateTime);
  return created !== undefined && updated !== undefined && updated >= created ? Math.round(updated - created) : undefined;
}

// ---------------------------------------------------------------------------------------------
// Client and errors

function recognizerLocation(recognizer: string): string {
  return /\/locations\/([^/]+)\//.exec(recognizer)?.[1] ?? GOOGLE_STT_DEFAULT_LOCATION;
}

function clientOptions(location: string, apiEndpoint: string | undefined): ClientOptions {
  const endpoint = apiEndpoint ?? (location === 'global' ? 'speech.googleapis.com' : `${location}-speech.googleapis.com`);
  const match = /^(\[[^\]]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(endpoint);
  if (!match?.[1]) throw new Error(`Speech-to-Text endpoint must be host or host:port, got ${JSON.stringify(endpoint)}`);
  const host = match[1];
  const port = match[2] === undefined ? 443 : Number(match[2]);
  if (!isLoopback(host)) return { apiEndpoint: host, port };
  // A local test server: plaintext, no credentials. Naming the universe domain keeps the auth
  // library from looking for Application Default Credentials (and a metadata server) offline.
  return { apiEndpoint: host, port, sslCreds: grpc.credentials.createInsecure(), universeDomain: 'googleapis.com' };
}

function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  return bare === 'localhost' || bare === '::1' || /^127(?:\.\d{1,3}){3}$/.test(bare);
}

function grpcCode(err: unknown): number | undefined {
  const code = typeof err === 'object' && err !== null && 'code' in err ? err.code : undefined;
  return typeof code === 'number' && code >= 0 && code < 100 ? code : undefined;
}

/** The server's own words: gax puts them in `details`, and prefixes `message` with the code. */
function grpcDetails(err: unknown): string {
  const details = typeof err === 'object' && err !== null && 'details' in err ? err.details : undefined;
  return typeof details === 'string' && details.length > 0 ? details : errorText(err);
}

/**
 * Maps gRPC failures (of a call, or of one file in a batch) to the contract's errors; ours pass
 * through unchanged. Exported for tests.
 */
const ENDED = Symbol('batch operation ended');

function endedBatch(err: unknown): unknown {
  if (typeof err === 'object' && err !== null) Object.defineProperty(err, ENDED, { value: true });
  return err;
}

/**
 * Whether `checkBatch` threw because the operation itself ended in failure (not because polling
 * failed): its handle is spent, and a new attempt must start a new operation.
 */
export function isEndedBatchError(err: unknown): boolean {
  return typeof err === 'object' && err !== null && ENDED in err;
}

export function toEngineError(err: unknown, signal: AbortSignal | undefined, settings: Pick<RequestSettings, 'recognizer' | 'model'>): unknown {
  if (err instanceof ScriptoriumError) return err;
  const code = grpcCode(err);
  if (code === undefined) return new TransientError(engineFailed, `Speech-to-Text failed: ${errorText(err)}`, err);
  const details = grpcDetails(err);
  const what = `Speech-to-Text ${CODE_NAMES[code] ?? `code ${code}`}: ${details}`;
  switch (code) {
    case CODE.CANCELLED:
      return signal?.aborted ? abortError(signal, err) : new TransientError(engineFailed, what, err);
    case CODE.INVALID_ARGUMENT:
    case CODE.OUT_OF_RANGE:
      // The service's words decide which problem this is (see scripts/fakes/fake-speech.ts for examples).
      if (/language.*not supported|not supported for language|locale .*not available|unsupported language|invalid language/i.test(details)) {
        return new PermanentError(languageNotSupported, `the language is not supported by model ${settings.model} here (${what})`, err);
      }
      if (/model .*(does not exist|not (found|supported|available))|recognizer|location/i.test(details)) {
        return new PermanentError(engineMisconfigured, `the request was refused; check the model ${settings.model} and ${settings.recognizer} (${what})`, err);
      }
      if (/too long|maximum of \d+|longer than|exceeds|too large|limit/i.test(details)) return new PermanentError(tooLarge, `the audio is too long or too large for the request (${what})`, err);
      if (/audio|decod|encoding|sample rate|corrupt|format|header|empty/i.test(details)) return new PermanentError(corrupt, `the audio cannot be processed (${what})`, err);
      return new PermanentError(invalid, `the request was refused (${what})`, err);
    case CODE.NOT_FOUND:
    case CODE.PERMISSION_DENIED:
    case CODE.UNAUTHENTICATED:
    case CODE.FAILED_PRECONDITION:
    case CODE.UNIMPLEMENTED:
      return new PermanentError(engineMisconfigured, `${settings.recognizer} cannot be used: check the project, location, model, that the API is enabled, and the runtime service account's roles/speech.client (${what})`, err);
    case CODE.RESOURCE_EXHAUSTED:
    case CODE.UNAVAILABLE:
    case CODE.DEADLINE_EXCEEDED:
      return new TransientError(engineUnavailable, what, err);
    default:
      return new TransientError(engineFailed, what, err);
  }
}

function positive(value: number | undefined, fallback: number): number {
  return value !== undefined && Number.isFinite(value) && value > 0 ? value : fallback;
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** `promise`, or this engine's abort error as soon as `signal` aborts. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  return raceAbort(promise, signal, abortError);
}
