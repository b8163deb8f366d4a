/** Pieces both embedding engines share: vector hygiene, abort handling, keeping libraries off stdout. */
import { TransientError } from '../../errors/index.js';
import { logger } from '../../logger/index.js';
import { EMBEDDING_ERROR_CODES } from './types.js';
import { raceAbort } from '../abort.js';

export function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError(signal);
}

/** Aborts are retryable: the caller stops us (a deadline, a shutdown), not the text. */
export function abortError(signal: AbortSignal | undefined, cause?: unknown): TransientError {
  const reason: unknown = signal?.reason;
  const why = reason instanceof Error ? reason.message : typeof reason === 'string' ? reason : 'aborted';
  return new TransientError(EMBEDDING_ERROR_CODES.engineFailed, `embedding aborted: ${why}`, cause ?? reason);
}

/** `promise`, or an abort error as soon as `signal` aborts, whichever comes first (the work itself goes on). */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  return raceAbort(promise, signal, abortError);
}

/**
 * `values` scaled to unit L2 norm (summed in float64), or undefined when that is impossible: a
 * NaN or infinite component, an all-zero vector, or no components at all.
 */
export function unitVector(values: ArrayLike<number>): number[] | undefined {
  const n = values.length;
  if (n === 0) return undefined;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const v = values[i] ?? Number.NaN;
    if (!Number.isFinite(v)) return undefined;
    sum += v * v;
  }
  const norm = Math.sqrt(sum);
  if (!(norm > 1e-12) || !Number.isFinite(norm)) return undefined;
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) out[i] = (values[i] ?? 0) / norm;
  return out;
}

/** Cosine similarity of two vectors of the same length (for unit vectors, their dot product). */
export function cosineSimilarity(a: readonly number[], b: readonly number[]): number {
  if (a.length !== b.length) throw new Error(`vectors of different lengths: ${a.length} and ${b.length}`);
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}

/** Replaces unpaired UTF-16 surrogates (which JSON carries but no service decodes) with U+FFFD. */
export function wellFormed(text: string): string {
  return text.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

const CONSOLE_METHODS = ['log', 'info', 'debug', 'warn', 'error', 'trace'] as const;
type ConsoleMethod = (typeof CONSOLE_METHODS)[number];
let quietDepth = 0;
let saved: Partial<Record<ConsoleMethod, (...args: unknown[]) => void>> = {};

/**
 * Runs `fn` with `console.*` turned into structured log lines (`source` names the library; while
 * redirections overlap, the first one's).
 * Functions log one JSON object per line on stdout; a library printing there (TF.js does through
 * `console.warn`/`console.log`, the GenAI client through `console.debug`/`console.warn`) would
 * break that. Everything printed while `fn` runs is caught, including other code's printing in the
 * meantime (it too becomes a JSON line, which is no harm). Nested and concurrent calls share one
 * redirection, restored when the last one ends. Output written straight to file descriptors
 * (Emscripten's `fs.writeSync(1, …)` on a WASM abort) cannot be caught here.
 */
export async function quietConsole<T>(source: string, fn: () => Promise<T>): Promise<T> {
  if (quietDepth++ === 0) {
    saved = {};
    for (const method of CONSOLE_METHODS) {
      // The original function itself (not a bound copy), so restoring leaves console as it was.
      saved[method] = Reflect.get(console, method) as (...args: unknown[]) => void;
      console[method] = (...args: unknown[]): void => {
        const message = args.map((a) => (typeof a === 'string' ? a : a instanceof Error ? a.message : safeJson(a))).join(' ');
        const fields = { source, console: method };
        if (method === 'warn' || method === 'error' || method === 'trace') logger.warn(message, fields);
        else logger.debug(message, fields);
      };
    }
  }
  try {
    return await fn();
  } finally {
    if (--quietDepth === 0) {
      for (const method of CONSOLE_METHODS) {
        const original = saved[method];
        if (original) console[method] = original;
      }
      saved = {};
    }
  }
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** A value loaded once, on first use, by all callers together; a failed load is forgotten so the next call tries again. */
export interface LazyLoad<T> {
  /** The value, loading it if no load is under way or done. */
  get(): Promise<T>;
  /** The value if loaded, without loading. */
  peek(): T | undefined;
  /** Loads started so far (a retry after a failure counts again). */
  readonly attempts: number;
}

export function lazyLoad<T>(load: () => Promise<T>): LazyLoad<T> {
  let pending: Promise<T> | undefined;
  let value: T | undefined;
  let attempts = 0;
  return {
    get(): Promise<T> {
      if (!pending) {
        attempts++;
        const attempt = Promise.resolve()
          .then(load)
          .then((v) => {
            value = v;
            return v;
          });
        pending = attempt;
        void attempt.catch(() => {
          if (pending === attempt) pending = undefined;
        });
      }
      return pending;
    },
    peek: () => value,
    get attempts() {
      return attempts;
    },
  };
}
