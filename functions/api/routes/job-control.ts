/**
 * Job control: `GET /v1/jobs` (a project's jobs, filtered, newest first, cursor-paginated),
 * `GET /v1/jobs/{id}/logs` (the job's log entries), `POST /v1/jobs/{id}/cancel` and
 * `POST /v1/jobs/{id}/retry` (shared/jobs/control.ts says what they do).
 *
 * Who: listing and logs, any member of the job's project; cancel and retry, its editors and
 * admins. A job of a project the caller is not a member of is a 404 (no probing for job ids); a
 * viewer asking to cancel or retry gets 403.
 */
import { Timestamp } from '@google-cloud/firestore';
import {
  CancelResponseSchema,
  JobListQuerySchema,
  JobListResponseSchema,
  JobLogsQuerySchema,
  JobLogsResponseSchema,
  RetryResponseSchema,
  type CancelResponse,
  type JobListResponse,
  type JobLogsResponse,
  type RetryResponse,
} from '../../../shared/api/job-control.js';
import type { Caller } from '../../../shared/auth/index.js';
import { HttpError } from '../../../shared/errors/index.js';
import { toPlain } from '../../../shared/firestore/client.js';
import { cursorAfter, decodeCursor } from '../../../shared/firestore/cursor.js';
import { COLLECTIONS, type Role } from '../../../shared/firestore/paths.js';
import { JOB_ID } from '../../../shared/ids.js';
import { cancelJob, retryJob } from '../../../shared/jobs/control.js';
import type { Job } from '../../../shared/jobs/model.js';
import { idGroup, invalid, json, requireRole, UPLOAD_ROLES, type ApiDeps, type Route, type RouteContext } from '../http.js';

/** The job, if the caller is a member of its project (else 404, as for a job that does not exist), with the caller's role. */
async function visibleJob(deps: ApiDeps, caller: Caller, jobId: string): Promise<{ job: Job; role: Role }> {
  const job = await deps.jobs.get(jobId);
  const role = job ? await deps.projects.roleOf(job.projectId, caller.uid) : null;
  if (!job || role === null) throw new HttpError(404, 'NOT_FOUND', 'no such job');
  return { job, role };
}

async function listJobs({ req, caller, deps }: RouteContext): Promise<ReturnType<typeof json>> {
  const parsed = JobListQuerySchema.safeParse(req.query ?? {});
  if (!parsed.success) throw invalid('job listing query', parsed.error);
  const q = parsed.data;
  await requireRole(deps, caller, q.projectId);
  // Equality filters, then the createdAt range and order: each filter combination is a composite
  // index in production (terraform/firestore.tf, jobs_by_project_*_created).
  let query = deps.db.collection(COLLECTIONS.jobs).where('projectId', '==', q.projectId);
  if (q.status) query = query.where('status', '==', q.status);
  if (q.kind) query = query.where('kind', '==', q.kind);
  if (q.createdAfter) query = query.where('createdAt', '>=', Timestamp.fromDate(new Date(q.createdAfter)));
  if (q.createdBefore) query = query.where('createdAt', '<', Timestamp.fromDate(new Date(q.createdBefore)));
  query = query.orderBy('createdAt', 'desc').orderBy('__name__', 'desc');
  if (q.pageToken) {
    const after = decodeCursor(q.pageToken);
    if (!after) throw new HttpError(400, 'INVALID_ARGUMENT', 'invalid pageToken', { pageToken: ['not a token this listing gave out'] });
    query = query.startAfter(...after);
  }
  const snap = await query.limit(q.limit + 1).get();
  const page = snap.docs.slice(0, q.limit);
  const last = page.at(-1);
  const next = snap.size > q.limit && last ? cursorAfter(last, 'createdAt') : null;
  const body: JobListResponse = { jobs: page.map((d) => deps.jobs.parse(d.id, d.data())), ...(next ? { nextPageToken: next } : {}) };
  return json(200, body);
}

async function jobLogs({ req, caller, deps, params }: RouteContext): Promise<ReturnType<typeof json>> {
  const { job } = await visibleJob(deps, caller, params.id ?? '');
  const parsed = JobLogsQuerySchema.safeParse(req.query ?? {});
  if (!parsed.success) throw invalid('log query', parsed.error);
  const { limit, pageToken } = parsed.data;
  // The ring keeps the last LOG_CAPACITY entries; `seq` orders them (slot ids wrap around).
  let query = deps.jobs.ref(job.id).collection(COLLECTIONS.logs).orderBy('seq', 'asc');
  if (pageToken !== undefined) query = query.where('seq', '>', Number(pageToken));
  const snap = await query.limit(limit + 1).get();
  const entries = snap.docs.slice(0, limit).map((d) => toPlain(d.data()) as JobLogsResponse['entries'][number]);
  const last = entries.at(-1);
  const body: JobLogsResponse = { jobId: job.id, entries, logCount: job.logCount, ...(snap.size > limit && last ? { nextPageToken: String(last.seq) } : {}) };
  return json(200, body);
}

async function cancel({ caller, deps, params }: RouteContext): Promise<ReturnType<typeof json>> {
  const { job, role } = await visibleJob(deps, caller, params.id ?? '');
  if (!UPLOAD_ROLES.includes(role)) throw new HttpError(403, 'PERMISSION_DENIED', `role ${role} may not cancel jobs in project ${job.projectId}`);
  const out = await cancelJob(deps, job, caller.email ?? caller.uid);
  deps.log.info('job cancel', { jobId: job.id, outcome: out.outcome, uid: caller.uid });
  const body: CancelResponse = { jobId: job.id, outcome: out.outcome, status: out.job.status };
  return json(out.outcome === 'cancelled' ? 200 : 202, body);
}

async function retry({ caller, deps, params }: RouteContext): Promise<ReturnType<typeof json>> {
  const { job, role } = await visibleJob(deps, caller, params.id ?? '');
  if (!UPLOAD_ROLES.includes(role)) throw new HttpError(403, 'PERMISSION_DENIED', `role ${role} may not retry jobs in project ${job.projectId}`);
  const out = await retryJob(deps, job, caller.email ?? caller.uid);
  const body: RetryResponse = { jobId: out.job.id, retryOf: job.id, created: out.created, status: out.job.status };
  return json(out.created ? 201 : 200, body);
}

const jobPath = (suffix: string) => new RegExp(`^/v1/jobs/${idGroup('id', JOB_ID)}/${suffix}$`);

export const jobControlRoutes: readonly Route[] = [
  {
    pattern: /^\/v1\/jobs$/,
    path: '/v1/jobs',
    methods: { GET: listJobs },
    docs: { GET: { summary: "A project's jobs, newest first (filters: status, kind, created range; cursor pagination)", tag: 'jobs', query: JobListQuerySchema, response: JobListResponseSchema } },
  },
  {
    pattern: jobPath('logs'),
    path: '/v1/jobs/{id}/logs',
    methods: { GET: jobLogs },
    docs: { GET: { summary: "A job's log entries, oldest first", tag: 'jobs', query: JobLogsQuerySchema, response: JobLogsResponseSchema } },
  },
  {
    pattern: jobPath('cancel'),
    path: '/v1/jobs/{id}/cancel',
    methods: { POST: cancel },
    docs: { POST: { summary: 'Cancels a job (at once when nothing runs it, else at the running attempt’s next step)', tag: 'jobs', response: CancelResponseSchema, errors: [409] } },
  },
  {
    pattern: jobPath('retry'),
    path: '/v1/jobs/{id}/retry',
    methods: { POST: retry },
    docs: { POST: { summary: 'Retries a FAILED or CANCELLED job as a new job (retryOf); idempotent', tag: 'jobs', status: 201, response: RetryResponseSchema, errors: [409, 503] } },
  },
];
