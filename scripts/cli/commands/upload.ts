/**
 * `scriptorium upload FILE...`: for each file (directories are walked), asks the api for a signed
 * URL, streams the file to it, then follows the job through a Firestore listener until its whole
 * pipeline (OCR, then embedding and summary) has completed or failed. Several files go through at
 * most `--concurrency` at a time.
 *
 * One FILE that is a regular file keeps the original output: its own progress bars and, with
 * --json, one JSON object. Anything else (several FILEs, or a directory) is a batch: one overall
 * progress line (a line per finished file without a terminal) and, with --json, one JSON array.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { ContentTypeSchema, ProjectIdSchema, type CreateUploadResponse } from '../../../shared/api/contracts.js';
import { DocumentIdSchema } from '../../../shared/ids.js';
import { parseCommand, parsePositiveInt } from '../args.js';
import { guessContentType } from '../content-type.js';
import { describeFsError, expandUploadPaths, type Expansion, type UploadEntry } from '../files.js';
import { EXIT, UsageError, CliFailure, type CliContext, type Command } from '../io.js';
import { ERROR_STATUS, FOLLOW_ARG_OPTIONS, followVerdict, followWithStall, jobProgressDisplay, lastSeen, parseFollowSettings, stallTimeoutUsage, type FollowHooks, type FollowSettings } from '../job-follow.js';
import { formatJobError, formatKeyValues } from '../job-view.js';
import { mapLimit } from '../limit.js';
import { LineDrawer, formatDuration, formatIdle, formatStalled, renderBatchProgress, renderUploadDone, renderUploadProgress } from '../progress.js';
import { ApiError, loadConfig, openFirebaseSession, type Session } from '../session.js';
import { putFile, type PutResult } from '../transfer.js';
import { neutralizeControls } from './text.js';

/** Status reported with `--no-wait` (the bytes are stored; the job has not been followed). */
export const UPLOADED_STATUS = 'UPLOADED';

/** Default of `--concurrency`. */
export const DEFAULT_CONCURRENCY = 4;
/** Largest `--concurrency` accepted. */
export const MAX_CONCURRENCY = 64;

/** An error as reported in the JSON output. */
export interface UploadError {
  readonly code: string;
  readonly message: string;
  readonly retryable?: boolean | null;
  readonly httpStatus?: number;
}

/** The one JSON object `upload FILE --json` prints for a single file. */
export interface UploadResult {
  readonly documentId: string | null;
  readonly jobId: string | null;
  /** The job's final status, `UPLOADED` with --no-wait, `ERROR` when the CLI gave up (see `error.code`). */
  readonly status: string;
  readonly error?: UploadError;
  readonly pages?: number;
  readonly language?: string;
  readonly elapsedMs: number;
}

/** Builds {@link UploadResult}, leaving out what is unknown (so consumers can test for presence). */
export function buildUploadResult(input: {
  documentId: string | null;
  jobId: string | null;
  status: string;
  error?: UploadError | null;
  pages?: number | null;
  language?: string | null;
  elapsedMs: number;
}): UploadResult {
  return {
    documentId: input.documentId,
    jobId: input.jobId,
    status: input.status,
    ...(input.error ? { error: input.error } : {}),
    ...(typeof input.pages === 'number' ? { pages: input.pages } : {}),
    ...(typeof input.language === 'string' ? { language: input.language } : {}),
    elapsedMs: Math.round(input.elapsedMs),
  };
}

/** One element of the JSON array a batch prints: `error` is always there (null when none). */
export interface BatchEntry {
  /** The path as given on the command line or found under a directory given there. */
  readonly file: string;
  readonly documentId: string | null;
  readonly jobId: string | null;
  readonly status: string;
  readonly error: UploadError | null;
  readonly pages?: number;
  readonly language?: string;
  /** From when this file's upload started (0 for a file that never started). */
  readonly elapsedMs: number;
}

/** The batch form of a file's result. */
export function toBatchEntry(file: string, result: UploadResult): BatchEntry {
  return {
    file,
    documentId: result.documentId,
    jobId: result.jobId,
    status: result.status,
    error: result.error ?? null,
    ...(result.pages !== undefined ? { pages: result.pages } : {}),
    ...(result.language !== undefined ? { language: result.language } : {}),
    elapsedMs: result.elapsedMs,
  };
}

/** The status a file must end with for the command to succeed. */
export function successStatus(wait: boolean): string {
  return wait ? 'COMPLETED' : UPLOADED_STATUS;
}

/** Counts of a batch's outcomes. */
export interface BatchSummary {
  readonly total: number;
  readonly succeeded: number;
  readonly failed: number;
  /** Files per status, in a stable order: the success status first, then by name. */
  readonly byStatus: readonly (readonly [string, number])[];
  readonly exitCode: number;
}

/** Sums up results: exit 0 only when every file ended with {@link successStatus}. */
export function summarizeResults(results: readonly Pick<UploadResult, 'status'>[], wait: boolean): BatchSummary {
  const ok = successStatus(wait);
  const counts = new Map<string, number>();
  for (const r of results) counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
  const byStatus = [...counts.entries()].sort(([a], [b]) => (a === ok ? -1 : b === ok ? 1 : a < b ? -1 : a > b ? 1 : 0));
  const succeeded = counts.get(ok) ?? 0;
  const failed = results.length - succeeded;
  return { total: results.length, succeeded, failed, byStatus, exitCode: failed === 0 ? EXIT.OK : EXIT.FAILURE };
}

/** `3 files: 2 COMPLETED, 1 FAILED`. */
export function formatSummary(summary: BatchSummary): string {
  const counts = summary.byStatus.map(([status, n]) => `${n} ${status}`).join(', ');
  return `${summary.total} file${summary.total === 1 ? '' : 's'}${counts ? `: ${counts}` : ''}`;
}

/** A file path for a terminal: control characters (an escape sequence in a file name) as U+FFFD. */
function shown(file: string): string {
  return neutralizeControls(file).replace(/[\t\n\f\r]/g, '\uFFFD');
}

/** Why an entry did not succeed, on one line (empty when it did). */
function entryProblem(entry: BatchEntry): string {
  if (!entry.error) return '';
  return entry.status === ERROR_STATUS ? entry.error.message : formatJobError({ code: entry.error.code, message: entry.error.message, retryable: entry.error.retryable ?? null });
}

/**
 * The line printed when a file of a batch finishes (without a terminal; failures on one too):
 * `[3/10] scans/a.pdf: COMPLETED (document d1, job j1, 2 pages, eng, 2.1 s)`, `…: FAILED (…): CODE: why`.
 */
export function formatFinishedLine(done: number, total: number, entry: BatchEntry): string {
  const facts = [
    entry.documentId ? `document ${entry.documentId}` : null,
    entry.jobId ? `job ${entry.jobId}` : null,
    entry.pages !== undefined ? `${entry.pages} page${entry.pages === 1 ? '' : 's'}` : null,
    entry.language ?? null,
    entry.elapsedMs > 0 ? formatDuration(entry.elapsedMs) : null,
  ].filter((f): f is string => f !== null);
  const problem = entryProblem(entry);
  return `[${String(done).padStart(String(total).length)}/${total}] ${shown(entry.file)}: ${entry.status}${facts.length ? ` (${facts.join(', ')})` : ''}${problem ? `: ${problem}` : ''}`;
}

/** The human-readable table of a batch (stdout without --json). */
export function formatBatchTable(entries: readonly BatchEntry[]): string {
  const rows = entries.map((e) => [
    shown(e.file),
    e.status,
    e.documentId ?? '-',
    e.jobId ?? '-',
    e.pages === undefined ? '-' : String(e.pages),
    e.language ?? '-',
    formatDuration(e.elapsedMs),
    entryProblem(e),
  ]);
  const header = ['FILE', 'STATUS', 'DOCUMENT', 'JOB', 'PAGES', 'LANGUAGE', 'ELAPSED', 'ERROR'];
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return all.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ').trimEnd() + '\n').join('');
}

const USAGE = `Usage: scriptorium upload FILE... [--project ID] [--document DOCUMENT_ID] [--type CONTENT_TYPE] [--concurrency N] [--no-wait] [--timeout SECONDS] [--stall-timeout SECONDS] [--json] [--config FILE]

Uploads each FILE through a signed URL and follows its processing job (OCR, then embedding and
summary) until the whole pipeline has completed or failed. A directory FILE is walked recursively:
every regular file under it is uploaded, in name order; dotfiles, non-regular files (FIFOs, sockets,
devices) and symbolic-link loops are skipped, a file reached twice is uploaded once, and a file that
cannot be uploaded (unreadable, empty, unusable name) is reported as an error of its own.

Options:
  --project ID          Scriptorium project (default: the local stack's demo project)
  --document ID         upload the one FILE as the next version of this document (same project):
                        the document keeps its current version until the new one is READY, then
                        search and the document switch to it at once (one version is processed at a
                        time: the api refuses another while one is in progress)
  --type CONTENT_TYPE   content type of every FILE (default: guessed per file from the extension:
                        pdf, png, jpg/jpeg, tif/tiff, gif, bmp, webp, wav, mp3, flac, ogg, txt;
                        else application/octet-stream)
  --concurrency N       files in flight at once, upload and job (default ${DEFAULT_CONCURRENCY}, at most ${MAX_CONCURRENCY})
  --no-wait             stop after the uploads, printing the document and job ids
  --timeout SECONDS     how long to wait for each job, from the end of its upload (default 600)
${stallTimeoutUsage('the file ends')}
  --json                print JSON on stdout at the end; progress goes to stderr as lines.
                        One FILE that is a regular file: one object
                          {documentId, jobId, status, error?, pages?, language?, elapsedMs}
                        Several FILEs or a directory: one array, an object per file
                          [{file, documentId, jobId, status, error, pages?, language?, elapsedMs}]
                        (error is null when there is none). status is the job's (COMPLETED, FAILED,
                        CANCELLED), UPLOADED with --no-wait, STALLED (error.code STALLED) when the
                        job made no progress for --stall-timeout, or ERROR when the CLI gave up on
                        the file: error.code says why (TIMEOUT, LISTEN_FAILED, UPLOAD_FAILED,
                        UNREADABLE, EMPTY_FILE, INVALID_FILE_NAME, FILE_CHANGED, or the api's code)
  --config FILE         local stack config (default: $SCRIPTORIUM_LOCAL_CONFIG or .scriptorium/local.json)
  -h, --help            show this help

On a terminal one progress line shows files uploaded, bytes and jobs finished; without one, a line
is printed per finished file. Without --json the results are printed as a table (key/value lines
for one FILE).

Exit status: 0 when every job COMPLETED (with --no-wait: every upload succeeded); 1 when any job
FAILED or was CANCELLED, or a file could not be read, uploaded or followed (refused, timed out,
stalled); 2 on usage errors (a FILE that does not exist, an unknown option; nothing is uploaded then).
`;

/** Validated command line of `upload` (with `--timeout` and the stall settings). */
export interface UploadOptions extends FollowSettings {
  readonly operands: readonly string[];
  readonly projectId: string | undefined;
  /** `--document`: the one FILE becomes this document's next version. */
  readonly documentId: string | undefined;
  /** `--type`, applied to every file; undefined: guessed per file. */
  readonly contentType: string | undefined;
  readonly concurrency: number;
  readonly wait: boolean;
  readonly json: boolean;
  readonly config: string | undefined;
}

/**
 * Parses and checks `upload`'s options (the files are checked by {@link expandUploadPaths}); null
 * for --help. `env` supplies the defaults of the stall settings.
 */
export function parseUploadArgs(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = {}): UploadOptions | null {
  const { values, positionals } = parseCommand(argv, {
    project: { type: 'string' },
    document: { type: 'string' },
    type: { type: 'string' },
    concurrency: { type: 'string' },
    'no-wait': { type: 'boolean' },
    ...FOLLOW_ARG_OPTIONS,
    json: { type: 'boolean' },
  });
  if (values.help) return null;
  if (positionals.length === 0) throw new UsageError('missing FILE');
  const follow = parseFollowSettings(values, env);
  const concurrency = values.concurrency === undefined ? DEFAULT_CONCURRENCY : parsePositiveInt('concurrency', values.concurrency);
  if (concurrency > MAX_CONCURRENCY) throw new UsageError(`--concurrency must be at most ${MAX_CONCURRENCY}, got ${concurrency}`);
  if (values.project !== undefined && !ProjectIdSchema.safeParse(values.project).success) {
    throw new UsageError(`invalid --project '${values.project}': 2–63 characters of a-z, 0-9 and -`);
  }
  if (values.document !== undefined) {
    if (!DocumentIdSchema.safeParse(values.document).success) throw new UsageError(`invalid --document '${values.document}': expected doc_ and 20 hex digits`);
    if (positionals.length !== 1) throw new UsageError('--document takes exactly one FILE (the new version)');
  }
  let contentType: string | undefined;
  if (values.type !== undefined) {
    const parsed = ContentTypeSchema.safeParse(values.type);
    if (!parsed.success) throw new UsageError(`invalid --type '${values.type}': expected type/subtype`);
    contentType = parsed.data;
  }
  return {
    operands: positionals,
    projectId: values.project,
    documentId: values.document,
    contentType,
    concurrency,
    wait: !values['no-wait'],
    ...follow,
    json: values.json ?? false,
    config: values.config,
  };
}

async function run(ctx: CliContext): Promise<number> {
  const started = performance.now();
  const opts = parseUploadArgs(ctx.argv, ctx.env);
  if (opts === null) {
    ctx.stdout.write(USAGE);
    return EXIT.OK;
  }
  const expansion = await expandUploadPaths(opts.operands);
  reportSkipped(ctx, expansion);
  if (expansion.entries.length === 0) throw new UsageError(`no files to upload in ${opts.operands.join(', ')}`);
  const single = expansion.single ? expansion.entries[0] : undefined;
  if (opts.documentId !== undefined && !single) throw new UsageError('--document takes one regular FILE (the new version), not a directory');

  let session: Session | null = null;
  if (expansion.entries.some((e) => e.kind === 'file')) {
    try {
      session = await (ctx.openSession ?? openFirebaseSession)(loadConfig(opts.config, ctx.env));
    } catch (err) {
      // With --json the promised JSON is printed even when nothing could start.
      if (!(opts.json && err instanceof CliFailure)) throw err;
      ctx.stderr.write(`error: ${err.message}\n`);
      const error = { code: err.code, message: err.message };
      const elapsedMs = performance.now() - started;
      if (single) {
        ctx.stdout.write(`${JSON.stringify(buildUploadResult({ documentId: null, jobId: null, status: ERROR_STATUS, error, elapsedMs }))}\n`);
      } else {
        const results = expansion.entries.map((e) => toBatchEntry(e.path, e.kind === 'error' ? entryErrorResult(e) : buildUploadResult({ documentId: null, jobId: null, status: ERROR_STATUS, error, elapsedMs: 0 })));
        ctx.stdout.write(`${JSON.stringify(results)}\n`);
      }
      return EXIT.FAILURE;
    }
  }
  try {
    return single ? await uploadSingle(ctx, opts, session, single, started) : await uploadBatch(ctx, opts, session, expansion.entries, started);
  } finally {
    await session?.close();
  }
}

/** Tells stderr what was left out, so a walk that uploads less than expected explains itself. */
function reportSkipped(ctx: CliContext, expansion: Expansion): void {
  for (const s of expansion.skipped) ctx.stderr.write(`skipped ${shown(s.path)}: ${s.reason}\n`);
  if (expansion.dotfiles > 0) ctx.stderr.write(`skipped ${expansion.dotfiles} dotfile${expansion.dotfiles === 1 ? '' : 's'} (names starting with '.')\n`);
}

/** The result of an entry that could not even start (unreadable, empty, bad name). */
function entryErrorResult(entry: Extract<UploadEntry, { kind: 'error' }>): UploadResult {
  return buildUploadResult({ documentId: null, jobId: null, status: ERROR_STATUS, error: { code: entry.code, message: `${entry.path}: ${entry.message}` }, elapsedMs: 0 });
}

/** What {@link uploadFile} reports while it works (each optional); the job's own hooks as following it reports them. */
interface FileHooks extends FollowHooks {
  /** The api created the document and job; the PUT starts now. */
  readonly created?: (created: CreateUploadResponse) => void;
  /** Bytes handed to the connection so far. */
  readonly progress?: (sent: number) => void;
  readonly uploaded?: (put: PutResult) => void;
}

/** How one file ended: its result, and for a failure the message for stderr. */
interface FileOutcome {
  readonly result: UploadResult;
  readonly message: string | null;
  /** Whether the bytes were stored. */
  readonly uploaded: boolean;
}

/**
 * Uploads one file and (unless --no-wait) follows its job to the end. Expected failures (refusals,
 * unreadable file, timeout, listener denied) become an `ERROR` result, never a rejection.
 */
async function uploadFile(
  session: Session,
  opts: UploadOptions,
  file: { readonly path: string; readonly name: string; readonly size: number },
  started: number,
  hooks: FileHooks,
): Promise<FileOutcome> {
  const elapsed = () => performance.now() - started;
  let ids: { documentId: string | null; jobId: string | null } = { documentId: null, jobId: null };
  let uploaded = false;
  const fail = (code: string, message: string, httpStatus?: number): FileOutcome => {
    const error = { code, message, ...(httpStatus ? { httpStatus } : {}) };
    return { result: buildUploadResult({ ...ids, status: ERROR_STATUS, error, elapsedMs: elapsed() }), message, uploaded };
  };

  // The MD5 is signed into the upload URL: the store accepts these bytes and no others, and ingest
  // checks the stored object against it again.
  let md5Hash: string;
  try {
    const read = await fileMd5(file.path);
    if (read.bytes !== file.size) return fail('FILE_CHANGED', `${file.path} changed while being read (${read.bytes} bytes, ${file.size} before)`);
    md5Hash = read.md5;
  } catch (err) {
    return fail('UNREADABLE', `cannot read ${file.path}: ${describeFsError(err)}`);
  }

  let created: CreateUploadResponse;
  try {
    created = await session.api.createUpload({
      projectId: opts.projectId ?? session.config.projectId,
      fileName: file.name,
      contentType: opts.contentType ?? guessContentType(file.name),
      size: file.size,
      md5Hash,
      ...(opts.documentId ? { documentId: opts.documentId } : {}),
      // Fresh per file and invocation: the client's retries of this request are idempotent, a new run is a new upload.
      clientRequestId: `cli-${randomUUID()}`,
    });
  } catch (err) {
    if (err instanceof ApiError) return fail(err.code, err.explain('create the upload'), err.status || undefined);
    throw err;
  }
  ids = { documentId: created.documentId, jobId: created.jobId };
  hooks.created?.(created);

  try {
    const put = await putFile({ url: created.uploadUrl, headers: created.headers, file: file.path, size: file.size, onProgress: hooks.progress });
    uploaded = true;
    hooks.uploaded?.(put);
  } catch (err) {
    if (err instanceof CliFailure) return fail('UPLOAD_FAILED', err.message);
    throw err;
  }

  if (!opts.wait) return { result: buildUploadResult({ ...ids, status: UPLOADED_STATUS, elapsedMs: elapsed() }), message: null, uploaded };

  const outcome = await followWithStall(session, created.jobId, opts, hooks);
  const verdict = followVerdict(created.jobId, outcome, opts.timeoutMs, session.userEmail);
  let pages: number | null = null;
  let language: string | null = null;
  const job = verdict.job;
  if (verdict.status === 'COMPLETED' && job) {
    // The document record is where page count and language live; the job's result is a fallback.
    const doc = await session.getDocument(created.documentId).catch(() => null);
    pages = doc?.pageCount ?? (typeof job.result?.pageCount === 'number' ? job.result.pageCount : null);
    language = doc?.language ?? (typeof job.result?.language === 'string' ? job.result.language : null);
  }
  return {
    result: buildUploadResult({ ...ids, status: verdict.status, error: verdict.error, pages, language, elapsedMs: elapsed() }),
    message: verdict.message,
    uploaded,
  };
}

/** One FILE: the original output (upload bar, job bar; key/values or one JSON object). */
async function uploadSingle(ctx: CliContext, opts: UploadOptions, session: Session | null, entry: UploadEntry, started: number): Promise<number> {
  let outcome: FileOutcome;
  if (entry.kind === 'error' || session === null) {
    const result = entry.kind === 'error' ? entryErrorResult(entry) : buildUploadResult({ documentId: null, jobId: null, status: ERROR_STATUS, elapsedMs: 0 });
    outcome = { result, message: result.error?.message ?? 'nothing to upload', uploaded: false };
  } else {
    const file = entry;
    const tty = Boolean(ctx.stderr.isTTY) && !opts.json;
    const bar = new LineDrawer(ctx.stderr);
    const jobLine = jobProgressDisplay(ctx.stderr, tty);
    let putStarted = performance.now();
    outcome = await uploadFile(session, opts, file, started, {
      created: (created) => {
        if (!opts.json) ctx.stderr.write(`document ${created.documentId}, job ${created.jobId}\n`);
        putStarted = performance.now();
      },
      progress: tty ? (sent) => bar.draw(renderUploadProgress({ label: file.name, sent, total: file.size, elapsedMs: performance.now() - putStarted, columns: bar.columns })) : undefined,
      uploaded: (put) => {
        if (tty) {
          bar.draw(renderUploadProgress({ label: file.name, sent: put.bytes, total: file.size, elapsedMs: put.elapsedMs, columns: bar.columns }), true);
          bar.finish();
        } else {
          ctx.stderr.write(`${renderUploadDone(file.name, put.bytes, put.elapsedMs)}\n`);
        }
      },
      job: jobLine.job,
      stalled: jobLine.stalled,
      resumed: jobLine.resumed,
    });
    bar.finish();
    jobLine.finish();
  }

  const { result, message } = outcome;
  if (result.status === ERROR_STATUS) {
    // Given up before the job ended: the reason, and the JSON object with --json.
    ctx.stderr.write(`error: ${message ?? result.error?.message ?? 'failed'}\n`);
    if (opts.json) ctx.stdout.write(`${JSON.stringify(result)}\n`);
    return EXIT.FAILURE;
  }
  if (result.status === UPLOADED_STATUS) {
    if (opts.json) {
      ctx.stdout.write(`${JSON.stringify(result)}\n`);
    } else {
      ctx.stdout.write(formatKeyValues([['document', result.documentId], ['job', result.jobId], ['status', UPLOADED_STATUS]]));
      ctx.stderr.write(`follow it with: scriptorium job ${result.jobId ?? ''}\n`);
    }
    return EXIT.OK;
  }
  if (opts.json) {
    ctx.stdout.write(`${JSON.stringify(result)}\n`);
  } else {
    ctx.stdout.write(
      formatKeyValues([
        ['document', result.documentId],
        ['job', result.jobId],
        ['status', result.status],
        ['pages', result.pages === undefined ? null : String(result.pages)],
        ['language', result.language],
        ['error', result.error ? formatJobError({ code: result.error.code, message: result.error.message, retryable: result.error.retryable ?? null }) : null],
        ['elapsed', formatDuration(result.elapsedMs)],
      ]),
    );
  }
  if (result.error) {
    ctx.stderr.write(`error: ${message ?? result.error.message}\n`);
    return EXIT.FAILURE;
  }
  if (!opts.json) {
    ctx.stderr.write(`get the text with: scriptorium text ${result.documentId ?? ''}\n`);
    ctx.stderr.write(`and the summary with: scriptorium summary ${result.documentId ?? ''}\n`);
  }
  return EXIT.OK;
}

/** Several files: bounded concurrency, one overall progress display, a table or one JSON array. */
async function uploadBatch(ctx: CliContext, opts: UploadOptions, session: Session | null, entries: readonly UploadEntry[], started: number): Promise<number> {
  const tty = Boolean(ctx.stderr.isTTY) && !opts.json;
  const drawer = new LineDrawer(ctx.stderr);
  const files = entries.length;
  const bytes = entries.reduce((sum, e) => sum + (e.kind === 'file' ? e.size : 0), 0);
  const sent = new Map<number, number>();
  let filesDone = 0;
  let finished = 0;
  let failed = 0;
  const ok = successStatus(opts.wait);
  const redraw = (force = false): void => {
    if (!tty) return;
    let sentBytes = 0;
    for (const n of sent.values()) sentBytes += n;
    drawer.draw(renderBatchProgress({ files, bytes, filesDone, sentBytes, finished, failed, wait: opts.wait, columns: drawer.columns }), force);
  };
  const finish = (entry: BatchEntry): void => {
    finished += 1;
    if (entry.status !== ok) failed += 1;
    const line = formatFinishedLine(finished, files, entry);
    if (!tty) {
      ctx.stderr.write(`${line}\n`);
      return;
    }
    // On a terminal, failures are printed above the progress line, successes only counted.
    if (entry.status !== ok) drawer.printAbove(line);
    redraw(true);
  };

  redraw(true);
  const results = await mapLimit(entries, opts.concurrency, async (entry, index): Promise<BatchEntry> => {
    if (entry.kind === 'error' || session === null) {
      const result = entry.kind === 'error' ? entryErrorResult(entry) : buildUploadResult({ documentId: null, jobId: null, status: ERROR_STATUS, elapsedMs: 0 });
      filesDone += 1;
      const batchEntry = toBatchEntry(entry.path, result);
      finish(batchEntry);
      return batchEntry;
    }
    const outcome = await uploadFile(session, opts, entry, performance.now(), {
      progress: (n) => {
        sent.set(index, n);
        redraw();
      },
      uploaded: (put) => {
        sent.set(index, put.bytes);
        filesDone += 1;
        redraw(true);
      },
      // A batch shows one line for all files: a stall gets a line of its own, at each threshold.
      stalled: (jobId, idleMs, report, last) => {
        if (!report) return;
        const line = `${shown(entry.path)}: job ${jobId} ${formatStalled(idleMs)} (last seen: ${lastSeen(last)})`;
        if (tty) {
          drawer.printAbove(line);
          redraw(true);
        } else {
          ctx.stderr.write(`${line}\n`);
        }
      },
      resumed: (jobId, stalledMs) => {
        const line = `${shown(entry.path)}: job ${jobId} moving again after ${formatIdle(stalledMs)} without progress`;
        if (tty) {
          drawer.printAbove(line);
          redraw(true);
        } else {
          ctx.stderr.write(`${line}\n`);
        }
      },
    });
    if (!outcome.uploaded) filesDone += 1;
    const batchEntry = toBatchEntry(entry.path, outcome.result);
    finish(batchEntry);
    return batchEntry;
  });
  drawer.finish();

  ctx.stdout.write(opts.json ? `${JSON.stringify(results)}\n` : formatBatchTable(results));
  const summary = summarizeResults(results, opts.wait);
  ctx.stderr.write(`${formatSummary(summary)} in ${formatDuration(performance.now() - started)}\n`);
  if (!opts.json && summary.succeeded > 0) {
    ctx.stderr.write(opts.wait ? 'get a text with: scriptorium text DOCUMENT_ID, a summary with: scriptorium summary DOCUMENT_ID\n' : 'follow a job with: scriptorium job JOB_ID\n');
  }
  return summary.exitCode;
}

/** `scriptorium upload`. */
export const uploadCommand: Command = { name: 'upload', summary: 'upload files (or directories) and follow their processing jobs', usage: USAGE, run };

/** Base64 MD5 of a file, streamed (Cloud Storage's md5Hash form), and how many bytes were read. */
async function fileMd5(file: string): Promise<{ md5: string; bytes: number }> {
  const hash = createHash('md5');
  let bytes = 0;
  for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) {
    hash.update(chunk);
    bytes += chunk.length;
  }
  return { md5: hash.digest('base64'), bytes };
}
