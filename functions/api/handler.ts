/**
 * The HTTP API. Framework-free: `handleApi(request, deps)` takes a plain request and returns a plain
 * response, so it is tested without functions-framework; `index.ts` adapts Express to it.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Firestore } from '@google-cloud/firestore';
import { z } from 'zod';
import { API_ROUTES, CreateUploadRequestSchema, ReembedRequestSchema, SearchRequestSchema, type CreateUploadResponse, type ReembedResponse, type SearchResponse } from '../../shared/api/contracts.js';
import type { TokenVerifier, Caller } from '../../shared/auth/index.js';
import type { Config } from '../../shared/config/index.js';
import { HttpError, isRetryable } from '../../shared/errors/index.js';
import { DOCUMENT_ID, isUid, JOB_ID } from '../../shared/ids.js';
import type { DocumentRecord, DocumentRepository, VersionRecord } from '../../shared/firestore/documents.js';
import type { JobRepository } from '../../shared/firestore/jobs.js';
import type { Publisher } from '../../shared/events/publisher.js';
import { configuredEmbeddingModel } from '../../shared/engines/embeddings/index.js';
import { isTerminal, type Job } from '../../shared/jobs/model.js';
import { announceOutcome, failJob } from '../../shared/jobs/outcomes.js';
import { COLLECTIONS } from '../../shared/firestore/paths.js';
import { textStageOf, transcriptRefsOf } from '../../shared/stages/text-ready.js';
import type { ProjectRepository } from '../../shared/firestore/projects.js';
import type { Role } from '../../shared/firestore/paths.js';
import type { Logger } from '../../shared/logger/index.js';
import type { SearchDeps } from '../../shared/search/search.js';
import type { StorageGateway } from '../../shared/storage/index.js';
import { uploadObjectName } from '../../shared/storage/names.js';

export interface ApiRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string | undefined>>;
  /**
   * Reads and parses the JSON body (capped, uncompressed, UTF-8; HttpError otherwise). Called only
   * by routes that take a body, after the caller is authenticated: nothing else reads a byte of it.
   */
  readonly readBody: () => Promise<unknown>;
  /** The query string's parameters (first value of each). */
  readonly query?: Readonly<Record<string, string | undefined>>;
}

export interface ApiResponse {
  readonly status: number;
  readonly headers?: Record<string, string>;
  /** JSON-serialisable, or a Buffer/string sent as is with the given content type. */
  readonly body: unknown;
}

export interface ApiDeps {
  readonly config: Pick<Config, 'GOOGLE_CLOUD_PROJECT' | 'SCRIPTORIUM_BUCKET' | 'SCRIPTORIUM_MAX_UPLOAD_BYTES' | 'SCRIPTORIUM_SIGNED_URL_TTL_SECONDS' | 'SCRIPTORIUM_EMBEDDING_ENGINE' | 'SCRIPTORIUM_EMBEDDING_MODEL'>;
  readonly verifier: TokenVerifier;
  readonly db: Firestore;
  readonly projects: ProjectRepository;
  readonly documents: DocumentRepository;
  readonly jobs: JobRepository;
  readonly storage: StorageGateway;
  /** Starts re-embeddings (text-ready events for the embed function) and announces expired uploads. */
  readonly publisher: Publisher;
  readonly log: Logger;
  readonly now?: () => Date;
  /**
   * Search's dependencies (Firestore and the query embedding engine). Absent: built from `db` on the
   * first search, with the engine the config names; its module and model load only then.
   */
  readonly search?: SearchDeps;
}

const UPLOAD_ROLES: readonly Role[] = ['admin', 'editor'];

const json = (status: number, body: unknown): ApiResponse => ({ status, body });

function errorResponse(err: HttpError): ApiResponse {
  return json(err.status, { error: { code: err.code, message: err.message, ...(err.details === undefined ? {} : { details: err.details }) } });
}

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

async function requireRole(deps: ApiDeps, caller: Caller, projectId: string, allowed?: readonly Role[]): Promise<Role> {
  const role = await deps.projects.roleOf(projectId, caller.uid);
  // Not a member and no such project look the same from outside: no probing for project ids.
  if (role === null) throw new HttpError(403, 'PERMISSION_DENIED', `you are not a member of project ${projectId}`);
  if (allowed && !allowed.includes(role)) throw new HttpError(403, 'PERMISSION_DENIED', `role ${role} may not do this in project ${projectId}`);
  return role;
}

/** The job of version `version` (≥ 2) of a document: deterministic, so a retried creation cannot make two. */
export function versionJobId(documentId: string, version: number): string {
  return `job_${createHash('sha256').update(`${documentId}\nv${version}`).digest('hex').slice(0, 20)}`;
}

function invalid(what: string, error: z.ZodError): HttpError {
  const flat = z.flattenError(error);
  // Field errors by field; errors of the request as a whole (not an object, unknown fields) under `_request`.
  return new HttpError(400, 'INVALID_ARGUMENT', `invalid ${what}`, flat.formErrors.length > 0 ? { ...flat.fieldErrors, _request: flat.formErrors } : flat.fieldErrors);
}

type UploadBody = z.output<typeof CreateUploadRequestSchema>;

/** What a new upload request created, or the earlier upload a retried request names. */
interface UploadPlan {
  readonly documentId: string;
  readonly version: number;
  readonly jobId: string;
  readonly object: string;
  readonly existing: Pick<VersionRecord, 'ownerUid' | 'fileName' | 'contentType' | 'declaredSize' | 'status' | 'jobId'> | null;
}

function newJobInput(body: UploadBody, bucket: string, object: string, uploadExpiresAt: string, version: number): Job['input'] {
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
  };
}

function newProcessJob(body: UploadBody, caller: Caller, documentId: string, jobId: string, input: Job['input']) {
  return {
    id: jobId,
    kind: 'document.process' as const,
    projectId: body.projectId,
    documentId,
    ownerUid: caller.uid,
    agentId: null,
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
async function planFirstUpload(body: UploadBody, caller: Caller, deps: ApiDeps, uploadExpiresAt: string): Promise<UploadPlan> {
  const documentId = newDocumentId(body.clientRequestId ? { uid: caller.uid, projectId: body.projectId, clientRequestId: body.clientRequestId } : undefined);
  const jobId = jobIdFor(documentId);
  const bucket = deps.config.SCRIPTORIUM_BUCKET;
  const object = uploadObjectName(body.projectId, documentId, body.fileName);
  const existing = await deps.db.runTransaction(async (tx) => {
    const doc = await deps.documents.getIn(tx, documentId);
    if (doc) return doc;
    deps.documents.createIn(tx, {
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
    deps.jobs.createIn(tx, newProcessJob(body, caller, documentId, jobId, newJobInput(body, bucket, object, uploadExpiresAt, 1)), {
      level: 'INFO',
      message: `waiting for upload of ${body.fileName} (${body.size} bytes, ${body.contentType})`,
    });
    return null;
  });
  // A retried request names the document's first version (a later version has its own request key).
  const first = existing ? await deps.documents.getVersion(documentId, 1) : null;
  return { documentId, version: 1, jobId: first?.jobId ?? jobId, object: first?.source.object ?? object, existing: first };
}

/**
 * An upload whose signed URL expired unused leaves its job PENDING forever: before a new version
 * is refused for it, that job fails (UPLOAD_EXPIRED, on Firestore's clock) and is announced.
 */
async function expireAbandonedUpload(deps: ApiDeps, jobId: string): Promise<void> {
  const expired = (job: Job, readTime: Date): boolean => job.status === 'PENDING' && job.input.generation === null && job.input.uploadExpiresAt !== null && Date.parse(job.input.uploadExpiresAt) < readTime.getTime();
  const job = await deps.jobs.get(jobId);
  if (!job || !expired(job, deps.now?.() ?? new Date())) return;
  const out = await failJob(deps, jobId, job.documentId, { code: 'UPLOAD_EXPIRED', message: 'the signed upload URL expired before the file was uploaded', retryable: false }, expired);
  if (out.applied) await announceOutcome(deps, out.job);
}

/** The next version of an existing document, awaiting its upload, with its job (or the one a retried request made). */
async function planVersionUpload(body: UploadBody, documentId: string, caller: Caller, deps: ApiDeps, uploadExpiresAt: string): Promise<UploadPlan> {
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
    deps.jobs.createIn(tx, newProcessJob(body, caller, documentId, jobId, newJobInput(body, bucket, object, uploadExpiresAt, version)), {
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
  const max = deps.config.SCRIPTORIUM_MAX_UPLOAD_BYTES;
  if (body.size > max) throw new HttpError(413, 'UPLOAD_TOO_LARGE', `declared size ${body.size} bytes exceeds the limit of ${max} bytes`, { limit: max });
  await requireRole(deps, caller, body.projectId, UPLOAD_ROLES);

  const now = deps.now?.() ?? new Date();
  const uploadExpiresAt = new Date(now.getTime() + deps.config.SCRIPTORIUM_SIGNED_URL_TTL_SECONDS * 1000).toISOString();
  const plan = body.documentId ? await planVersionUpload(body, body.documentId, caller, deps, uploadExpiresAt) : await planFirstUpload(body, caller, deps, uploadExpiresAt);
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

/** Jobs created per re-embedding call (each is one transaction and one event). */
const REEMBED_PAGE = 100;

/**
 * `POST /v1/reembed`: one `document.embed` job per READY document whose chunks another model made
 * (or every one, with `force`), a page at a time. Each job re-chunks and re-embeds the current
 * version's text in the embed function, with its own progress; search keeps answering meanwhile
 * (its vector side only ever compares vectors of the configured model).
 */
async function reembedRoute(req: ApiRequest, caller: Caller, deps: ApiDeps): Promise<ApiResponse> {
  const parsed = ReembedRequestSchema.safeParse(await req.readBody());
  if (!parsed.success) throw invalid('re-embedding request', parsed.error);
  const body = parsed.data;
  await requireRole(deps, caller, body.projectId, UPLOAD_ROLES);
  const model = configuredEmbeddingModel({ engine: deps.config.SCRIPTORIUM_EMBEDDING_ENGINE, ...(deps.config.SCRIPTORIUM_EMBEDDING_MODEL ? { model: deps.config.SCRIPTORIUM_EMBEDDING_MODEL } : {}) });
  let documents: DocumentRecord[];
  let nextPageToken: string | undefined;
  if (body.documentIds) {
    const found = await Promise.all([...new Set(body.documentIds)].map((id) => deps.documents.get(id)));
    documents = found.filter((d): d is DocumentRecord => d !== null && d.projectId === body.projectId);
    const missing = body.documentIds.filter((id) => !documents.some((d) => d.id === id));
    if (missing.length > 0) throw new HttpError(404, 'NOT_FOUND', `no such document: ${missing[0] ?? ''}`, { documentIds: missing });
  } else {
    let q = deps.db.collection(COLLECTIONS.documents).where('projectId', '==', body.projectId).orderBy('__name__').limit(REEMBED_PAGE);
    if (body.pageToken) q = q.startAfter(body.pageToken);
    const snap = await q.get();
    documents = snap.docs.map((d) => deps.documents.parse(d)).filter((d): d is DocumentRecord => d !== null);
    if (snap.size === REEMBED_PAGE) nextPageToken = snap.docs[snap.size - 1]?.id;
  }
  const jobs: ReembedResponse['jobs'] = [];
  const skipped: ReembedResponse['skipped'] = [];
  for (const doc of documents) {
    const reason = doc.status !== 'READY' || !doc.text || doc.source.generation === null ? `document is ${doc.status}` : !body.force && doc.embedding?.model === model ? `already embedded with ${model}` : null;
    if (reason) {
      skipped.push({ documentId: doc.id, reason });
      continue;
    }
    const created = await startReembed(deps, caller, doc, model);
    if ('skipped' in created) skipped.push({ documentId: doc.id, reason: created.skipped });
    else jobs.push({ documentId: doc.id, jobId: created.jobId, version: doc.currentVersion });
  }
  deps.log.info('re-embedding started', { projectId: body.projectId, uid: caller.uid, model, jobs: jobs.length, skipped: skipped.length });
  const response: ReembedResponse = { model, jobs, skipped, ...(nextPageToken ? { nextPageToken } : {}) };
  return json(202, response);
}

/** Creates one document's re-embedding job (unless another job of the document is running) and dispatches it. */
async function startReembed(deps: ApiDeps, caller: Caller, seen: DocumentRecord, model: string): Promise<{ jobId: string } | { skipped: string }> {
  const jobId = `job_${randomBytes(10).toString('hex')}`;
  const created = await deps.db.runTransaction(async (tx): Promise<{ doc: DocumentRecord } | { skipped: string }> => {
    const doc = await deps.documents.getIn(tx, seen.id);
    if (!doc || doc.status !== 'READY' || !doc.text || doc.source.generation === null) return { skipped: 'document is no longer READY' };
    if (doc.activeJobId) {
      const snap = await tx.get(deps.jobs.ref(doc.activeJobId));
      const active = snap.exists ? deps.jobs.parse(snap.id, snap.data()) : null;
      if (active && !isTerminal(active.status)) return { skipped: `job ${active.id} of this document is ${active.status}` };
    }
    deps.jobs.createIn(
      tx,
      {
        id: jobId,
        kind: 'document.embed',
        projectId: doc.projectId,
        documentId: doc.id,
        ownerUid: caller.uid,
        agentId: null,
        // RUNNING from the start: its stage is dispatched with its creation (the reaper watches RUNNING jobs).
        status: 'RUNNING',
        stage: 'embed',
        progress: 0,
        attempts: 0,
        error: null,
        input: {
          bucket: doc.source.bucket,
          object: doc.source.object,
          fileName: doc.fileName,
          contentType: doc.contentType,
          declaredSize: doc.declaredSize,
          generation: doc.source.generation,
          uploadExpiresAt: null,
          md5Hash: doc.source.md5Hash,
          crc32c: doc.source.crc32c,
          detectedType: null,
          family: null,
          version: doc.currentVersion,
          current: true,
        },
        stages: { embed: { status: 'PENDING' } },
        dispatchedStage: null,
        result: null,
        cancelRequested: false,
        retryOf: null,
        metrics: {},
      },
      { level: 'INFO', message: `re-embedding version ${doc.currentVersion} with ${model} (was ${doc.embedding?.model ?? 'none'})` },
    );
    deps.documents.updateIn(tx, doc.id, { activeJobId: jobId });
    return { doc };
  });
  if ('skipped' in created) return created;
  const { doc } = created;
  const text = doc.text;
  const generation = doc.source.generation;
  if (!text || generation === null) return { skipped: 'document has no text' };
  try {
    await deps.publisher.publish('document-events', {
      type: 'scriptorium.document.text.ready.v1',
      jobId,
      projectId: doc.projectId,
      documentId: doc.id,
      generation,
      text: { bucket: text.bucket, object: text.object, generation: text.generation ?? '' },
      pageCount: doc.pageCount ?? 0,
      language: doc.language ?? 'und',
      occurredAt: new Date().toISOString(),
    }, { jobId });
  } catch (err) {
    // Nothing would ever run the job: it fails now, visibly, and the caller can ask again.
    const out = await failJob(deps, jobId, null, { code: 'DISPATCH_FAILED', message: 'could not hand the re-embedding to the embed function; try again', retryable: false }, (j) => j.stages.embed?.status === 'PENDING' && j.stages.embed.lease === null);
    await announceOutcome(deps, out.job);
    deps.log.error('re-embedding dispatch failed', { jobId, documentId: doc.id, err });
    return { skipped: 'could not be dispatched; try again' };
  }
  return { jobId };
}

const TRANSCRIPT_FORMATS = { txt: 'text/plain; charset=utf-8', json: 'application/json; charset=utf-8', srt: 'application/x-subrip; charset=utf-8', vtt: 'text/vtt; charset=utf-8' } as const;
type TranscriptFormatName = keyof typeof TRANSCRIPT_FORMATS;

/**
 * `GET /v1/documents/:id/transcript?format=txt|json|srt|vtt`: a recording's transcript (its current
 * version's), as plain text, JSON with segment and word timings, SRT or WebVTT.
 */
async function transcriptRoute(documentId: string, format: string, caller: Caller, deps: ApiDeps): Promise<ApiResponse> {
  if (!(format in TRANSCRIPT_FORMATS)) throw new HttpError(400, 'INVALID_ARGUMENT', `format must be one of ${Object.keys(TRANSCRIPT_FORMATS).join(', ')}`, { format: ['unknown format'] });
  const doc = await deps.documents.get(documentId);
  if (!doc || (await deps.projects.roleOf(doc.projectId, caller.uid)) === null) throw new HttpError(404, 'NOT_FOUND', 'no such document');
  const job = await deps.jobs.get(doc.jobId);
  if (!job || job.kind !== 'speech.transcribe') throw new HttpError(409, 'NOT_A_RECORDING', `document ${documentId} is not a recording: it has text, not a transcript (GET /v1/documents/${documentId}/text)`);
  const refs = transcriptRefsOf(job);
  const text = textStageOf(job)?.result?.text;
  if (!refs || !text) throw new HttpError(409, 'NOT_READY', `document ${documentId} has no transcript yet (status ${doc.status})`, { status: doc.status, jobId: job.id });
  const name = format as TranscriptFormatName;
  const ref = name === 'txt' ? text : refs[name];
  let body: Buffer;
  try {
    body = await deps.storage.read(ref);
  } catch (err) {
    if (isRetryable(err)) throw err;
    deps.log.error('transcript missing from storage', { documentId, ref, err });
    throw new HttpError(500, 'TRANSCRIPT_UNAVAILABLE', 'the transcript of this document cannot be read; the error was logged');
  }
  return { status: 200, headers: { 'content-type': TRANSCRIPT_FORMATS[name] }, body };
}

/** Default search deps per Firestore client, built on the first search (the module loads then). */
const defaultSearch = new WeakMap<Firestore, Promise<SearchDeps>>();

function searchDeps(deps: ApiDeps): Promise<SearchDeps> {
  if (deps.search) return Promise.resolve(deps.search);
  let built = defaultSearch.get(deps.db);
  if (!built) {
    built = import('../../shared/search/index.js').then((m) => ({
      ...m.createSearchDeps(deps.db),
      onError: (side: string, err: unknown) => deps.log.error('search side failed; answering without it', { side, err }),
    }));
    defaultSearch.set(deps.db, built);
  }
  return built;
}

async function searchRoute(req: ApiRequest, caller: Caller, deps: ApiDeps): Promise<ApiResponse> {
  const parsed = SearchRequestSchema.safeParse(await req.readBody());
  if (!parsed.success) throw invalid('search request', parsed.error);
  const body = parsed.data;
  await requireRole(deps, caller, body.projectId);
  const started = performance.now();
  const [{ search }, sdeps] = await Promise.all([import('../../shared/search/search.js'), searchDeps(deps)]);
  const outcome = await search(
    {
      projectId: body.projectId,
      query: body.query,
      ...(body.limit === undefined ? {} : { limit: body.limit }),
      ...(body.documentId === undefined ? {} : { documentId: body.documentId }),
      ...(body.contentType === undefined ? {} : { contentType: body.contentType }),
    },
    sdeps,
  );
  const took = Math.round(performance.now() - started);
  deps.log.info('search', { projectId: body.projectId, uid: caller.uid, results: outcome.results.length, ms: took, modes: outcome.modes, terms: outcome.terms.length });
  const response: SearchResponse = { results: outcome.results, took: { ms: took }, modes: outcome.modes };
  return json(200, response);
}

async function route(req: ApiRequest, deps: ApiDeps): Promise<ApiResponse> {
  const method = req.method.toUpperCase();
  const path = req.path.replace(/\/+$/, '') || '/';
  if (path === API_ROUTES.health) {
    if (method !== 'GET') throw new HttpError(405, 'METHOD_NOT_ALLOWED', 'use GET');
    return json(200, { status: 'ok', project: deps.config.GOOGLE_CLOUD_PROJECT, bucket: deps.config.SCRIPTORIUM_BUCKET });
  }
  if (!path.startsWith('/v1/')) throw new HttpError(404, 'NOT_FOUND', 'no such route');

  const caller = await deps.verifier.verify(req.headers.authorization);
  // The uid goes into Firestore paths (`members/{uid}`): a token for an unusable uid is refused here.
  if (!isUid(caller.uid)) throw new HttpError(403, 'UNSUPPORTED_PRINCIPAL', 'this account cannot use the API: its user id is not supported');

  if (path === API_ROUTES.createUpload) {
    if (method !== 'POST') throw new HttpError(405, 'METHOD_NOT_ALLOWED', 'use POST');
    return createUpload(req, caller, deps);
  }

  if (path === API_ROUTES.search) {
    if (method !== 'POST') throw new HttpError(405, 'METHOD_NOT_ALLOWED', 'use POST');
    return searchRoute(req, caller, deps);
  }

  if (path === API_ROUTES.reembed) {
    if (method !== 'POST') throw new HttpError(405, 'METHOD_NOT_ALLOWED', 'use POST');
    return reembedRoute(req, caller, deps);
  }

  // Ids are checked before they reach a Firestore path; unknown, malformed and not-yours all read as
  // 404, so ids cannot be probed for existence or for the project they belong to.
  const jobMatch = new RegExp(`^/v1/jobs/(${JOB_ID.source.slice(1, -1)})$`).exec(path);
  if (jobMatch?.[1]) {
    if (method !== 'GET') throw new HttpError(405, 'METHOD_NOT_ALLOWED', 'use GET');
    const job = await deps.jobs.get(jobMatch[1]);
    if (!job || (await deps.projects.roleOf(job.projectId, caller.uid)) === null) throw new HttpError(404, 'NOT_FOUND', 'no such job');
    return json(200, job);
  }

  const transcriptMatch = new RegExp(`^/v1/documents/(${DOCUMENT_ID.source.slice(1, -1)})/transcript$`).exec(path);
  if (transcriptMatch?.[1]) {
    if (method !== 'GET') throw new HttpError(405, 'METHOD_NOT_ALLOWED', 'use GET');
    return transcriptRoute(transcriptMatch[1], req.query?.format ?? 'txt', caller, deps);
  }

  const docMatch = new RegExp(`^/v1/documents/(${DOCUMENT_ID.source.slice(1, -1)})(?:/versions(?:/([1-9][0-9]{0,5}))?)?(/text)?$`).exec(path);
  if (docMatch?.[1]) {
    if (method !== 'GET') throw new HttpError(405, 'METHOD_NOT_ALLOWED', 'use GET');
    const doc = await deps.documents.get(docMatch[1]);
    if (!doc || (await deps.projects.roleOf(doc.projectId, caller.uid)) === null) throw new HttpError(404, 'NOT_FOUND', 'no such document');
    const listing = path.endsWith('/versions');
    const wantsText = docMatch[3] !== undefined;
    if (listing && !wantsText) {
      const versions = await deps.documents.listVersions(doc.id);
      return json(200, { documentId: doc.id, currentVersion: doc.currentVersion, latestVersion: doc.latestVersion, versions });
    }
    if (listing) throw new HttpError(404, 'NOT_FOUND', 'no such route');
    let record: Pick<VersionRecord, 'text' | 'status' | 'jobId'> & { readonly version?: number } = doc;
    if (docMatch[2]) {
      const version = await deps.documents.getVersion(doc.id, Number(docMatch[2]));
      if (!version) throw new HttpError(404, 'NOT_FOUND', `document ${doc.id} has no version ${docMatch[2]}`);
      if (!wantsText) return json(200, version);
      record = version;
    } else if (!wantsText) {
      return json(200, doc);
    }
    if (!record.text) throw new HttpError(409, 'NOT_READY', `document ${doc.id}${docMatch[2] ? ` version ${docMatch[2]}` : ''} has no text yet (status ${record.status})`, { status: record.status, jobId: record.jobId });
    let text: Buffer;
    try {
      text = await deps.storage.read(record.text);
    } catch (err) {
      if (isRetryable(err)) throw err;
      // The record says the text exists and the store says it does not: our fault, not the caller's.
      // Where it was looked for is logged, never returned.
      deps.log.error('extracted text missing from storage', { documentId: doc.id, text: record.text, err });
      throw new HttpError(500, 'TEXT_UNAVAILABLE', 'the extracted text of this document cannot be read; the error was logged');
    }
    return { status: 200, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: text };
  }

  throw new HttpError(404, 'NOT_FOUND', 'no such route');
}

/** Handles one request; never throws (every failure becomes a JSON error response). */
export async function handleApi(req: ApiRequest, deps: ApiDeps): Promise<ApiResponse> {
  try {
    return await route(req, deps);
  } catch (err) {
    if (err instanceof HttpError) {
      if (err.status >= 500) deps.log.error('request failed', { path: req.path, err });
      return errorResponse(err);
    }
    // The details go to the log, not to the caller.
    deps.log.error('unhandled error in api', { path: req.path, err });
    return errorResponse(new HttpError(isRetryable(err) ? 503 : 500, 'INTERNAL', isRetryable(err) ? 'temporarily unavailable, try again' : 'internal error'));
  }
}
