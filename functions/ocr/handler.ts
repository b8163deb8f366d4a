/**
 * OCR stage: claims an attempt on the job (guarded: stale, duplicate or terminal requests are
 * acknowledged without work), downloads the exact generation, runs the engine page by page with live
 * progress, writes the text (and a per-page summary) as derived objects keyed on the generation,
 * announces the result on `document-events`, then completes the job and the document in one
 * transaction. Permanent failures fail the job once; transient ones are retried until the attempt cap.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseMessage } from '../../shared/events/envelope.js';
import type { Publisher } from '../../shared/events/publisher.js';
import { isOcrContentType, type OcrEngine, type OcrResult } from '../../shared/engines/ocr/types.js';
import { isRetryable, PermanentError, toJobError, TransientError, type JobError } from '../../shared/errors/index.js';
import type { DocumentRepository } from '../../shared/firestore/documents.js';
import type { JobRepository } from '../../shared/firestore/jobs.js';
import { overallProgress, type Job } from '../../shared/jobs/model.js';
import type { Logger } from '../../shared/logger/index.js';
import type { StorageGateway } from '../../shared/storage/index.js';
import { derivedPrefix } from '../../shared/storage/names.js';

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
  readonly now?: () => Date;
}

export type OcrOutcome =
  | { readonly action: 'skipped'; readonly reason: string; readonly jobId: string }
  | { readonly action: 'completed'; readonly jobId: string; readonly pageCount: number }
  | { readonly action: 'failed'; readonly jobId: string; readonly error: JobError }
  | { readonly action: 'cancelled'; readonly jobId: string };

class Cancelled extends Error {}

export async function handleOcr(eventData: unknown, deps: OcrDeps): Promise<OcrOutcome> {
  const { data: req } = parseMessage('ocr-requests', eventData);
  const { jobId } = req;
  const log = deps.log.child({ jobId, documentId: req.documentId });
  const now = deps.now ?? (() => new Date());
  const max = deps.config.SCRIPTORIUM_MAX_ATTEMPTS;

  // Claim an attempt. The decider sees the job as it is in this transaction.
  const claim = await deps.jobs.update(jobId, (job) => {
    if (job.stage !== 'ocr' || job.input.generation !== req.source.generation) return null;
    if (job.cancelRequested) return { status: 'CANCELLED', log: { level: 'INFO', message: 'cancelled before OCR started' }, also: (tx) => deps.documents.updateIn(tx, req.documentId, { status: 'CANCELLED' }) };
    if (job.attempts >= max) {
      const last = job.error ? ` (last error ${job.error.code}: ${job.error.message})` : '';
      return { status: 'FAILED', error: { code: 'ATTEMPTS_EXHAUSTED', message: `OCR failed ${job.attempts} times${last}`, retryable: false }, log: { level: 'ERROR', message: `gave up after ${job.attempts} attempts` }, also: (tx) => deps.documents.updateIn(tx, req.documentId, { status: 'FAILED' }) };
    }
    return { attempts: 'increment', log: { level: 'INFO', message: `OCR attempt ${job.attempts + 1} of ${max} started` } };
  });
  if (!claim.applied) return { action: 'skipped', reason: `job is ${claim.job.status} at stage ${claim.job.stage}`, jobId };
  if (claim.job.status === 'CANCELLED') return { action: 'cancelled', jobId };
  if (claim.job.status === 'FAILED') {
    await announceFailure(deps, claim.job, claim.job.error ?? toJobError(new Error('failed')), now());
    return { action: 'failed', jobId, error: claim.job.error ?? toJobError(new Error('failed')) };
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
            const out = await deps.jobs.update(jobId, (job) =>
              job.cancelRequested || job.stage !== 'ocr' ? null : { progress: overallProgress('ocr', pagesDone / pageCount), metrics: { pagesDone, pageCount } },
            );
            if (!out.applied && (out.job.cancelRequested || out.job.status === 'CANCELLED')) controller.abort(new Cancelled('cancelled'));
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

    // Announce before completing: if we crash in between, the redelivery re-announces (at-least-once)
    // rather than leaving a completed job whose event was never sent.
    await deps.publisher.publish('document-events', {
      type: 'scriptorium.document.ocr.completed.v1',
      jobId,
      projectId: req.projectId,
      documentId: req.documentId,
      text: textRef,
      pageCount: result.pageCount,
      language: result.language,
      occurredAt: now().toISOString(),
    }, { jobId });

    const methods = { textLayer: result.pages.filter((p) => p.method === 'text-layer').length, ocr: result.pages.filter((p) => p.method === 'ocr').length };
    const done = await deps.jobs.update(jobId, (job) =>
      job.stage !== 'ocr' || job.input.generation !== req.source.generation
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
    if (!done.applied) return { action: 'skipped', reason: `job became ${done.job.status} while OCR ran`, jobId };
    log.info('OCR completed', { pages: result.pageCount, engineMs: Math.round(result.engineMs) });
    return { action: 'completed', jobId, pageCount: result.pageCount };
  } catch (err) {
    if (err instanceof Cancelled || controller.signal.aborted) {
      await deps.jobs.update(jobId, () => ({ status: 'CANCELLED', log: { level: 'INFO', message: 'cancelled during OCR' }, also: (tx) => deps.documents.updateIn(tx, req.documentId, { status: 'CANCELLED' }) }));
      return { action: 'cancelled', jobId };
    }
    const error = toJobError(err);
    const attempts = claim.job.attempts;
    if (!isRetryable(err) || attempts >= max) {
      const final: JobError = isRetryable(err) ? { code: error.code, message: `${error.message} (gave up after ${attempts} attempts)`, retryable: false } : error;
      const out = await deps.jobs.fail(jobId, final, (tx) => deps.documents.updateIn(tx, req.documentId, { status: 'FAILED' }));
      if (out.applied) await announceFailure(deps, out.job, final, now());
      log.warn('OCR failed', { error: final });
      return { action: 'failed', jobId, error: final };
    }
    // Transient: note it on the job (still RUNNING) and let Pub/Sub redeliver with backoff.
    await deps.jobs.update(jobId, () => ({ error, log: { level: 'WARNING', message: `attempt ${attempts} failed, will retry: ${error.code}: ${error.message}` } }));
    throw err instanceof TransientError ? err : new TransientError(error.code, error.message, err);
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

async function announceFailure(deps: OcrDeps, job: Job, error: JobError, at: Date): Promise<void> {
  if (!job.documentId) return;
  await deps.publisher.publish('document-events', { type: 'scriptorium.document.failed.v1', jobId: job.id, projectId: job.projectId, documentId: job.documentId, error, occurredAt: at.toISOString() }, { jobId: job.id });
}
