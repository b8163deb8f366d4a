/**
 * Ending a job and announcing how it ended. Every handler that moves a job to a terminal status calls
 * {@link announceOutcome} afterwards, and every handler that meets a terminal job calls it again: the
 * announcement is published and then marked on the job, so one lost publish is repaired by the next
 * delivery that sees the job, and no event ever announces an outcome the job does not have.
 */
import type { DocumentRepository } from '../firestore/documents.js';
import { countedWrite, type JobChange, type JobRepository, type UpdateOutcome } from '../firestore/jobs.js';
import type { Publisher } from '../events/publisher.js';
import type { JobError } from '../errors/index.js';
import { isTerminal, type Job } from './model.js';
import type { UsageCharge } from '../cost/record.js';
import { z } from 'zod';
import { logger } from '../logger/index.js';

export interface OutcomeDeps {
  readonly jobs: JobRepository;
  readonly documents: DocumentRepository;
  readonly publisher: Publisher;
}

const GRPC_NOT_FOUND = 5;

/**
 * Fails a job (and its document) unless it is already terminal or `guard` declines; with `stage`, that
 * stage fails too (the job then says which stage failed and why). A missing document record must not
 * keep the job RUNNING: then the job is failed alone.
 */
export async function failJob(
  deps: Pick<OutcomeDeps, 'jobs' | 'documents'>,
  jobId: string,
  documentId: string | null,
  error: JobError,
  guard: (job: Job, readTime: Date) => boolean = () => true,
  stage?: string,
  /** The failing attempt's usage (shared/cost), recorded with the failure. */
  usage?: () => UsageCharge,
): Promise<UpdateOutcome> {
  const change = (): JobChange => ({
    status: 'FAILED',
    error,
    ...(stage ? { stage, stages: [{ name: stage, status: 'FAILED', error }] } : {}),
    log: { level: 'ERROR', message: `${stage ? `${stage}: ` : ''}${error.code}: ${error.message}` },
    ...(usage ? { usage: usage() } : {}),
  });
  try {
    // The job's own version fails (and the document with it only while that version is current).
    return await deps.jobs.update(jobId, (job, readTime) => (guard(job, readTime) ? { ...change(), ...(documentId ? { also: (tx) => deps.documents.updateForJob(tx, job, { status: 'FAILED' }) } : {}) } : null));
  } catch (err) {
    if (!isDocumentGone(err) || !documentId) throw err;
    return deps.jobs.update(jobId, (job, readTime) => (guard(job, readTime) ? change() : null));
  }
}

/** A transaction that also updates the document record failed because that record no longer exists. */
export function isDocumentGone(err: unknown): boolean {
  return typeof err === 'object' && err !== null && 'code' in err && err.code === GRPC_NOT_FOUND;
}

/** The error a job fails with when its document record has disappeared under it. */
export const DOCUMENT_MISSING: JobError = { code: 'DOCUMENT_MISSING', message: 'the document record was deleted while the job ran', retryable: false };

const CompletedResultSchema = z.object({
  pageCount: z.number().int(),
  language: z.string(),
  text: z.object({ bucket: z.string(), object: z.string(), generation: z.string() }),
  chunkCount: z.number().int().default(0),
});

/** Publishes a terminal job's outcome on `document-events` once (at least once), then marks it announced. */
export async function announceOutcome(deps: OutcomeDeps, job: Job): Promise<boolean> {
  if (!isTerminal(job.status) || job.announced) return false;
  const occurredAt = job.finishedAt ?? new Date().toISOString();
  // A re-embedding (`document.embed`) changes no document's outcome: nothing to tell the pipeline.
  if (job.kind !== 'document.process') {
    // marked below, not published
  } else if (job.documentId && job.status === 'COMPLETED') {
    const result = CompletedResultSchema.parse(job.result);
    await deps.publisher.publish('document-events', { type: 'scriptorium.document.ready.v1', jobId: job.id, projectId: job.projectId, documentId: job.documentId, text: result.text, pageCount: result.pageCount, language: result.language, chunkCount: result.chunkCount, occurredAt }, { jobId: job.id });
  } else if (job.documentId && job.status === 'FAILED') {
    const error = job.error ?? { code: 'UNKNOWN', message: 'failed without a recorded error', retryable: false };
    await deps.publisher.publish('document-events', { type: 'scriptorium.document.failed.v1', jobId: job.id, projectId: job.projectId, documentId: job.documentId, error, occurredAt }, { jobId: job.id });
  }
  // CANCELLED has no event type yet (cancellation arrives with its own issue): marked, not published.
  await deps.jobs.ref(job.id).update({ announced: true, 'metrics.firestoreWrites': countedWrite() });
  // Once per job (its announcement): the log-based failure-rate metrics count these (terraform/alerts.tf).
  logger.info('job ended', { jobEnded: true, jobId: job.id, kind: job.kind, projectId: job.projectId, status: job.status, errorCode: job.error?.code ?? null });
  return true;
}
