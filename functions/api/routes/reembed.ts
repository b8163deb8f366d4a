/** `POST /v1/reembed`: re-embedding of a project's documents after an embedding model change. */
import { randomBytes } from 'node:crypto';
import { API_ROUTES, ReembedResponseSchema, ReembedRequestSchema, type ReembedResponse } from '../../../shared/api/contracts.js';
import type { Caller } from '../../../shared/auth/index.js';
import { configuredEmbeddingModel } from '../../../shared/engines/embeddings/index.js';
import { HttpError } from '../../../shared/errors/index.js';
import type { DocumentRecord } from '../../../shared/firestore/documents.js';
import { COLLECTIONS } from '../../../shared/firestore/paths.js';
import { isTerminal } from '../../../shared/jobs/model.js';
import { announceOutcome, failJob } from '../../../shared/jobs/outcomes.js';
import { invalid, json, requireRole, UPLOAD_ROLES, type ApiDeps, type ApiRequest, type ApiResponse, type Route } from '../http.js';

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

export const reembedRoutes: readonly Route[] = [
  {
    pattern: new RegExp(`^${API_ROUTES.reembed}$`),
    path: API_ROUTES.reembed,
    docs: { POST: { tag: 'documents', summary: 'Re-embeds READY documents embedded by another model than the configured one (or all, with force)', body: ReembedRequestSchema, response: ReembedResponseSchema, status: 202, example: { projectId: 'demo', documentIds: ['doc_0123456789abcdef0123'] } } },
    methods: { POST: ({ req, caller, deps }) => reembedRoute(req, caller, deps) },
  },
];
