/**
 * The stale-job reaper against the running test platform: a job whose OCR attempt died (its lease
 * lapsed, its message gone, as after a platform restart) is published again and finishes through
 * the platform's functions; two reapers at once re-dispatch it once; an upload never made fails
 * UPLOAD_EXPIRED; an outcome never announced is announced. Jobs live in a project of their own so
 * the reaper's pass touches no other test's jobs.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { PubSub } from '@google-cloud/pubsub';
import { Storage } from '@google-cloud/storage';
import { Timestamp } from '@google-cloud/firestore';
import { localConfigForTests } from '../helpers/platform.js';
import { fixture, testFirestore, waitForJob } from '../helpers/client.js';
import { handleReap, type ReaperDeps } from '../../functions/reaper/handler.js';
import { JobRepository } from '../../shared/firestore/jobs.js';
import { DocumentRepository } from '../../shared/firestore/documents.js';
import { createPublisher, type Publisher } from '../../shared/events/publisher.js';
import { createLogger } from '../../shared/logger/index.js';
import { createStorageGateway } from '../../shared/storage/index.js';
import { uploadObjectName } from '../../shared/storage/names.js';
import { DEFAULT_REAPER_SETTINGS } from '../../shared/jobs/reaper.js';
import type { LocalConfig } from '../../emulators/local-config.js';

let cfg: LocalConfig;
let deps: ReaperDeps;
const projectId = `reaper-${randomBytes(4).toString('hex')}`;
const published: { topic: string; jobId: string }[] = [];

before(() => {
  cfg = localConfigForTests();
  process.env.PUBSUB_EMULATOR_HOST = cfg.pubsubEmulatorHost;
  // The storage client library finds the emulator through the environment, as the functions' does.
  process.env.STORAGE_EMULATOR_HOST = cfg.storageEmulatorHost;
  const db = testFirestore(cfg);
  const real = createPublisher(new PubSub({ projectId: cfg.gcpProjectId }));
  const publisher: Publisher = {
    publish: (topic, data, attributes) => {
      published.push({ topic, jobId: (data as { jobId?: string }).jobId ?? '' });
      return real.publish(topic, data, attributes);
    },
  };
  const storage = createStorageGateway({ projectId: cfg.gcpProjectId, storageEmulatorHost: cfg.storageEmulatorHost });
  deps = { db, jobs: new JobRepository(db), documents: new DocumentRepository(db), publisher, storage, log: createLogger({ test: 'reaper' }), projectId };
});

const ago = (ms: number) => Timestamp.fromMillis(Date.now() - ms);

/** A document and its job as OCR left them when its process died: stage RUNNING, lease lapsed, no message left. */
async function seedStuck(): Promise<{ jobId: string; documentId: string }> {
  const suffix = randomBytes(10).toString('hex');
  const documentId = `doc_${suffix}`;
  const jobId = `job_${suffix}`;
  const object = `test-sources/${documentId}/page.png`;
  const body = await fixture('ocr/phototest-rotated-180.png');
  const file = new Storage({ projectId: cfg.gcpProjectId, apiEndpoint: cfg.storageEmulatorHost }).bucket(cfg.bucket).file(object);
  await file.save(body, { resumable: false, contentType: 'image/png' });
  const generation = String(file.metadata.generation);
  await deps.db.runTransaction(async (tx) => {
    deps.documents.createIn(tx, {
      id: documentId, projectId, ownerUid: 'u', fileName: 'page.png', contentType: 'image/png', declaredSize: body.length, status: 'PROCESSING', jobId, currentVersion: 1,
      source: { bucket: cfg.bucket, object, generation, size: body.length, md5Hash: null, crc32c: null }, pageCount: null, language: null, text: null,
    });
    deps.jobs.createIn(tx, {
      id: jobId, kind: 'document.process', projectId, documentId, ownerUid: 'u', agentId: null, status: 'RUNNING', stage: 'ocr', progress: 20, attempts: 1, error: null,
      input: { bucket: cfg.bucket, object, fileName: 'page.png', contentType: 'image/png', declaredSize: body.length, generation, uploadExpiresAt: null, md5Hash: null, crc32c: null, detectedType: 'image/png', family: 'image' },
      dispatchedStage: 'ocr', result: null, cancelRequested: false, retryOf: null, metrics: {},
    }, { level: 'INFO', message: 'seeded' });
    return Promise.resolve();
  });
  await deps.jobs.ref(jobId).update({
    'stages.ocr': { status: 'RUNNING', progress: 40, attempts: 1, lease: { id: 'dead-attempt', messageId: 'lost-message', expiresAt: new Date(Date.now() - 30_000).toISOString() }, error: null, startedAt: ago(200_000), finishedAt: null, result: null, metrics: {}, announced: false, reapedAt: null },
    updatedAt: ago(150_000),
  });
  return { jobId, documentId };
}

describe('stale-job reaper', () => {
  it('publishes the request of a stage whose attempt died again, and the job finishes', async () => {
    const { jobId, documentId } = await seedStuck();
    const report = await handleReap(deps);
    assert.equal(report.redispatched, 1, JSON.stringify(report));
    assert.deepEqual(published.filter((p) => p.jobId === jobId).map((p) => p.topic), ['ocr-requests']);
    const { job } = await waitForJob(cfg, jobId);
    assert.equal(job.status, 'COMPLETED', JSON.stringify(job.error));
    assert.equal(job.stages.ocr?.attempts, 2, 'the dead attempt and the one the reaper started');
    assert.ok(job.stages.ocr?.reapedAt);
    const logs = await deps.db.collection(`jobs/${jobId}/logs`).get();
    assert.ok(logs.docs.some((d) => /reaper: ocr: the lease of attempt dead-attempt expired/.test(String(d.get('message')))), 'the decision is logged on the job');
    assert.equal((await deps.documents.get(documentId))?.status, 'READY');
    // Nothing more to do for it.
    assert.equal((await handleReap(deps)).redispatched, 0);
  });

  it('re-dispatches a stuck job once when two reapers run at the same moment', async () => {
    const { jobId } = await seedStuck();
    const reports = await Promise.all([handleReap(deps), handleReap(deps)]);
    assert.equal(reports.reduce((n, r) => n + r.redispatched, 0), 1, JSON.stringify(reports));
    assert.equal(published.filter((p) => p.jobId === jobId).length, 1);
    assert.equal((await waitForJob(cfg, jobId)).job.status, 'COMPLETED');
  });

  it('fails a job whose upload never came once its signed URL has expired, and announces it', async () => {
    const { jobId, documentId } = await seedStuck();
    // As the API leaves an upload nobody made: PENDING, no generation, its URL expired 5 minutes ago.
    await deps.jobs.ref(jobId).update({ status: 'PENDING', stage: 'upload', stages: {}, 'input.generation': null, 'input.object': `uploads/${projectId}/doc_${randomBytes(10).toString('hex')}/never.png`, 'input.uploadExpiresAt': new Date(Date.now() - 300_000).toISOString() });
    const report = await handleReap(deps);
    assert.equal(report.expired, 1, JSON.stringify(report));
    const job = await deps.jobs.get(jobId);
    assert.equal(job?.status, 'FAILED');
    assert.equal(job?.error?.code, 'UPLOAD_EXPIRED');
    assert.equal(job?.announced, true);
    assert.equal((await deps.documents.get(documentId))?.status, 'FAILED');
  });

  it('hands a stored upload whose notification was lost to ingest again, once, and the job finishes', async () => {
    const suffix = randomBytes(10).toString('hex');
    const documentId = `doc_${suffix}`;
    const jobId = `job_${suffix}`;
    const object = uploadObjectName(projectId, documentId, 'notes.txt');
    const body = Buffer.from('A page of notes whose upload notification never reached ingest.\nThe reaper finds the file in the bucket.\n');
    // The file lands before its records exist: ingest meets its notification, finds no document and
    // drops it. Seen from the job created next, that is exactly a lost notification.
    const file = new Storage({ projectId: cfg.gcpProjectId, apiEndpoint: cfg.storageEmulatorHost }).bucket(cfg.bucket).file(object);
    await file.save(body, { resumable: false, contentType: 'text/plain' });
    await new Promise((r) => setTimeout(r, 3000));
    await deps.db.runTransaction(async (tx) => {
      deps.documents.createIn(tx, {
        id: documentId, projectId, ownerUid: 'u', fileName: 'notes.txt', contentType: 'text/plain', declaredSize: body.length, status: 'AWAITING_UPLOAD', jobId, currentVersion: 1,
        source: { bucket: cfg.bucket, object, generation: null, size: null, md5Hash: null, crc32c: null }, pageCount: null, language: null, text: null,
      });
      deps.jobs.createIn(tx, {
        id: jobId, kind: 'document.process', projectId, documentId, ownerUid: 'u', agentId: null, status: 'PENDING', stage: 'upload', progress: 0, attempts: 0, error: null,
        input: { bucket: cfg.bucket, object, fileName: 'notes.txt', contentType: 'text/plain', declaredSize: body.length, generation: null, uploadExpiresAt: new Date(Date.now() + 600_000).toISOString(), md5Hash: null, crc32c: null, detectedType: null, family: null },
        dispatchedStage: null, result: null, cancelRequested: false, retryOf: null, metrics: {},
      }, { level: 'INFO', message: 'seeded: upload URL handed out' });
      return Promise.resolve();
    });
    const created = await deps.jobs.get(jobId);
    assert.ok(created?.input.uploadCheckAt, 'a job awaiting its upload is given its first look in the bucket');
    assert.equal(Date.parse(created.input.uploadCheckAt) - Date.parse(created.createdAt) > 60_000, true, 'not before the upload has had time to be taken');
    // As if the URL had been handed out 5 minutes before the upload: the look is due, ingest never wrote to the job.
    await deps.jobs.ref(jobId).update({ createdAt: ago(300_000), updatedAt: ago(300_000), 'input.uploadCheckAt': new Date(Date.now() - 1000).toISOString() });
    const settled = { ...deps, settings: { ...DEFAULT_REAPER_SETTINGS, uploadSettleMs: 1000 } };
    const report = await handleReap(settled);
    assert.equal(report.reingested, 1, JSON.stringify(report));
    const { job } = await waitForJob(cfg, jobId);
    assert.equal(job.status, 'COMPLETED', JSON.stringify(job.error));
    assert.equal(job.input.uploadReingests, 1);
    assert.equal(job.input.generation, String(file.metadata.generation));
    const logs = await deps.db.collection(`jobs/${jobId}/logs`).get();
    assert.ok(logs.docs.some((d) => /reaper: its upload \(generation \d+\) was stored at .* ingest never took it/.test(String(d.get('message')))), 'the decision is logged on the job');
    assert.match((await deps.storage.objectResource({ bucket: cfg.bucket, object }))?.name ?? '', /notes\.txt$/);
    assert.equal((await deps.documents.get(documentId))?.status, 'READY');
    assert.equal((await handleReap(settled)).reingested, 0, 'a job ingest took is not looked at again');
  });

  it('looks again later, without a log entry, for an upload not made yet', async () => {
    const { jobId } = await seedStuck();
    const due = new Date(Date.now() - 1000).toISOString();
    await deps.jobs.ref(jobId).update({ status: 'PENDING', stage: 'upload', stages: {}, createdAt: ago(600_000), 'input.generation': null, 'input.object': `uploads/${projectId}/doc_${randomBytes(10).toString('hex')}/never.png`, 'input.uploadExpiresAt': new Date(Date.now() + 600_000).toISOString(), 'input.uploadCheckAt': due });
    const before = await deps.jobs.get(jobId);
    const report = await handleReap(deps);
    assert.equal(report.expired + report.reingested + report.redispatched, 0, JSON.stringify(report));
    const after = await deps.jobs.get(jobId);
    assert.equal(after?.status, 'PENDING');
    assert.equal(after?.logCount, before?.logCount, 'a look that finds nothing is not a decision');
    assert.equal(after?.updatedAt, before?.updatedAt, 'updatedAt still says when the job last moved');
    const nextMs = Date.parse(after?.input.uploadCheckAt ?? '') - Date.now();
    assert.ok(nextMs > 9 * 60_000 && nextMs <= 10 * 60_000 + 1000, `the next look is the job's age later (10 min), not every run: ${nextMs} ms`);
  });

  it('announces a job that ended without its announcement', async () => {
    const { jobId } = await seedStuck();
    await deps.jobs.ref(jobId).update({ status: 'FAILED', error: { code: 'X', message: 'x', retryable: false }, finishedAt: ago(300_000), announced: false, 'stages.ocr.lease': null, 'stages.ocr.status': 'FAILED' });
    const before = published.length;
    const report = await handleReap(deps);
    assert.equal(report.announced, 1, JSON.stringify(report));
    assert.deepEqual(published.slice(before).map((p) => [p.topic, p.jobId]), [['document-events', jobId]]);
    assert.equal((await deps.jobs.get(jobId))?.announced, true);
  });
});
