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
import type { DocumentRecord, DocumentRepository } from '../../shared/firestore/documents.js';
import type { JobRepository, UpdateOutcome } from '../../shared/firestore/jobs.js';
import type { Transaction } from '@google-cloud/firestore';
import { isTerminal, overallProgress, type Job } from '../../shared/jobs/model.js';
import { announceOutcome, DOCUMENT_MISSING, failJob, isDocumentGone } from '../../shared/jobs/outcomes.js';
import type { Logger } from '../../shared/logger/index.js';
import type { ObjectInfo, StorageGateway } from '../../shared/storage/index.js';
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
  /** How long a claim holds the job; defaults to the OCR function's timeout plus a margin. */
  readonly leaseMs?: number;
}

export type OcrOutcome =
  | { readonly action: 'skipped'; readonly reason: string; readonly jobId: string }
  | { readonly action: 'completed'; readonly jobId: string; readonly pageCount: number }
  | { readonly action: 'failed'; readonly jobId: string; readonly error: JobError }
  | { readonly action: 'cancelled'; readonly jobId: string };

/**
 * An attempt cannot outlive the function's timeout (the platform kills it), so a lease of the timeout
 * plus a margin covers every live attempt; a holder that died is taken over by its message's redelivery.
 */
const DEFAULT_LEASE_MS = ((topology.functions.find((f) => f.name === 'ocr')?.timeoutSeconds ?? 540) + 60) * 1000;

/** The job's document record names another job, project or source: the job fails alone. */
const DOCUMENT_MISMATCH = 'DOCUMENT_MISMATCH';

/** Why an attempt stopped early: the job was cancelled, or another attempt took the job over. */
class Stopped extends Error {
  constructor(readonly why: 'cancelled' | 'lease-lost') {
    super(why);
  }
}

/**
 * What an attempt works on, taken from the job record: the message only names the job (and is
 * checked against it), so a forged or stale request cannot point the work at another document,
 * project or object.
 */
interface OcrTarget {
  readonly jobId: string;
  readonly projectId: string;
  readonly documentId: string;
  readonly source: { readonly bucket: string; readonly object: string; readonly generation: string };
  readonly contentType: string;
}

/** Content type without parameters (`application/pdf; x=y` → `application/pdf`). */
function baseType(contentType: string): string {
  return contentType.split(';')[0]?.trim().toLowerCase() ?? '';
}

interface Produced {
  readonly result: OcrResult;
  readonly text: string;
  readonly textObj: ObjectInfo;
  readonly pagesObj: ObjectInfo;
}

export async function handleOcr(eventData: unknown, deps: OcrDeps): Promise<OcrOutcome> {
  const { data: req, messageId } = parseMessage('ocr-requests', eventData);
  const { jobId } = req;
  const log = deps.log.child({ jobId, documentId: req.documentId });
  /** The request describes this job: same document, project and source object (the generation is checked apart: a stale one is normal). */
  const describes = (job: Job): boolean =>
    job.documentId === req.documentId && job.projectId === req.projectId && job.input.bucket === req.source.bucket && job.input.object === req.source.object;
  const max = deps.config.SCRIPTORIUM_MAX_ATTEMPTS;
  const leaseMs = deps.leaseMs ?? DEFAULT_LEASE_MS;
  const attemptId = randomUUID();
  const ours = (job: Job): boolean => job.lease?.id === attemptId;
  // Every write names the job's own document (checked equal to the message's before the claim).
  const markDocument = (status: DocumentRecord['status']) => (tx: Transaction) => deps.documents.updateIn(tx, req.documentId, { status });
  /** The document record vanished: fail the job alone (nothing else can end it) and announce. */
  const documentGone = async (): Promise<OcrOutcome> => {
    const out = await failJob(deps, jobId, null, DOCUMENT_MISSING);
    await announceOutcome(deps, out.job);
    return { action: 'failed', jobId, error: DOCUMENT_MISSING };
  };

  // Claim an attempt. The decider sees the job as it is in this transaction, at Firestore's time.
  let claim: UpdateOutcome;
  try {
    claim = await deps.jobs.update(jobId, (job, readTime) => {
      if (!describes(job)) return null;
      if (job.stage !== 'ocr' || job.input.generation !== req.source.generation) return null;
      const t = readTime.getTime();
      // Another copy of the request while an attempt is alive: the holder's own message covers it.
      // The same message again means its holder is presumed gone (a redelivery): take over.
      if (job.lease && Date.parse(job.lease.expiresAt) > t && job.lease.messageId !== messageId) return null;
      if (job.cancelRequested) return { status: 'CANCELLED', log: { level: 'INFO', message: 'cancelled before OCR started' }, also: markDocument('CANCELLED') };
      if (job.attempts >= max) {
        const last = job.error ? ` (last error ${job.error.code}: ${job.error.message})` : '';
        return { status: 'FAILED', error: { code: 'ATTEMPTS_EXHAUSTED', message: `OCR failed ${job.attempts} times${last}`, retryable: false }, log: { level: 'ERROR', message: `gave up after ${job.attempts} attempts` }, also: markDocument('FAILED') };
      }
      return {
        attempts: 'increment',
        // Receiving the request proves it was dispatched: ingest need not (and must not) dispatch again.
        dispatchedStage: 'ocr',
        lease: { id: attemptId, messageId, expiresAt: new Date(t + leaseMs).toISOString() },
        log: { level: 'INFO', message: `OCR attempt ${job.attempts + 1} of ${max} started` },
      };
    });
  } catch (err) {
    if (isDocumentGone(err)) return documentGone();
    throw err;
  }
  if (!claim.applied && !describes(claim.job)) {
    // Not this job's request (forged, or a bug upstream): acknowledged, and nothing is touched.
    log.error('OCR request does not match its job record: ignored', { request: { projectId: req.projectId, documentId: req.documentId, source: req.source } });
    return { action: 'skipped', reason: 'the request does not match the job record', jobId };
  }
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

  // What the work reads and writes comes from the job record the claim just read.
  const claimed = claim.job;
  const target: OcrTarget = {
    jobId,
    projectId: claimed.projectId,
    documentId: req.documentId,
    source: { bucket: claimed.input.bucket, object: claimed.input.object, generation: req.source.generation },
    contentType: baseType(claimed.input.contentType),
  };

  // The work: download, engine, derived objects. Only its failures are classified as OCR failures.
  let produced: Produced;
  const workDir = await mkdtemp(path.join(tmpdir(), 'scriptorium-ocr-'));
  const controller = new AbortController();
  try {
    produced = await produce(target, deps, workDir, controller, ours, log);
  } catch (err) {
    return await attemptFailed(err, claim.job.attempts);
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }

  const { result, text, textObj, pagesObj } = produced;
  const textRef = { bucket: textObj.bucket, object: textObj.object, generation: textObj.generation };
  const methods = { textLayer: result.pages.filter((p) => p.method === 'text-layer').length, ocr: result.pages.filter((p) => p.method === 'ocr').length };
  let done: UpdateOutcome;
  try {
    done = await deps.jobs.update(jobId, (job) =>
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
  } catch (err) {
    // A transient failure here is retried like any other: the redelivery reuses the derived objects.
    if (isDocumentGone(err)) return documentGone();
    throw err;
  }
  if (!done.applied) {
    if (isTerminal(done.job.status)) {
      await announceOutcome(deps, done.job);
      return { action: 'skipped', reason: `job became ${done.job.status} while OCR ran`, jobId };
    }
    // Another attempt took the job over (we were presumed dead). Not acknowledging keeps this message
    // alive until that attempt has ended, in case it dies too.
    throw new TransientError('LEASE_LOST', 'another attempt took over the job while this one ran');
  }
  // Outside the work's error handling: a failed announcement is retried (and repaired) by redelivery.
  await announceOutcome(deps, done.job);
  log.info('OCR completed', { pages: result.pageCount, engineMs: Math.round(result.engineMs) });
  return { action: 'completed', jobId, pageCount: result.pageCount };

  async function attemptFailed(err: unknown, attempts: number): Promise<OcrOutcome> {
    const reason: unknown = controller.signal.reason;
    if (controller.signal.aborted && reason instanceof Stopped) {
      if (reason.why === 'lease-lost') throw new TransientError('LEASE_LOST', 'another attempt took over the job while this one ran', err);
      let out: UpdateOutcome;
      try {
        out = await deps.jobs.update(jobId, (job) => (ours(job) && job.cancelRequested ? { status: 'CANCELLED', log: { level: 'INFO', message: 'cancelled during OCR' }, also: markDocument('CANCELLED') } : null));
      } catch (e) {
        if (isDocumentGone(e)) return documentGone();
        throw e;
      }
      if (out.applied) await announceOutcome(deps, out.job);
      return out.applied ? { action: 'cancelled', jobId } : { action: 'skipped', reason: 'the job ended otherwise while OCR ran', jobId };
    }
    const error = toJobError(err);
    if (!isRetryable(err) || attempts >= max) {
      const final: JobError = isRetryable(err) ? { code: error.code, message: `${error.message} (gave up after ${attempts} attempts)`, retryable: false } : error;
      // A document that is not this job's is left alone: only the job fails.
      const out = await failJob(deps, jobId, error.code === DOCUMENT_MISMATCH ? null : req.documentId, final, ours);
      if (out.applied) await announceOutcome(deps, out.job);
      log.warn('OCR failed', { error: final });
      return out.applied ? { action: 'failed', jobId, error: final } : { action: 'skipped', reason: `job is ${out.job.status}; another attempt holds it or it ended`, jobId };
    }
    // Transient: note it on the job (still RUNNING), release the lease, and let Pub/Sub redeliver with backoff.
    await deps.jobs.update(jobId, (job) => (ours(job) ? { error, lease: null, log: { level: 'WARNING', message: `attempt ${attempts} failed, will retry: ${error.code}: ${error.message}` } } : null));
    throw err instanceof TransientError ? err : new TransientError(error.code, error.message, err);
  }
}

/** Downloads the source, runs the engine with progress (checking cancel and the lease), writes derived objects. */
async function produce(req: OcrTarget, deps: OcrDeps, workDir: string, controller: AbortController, ours: (job: Job) => boolean, log: Logger): Promise<Produced> {
  if (!isOcrContentType(req.contentType)) throw new PermanentError('UNSUPPORTED_CONTENT_TYPE', `${req.contentType} cannot be OCRed`);
  // The document the job names must name the job back, in the same project and with this source.
  const doc = await deps.documents.get(req.documentId);
  if (!doc) throw new PermanentError(DOCUMENT_MISSING.code, DOCUMENT_MISSING.message);
  if (doc.projectId !== req.projectId || doc.jobId !== req.jobId || doc.source.bucket !== req.source.bucket || doc.source.object !== req.source.object) {
    throw new PermanentError(DOCUMENT_MISMATCH, 'the document record does not belong to this job');
  }
  const source = path.join(workDir, 'source');
  await deps.storage.download(req.source, source);

  let lastWrite = 0;
  const interval = deps.progressIntervalMs ?? 750;
  const result = await deps.engine.extract(
    { path: source, contentType: req.contentType },
    {
      signal: controller.signal,
      onProgress: async ({ pagesDone, pageCount }) => {
        const t = performance.now();
        // The last page's progress is written by the completion itself; between pages, at most one write per interval.
        if (pagesDone >= pageCount || t - lastWrite < interval) return;
        lastWrite = t;
        try {
          const out = await deps.jobs.update(req.jobId, (job) => (job.cancelRequested || !ours(job) ? null : { progress: overallProgress('ocr', pagesDone / pageCount), metrics: { pagesDone, pageCount } }));
          if (!out.applied) controller.abort(new Stopped(out.job.cancelRequested ? 'cancelled' : 'lease-lost'));
        } catch (err) {
          // Progress is informative: a failed progress write must not fail the OCR itself.
          log.warn('progress write failed', { err });
        }
      },
    },
  );

  const prefix = derivedPrefix({ projectId: req.projectId, documentId: req.documentId, sourceGeneration: req.source.generation });
  const text = result.pages.map((p) => p.text).join('\f');
  const textObj = await deps.storage.writeDerived({ bucket: req.source.bucket, object: `${prefix}text.txt`, contentType: 'text/plain; charset=utf-8', body: text, metadata: { jobId: req.jobId } });
  const pagesObj = await deps.storage.writeDerived({
    bucket: req.source.bucket,
    object: `${prefix}pages.json`,
    contentType: 'application/json',
    body: JSON.stringify({ engine: result.engine, language: result.language, pages: result.pages.map(({ text: t, ...rest }) => ({ ...rest, chars: t.length })) }),
    metadata: { jobId: req.jobId },
  });
  return { result, text, textObj, pagesObj };
}
