/**
 * `scriptorium job JOB_ID`: a job's state, read from Firestore as the signed-in user (so the
 * security rules apply exactly as they do for the web console).
 */
import { parseCommand } from '../args.js';
import { EXIT, UsageError, CliFailure, type CliContext, type Command } from '../io.js';
import { formatJob, type JobView } from '../job-view.js';
import { errorCode, loadConfig, openFirebaseSession } from '../session.js';

const USAGE = `Usage: scriptorium job JOB_ID [--json] [--config FILE]

Shows a job's state: status, stage, progress, attempts, error and times.

Options:
  --json          print the job document on stdout as JSON (timestamps as ISO strings)
  --config FILE   local stack config (default: $SCRIPTORIUM_LOCAL_CONFIG or .scriptorium/local.json)
  -h, --help      show this help

Exit status: 0 when the job was read (whatever its status), 1 when it is missing or not readable.
`;

async function run(ctx: CliContext): Promise<number> {
  const { values, positionals } = parseCommand(ctx.argv, { json: { type: 'boolean' } });
  if (values.help) {
    ctx.stdout.write(USAGE);
    return EXIT.OK;
  }
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'missing JOB_ID' : `expected one JOB_ID, got ${positionals.length} arguments`);
  const jobId = positionals[0] as string;
  const config = loadConfig(values.config, ctx.env);
  const session = await (ctx.openSession ?? openFirebaseSession)(config);
  let job: JobView | null;
  try {
    job = await session.getJob(jobId);
  } catch (err) {
    // The rules deny reads of a missing job too (they check the job's project), so the two look alike.
    if (errorCode(err) === 'permission-denied') throw new CliFailure(`job ${jobId} not found, or not readable by ${session.userEmail}`);
    throw new CliFailure(`cannot read job ${jobId}: ${errorCode(err) ?? (err instanceof Error ? err.message : String(err))}`);
  } finally {
    await session.close();
  }
  if (job === null) throw new CliFailure(`job ${jobId} not found`);
  ctx.stdout.write(values.json ? `${JSON.stringify(job.raw)}\n` : formatJob(job));
  return EXIT.OK;
}

/** `scriptorium job`. */
export const jobCommand: Command = { name: 'job', summary: "show a job's state", usage: USAGE, run };
