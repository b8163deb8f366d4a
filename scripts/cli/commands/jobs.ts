/**
 * `scriptorium jobs`: a project's jobs, newest first, with filters (`GET /v1/jobs`), and
 * `scriptorium cancel JOB_ID` / `scriptorium retry JOB_ID [--follow]` (`POST /v1/jobs/:id/cancel|retry`;
 * `--follow` follows the new job as `job --follow` does).
 */
import { parseCommand, parsePositiveInt } from '../args.js';
import { EXIT, UsageError, CliFailure, type CliContext, type Command } from '../io.js';
import { DEFAULT_FOLLOW_TIMEOUT_MS, OPTIONAL_FOLLOW_ARG_OPTIONS, followAndPrint, optionalFollowSettings, stallTimeoutUsage } from '../job-follow.js';
import { ApiError, loadConfig, openFirebaseSession } from '../session.js';
import { CancelResponseSchema, JOB_CONTROL_ROUTES, JOB_KIND_VALUES, JOB_STATUS_VALUES, JobListResponseSchema, RetryResponseSchema, type JobSummary, type RetryResponse } from '../../../shared/api/job-control.js';
import { JobIdSchema, ProjectIdSchema } from '../../../shared/ids.js';

const JOBS_USAGE = `Usage: scriptorium jobs [--project ID] [--status S] [--kind K] [--since TIME] [--until TIME] [--limit N] [--all] [--json] [--config FILE]

Lists a project's jobs, newest first.

Options:
  --project ID    Scriptorium project (default: the local stack's demo project)
  --status S      only jobs in this status: ${JOB_STATUS_VALUES.join(', ')}
  --kind K        only jobs of this kind: ${JOB_KIND_VALUES.join(', ')}
  --since TIME    only jobs created at or after TIME (RFC 3339, e.g. 2025-01-31T12:00:00Z)
  --until TIME    only jobs created before TIME
  --limit N       at most N jobs (default 20; with --all, the page size)
  --all           every matching job (follows the pages)
  --json          print {"jobs": [...]} on stdout
  --config FILE   local stack config (default: $SCRIPTORIUM_LOCAL_CONFIG or .scriptorium/local.json)
  -h, --help      show this help

Exit status: 0 when listed, 1 when the api refused, 2 on usage errors.
`;

/** One line per job: id, status, kind, stage, progress, created, and the error code when it failed. */
export function formatJobLine(j: JobSummary): string {
  const err = j.error ? `  ${j.error.code}` : '';
  const retry = j.retryOf ? `  (retry of ${j.retryOf})` : '';
  const cancel = j.cancelRequested && j.status === 'RUNNING' ? '  (cancel requested)' : '';
  return `${j.id}  ${j.status.padEnd(9)}  ${j.kind.padEnd(17)}  ${j.stage.padEnd(14)}  ${String(Math.round(j.progress)).padStart(3)}%  ${j.createdAt}${err}${retry}${cancel}\n`;
}

const iso = (name: string, v: string | undefined): string | undefined => {
  if (v === undefined) return undefined;
  if (Number.isNaN(Date.parse(v)) || !/^\d{4}-\d\d-\d\dT/.test(v)) throw new UsageError(`--${name} must be an RFC 3339 time (2025-01-31T12:00:00Z), got '${v}'`);
  return new Date(v).toISOString();
};

async function runJobs(ctx: CliContext): Promise<number> {
  const { values, positionals } = parseCommand(ctx.argv, { project: { type: 'string' }, status: { type: 'string' }, kind: { type: 'string' }, since: { type: 'string' }, until: { type: 'string' }, limit: { type: 'string' }, all: { type: 'boolean' }, json: { type: 'boolean' } });
  if (values.help) {
    ctx.stdout.write(JOBS_USAGE);
    return EXIT.OK;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0] ?? ''}'`);
  if (values.status !== undefined && !(JOB_STATUS_VALUES as readonly string[]).includes(values.status)) throw new UsageError(`--status must be one of ${JOB_STATUS_VALUES.join(', ')}`);
  if (values.kind !== undefined && !(JOB_KIND_VALUES as readonly string[]).includes(values.kind)) throw new UsageError(`--kind must be one of ${JOB_KIND_VALUES.join(', ')}`);
  const limit = values.limit !== undefined ? parsePositiveInt('limit', values.limit) : 20;
  if (limit > 100) throw new UsageError('--limit must be at most 100');
  const since = iso('since', values.since);
  const until = iso('until', values.until);
  const config = loadConfig(values.config, ctx.env);
  const projectId = values.project ?? config.projectId;
  if (!ProjectIdSchema.safeParse(projectId).success) throw new UsageError(`invalid project id '${projectId}'`);
  const session = await (ctx.openSession ?? openFirebaseSession)(config);
  const jobs: JobSummary[] = [];
  try {
    let pageToken: string | undefined;
    do {
      const qs = new URLSearchParams({ projectId, limit: String(limit) });
      if (values.status) qs.set('status', values.status);
      if (values.kind) qs.set('kind', values.kind);
      if (since) qs.set('createdAfter', since);
      if (until) qs.set('createdBefore', until);
      if (pageToken) qs.set('pageToken', pageToken);
      const page = await session.api.request('GET', `${JOB_CONTROL_ROUTES.jobs}?${qs.toString()}`, JobListResponseSchema);
      jobs.push(...page.jobs);
      pageToken = values.all ? page.nextPageToken : undefined;
    } while (pageToken);
  } catch (err) {
    if (err instanceof ApiError) throw new CliFailure(err.explain('list the jobs'));
    throw err;
  } finally {
    await session.close();
  }
  if (values.json) ctx.stdout.write(`${JSON.stringify({ jobs })}\n`);
  else if (jobs.length === 0) ctx.stderr.write('no jobs\n');
  else for (const j of jobs) ctx.stdout.write(formatJobLine(j));
  return EXIT.OK;
}

/** `scriptorium jobs`. */
export const jobsCommand: Command = { name: 'jobs', summary: "list a project's jobs (filters: status, kind, time)", usage: JOBS_USAGE, run: runJobs };

const CANCEL_USAGE = `Usage: scriptorium cancel JOB_ID [--json] [--config FILE]

Cancels a job: at once when nothing is running it (it is PENDING, or between stages), else the
running attempt stops at its next step and the job ends CANCELLED. Editors and admins only.

Exit status: 0 when the job is cancelled or the cancel was requested, 1 when the api refused
(e.g. the job already ended), 2 on usage errors.
`;

const RETRY_USAGE = `Usage: scriptorium retry JOB_ID [--follow [--timeout SECONDS] [--stall-timeout SECONDS]] [--json] [--config FILE]

Retries a FAILED or CANCELLED job as a new job (its retryOf names the old one), which starts again
from the first stage. Asking twice retries once: the second call returns the same new job.
Editors and admins only.

Options:
  --follow              follow the new job live until it ends (progress on stderr, as \`upload\`
                        shows it), then show its final state as \`scriptorium job\` does
  --timeout SECONDS     with --follow: how long to wait for the new job to end (default ${DEFAULT_FOLLOW_TIMEOUT_MS / 1000})
${stallTimeoutUsage('the wait ends')}
  --json                print the api's answer {jobId, retryOf, created, status}; with --follow, the
                        new job's final document instead (as \`scriptorium job JOB_ID --follow --json\`)
  --config FILE         local stack config (default: $SCRIPTORIUM_LOCAL_CONFIG or .scriptorium/local.json)
  -h, --help            show this help

Exit status: 0 when the retry job exists (with --follow: when it COMPLETED), 1 when the api refused
(e.g. the job is not FAILED or CANCELLED) or, with --follow, when the new job FAILED, was CANCELLED,
made no progress for --stall-timeout (STALLED), did not end within --timeout or could not be
followed, 2 on usage errors.
`;

/** The one JOB_ID of `cancel` and `retry`, checked. */
function jobIdOperand(positionals: readonly string[]): string {
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'missing JOB_ID' : `expected one JOB_ID, got ${positionals.length} arguments`);
  const jobId = positionals[0] as string;
  if (!JobIdSchema.safeParse(jobId).success) throw new UsageError(`invalid job id '${jobId}' (job_ and 20 hex digits)`);
  return jobId;
}

async function runCancel(ctx: CliContext): Promise<number> {
  const { values, positionals } = parseCommand(ctx.argv, { json: { type: 'boolean' } });
  if (values.help) {
    ctx.stdout.write(CANCEL_USAGE);
    return EXIT.OK;
  }
  const jobId = jobIdOperand(positionals);
  const config = loadConfig(values.config, ctx.env);
  const session = await (ctx.openSession ?? openFirebaseSession)(config);
  try {
    const out = await session.api.request('POST', JOB_CONTROL_ROUTES.cancel(jobId), CancelResponseSchema);
    ctx.stdout.write(values.json ? `${JSON.stringify(out)}\n` : out.outcome === 'cancelled' ? `${jobId} CANCELLED\n` : `${jobId} cancel requested: the running attempt stops at its next step\n`);
  } catch (err) {
    if (err instanceof ApiError) throw new CliFailure(err.explain(`cancel job ${jobId}`));
    throw err;
  } finally {
    await session.close();
  }
  return EXIT.OK;
}

async function runRetry(ctx: CliContext): Promise<number> {
  const { values, positionals } = parseCommand(ctx.argv, { json: { type: 'boolean' }, ...OPTIONAL_FOLLOW_ARG_OPTIONS });
  if (values.help) {
    ctx.stdout.write(RETRY_USAGE);
    return EXIT.OK;
  }
  const jobId = jobIdOperand(positionals);
  const settings = optionalFollowSettings(values, ctx.env);
  const config = loadConfig(values.config, ctx.env);
  const session = await (ctx.openSession ?? openFirebaseSession)(config);
  try {
    let out: RetryResponse;
    try {
      out = await session.api.request('POST', JOB_CONTROL_ROUTES.retry(jobId), RetryResponseSchema);
    } catch (err) {
      if (err instanceof ApiError) throw new CliFailure(err.explain(`retry job ${jobId}`));
      throw err;
    }
    const line = `${out.jobId} ${out.created ? 'retries' : 'already retries'} ${jobId} (${out.status})`;
    if (!settings) {
      ctx.stdout.write(values.json ? `${JSON.stringify(out)}\n` : `${line}\n`);
      return EXIT.OK;
    }
    // Stdout is kept for the new job's final state; which job that is goes with the progress.
    ctx.stderr.write(`${line}; following it\n`);
    return await followAndPrint(ctx, session, out.jobId, settings, values.json ?? false);
  } finally {
    await session.close();
  }
}

/** `scriptorium cancel JOB_ID`. */
export const cancelCommand: Command = { name: 'cancel', summary: 'cancel a job', usage: CANCEL_USAGE, run: runCancel };
/** `scriptorium retry JOB_ID`. */
export const retryCommand: Command = { name: 'retry', summary: 'retry a failed or cancelled job (--follow: follow the new job to its end)', usage: RETRY_USAGE, run: runRetry };
