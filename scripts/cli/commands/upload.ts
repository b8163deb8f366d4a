/**
 * `scriptorium upload FILE`: asks the api for a signed URL, streams the file to it, then follows the
 * job through a Firestore listener until it completes or fails.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { ContentTypeSchema, ProjectIdSchema, FileNameSchema, type CreateUploadResponse } from '../../../shared/api/contracts.js';
import { parseCommand, parseSeconds } from '../args.js';
import { guessContentType } from '../content-type.js';
import { followJob } from '../follow.js';
import { EXIT, UsageError, CliFailure, type CliContext, type Command } from '../io.js';
import { formatJobError, formatKeyValues, type JobView } from '../job-view.js';
import { LineDrawer, formatDuration, renderJobProgress, renderUploadDone, renderUploadProgress } from '../progress.js';
import { ApiError, errorCode, loadConfig, openFirebaseSession, type Session } from '../session.js';
import { putFile } from '../transfer.js';

/** Status reported with `--no-wait` (the bytes are stored; the job has not been followed). */
export const UPLOADED_STATUS = 'UPLOADED';

/** The one JSON object `upload --json` prints. */
export interface UploadResult {
  readonly documentId: string | null;
  readonly jobId: string | null;
  /** The job's final status, `UPLOADED` with --no-wait, `TIMEOUT` or `ERROR` when the CLI gave up. */
  readonly status: string;
  readonly error?: { readonly code: string; readonly message: string; readonly retryable?: boolean | null; readonly httpStatus?: number };
  readonly pages?: number;
  readonly language?: string;
  readonly elapsedMs: number;
}

/** Builds {@link UploadResult}, leaving out what is unknown (so consumers can test for presence). */
export function buildUploadResult(input: {
  documentId: string | null;
  jobId: string | null;
  status: string;
  error?: UploadResult['error'] | null;
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

const USAGE = `Usage: scriptorium upload FILE [--project ID] [--type CONTENT_TYPE] [--no-wait] [--timeout SECONDS] [--json] [--config FILE]

Uploads FILE through a signed URL and follows its processing job until it completes or fails.

Options:
  --project ID          Scriptorium project (default: the local stack's demo project)
  --type CONTENT_TYPE   content type (default: guessed from the extension: pdf, png, jpg/jpeg,
                        tif/tiff, gif, bmp, webp, wav, mp3, flac, ogg, txt; else application/octet-stream)
  --no-wait             exit after the upload, printing the document and job ids
  --timeout SECONDS     how long to wait for the job (default 600)
  --json                print one JSON object on stdout at the end:
                        {documentId, jobId, status, error?, pages?, language?, elapsedMs}
                        (status is the job's, or UPLOADED with --no-wait, TIMEOUT, ERROR)
  --config FILE         local stack config (default: $SCRIPTORIUM_LOCAL_CONFIG or .scriptorium/local.json)
  -h, --help            show this help

Exit status: 0 when the job COMPLETED (or, with --no-wait, the upload succeeded); 1 when it FAILED,
was CANCELLED, timed out, or the api/storage refused; 2 on usage errors.
`;

/** Validated command line of `upload`. */
export interface UploadOptions {
  readonly file: string;
  readonly size: number;
  readonly projectId: string | undefined;
  readonly contentType: string;
  readonly wait: boolean;
  readonly timeoutMs: number;
  readonly json: boolean;
  readonly config: string | undefined;
}

/** Parses and checks `upload`'s arguments (including that FILE is a non-empty file); null for --help. */
export async function parseUploadArgs(argv: readonly string[]): Promise<UploadOptions | null> {
  const { values, positionals } = parseCommand(argv, {
    project: { type: 'string' },
    type: { type: 'string' },
    'no-wait': { type: 'boolean' },
    timeout: { type: 'string' },
    json: { type: 'boolean' },
  });
  if (values.help) return null;
  if (positionals.length === 0) throw new UsageError('missing FILE');
  if (positionals.length > 1) throw new UsageError(`expected one FILE, got ${positionals.length} arguments`);
  const file = positionals[0] as string;
  const timeoutMs = values.timeout === undefined ? 600_000 : parseSeconds('timeout', values.timeout);
  if (values.project !== undefined && !ProjectIdSchema.safeParse(values.project).success) {
    throw new UsageError(`invalid --project '${values.project}': 2–63 characters of a-z, 0-9 and -`);
  }
  let contentType = guessContentType(file);
  if (values.type !== undefined) {
    const parsed = ContentTypeSchema.safeParse(values.type);
    if (!parsed.success) throw new UsageError(`invalid --type '${values.type}': expected type/subtype`);
    contentType = parsed.data;
  }
  if (!FileNameSchema.safeParse(path.basename(file)).success) throw new UsageError(`unusable file name '${path.basename(file)}'`);
  let size: number;
  try {
    const st = await stat(file);
    if (!st.isFile()) throw new UsageError(`${file} is not a regular file`);
    size = st.size;
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`cannot read ${file}: ${errorCode(err) === 'ENOENT' ? 'no such file' : err instanceof Error ? err.message : String(err)}`);
  }
  if (size === 0) throw new UsageError(`${file} is empty: there is nothing to upload`);
  return { file, size, projectId: values.project, contentType, wait: !values['no-wait'], timeoutMs, json: values.json ?? false, config: values.config };
}

async function run(ctx: CliContext): Promise<number> {
  const started = performance.now();
  const opts = await parseUploadArgs(ctx.argv);
  if (opts === null) {
    ctx.stdout.write(USAGE);
    return EXIT.OK;
  }
  let session: Session;
  try {
    session = await (ctx.openSession ?? openFirebaseSession)(loadConfig(opts.config, ctx.env));
  } catch (err) {
    // With --json the one JSON object is promised even when nothing could start.
    if (opts.json && err instanceof CliFailure) {
      ctx.stderr.write(`error: ${err.message}\n`);
      const error = { code: err.code, message: err.message };
      ctx.stdout.write(`${JSON.stringify(buildUploadResult({ documentId: null, jobId: null, status: 'ERROR', error, elapsedMs: performance.now() - started }))}\n`);
      return EXIT.FAILURE;
    }
    throw err;
  }
  try {
    return await upload(ctx, opts, session, started);
  } finally {
    await session.close();
  }
}

async function upload(ctx: CliContext, opts: UploadOptions, session: Session, started: number): Promise<number> {
  const label = path.basename(opts.file);
  const tty = Boolean(ctx.stderr.isTTY) && !opts.json;
  const elapsed = () => performance.now() - started;
  let ids: { documentId: string | null; jobId: string | null } = { documentId: null, jobId: null };

  /** Reports a failure before the job could be followed: stderr, plus the JSON object with --json. */
  const fail = (code: string, message: string, httpStatus?: number): number => {
    ctx.stderr.write(`error: ${message}\n`);
    if (opts.json) {
      const error = { code, message, ...(httpStatus ? { httpStatus } : {}) };
      ctx.stdout.write(`${JSON.stringify(buildUploadResult({ ...ids, status: 'ERROR', error, elapsedMs: elapsed() }))}\n`);
    }
    return EXIT.FAILURE;
  };

  const projectId = opts.projectId ?? session.config.projectId;
  let created: CreateUploadResponse;
  try {
    // The MD5 is signed into the upload URL: the store accepts these bytes and no others, and ingest
    // checks the stored object against it again.
    const md5Hash = await fileMd5(opts.file);
    created = await session.api.createUpload({
      projectId,
      fileName: label,
      contentType: opts.contentType,
      size: opts.size,
      md5Hash,
      // Fresh per invocation: the client's retries of this request are idempotent, a new run is a new upload.
      clientRequestId: `cli-${randomUUID()}`,
    });
  } catch (err) {
    if (err instanceof ApiError) return fail(err.code, err.explain('create the upload'), err.status || undefined);
    throw err;
  }
  ids = { documentId: created.documentId, jobId: created.jobId };
  if (!opts.json) ctx.stderr.write(`document ${created.documentId}, job ${created.jobId}\n`);

  const bar = new LineDrawer(ctx.stderr);
  const putStarted = performance.now();
  try {
    const put = await putFile({
      url: created.uploadUrl,
      headers: created.headers,
      file: opts.file,
      size: opts.size,
      onProgress: tty ? (sent) => bar.draw(renderUploadProgress({ label, sent, total: opts.size, elapsedMs: performance.now() - putStarted, columns: bar.columns })) : undefined,
    });
    if (tty) {
      bar.draw(renderUploadProgress({ label, sent: put.bytes, total: opts.size, elapsedMs: put.elapsedMs, columns: bar.columns }), true);
      bar.finish();
    } else {
      ctx.stderr.write(`${renderUploadDone(label, put.bytes, put.elapsedMs)}\n`);
    }
  } catch (err) {
    bar.finish();
    if (err instanceof CliFailure) return fail('UPLOAD_FAILED', err.message);
    throw err;
  }

  if (!opts.wait) {
    if (opts.json) {
      ctx.stdout.write(`${JSON.stringify(buildUploadResult({ ...ids, status: UPLOADED_STATUS, elapsedMs: elapsed() }))}\n`);
    } else {
      ctx.stdout.write(formatKeyValues([['document', created.documentId], ['job', created.jobId], ['status', UPLOADED_STATUS]]));
      ctx.stderr.write(`follow it with: scriptorium job ${created.jobId}\n`);
    }
    return EXIT.OK;
  }

  const jobLine = new LineDrawer(ctx.stderr, 50);
  let lastLine = '';
  const outcome = await followJob(session, created.jobId, opts.timeoutMs, (job: JobView) => {
    if (tty) {
      jobLine.draw(renderJobProgress({ jobId: job.id, status: job.status, stage: job.stage, progress: job.progress, columns: jobLine.columns }), true);
    } else {
      // Without a terminal: one line per status or stage change, not per progress step.
      const line = `job ${job.id}: ${job.status}${job.stage ? ` (${job.stage})` : ''}`;
      if (line !== lastLine) ctx.stderr.write(`${line}${job.progress !== null ? ` ${Math.round(job.progress)}%` : ''}\n`);
      lastLine = line;
    }
  });
  jobLine.finish();

  if (outcome.kind === 'timeout') {
    const seen = outcome.last ? ` (last seen: ${outcome.last.status}${outcome.last.stage ? `, ${outcome.last.stage}` : ''})` : '';
    return fail('TIMEOUT', `gave up waiting for job ${created.jobId} after ${formatDuration(opts.timeoutMs)}${seen}; follow it with: scriptorium job ${created.jobId}`);
  }
  if (outcome.kind === 'error') {
    const code = errorCode(outcome.error);
    return fail(
      'LISTEN_FAILED',
      code === 'permission-denied'
        ? `cannot read job ${created.jobId} as ${session.userEmail} (permission-denied: not a member of its project?)`
        : `listening to job ${created.jobId} failed: ${code ?? outcome.error.message}`,
    );
  }

  const job = outcome.job;
  let pages: number | null = null;
  let language: string | null = null;
  if (job.status === 'COMPLETED') {
    // The document record is where page count and language live; the job's result is a fallback.
    const doc = await session.getDocument(created.documentId).catch(() => null);
    pages = doc?.pageCount ?? (typeof job.result?.pageCount === 'number' ? job.result.pageCount : null);
    language = doc?.language ?? (typeof job.result?.language === 'string' ? job.result.language : null);
  }
  const error = job.status === 'COMPLETED' ? null : (job.error ?? { code: job.status, message: `job ended ${job.status} without an error`, retryable: null });
  const result = buildUploadResult({ ...ids, status: job.status, error, pages, language, elapsedMs: elapsed() });

  if (opts.json) {
    ctx.stdout.write(`${JSON.stringify(result)}\n`);
  } else {
    ctx.stdout.write(
      formatKeyValues([
        ['document', created.documentId],
        ['job', created.jobId],
        ['status', job.status],
        ['pages', pages === null ? null : String(pages)],
        ['language', language],
        ['error', error ? formatJobError(error) : null],
        ['elapsed', formatDuration(result.elapsedMs)],
      ]),
    );
  }
  if (error) {
    ctx.stderr.write(`error: job ${created.jobId} ${job.status}: ${formatJobError(error)}\n`);
    return EXIT.FAILURE;
  }
  if (!opts.json) ctx.stderr.write(`get the text with: scriptorium text ${created.documentId}\n`);
  return EXIT.OK;
}

/** `scriptorium upload`. */
export const uploadCommand: Command = { name: 'upload', summary: 'upload a file and follow its processing job', usage: USAGE, run };

/** Base64 MD5 of a file, streamed (Cloud Storage's md5Hash form). */
async function fileMd5(file: string): Promise<string> {
  const hash = createHash('md5');
  for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) hash.update(chunk);
  return hash.digest('base64');
}
