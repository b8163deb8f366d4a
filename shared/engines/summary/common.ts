/** Pieces the summary engines share: progress reporting, abort handling. */
import { TransientError } from '../../errors/index.js';
import { SUMMARY_ERROR_CODES, type SummaryOptions } from './types.js';

/** Carries an error thrown by the caller's onProgress through an engine's classification untouched. */
export class CallerError extends Error {
  constructor(readonly error: unknown) {
    super('onProgress failed', { cause: error });
  }
}

/**
 * Reports progress through the caller's callback, never backwards and never above 1; its failures
 * are wrapped so engines pass them on as they are.
 */
export function progressReporter(options: Pick<SummaryOptions, 'onProgress'>): (fraction: number) => Promise<void> {
  let last = -1;
  return async (fraction) => {
    const value = Math.min(1, Math.max(0, Math.max(last, fraction)));
    if (value === last || !options.onProgress) return;
    last = value;
    try {
      await options.onProgress(value);
    } catch (err) {
      throw new CallerError(err);
    }
  };
}

export function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError(signal);
}

/** Aborts are retryable: the caller stops us (a deadline, a shutdown), not the document. */
export function abortError(signal: AbortSignal | undefined, cause?: unknown): TransientError {
  const reason: unknown = signal?.reason;
  const why = reason instanceof Error ? reason.message : typeof reason === 'string' ? reason : 'aborted';
  return new TransientError(SUMMARY_ERROR_CODES.engineFailed, `summary aborted: ${why}`, cause ?? reason);
}
