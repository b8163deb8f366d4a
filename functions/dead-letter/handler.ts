/**
 * Dead-letter handler: a message Pub/Sub gave up on (after the subscription's maxDeliveryAttempts)
 * must not leave its job RUNNING forever. It finds the job the message was about and fails it with
 * DEAD_LETTERED; the message itself stays in the `dead-letter-archive` subscription, and is recorded
 * in `deadLetters/{messageId}` (shared/dead-letters/records.ts) with its source, job, reason and
 * original payload, which is what `GET /v1/dead-letters` lists and replay republishes.
 * Locally our own attempt cap usually fails the job first; in production both guard it.
 */
import { decodeEnvelope } from '../../shared/events/envelope.js';
import { DocumentEventV1, GcsObjectSchema, OcrRequestedV1, TranscribeRequestedV1 } from '../../shared/events/contracts.js';
import { TransientError, type JobError } from '../../shared/errors/index.js';
import type { DocumentRepository } from '../../shared/firestore/documents.js';
import type { JobRepository } from '../../shared/firestore/jobs.js';
import type { Publisher } from '../../shared/events/publisher.js';
import { isStageTerminal, isTerminal, type Job } from '../../shared/jobs/model.js';
import { DEFAULT_REAPER_SETTINGS } from '../../shared/jobs/reaper.js';
import { announceOutcome, failJob } from '../../shared/jobs/outcomes.js';
import type { Logger } from '../../shared/logger/index.js';
import type { Firestore } from '@google-cloud/firestore';
import { DeadLetterRepository, eventTypeOf, MAX_RECORDED_PAYLOAD, originalAttributes, sourceOf } from '../../shared/dead-letters/records.js';
import { parseUploadObjectName } from '../../shared/storage/names.js';

export interface DeadLetterDeps {
  readonly db: Firestore;
  readonly jobs: JobRepository;
  readonly documents: DocumentRepository;
  readonly publisher: Publisher;
  readonly log: Logger;
  /** The stage attempt cap (SCRIPTORIUM_MAX_ATTEMPTS); default 5. */
  readonly config?: { readonly SCRIPTORIUM_MAX_ATTEMPTS: number };
}

export type DeadLetterOutcome = { readonly action: 'failed-job'; readonly jobId: string } | { readonly action: 'recorded'; readonly reason: string };

/**
 * The job a dead-lettered message concerns, from any contract we publish or receive. What is failed
 * comes from the records: the message must describe its job (same document, project and source
 * object) or it concerns no job, so a forged message cannot fail someone else's job or document.
 */
async function jobOf(json: unknown, deps: DeadLetterDeps): Promise<{ jobId: string; documentId: string | null; projectId: string; stage?: string; failsJob: boolean } | null> {
  const ocr = OcrRequestedV1.safeParse(json);
  if (ocr.success) {
    const req = ocr.data;
    const job = await deps.jobs.get(req.jobId);
    const describes = job && job.documentId === req.documentId && job.projectId === req.projectId && job.input.bucket === req.source.bucket && job.input.object === req.source.object;
    return describes ? { jobId: job.id, documentId: job.documentId, projectId: job.projectId, stage: 'ocr', failsJob: true } : null;
  }
  const transcribe = TranscribeRequestedV1.safeParse(json);
  if (transcribe.success) {
    const req = transcribe.data;
    const job = await deps.jobs.get(req.jobId);
    const describes = job && job.documentId === req.documentId && job.projectId === req.projectId && job.input.bucket === req.source.bucket && job.input.object === req.source.object;
    return describes ? { jobId: job.id, documentId: job.documentId, projectId: job.projectId, stage: 'transcribe', failsJob: true } : null;
  }
  const event = DocumentEventV1.safeParse(json);
  if (event.success) {
    // A later stage's event (text ready for embed/summarize): recorded with its job, which is not
    // failed here (the stage stays PENDING and the reaper publishes it again; replay can too).
    const job = await deps.jobs.get(event.data.jobId);
    const describes = job && job.documentId === event.data.documentId && job.projectId === event.data.projectId;
    return describes ? { jobId: job.id, documentId: job.documentId, projectId: job.projectId, failsJob: false } : null;
  }
  const obj = GcsObjectSchema.safeParse(json);
  if (obj.success) {
    const ids = parseUploadObjectName(obj.data.name);
    if (!ids) return null;
    const version = await deps.documents.getVersion(ids.documentId, ids.version);
    const describes = version && version.projectId === ids.projectId && version.source.bucket === obj.data.bucket && version.source.object === obj.data.name;
    return describes ? { jobId: version.jobId, documentId: ids.documentId, projectId: ids.projectId, failsJob: true } : null;
  }
  return null;
}

export async function handleDeadLetter(eventData: unknown, deps: DeadLetterDeps): Promise<DeadLetterOutcome> {
  const { json, attributes, messageId, publishTime } = decodeEnvelope(eventData);
  // Pub/Sub sets this on every message it dead-letters; one without it was published to the topic
  // directly, and failing a job on its word would let any publisher end any job.
  if (attributes.CloudPubSubDeadLetterSourceSubscription === undefined) {
    deps.log.error('message on the dead-letter topic that Pub/Sub did not dead-letter: ignored', { messageId });
    return { action: 'recorded', reason: 'not dead-lettered by Pub/Sub' };
  }
  const source = attributes.CloudPubSubDeadLetterSourceSubscription;
  const attempts = attributes.CloudPubSubDeadLetterSourceDeliveryCount ?? '?';
  const target = await jobOf(json, deps);
  const records = new DeadLetterRepository(deps.db);
  const { subscription, topic } = sourceOf(source);
  const eventType = eventTypeOf(json, attributes);
  const count = Number(attributes.CloudPubSubDeadLetterSourceDeliveryCount);
  /** The durable record (listing, replay) and the one structured log line alerts count (terraform/alerts.tf). */
  const record = async (reason: { code: string; message: string }, action: string): Promise<void> => {
    const data = eventData as { message?: { data?: unknown } };
    const raw = typeof data.message?.data === 'string' ? data.message.data : '';
    if (messageId !== '') {
      await records.record({
        id: messageId,
        sourceSubscription: source,
        subscription,
        topic,
        projectId: target?.projectId ?? null,
        jobId: target?.jobId ?? null,
        documentId: target?.documentId ?? null,
        eventType,
        deliveryAttempts: Number.isInteger(count) ? count : null,
        publishedAt: attributes.CloudPubSubDeadLetterSourceTopicPublishTime ?? publishTime ?? null,
        reason,
        action,
        data: raw.length <= MAX_RECORDED_PAYLOAD ? raw : null,
        attributes: originalAttributes(attributes),
      });
    }
    deps.log.error('dead-lettered message', { deadLetter: true, messageId, source, subscription, topic, eventType, jobId: target?.jobId ?? null, projectId: target?.projectId ?? null, attempts, reason: reason.code, action });
  };
  if (!target) {
    await record({ code: 'NO_JOB', message: 'the message concerns no known job' }, 'recorded');
    return { action: 'recorded', reason: 'no job' };
  }
  if (!target.failsJob) {
    const job = await deps.jobs.get(target.jobId);
    await record({ code: 'DELIVERY_FAILED', message: `delivery failed ${attempts} times on ${source}${job?.error ? ` (job error ${job.error.code}: ${job.error.message})` : ''}` }, 'recorded');
    return { action: 'recorded', reason: `job is ${job?.status ?? 'gone'}` };
  }
  const error: JobError = { code: 'DEAD_LETTERED', message: `delivery failed ${attempts} times on ${source}; the message is kept for replay`, retryable: false };
  // An attempt whose lease is live may still be working (or may be the one that just died): wait for
  // the lease to end, by Firestore's clock, and decide then. The retry keeps this message alive.
  const liveLease = (job: Job, readTime: Date) => Object.values(job.stages).find((s) => s.lease && Date.parse(s.lease.expiresAt) > readTime.getTime())?.lease ?? null;
  // A stage whose attempt died holding it (its lease lapsed) or that the reaper has just re-dispatched
  // still has attempts left: the message died nacked behind that attempt's lease (ATTEMPT_IN_PROGRESS),
  // not by failing. The reaper publishes its request again (at once for a lapsed lease), so failing
  // the job here would end a job that can still complete (a function killed mid-OCR did exactly that).
  // Bounded: a lapsed lease means a counted attempt, and the attempt cap ends the job in the stage.
  const max = deps.config?.SCRIPTORIUM_MAX_ATTEMPTS ?? 5;
  const reaperOwns = (job: Job, readTime: Date): boolean => {
    const st = target.stage ? job.stages[target.stage] : undefined;
    if (!st || isStageTerminal(st.status) || st.attempts >= max) return false;
    const t = readTime.getTime();
    const lapsed = st.lease !== null && Date.parse(st.lease.expiresAt) <= t;
    const reaped = st.reapedAt !== null && t - Date.parse(st.reapedAt) < DEFAULT_REAPER_SETTINGS.staleMs;
    return lapsed || reaped;
  };
  let leftToReaper = false;
  const out = await failJob(deps, target.jobId, target.documentId, error, (job, readTime) => {
    leftToReaper = liveLease(job, readTime) === null && reaperOwns(job, readTime);
    return liveLease(job, readTime) === null && !leftToReaper;
  }, target.stage);
  if (!out.applied && leftToReaper && !isTerminal(out.job.status)) {
    deps.log.warn('dead-lettered request of a stage whose attempt died: left to the reaper, which re-dispatches it', { messageId, source, jobId: target.jobId, stage: target.stage });
    return { action: 'recorded', reason: `${target.stage ?? 'stage'} left to the reaper (attempt died holding it)` };
  }
  if (!out.applied && !isTerminal(out.job.status)) {
    const until = liveLease(out.job, new Date(0))?.expiresAt ?? '?';
    throw new TransientError('ATTEMPT_IN_PROGRESS', `job ${target.jobId} is held by a live attempt until ${until}; retrying after it ends`);
  }
  await announceOutcome(deps, out.job);
  // The reason is the job's error: ours when this failed it, the one it had already ended with otherwise.
  const reason = out.applied ? error : (out.job.error ?? { code: `JOB_${out.job.status}`, message: `the job had already ended ${out.job.status}` });
  await record({ code: reason.code, message: reason.message }, out.applied ? 'failed-job' : 'recorded');
  return out.applied ? { action: 'failed-job', jobId: target.jobId } : { action: 'recorded', reason: `job already ${out.job.status}` };
}
