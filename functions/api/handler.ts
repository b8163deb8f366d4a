/**
 * The HTTP API. Framework-free: `handleApi(request, deps)` takes a plain request and returns a plain
 * response, so it is tested without functions-framework; `index.ts` adapts Express to it.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Firestore } from '@google-cloud/firestore';
import { z } from 'zod';
import { API_ROUTES, CreateUploadRequestSchema, SearchRequestSchema, type CreateUploadResponse, type SearchResponse } from '../../shared/api/contracts.js';
import type { TokenVerifier, Caller } from '../../shared/auth/index.js';
import type { Config } from '../../shared/config/index.js';
import { HttpError, isRetryable } from '../../shared/errors/index.js';
import { DOCUMENT_ID, isUid, JOB_ID } from '../../shared/ids.js';
import type { DocumentRepository } from '../../shared/firestore/documents.js';
import type { JobRepository } from '../../shared/firestore/jobs.js';
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
}

export interface ApiResponse {
  readonly status: number;
  readonly headers?: Record<string, string>;
  /** JSON-serialisable, or a Buffer/string sent as is with the given content type. */
  readonly body: unknown;
}

export interface ApiDeps {
  readonly config: Pick<Config, 'GOOGLE_CLOUD_PROJECT' | 'SCRIPTORIUM_BUCKET' | 'SCRIPTORIUM_MAX_UPLOAD_BYTES' | 'SCRIPTORIUM_SIGNED_URL_TTL_SECONDS'>;
  readonly verifier: TokenVerifier;
  readonly db: Firestore;
  readonly projects: ProjectRepository;
  readonly documents: DocumentRepository;
  readonly jobs: JobRepository;
  readonly storage: StorageGateway;
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

async function createUpload(req: ApiRequest, caller: Caller, deps: ApiDeps): Promise<ApiResponse> {
  const parsed = CreateUploadRequestSchema.safeParse(await req.readBody());
  if (!parsed.success) {
    const flat = z.flattenError(parsed.error);
    // Field errors by field; errors of the request as a whole (not an object, unknown fields) under `_request`.
    throw new HttpError(400, 'INVALID_ARGUMENT', 'invalid upload request', flat.formErrors.length > 0 ? { ...flat.fieldErrors, _request: flat.formErrors } : flat.fieldErrors);
  }
  const body = parsed.data;
  const max = deps.config.SCRIPTORIUM_MAX_UPLOAD_BYTES;
  if (body.size > max) throw new HttpError(413, 'UPLOAD_TOO_LARGE', `declared size ${body.size} bytes exceeds the limit of ${max} bytes`, { limit: max });
  await requireRole(deps, caller, body.projectId, UPLOAD_ROLES);

  const documentId = newDocumentId(body.clientRequestId ? { uid: caller.uid, projectId: body.projectId, clientRequestId: body.clientRequestId } : undefined);
  const jobId = jobIdFor(documentId);
  const bucket = deps.config.SCRIPTORIUM_BUCKET;
  const object = uploadObjectName(body.projectId, documentId, body.fileName);

  const now = deps.now?.() ?? new Date();
  const uploadExpiresAt = new Date(now.getTime() + deps.config.SCRIPTORIUM_SIGNED_URL_TTL_SECONDS * 1000).toISOString();
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
    deps.jobs.createIn(
      tx,
      {
        id: jobId,
        kind: 'document.process',
        projectId: body.projectId,
        documentId,
        ownerUid: caller.uid,
        agentId: null,
        status: 'PENDING',
        stage: 'upload',
        progress: 0,
        attempts: 0,
        error: null,
        input: {
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
        },
        dispatchedStage: null,
        result: null,
        cancelRequested: false,
        retryOf: null,
        metrics: {},
      },
      { level: 'INFO', message: `waiting for upload of ${body.fileName} (${body.size} bytes, ${body.contentType})` },
    );
    return null;
  });

  if (existing) {
    // A retried request: the same upload, if it is still the same request and still open.
    const same = existing.ownerUid === caller.uid && existing.fileName === body.fileName && existing.contentType === body.contentType && existing.declaredSize === body.size;
    if (!same) throw new HttpError(409, 'IDEMPOTENCY_CONFLICT', 'clientRequestId was already used for a different upload');
    if (existing.status !== 'AWAITING_UPLOAD') throw new HttpError(409, 'ALREADY_UPLOADED', `document ${documentId} was already uploaded`, { documentId, jobId: existing.jobId });
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
  deps.log.info('upload created', { documentId, jobId, projectId: body.projectId, uid: caller.uid, size: body.size, contentType: body.contentType });
  const response: CreateUploadResponse = {
    documentId,
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
  if (!parsed.success) {
    const flat = z.flattenError(parsed.error);
    throw new HttpError(400, 'INVALID_ARGUMENT', 'invalid search request', flat.formErrors.length > 0 ? { ...flat.fieldErrors, _request: flat.formErrors } : flat.fieldErrors);
  }
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

  // Ids are checked before they reach a Firestore path; unknown, malformed and not-yours all read as
  // 404, so ids cannot be probed for existence or for the project they belong to.
  const jobMatch = new RegExp(`^/v1/jobs/(${JOB_ID.source.slice(1, -1)})$`).exec(path);
  if (jobMatch?.[1]) {
    if (method !== 'GET') throw new HttpError(405, 'METHOD_NOT_ALLOWED', 'use GET');
    const job = await deps.jobs.get(jobMatch[1]);
    if (!job || (await deps.projects.roleOf(job.projectId, caller.uid)) === null) throw new HttpError(404, 'NOT_FOUND', 'no such job');
    return json(200, job);
  }

  const docMatch = new RegExp(`^/v1/documents/(${DOCUMENT_ID.source.slice(1, -1)})(/text)?$`).exec(path);
  if (docMatch?.[1]) {
    if (method !== 'GET') throw new HttpError(405, 'METHOD_NOT_ALLOWED', 'use GET');
    const doc = await deps.documents.get(docMatch[1]);
    if (!doc || (await deps.projects.roleOf(doc.projectId, caller.uid)) === null) throw new HttpError(404, 'NOT_FOUND', 'no such document');
    if (!docMatch[2]) return json(200, doc);
    if (!doc.text) throw new HttpError(409, 'NOT_READY', `document ${doc.id} has no text yet (status ${doc.status})`, { status: doc.status, jobId: doc.jobId });
    let text: Buffer;
    try {
      text = await deps.storage.read(doc.text);
    } catch (err) {
      if (isRetryable(err)) throw err;
      // The record says the text exists and the store says it does not: our fault, not the caller's.
      // Where it was looked for is logged, never returned.
      deps.log.error('extracted text missing from storage', { documentId: doc.id, text: doc.text, err });
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
