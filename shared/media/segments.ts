/**
 * Long recordings → segments a recognizer takes in one request, cut in pauses.
 *
 * Silences come from ffmpeg's `silencedetect`, printed through `ametadata` to stdout (stderr is
 * kept bounded and would drop the start of an hour's worth of detections). Planning is a pure
 * function: from the start, each segment ends at the midpoint of the longest pause in the second
 * half of its allowed length (long pauses end sentences; the second half keeps segments long and
 * requests few); failing that, at the latest pause at all; failing that (music, continuous speech,
 * noise), at the quietest 50 ms in the second half, measured from the samples; and only without
 * samples at a hard cut at the maximum length. Segments cover the recording without gaps, so every
 * sample is transcribed and offsets add up: the silence threshold can misjudge quiet speech, and
 * dropping "silent" stretches would then drop words.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';

import { PermanentError, TransientError } from '../errors/index.js';
import { runProcess } from '../engines/exec.js';
import { ffmpegReason, toolError } from './probe.js';
import { MEDIA_ERROR_CODES } from './types.js';
import { loudnessProfile, readNormalizedWav, writeWavSlice } from './wav.js';
import type { WavInfo } from './wav.js';

/** A pause, in seconds from the start of the recording. */
export interface Silence {
  readonly start: number;
  readonly end: number;
}

/** How a planned segment ends. */
export type SegmentCut = 'silence' | 'quiet' | 'hard' | 'end';

export interface PlannedSegment {
  /** 0-based position. */
  readonly index: number;
  readonly start: number;
  readonly end: number;
  /** `silence`: in a detected pause; `quiet`: at the quietest moment (no pause in reach); `hard`: at the maximum length; `end`: the recording's end. */
  readonly cut: SegmentCut;
  /** The whole segment lies inside one detected pause (callers may skip it, at the risk of very quiet speech). */
  readonly silent: boolean;
}

/** Loudness of the recording in frames, from {@link loudnessProfile}. */
export interface LoudnessFrames {
  /** Time of the first frame's start. */
  readonly startSeconds: number;
  readonly frameSeconds: number;
  /** dBFS per frame. */
  readonly levels: ArrayLike<number>;
}

/** Options of {@link planSegments}. */
export interface SegmentPlanOptions {
  /** No segment is longer (default 55 s: Google's synchronous limit is 60 s, with room for rounding). */
  readonly maxSegmentSeconds?: number;
  /** No cut leaves a segment shorter than this, except the last (default a tenth of the maximum, at most 5 s). */
  readonly minSegmentSeconds?: number;
}

export const DEFAULT_MAX_SEGMENT_SECONDS = 55;

/**
 * Parses `silencedetect` detections printed by `ametadata=mode=print` (lines
 * `lavfi.silence_start=1.23`, `lavfi.silence_end=2.34`). A pause still open at the end of the
 * recording ends at `durationSeconds`. Results are sorted, clipped to the recording, and merged
 * where they touch.
 */
export function parseSilenceDetect(output: string, durationSeconds: number): Silence[] {
  const found: Silence[] = [];
  let open: number | undefined;
  for (const line of output.split('\n')) {
    const m = /lavfi\.silence_(start|end)=(-?[\d.]+(?:e[-+]?\d+)?)/.exec(line);
    if (!m?.[2]) continue;
    const t = Number(m[2]);
    if (!Number.isFinite(t)) continue;
    if (m[1] === 'start') {
      open ??= t;
    } else if (open !== undefined) {
      found.push({ start: open, end: t });
      open = undefined;
    }
  }
  if (open !== undefined) found.push({ start: open, end: durationSeconds });
  return normalizeSilences(found, durationSeconds);
}

/** Sorted, clipped to [0, duration], empty ones dropped, overlapping or touching ones merged. */
export function normalizeSilences(silences: readonly Silence[], durationSeconds: number): Silence[] {
  const clipped = silences
    .map((s) => ({ start: Math.max(0, s.start), end: Math.min(durationSeconds, s.end) }))
    .filter((s) => s.end > s.start)
    .sort((a, b) => a.start - b.start);
  const merged: Silence[] = [];
  for (const s of clipped) {
    const last = merged.at(-1);
    if (last && s.start <= last.end) merged[merged.length - 1] = { start: last.start, end: Math.max(last.end, s.end) };
    else merged.push(s);
  }
  return merged;
}

/** Options of {@link detectSilences}. */
export interface SilenceOptions {
  /** Level below which audio counts as silence, in dBFS (default -35). */
  readonly noiseDb?: number;
  /** Shortest pause reported, in seconds (default 0.3: a breath between sentences). */
  readonly minSilenceSeconds?: number;
  readonly signal?: AbortSignal;
  /** Default 60 s plus a tenth of the duration (silencedetect runs at several hundred × real time). */
  readonly timeoutMs?: number;
}

/** Pauses in a normalized recording, found by ffmpeg's silencedetect. */
export async function detectSilences(path: string, durationSeconds: number, options: SilenceOptions = {}): Promise<Silence[]> {
  const noise = options.noiseDb ?? -35;
  const minimum = options.minSilenceSeconds ?? 0.3;
  const args = [
    '-nostdin',
    '-hide_banner',
    '-nostats',
    '-loglevel',
    'error',
    '-f',
    'wav',
    '-i',
    `file:${path}`,
    '-map',
    '0:a:0',
    '-af',
    `silencedetect=noise=${noise}dB:duration=${minimum},ametadata=mode=print:file=-`,
    '-f',
    'null',
    '-',
  ];
  let r;
  try {
    r = await runProcess('ffmpeg', args, { timeoutMs: options.timeoutMs ?? 60_000 + Math.round(durationSeconds * 100), signal: options.signal });
  } catch (err) {
    throw toolError('ffmpeg', err);
  }
  if (r.code !== 0) {
    if (r.signal) throw new TransientError(MEDIA_ERROR_CODES.toolFailed, `ffmpeg was killed by ${r.signal}`);
    throw new PermanentError(MEDIA_ERROR_CODES.corrupt, `silence detection failed: ${ffmpegReason(r.stderr) || `ffmpeg exit ${String(r.code)}`}`);
  }
  return parseSilenceDetect(r.stdout, durationSeconds);
}

const EPSILON = 1e-6;

/**
 * Plans segments over a recording (see the module comment for the rules). Every segment is at
 * most `maxSegmentSeconds` long; together they cover [0, durationSeconds] exactly, in order.
 * `loudness`, when given, lets a cut with no pause in reach land at the quietest moment instead of
 * at the maximum length.
 */
export function planSegments(durationSeconds: number, silences: readonly Silence[], options: SegmentPlanOptions = {}, loudness?: LoudnessFrames): PlannedSegment[] {
  const max = options.maxSegmentSeconds ?? DEFAULT_MAX_SEGMENT_SECONDS;
  if (!(max > 0)) throw new RangeError(`maxSegmentSeconds must be positive, got ${max}`);
  const min = Math.min(options.minSegmentSeconds ?? Math.min(5, max / 10), max / 2);
  if (!(durationSeconds > 0)) return [];
  const pauses = normalizeSilences(silences, durationSeconds);
  const out: { start: number; end: number; cut: SegmentCut }[] = [];
  let start = 0;
  while (durationSeconds - start > max + EPSILON) {
    const windowStart = start + min;
    const windowEnd = start + max;
    const preferred = start + max / 2;
    const { cut, kind } = chooseCut(pauses, windowStart, windowEnd, preferred, loudness);
    out.push({ start, end: cut, cut: kind });
    start = cut;
  }
  out.push({ start, end: durationSeconds, cut: 'end' });
  return out.map((s, index) => ({ index, ...s, silent: pauses.some((p) => p.start <= s.start + EPSILON && p.end >= s.end - EPSILON) }));
}

function chooseCut(pauses: readonly Silence[], windowStart: number, windowEnd: number, preferred: number, loudness: LoudnessFrames | undefined): { cut: number; kind: SegmentCut } {
  let best: { cut: number; length: number } | undefined;
  let latest: number | undefined;
  for (const p of pauses) {
    const from = Math.max(p.start, windowStart);
    const to = Math.min(p.end, windowEnd);
    if (to - from <= EPSILON) continue;
    const cut = (from + to) / 2;
    latest = latest === undefined ? cut : Math.max(latest, cut);
    // The pause's full length ranks it: a long pause clipped by the window is still a sentence end.
    const length = p.end - p.start;
    if (cut >= preferred && (!best || length > best.length + EPSILON || (Math.abs(length - best.length) <= EPSILON && cut > best.cut))) best = { cut, length };
  }
  if (best) return { cut: best.cut, kind: 'silence' };
  if (latest !== undefined) return { cut: latest, kind: 'silence' };
  const quiet = loudness ? quietestMoment(loudness, preferred, windowEnd) : undefined;
  if (quiet !== undefined) return { cut: quiet, kind: 'quiet' };
  return { cut: windowEnd, kind: 'hard' };
}

/** Centre of the quietest whole frame within [from, to]; ties go to the latest. */
function quietestMoment(loudness: LoudnessFrames, from: number, to: number): number | undefined {
  const { startSeconds, frameSeconds, levels } = loudness;
  const first = Math.max(0, Math.ceil((from - startSeconds) / frameSeconds - EPSILON));
  const last = Math.min(levels.length - 1, Math.floor((to - startSeconds) / frameSeconds - 1 + EPSILON));
  let best: number | undefined;
  let bestLevel = Infinity;
  for (let i = last; i >= first; i--) {
    const level = levels[i] ?? Infinity;
    if (level < bestLevel) {
      best = i;
      bestLevel = level;
    }
  }
  return best === undefined ? undefined : startSeconds + (best + 0.5) * frameSeconds;
}

/** A segment written to its own file. */
export interface AudioSegment extends PlannedSegment {
  /** A normalized WAV holding exactly [start, end) of the recording. */
  readonly path: string;
}

/** Options of {@link splitAudio}. */
export interface SplitOptions extends SegmentPlanOptions, SilenceOptions {
  /** File names are `${prefix}${index padded to 4}.wav` (default `segment-`). */
  readonly prefix?: string;
}

/** What {@link splitAudio} produced. */
export interface SplitResult {
  readonly durationSeconds: number;
  readonly silences: readonly Silence[];
  readonly segments: readonly AudioSegment[];
}

/**
 * Splits a normalized recording (see normalizeAudio) into segment files in `outDir` (created if
 * needed): pauses by silencedetect, a plan by {@link planSegments} (with a loudness profile only
 * when some cut found no pause), then sample-exact copies. A recording within the maximum is one
 * segment. Failures as in normalizeAudio (INPUT_CORRUPT for a file that is not normalized audio).
 */
export async function splitAudio(path: string, outDir: string, options: SplitOptions = {}): Promise<SplitResult> {
  const info = await readNormalizedWav(path);
  const duration = info.durationSeconds;
  const max = options.maxSegmentSeconds ?? DEFAULT_MAX_SEGMENT_SECONDS;
  const silences = duration > max ? await detectSilences(path, duration, options) : [];
  let plan = planSegments(duration, silences, options);
  if (plan.some((s) => s.cut === 'hard')) {
    const frameSeconds = 0.05;
    const levels = await loudnessProfile(path, info, 0, duration, frameSeconds);
    plan = planSegments(duration, silences, options, { startSeconds: 0, frameSeconds, levels });
  }
  await mkdir(outDir, { recursive: true });
  const prefix = options.prefix ?? 'segment-';
  const segments: AudioSegment[] = [];
  for (const s of plan) {
    if (options.signal?.aborted) throw abortError(options.signal);
    const file = join(outDir, `${prefix}${String(s.index).padStart(4, '0')}.wav`);
    await writeSlice(path, info, s, file, options.signal);
    segments.push({ ...s, path: file });
  }
  return { durationSeconds: duration, silences, segments };
}

async function writeSlice(path: string, info: WavInfo, s: PlannedSegment, file: string, signal: AbortSignal | undefined): Promise<void> {
  try {
    await writeWavSlice({ path, info }, s.start, s.end, file, signal);
  } catch (err) {
    if (signal?.aborted) throw abortError(signal);
    throw new TransientError(MEDIA_ERROR_CODES.toolFailed, `cannot write segment ${s.index}: ${err instanceof Error ? err.message : String(err)}`, err);
  }
}

function abortError(signal: AbortSignal): TransientError {
  const reason: unknown = signal.reason;
  return new TransientError(MEDIA_ERROR_CODES.toolFailed, `splitting aborted: ${reason instanceof Error ? reason.message : typeof reason === 'string' ? reason : 'aborted'}`, reason);
}
