/**
 * `scriptorium reembed`: after a change of embedding model, re-embeds a project's documents whose
 * chunks another model made (`POST /v1/reembed`, a page at a time), then follows the jobs to the end
 * with one overall progress line, and with the stall detection of every command that follows a job
 * (a {@link StallWatch} per job; the wait ends STALLED once no unfinished job moves any more).
 */
import { parseCommand } from '../args.js';
import { StallWatch, stallTickMs } from '../follow.js';
import { EXIT, UsageError, CliFailure, type CliContext, type Command } from '../io.js';
import { FOLLOW_ARG_OPTIONS, LONG_FOLLOW_TIMEOUT_MS, STALLED_STATUS, parseFollowSettings, resumedLine, stallTimeoutUsage, stalledLine, stalledMessage, type FollowHooks, type FollowSettings } from '../job-follow.js';
import type { JobView } from '../job-view.js';
import { LineDrawer, formatIdle } from '../progress.js';
import { ApiError, loadConfig, openFirebaseSession, type Session } from '../session.js';
import { DocumentIdSchema, ProjectIdSchema } from '../../../shared/ids.js';
import type { ReembedResponse } from '../../../shared/api/contracts.js';

const USAGE = `Usage: scriptorium reembed [DOCUMENT_ID...] [--project ID] [--force] [--no-wait] [--timeout SECONDS] [--stall-timeout SECONDS] [--json] [--config FILE]

Re-embeds documents with the embedding model the platform is configured with now (after a change of
SCRIPTORIUM_EMBEDDING_ENGINE/MODEL): one job per document, which re-chunks and re-embeds its current
version in the embed function, with progress. Documents already embedded by that model are skipped
unless --force. Search keeps answering meanwhile: its vector side only compares vectors of the
configured model, so a document not yet re-embedded is found by its keywords only.

Options:
  DOCUMENT_ID...        only these documents (default: every READY document of the project)
  --project ID          Scriptorium project (default: the local stack's demo project)
  --force               re-embed documents already embedded by the configured model too
  --no-wait             start the jobs and print them, without following them
  --timeout SECONDS     how long to follow the jobs (default ${LONG_FOLLOW_TIMEOUT_MS / 1000}; jobs not ended by then keep
                        the status last seen)
${stallTimeoutUsage('as soon as\nthis holds for every job still unfinished (one stalled job alone does not end\nthe wait while others move), those jobs end')}
  --json                print one JSON object on stdout: {model, jobs: [{documentId, jobId, status, error}], skipped: [{documentId, reason}]}
                        (status STALLED with error.code STALLED for a job given up on for lack of progress)
  --config FILE         local stack config (default: $SCRIPTORIUM_LOCAL_CONFIG or .scriptorium/local.json)
  -h, --help            show this help

Each job that makes no progress is named on stderr ("job JOB_ID: stalled: no progress for N s"); the
jobs that are still moving are waited for, jobs that ended are reported with their status.

Exit status: 0 when every job COMPLETED (or none was needed), 1 when any failed or was not followed
to its end (STALLED, --timeout), 2 on usage errors.
`;

export interface ReembedJobResult {
  readonly documentId: string;
  readonly jobId: string;
  readonly status: string;
  readonly error: { readonly code: string; readonly message: string } | null;
}

const TERMINAL = new Set(['COMPLETED', 'FAILED', 'CANCELLED']);

/** How following the jobs ended: all ended, `--timeout`, or no unfinished job moved for `--stall-timeout`. */
export interface FollowJobsResult {
  readonly kind: 'done' | 'timeout' | 'stalled';
  /** Per job, in the order given: its status (STALLED for a job given up on) and error. */
  readonly jobs: ReembedJobResult[];
  /** With `stalled`: the shortest time without progress among the jobs given up on. */
  readonly idleMs: number;
}

/** Options of {@link followJobs}. */
export interface FollowJobsOptions {
  readonly settings: FollowSettings;
  /** Time between reads; default the stall watch's tick (1 s at the default thresholds). */
  readonly pollMs?: number;
  /** Default `Date.now`. */
  readonly clock?: () => number;
  /** After every round of reads: (jobs ended, jobs, mean progress %). */
  readonly onProgress?: (done: number, total: number, percent: number) => void;
  /** The stall of each unfinished job, as one followed job reports it (`stalled` about every read while it lasts). */
  readonly hooks?: Pick<FollowHooks, 'stalled' | 'resumed'>;
}

/**
 * Follows the jobs by reading them every `pollMs` until all are terminal, `timeoutMs` passed, or
 * every job still unfinished has made no progress for the stall timeout (a {@link StallWatch} per
 * job: a stalled job alone does not end the wait while others move). When the stall and the
 * overall timeout are both due the outcome is `stalled`, as for one followed job.
 */
export async function followJobs(session: Pick<Session, 'getJob'>, jobs: readonly { documentId: string; jobId: string }[], opts: FollowJobsOptions): Promise<FollowJobsResult> {
  const { timeoutMs, stallWarnMs, stallTimeoutMs } = opts.settings;
  const clock = opts.clock ?? Date.now;
  const state = jobs.map((j) => ({
    documentId: j.documentId,
    jobId: j.jobId,
    status: 'RUNNING',
    error: null as ReembedJobResult['error'],
    progress: 0,
    last: null as JobView | null,
    watch: new StallWatch(stallWarnMs, stallTimeoutMs, clock),
    /** Past the stall timeout while other jobs still moved (said once: its warnings stop there). */
    pastTimeout: false,
  }));
  const results = (): ReembedJobResult[] => state.map((j) => ({ documentId: j.documentId, jobId: j.jobId, status: j.status, error: j.error }));
  const end = clock() + timeoutMs;
  const pollMs = opts.pollMs ?? stallTickMs(stallWarnMs, stallTimeoutMs);
  for (;;) {
    await Promise.all(
      state
        .filter((j) => !TERMINAL.has(j.status))
        .map(async (j) => {
          const view = await session.getJob(j.jobId);
          if (!view) return;
          const seen = j.watch.observe(view);
          if (seen.resumedAfterMs !== null) opts.hooks?.resumed?.(j.jobId, seen.resumedAfterMs);
          if (seen.progressed) j.pastTimeout = false;
          j.last = view;
          j.status = view.status;
          j.error = view.error ? { code: view.error.code, message: view.error.message } : null;
          j.progress = view.progress ?? j.progress;
        }),
    );
    const open = state.filter((j) => !TERMINAL.has(j.status));
    opts.onProgress?.(state.length - open.length, state.length, state.length === 0 ? 100 : Math.round(state.reduce((n, j) => n + (TERMINAL.has(j.status) ? 100 : j.progress), 0) / state.length));
    if (open.length === 0) return { kind: 'done', jobs: results(), idleMs: 0 };
    // One check per job and round: a check counts the warnings it has reported.
    const verdicts = open.map((j) => ({ j, verdict: j.watch.check() }));
    const giveUp = verdicts.every(({ verdict }) => verdict.kind === 'timeout');
    for (const { j, verdict } of verdicts) {
      if (verdict.kind === 'stalled') opts.hooks?.stalled?.(j.jobId, verdict.idleMs, verdict.report, j.last);
      // A job given up on alone would end the wait of a single job; here the others are waited
      // for, so it gets a last line saying how long it has not moved.
      if (verdict.kind === 'timeout' && !giveUp && !j.pastTimeout) opts.hooks?.stalled?.(j.jobId, verdict.idleMs, true, j.last);
      if (verdict.kind === 'timeout') j.pastTimeout = true;
    }
    if (giveUp) {
      for (const { j, verdict } of verdicts) {
        j.status = STALLED_STATUS;
        j.error = { code: STALLED_STATUS, message: stalledMessage(j.jobId, verdict.idleMs, j.last) };
      }
      return { kind: 'stalled', jobs: results(), idleMs: Math.min(...verdicts.map(({ verdict }) => verdict.idleMs)) };
    }
    if (clock() > end) return { kind: 'timeout', jobs: results(), idleMs: 0 };
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

async function run(ctx: CliContext): Promise<number> {
  const { values, positionals } = parseCommand(ctx.argv, {
    project: { type: 'string' },
    force: { type: 'boolean' },
    'no-wait': { type: 'boolean' },
    ...FOLLOW_ARG_OPTIONS,
    json: { type: 'boolean' },
  });
  if (values.help) {
    ctx.stdout.write(USAGE);
    return EXIT.OK;
  }
  for (const id of positionals) if (!DocumentIdSchema.safeParse(id).success) throw new UsageError(`invalid DOCUMENT_ID '${id}': expected doc_ and 20 hex digits`);
  if (positionals.length > 100) throw new UsageError('at most 100 DOCUMENT_IDs at once (without any, every document of the project is taken)');
  if (values.project !== undefined && !ProjectIdSchema.safeParse(values.project).success) throw new UsageError(`invalid --project '${values.project}'`);
  const settings = parseFollowSettings(values, ctx.env, LONG_FOLLOW_TIMEOUT_MS);
  const session = await (ctx.openSession ?? openFirebaseSession)(loadConfig(values.config, ctx.env));
  try {
    const projectId = values.project ?? session.config.projectId;
    let model = '';
    const jobs: ReembedResponse['jobs'] = [];
    const skipped: ReembedResponse['skipped'] = [];
    let pageToken: string | undefined;
    do {
      let page: ReembedResponse;
      try {
        page = await session.api.reembed({ projectId, ...(positionals.length > 0 ? { documentIds: positionals } : {}), ...(values.force ? { force: true } : {}), ...(pageToken ? { pageToken } : {}) });
      } catch (err) {
        if (err instanceof ApiError) throw new CliFailure(err.explain('start the re-embedding'));
        throw err;
      }
      model = page.model;
      jobs.push(...page.jobs);
      skipped.push(...page.skipped);
      pageToken = page.nextPageToken;
    } while (pageToken);
    ctx.stderr.write(`re-embedding ${jobs.length} document(s) with ${model}; ${skipped.length} skipped\n`);
    let results: ReembedJobResult[] = jobs.map((j) => ({ documentId: j.documentId, jobId: j.jobId, status: 'RUNNING', error: null }));
    let stalled: FollowJobsResult | null = null;
    if (!values['no-wait'] && jobs.length > 0) {
      const tty = ctx.stderr.isTTY === true;
      const drawer = new LineDrawer(ctx.stderr, 0);
      let last = '';
      // A stall is a line of its own, above the progress line on a terminal.
      const say = (line: string): void => {
        if (!tty) {
          ctx.stderr.write(`${line}\n`);
          return;
        }
        drawer.printAbove(line);
        if (last) drawer.draw(last, true);
      };
      const followed = await followJobs(session, jobs, {
        settings,
        onProgress: (done, total, percent) => {
          const line = `re-embedding: ${done}/${total} jobs done, ${percent}%`;
          if (line === last) return;
          last = line;
          if (tty) drawer.draw(line, true);
          else ctx.stderr.write(`${line}\n`);
        },
        hooks: {
          stalled: (jobId, idleMs, report, view) => {
            if (report) say(stalledLine(jobId, idleMs, view));
          },
          resumed: (jobId, stalledMs) => say(resumedLine(jobId, stalledMs)),
        },
      });
      drawer.finish();
      results = followed.jobs;
      if (followed.kind === 'stalled') stalled = followed;
    }
    if (values.json) {
      ctx.stdout.write(`${JSON.stringify({ model, jobs: results, skipped })}\n`);
    } else {
      for (const r of results) ctx.stdout.write(`${r.documentId}  ${r.jobId}  ${r.status}${r.error ? `  ${r.error.code}: ${r.error.message}` : ''}\n`);
      for (const s of skipped) ctx.stdout.write(`${s.documentId}  skipped: ${s.reason}\n`);
    }
    if (stalled) {
      const open = stalled.jobs.filter((r) => r.status === STALLED_STATUS);
      const first = open[0]?.jobId ?? 'JOB_ID';
      ctx.stderr.write(
        `error: stopped waiting: the ${open.length} unfinished job(s) made no progress for ${formatIdle(stalled.idleMs)} (--stall-timeout; ${stalled.jobs.length - open.length} of ${stalled.jobs.length} ended); they are STALLED, were not changed and may still finish: scriptorium job ${first}\n`,
      );
    }
    const ok = values['no-wait'] || results.every((r) => r.status === 'COMPLETED');
    return ok ? EXIT.OK : EXIT.FAILURE;
  } finally {
    await session.close();
  }
}

/** `scriptorium reembed`. */
export const reembedCommand: Command = { name: 'reembed', summary: 're-embed documents with the configured embedding model', usage: USAGE, run };
