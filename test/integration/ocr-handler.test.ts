/**
 * The OCR handler's retry discipline against the real Firestore and storage emulators, with engines
 * that fail on purpose (fault injection: the real engine is exercised by the pipeline tests).
 */
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { PubSub } from '@google-cloud/pubsub';
import { Storage } from '@google-cloud/storage';
import { localConfigForTests } from '../helpers/platform.js';
import { testFirestore } from '../helpers/client.js';
import { pushEnvelope } from '../helpers/events.js';
import { handleOcr, type OcrDeps } from '../../functions/ocr/handler.js';
import { JobRepository } from '../../shared/firestore/jobs.js';
import { DocumentRepository } from '../../shared/firestore/documents.js';
import { createPublisher } from '../../shared/events/publisher.js';
import { createStorageGateway } from '../../shared/storage/index.js';
import { createLogger } from '../../shared/logger/index.js';
import { PermanentError, TransientError } from '../../shared/errors/index.js';
import type { OcrEngine } from '../../shared/engines/ocr/types.js';
import type { LocalConfig } from '../../emulators/local-config.js';

let cfg: LocalConfig;
let deps: Omit<OcrDeps, 'engine'>;

const quiet = createLogger({ test: 'ocr-handler' });

before(() => {
  cfg = localConfigForTests();
  process.env.PUBSUB_EMULATOR_HOST = cfg.pubsubEmulatorHost;
  process.env.STORAGE_EMULATOR_HOST = cfg.storageEmulatorHost;
  const db = testFirestore(cfg);
  deps = {
    jobs: new JobRepository(db),
    documents: new DocumentRepository(db),
    storage: createStorageGateway({ projectId: cfg.gcpProjectId }),
    publisher: createPublisher(new PubSub({ projectId: cfg.gcpProjectId })),
    log: quiet,
    config: { SCRIPTORIUM_MAX_ATTEMPTS: 3 },
  };
});

/** A document + RUNNING job at the OCR stage, with a real source object (outside `uploads/`, so nothing triggers). */
async function seedJob(): Promise<{ jobId: string; envelope: unknown }> {
  const suffix = randomBytes(10).toString('hex');
  const documentId = `doc_${suffix}`;
  const jobId = `job_${suffix}`;
  const object = `test-sources/${documentId}/page.png`;
  const file = new Storage({ projectId: cfg.gcpProjectId, apiEndpoint: cfg.storageEmulatorHost }).bucket(cfg.bucket).file(object);
  await file.save(Buffer.from('not really a png'), { resumable: false, contentType: 'image/png' });
  const generation = String(file.metadata.generation);
  const db = testFirestore(cfg);
  await db.runTransaction(async (tx) => {
    deps.documents.createIn(tx, {
      id: documentId, projectId: 'test', ownerUid: 'u', fileName: 'page.png', contentType: 'image/png', declaredSize: 16, status: 'PROCESSING', jobId, currentVersion: 1,
      source: { bucket: cfg.bucket, object, generation, size: 16, md5Hash: null, crc32c: null }, pageCount: null, language: null, text: null,
    });
    deps.jobs.createIn(tx, {
      id: jobId, kind: 'document.process', projectId: 'test', documentId, ownerUid: 'u', agentId: null, status: 'RUNNING', stage: 'ocr', progress: 10, attempts: 0, error: null,
      input: { bucket: cfg.bucket, object, fileName: 'page.png', contentType: 'image/png', declaredSize: 16, generation }, dispatchedStage: 'ocr', result: null, cancelRequested: false, retryOf: null, metrics: {},
    }, { level: 'INFO', message: 'seeded' });
    return Promise.resolve();
  });
  const envelope = pushEnvelope('ocr-requests', {
    type: 'scriptorium.document.ocr.requested.v1', jobId, projectId: 'test', documentId,
    source: { bucket: cfg.bucket, object, generation }, contentType: 'image/png', requestedAt: new Date().toISOString(),
  });
  return { jobId, envelope };
}

const failing = (err: Error): OcrEngine & { calls: number } => {
  const engine = {
    name: 'failing',
    calls: 0,
    extract() {
      engine.calls++;
      return Promise.reject(err);
    },
  };
  return engine;
};

describe('handleOcr retry discipline', () => {
  it('throws transient errors (so Pub/Sub redelivers) until the attempt cap, then fails the job once', async () => {
    const { jobId, envelope } = await seedJob();
    const engine = failing(new TransientError('ENGINE_FAILED', 'tesseract crashed'));
    for (let attempt = 1; attempt < 3; attempt++) {
      await assert.rejects(handleOcr(envelope, { ...deps, engine }), TransientError);
      const job = await deps.jobs.get(jobId);
      assert.equal(job?.status, 'RUNNING');
      assert.equal(job?.attempts, attempt);
      assert.equal(job?.error?.code, 'ENGINE_FAILED');
    }
    const last = await handleOcr(envelope, { ...deps, engine });
    assert.equal(last.action, 'failed');
    const job = await deps.jobs.get(jobId);
    assert.equal(job?.status, 'FAILED');
    assert.match(job?.error?.message ?? '', /gave up after 3 attempts/);
    assert.equal((await deps.documents.get(job?.documentId ?? ''))?.status, 'FAILED');
    // A further redelivery does nothing: no engine call, no write.
    const more = await handleOcr(envelope, { ...deps, engine });
    assert.equal(more.action, 'skipped');
    assert.equal(engine.calls, 3);
  });

  it('fails a permanent error on the first attempt and acknowledges', async () => {
    const { jobId, envelope } = await seedJob();
    const engine = failing(new PermanentError('INPUT_CORRUPT', 'not an image'));
    const out = await handleOcr(envelope, { ...deps, engine });
    assert.equal(out.action, 'failed');
    const job = await deps.jobs.get(jobId);
    assert.equal(job?.status, 'FAILED');
    assert.deepEqual(job?.error, { code: 'INPUT_CORRUPT', message: 'not an image', retryable: false });
    assert.equal(job?.attempts, 1);
  });

  it('treats an unknown exception as transient, capped like the others', async () => {
    const { jobId, envelope } = await seedJob();
    const engine = failing(new Error('surprise'));
    await assert.rejects(handleOcr(envelope, { ...deps, engine }));
    assert.equal((await deps.jobs.get(jobId))?.error?.code, 'INTERNAL');
  });

  it('cancels a job whose cancel was requested before OCR started', async () => {
    const { jobId, envelope } = await seedJob();
    await deps.jobs.ref(jobId).update({ cancelRequested: true });
    const engine = failing(new Error('must not run'));
    const out = await handleOcr(envelope, { ...deps, engine });
    assert.equal(out.action, 'cancelled');
    assert.equal(engine.calls, 0);
    assert.equal((await deps.jobs.get(jobId))?.status, 'CANCELLED');
  });
});
