/**
 * What the commands that follow a job share (`upload`, `job --follow`, `retry --follow`, `speak`,
 * `translate-video`, `reembed`): the `--timeout` and `--stall-timeout` options with their environment
 * defaults, the live display of one job on stderr (a redrawn line on a terminal, a line per status or
 * stage change otherwise, the "stalled: no progress" warnings), and how following ended as a status,
 * an error and a message.
 */
import { parseSeconds, parseSecondsOrZero } from './args.js';
import { DEFAULT_STALL_TIMEOUT_MS, DEFAULT_STALL_WARN_MS, followJob, type FollowOutcome } from './follow.js';
import { EXIT, UsageError, type CliContext, type OutStream } from './io.js';
import { formatJob, formatJobError, type JobView } from './job-view.js';
import { LineDrawer, formatDuration, formatIdle, formatStalled, renderJobProgress } from './progress.js';
import { errorCode, type Session } from './session.js';

/** Status of a job that made no progress for the stall timeout (the CLI stopped waiting; the job may still finish). */
export const STALLED_STATUS = 'STALLED';

/** Status when the CLI gave up (a timeout, a failed listener; for upload also a refused or unreadable file); `error.code` says why. */
export const ERROR_STATUS = 'ERROR';

/** Environment variable: default of `--stall-timeout`, in seconds (0 disables). */
export const STALL_TIMEOUT_ENV = 'SCRIPTORIUM_STALL_TIMEOUT';
/** Environment variable: seconds without progress before a job is reported stalled (default 60). */
export const STALL_WARN_ENV = 'SCRIPTORIUM_STALL_WARN';

/** Default of `--timeout` for following a job. */
export const DEFAULT_FOLLOW_TIMEOUT_MS = 600_000;
/** Default of `--timeout` for the commands whose jobs are long by nature (`speak`, `translate-video`, `reembed`). */
export const LONG_FOLLOW_TIMEOUT_MS = 1_800_000;

/** The parseArgs declarations of `--timeout` and `--stall-timeout`, spread into a command's own. */
export const FOLLOW_ARG_OPTIONS = {
  timeout: { type: 'string' },
  'stall-timeout': { type: 'string' },
} as const;

/** {@link FOLLOW_ARG_OPTIONS} and `--follow`, for commands that follow a job only when asked. */
export const OPTIONAL_FOLLOW_ARG_OPTIONS = {
  follow: { type: 'boolean' },
  ...FOLLOW_ARG_OPTIONS,
} as const;

/** How long to follow a job, and when to call it stalled. */
export interface FollowSettings {
  /** `--timeout`: the whole wait. */
  readonly timeoutMs: number;
  /** No progress for this long ends the wait with STALLED; 0: never. */
  readonly stallTimeoutMs: number;
  /** No progress for this long is reported (and again every such interval). */
  readonly stallWarnMs: number;
}

/**
 * The settings from the parsed `--timeout` / `--stall-timeout` values: the flag wins over
 * `$SCRIPTORIUM_STALL_TIMEOUT`, an empty variable counts as unset; the warning threshold comes from
 * `$SCRIPTORIUM_STALL_WARN` only; `defaultTimeoutMs` is the command's own default of `--timeout`.
 * Throws a UsageError for what is not a number of seconds.
 */
export function parseFollowSettings(
  values: { readonly timeout?: string; readonly 'stall-timeout'?: string },
  env: Readonly<Record<string, string | undefined>>,
  defaultTimeoutMs = DEFAULT_FOLLOW_TIMEOUT_MS,
): FollowSettings {
  const timeoutMs = values.timeout === undefined ? defaultTimeoutMs : parseSeconds('timeout', values.timeout);
  const stallFlag = values['stall-timeout'];
  const stallEnv = env[STALL_TIMEOUT_ENV];
  const stallTimeoutMs =
    stallFlag !== undefined
      ? parseSecondsOrZero('--stall-timeout', stallFlag)
      : stallEnv !== undefined && stallEnv.trim() !== ''
        ? parseSecondsOrZero(STALL_TIMEOUT_ENV, stallEnv)
        : DEFAULT_STALL_TIMEOUT_MS;
  const warnEnv = env[STALL_WARN_ENV];
  const stallWarnMs = warnEnv !== undefined && warnEnv.trim() !== '' ? parseSecondsOrZero(STALL_WARN_ENV, warnEnv) : DEFAULT_STALL_WARN_MS;
  return { timeoutMs, stallTimeoutMs, stallWarnMs };
}

/**
 * The settings of a command where following is asked for with `--follow` (`job`, `retry`); null
 * without it. `--timeout` or `--stall-timeout` without `--follow` is a UsageError: silently ignored,
 * it would leave a script that forgot `--follow` believing it waited.
 */
export function optionalFollowSettings(
  values: { readonly follow?: boolean; readonly timeout?: string; readonly 'stall-timeout'?: string },
  env: Readonly<Record<string, string | undefined>>,
): FollowSettings | null {
  if (!values.follow) {
    for (const name of ['timeout', 'stall-timeout'] as const) if (values[name] !== undefined) throw new UsageError(`--${name} needs --follow`);
    return null;
  }
  return parseFollowSettings(values, env);
}

/**
 * The `--stall-timeout` lines of a command's usage, the same wherever a job is followed but for
 * `ends`, what becomes of the wait (`the file ends`, `the wait ends`): it is followed by STALLED.
 * A line break in `ends` continues at the indentation of the option's text.
 */
export function stallTimeoutUsage(ends: string): string {
  const indent = ' '.repeat(24);
  return `  --stall-timeout SECONDS
${indent}give up on a job that makes no progress for this long (no change of
${indent}status, stage, percentage, update time or stage heartbeat): ${ends.split('\n').join(`\n${indent}`)}
${indent}STALLED (default $${STALL_TIMEOUT_ENV}, else ${DEFAULT_STALL_TIMEOUT_MS / 1000}; 0: never;
                        --timeout still bounds the whole wait). After ${DEFAULT_STALL_WARN_MS / 1000} s without progress
                        ($${STALL_WARN_ENV} seconds) "stalled: no progress for N s" is shown, and
                        again at every multiple of it. The job itself is never changed`;
}

/** What following one job reports while it waits. */
export interface FollowHooks {
  /** Every state of the job the listener sees. */
  readonly job?: (job: JobView) => void;
  /** About every second while the job makes no progress (after the warning threshold); `report`: print a line now. */
  readonly stalled?: (jobId: string, idleMs: number, report: boolean, last: JobView | null) => void;
  /** Progress came after a reported stall that lasted `stalledMs`. */
  readonly resumed?: (jobId: string, stalledMs: number) => void;
}

/** Follows `jobId` with stall detection as `settings` say (see {@link followJob}). */
export function followWithStall(session: Pick<Session, 'watchJob'>, jobId: string, settings: FollowSettings, hooks: FollowHooks): Promise<FollowOutcome> {
  return followJob(session, jobId, settings.timeoutMs, (job) => hooks.job?.(job), {
    warnAfterMs: settings.stallWarnMs,
    timeoutMs: settings.stallTimeoutMs,
    onStalled: (idleMs, report, last) => hooks.stalled?.(jobId, idleMs, report, last),
    onResumed: (stalledMs) => hooks.resumed?.(jobId, stalledMs),
  });
}

/** The live display of one followed job on stderr; {@link finish} ends its line. */
export interface JobProgressDisplay extends Required<FollowHooks> {
  finish(): void;
}

/** Without a terminal: the line to print for a state of the job, or null to print none. */
export type JobLines = (job: JobView) => string | null;

/**
 * {@link JobLines} printing `line(job)` whenever `key(job)` differs from the last state's (by
 * default the line itself), so a listener re-delivering a state prints nothing.
 */
export function changedLines(line: (job: JobView) => string, key: (job: JobView) => string = line): JobLines {
  let lastKey: string | null = null;
  return (job) => {
    const k = key(job);
    if (k === lastKey) return null;
    lastKey = k;
    return line(job);
  };
}

/** `job j1: RUNNING (ocr)`: what a line of the default display says, without its percentage. */
function statusText(job: JobView): string {
  return `job ${job.id}: ${job.status}${job.stage ? ` (${job.stage})` : ''}`;
}

/** `job j1: stalled: no progress for 75 s (last seen: RUNNING, ocr, 10%)`: the stall warning as a line. */
export function stalledLine(jobId: string, idleMs: number, last: JobView | null): string {
  return `job ${jobId}: ${formatStalled(idleMs)} (last seen: ${lastSeen(last)})`;
}

/** `job j1: moving again after 75 s without progress`. */
export function resumedLine(jobId: string, stalledMs: number): string {
  return `job ${jobId}: moving again after ${formatIdle(stalledMs)} without progress`;
}

/**
 * On a terminal (`tty`) one line redrawn in place (status, stage, bar, and the stall note); without
 * one the lines of `lines` (default: a line per status or stage change, not per progress step), a
 * line at each stall threshold and one when the job moves again. A command keeping its own progress
 * lines passes them as `lines`; the stall lines are the same for every command.
 */
export function jobProgressDisplay(stderr: OutStream, tty: boolean, lines: JobLines = changedLines((job) => `${statusText(job)}${job.progress !== null ? ` ${Math.round(job.progress)}%` : ''}`, statusText)): JobProgressDisplay {
  const line = new LineDrawer(stderr, 50);
  return {
    job: (job) => {
      if (tty) {
        line.draw(renderJobProgress({ jobId: job.id, status: job.status, stage: job.stage, progress: job.progress, columns: line.columns }), true);
      } else {
        const text = lines(job);
        if (text !== null) stderr.write(`${text}\n`);
      }
    },
    stalled: (jobId, idleMs, report, last) => {
      if (tty) {
        const seen = { status: last?.status ?? 'WAITING', stage: last?.stage ?? null, progress: last?.progress ?? null };
        line.draw(renderJobProgress({ jobId, ...seen, columns: line.columns, note: formatStalled(idleMs) }), true);
      } else if (report) {
        stderr.write(`${stalledLine(jobId, idleMs, last)}\n`);
      }
    },
    resumed: (jobId, stalledMs) => {
      if (!tty) stderr.write(`${resumedLine(jobId, stalledMs)}\n`);
    },
    finish: () => line.finish(),
  };
}

/** `RUNNING, ocr, 10 %` (or `nothing yet`): where a job was last seen, for messages. */
export function lastSeen(job: JobView | null): string {
  if (!job) return 'no state seen yet';
  return [job.status, job.stage, job.progress === null ? null : `${Math.round(job.progress)}%`].filter((p): p is string => p !== null && p !== '').join(', ');
}

/** The message of a job given up on for lack of progress. */
export function stalledMessage(jobId: string, idleMs: number, last: JobView | null): string {
  const updated = last?.updatedAt ? `, last updated ${last.updatedAt}` : '';
  return `job ${jobId} ${formatStalled(idleMs)} (last seen: ${lastSeen(last)}${updated}); stopped waiting (--stall-timeout). The job was not changed and may still finish: scriptorium job ${jobId}`;
}

/** An error as the commands report it in JSON. */
export interface FollowError {
  readonly code: string;
  readonly message: string;
  readonly retryable?: boolean | null;
}

/** How following a job ended, as a status: the job's own when it ended, else STALLED or ERROR. */
export interface FollowVerdict {
  /** The job's terminal status, {@link STALLED_STATUS}, or {@link ERROR_STATUS} (`error.code`: TIMEOUT or LISTEN_FAILED). */
  readonly status: string;
  /** Null only when the job COMPLETED. */
  readonly error: FollowError | null;
  /** For stderr: why it did not end COMPLETED (null when it did). */
  readonly message: string | null;
  /** The job as it ended, or as last seen when the CLI stopped waiting first (null: never seen). */
  readonly job: JobView | null;
}

/** Turns the outcome of following `jobId` for `timeoutMs` into a {@link FollowVerdict}. */
export function followVerdict(jobId: string, outcome: FollowOutcome, timeoutMs: number, userEmail: string): FollowVerdict {
  if (outcome.kind === 'stalled') {
    const message = stalledMessage(jobId, outcome.idleMs, outcome.last);
    return { status: STALLED_STATUS, error: { code: STALLED_STATUS, message, retryable: true }, message, job: outcome.last };
  }
  if (outcome.kind === 'timeout') {
    const seen = outcome.last ? ` (last seen: ${outcome.last.status}${outcome.last.stage ? `, ${outcome.last.stage}` : ''})` : '';
    const message = `gave up waiting for job ${jobId} after ${formatDuration(timeoutMs)}${seen}; follow it with: scriptorium job ${jobId}`;
    return { status: ERROR_STATUS, error: { code: 'TIMEOUT', message }, message, job: outcome.last };
  }
  if (outcome.kind === 'error') {
    const code = errorCode(outcome.error);
    const message =
      code === 'permission-denied'
        ? `cannot read job ${jobId} as ${userEmail} (permission-denied: not a member of its project?)`
        : `listening to job ${jobId} failed: ${code ?? outcome.error.message}`;
    return { status: ERROR_STATUS, error: { code: 'LISTEN_FAILED', message }, message, job: outcome.last };
  }
  const job = outcome.job;
  if (job.status === 'COMPLETED') return { status: job.status, error: null, message: null, job };
  const error = job.error ?? { code: job.status, message: `job ended ${job.status} without an error`, retryable: null };
  return { status: job.status, error, message: `job ${jobId} ${job.status}: ${formatJobError(error)}`, job };
}

/**
 * `job --follow` and `retry --follow`: follows `jobId` with the display on stderr, then prints the
 * job as `scriptorium job` does (the job document with `json`). When the CLI stopped waiting before
 * the job ended, the JSON is `{jobId, status, error, job}` instead (status STALLED or ERROR, `job`
 * the last state seen), as upload reports such a file. Exit 0 only when the job COMPLETED.
 */
export async function followAndPrint(ctx: CliContext, session: Pick<Session, 'watchJob' | 'userEmail'>, jobId: string, settings: FollowSettings, json: boolean): Promise<number> {
  const display = jobProgressDisplay(ctx.stderr, Boolean(ctx.stderr.isTTY) && !json);
  const outcome = await followWithStall(session, jobId, settings, display);
  display.finish();
  const verdict = followVerdict(jobId, outcome, settings.timeoutMs, session.userEmail);
  if (json) {
    const doc = verdict.job?.raw ?? null;
    ctx.stdout.write(`${JSON.stringify(outcome.kind === 'terminal' ? doc : { jobId, status: verdict.status, error: verdict.error, job: doc })}\n`);
  } else if (verdict.job) {
    ctx.stdout.write(formatJob(verdict.job));
  }
  if (verdict.message !== null) ctx.stderr.write(`error: ${verdict.message}\n`);
  return verdict.status === 'COMPLETED' ? EXIT.OK : EXIT.FAILURE;
}
