/**
 * Dubbing: speech clips placed on a recording's timeline and muxed into an MP4.
 *
 * - Each translated segment is spoken by the TTS engine, then fitted to its place (see
 *   {@link fitClip}): it starts where the original segment starts; a clip longer than its segment
 *   first spills into the pause before the next segment, then is sped up (ffmpeg `atempo`, pitch
 *   kept) up to {@link MAX_TEMPO}, and only what still does not fit is cut (with a 50 ms fade).
 *   Clips therefore never overlap and never run past the end of the recording.
 * - The track is assembled sample-exactly on disk: a WAV of silence as long as the recording, each
 *   clip written at its start offset (mono 16-bit at {@link DUB_SAMPLE_RATE}); memory stays small
 *   whatever the length.
 * - Muxing (ffmpeg): the video stream is copied when MP4 can hold it (H.264, HEVC, MPEG-4, AV1),
 *   re-encoded with libx264 otherwise; the audio is AAC. `replace` drops the original audio;
 *   `duck` mixes the dub over the original lowered by {@link DUCK_DB} dB. A recording without video
 *   gives an audio-only MP4.
 */
import { open, readFile, rm } from 'node:fs/promises';

import { PermanentError, TransientError } from '../errors/index.js';
import { runProcess } from '../engines/exec.js';
import { ffmpegReason, toolError } from './probe.js';
import { MEDIA_ERROR_CODES } from './types.js';
import { wavHeader } from './wav.js';

/** Fastest a dubbed clip is played (1.5× stays intelligible; beyond it speech turns to chatter). */
export const MAX_TEMPO = 1.5;
export const DUB_SAMPLE_RATE = 24_000;
/** How much the original track is lowered under the dub in `duck` mode. */
export const DUCK_DB = -18;
const FADE_SECONDS = 0.05;

/** Where and how fast one clip plays. */
export interface ClipFit {
  /** Seconds into the recording. */
  readonly start: number;
  /** 1 = as synthesized; > 1 faster. */
  readonly tempo: number;
  /** Seconds it lasts on the timeline (after tempo and any cut). */
  readonly duration: number;
  /** Part of the clip was cut: it did not fit even at {@link MAX_TEMPO}. */
  readonly trimmed: boolean;
}

/**
 * Fits a clip of `clipSeconds` into the time from `start` to `limit` (the next segment's start, or
 * the end of the recording): as it is when it fits, sped up to at most `maxTempo` when it does not,
 * cut at `limit` when even that is too long. Pure.
 */
export function fitClip(clipSeconds: number, start: number, limit: number, maxTempo = MAX_TEMPO): ClipFit {
  const room = Math.max(0, limit - start);
  if (clipSeconds <= room) return { start, tempo: 1, duration: clipSeconds, trimmed: false };
  const tempo = Math.min(maxTempo, clipSeconds / Math.max(room, 1e-6));
  const duration = clipSeconds / tempo;
  return duration <= room + 1e-9 ? { start, tempo: round(tempo, 4), duration, trimmed: false } : { start, tempo: round(tempo, 4), duration: room, trimmed: true };
}

/** One segment of the translation, with its timings in the recording. */
export interface TimedText {
  readonly start: number;
  readonly end: number;
  readonly text: string;
}

/**
 * The limit each segment's clip may run to: the next non-empty segment's start (segments are in
 * time order), the recording's end for the last. Segments starting at or past the end get 0 room.
 */
export function clipLimits(segments: readonly TimedText[], durationSeconds: number): number[] {
  return segments.map((s, i) => {
    const next = segments.slice(i + 1).find((n) => n.text.trim() !== '');
    return Math.min(durationSeconds, next ? Math.max(s.start, next.start) : durationSeconds);
  });
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/**
 * Renders one synthesized clip for the track into `outputPath`: mono s16le at {@link DUB_SAMPLE_RATE},
 * at `fit.tempo`, cut to `fit.duration` with a short fade when trimmed.
 */
export async function renderClip(inputPath: string, fit: ClipFit, outputPath: string, signal?: AbortSignal): Promise<void> {
  const filters: string[] = [];
  if (fit.tempo !== 1) filters.push(`atempo=${fit.tempo.toFixed(4)}`);
  if (fit.trimmed) filters.push(`afade=t=out:st=${Math.max(0, fit.duration - FADE_SECONDS).toFixed(3)}:d=${FADE_SECONDS}`);
  const args = ['-nostdin', '-hide_banner', '-nostats', '-loglevel', 'error', '-i', `file:${inputPath}`, ...(filters.length ? ['-af', filters.join(',')] : []), '-t', fit.duration.toFixed(3), '-ac', '1', '-ar', String(DUB_SAMPLE_RATE), '-f', 's16le', '-c:a', 'pcm_s16le', '-y', `file:${outputPath}`];
  await ffmpeg(args, 60_000, signal);
}

/**
 * Writes a mono 16-bit WAV of `durationSeconds` at {@link DUB_SAMPLE_RATE} to `outputPath`: silence,
 * with each clip's samples at its start (clips past the end are cut). Returns the file's duration.
 */
export async function assembleTrack(clips: readonly { readonly start: number; readonly pcmPath: string }[], durationSeconds: number, outputPath: string): Promise<number> {
  const frames = Math.max(1, Math.round(durationSeconds * DUB_SAMPLE_RATE));
  const dataBytes = frames * 2;
  const fh = await open(outputPath, 'w');
  try {
    await fh.write(wavHeader(dataBytes, DUB_SAMPLE_RATE, 1, 16), 0, 44, 0);
    // Zero-filled to the full length (sparse where the file system allows): the silence between clips.
    await fh.truncate(44 + dataBytes);
    for (const c of clips) {
      const offset = Math.round(c.start * DUB_SAMPLE_RATE) * 2;
      const room = dataBytes - offset;
      if (room <= 0) continue;
      // One clip in memory at a time (a few hundred KB of speech).
      const pcm = await readFile(c.pcmPath);
      const bytes = Math.min(room, pcm.length - (pcm.length % 2));
      await fh.write(pcm, 0, bytes, 44 + offset);
    }
  } finally {
    await fh.close();
  }
  return frames / DUB_SAMPLE_RATE;
}

/** Video codecs MP4 holds as they are (copied, not re-encoded). */
const MP4_VIDEO_CODECS = new Set(['h264', 'hevc', 'mpeg4', 'av1']);

export interface MuxOptions {
  /** The original recording. */
  readonly sourcePath: string;
  /** The dubbed track (WAV). */
  readonly trackPath: string;
  readonly outputPath: string;
  readonly mix: 'replace' | 'duck';
  readonly signal?: AbortSignal;
}

export interface MuxResult {
  readonly hasVideo: boolean;
  readonly videoCodec: string | null;
  readonly videoCopied: boolean;
  readonly ffmpegMs: number;
}

/** The first video stream's codec (ffprobe), null when there is none (an audio recording, or only cover art). */
export async function videoCodecOf(path: string, signal?: AbortSignal): Promise<string | null> {
  const r = await run('ffprobe', ['-v', 'error', '-select_streams', 'v', '-show_entries', 'stream=codec_name:stream_disposition=attached_pic', '-of', 'json', `file:${path}`], 60_000, signal);
  if (r.code !== 0) throw new PermanentError(MEDIA_ERROR_CODES.corrupt, `the recording cannot be read: ${ffmpegReason(r.stderr) || `ffprobe exit ${String(r.code)}`}`);
  const parsed = JSON.parse(r.stdout) as { streams?: { codec_name?: string; disposition?: { attached_pic?: number } }[] };
  const stream = (parsed.streams ?? []).find((s) => s.disposition?.attached_pic !== 1 && typeof s.codec_name === 'string');
  return stream?.codec_name ?? null;
}

/** Muxes the recording's video with the dubbed track into an MP4 at `outputPath` (see the module comment). */
export async function muxDub(options: MuxOptions): Promise<MuxResult> {
  const codec = await videoCodecOf(options.sourcePath, options.signal);
  const copy = codec !== null && MP4_VIDEO_CODECS.has(codec);
  const video = codec === null ? [] : ['-map', '0:v:0', ...(copy ? ['-c:v', 'copy'] : ['-c:v', 'libx264', '-preset', 'veryfast', '-crf', '23', '-pix_fmt', 'yuv420p'])];
  // The original's audio, when ducked: lowered, then mixed with the dub (amix's normalisation off,
  // so the dub keeps its level); the output lasts as long as the dub track, which is the recording's length.
  const hasOriginalAudio = options.mix === 'duck' && (await hasAudio(options.sourcePath, options.signal));
  const audio = hasOriginalAudio
    ? ['-filter_complex', `[0:a:0]volume=${DUCK_DB}dB[orig];[orig][1:a:0]amix=inputs=2:duration=longest:normalize=0[mixed]`, '-map', '[mixed]']
    : ['-map', '1:a:0'];
  const args = [
    '-nostdin', '-hide_banner', '-nostats', '-loglevel', 'error',
    '-i', `file:${options.sourcePath}`,
    '-i', `file:${options.trackPath}`,
    ...video,
    ...audio,
    '-c:a', 'aac', '-b:a', '128k', '-ac', '1',
    '-map_metadata', '-1',
    '-movflags', '+faststart',
    '-shortest',
    '-f', 'mp4', '-y', `file:${options.outputPath}`,
  ];
  const started = performance.now();
  try {
    await ffmpeg(args, 30 * 60_000, options.signal);
  } catch (err) {
    await rm(options.outputPath, { force: true });
    throw err;
  }
  return { hasVideo: codec !== null, videoCodec: codec, videoCopied: copy, ffmpegMs: Math.round(performance.now() - started) };
}

async function hasAudio(path: string, signal?: AbortSignal): Promise<boolean> {
  const r = await run('ffprobe', ['-v', 'error', '-select_streams', 'a', '-show_entries', 'stream=index', '-of', 'csv=p=0', `file:${path}`], 60_000, signal);
  return r.code === 0 && r.stdout.trim() !== '';
}

async function run(tool: string, args: string[], timeoutMs: number, signal?: AbortSignal): Promise<{ code: number | null; stdout: string; stderr: string }> {
  try {
    return await runProcess(tool, args, { timeoutMs, signal, maxStdoutBytes: 1024 * 1024 });
  } catch (err) {
    throw toolError(tool, err);
  }
}

/** Runs ffmpeg; a failure is transient when it was killed, permanent otherwise (the input cannot be converted). */
async function ffmpeg(args: string[], timeoutMs: number, signal: AbortSignal | undefined): Promise<void> {
  const r = await run('ffmpeg', args, timeoutMs, signal);
  if (r.code === null) throw new TransientError(MEDIA_ERROR_CODES.toolFailed, 'ffmpeg was killed');
  if (r.code !== 0) throw new PermanentError(MEDIA_ERROR_CODES.corrupt, `ffmpeg failed: ${ffmpegReason(r.stderr) || `exit ${String(r.code)}`}`);
}
