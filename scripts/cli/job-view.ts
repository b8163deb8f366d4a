/**
 * Turning Firestore data (client SDK) into what the CLI shows. Pure, so it is unit-tested.
 *
 * The views are lenient on purpose: the CLI must still show a job another writer shaped slightly
 * differently (or a newer field set), rather than refuse to print it. `raw` keeps everything.
 */
import { JOB_STATUSES, TERMINAL_STATUSES, type JobStatus } from '../../shared/jobs/model.js';
import { formatUsage } from '../../shared/cost/format.js';
import { UsageRecordSchema } from '../../shared/cost/usage.js';

function isTimestampLike(value: object): value is { toDate(): unknown; seconds: number } {
  return 'toDate' in value && typeof value.toDate === 'function' && 'seconds' in value && typeof value.seconds === 'number';
}

/**
 * Firestore values to plain JSON data: Timestamps (anything with `toDate()` and `seconds`, so this
 * needs no import of the SDK) become ISO strings, nested maps and arrays are converted too.
 */
export function firestorePlain(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(firestorePlain);
  if (isTimestampLike(value)) {
    const date = value.toDate();
    return date instanceof Date ? date.toISOString() : String(date);
  }
  if (Object.getPrototypeOf(value) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = firestorePlain(v);
    return out;
  }
  return value;
}

/** Whether `status` is a job status after which nothing changes. */
export function isTerminalStatus(status: string): status is JobStatus {
  return (JOB_STATUSES as readonly string[]).includes(status) && TERMINAL_STATUSES.has(status as JobStatus);
}

/** A job's error as shown. */
export interface JobErrorView {
  readonly code: string;
  readonly message: string;
  readonly retryable: boolean | null;
}

/** What the CLI shows of `jobs/{jobId}`. */
export interface JobView {
  readonly id: string;
  readonly status: string;
  readonly stage: string | null;
  readonly progress: number | null;
  readonly attempts: number | null;
  readonly error: JobErrorView | null;
  readonly result: Readonly<Record<string, unknown>> | null;
  readonly documentId: string | null;
  readonly projectId: string | null;
  readonly createdAt: string | null;
  readonly startedAt: string | null;
  readonly updatedAt: string | null;
  readonly finishedAt: string | null;
  /** The whole document, timestamps as ISO strings. */
  readonly raw: Readonly<Record<string, unknown>>;
}

function str(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}
function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}
function record(v: unknown): Record<string, unknown> | null {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
}

/** The view of a job document's data (as returned by the SDK's `data()`). */
export function toJobView(id: string, data: unknown): JobView {
  const raw = record(firestorePlain(data)) ?? {};
  const err = record(raw.error);
  return {
    id,
    status: str(raw.status) ?? 'UNKNOWN',
    stage: str(raw.stage),
    progress: num(raw.progress),
    attempts: num(raw.attempts),
    error: err ? { code: str(err.code) ?? 'UNKNOWN', message: str(err.message) ?? '', retryable: typeof err.retryable === 'boolean' ? err.retryable : null } : null,
    result: record(raw.result),
    documentId: str(raw.documentId),
    projectId: str(raw.projectId),
    createdAt: str(raw.createdAt),
    startedAt: str(raw.startedAt),
    updatedAt: str(raw.updatedAt),
    finishedAt: str(raw.finishedAt),
    raw: { ...raw, id },
  };
}

/** What the CLI uses of `documents/{documentId}`. */
export interface DocumentView {
  readonly id: string;
  readonly status: string | null;
  readonly pageCount: number | null;
  readonly language: string | null;
  readonly raw: Readonly<Record<string, unknown>>;
}

/** The view of a document record's data. */
export function toDocumentView(id: string, data: unknown): DocumentView {
  const raw = record(firestorePlain(data)) ?? {};
  return { id, status: str(raw.status), pageCount: num(raw.pageCount), language: str(raw.language), raw: { ...raw, id } };
}

/** `key  value` lines with the keys padded to one column. */
export function formatKeyValues(rows: readonly (readonly [string, string | null | undefined])[]): string {
  const shown = rows.filter((r): r is readonly [string, string] => r[1] !== null && r[1] !== undefined);
  const width = Math.max(0, ...shown.map(([k]) => k.length));
  return shown.map(([k, v]) => `${k.padEnd(width)}  ${v}\n`).join('');
}

/** A job error on one line: `CODE: message (retryable)`. */
export function formatJobError(error: JobErrorView): string {
  const retry = error.retryable === null ? '' : error.retryable ? ' (retryable)' : ' (not retryable)';
  return `${error.code}: ${error.message}${retry}`;
}

/** The human-readable form of a job (`scriptorium job ID`). */
export function formatJob(job: JobView): string {
  const input = record(job.raw.input);
  const file = input && typeof input.fileName === 'string' ? `${input.fileName}${typeof input.contentType === 'string' ? ` (${input.contentType})` : ''}` : null;
  return formatKeyValues([
    ['job', job.id],
    ['status', job.status],
    ['stage', job.stage],
    ['progress', job.progress === null ? null : `${job.progress}%`],
    ['attempts', job.attempts === null ? null : String(job.attempts)],
    ['kind', str(job.raw.kind)],
    ['project', job.projectId],
    ['document', job.documentId],
    ['file', file],
    ['error', job.error ? formatJobError(job.error) : null],
    ['created', job.createdAt],
    ['started', job.startedAt],
    ['updated', job.updatedAt],
    ['finished', job.finishedAt],
  ]) + formatJobUsage(job);
}

/** The job's metered usage and estimated cost, when it has any (lenient: a malformed record is not shown). */
export function formatJobUsage(job: JobView): string {
  const usage = UsageRecordSchema.safeParse(job.raw.usage);
  if (!usage.success || job.raw.usage === undefined) return '';
  return `usage (estimated at list prices, ${usage.data.priceTable ?? 'unknown price table'}):\n${formatUsage(usage.data, '  ')}`;
}
