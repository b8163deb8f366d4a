/**
 * Shared vocabulary of the media helpers: error codes, the normalized audio format every speech
 * engine reads, and the raw-PCM declaration that headerless uploads must come with.
 */

/** Stable error codes the media helpers use in PermanentError/TransientError. */
export const MEDIA_ERROR_CODES = {
  /** The bytes are no audio/video container we read (or headerless PCM nobody declared). */
  unsupported: 'UNSUPPORTED_CONTENT_TYPE',
  /** A known container whose contents cannot be decoded (truncated, damaged, lying headers). */
  corrupt: 'INPUT_CORRUPT',
  /** Decodes, but holds no audio stream or no samples. */
  noAudio: 'NO_AUDIO',
  /** Longer than the configured maximum duration. */
  tooLong: 'INPUT_TOO_LARGE',
  /** ffmpeg/ffprobe crashed, timed out, or the caller aborted: worth retrying. */
  toolFailed: 'ENGINE_FAILED',
  /** ffmpeg/ffprobe is not installed. */
  toolMissing: 'ENGINE_UNAVAILABLE',
} as const;

export type MediaErrorCode = (typeof MEDIA_ERROR_CODES)[keyof typeof MEDIA_ERROR_CODES];

/** The one format speech engines read: what {@link normalizeAudio} writes. */
export const NORMALIZED_AUDIO = {
  sampleRate: 16_000,
  channels: 1,
  bitsPerSample: 16,
  /** Bytes per second of audio (16 000 samples × 2 bytes). */
  bytesPerSecond: 32_000,
} as const;

/** Sample encodings accepted for headerless PCM (ffmpeg's raw demuxer names). */
export const RAW_PCM_ENCODINGS = ['s16le', 's16be', 's24le', 's32le', 'f32le', 'f64le', 'u8', 's8', 'mulaw', 'alaw'] as const;
export type RawPcmEncoding = (typeof RAW_PCM_ENCODINGS)[number];

/**
 * How headerless PCM is to be read: declared at upload, since the bytes alone cannot say (any byte
 * sequence is valid PCM in every encoding).
 */
export interface RawPcmFormat {
  readonly encoding: RawPcmEncoding;
  /** Samples per second per channel, 8 000–192 000. */
  readonly sampleRate: number;
  /** Default 1. */
  readonly channels?: number;
}

/** Containers recognized from their first bytes (see {@link sniffAudioContainer}). */
export type AudioContainer = 'wav' | 'flac' | 'mp3' | 'ogg' | 'mp4' | 'webm' | 'aac';
