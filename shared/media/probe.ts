/**
 * What an audio or video file is: its container from the first bytes, then duration, codec,
 * channels and sample rate from ffprobe.
 *
 * The container is sniffed before ffmpeg sees the file, and the matching demuxer is forced. Left to
 * probe on its own, ffmpeg reads whatever it recognizes, including HLS/concat playlists and image
 * sequences that make it open other local files or URLs: an uploaded text file naming
 * `/etc/passwd` must not become a transcript. Headerless PCM has no signature, so it is only read
 * when its format is declared ({@link RawPcmFormat}).
 */
import { open, stat } from 'node:fs/promises';

import { z } from 'zod';

import { PermanentError, ScriptoriumError, TransientError } from '../errors/index.js';
import { RunError, runProcess } from '../engines/exec.js';
import { MEDIA_ERROR_CODES, RAW_PCM_ENCODINGS } from './types.js';
import type { AudioContainer, RawPcmFormat } from './types.js';

/** ffmpeg demuxer per sniffed container. */
export const DEMUXER: Readonly<Record<AudioContainer, string>> = {
  wav: 'wav',
  flac: 'flac',
  mp3: 'mp3',
  ogg: 'ogg',
  // One demuxer reads MP4, M4A, MOV and 3GP.
  mp4: 'mov',
  // One demuxer reads Matroska and WebM.
  webm: 'matroska',
  aac: 'aac',
};

/**
 * The container named by a file's first bytes (at least 12; 4 KiB lets an MP3 behind a small ID3
 * tag be found). Undefined for anything else, headerless PCM included.
 */
export function sniffAudioContainer(head: Buffer): AudioContainer | undefined {
  const ascii = (start: number, end: number): string => head.toString('latin1', start, Math.min(end, head.length));
  if (ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WAVE') return 'wav';
  // RF64/BW64: the 64-bit WAV variants broadcast tools write for files over 4 GiB.
  if ((ascii(0, 4) === 'RF64' || ascii(0, 4) === 'BW64') && ascii(8, 12) === 'WAVE') return 'wav';
  if (ascii(0, 4) === 'fLaC') return 'flac';
  if (ascii(0, 4) === 'OggS') return 'ogg';
  if (head.length >= 4 && head.readUInt32BE(0) === 0x1a45dfa3) return 'webm';
  if (ascii(4, 8) === 'ftyp') return 'mp4';
  if (ascii(0, 3) === 'ID3') {
    // ID3v2: 10-byte header, then a syncsafe size; the audio frames follow the tag.
    if (head.length < 10) return undefined;
    const size = ((head[6] ?? 0) << 21) | ((head[7] ?? 0) << 14) | ((head[8] ?? 0) << 7) | (head[9] ?? 0);
    const footer = ((head[5] ?? 0) & 0x10) !== 0 ? 10 : 0;
    const next = mpegAudioKind(head, 10 + size + footer);
    // A tag larger than the sniffed head: ID3 is in practice only put on MP3 (and sometimes AAC).
    return next ?? (10 + size + footer >= head.length ? 'mp3' : undefined);
  }
  return mpegAudioKind(head, 0);
}

/** An MPEG audio frame header at `at`: MP3 (layer I–III) or AAC in ADTS. */
function mpegAudioKind(head: Buffer, at: number): 'mp3' | 'aac' | undefined {
  const b0 = head[at];
  const b1 = head[at + 1];
  const b2 = head[at + 2];
  if (b0 !== 0xff || b1 === undefined || (b1 & 0xe0) !== 0xe0) return undefined;
  const layer = (b1 >> 1) & 0x03;
  if (layer === 0) return (b1 & 0xf6) === 0xf0 ? 'aac' : undefined;
  // MPEG audio: version bits 01 are reserved, bitrate index 1111 and sample rate index 11 are invalid.
  if (((b1 >> 3) & 0x03) === 1 || b2 === undefined || b2 >> 4 === 0x0f || ((b2 >> 2) & 0x03) === 3) return undefined;
  return 'mp3';
}

/** What {@link probeMedia} found. */
export interface MediaInfo {
  /** From the bytes (`raw` for declared headerless PCM). */
  readonly container: AudioContainer | 'raw';
  /** ffprobe's format name, e.g. `wav`, `mov,mp4,m4a,3gp,3g2,mj2`, `matroska,webm`. */
  readonly formatName: string;
  /** Seconds; undefined when neither the container nor the stream says. */
  readonly durationSeconds: number | undefined;
  /** The first audio stream, the one normalization takes; undefined when there is none. */
  readonly audio: AudioStreamInfo | undefined;
  readonly audioStreams: number;
  readonly hasVideo: boolean;
  readonly bitRate: number | undefined;
}

export interface AudioStreamInfo {
  /** ffmpeg's codec name: `pcm_s16le`, `mp3`, `aac`, `opus`, `flac`, `vorbis`, ... */
  readonly codec: string;
  readonly sampleRate: number;
  readonly channels: number;
  readonly durationSeconds: number | undefined;
  readonly bitRate: number | undefined;
}

/** Options of {@link probeMedia} and {@link identifyMedia}. */
export interface ProbeOptions {
  /** Headerless PCM: its format, as declared at upload. */
  readonly raw?: RawPcmFormat;
  readonly signal?: AbortSignal;
  /** Default 60 000 ms. */
  readonly timeoutMs?: number;
}

const numberish = z.union([z.number(), z.string()]).optional().transform((v) => {
  if (v === undefined || v === '' || v === 'N/A') return undefined;
  const n = typeof v === 'number' ? v : Number(v);
  return Number.isFinite(n) ? n : undefined;
});

/** ffprobe's JSON (`-show_format -show_streams`), the fields read here. */
const FfprobeSchema = z.object({
  format: z.object({ format_name: z.string().default(''), duration: numberish, bit_rate: numberish }).optional(),
  streams: z
    .array(
      z.object({
        codec_type: z.string().optional(),
        codec_name: z.string().optional(),
        sample_rate: numberish,
        channels: z.number().optional(),
        duration: numberish,
        bit_rate: numberish,
        disposition: z.object({ attached_pic: z.number().optional() }).partial().optional(),
      }),
    )
    .default([]),
});

const HEAD_BYTES = 4096;

/**
 * The container of a file from its bytes (or `raw` when a raw format is declared), refusing
 * everything else with a PermanentError: UNSUPPORTED_CONTENT_TYPE for unknown bytes (with a hint
 * when they might be undeclared PCM), INPUT_CORRUPT for an empty file.
 */
export async function identifyMedia(path: string, raw?: RawPcmFormat): Promise<AudioContainer | 'raw'> {
  let head: Buffer;
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new PermanentError(MEDIA_ERROR_CODES.corrupt, `input ${path} is not a regular file`);
    if (info.size === 0) throw new PermanentError(MEDIA_ERROR_CODES.corrupt, 'the file is empty');
    const handle = await open(path, 'r');
    try {
      head = Buffer.alloc(Math.min(HEAD_BYTES, info.size));
      await handle.read(head, 0, head.length, 0);
    } finally {
      await handle.close();
    }
  } catch (err) {
    if (err instanceof ScriptoriumError) throw err;
    // The caller put the file there: its absence is our problem, not the upload's.
    throw new TransientError(MEDIA_ERROR_CODES.toolFailed, `input file cannot be read: ${errorText(err)}`, err);
  }
  if (raw) {
    checkRawFormat(raw);
    return 'raw';
  }
  const container = sniffAudioContainer(head);
  if (container) return container;
  throw new PermanentError(
    MEDIA_ERROR_CODES.unsupported,
    `not a supported audio or video file (WAV, FLAC, MP3, OGG/Opus, M4A/AAC, MP4, WebM; it starts with bytes ${head.subarray(0, 8).toString('hex')}). Headerless PCM is read only when its encoding and sample rate are declared`,
  );
}

/** Throws a PermanentError for a raw format that cannot be right. */
export function checkRawFormat(raw: RawPcmFormat): void {
  if (!(RAW_PCM_ENCODINGS as readonly string[]).includes(raw.encoding)) {
    throw new PermanentError(MEDIA_ERROR_CODES.unsupported, `unknown PCM encoding ${JSON.stringify(raw.encoding)} (expected one of ${RAW_PCM_ENCODINGS.join(', ')})`);
  }
  if (!Number.isInteger(raw.sampleRate) || raw.sampleRate < 8000 || raw.sampleRate > 192_000) {
    throw new PermanentError(MEDIA_ERROR_CODES.unsupported, `PCM sample rate must be an integer from 8000 to 192000 Hz, got ${raw.sampleRate}`);
  }
  const channels = raw.channels ?? 1;
  if (!Number.isInteger(channels) || channels < 1 || channels > 8) {
    throw new PermanentError(MEDIA_ERROR_CODES.unsupported, `PCM channel count must be 1 to 8, got ${channels}`);
  }
}

/** ffmpeg input arguments that read `path` with the demuxer its container needs. */
export function inputArgs(path: string, container: AudioContainer | 'raw', raw?: RawPcmFormat): string[] {
  if (container === 'raw') {
    if (!raw) throw new Error('raw input needs its declared format');
    // Demuxer options (not ffmpeg's -ar/-ac aliases), so ffprobe takes the same arguments.
    return ['-f', raw.encoding, '-sample_rate', String(raw.sampleRate), '-channels', String(raw.channels ?? 1), '-i', `file:${path}`];
  }
  // `file:` keeps a name with a colon from being read as a protocol.
  return ['-f', DEMUXER[container], '-i', `file:${path}`];
}

/**
 * Probes an audio or video file with ffprobe. Failures: PermanentError UNSUPPORTED_CONTENT_TYPE
 * (unknown bytes, undeclared PCM), INPUT_CORRUPT (ffprobe cannot read the container); TransientError
 * ENGINE_UNAVAILABLE (no ffprobe) / ENGINE_FAILED (timeout, abort, crash).
 */
export async function probeMedia(path: string, options: ProbeOptions = {}): Promise<MediaInfo> {
  const container = await identifyMedia(path, options.raw);
  const args = ['-v', 'error', '-hide_banner', '-of', 'json', '-show_format', '-show_streams', ...inputArgs(path, container, options.raw)];
  let r;
  try {
    r = await runProcess('ffprobe', args, { timeoutMs: options.timeoutMs ?? 60_000, signal: options.signal, maxStdoutBytes: 4 * 1024 * 1024 });
  } catch (err) {
    throw toolError('ffprobe', err);
  }
  if (r.code !== 0) {
    if (r.signal) throw new TransientError(MEDIA_ERROR_CODES.toolFailed, `ffprobe was killed by ${r.signal}`);
    throw new PermanentError(MEDIA_ERROR_CODES.corrupt, `the ${describeContainer(container)} file cannot be read: ${ffmpegReason(r.stderr) || `ffprobe exit ${String(r.code)}`}`);
  }
  let parsed: z.infer<typeof FfprobeSchema>;
  try {
    parsed = FfprobeSchema.parse(JSON.parse(r.stdout));
  } catch (err) {
    throw new TransientError(MEDIA_ERROR_CODES.toolFailed, `ffprobe printed output that is not its JSON: ${errorText(err)}`, err);
  }
  const audioStreams = parsed.streams.filter((s) => s.codec_type === 'audio');
  const first = audioStreams[0];
  const audio: AudioStreamInfo | undefined =
    first === undefined
      ? undefined
      : {
          codec: first.codec_name ?? 'unknown',
          sampleRate: first.sample_rate ?? 0,
          channels: first.channels ?? 0,
          durationSeconds: first.duration,
          bitRate: first.bit_rate,
        };
  return {
    container,
    formatName: parsed.format?.format_name ?? '',
    durationSeconds: parsed.format?.duration ?? first?.duration,
    audio,
    audioStreams: audioStreams.length,
    // Cover art in an MP3 or M4A is a video stream too; it is not a video.
    hasVideo: parsed.streams.some((s) => s.codec_type === 'video' && s.disposition?.attached_pic !== 1),
    bitRate: parsed.format?.bit_rate,
  };
}

export function describeContainer(container: AudioContainer | 'raw'): string {
  const names: Record<AudioContainer | 'raw', string> = { wav: 'WAV', flac: 'FLAC', mp3: 'MP3', ogg: 'Ogg', mp4: 'MP4/M4A', webm: 'WebM/Matroska', aac: 'AAC (ADTS)', raw: 'raw PCM' };
  return names[container];
}

/** The line of ffmpeg's stderr that says what went wrong (the last one, without the `[demuxer @ 0x…]` prefix). */
export function ffmpegReason(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.replace(/^\[[^\]]*@ 0x[0-9a-f]+\]\s*/i, '').trim())
    .filter((l) => l.length > 0);
  // ffmpeg ends with "<input>: <strerror>"; the line before usually names the real problem.
  const last = lines.at(-1) ?? '';
  const before = lines.at(-2);
  const text = before && /: (Invalid data found|Cannot allocate memory|Invalid argument|End of file)/.test(last) ? `${before} (${last.replace(/^.*: /, '')})` : last;
  return text.replace(/file:\S+/g, 'input').slice(0, 300);
}

/** ffmpeg/ffprobe could not run: missing, timed out, aborted. */
export function toolError(tool: string, err: unknown): unknown {
  if (!(err instanceof RunError)) return err;
  if (err.kind === 'not-found') return new TransientError(MEDIA_ERROR_CODES.toolMissing, `${tool} is not installed (apt-get install ffmpeg)`, err);
  return new TransientError(MEDIA_ERROR_CODES.toolFailed, err.message, err);
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
