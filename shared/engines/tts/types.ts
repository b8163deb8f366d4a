/**
 * The text-to-speech engine contract. Engines are chosen by config (`SCRIPTORIUM_TTS_ENGINE`):
 * `local` (Debian's flite and festival voices, espeak-ng as a fallback for other languages,
 * offline) or `google` (Cloud Text-to-Speech). An engine synthesizes one request-sized chunk;
 * texts longer than `maxInputBytes` are cut by the planner (plan.ts), synthesized chunk by chunk
 * and joined into one file by the joiner (join.ts); `synthesizeLong` (long.ts) does all three.
 *
 * Both engines throw PermanentError for requests that can never succeed (unknown voice, a language
 * no voice speaks, invalid SSML, input over the limit) and TransientError for failures worth
 * retrying (throttling, outages, deadlines, a crashed synthesizer, the caller's abort).
 */

/** Audio files the platform produces: WAV (16-bit PCM), MP3, Ogg Opus. */
export const AUDIO_FORMATS = ['wav', 'mp3', 'ogg'] as const;
export type AudioFormat = (typeof AUDIO_FORMATS)[number];

export function isAudioFormat(value: string): value is AudioFormat {
  return (AUDIO_FORMATS as readonly string[]).includes(value);
}

/** MIME type of each format, for storage metadata and downloads. */
export const AUDIO_CONTENT_TYPES: Readonly<Record<AudioFormat, string>> = {
  wav: 'audio/wav',
  mp3: 'audio/mpeg',
  ogg: 'audio/ogg',
};

/**
 * Google's limit on one synthesis request: 5,000 bytes of text or SSML, markup included
 * (https://cloud.google.com/text-to-speech/quotas, "Total bytes per request").
 */
export const GOOGLE_MAX_INPUT_BYTES = 5000;

/**
 * Speaking rates both engines accept. Google's v1 proto: "in the range [0.25, 2.0] ... Any other
 * values < 0.25 or > 2.0 will return an error"; the local voices are held to the same range so a
 * job behaves alike on either engine.
 */
export const SPEAKING_RATE_RANGE = { min: 0.25, max: 2 } as const;

/** What to say: plain text, or SSML (a `<speak>` document; a fragment without one is wrapped). */
export type SpeechInput = { readonly text: string } | { readonly ssml: string };

export type VoiceGender = 'male' | 'female' | 'neutral';

/** One voice an engine offers. */
export interface TtsVoice {
  /** The name `synthesize` takes: `flite-kal16`, `festival-slt-hts`, `espeak-ng-de`, `en-US-Neural2-C`. */
  readonly name: string;
  /** BCP-47 codes the voice speaks (`en-US`, `de`). */
  readonly languageCodes: readonly string[];
  /** When the engine says. */
  readonly gender?: VoiceGender;
  /** `local` or `google`. */
  readonly engine: string;
  /** The program behind a local voice (`flite`, `festival`, `espeak-ng`); absent for google. */
  readonly synthesizer?: string;
  /** The voice's own sample rate, when known. */
  readonly naturalSampleRateHertz?: number;
  /** False when the voice is known but cannot be used here (its program is not installed). */
  readonly available: boolean;
  /** Why `available` is false. */
  readonly unavailableReason?: string;
  /** A word on the voice for people choosing one (`fast`, `natural`, `fallback`). */
  readonly description?: string;
}

export interface ListVoicesOptions {
  /** Only voices speaking this BCP-47 language (`en`, `en-US`, `de-DE`); a primary subtag matches its regions. */
  readonly languageCode?: string;
  readonly signal?: AbortSignal;
}

/** One synthesis request: at most the engine's `maxInputBytes` of text or SSML. */
export interface SynthesisRequest {
  readonly input: SpeechInput;
  /** A voice name from `listVoices`; absent: the engine's default voice for `languageCode`. */
  readonly voice?: string;
  /** BCP-47; absent: the voice's first language (or the engine's default language). */
  readonly languageCode?: string;
  /** 1 is the voice's normal speed, 2 twice as fast; within {@link SPEAKING_RATE_RANGE}. Default 1. */
  readonly speakingRate?: number;
  /** Default `wav`. Chunks that are to be joined should be `wav`: the joiner then decodes nothing lossy. */
  readonly format?: AudioFormat;
  /** Output sample rate; default the voice's own. */
  readonly sampleRateHertz?: number;
}

export interface SynthesisOptions {
  /** Stops the synthesis (kills the synthesizer, cancels the RPC); the call rejects with a TransientError. */
  readonly signal?: AbortSignal;
}

/** The audio of one request. */
export interface SynthesisResult {
  readonly audio: Buffer;
  readonly format: AudioFormat;
  /** Seconds of audio, read from the audio itself (WAV header, Ogg granule positions, MP3 frames). */
  readonly durationSeconds: number;
  readonly sampleRateHertz: number;
  /**
   * The voice that spoke. `google` without a named voice: `(service default for LANG)`, as the
   * service does not say which voice it chose.
   */
  readonly voice: string;
  readonly languageCode: string;
  /** UTF-8 bytes of the input as sent (text or SSML). */
  readonly inputBytes: number;
  /** Wall time of the synthesis, for metering and benchmarks. */
  readonly engineMs: number;
}

export interface TextToSpeechEngine {
  /** `local` or `google`. */
  readonly name: string;
  /** Largest input of one `synthesize` call in UTF-8 bytes, markup included; the planner cuts to fit. */
  readonly maxInputBytes: number;
  /** Every voice the engine knows, available or not (see {@link TtsVoice.available}). */
  listVoices(options?: ListVoicesOptions): Promise<TtsVoice[]>;
  synthesize(request: SynthesisRequest, options?: SynthesisOptions): Promise<SynthesisResult>;
  /** Releases clients and channels the engine opened. */
  close(): Promise<void>;
}

/** Stable error codes engines use in PermanentError/TransientError. */
export const TTS_ERROR_CODES = {
  /** Transient: the synthesizer or the service failed in a way worth retrying, or the caller aborted. */
  engineFailed: 'ENGINE_FAILED',
  /** Transient: throttled, unreachable, or past the request deadline. */
  engineUnavailable: 'ENGINE_UNAVAILABLE',
  /** Permanent: project, permissions, API enablement or a required program are wrong or missing. */
  engineMisconfigured: 'ENGINE_MISCONFIGURED',
  /** Permanent: the text or SSML is empty (nothing to say). */
  inputEmpty: 'INPUT_EMPTY',
  /** Permanent: one request's input is over `maxInputBytes`, or one unsplittable SSML element is. */
  inputTooLarge: 'INPUT_TOO_LARGE',
  /** Permanent: the SSML is not well-formed (unclosed or mismatched tags, a broken tag). */
  invalidSsml: 'INVALID_SSML',
  /** Permanent: another argument is out of range (speaking rate, sample rate, format). */
  invalidArgument: 'INVALID_ARGUMENT',
  /** Permanent: no voice of that name. */
  voiceNotFound: 'VOICE_NOT_FOUND',
  /** Permanent: no usable voice speaks the language (locally: espeak-ng missing, or no voice at all). */
  languageNotSupported: 'LANGUAGE_NOT_SUPPORTED',
} as const;

export type TtsErrorCode = (typeof TTS_ERROR_CODES)[keyof typeof TTS_ERROR_CODES];

/** UTF-8 length of a string, the unit of every limit here. */
export function utf8Bytes(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}
