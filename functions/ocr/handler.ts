/**
 * OCR stage: claims an attempt on the job with a lease (stale, duplicate and terminal requests are
 * acknowledged without work), downloads the exact generation, runs the engine page by page with live
 * progress, writes the text (and a per-page summary) as create-only derived objects keyed on the
 * generation, completes job and document in one transaction that only the lease holder may make, and
 * then announces the outcome on `document-events`. Permanent failures fail the job once; transient
 * ones release the lease and are retried until the attempt cap.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseMessage } from '../../shared/events/envelope.js';
import type { Publisher } from '../../shared/events/publisher.js';
import { isOcrContentType, type OcrEngine, type OcrResult } from '../../shared/engines/ocr/types.js';
import { isRetryable, PermanentError, toJobError, TransientError, type JobError } from '../../shared/errors/index.js';
import type { DocumentRepository } from '../../shared/firestore/documents.js';
import type { JobRepository } from '../../shared/firestore/jobs.js';
import { isTerminal, overallProgress, type Job } from '../../shared/jobs/model.js';
import { announceOutcome, failJob } from '../../shared/jobs/outcomes.js';
import type { Logger } from '../../shared/logger/index.js';
import type { StorageGateway } from '../../shared/storage/index.js';
import { derivedPrefix } from '../../shared/storage/names.js';
import { topology } from '../../shared/topology.js';

export interface OcrDeps {
  readonly jobs: JobRepository;
  readonly documents: DocumentRepository;
  readonly storage: StorageGateway;
  readonly publisher: Publisher;
  readonly engine: OcrEngine;
  readonly log: Logger;
  readonly config: { readonly SCRIPTORIUM_MAX_ATTEMPTS: number };
  /** Minimum time between progress writes (each is a Firestore transaction). */
  readonly progressIntervalMs?: number;
  /** How long a claim holds the job; defaults to the OCR subscription's ack deadline. */
  readonly leaseMs?: number;
  readonly now?: () => Date;
}

export type OcrOutcome =
  | { readonly action: 'skipped'; readonly reason: string; readonly jobId: string }
  | { readonly action: 'completed'; readonly jobId: string; readonly pageCount: number }
  | { readonly action: 'failed'; readonly jobId: string; readonly error: JobError }
  | { readonly action: 'cancelled'; readonly jobId: string };

/** A push that runs longer than the ack deadline is redelivered anyway, so the lease never needs to outlive it. */
const DEFAULT_LEASE_MS = (topology.subscriptions.find((s) => s.name === 'ocr-ocr-requests')?.ackDeadlineSeconds ?? 600) * 1000;

class Cancelled extends Error {}

export async function handleOcr(eventData: unknown, deps: OcrDeps): Promise<OcrOutcome> {
  const { data: req, messageId } = parseMessage('ocr-requests', eventData);
  const { jobId } = req;
  const log = deps.log.child({ jobId, documentId: req.documentId });
  const now = deps.now ?? (() => new Date());
  const max = deps.config.SCRIPTORIUM_MAX_ATTEMPTS;
  const attemptId = randomUUID();
  const ours = (job: Job): boolean => job.lease?.id === attemptId;

  // Claim an attempt. The decider sees the job as it is in this transaction.
  const claim = await deps.jobs.update(jobId, (job) => {
    if (job.stage !== 'ocr' || job.input.generation !== req.source.generation) return null;
    const t = now().getTime();
    // Another copy of the request while an attempt is alive: the holder's own message covers it.
    // The same message again means its holder is gone (a redelivery): take over.
    if (job.lease && Date.parse(job.lease.expiresAt) > t && job.lease.messageId !== messageId) return null;
    if (job.cancelRequested) return { status: 'CANCELLED', log: { level: 'INFO', message: 'cancelled before OCR started' }, also: (tx) => deps.documents.updateIn(tx, req.documentId, { status: 'CANCELLED' }) };
    if (job.attempts >= max) {
      const last = job.error ? ` (last error ${job.error.code}: ${job.error.message})` : '';
      return { status: 'FAILED', error: { code: 'ATTEMPTS_EXHAUSTED', message: `OCR failed ${job.attempts} times${last}`, retryable: false }, log: { level: 'ERROR', message: `gave up after ${job.attempts} attempts` }, also: (tx) => deps.documents.updateIn(tx, req.documentId, { status: 'FAILED' }) };
    }
    return {
      attempts: 'increment',
      lease: { id: attemptId, messageId, expiresAt: new Date(t + (deps.leaseMs ?? DEFAULT_LEASE_MS)).toISOString() },
      log: { level: 'INFO', message: `OCR attempt ${job.attempts + 1} of ${max} started` },
    };
  });
  if (!claim.applied) {
    // A terminal job whose announcement was lost gets it now.
    if (isTerminal(claim.job.status)) await announceOutcome(deps, claim.job);
    const busy = claim.job.lease && !isTerminal(claim.job.status) ? ' (another attempt holds it)' : '';
    return { action: 'skipped', reason: `job is ${claim.job.status} at stage ${claim.job.stage}${busy}`, jobId };
  }
  if (isTerminal(claim.job.status)) {
    await announceOutcome(deps, claim.job);
    return claim.job.status === 'CANCELLED' ? { action: 'cancelled', jobId } : { action: 'failed', jobId, error: claim.job.error ?? toJobError(new Error('failed')) };
  }

  const workDir = await mkdtemp(path.join(tmpdir(), 'scriptorium-ocr-'));
  const controller = new AbortController();
  try {
    if (!isOcrContentType(req.contentType)) throw new PermanentError('UNSUPPORTED_CONTENT_TYPE', `${req.contentType} cannot be OCRed`);
    const source = path.join(workDir, 'source');
    await deps.storage.download(req.source, source);

    let lastWrite = 0;
    const interval = deps.progressIntervalMs ?? 750;
    const result: OcrResult = await deps.engine.extract(
      { path: source, contentType: req.contentType },
      {
        signal: controller.signal,
        onProgress: async ({ pagesDone, pageCount }) => {
          const t = performance.now();
          // The last page's progress is written by the completion itself; between pages, at most one write per interval.
          if (pagesDone >= pageCount || t - lastWrite < interval) return;
          lastWrite = t;
          try {
            const out = await deps.jobs.update(jobId, (job) => (job.cancelRequested || !ours(job) ? null : { progress: overallProgress('ocr', pagesDone / pageCount), metrics: { pagesDone, pageCount } }));
            if (!out.applied && (out.job.cancelRequested || !ours(out.job))) controller.abort(new Cancelled(out.job.cancelRequested ? 'cancelled' : 'lease lost'));
          } catch (err) {
            // Progress is informative: a failed progress write must not fail the OCR itself.
            log.warn('progress write failed', { err });
          }
        },
      },
    );

    const prefix = derivedPrefix({ projectId: req.projectId, documentId: req.documentId, sourceGeneration: req.source.generation });
    const text = result.pages.map((p) => p.text).join('\f');
    const textObj = await deps.storage.writeDerived({ bucket: req.source.bucket, object: `${prefix}text.txt`, contentType: 'text/plain; charset=utf-8', body: text, metadata: { jobId } });
    const pagesObj = await deps.storage.writeDerived({
      bucket: req.source.bucket,
      object: `${prefix}pages.json`,
      contentType: 'application/json',
      body: JSON.stringify({ engine: result.engine, language: result.language, pages: result.pages.map(({ text: t, ...rest }) => ({ ...rest, chars: t.length })) }),
      metadata: { jobId },
    });
    const textRef = { bucket: textObj.bucket, object: textObj.object, generation: textObj.generation };
    const methods = { textLayer: result.pages.filter((p) => p.method === 'text-layer').length, ocr: result.pages.filter((p) => p.method === 'ocr').length };
    const done = await deps.jobs.update(jobId, (job) =>
      !ours(job)
        ? null
        : {
            status: 'COMPLETED',
            stage: 'done',
            error: null,
            result: { pageCount: result.pageCount, language: result.language, engine: result.engine, text: textRef, pages: { bucket: pagesObj.bucket, object: pagesObj.object, generation: pagesObj.generation }, pagesByMethod: methods, chars: text.length },
            metrics: { engineMs: Math.round(result.engineMs), pages: result.pageCount, textBytes: Buffer.byteLength(text) },
            log: { level: 'INFO', message: `OCR completed: ${result.pageCount} page(s), language ${result.language}`, fields: methods },
            also: (tx) =>
              deps.documents.updateIn(tx, req.documentId, {
                status: 'READY',
                pageCount: result.pageCount,
                language: result.language,
                text: { bucket: textObj.bucket, object: textObj.object, generation: textObj.generation, size: textObj.size, md5Hash: textObj.md5Hash, crc32c: textObj.crc32c },
              }),
          },
    );
    if (!done.applied) {
      if (isTerminal(done.job.status)) await announceOutcome(deps, done.job);
      return { action: 'skipped', reason: `job became ${done.job.status} (or another attempt took over) while OCR ran`, jobId };
    }
    await announceOutcome(deps, done.job);
    log.info('OCR completed', { pages: result.pageCount, engineMs: Math.round(result.engineMs) });
    return { action: 'completed', jobId, pageCount: result.pageCount };
  } catch (err) {
    if (err instanceof Cancelled || controller.signal.aborted) {
      const out = await deps.jobs.update(jobId, (job) => (ours(job) && job.cancelRequested ? { status: 'CANCELLED', log: { level: 'INFO', message: 'cancelled during OCR' }, also: (tx) => deps.documents.updateIn(tx, req.documentId, { status: 'CANCELLED' }) } : null));
      if (out.applied) await announceOutcome(deps, out.job);
      return out.applied ? { action: 'cancelled', jobId } : { action: 'skipped', reason: 'another attempt took over', jobId };
    }
    const error = toJobError(err);
    const attempts = claim.job.attempts;
    if (!isRetryable(err) || attempts >= max) {
      const final: JobError = isRetryable(err) ? { code: error.code, message: `${error.message} (gave up after ${attempts} attempts)`, retryable: false } : error;
      const out = await failJob(deps, jobId, req.documentId, final, ours);
      if (out.applied) await announceOutcome(deps, out.job);
      log.warn('OCR failed', { error: final });
      return { action: 'failed', jobId, error: final };
    }
    // Transient: note it on the job (still RUNNING), release the lease, and let Pub/Sub redeliver with backoff.
    await deps.jobs.update(jobId, (job) => (ours(job) ? { error, lease: null, log: { level: 'WARNING', message: `attempt ${attempts} failed, will retry: ${error.code}: ${error.message}` } } : null));
    throw err instanceof TransientError ? err : new TransientError(error.code, error.message, err);
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}
