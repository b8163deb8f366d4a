/**
 * Job control: cancelling a job and retrying one that failed or was cancelled.
 *
 * Cancel is a guarded transition. A job nothing is working on (PENDING, or RUNNING with no live
 * attempt: its next stage's request is in flight or lost) becomes CANCELLED at once, with its
 * document; a job an attempt is working on gets `cancelRequested`, which the stage runner checks
 * between steps (progress writes and heartbeats abort the work, then the attempt ends the job
 * CANCELLED; a claim meeting the flag cancels instead of starting). A terminal job never moves
 * again, so nothing a late attempt writes after that is applied.
 *
 * Retry creates a new job (`retryOf` = the old one; the old one keeps its outcome as history and
 * gets `retriedBy`), because a terminal job never moves again (shared/firestore/jobs.ts) and every
 * consumer relies on that. Its id is derived from the old one's, so a repeated call (a double click)
 * finds the retry it made and only re-dispatches it if it was never dispatched. The new job takes
 * the old one's place on its document version (and on the document while that version is current),
 * which is what lets the stages accept it, and starts at its first stage: the text stage (OCR or
 * transcription) for a document, the embedding for a re-embedding, published as ingest or the reaper
 * would.
 */
import { createHash } from 'node:crypto';
import { FieldValue, type Firestore } from '@google-cloud/firestore';
import { HttpError } from '../errors/index.js';
import type { Publisher } from '../events/publisher.js';
import type { DocumentRepository } from '../firestore/documents.js';
import type { JobRepository } from '../firestore/jobs.js';
import type { Logger } from '../logger/index.js';
import { firstStage, firstStageRequest } from '../stages/requests.js';
import { isTerminal, type Job } from './model.js';
import { announceOutcome } from './outcomes.js';

export interface JobControlDeps {
  readonly db: Firestore;
  readonly jobs: JobRepository;
  readonly documents: DocumentRepository;
  readonly publisher: Publisher;
  readonly log: Logger;
}

/** The id of the retry of `jobId` (deterministic: a repeated retry finds the same job). */
export function retryIdOf(jobId: string): string {
  return `job_${createHash('sha256').update(`retry:${jobId}`).digest('hex').slice(0, 20)}`;
}

/** The stage a retry starts with. */
export function retryFirstStage(job: Pick<Job, 'kind'>): string {
  return job.kind === 'document.embed' ? 'embed' : firstStage(job);
}

/** Whether an attempt holds a live lease on one of the job's stages at Firestore time `t`. */
export function hasLiveAttempt(job: Job, t: Date): boolean {
  return Object.values(job.stages).some((s) => s.lease !== null && Date.parse(s.lease.expiresAt) > t.getTime());
}

export type CancelOutcome = { readonly outcome: 'cancelled' | 'requested'; readonly job: Job };

export async function cancelJob(deps: JobControlDeps, job: Job, by: string): Promise<CancelOutcome> {
  const out = await deps.jobs.update(job.id, (j, readTime) => {
    if (isTerminal(j.status)) return null;
    const now = j.status === 'PENDING' || !hasLiveAttempt(j, readTime);
    if (now) {
      return { status: 'CANCELLED', cancelRequested: true, log: { level: 'INFO', message: `cancelled by ${by}` }, also: (tx) => deps.documents.updateForJob(tx, j, { status: 'CANCELLED' }) };
    }
    if (j.cancelRequested) return null;
    return { cancelRequested: true, log: { level: 'INFO', message: `cancel requested by ${by}; the running attempt stops at its next step` } };
  });
  const after = out.job;
  if (after.status === 'CANCELLED') {
    await announceOutcome(deps, after);
    return { outcome: 'cancelled', job: after };
  }
  if (isTerminal(after.status)) throw new HttpError(409, 'JOB_TERMINAL', `job ${job.id} already ended ${after.status}; it cannot be cancelled`);
  return { outcome: 'requested', job: after };
}

export interface RetryOutcome {
  readonly job: Job;
  readonly created: boolean;
}

/** Why a job cannot be retried (409 JOB_NOT_RETRYABLE), or null. */
export function notRetryable(job: Job): string | null {
  if (job.status !== 'FAILED' && job.status !== 'CANCELLED') return `job ${job.id} is ${job.status}: only a FAILED or CANCELLED job can be retried`;
  if (job.documentId === null || job.input.generation === null) return `job ${job.id} never received its file: upload it again`;
  // Ingest's checks (type, checksums, size) decided the job's route; a job that ended before them is re-uploaded instead.
  if (job.kind !== 'document.embed' && job.dispatchedStage === null && Object.keys(job.stages).length === 0) return `job ${job.id} ended before processing began (at ${job.stage}): upload the file again`;
  return null;
}

export async function retryJob(deps: JobControlDeps, old: Job, by: string): Promise<RetryOutcome> {
  const newId = retryIdOf(old.id);
  const first = retryFirstStage(old);
  const created = await deps.db.runTransaction(async (tx): Promise<{ job: Job; created: boolean }> => {
    const existing = await tx.get(deps.jobs.ref(newId));
    if (existing.exists) return { job: deps.jobs.parse(newId, existing.data()), created: false };
    const oldSnap = await tx.get(deps.jobs.ref(old.id));
    if (!oldSnap.exists) throw new HttpError(404, 'NOT_FOUND', 'no such job');
    const current = deps.jobs.parse(old.id, oldSnap.data());
    const why = notRetryable(current);
    if (why) throw new HttpError(409, 'JOB_NOT_RETRYABLE', why);
    const documentId = current.documentId as string;
    const record = await deps.documents.getIn(tx, documentId);
    const version = await deps.documents.getVersionIn(tx, documentId, current.input.version);
    if (!record || !version) throw new HttpError(409, 'JOB_NOT_RETRYABLE', `the document of job ${old.id} no longer exists`);
    // Only the job that owns the document (version) now may hand it on: a later job or version took over otherwise.
    const owns = current.kind === 'document.embed' ? record.activeJobId === current.id && record.text !== null : version.jobId === current.id;
    if (!owns) throw new HttpError(409, 'JOB_SUPERSEDED', `another job has taken over document ${documentId} since job ${old.id}; retry that one`);
    const job: Job = {
      ...current,
      id: newId,
      status: 'RUNNING',
      stage: first,
      progress: 0,
      attempts: 0,
      error: null,
      result: null,
      dispatchedStage: null,
      cancelRequested: false,
      retryOf: current.id,
      metrics: {},
      announced: false,
      stages: {},
      logCount: 1,
    };
    deps.jobs.createIn(
      tx,
      {
        id: newId,
        kind: current.kind,
        projectId: current.projectId,
        documentId,
        ownerUid: current.ownerUid,
        agentId: current.agentId,
        // RUNNING from the start: its first stage is dispatched with its creation (the reaper watches RUNNING jobs).
        status: 'RUNNING',
        stage: first,
        progress: 0,
        attempts: 0,
        error: null,
        input: current.input,
        stages: { [first]: { status: 'PENDING' } },
        dispatchedStage: null,
        result: null,
        cancelRequested: false,
        retryOf: current.id,
        metrics: {},
      },
      { level: 'INFO', message: `retry of ${current.id} (${current.status}${current.error ? ` ${current.error.code}` : ''}) requested by ${by}` },
    );
    const now = FieldValue.serverTimestamp();
    if (current.kind === 'document.embed') {
      deps.documents.updateIn(tx, documentId, { activeJobId: newId });
    } else {
      tx.update(deps.documents.versionRef(documentId, current.input.version), { jobId: newId, status: 'PROCESSING', updatedAt: now });
      const patch: Record<string, unknown> = { updatedAt: now };
      if (current.input.current) Object.assign(patch, { jobId: newId, status: 'PROCESSING' });
      if (record.activeJobId === current.id) patch.activeJobId = newId;
      tx.update(deps.documents.ref(documentId), patch);
    }
    // History: the old job keeps its outcome and says which job retried it (replay follows this).
    tx.update(deps.jobs.ref(current.id), { retriedBy: newId });
    return { job, created: true };
  });
  const job = created.job;
  // Dispatch: a new retry, or one a repeated call finds never dispatched (its publish failed).
  const undispatched = !isTerminal(job.status) && job.dispatchedStage === null && job.stages[first]?.status === 'PENDING' && job.stages[first].lease === null;
  if (created.created || undispatched) await dispatchFirst(deps, job, first);
  deps.log.info('job retried', { jobId: job.id, retryOf: old.id, created: created.created, by });
  return created;
}

async function dispatchFirst(deps: JobControlDeps, job: Job, first: string): Promise<void> {
  const documentId = job.documentId;
  const generation = job.input.generation;
  if (documentId === null || generation === null) return;
  const now = new Date().toISOString();
  try {
    if (first === 'embed') {
      const version = await deps.documents.getVersion(documentId, job.input.version);
      const text = version?.text;
      if (!text) throw new Error('the version has no text to embed');
      await deps.publisher.publish(
        'document-events',
        { type: 'scriptorium.document.text.ready.v1', jobId: job.id, projectId: job.projectId, documentId, generation, text: { bucket: text.bucket, object: text.object, generation: text.generation ?? '' }, pageCount: version.pageCount ?? 0, language: version.language ?? 'und', occurredAt: now },
        { jobId: job.id, retryOf: job.retryOf ?? '' },
      );
    } else {
      const req = firstStageRequest({ ...job, documentId }, generation, now);
      await deps.publisher.publish(req.topic, req.data, { jobId: job.id, retryOf: job.retryOf ?? '' });
    }
  } catch (err) {
    // The job exists and is RUNNING with its stage PENDING: the reaper publishes the request again
    // once it has been quiet for its stale period, and a repeated retry call publishes it at once.
    deps.log.error('retry dispatch failed; the reaper or a repeated retry will publish it', { jobId: job.id, err });
    throw new HttpError(503, 'DISPATCH_FAILED', `job ${job.id} was created but its first stage could not be dispatched yet; call retry again`, { jobId: job.id });
  }
}
