/**
 * The `google` text-to-speech engine: Cloud Text-to-Speech v1 (`SynthesizeSpeech`, `ListVoices`)
 * through `@google-cloud/text-to-speech`.
 *
 * Choices, and why:
 * - One request per chunk, at most 5,000 bytes of text or SSML ("Total bytes per request",
 *   https://cloud.google.com/text-to-speech/quotas); longer inputs are planned into chunks first
 *   (plan.ts) and an over-limit request is refused here before it is sent.
 * - SSML is checked for well-formedness locally (INVALID_SSML without a billed request) and a
 *   fragment without `<speak>` is wrapped in one, which the service requires.
 * - Encodings: `wav` → LINEAR16 (the service adds a WAV header), `mp3` → MP3, `ogg` → OGG_OPUS.
 *   Durations and sample rates are read from the returned bytes (audio.ts), so the engine needs no
 *   ffmpeg. gax lifts gRPC's 4 MiB receive limit, so the ~15 MB LINEAR16 answer to 5,000 bytes of
 *   text arrives whole.
 * - The language defaults to the one a voice name starts with (`en-GB-Neural2-A` → `en-GB`), then
 *   to the engine's default language.
 * - Failures: RESOURCE_EXHAUSTED and UNAVAILABLE (the request was not processed) are retried here a
 *   few times with short, abortable backoff (the client library's own retry, with sleeps it cannot
 *   interrupt, is off), then surface as TransientError ENGINE_UNAVAILABLE, as does
 *   DEADLINE_EXCEEDED. INVALID_ARGUMENT is a PermanentError whose code the service's words decide
 *   (over the byte limit or sentences too long: INPUT_TOO_LARGE; SSML: INVALID_SSML; voice or
 *   language: VOICE_NOT_FOUND / LANGUAGE_NOT_SUPPORTED; else INVALID_ARGUMENT). Permissions, API
 *   enablement and authentication are PermanentError ENGINE_MISCONFIGURED.
 * - Aborting cancels the in-flight RPC with a gRPC interceptor (the generated client wraps gax's
 *   cancellable promise in a plain one, so its `cancel()` is out of reach).
 */
import { setTimeout as sleep } from 'node:timers/promises';

import { TextToSpeechClient } from '@google-cloud/text-to-speech';
import type { protos } from '@google-cloud/text-to-speech';
// The @grpc/grpc-js instance the client library uses: channel credentials are checked with
// `instanceof`, so credentials from another copy would be rejected.
import { grpc } from 'google-gax';
import { abortInterceptor } from '../grpc-abort.js';
import type { CallOptions, ClientOptions } from 'google-gax';

import { PermanentError, ScriptoriumError, TransientError } from '../../errors/index.js';
import { engineThrottle, type Throttle } from '../throttle.js';
import { audioFacts } from './audio.js';
import { abortError, abortable, checkAborted, errorText, formatOf, sampleRateOf, speakingRateOf } from './common.js';
import { parseSsml, ssmlToSpeechParts } from './ssml.js';
import { GOOGLE_MAX_INPUT_BYTES, TTS_ERROR_CODES, utf8Bytes } from './types.js';
import type { AudioFormat, ListVoicesOptions, SynthesisOptions, SynthesisRequest, SynthesisResult, TextToSpeechEngine, TtsVoice, VoiceGender } from './types.js';

type ISynthesizeSpeechRequest = protos.google.cloud.texttospeech.v1.ISynthesizeSpeechRequest;
type IVoice = protos.google.cloud.texttospeech.v1.IVoice;

/** The service's default endpoint. */
export const GOOGLE_TTS_ENDPOINT = 'texttospeech.googleapis.com';
/** Language used when neither the request nor its voice name gives one. */
export const DEFAULT_GOOGLE_TTS_LANGUAGE = 'en-US';

export interface GoogleTextToSpeechOptions {
  /**
   * Endpoint, `host` or `host:port` (default {@link GOOGLE_TTS_ENDPOINT}, port 443). A loopback host
   * is spoken to in plaintext without credentials (a local test server). Ignored with `client`.
   */
  readonly apiEndpoint?: string;
  /** A ready client (shared, or pointed somewhere special). The engine does not close it. */
  readonly client?: TextToSpeechClient;
  /** Voice used when a request names none; absent: the service picks one for the language. */
  readonly defaultVoice?: string;
  /** Default {@link DEFAULT_GOOGLE_TTS_LANGUAGE}. */
  readonly defaultLanguageCode?: string;
  /** Deadline of one request (default 60,000 ms: 5,000 bytes of text is ~5 minutes of audio). */
  readonly requestTimeoutMs?: number;
  /** Extra attempts for a request refused with RESOURCE_EXHAUSTED or UNAVAILABLE (default 2). */
  readonly retries?: number;
  /** First backoff before such a retry; doubled each time, with jitter (default 1000 ms). */
  readonly retryDelayMs?: number;
  /** The limiter every request goes through (default the process's `tts` one: shared/engines/throttle.ts). */
  readonly throttle?: Throttle;
}

const ENCODING: Readonly<Record<AudioFormat, 'LINEAR16' | 'MP3' | 'OGG_OPUS'>> = { wav: 'LINEAR16', mp3: 'MP3', ogg: 'OGG_OPUS' };

/** gRPC status codes (google.rpc.Code). */
const CODE = {
  CANCELLED: 1,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  UNIMPLEMENTED: 12,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;
const CODE_NAMES: Readonly<Record<number, string>> = Object.fromEntries(Object.entries(grpc.status).filter(([k]) => Number.isNaN(Number(k))).map(([k, v]) => [v, k]));
/** Refusals that say the request was not processed, so sending it again is free. */
const RETRY_HERE = new Set<number>([CODE.RESOURCE_EXHAUSTED, CODE.UNAVAILABLE]);

const { engineFailed, engineUnavailable, engineMisconfigured, inputTooLarge, inputEmpty, invalidSsml, invalidArgument, voiceNotFound, languageNotSupported } = TTS_ERROR_CODES;

/** Creates the `google` engine. Cheap: the client is made on the first call. */
export function createGoogleTextToSpeechEngine(options: GoogleTextToSpeechOptions = {}): TextToSpeechEngine {
  const settings = {
    requestTimeoutMs: positive(options.requestTimeoutMs, 60_000),
    retries: Math.max(0, Math.floor(options.retries ?? 2)),
    retryDelayMs: Math.max(0, options.retryDelayMs ?? 1000),
    throttle: options.throttle,
    defaultLanguageCode: options.defaultLanguageCode ?? DEFAULT_GOOGLE_TTS_LANGUAGE,
  };
  let client = options.client;
  let owned: TextToSpeechClient | undefined;
  const getClient = (): TextToSpeechClient => {
    if (!client) {
      owned = new TextToSpeechClient(clientOptions(options.apiEndpoint ?? GOOGLE_TTS_ENDPOINT));
      client = owned;
    }
    return client;
  };

  /** One RPC with the retries described in the module comment. */
  const call = async <T>(signal: AbortSignal | undefined, send: (callOptions: CallOptions) => Promise<T>): Promise<T> => {
    for (let attempt = 0; ; attempt++) {
      checkAborted(signal);
      const callOptions: CallOptions = {
        timeout: settings.requestTimeoutMs,
        // Off: see the module comment. `null` makes gax send the call once, with the timeout above.
        retry: null,
        // gax hands `otherArgs.options` to grpc-js as call options.
        ...(signal ? { otherArgs: { options: { interceptors: [abortInterceptor(signal)] } } } : {}),
      };
      try {
        return await (settings.throttle ?? engineThrottle('tts')).run(() => abortable(send(callOptions), signal), signal);
      } catch (err) {
        const code = grpcCode(err);
        if (attempt >= settings.retries || code === undefined || !RETRY_HERE.has(code)) throw err;
        const backoff = settings.retryDelayMs * 2 ** attempt * (0.5 + Math.random() / 2);
        await sleep(backoff, undefined, { signal }).catch((sleepErr: unknown) => {
          throw signal?.aborted ? abortError(signal, sleepErr) : sleepErr;
        });
      }
    }
  };

  return {
    name: 'google',
    maxInputBytes: GOOGLE_MAX_INPUT_BYTES,

    async listVoices(listOptions: ListVoicesOptions = {}): Promise<TtsVoice[]> {
      const { signal } = listOptions;
      try {
        const [response] = await call(signal, (o) => getClient().listVoices(listOptions.languageCode ? { languageCode: listOptions.languageCode } : {}, o));
        return (response.voices ?? []).map(toVoice).filter((v): v is TtsVoice => v !== undefined);
      } catch (err) {
        throw toEngineError(err, signal, 'listing voices');
      }
    },

    async synthesize(request: SynthesisRequest, callOptions: SynthesisOptions = {}): Promise<SynthesisResult> {
      const started = performance.now();
      const { signal } = callOptions;
      try {
        checkAborted(signal);
        const format = formatOf(request.format);
        const speakingRate = speakingRateOf(request.speakingRate);
        const sampleRateHertz = sampleRateOf(request.sampleRateHertz);
        const input = synthesisInput(request);
        const inputBytes = utf8Bytes(input.text ?? input.ssml ?? '');
        if (inputBytes > GOOGLE_MAX_INPUT_BYTES) {
          throw new PermanentError(inputTooLarge, `the input is ${inputBytes} bytes; Google takes at most ${GOOGLE_MAX_INPUT_BYTES} per request (plan it into chunks first)`);
        }
        const voiceName = request.voice ?? options.defaultVoice;
        const languageCode = request.languageCode ?? languageOfVoiceName(voiceName) ?? settings.defaultLanguageCode;
        const body: ISynthesizeSpeechRequest = {
          input,
          voice: { languageCode, ...(voiceName ? { name: voiceName } : {}) },
          audioConfig: {
            audioEncoding: ENCODING[format],
            ...(speakingRate !== 1 ? { speakingRate } : {}),
            ...(sampleRateHertz !== undefined ? { sampleRateHertz } : {}),
          },
        };
        const [response] = await call(signal, (o) => getClient().synthesizeSpeech(body, o));
        const content = response.audioContent;
        const audio = typeof content === 'string' ? Buffer.from(content, 'base64') : content ? Buffer.from(content.buffer, content.byteOffset, content.byteLength) : Buffer.alloc(0);
        if (audio.length === 0) throw new TransientError(engineFailed, 'Text-to-Speech returned no audio');
        const facts = audioFacts(audio, format);
        if (!facts) throw new TransientError(engineFailed, `Text-to-Speech returned ${audio.length} bytes that are not ${format} audio`);
        return {
          audio,
          format,
          durationSeconds: facts.durationSeconds,
          sampleRateHertz: facts.sampleRate,
          voice: voiceName ?? `(service default for ${languageCode})`,
          languageCode,
          inputBytes,
          engineMs: Math.round(performance.now() - started),
        };
      } catch (err) {
        throw toEngineError(err, signal, 'synthesizing speech');
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

/** The request's input as the API takes it: text as it is, SSML checked and wrapped in `<speak>` when it lacks one. */
function synthesisInput(request: SynthesisRequest): { text?: string; ssml?: string } {
  if ('ssml' in request.input) {
    const doc = parseSsml(request.input.ssml);
    if (!ssmlToSpeechParts(doc).some((p) => 'text' in p)) throw new PermanentError(inputEmpty, 'nothing to say: the SSML has no text');
    return { ssml: doc.hasSpeakRoot ? request.input.ssml : `<speak>${request.input.ssml}</speak>` };
  }
  if (!/\S/u.test(request.input.text)) throw new PermanentError(inputEmpty, 'nothing to say: the text is empty');
  return { text: request.input.text };
}

/** `en-GB` of `en-GB-Neural2-A`, `cmn-CN` of `cmn-CN-Wavenet-A`; undefined for names of another shape. */
export function languageOfVoiceName(name: string | undefined): string | undefined {
  return /^([a-z]{2,3}-[A-Z]{2})-/.exec(name ?? '')?.[1];
}

function toVoice(v: IVoice): TtsVoice | undefined {
  if (!v.name) return undefined;
  const gender = genderOf(v.ssmlGender);
  return {
    name: v.name,
    languageCodes: v.languageCodes ?? [],
    ...(gender ? { gender } : {}),
    engine: 'google',
    ...(v.naturalSampleRateHertz ? { naturalSampleRateHertz: v.naturalSampleRateHertz } : {}),
    available: true,
  };
}

/** The voice's gender; the enum arrives as its name (gax loads protos with `enums: String`) or, from other clients, its number. */
function genderOf(g: IVoice['ssmlGender']): VoiceGender | undefined {
  const name = typeof g === 'number' ? ['', 'MALE', 'FEMALE', 'NEUTRAL'][g] : g;
  return name === 'MALE' ? 'male' : name === 'FEMALE' ? 'female' : name === 'NEUTRAL' ? 'neutral' : undefined;
}

// ---------------------------------------------------------------------------------------------
// Client and calls

function clientOptions(endpoint: string): ClientOptions {
  const match = /^(\[[^\]]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(endpoint);
  if (!match?.[1]) throw new Error(`Text-to-Speech endpoint must be host or host:port, got ${JSON.stringify(endpoint)}`);
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


// ---------------------------------------------------------------------------------------------
// Errors

function grpcCode(err: unknown): number | undefined {
  const code = typeof err === 'object' && err !== null && 'code' in err ? err.code : undefined;
  return typeof code === 'number' && code >= 0 && code < 100 ? code : undefined;
}

/** The server's own words: gax puts them in `details`, and prefixes `message` with the code. */
function grpcDetails(err: unknown): string {
  const details = typeof err === 'object' && err !== null && 'details' in err ? err.details : undefined;
  return typeof details === 'string' && details.length > 0 ? details : errorText(err);
}

/** Maps gRPC failures to the contract's errors; ours pass through unchanged. */
function toEngineError(err: unknown, signal: AbortSignal | undefined, doing: string): unknown {
  if (err instanceof ScriptoriumError) return err;
  const code = grpcCode(err);
  if (code === undefined) return new TransientError(engineFailed, `Text-to-Speech failed ${doing}: ${errorText(err)}`, err);
  const details = grpcDetails(err);
  const what = `Text-to-Speech ${CODE_NAMES[code] ?? `code ${code}`} ${doing}: ${details}`;
  switch (code) {
    case CODE.CANCELLED:
      return signal?.aborted ? abortError(signal, err) : new TransientError(engineFailed, what, err);
    case CODE.INVALID_ARGUMENT:
      // The service's words decide which problem this is (see scripts/fakes/fake-tts.ts for examples).
      if (/longer than the limit|too long|exceeds?\b.*\blimit/i.test(details)) return new PermanentError(inputTooLarge, what, err);
      if (/ssml|markup|xml/i.test(details)) return new PermanentError(invalidSsml, what, err);
      if (/voice/i.test(details) && /does not exist|doesn't exist|not found|misspelled|unknown/i.test(details)) return new PermanentError(voiceNotFound, what, err);
      if (/language/i.test(details) && /not supported|unsupported|no voice/i.test(details)) return new PermanentError(languageNotSupported, what, err);
      return new PermanentError(invalidArgument, what, err);
    case CODE.NOT_FOUND:
    case CODE.PERMISSION_DENIED:
    case CODE.UNAUTHENTICATED:
    case CODE.FAILED_PRECONDITION:
    case CODE.UNIMPLEMENTED:
      return new PermanentError(engineMisconfigured, `Text-to-Speech cannot be used: check that the API is enabled and the runtime service account may call it (${what})`, err);
    case CODE.RESOURCE_EXHAUSTED:
    case CODE.UNAVAILABLE:
    case CODE.DEADLINE_EXCEEDED:
      return new TransientError(engineUnavailable, what, err);
    default:
      return new TransientError(engineFailed, what, err);
  }
}

function positive(value: number | undefined, fallback: number): number {
  return value !== undefined && Number.isFinite(value) && value >= 1 ? Math.floor(value) : fallback;
}
