/**
 * `scriptorium job JOB_ID`: a job's state, read from Firestore as the signed-in user (so the
 * security rules apply exactly as they do for the web console). With `--follow`, the job is followed
 * live until it ends (as `upload` follows its jobs, stall detection included), then shown.
 */
import { parseCommand } from '../args.js';
import { EXIT, UsageError, CliFailure, type CliContext, type Command } from '../io.js';
import { DEFAULT_FOLLOW_TIMEOUT_MS, OPTIONAL_FOLLOW_ARG_OPTIONS, followAndPrint, optionalFollowSettings, stallTimeoutUsage } from '../job-follow.js';
import { formatJob, type JobView } from '../job-view.js';
import { errorCode, loadConfig, openFirebaseSession } from '../session.js';

const USAGE = `Usage: scriptorium job JOB_ID [--follow [--timeout SECONDS] [--stall-timeout SECONDS]] [--json] [--config FILE]

Shows a job's state: status, stage, progress, attempts, error and times.

Options:
  --follow              follow the job live until it ends (progress on stderr, as \`upload\` shows
                        it), then show its final state
  --timeout SECONDS     with --follow: how long to wait for the job to end (default ${DEFAULT_FOLLOW_TIMEOUT_MS / 1000})
${stallTimeoutUsage('the wait ends')}
  --json                print the job document on stdout as JSON (timestamps as ISO strings); with
                        --follow, the final one. When --follow stops waiting before the job ends:
                        {jobId, status, error, job} with status STALLED (error.code STALLED) or
                        ERROR (error.code TIMEOUT or LISTEN_FAILED), job the last state seen or null
  --config FILE         local stack config (default: $SCRIPTORIUM_LOCAL_CONFIG or .scriptorium/local.json)
  -h, --help            show this help

Exit status: 0 when the job was read (whatever its status), 1 when it is missing or not readable.
With --follow: 0 when the job COMPLETED; 1 when it FAILED or was CANCELLED, made no progress for
--stall-timeout (STALLED), did not end within --timeout, or could not be read or followed.
2 on usage errors.
`;

async function run(ctx: CliContext): Promise<number> {
  const { values, positionals } = parseCommand(ctx.argv, { json: { type: 'boolean' }, ...OPTIONAL_FOLLOW_ARG_OPTIONS });
  if (values.help) {
    ctx.stdout.write(USAGE);
    return EXIT.OK;
  }
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'missing JOB_ID' : `expected one JOB_ID, got ${positionals.length} arguments`);
  const settings = optionalFollowSettings(values, ctx.env);
  const jobId = positionals[0] as string;
  const config = loadConfig(values.config, ctx.env);
  const session = await (ctx.openSession ?? openFirebaseSession)(config);
  try {
    let job: JobView | null;
    try {
      // Read once even when following: a missing job is an error at once, not a listener waiting for it to appear.
      job = await session.getJob(jobId);
    } catch (err) {
      // The rules deny reads of a missing job too (they check the job's project), so the two look alike.
      if (errorCode(err) === 'permission-denied') throw new CliFailure(`job ${jobId} not found, or not readable by ${session.userEmail}`);
      throw new CliFailure(`cannot read job ${jobId}: ${errorCode(err) ?? (err instanceof Error ? err.message : String(err))}`);
    }
    if (job === null) throw new CliFailure(`job ${jobId} not found`);
    if (settings) return await followAndPrint(ctx, session, jobId, settings, values.json ?? false);
    ctx.stdout.write(values.json ? `${JSON.stringify(job.raw)}\n` : formatJob(job));
    return EXIT.OK;
  } finally {
    await session.close();
  }
}

/** `scriptorium job`. */
export const jobCommand: Command = { name: 'job', summary: "show a job's state, or follow it to its end (--follow)", usage: USAGE, run };
