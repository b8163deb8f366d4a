/**
 * Dead letters (admin API): `GET /v1/dead-letters` lists what Pub/Sub dead-lettered and why (the
 * records the dead-letter function writes, shared/dead-letters/records.ts), `GET /v1/dead-letters/{id}`
 * shows one, `POST /v1/dead-letters/{id}/replay` republishes its original payload and attributes to
 * the topic it was first published to, once.
 *
 * Who: a platform admin (ID token custom claim `role: admin`) sees every record; an `admin` member
 * of a project sees that project's records (a listing must then name the project, or a job of it).
 * Records about no known job have no project: platform admins only. Anyone else gets 403 on a
 * listing and 404 on a record.
 *
 * Replay of a record whose job has ended is refused (409 JOB_TERMINAL) unless the job was retried
 * first: the replayed message then names the retry (the job the document now belongs to), since the
 * old job never moves again. Two replays at once publish once (a claim in a transaction).
 */
import { randomUUID } from 'node:crypto';
import { DEAD_LETTER_ID, DeadLetterListQuerySchema, DeadLetterListResponseSchema, DeadLetterViewSchema, ReplayResponseSchema, type DeadLetterListResponse, type DeadLetterView, type ReplayResponse } from '../../../shared/api/job-control.js';
import type { Caller } from '../../../shared/auth/index.js';
import { DeadLetterRepository, type DeadLetterRecord } from '../../../shared/dead-letters/records.js';
import { HttpError, isRetryable } from '../../../shared/errors/index.js';
import { contracts } from '../../../shared/events/contracts.js';
import { decodeCursor } from '../../../shared/firestore/cursor.js';
import { isTerminal, type Job } from '../../../shared/jobs/model.js';
import type { TopicName } from '../../../shared/topology.js';
import { idGroup, invalid, json, type ApiDeps, type Route, type RouteContext } from '../http.js';

/** A platform admin: the caller's current global role (read from `users/{uid}` per request, not the token's claim) is `admin`. */
export function isPlatformAdmin(caller: Pick<Caller, 'globalRole'>): boolean {
  return caller.globalRole === 'admin';
}

/** Whether the caller may see (and replay) records of `projectId` (null: records about no known job). */
async function mayAdminister(deps: ApiDeps, caller: Caller, projectId: string | null): Promise<boolean> {
  if (isPlatformAdmin(caller)) return true;
  return projectId !== null && (await deps.projects.roleOf(projectId, caller.uid)) === 'admin';
}

function view(r: DeadLetterRecord): DeadLetterView {
  const { data, attributes: _attributes, replay, ...rest } = r;
  return { ...rest, replay: replay ? { messageId: replay.messageId, replayedAt: replay.replayedAt, by: replay.by, jobId: replay.jobId } : null, replayable: data !== null && r.topic !== null };
}

async function visibleRecord(deps: ApiDeps, caller: Caller, id: string): Promise<{ repo: DeadLetterRepository; record: DeadLetterRecord }> {
  const repo = new DeadLetterRepository(deps.db);
  const record = await repo.get(id);
  if (!record || !(await mayAdminister(deps, caller, record.projectId))) throw new HttpError(404, 'NOT_FOUND', 'no such dead letter');
  return { repo, record };
}

async function list({ req, caller, deps }: RouteContext): Promise<ReturnType<typeof json>> {
  const parsed = DeadLetterListQuerySchema.safeParse(req.query ?? {});
  if (!parsed.success) throw invalid('dead-letter listing query', parsed.error);
  const q = parsed.data;
  let projectId = q.projectId;
  if (projectId === undefined && q.jobId !== undefined && !isPlatformAdmin(caller)) {
    // One job's dead letters: scoped to its project for a project admin.
    const job = await deps.jobs.get(q.jobId);
    projectId = job?.projectId;
  }
  if (!isPlatformAdmin(caller)) {
    if (projectId === undefined) throw new HttpError(403, 'PERMISSION_DENIED', 'only platform admins list every project’s dead letters: name a projectId you administer');
    if (!(await mayAdminister(deps, caller, projectId))) throw new HttpError(403, 'PERMISSION_DENIED', `only admins of project ${projectId} see its dead letters`);
  }
  const after = q.pageToken ? decodeCursor(q.pageToken) : undefined;
  if (after === null) throw new HttpError(400, 'INVALID_ARGUMENT', 'invalid pageToken', { pageToken: ['not a token this listing gave out'] });
  const out = await new DeadLetterRepository(deps.db).list({ limit: q.limit, ...(projectId !== undefined ? { projectId } : {}), ...(q.jobId ? { jobId: q.jobId } : {}), ...(q.status ? { status: q.status } : {}), ...(after ? { after } : {}) });
  const body: DeadLetterListResponse = { deadLetters: out.records.map(view), ...(out.next ? { nextPageToken: out.next } : {}) };
  return json(200, body);
}

async function getOne({ caller, deps, params }: RouteContext): Promise<ReturnType<typeof json>> {
  const { record } = await visibleRecord(deps, caller, params.id ?? '');
  return json(200, view(record));
}

/** The job a replay should name: the record's job, or the last retry of it; refused when that has ended. */
async function replayTarget(deps: ApiDeps, jobId: string): Promise<Job | null> {
  let job = await deps.jobs.get(jobId);
  // A retry chain is short (each retry is a deliberate act); the bound only stops a corrupt loop.
  for (let hops = 0; job && isTerminal(job.status) && hops < 20; hops++) {
    const next: unknown = (await deps.jobs.ref(job.id).get()).get('retriedBy');
    if (typeof next !== 'string') break;
    job = await deps.jobs.get(next);
  }
  return job;
}

async function replay({ caller, deps, params }: RouteContext): Promise<ReturnType<typeof json>> {
  const { repo, record } = await visibleRecord(deps, caller, params.id ?? '');
  const topic = record.topic;
  if (topic === null || !(topic in contracts) || record.data === null) throw new HttpError(409, 'NOT_REPLAYABLE', `dead letter ${record.id} cannot be replayed: ${record.data === null ? 'its payload was too large to keep' : `its source subscription ${record.subscription} reads no known topic`}`);
  let target: Job | null = null;
  const claimId = randomUUID();
  const claim = await repo.claim(
    record.id,
    caller.email ?? caller.uid,
    claimId,
    async (rec) => {
      if (rec.jobId === null) return;
      target = await replayTarget(deps, rec.jobId);
      if (!target) throw new HttpError(409, 'JOB_GONE', `job ${rec.jobId} no longer exists`);
      if (isTerminal(target.status)) {
        const retried = target.id !== rec.jobId ? ` (its retry ${target.id} ended ${target.status} too)` : '';
        throw new HttpError(409, 'JOB_TERMINAL', `job ${rec.jobId} has ended ${target.status}${retried}: retry it first (POST /v1/jobs/${target.id}/retry), then replay`, { jobId: target.id, status: target.status });
      }
    },
    deps.now?.() ?? new Date(),
  );
  if (!claim) throw new HttpError(404, 'NOT_FOUND', 'no such dead letter');
  if (!claim.claimed) {
    throw claim.why === 'replayed'
      ? new HttpError(409, 'ALREADY_REPLAYED', `dead letter ${record.id} was replayed already (message ${claim.record.replay?.messageId ?? '?'})`)
      : new HttpError(409, 'REPLAY_IN_PROGRESS', `dead letter ${record.id} is being replayed right now`);
  }
  const resolved = target as Job | null;
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(record.data, 'base64').toString('utf8'));
  } catch {
    await repo.release(record.id, claimId);
    throw new HttpError(409, 'NOT_REPLAYABLE', `dead letter ${record.id} does not hold a JSON payload`);
  }
  // The job the message names never moves again once ended; its retry took its place.
  if (resolved && resolved.id !== record.jobId && typeof payload === 'object' && payload !== null && 'jobId' in payload && payload.jobId === record.jobId) {
    payload = { ...payload, jobId: resolved.id };
  }
  let messageId: string;
  try {
    messageId = await deps.publisher.publish(topic as TopicName, payload, { ...record.attributes, replayOf: record.id });
  } catch (err) {
    await repo.release(record.id, claimId);
    if (!isRetryable(err) && err instanceof Error && 'code' in err && err.code === 'MESSAGE_CONTRACT_VIOLATION') throw new HttpError(409, 'NOT_REPLAYABLE', `dead letter ${record.id} no longer fits the contract of ${topic}`);
    deps.log.error('dead-letter replay: publish failed', { id: record.id, topic, err });
    throw new HttpError(503, 'REPLAY_FAILED', 'could not republish the message right now; try again');
  }
  await repo.replayed(record.id, claimId, messageId, resolved?.id ?? null);
  deps.log.warn('dead letter replayed', { deadLetterReplay: true, id: record.id, topic, messageId, jobId: resolved?.id ?? null, by: caller.uid });
  const body: ReplayResponse = { id: record.id, status: 'REPLAYED', topic, messageId, jobId: resolved?.id ?? null };
  return json(200, body);
}

const idPattern = idGroup('id', DEAD_LETTER_ID);

export const deadLetterRoutes: readonly Route[] = [
  {
    pattern: /^\/v1\/dead-letters$/,
    path: '/v1/dead-letters',
    methods: { GET: list },
    docs: { GET: { summary: 'Dead-lettered messages, newest first (admins)', tag: 'dead-letters', query: DeadLetterListQuerySchema, response: DeadLetterListResponseSchema } },
  },
  {
    pattern: new RegExp(`^/v1/dead-letters/${idPattern}$`),
    path: '/v1/dead-letters/{id}',
    methods: { GET: getOne },
    docs: { GET: { summary: 'One dead-lettered message (admins)', tag: 'dead-letters', response: DeadLetterViewSchema } },
  },
  {
    pattern: new RegExp(`^/v1/dead-letters/${idPattern}/replay$`),
    path: '/v1/dead-letters/{id}/replay',
    methods: { POST: replay },
    docs: { POST: { summary: 'Republishes a dead-lettered message to its original topic, once (admins)', tag: 'dead-letters', response: ReplayResponseSchema, errors: [409, 503] } },
  },
];
