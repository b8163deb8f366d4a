/**
 * `scriptorium dead-letters list|replay`: what Pub/Sub dead-lettered and why (`GET /v1/dead-letters`),
 * and republishing messages to their original topic after a fix (`POST /v1/dead-letters/:id/replay`).
 * Project admins see their project's dead letters; platform admins (custom claim role=admin) all.
 */
import { parseCommand } from '../args.js';
import { EXIT, UsageError, CliFailure, type CliContext, type Command } from '../io.js';
import { ApiError, loadConfig, openFirebaseSession, type Session } from '../session.js';
import { DEAD_LETTER_ID, DeadLetterListResponseSchema, JOB_CONTROL_ROUTES, ReplayResponseSchema, type DeadLetterView } from '../../../shared/api/job-control.js';
import { JobIdSchema, ProjectIdSchema } from '../../../shared/ids.js';

const USAGE = `Usage: scriptorium dead-letters list [--project ID] [--job JOB_ID] [--pending] [--json] [--config FILE]
       scriptorium dead-letters replay (ID... | --job JOB_ID | --all) [--project ID] [--json] [--config FILE]

list     shows each dead-lettered message: its source subscription and topic, job, document, event
         type, delivery attempts, when, why (the job's error), and whether it was replayed.
replay   republishes dead-lettered messages (their original payload and attributes) to the topic
         they were first published to, once each. A message whose job has ended is refused until
         the job is retried (\`scriptorium retry JOB_ID\`); the replay then names the retry.
         --job replays that job's messages not yet replayed; --all every one not yet replayed.

Options:
  --project ID    Scriptorium project (default: the local stack's demo project)
  --job JOB_ID    only this job's dead letters
  --pending       (list) only messages not replayed yet
  --all           (replay) every message of the project not replayed yet
  --json          print JSON on stdout
  --config FILE   local stack config (default: $SCRIPTORIUM_LOCAL_CONFIG or .scriptorium/local.json)
  -h, --help      show this help

Exit status: 0 when listed / every replay succeeded, 1 when the api refused any, 2 on usage errors.
`;

export function formatDeadLetter(d: DeadLetterView): string {
  const attempts = d.deliveryAttempts === null ? '?' : String(d.deliveryAttempts);
  const replay = d.status === 'REPLAYED' ? `  replayed as ${d.replay?.messageId ?? '?'}${d.replay?.jobId && d.replay.jobId !== d.jobId ? ` for ${d.replay.jobId}` : ''}` : '';
  return `${d.id}  ${d.status.padEnd(13)}  ${d.deadLetteredAt}  ${d.subscription} -> ${d.topic ?? '?'}  ${d.eventType ?? '?'}  job ${d.jobId ?? '-'}  doc ${d.documentId ?? '-'}  ${attempts} attempts\n    ${d.reason.code}: ${d.reason.message}${replay}\n`;
}

async function listAll(session: Session, projectId: string, jobId: string | undefined, pending: boolean): Promise<DeadLetterView[]> {
  const out: DeadLetterView[] = [];
  let pageToken: string | undefined;
  do {
    const qs = new URLSearchParams({ projectId, limit: '100' });
    if (jobId) qs.set('jobId', jobId);
    if (pending) qs.set('status', 'DEAD_LETTERED');
    if (pageToken) qs.set('pageToken', pageToken);
    const page = await session.api.request('GET', `${JOB_CONTROL_ROUTES.deadLetters}?${qs.toString()}`, DeadLetterListResponseSchema);
    out.push(...page.deadLetters);
    pageToken = page.nextPageToken;
  } while (pageToken);
  return out;
}

async function run(ctx: CliContext): Promise<number> {
  const { values, positionals } = parseCommand(ctx.argv, { project: { type: 'string' }, job: { type: 'string' }, pending: { type: 'boolean' }, all: { type: 'boolean' }, json: { type: 'boolean' } });
  if (values.help) {
    ctx.stdout.write(USAGE);
    return EXIT.OK;
  }
  const [sub, ...ids] = positionals;
  if (sub !== 'list' && sub !== 'replay') throw new UsageError(sub === undefined ? 'missing subcommand: list or replay' : `unknown subcommand '${sub}': list or replay`);
  if (values.job !== undefined && !JobIdSchema.safeParse(values.job).success) throw new UsageError(`invalid job id '${values.job}'`);
  for (const id of ids) if (!DEAD_LETTER_ID.test(id)) throw new UsageError(`invalid dead-letter id '${id}'`);
  if (sub === 'list' && ids.length > 0) throw new UsageError('list takes no ids (use --job)');
  if (sub === 'replay' && [ids.length > 0, values.job !== undefined, values.all === true].filter(Boolean).length !== 1) throw new UsageError('replay needs exactly one of: ids, --job JOB_ID, --all');
  const config = loadConfig(values.config, ctx.env);
  const projectId = values.project ?? config.projectId;
  if (!ProjectIdSchema.safeParse(projectId).success) throw new UsageError(`invalid project id '${projectId}'`);
  const session = await (ctx.openSession ?? openFirebaseSession)(config);
  try {
    if (sub === 'list') {
      const records = await listAll(session, projectId, values.job, values.pending === true);
      if (values.json) ctx.stdout.write(`${JSON.stringify({ deadLetters: records })}\n`);
      else if (records.length === 0) ctx.stderr.write('no dead letters\n');
      else for (const r of records) ctx.stdout.write(formatDeadLetter(r));
      return EXIT.OK;
    }
    const targets = ids.length > 0 ? ids : (await listAll(session, projectId, values.job, true)).map((r) => r.id);
    const results: { id: string; ok: boolean; messageId?: string; jobId?: string | null; error?: string; code?: string }[] = [];
    for (const id of targets) {
      try {
        const out = await session.api.request('POST', JOB_CONTROL_ROUTES.replay(id), ReplayResponseSchema);
        results.push({ id, ok: true, messageId: out.messageId, jobId: out.jobId });
        if (!values.json) ctx.stdout.write(`${id} replayed to ${out.topic} as ${out.messageId}${out.jobId ? ` (job ${out.jobId})` : ''}\n`);
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        results.push({ id, ok: false, code: err.code, error: err.message });
        if (!values.json) ctx.stderr.write(`${id}: ${err.describe()}\n`);
      }
    }
    if (values.json) ctx.stdout.write(`${JSON.stringify({ replayed: results })}\n`);
    else if (targets.length === 0) ctx.stderr.write('nothing to replay\n');
    return results.every((r) => r.ok) ? EXIT.OK : EXIT.FAILURE;
  } catch (err) {
    if (err instanceof ApiError) throw new CliFailure(err.explain(sub === 'list' ? 'list the dead letters' : 'replay'));
    throw err;
  } finally {
    await session.close();
  }
}

/** `scriptorium dead-letters`. */
export const deadLettersCommand: Command = { name: 'dead-letters', summary: 'list dead-lettered messages, replay them after a fix', usage: USAGE, run };
