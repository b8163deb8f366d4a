/**
 * The speech-to-text engine contract. Engines are chosen by config (`SCRIPTORIUM_STT_ENGINE`):
 * `local` (pocketsphinx with its US English model, offline) or `google` (Speech-to-Text v2).
 *
 * An engine transcribes one normalized recording or segment (16 kHz mono 16-bit WAV, as
 * shared/media's normalizeAudio and splitAudio write them) of at most `maxInputSeconds`; longer
 * recordings are split first (see transcribeAudio in ./transcribe.ts), or, with the google engine,
 * sent from Cloud Storage to batch recognition.
 */
import type { TranscriptSegment } from '../../media/transcript.js';

export type { Transcript, TranscriptSegment, TranscriptWord } from '../../media/transcript.js';

/** One transcription. */
export interface SttInput {
  /** A 16 kHz mono 16-bit PCM WAV file. Anything else is refused (INPUT_CORRUPT). */
  readonly path: string;
  /** BCP-47 tag of the spoken language (`en-US`, `de-DE`); default the engine's configured language. */
  readonly language?: string;
}

export interface SttOptions {
  /** Stops the work (kills the child process, cancels the RPC); the call rejects with a TransientError. */
  readonly signal?: AbortSignal;
}

export interface SttResult {
  /** `local` or `google`. */
  readonly engine: string;
  /** The model that transcribed, e.g. `pocketsphinx-en-us-0.8`, `long`. */
  readonly model: string;
  /** BCP-47 tag of the transcript's language (as requested, or as the service detected it). */
  readonly language: string;
  /** Length of the input audio. */
  readonly durationSeconds: number;
  /**
   * Recognized speech in time order; times in seconds from the start of the input file (add a
   * segment's offset to place it in the recording: assembleTranscript does). Empty for silence.
   */
  readonly segments: readonly TranscriptSegment[];
  /** Wall time spent in the engine, for metering and benchmarks. */
  readonly engineMs: number;
  /** Audio seconds the service billed, when it says. */
  readonly billedSeconds?: number;
}

export interface SpeechToTextEngine {
  /** `local` or `google`. */
  readonly name: string;
  /** The model transcripts come from. */
  readonly model: string;
  /** BCP-47 tag used when an input names none. */
  readonly defaultLanguage: string;
  /**
   * BCP-47 tags this engine transcribes, or null when the service decides per model and location
   * (the google engine: any well-formed tag is sent, and a refusal fails with
   * LANGUAGE_NOT_SUPPORTED).
   */
  readonly languages: readonly string[] | null;
  /** Longest input `transcribe` takes, in seconds; split longer recordings into segments. */
  readonly maxInputSeconds: number;
  /** Whether `transcribe` would take this language (checked before any work, so jobs can fail fast). */
  supportsLanguage(language: string): boolean;
  /**
   * Transcribes one normalized file. Throws PermanentError LANGUAGE_NOT_SUPPORTED / INPUT_CORRUPT /
   * INPUT_TOO_LARGE / ENGINE_MISCONFIGURED, TransientError ENGINE_UNAVAILABLE / ENGINE_FAILED (see
   * {@link STT_ERROR_CODES}).
   */
  transcribe(input: SttInput, options?: SttOptions): Promise<SttResult>;
}

/** Stable error codes engines use in PermanentError/TransientError. */
export const STT_ERROR_CODES = {
  /** No model for the requested language (or the service refuses it for the configured model and location). */
  languageNotSupported: 'LANGUAGE_NOT_SUPPORTED',
  /** The audio cannot be decoded, or is not the normalized format. */
  corrupt: 'INPUT_CORRUPT',
  /** Longer than the engine takes in one call. */
  tooLarge: 'INPUT_TOO_LARGE',
  /** The service refused the request for another reason that will not change on retry. */
  invalid: 'INPUT_INVALID',
  /** The engine's configuration (model, location, recognizer, permissions, files) is wrong: no retry helps. */
  engineMisconfigured: 'ENGINE_MISCONFIGURED',
  /** The recognizer crashed, or the service failed; worth retrying. */
  engineFailed: 'ENGINE_FAILED',
  /** The recognizer is not installed, or the service is throttling, unreachable or past its deadline. */
  engineUnavailable: 'ENGINE_UNAVAILABLE',
} as const;

export type SttErrorCode = (typeof STT_ERROR_CODES)[keyof typeof STT_ERROR_CODES];
