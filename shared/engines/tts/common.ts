/** Pieces the text-to-speech engines, the joiner and the long-text driver share. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { PermanentError, TransientError } from '../../errors/index.js';
import { RunError, runProcess } from '../exec.js';
import type { RunOptions, RunResult } from '../exec.js';
import { SPEAKING_RATE_RANGE, TTS_ERROR_CODES, isAudioFormat } from './types.js';
import type { AudioFormat } from './types.js';
import { raceAbort } from '../abort.js';

/** Carries an error thrown by the caller's onProgress through an engine's classification untouched. */
export class CallerError extends Error {
  constructor(readonly error: unknown) {
    super('onProgress failed', { cause: error });
  }
}

export function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError(signal);
}

/** Aborts are retryable: the caller stops us (a deadline, a cancellation, a shutdown), not the input. */
export function abortError(signal: AbortSignal | undefined, cause?: unknown): TransientError {
  const reason: unknown = signal?.reason;
  const why = reason instanceof Error ? reason.message : typeof reason === 'string' ? reason : 'aborted';
  return new TransientError(TTS_ERROR_CODES.engineFailed, `speech synthesis aborted: ${why}`, cause ?? reason);
}

/** `promise`, or an abort error as soon as `signal` aborts, whichever is first. */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  return raceAbort(promise, signal, abortError);
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Runs `fn` with a fresh temporary directory, removed afterwards whatever happens. */
export async function withTempDir<T>(prefix: string, fn: (dir: string) => Promise<T>, parent: string = tmpdir()): Promise<T> {
  const dir = await mkdtemp(join(parent, prefix));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The speaking rate to use: 1 when absent; PermanentError outside {@link SPEAKING_RATE_RANGE}. */
export function speakingRateOf(rate: number | undefined): number {
  if (rate === undefined || rate === 0) return 1;
  if (!Number.isFinite(rate) || rate < SPEAKING_RATE_RANGE.min || rate > SPEAKING_RATE_RANGE.max) {
    throw new PermanentError(TTS_ERROR_CODES.invalidArgument, `speaking rate must be between ${SPEAKING_RATE_RANGE.min} and ${SPEAKING_RATE_RANGE.max}, got ${rate}`);
  }
  return rate;
}

/** The output format to use: `wav` when absent; PermanentError for anything else unknown. */
export function formatOf(format: string | undefined): AudioFormat {
  if (format === undefined) return 'wav';
  if (!isAudioFormat(format)) throw new PermanentError(TTS_ERROR_CODES.invalidArgument, `audio format must be wav, mp3 or ogg, got ${JSON.stringify(format)}`);
  return format;
}

/** Output sample rates accepted: what telephony to studio audio uses, and what every encoder here takes. */
export const SAMPLE_RATE_RANGE = { min: 8000, max: 48000 } as const;

export function sampleRateOf(rate: number | undefined): number | undefined {
  if (rate === undefined || rate === 0) return undefined;
  if (!Number.isInteger(rate) || rate < SAMPLE_RATE_RANGE.min || rate > SAMPLE_RATE_RANGE.max) {
    throw new PermanentError(TTS_ERROR_CODES.invalidArgument, `sample rate must be an integer between ${SAMPLE_RATE_RANGE.min} and ${SAMPLE_RATE_RANGE.max} Hz, got ${rate}`);
  }
  return rate;
}

/**
 * Runs a tool the engines need and classifies what can go wrong: a missing program is a
 * PermanentError `ENGINE_MISCONFIGURED` (redeliveries will not install it), a timeout, crash or
 * non-zero exit a TransientError `ENGINE_FAILED`, an abort the caller's abort error.
 */
export async function runTool(command: string, args: readonly string[], options: RunOptions & { what: string }): Promise<RunResult> {
  let result: RunResult;
  try {
    result = await runProcess(command, args, options);
  } catch (err) {
    if (err instanceof RunError) {
      if (err.kind === 'aborted') throw abortError(options.signal, err);
      if (err.kind === 'not-found') throw new PermanentError(TTS_ERROR_CODES.engineMisconfigured, `${options.what}: ${command} is not installed`, err);
      throw new TransientError(TTS_ERROR_CODES.engineFailed, `${options.what}: ${err.message}${err.stderr ? `: ${lastLines(err.stderr)}` : ''}`, err);
    }
    throw err;
  }
  if (result.code !== 0) {
    throw new TransientError(TTS_ERROR_CODES.engineFailed, `${options.what}: ${command} exited with ${result.code ?? result.signal}${result.stderr ? `: ${lastLines(result.stderr)}` : ''}`);
  }
  return result;
}

/** The last few lines of a tool's stderr, for an error message. */
export function lastLines(text: string, count = 3): string {
  return text.trim().split('\n').slice(-count).join(' | ').slice(0, 500);
}
