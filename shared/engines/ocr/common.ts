/** Pieces both OCR engines share: progress reporting, abort handling. */
import { TransientError } from '../../errors/index.js';
import { OCR_ERROR_CODES, type DonePage, type OcrOptions, type OcrProgress } from './types.js';

/** Carries an error thrown by the caller's onProgress through an engine's classification untouched. */
export class CallerError extends Error {
  constructor(readonly error: unknown) {
    super('onProgress failed', { cause: error });
  }
}

/** Calls the caller's progress callback; its failures are wrapped so engines pass them on as they are. */
export async function report(job: Pick<OcrOptions, 'onProgress'>, progress: OcrProgress): Promise<void> {
  try {
    await job.onProgress?.(progress);
  } catch (err) {
    throw new CallerError(err);
  }
}

/** Hands newly recognised pages to the caller's checkpoint callback; its failures pass through untouched. */
export async function checkpoint(job: Pick<OcrOptions, 'onPages'>, pages: readonly DonePage[], pageCount: number): Promise<void> {
  if (!job.onPages || pages.length === 0) return;
  try {
    await job.onPages(pages, pageCount);
  } catch (err) {
    throw new CallerError(err);
  }
}

/** The done pages first..last, in order, or undefined when any of them is missing. */
export function donePagesIn(done: OcrOptions['donePages'], first: number, last: number): DonePage[] | undefined {
  if (!done) return undefined;
  const out: DonePage[] = [];
  for (let n = first; n <= last; n++) {
    const d = done.get(n);
    if (!d) return undefined;
    out.push(d);
  }
  return out;
}

export function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError(signal);
}

/** Aborts are retryable: the caller stops us (a deadline, a shutdown), not the document. */
export function abortError(signal: AbortSignal | undefined, cause?: unknown): TransientError {
  const reason: unknown = signal?.reason;
  const why = reason instanceof Error ? reason.message : typeof reason === 'string' ? reason : 'aborted';
  return new TransientError(OCR_ERROR_CODES.engineFailed, `OCR aborted: ${why}`, cause ?? reason);
}
