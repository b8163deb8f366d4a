/** `POST /v1/uploads`: a signed upload URL for a new document or a new version of one. */
import { createHash, randomBytes } from 'node:crypto';
import type { z } from 'zod';
import { API_ROUTES, CreateUploadResponseSchema, CreateUploadRequestSchema, type CreateUploadResponse } from '../../../shared/api/contracts.js';
import type { Caller } from '../../../shared/auth/index.js';
import { HttpError } from '../../../shared/errors/index.js';
import type { VersionRecord } from '../../../shared/firestore/documents.js';
import { isTerminal, type Job } from '../../../shared/jobs/model.js';
import type { NewJob } from '../../../shared/firestore/jobs.js';
import { announceOutcome, failJob } from '../../../shared/jobs/outcomes.js';
import { uploadObjectName } from '../../../shared/storage/names.js';
import { agentForUpload } from './agents.js';
import { checkProjectUploadSettings } from './upload-settings.js';
import { readProjectSettings } from '../../../shared/firestore/settings.js';
import { isAlreadyExists } from '../../../shared/firestore/client.js';
import { invalid, json, requireRole, UPLOAD_ROLES, type ApiDeps, type ApiRequest, type ApiResponse, type Route } from '../http.js';

/** Deterministic ids for idempotent requests, random otherwise (`doc_` + 20 hex). */
export function newDocumentId(idempotency?: { uid: string; projectId: string; clientRequestId: string }): string {
  if (!idempotency) return `doc_${randomBytes(10).toString('hex')}`;
  const h = createHash('sha256').update(`${idempotency.uid}\n${idempotency.projectId}\n${idempotency.clientRequestId}`).digest('hex');
  return `doc_${h.slice(0, 20)}`;
}

/** The processing job of a document's first version shares its id suffix. */
export function jobIdFor(documentId: string): string {
  return `job_${documentId.replace(/^doc_/, '')}`;
}

/** The job of version `version` (≥ 2) of a document: deterministic, so a retried creation cannot make two. */
export function versionJobId(documentId: string, version: number): string {
  return `job_${createHash('sha256').update(`${documentId}\nv${version}`).digest('hex').slice(0, 20)}`;
}

type UploadBody = z.output<typeof CreateUploadRequestSchema>;
type AgentRef = { readonly agentId: string; readonly agentVersion: number };

/** What a new upload request created, or the earlier upload a retried request names. */
interface UploadPlan {
  readonly documentId: string;
  readonly version: number;
  readonly jobId: string;
  readonly object: string;
  readonly existing: Pick<VersionRecord, 'ownerUid' | 'fileName' | 'contentType' | 'declaredSize' | 'status' | 'jobId'> | null;
}

function newJobInput(body: UploadBody, bucket: string, object: string, uploadExpiresAt: string, version: number): NewJob['input'] {
  return {
    bucket,
    object,
    fileName: body.fileName,
    contentType: body.contentType,
    declaredSize: body.size,
    generation: null,
    uploadExpiresAt,
    md5Hash: body.md5Hash ?? null,
    crc32c: body.crc32c ?? null,
    detectedType: null,
    family: null,
    version,
    // A first version is the document's current one from the start; a later one becomes it when READY.
    current: version === 1,
    translate: body.translate ?? null,
    audio: body.audio ?? null,
  };
}

function newProcessJob(body: UploadBody, caller: Caller, documentId: string, jobId: string, input: NewJob['input'], agent: AgentRef | null) {
  return {
    id: jobId,
    // A translation is decided at upload (the bytes only say it is a recording); ingest keeps it.
    kind: body.translate ? ('video.translate' as const) : ('document.process' as const),
    projectId: body.projectId,
    documentId,
    ownerUid: caller.uid,
    agentId: agent?.agentId ?? null,
    ...(agent ? { agentVersion: agent.agentVersion } : {}),
    status: 'PENDING' as const,
    stage: 'upload',
    progress: 0,
    attempts: 0,
    error: null,
    input,
    dispatchedStage: null,
    result: null,
    cancelRequested: false,
    retryOf: null,
    metrics: {},
  };
}

/** A first upload: a new document with its version 1 and its job. */
async function planFirstUpload(body: UploadBody, caller: Caller, deps: ApiDeps, uploadExpiresAt: string, agent: AgentRef | null): Promise<UploadPlan> {
  const documentId = newDocumentId(body.clientRequestId ? { uid: caller.uid, projectId: body.projectId, clientRequestId: body.clientRequestId } : undefined);
  const jobId = jobIdFor(documentId);
  const bucket = deps.config.SCRIPTORIUM_BUCKET;
  const object = uploadObjectName(body.projectId, documentId, body.fileName);
  // The records are created in one batch of create-only writes (one RPC): if the document exists (a
  // retried request with the same clientRequestId), the commit fails ALREADY_EXISTS and nothing is
  // written; that document is the answer. A transaction would read first, in three RPCs.
  const batch = deps.db.batch();
  deps.documents.createIn(batch, {
      id: documentId,
      projectId: body.projectId,
      ownerUid: caller.uid,
      fileName: body.fileName,
      contentType: body.contentType,
      declaredSize: body.size,
      status: 'AWAITING_UPLOAD',
      jobId,
      currentVersion: 1,
      source: { bucket, object, generation: null, size: null, md5Hash: null, crc32c: null },
      pageCount: null,
      language: null,
      text: null,
    });
  deps.jobs.createIn(batch, newProcessJob(body, caller, documentId, jobId, newJobInput(body, bucket, object, uploadExpiresAt, 1), agent), {
    level: 'INFO',
    message: `waiting for upload of ${body.fileName} (${body.size} bytes, ${body.contentType})`,
  });
  let existing = false;
  try {
    await batch.commit();
  } catch (err) {
    if (!isAlreadyExists(err)) throw err;
    existing = true;
  }
  // A retried request names the document's first version (a later version has its own request key).
  const first = existing ? await deps.documents.getVersion(documentId, 1) : null;
  return { documentId, version: 1, jobId: first?.jobId ?? jobId, object: first?.source.object ?? object, existing: first };
}

/**
 * An upload whose signed URL expired unused leaves its job PENDING forever: before a new version
 * is refused for it, that job fails (UPLOAD_EXPIRED, on Firestore's clock) and is announced. Not
 * when the file is in the bucket: its notification was lost, the reaper hands it to ingest, and the
 * new version waits for it (409) like any version in progress.
 */
async function expireAbandonedUpload(deps: ApiDeps, jobId: string): Promise<void> {
  const expired = (job: Job, readTime: Date): boolean => job.status === 'PENDING' && job.input.generation === null && job.input.uploadExpiresAt !== null && Date.parse(job.input.uploadExpiresAt) < readTime.getTime();
  const job = await deps.jobs.get(jobId);
  if (!job || !expired(job, deps.now?.() ?? new Date())) return;
  if ((await deps.storage.objectResource({ bucket: job.input.bucket, object: job.input.object })) !== null) return;
  const out = await failJob(deps, jobId, job.documentId, { code: 'UPLOAD_EXPIRED', message: 'the signed upload URL expired before the file was uploaded', retryable: false }, expired);
  if (out.applied) await announceOutcome(deps, out.job);
}

/** The next version of an existing document, awaiting its upload, with its job (or the one a retried request made). */
async function planVersionUpload(body: UploadBody, documentId: string, caller: Caller, deps: ApiDeps, uploadExpiresAt: string, agent: AgentRef | null): Promise<UploadPlan> {
  const requestKey = body.clientRequestId ? createHash('sha256').update(`${caller.uid}\n${body.projectId}\n${documentId}\n${body.clientRequestId}`).digest('hex') : null;
  const before = await deps.documents.get(documentId);
  if (!before || before.projectId !== body.projectId) throw new HttpError(404, 'NOT_FOUND', 'no such document');
  if (before.activeJobId) await expireAbandonedUpload(deps, before.activeJobId);
  const bucket = deps.config.SCRIPTORIUM_BUCKET;
  return deps.db.runTransaction(async (tx): Promise<UploadPlan> => {
    const doc = await deps.documents.getIn(tx, documentId);
    if (!doc || doc.projectId !== body.projectId) throw new HttpError(404, 'NOT_FOUND', 'no such document');
    const latest = await deps.documents.getVersionIn(tx, documentId, doc.latestVersion);
    if (requestKey !== null && latest?.requestKey === requestKey) {
      return { documentId, version: latest.version, jobId: latest.jobId, object: latest.source.object, existing: latest };
    }
    // One job at a time per document: their writes to the document and its chunks never interleave.
    if (doc.activeJobId) {
      const snap = await tx.get(deps.jobs.ref(doc.activeJobId));
      const active = snap.exists ? deps.jobs.parse(snap.id, snap.data()) : null;
      if (active && !isTerminal(active.status)) {
        throw new HttpError(409, 'VERSION_IN_PROGRESS', `document ${documentId} is still being processed (job ${active.id} is ${active.status}); upload the new version when it has finished`, { jobId: active.id, version: active.input.version });
      }
    }
    const version = doc.latestVersion + 1;
    const jobId = versionJobId(documentId, version);
    const object = uploadObjectName(body.projectId, documentId, body.fileName, version);
    deps.documents.createVersionIn(tx, {
      documentId,
      version,
      projectId: body.projectId,
      jobId,
      ownerUid: caller.uid,
      fileName: body.fileName,
      contentType: body.contentType,
      declaredSize: body.size,
      source: { bucket, object, generation: null, size: null, md5Hash: null, crc32c: null },
      requestKey,
    });
    deps.jobs.createIn(tx, newProcessJob(body, caller, documentId, jobId, newJobInput(body, bucket, object, uploadExpiresAt, version), agent), {
      level: 'INFO',
      message: `waiting for upload of version ${version} of ${documentId}: ${body.fileName} (${body.size} bytes, ${body.contentType})`,
    });
    return { documentId, version, jobId, object, existing: null };
  });
}

async function createUpload(req: ApiRequest, caller: Caller, deps: ApiDeps): Promise<ApiResponse> {
  const parsed = CreateUploadRequestSchema.safeParse(await req.readBody());
  if (!parsed.success) throw invalid('upload request', parsed.error);
  const body = parsed.data;
  // The dub is muxed with the uploaded file itself: headerless PCM has no container to mux with.
  if (body.translate && body.audio) throw new HttpError(400, 'INVALID_ARGUMENT', 'translate needs a recording in a container (MP4, WebM, WAV…); headerless PCM cannot be translated', { translate: ['not with audio'] });
  const max = deps.config.SCRIPTORIUM_MAX_UPLOAD_BYTES;
  if (body.size > max) throw new HttpError(413, 'UPLOAD_TOO_LARGE', `declared size ${body.size} bytes exceeds the limit of ${max} bytes`, { limit: max });
  // The role and the project's settings are read at once (the settings are used only once the role allowed it).
  const [, { settings }] = await Promise.all([requireRole(deps, caller, body.projectId, UPLOAD_ROLES), readProjectSettings(deps.db, body.projectId, deps.reads)]);
  // The project's own limits (settings) narrow the platform's, and the agent is resolved now: the job records it.
  checkProjectUploadSettings(settings, body.projectId, body.contentType, body.size);
  const agent = await agentForUpload(deps.db, body.projectId, body.agentId, settings.defaultAgentId);

  const now = deps.now?.() ?? new Date();
  const uploadExpiresAt = new Date(now.getTime() + deps.config.SCRIPTORIUM_SIGNED_URL_TTL_SECONDS * 1000).toISOString();
  const plan = body.documentId ? await planVersionUpload(body, body.documentId, caller, deps, uploadExpiresAt, agent) : await planFirstUpload(body, caller, deps, uploadExpiresAt, agent);
  const { documentId, jobId, object, existing } = plan;
  const bucket = deps.config.SCRIPTORIUM_BUCKET;

  if (existing) {
    // A retried request: the same upload, if it is still the same request and still open.
    const same = existing.ownerUid === caller.uid && existing.fileName === body.fileName && existing.contentType === body.contentType && existing.declaredSize === body.size;
    if (!same) throw new HttpError(409, 'IDEMPOTENCY_CONFLICT', 'clientRequestId was already used for a different upload');
    if (existing.status !== 'AWAITING_UPLOAD') throw new HttpError(409, 'ALREADY_UPLOADED', `version ${plan.version} of document ${documentId} was already uploaded`, { documentId, jobId: existing.jobId, version: plan.version });
    // The checksums are part of what the first request declared (and what ingest will check).
    const job = await deps.jobs.get(existing.jobId);
    if (!job || job.input.md5Hash !== (body.md5Hash ?? null) || job.input.crc32c !== (body.crc32c ?? null)) {
      throw new HttpError(409, 'IDEMPOTENCY_CONFLICT', 'clientRequestId was already used for a different upload');
    }
  }

  const signed = await deps.storage.signUpload({
    bucket,
    object,
    contentType: body.contentType,
    size: body.size,
    ttlSeconds: deps.config.SCRIPTORIUM_SIGNED_URL_TTL_SECONDS,
    now,
    ...(body.md5Hash ? { md5Hash: body.md5Hash } : {}),
    ...(body.crc32c ? { crc32c: body.crc32c } : {}),
  });
  if (existing) {
    // A fresh URL for a retried request: the job must not be expired (by the stale-job reaper) while
    // this URL is still valid. Later only, never earlier; only while the upload is still awaited.
    const until = signed.expiresAt.toISOString();
    await deps.jobs.update(existing.jobId, (job) =>
      job.status === 'PENDING' && job.input.generation === null && (job.input.uploadExpiresAt === null || job.input.uploadExpiresAt < until) ? { input: { uploadExpiresAt: until } } : null,
    );
  }
  deps.log.info('upload created', { documentId, version: plan.version, jobId, projectId: body.projectId, uid: caller.uid, size: body.size, contentType: body.contentType });
  const response: CreateUploadResponse = {
    documentId,
    version: plan.version,
    jobId,
    uploadUrl: signed.url,
    method: 'PUT',
    headers: signed.headers,
    expiresAt: signed.expiresAt.toISOString(),
    bucket,
    object,
  };
  return json(existing ? 200 : 201, response);
}

export const uploadRoutes: readonly Route[] = [
  {
    pattern: new RegExp(`^${API_ROUTES.createUpload}$`),
    path: API_ROUTES.createUpload,
    docs: { POST: { tag: 'uploads', summary: 'A signed upload URL for a new document, or a new version of one (documentId)', body: CreateUploadRequestSchema, response: CreateUploadResponseSchema, status: 201, errors: [409, 413], example: { projectId: 'demo', fileName: 'report.pdf', contentType: 'application/pdf', size: 48213 } } },
    methods: { POST: ({ req, caller, deps }) => createUpload(req, caller, deps) },
  },
];
