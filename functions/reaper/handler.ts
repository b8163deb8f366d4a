/**
 * The stale-job reaper: run every minute (Cloud Scheduler in production, a timer on the local
 * platform). It finds jobs nobody is moving (see shared/jobs/reaper.ts for the rules), and for each
 * one decides again inside a guarded transaction on the job as it then is, logs the decision on the
 * job, and acts: fails an expired upload, publishes a stage's request again, or announces an outcome.
 * Safe to run twice at once and at any moment: each decision applies at most once per stale period,
 * and a live (heartbeating) lease is never touched.
 */
import { Timestamp, type Firestore } from '@google-cloud/firestore';
import type { DocumentRepository } from '../../shared/firestore/documents.js';
import type { JobRepository } from '../../shared/firestore/jobs.js';
import type { Publisher } from '../../shared/events/publisher.js';
import type { DocumentEvent } from '../../shared/events/contracts.js';
import { firstStage, firstStageRequest, synthesizeRequest, type FirstStageRequest } from '../../shared/stages/requests.js';
import { textReadyEvent, textStageOf } from '../../shared/stages/text-ready.js';
import { translationReadyEvent, translationRefsOf } from '../../shared/stages/translation-ready.js';
import { COLLECTIONS } from '../../shared/firestore/paths.js';
import { announceOutcome, failJob } from '../../shared/jobs/outcomes.js';
import { DEFAULT_REAPER_SETTINGS, reaperDecision, uploadCheckDecision, type ReaperSettings, type StoredUpload } from '../../shared/jobs/reaper.js';
import type { StorageGateway } from '../../shared/storage/index.js';
import { countedWrite } from '../../shared/firestore/jobs.js';
import type { GcsObject } from '../../shared/events/contracts.js';
import type { Job } from '../../shared/jobs/model.js';
import type { Logger } from '../../shared/logger/index.js';

export interface ReaperDeps {
  readonly db: Firestore;
  readonly jobs: JobRepository;
  readonly documents: DocumentRepository;
  readonly publisher: Publisher;
  /** Looks for the upload of a job still PENDING (its notification may have been lost). */
  readonly storage: Pick<StorageGateway, 'objectResource'>;
  readonly log: Logger;
  readonly settings?: ReaperSettings;
  /** Jobs examined per query and run (the next run takes the rest). */
  readonly limit?: number;
  /** Only this project's jobs (an operator's targeted run, the tests); default every project. */
  readonly projectId?: string;
  readonly now?: () => Date;
}

export interface ReaperReport {
  readonly examined: number;
  readonly expired: number;
  readonly redispatched: number;
  readonly announced: number;
  /** Stored uploads whose notification was published again. */
  readonly reingested: number;
  readonly failures: number;
}

const UPLOAD_EXPIRED = { code: 'UPLOAD_EXPIRED', message: 'no file was uploaded before the signed upload URL expired', retryable: false } as const;
const UPLOAD_NOT_INGESTED = { code: 'UPLOAD_NOT_INGESTED', message: 'the file was uploaded but could not be taken for processing', retryable: false } as const;

type StageRequestMessage = FirstStageRequest | ReturnType<typeof synthesizeRequest> | { topic: 'document-events'; data: DocumentEvent };

/** The requests that restart `stages` of `job` (one text-ready event serves every stage that starts from it). */
async function requestsFor(job: Job, stages: readonly string[], deps: ReaperDeps): Promise<StageRequestMessage[]> {
  const out: StageRequestMessage[] = [];
  const documentId = job.documentId;
  const generation = job.input.generation;
  // A text-to-speech job has no document: its one stage restarts from its stored request.
  if (job.kind === 'speech.synthesize') return generation !== null && stages.includes('synthesize') ? [synthesizeRequest(job, generation, (deps.now?.() ?? new Date()).toISOString())] : [];
  if (!documentId || generation === null) return out;
  const now = (deps.now?.() ?? new Date()).toISOString();
  if (stages.includes(firstStage(job))) out.push(firstStageRequest({ ...job, documentId }, generation, now));
  // A translation's dub stage starts from the translation-ready event (its translate stage's result).
  if (stages.includes('dub') && translationRefsOf(job)) out.push({ topic: 'document-events', data: translationReadyEvent(job, now) });
  if (!stages.some((s) => s !== 'ocr' && s !== 'transcribe' && s !== 'dub')) return out;
  // The stages after the text read it from the text stage's result, or (a re-embedding) the version's.
  if (textStageOf(job)?.result) {
    out.push({ topic: 'document-events', data: textReadyEvent(job, now) });
    return out;
  }
  const version = await deps.documents.getVersion(documentId, job.input.version);
  if (version?.text) {
    const text = { bucket: version.text.bucket, object: version.text.object, generation: version.text.generation ?? '' };
    out.push({ topic: 'document-events', data: { type: 'scriptorium.document.text.ready.v1', jobId: job.id, projectId: job.projectId, documentId, generation, text, pageCount: version.pageCount ?? 0, language: version.language ?? 'und', occurredAt: now } });
  }
  return out;
}

export async function handleReap(deps: ReaperDeps): Promise<ReaperReport> {
  const settings = deps.settings ?? DEFAULT_REAPER_SETTINGS;
  const limit = deps.limit ?? 200;
  const now = deps.now?.() ?? new Date();
  const col = deps.db.collection(COLLECTIONS.jobs);
  // Four narrow queries (each served by a composite index in production; see terraform/firestore.tf):
  // running jobs nobody has written for a while (a live attempt writes at least every 30 s), uploads
  // awaited past their URL's expiry, uploads whose look in the bucket is due (oldest first, so a
  // pile of abandoned uploads cannot starve the rest: each look moves its job's next one later),
  // and ended jobs never announced.
  const quiet = Timestamp.fromMillis(now.getTime() - Math.min(settings.staleMs, 60_000));
  const [running, pending, due, unannounced] = await Promise.all([
    col.where('status', '==', 'RUNNING').where('updatedAt', '<', quiet).orderBy('updatedAt').limit(limit).get(),
    col.where('status', '==', 'PENDING').where('input.uploadExpiresAt', '<', new Date(now.getTime() - settings.uploadGraceMs).toISOString()).limit(limit).get(),
    col.where('status', '==', 'PENDING').where('input.uploadCheckAt', '<=', now.toISOString()).orderBy('input.uploadCheckAt').limit(limit).get(),
    col.where('announced', '==', false).where('finishedAt', '<', Timestamp.fromMillis(now.getTime() - settings.announceAfterMs)).limit(limit).get(),
  ]);
  const ids = [...new Set([...running.docs, ...pending.docs, ...due.docs, ...unannounced.docs].filter((d) => deps.projectId === undefined || d.get('projectId') === deps.projectId).map((d) => d.id))];
  let expired = 0;
  let redispatched = 0;
  let announced = 0;
  let reingested = 0;
  let failures = 0;
  for (const id of ids) {
    try {
      const action = await reapOne(id, deps, settings);
      if (action === 'expire-upload') expired++;
      else if (action === 'redispatch') redispatched++;
      else if (action === 'announce') announced++;
      else if (action === 'reingest') reingested++;
    } catch (err) {
      // One job's failure must not stop the others; the next run tries it again.
      failures++;
      deps.log.error('reaper: could not handle a job', { jobId: id, err });
    }
  }
  const report = { examined: ids.length, expired, redispatched, announced, reingested, failures };
  if (expired + redispatched + announced + reingested + failures > 0) deps.log.warn('reaper acted', { reaper: true, ...report });
  await reportOldJobs(deps, now);
  return report;
}

/** Jobs still RUNNING this long after their creation are worth a look (terraform/alerts.tf alerts on the log line). */
export const OLD_JOB_MS = 60 * 60_000;

/**
 * One structured line per run while any job has been RUNNING for over {@link OLD_JOB_MS} (a count
 * aggregation: one index read per 1000 jobs, served by jobs_by_status_created in production). Only
 * informative: a failure is logged, never fails the run.
 */
async function reportOldJobs(deps: ReaperDeps, now: Date): Promise<void> {
  try {
    const before = Timestamp.fromMillis(now.getTime() - OLD_JOB_MS);
    let q = deps.db.collection(COLLECTIONS.jobs).where('status', '==', 'RUNNING').where('createdAt', '<', before);
    if (deps.projectId !== undefined) q = q.where('projectId', '==', deps.projectId);
    const n = (await q.count().get()).data().count;
    if (n > 0) deps.log.warn('jobs running longer than the threshold', { oldJobs: n, thresholdMinutes: OLD_JOB_MS / 60_000 });
  } catch (err) {
    deps.log.warn('reaper: could not count old jobs', { err });
  }
}

async function reapOne(jobId: string, deps: ReaperDeps, settings: ReaperSettings): Promise<string> {
  const current = await deps.jobs.get(jobId);
  if (!current) return 'none';
  const first = reaperDecision(current, deps.now?.() ?? new Date(), settings);
  switch (first.action) {
    case 'none':
      return 'none';
    case 'announce': {
      const done = await announceOutcome(deps, current);
      if (done) deps.log.warn('reaper announced a terminal job', { jobId, why: first.why });
      return done ? 'announce' : 'none';
    }
    case 'check-upload':
      return checkUpload(current, deps, settings);
    case 'redispatch': {
      // A holder, not a variable: it is filled inside the transaction's callback.
      const decided: { value: { stages: readonly string[]; why: string } | null } = { value: null };
      const out = await deps.jobs.update(jobId, (job, readTime) => {
        const d = reaperDecision(job, readTime, settings);
        if (d.action !== 'redispatch') return null;
        decided.value = { stages: d.stages, why: d.why };
        return { stages: d.stages.map((name) => ({ name, lease: null, reaped: true as const })), log: { level: 'WARNING', message: `reaper: ${d.why}; request published again` } };
      });
      const chosen = decided.value;
      if (!out.applied || !chosen) return 'none';
      try {
        for (const r of await requestsFor(out.job, chosen.stages, deps)) await deps.publisher.publish(r.topic, r.data, { jobId, reaper: 'true' });
      } catch (err) {
        // Not published: the next run may try again at once instead of after the stale period.
        await deps.jobs.ref(jobId).update(Object.fromEntries(chosen.stages.map((n) => [`stages.${n}.reapedAt`, null])));
        throw err;
      }
      deps.log.warn('reaper re-dispatched a stuck job', { jobId, stages: chosen.stages, why: chosen.why });
      return 'redispatch';
    }
  }
}

/** The attributes Cloud Storage sets on an OBJECT_FINALIZE notification of `object` (as ingest checks them). */
function finalizeAttributes(object: GcsObject): Record<string, string> {
  return { eventType: 'OBJECT_FINALIZE', bucketId: object.bucket, objectId: object.name, objectGeneration: object.generation, payloadFormat: 'JSON_API_V1', reaper: 'true' };
}

/**
 * A PENDING job whose look in the bucket is due, or whose URL expired: the upload is looked for,
 * then (uploadCheckDecision) its notification is published again, the job failed, or the next look
 * scheduled. Every change to the job is made in a transaction that decides again on the job as it
 * then is, so ingest taking the upload meanwhile, or a second reaper, changes nothing.
 */
async function checkUpload(job: Job, deps: ReaperDeps, settings: ReaperSettings): Promise<string> {
  const object = await deps.storage.objectResource({ bucket: job.input.bucket, object: job.input.object });
  const stored: StoredUpload | null = object ? { generation: object.generation, timeCreated: object.timeCreated } : null;
  // The same verdict at the transaction's read time, for the job as it then is.
  const verdict = (j: Job, readTime: Date) => (reaperDecision(j, readTime, settings).action === 'check-upload' ? uploadCheckDecision(j, stored, readTime, settings) : null);
  const first = uploadCheckDecision(job, stored, deps.now?.() ?? new Date(), settings);
  switch (first.action) {
    case 'wait':
      // Not a decision about the job: only when to look again. A plain field write (no log entry, and
      // updatedAt untouched: it tells whether ingest ever wrote to the job).
      await deps.jobs.ref(job.id).update({ 'input.uploadCheckAt': first.nextCheckAt, 'metrics.firestoreWrites': countedWrite() });
      return 'none';
    case 'expire-upload':
    case 'give-up': {
      const error = first.action === 'expire-upload' ? UPLOAD_EXPIRED : UPLOAD_NOT_INGESTED;
      const out = await failJob(deps, job.id, job.documentId, { ...error, message: `${error.message} (reaper: ${first.why})` }, (j, readTime) => verdict(j, readTime)?.action === first.action);
      if (out.applied) await announceOutcome(deps, out.job);
      return out.applied ? 'expire-upload' : 'none';
    }
    case 'reingest': {
      if (!object) return 'none';
      const out = await deps.jobs.update(job.id, (j, readTime) => {
        const d = verdict(j, readTime);
        if (d?.action !== 'reingest') return null;
        return {
          input: { uploadCheckAt: new Date(readTime.getTime() + settings.staleMs).toISOString(), uploadReingests: j.input.uploadReingests + 1 },
          log: { level: 'WARNING', message: `reaper: ${d.why}; its notification published again` },
        };
      });
      if (!out.applied) return 'none';
      try {
        // The same message Cloud Storage publishes (JSON_API_V1): ingest takes it as a redelivery would.
        await deps.publisher.publish('object-events', object, finalizeAttributes(object));
      } catch (err) {
        // Not published: look again at the next run instead of after the stale period.
        await deps.jobs.ref(job.id).update({ 'input.uploadCheckAt': new Date().toISOString() });
        throw err;
      }
      deps.log.warn('reaper published a lost upload notification again', { jobId: job.id, object: `${object.bucket}/${object.name}#${object.generation}`, why: first.why });
      return 'reingest';
    }
  }
}
