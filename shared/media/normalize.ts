/**
 * Any supported recording → the one format the speech engines read: 16 kHz, mono, 16-bit PCM WAV.
 *
 * - The first audio stream is taken (a video's soundtrack, an M4A's only track); video, subtitles
 *   and data streams are dropped. Channels are averaged down to mono (ffmpeg's default downmix).
 * - The header is written bit-exact (`-fflags +bitexact`, no metadata): a plain 44-byte header, so
 *   segments can be cut from the file by byte offset (see wav.ts) and outputs are reproducible.
 * - Decoding errors inside an otherwise readable stream (a damaged MP3 frame) are tolerated as
 *   players tolerate them; only a file that yields no samples at all fails.
 * - The duration is checked twice: from the probe before decoding (a declared 10-hour file is
 *   refused at once) and from the output, which decoding caps at the maximum plus a second (a
 *   container may not declare a duration, or lie about it).
 */
import { rm } from 'node:fs/promises';

import { PermanentError, TransientError } from '../errors/index.js';
import { runProcess } from '../engines/exec.js';
import { describeContainer, ffmpegReason, inputArgs, probeMedia, toolError } from './probe.js';
import type { MediaInfo } from './probe.js';
import { MEDIA_ERROR_CODES, NORMALIZED_AUDIO } from './types.js';
import type { RawPcmFormat } from './types.js';
import { readWavInfo } from './wav.js';
import type { WavInfo } from './wav.js';

/** Options of {@link normalizeAudio}. */
export interface NormalizeOptions {
  /** Headerless PCM: its declared format. Without it, such bytes are refused. */
  readonly raw?: RawPcmFormat;
  readonly signal?: AbortSignal;
  /** Longest recording accepted, in seconds (default 4 hours). */
  readonly maxDurationSeconds?: number;
  /** Shortest audio worth transcribing, in seconds (default 0.1: less holds no word). */
  readonly minDurationSeconds?: number;
  /** ffmpeg's time limit; default 60 s plus a fifth of the recording's duration (decoding runs at 50–500× real time). */
  readonly timeoutMs?: number;
}

/** What {@link normalizeAudio} wrote. */
export interface NormalizedAudio {
  /** The output file: 16 kHz mono s16le WAV. */
  readonly path: string;
  /** Exact, from the number of samples written. */
  readonly durationSeconds: number;
  readonly wav: WavInfo;
  /** The input as ffprobe saw it. */
  readonly source: MediaInfo;
  readonly ffmpegMs: number;
}

const DEFAULTS = { maxDurationSeconds: 4 * 3600, minDurationSeconds: 0.1 } as const;

/**
 * Normalizes `inputPath` into `outputPath` (overwritten). Failures: PermanentError
 * UNSUPPORTED_CONTENT_TYPE (not a supported container; headerless PCM without a declared format),
 * INPUT_CORRUPT (the container cannot be read or decoded), NO_AUDIO (no audio stream, no samples,
 * or under `minDurationSeconds`), INPUT_TOO_LARGE (over `maxDurationSeconds`); TransientError
 * ENGINE_UNAVAILABLE (ffmpeg missing) / ENGINE_FAILED (timeout, abort, crash). Nothing is left at
 * `outputPath` when it fails.
 */
export async function normalizeAudio(inputPath: string, outputPath: string, options: NormalizeOptions = {}): Promise<NormalizedAudio> {
  const maxDuration = options.maxDurationSeconds ?? DEFAULTS.maxDurationSeconds;
  const minDuration = options.minDurationSeconds ?? DEFAULTS.minDurationSeconds;
  const source = await probeMedia(inputPath, { ...(options.raw ? { raw: options.raw } : {}), ...(options.signal ? { signal: options.signal } : {}) });
  const kind = describeContainer(source.container);
  if (!source.audio) {
    throw new PermanentError(MEDIA_ERROR_CODES.noAudio, source.hasVideo ? `the ${kind} file has video but no audio track` : `the ${kind} file has no audio stream`);
  }
  if (source.audio.channels === 0 || source.audio.sampleRate === 0) {
    throw new PermanentError(MEDIA_ERROR_CODES.corrupt, `the ${kind} file's audio stream declares ${source.audio.channels} channels at ${source.audio.sampleRate} Hz`);
  }
  if (source.durationSeconds !== undefined && source.durationSeconds > maxDuration) {
    throw new PermanentError(MEDIA_ERROR_CODES.tooLong, `the recording lasts ${formatDuration(source.durationSeconds)}; the limit is ${formatDuration(maxDuration)}`);
  }
  const timeoutMs = options.timeoutMs ?? 60_000 + Math.round(((source.durationSeconds ?? maxDuration) * 1000) / 5);
  const args = [
    '-nostdin',
    '-hide_banner',
    '-nostats',
    '-loglevel',
    'error',
    ...inputArgs(inputPath, source.container, options.raw),
    '-map',
    '0:a:0',
    '-vn',
    '-sn',
    '-dn',
    '-ac',
    String(NORMALIZED_AUDIO.channels),
    '-ar',
    String(NORMALIZED_AUDIO.sampleRate),
    '-c:a',
    'pcm_s16le',
    '-map_metadata',
    '-1',
    '-fflags',
    '+bitexact',
    '-flags:a',
    '+bitexact',
    // Caps the output of a container that declares no duration or a false one.
    '-t',
    String(maxDuration + 1),
    '-f',
    'wav',
    '-y',
    `file:${outputPath}`,
  ];
  try {
    let r;
    try {
      r = await runProcess('ffmpeg', args, { timeoutMs, signal: options.signal, maxStdoutBytes: 64 * 1024 });
    } catch (err) {
      throw toolError('ffmpeg', err);
    }
    if (r.code !== 0) {
      if (r.signal) throw new TransientError(MEDIA_ERROR_CODES.toolFailed, `ffmpeg was killed by ${r.signal}`);
      throw new PermanentError(MEDIA_ERROR_CODES.corrupt, `the ${kind} audio cannot be decoded: ${ffmpegReason(r.stderr) || `ffmpeg exit ${String(r.code)}`}`);
    }
    const wav = await readWavInfo(outputPath).catch((err: unknown) => {
      throw new TransientError(MEDIA_ERROR_CODES.toolFailed, `ffmpeg's output cannot be read: ${err instanceof Error ? err.message : String(err)}`, err);
    });
    if (!wav) throw new TransientError(MEDIA_ERROR_CODES.toolFailed, 'ffmpeg wrote no WAV header');
    if (wav.dataBytes === 0) {
      const why = ffmpegReason(r.stderr);
      throw new PermanentError(MEDIA_ERROR_CODES.noAudio, `the ${kind} file holds no audio samples${why ? ` (${why})` : ''}`);
    }
    if (wav.durationSeconds > maxDuration) {
      throw new PermanentError(MEDIA_ERROR_CODES.tooLong, `the recording lasts over ${formatDuration(maxDuration)}, the limit`);
    }
    if (wav.durationSeconds < minDuration) {
      throw new PermanentError(MEDIA_ERROR_CODES.noAudio, `the ${kind} file holds only ${Math.round(wav.durationSeconds * 1000)} ms of audio`);
    }
    return { path: outputPath, durationSeconds: wav.durationSeconds, wav, source, ffmpegMs: Math.round(r.durationMs) };
  } catch (err) {
    await rm(outputPath, { force: true });
    throw err;
  }
}

/** `1 h 02 min 03 s`-style, for messages. */
export function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = s % 60;
  if (h > 0) return `${h} h ${String(m).padStart(2, '0')} min ${String(rest).padStart(2, '0')} s`;
  if (m > 0) return `${m} min ${String(rest).padStart(2, '0')} s`;
  return `${seconds < 10 ? seconds.toFixed(1) : s} s`;
}
