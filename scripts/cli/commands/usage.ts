/**
 * `scriptorium usage`: a project's metered usage and estimated cost over a range of UTC days, from
 * the api (`GET /v1/projects/:projectId/usage`).
 */
import { UsageQuerySchema } from '../../../shared/api/usage.js';
import { formatUsage } from '../../../shared/cost/format.js';
import { parseCommand } from '../args.js';
import { EXIT, UsageError, CliFailure, type CliContext, type Command } from '../io.js';
import { ApiError, loadConfig, openFirebaseSession } from '../session.js';

const USAGE = `Usage: scriptorium usage [--project P] [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--json] [--config FILE]

Prints a project's metered usage (pages, audio seconds, characters, tokens, function time, Firestore
and Cloud Storage operations) and its estimated cost at list prices, summed over UTC days.

Options:
  --project P     the project (default: the local stack's project)
  --from DAY      first day included (default: 30 days before --to)
  --to DAY        last day included (default: today, UTC)
  --json          print the api's answer as JSON: {projectId, from, to, currency, estimated, total, days}
  --config FILE   local stack config (default: $SCRIPTORIUM_LOCAL_CONFIG or .scriptorium/local.json)
  -h, --help      show this help

Costs are estimates (units × the price table's list prices), not a bill.
Exit status: 0 with the usage; 1 when the project is not readable or the api fails; 2 on bad options.
`;

async function run(ctx: CliContext): Promise<number> {
  const { values, positionals } = parseCommand(ctx.argv, { json: { type: 'boolean' }, project: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' } });
  if (values.help) {
    ctx.stdout.write(USAGE);
    return EXIT.OK;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0]}`);
  const query = UsageQuerySchema.safeParse({ ...(values.from ? { from: values.from } : {}), ...(values.to ? { to: values.to } : {}) });
  if (!query.success) throw new UsageError(query.error.issues.map((i) => `--${i.path.join('.')}: ${i.message}`).join('; '));
  const config = loadConfig(values.config, ctx.env);
  const projectId = values.project ?? config.projectId;
  const session = await (ctx.openSession ?? openFirebaseSession)(config);
  try {
    const usage = await session.api.projectUsage(projectId, query.data);
    if (values.json) ctx.stdout.write(`${JSON.stringify(usage)}\n`);
    else {
      ctx.stdout.write(`project ${usage.projectId}, ${usage.from} to ${usage.to} (UTC), ${usage.days.length} day(s) with usage, ${usage.total.attempts} stage attempt(s)\n`);
      ctx.stdout.write(`estimated at list prices (${usage.total.priceTable ?? 'no usage recorded'}); not a bill\n`);
      ctx.stdout.write(formatUsage(usage.total, '  '));
    }
    return EXIT.OK;
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    if (err.status === 403) throw new CliFailure(`you (${session.userEmail}) are not a member of project ${projectId} (${err.describe()})`);
    throw new CliFailure(`cannot get the usage of project ${projectId} (${err.describe()})`);
  } finally {
    await session.close();
  }
}

/** `scriptorium usage`. */
export const usageCommand: Command = { name: 'usage', summary: "show a project's metered usage and estimated cost", usage: USAGE, run };
