import { ZodError } from 'zod';

/**
 * One error base class for the project. Subclasses set `name`, carry a stable `code` and say whether
 * the failure is `retryable`: event handlers throw retryable errors (Pub/Sub redelivers) and record
 * permanent ones on the job (and acknowledge).
 */
export class ScriptoriumError extends Error {
  readonly code: string;
  readonly retryable: boolean;
  constructor(code: string, message: string, options: { retryable: boolean; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ScriptoriumError';
    this.code = code;
    this.retryable = options.retryable;
  }
}

/** A failure that will not go away by retrying: bad input, unsupported type, encrypted PDF... */
export class PermanentError extends ScriptoriumError {
  constructor(code: string, message: string, cause?: unknown) {
    super(code, message, { retryable: false, cause });
    this.name = 'PermanentError';
  }
}

/** A failure worth retrying with backoff: an unavailable dependency, a timeout, contention. */
export class TransientError extends ScriptoriumError {
  constructor(code: string, message: string, cause?: unknown) {
    super(code, message, { retryable: true, cause });
    this.name = 'TransientError';
  }
}

/** HTTP-facing errors of the API function: status plus a stable code. */
export class HttpError extends ScriptoriumError {
  readonly status: number;
  readonly details: unknown;
  constructor(status: number, code: string, message: string, details?: unknown, cause?: unknown) {
    super(code, message, { retryable: status >= 500 || status === 429, cause });
    this.name = 'HttpError';
    this.status = status;
    this.details = details;
  }
}

/** The structured error stored on a job. */
export interface JobError {
  readonly code: string;
  readonly message: string;
  readonly retryable: boolean;
}

/** gRPC status codes that mean "try again" (UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED, INTERNAL, UNKNOWN). */
const RETRYABLE_GRPC = new Set([14, 4, 8, 10, 13, 2]);
const RETRYABLE_NET = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND', 'ECONNABORTED', 'UND_ERR_SOCKET']);
/**
 * zlib failures: bytes that do not decompress ("incorrect header check") will not decompress on the
 * next attempt either. Retrying them only burned every attempt before the job failed as INTERNAL.
 */
const PERMANENT_CODES = new Set(['Z_DATA_ERROR', 'Z_BUF_ERROR', 'Z_NEED_DICT', 'Z_STREAM_ERROR', 'ERR_BROTLI_DECOMPRESSION_FAILED', 'ERR_ZSTD_DECOMPRESSION_FAILED']);

function field(err: unknown, key: string): unknown {
  return typeof err === 'object' && err !== null && key in err ? (err as Record<string, unknown>)[key] : undefined;
}

/**
 * Classifies any thrown value. Ours say so themselves; for client-library errors this follows
 * nodejs-storage's retry classifier: HTTP 408/429/5xx, gRPC UNAVAILABLE & co, and connection resets
 * are transient; schema violations (ZodError) are permanent. Anything unknown is treated as transient too: it is retried up to the attempt cap
 * and then recorded, so an unexpected bug never loses a job and never loops forever.
 */
export function isRetryable(err: unknown): boolean {
  if (err instanceof ScriptoriumError) return err.retryable;
  // Data that fails its schema (a stored record, a response) will fail the same way next time:
  // retrying it would only turn one bad record into a retry storm.
  if (err instanceof ZodError) return false;
  const code = field(err, 'code');
  if (typeof code === 'number') {
    if (code >= 100) return code === 408 || code === 429 || code >= 500;
    return RETRYABLE_GRPC.has(code);
  }
  if (typeof code === 'string' && RETRYABLE_NET.has(code)) return true;
  if (typeof code === 'string' && PERMANENT_CODES.has(code)) return false;
  const status = field(err, 'status') ?? field(field(err, 'response'), 'status');
  if (typeof status === 'number') return status === 408 || status === 429 || status >= 500;
  return true;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The job-record form of an error. */
export function toJobError(err: unknown): JobError {
  if (err instanceof ScriptoriumError) return { code: err.code, message: err.message, retryable: err.retryable };
  const code = field(err, 'code');
  if (typeof code === 'string' && PERMANENT_CODES.has(code)) {
    return { code: 'INPUT_CORRUPT', message: `the file could not be decompressed (${code}): ${errorMessage(err)}`, retryable: false };
  }
  return { code: 'INTERNAL', message: errorMessage(err), retryable: isRetryable(err) };
}
