/**
 * A whole recording through a speech engine: normalize (ffmpeg), split on silence into segments
 * the engine takes, transcribe them (in parallel up to `concurrency`), and assemble one transcript
 * with times in the recording. The building block a transcription stage runs; the stage adds job
 * status, storage and events around it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { PermanentError, TransientError } from '../../errors/index.js';
import { normalizeAudio } from '../../media/normalize.js';
import type { NormalizedAudio } from '../../media/normalize.js';
import { DEFAULT_MAX_SEGMENT_SECONDS, splitAudio } from '../../media/segments.js';
import type { AudioSegment, SilenceOptions } from '../../media/segments.js';
import { assembleTranscript } from '../../media/transcript.js';
import type { Transcript } from '../../media/transcript.js';
import type { RawPcmFormat } from '../../media/types.js';
import { abortError, checkAborted, errorText, requestedLanguage } from './common.js';
import { STT_ERROR_CODES } from './types.js';
import type { SpeechToTextEngine, SttResult } from './types.js';

/** A recording to transcribe. */
export interface TranscribeAudioInput {
  /** Any supported audio or video file (WAV, FLAC, MP3, OGG/Opus, M4A/AAC, WebM, MP4), or headerless PCM with `raw`. */
  readonly path: string;
  /** Headerless PCM: its declared format. */
  readonly raw?: RawPcmFormat;
  /** BCP-47; default the engine's language. */
  readonly language?: string;
}

/** Progress after each finished segment. */
export interface TranscribeProgress {
  readonly segmentsDone: number;
  readonly segmentCount: number;
  /** Seconds of audio transcribed so far (finished segments). */
  readonly secondsDone: number;
  readonly durationSeconds: number;
}

export interface TranscribeAudioOptions {
  readonly signal?: AbortSignal;
  /** Called after normalization (segmentsDone 0) and after each segment; awaited. A throw stops the work and is rethrown as is. */
  readonly onProgress?: (progress: TranscribeProgress) => Promise<void> | void;
  /** Longest segment (default the smaller of 55 s and the engine's `maxInputSeconds`). */
  readonly maxSegmentSeconds?: number;
  /** Segments transcribed at once (default 1). */
  readonly concurrency?: number;
  /** Longest recording accepted (default 4 hours). */
  readonly maxDurationSeconds?: number;
  /** Silence detection settings. */
  readonly silence?: Pick<SilenceOptions, 'noiseDb' | 'minSilenceSeconds'>;
  /** Parent of the temp directory for the normalized audio and segments (default the OS temp dir). Always removed. */
  readonly workDir?: string;
  /**
   * Segments an earlier attempt transcribed, by index, with where they lay in the recording: one
   * whose cut is the same (start and end within a millisecond) is not sent to the engine again.
   */
  readonly doneSegments?: ReadonlyMap<number, { readonly start: number; readonly end: number; readonly result: SttResult }>;
  /** Called with each newly transcribed segment before its progress; awaited (the caller checkpoints it). A throw stops the work and is rethrown as is. */
  readonly onSegment?: (index: number, segment: { readonly start: number; readonly end: number }, result: SttResult) => Promise<void> | void;
  /**
   * Asked before a segment is sent to the engine: when it answers true and this call has transcribed
   * at least one segment, no further segment starts; the ones in flight finish (and are given to
   * `onSegment`), then the call ends with {@link TranscriptionPaused}. The caller resumes later with
   * `doneSegments`. Each call makes progress, so repeating it ends.
   */
  readonly shouldPause?: () => boolean;
}

/** {@link TranscribeAudioOptions.shouldPause} stopped the call: `segmentsDone` of `segmentCount` are done (checkpointed by the caller). */
export class TranscriptionPaused extends Error {
  constructor(
    readonly segmentsDone: number,
    readonly segmentCount: number,
    readonly secondsDone: number,
    readonly durationSeconds: number,
  ) {
    super(`${segmentsDone} of ${segmentCount} segments done (${Math.round(secondsDone)} of ${Math.round(durationSeconds)} s of audio)`);
    this.name = 'TranscriptionPaused';
  }
}

/** What {@link transcribeAudio} did. */
export interface TranscribeAudioResult {
  readonly transcript: Transcript;
  readonly durationSeconds: number;
  readonly segmentCount: number;
  /** How each segment ended (silence, quiet, hard, end), for diagnostics. */
  readonly cuts: readonly AudioSegment['cut'][];
  /** Time spent normalizing and splitting. */
  readonly prepareMs: number;
  /** Sum of the engine's own time over segments. */
  readonly engineMs: number;
  /** Wall time of the whole call. */
  readonly totalMs: number;
  /** Audio seconds the service billed, when it says. */
  readonly billedSeconds?: number;
  /** Segments taken from `doneSegments` instead of the engine. */
  readonly resumedSegments: number;
}

/** Carries an error thrown by the caller's onProgress past the engine's classification untouched. */
class CallerError extends Error {
  constructor(readonly error: unknown) {
    super('onProgress failed', { cause: error });
  }
}

/**
 * Transcribes a recording of any length with `engine`. The language is checked first, so an
 * unsupported one fails (LANGUAGE_NOT_SUPPORTED) before any decoding. Failures are those of
 * normalizeAudio, splitAudio and the engine; aborting stops between and inside segments with a
 * TransientError. The temp directory is removed in every case.
 */
export async function transcribeAudio(engine: SpeechToTextEngine, input: TranscribeAudioInput, options: TranscribeAudioOptions = {}): Promise<TranscribeAudioResult> {
  const started = performance.now();
  const { signal } = options;
  checkAborted(signal);
  const language = requestedLanguage(input.language, engine.defaultLanguage);
  if (!engine.supportsLanguage(language)) {
    const known = engine.languages ? ` (it has ${engine.languages.join(', ') || 'none'})` : '';
    throw new PermanentError(STT_ERROR_CODES.languageNotSupported, `the ${engine.name} speech engine does not support ${language}${known}`);
  }
  const maxSegment = Math.min(options.maxSegmentSeconds ?? DEFAULT_MAX_SEGMENT_SECONDS, engine.maxInputSeconds);
  const dir = await mkdtemp(join(options.workDir ?? tmpdir(), 'scriptorium-stt-')).catch((err: unknown) => {
    throw new TransientError(STT_ERROR_CODES.engineFailed, `cannot create a temp directory: ${errorText(err)}`, err);
  });
  try {
    const normalized: NormalizedAudio = await normalizeAudio(input.path, join(dir, 'audio.wav'), {
      ...(input.raw ? { raw: input.raw } : {}),
      ...(signal ? { signal } : {}),
      ...(options.maxDurationSeconds !== undefined ? { maxDurationSeconds: options.maxDurationSeconds } : {}),
    });
    const split = await splitAudio(normalized.path, join(dir, 'segments'), { maxSegmentSeconds: maxSegment, ...options.silence, ...(signal ? { signal } : {}) });
    const prepareMs = performance.now() - started;
    const duration = normalized.durationSeconds;
    const segments = split.segments;
    await callProgress(options, { segmentsDone: 0, segmentCount: segments.length, secondsDone: 0, durationSeconds: duration });

    const { results, resumed } = await transcribeSegments(engine, segments, language, options, duration);
    const detected = results.find((r) => r.language !== language)?.language;
    const transcript = assembleTranscript(
      results.map((r, i) => ({ offsetSeconds: segments[i]?.start ?? 0, segments: r.segments })),
      { language: detected ?? language, durationSeconds: duration, engine: engine.name, model: results[0]?.model ?? engine.model },
    );
    const billed = results.reduce<number | undefined>((sum, r) => (r.billedSeconds === undefined ? sum : (sum ?? 0) + r.billedSeconds), undefined);
    return {
      transcript,
      durationSeconds: duration,
      segmentCount: segments.length,
      cuts: segments.map((s) => s.cut),
      prepareMs: Math.round(prepareMs),
      engineMs: results.reduce((sum, r) => sum + r.engineMs, 0),
      totalMs: Math.round(performance.now() - started),
      ...(billed !== undefined ? { billedSeconds: billed } : {}),
      resumedSegments: resumed,
    };
  } catch (err) {
    if (err instanceof CallerError) throw err.error;
    throw err;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A pool of `concurrency` workers; the first failure aborts the others and is the one thrown. */
async function transcribeSegments(engine: SpeechToTextEngine, segments: readonly AudioSegment[], language: string, options: TranscribeAudioOptions, duration: number): Promise<{ results: SttResult[]; resumed: number }> {
  const results: SttResult[] = new Array<SttResult>(segments.length);
  const stop = new AbortController();
  const outer = options.signal;
  const onOuterAbort = (): void => stop.abort(outer?.reason);
  if (outer?.aborted) onOuterAbort();
  else outer?.addEventListener('abort', onOuterAbort, { once: true });
  let next = 0;
  let done = 0;
  let resumed = 0;
  let secondsDone = 0;
  // Segments this call sent to the engine (started), and whether it was asked to pause.
  let sent = 0;
  let paused = false;
  const worker = async (): Promise<void> => {
    while (next < segments.length && !paused) {
      if (stop.signal.aborted) throw outer?.aborted ? abortError(outer) : abortError(stop.signal);
      const index = next;
      const segment = segments[index];
      if (!segment) {
        next++;
        continue;
      }
      const earlier = options.doneSegments?.get(index);
      const reuse = earlier !== undefined && Math.abs(earlier.start - segment.start) < 0.001 && Math.abs(earlier.end - segment.end) < 0.001;
      if (!reuse && sent > 0 && options.shouldPause?.() === true) {
        paused = true;
        return;
      }
      next++;
      if (reuse) {
        results[index] = earlier.result;
        resumed++;
      } else {
        sent++;
        const result = await engine.transcribe({ path: segment.path, language }, { signal: stop.signal });
        results[index] = result;
        await callSegment(options, index, segment, result);
      }
      done++;
      secondsDone += segment.end - segment.start;
      await callProgress(options, { segmentsDone: done, segmentCount: segments.length, secondsDone: Math.min(duration, secondsDone), durationSeconds: duration });
    }
  };
  const concurrency = Math.max(1, Math.min(segments.length, Math.floor(options.concurrency ?? 1)));
  try {
    await Promise.all(
      Array.from({ length: concurrency }, () =>
        worker().catch((err: unknown) => {
          if (!stop.signal.aborted) stop.abort(err);
          throw err;
        }),
      ),
    );
  } finally {
    outer?.removeEventListener('abort', onOuterAbort);
  }
  if (paused) throw new TranscriptionPaused(done, segments.length, Math.min(duration, secondsDone), duration);
  return { results, resumed };
}

async function callSegment(options: TranscribeAudioOptions, index: number, segment: AudioSegment, result: SttResult): Promise<void> {
  if (!options.onSegment) return;
  try {
    await options.onSegment(index, { start: segment.start, end: segment.end }, result);
  } catch (err) {
    throw new CallerError(err);
  }
}

async function callProgress(options: TranscribeAudioOptions, progress: TranscribeProgress): Promise<void> {
  if (!options.onProgress) return;
  try {
    await options.onProgress(progress);
  } catch (err) {
    throw new CallerError(err);
  }
}
