/**
 * The OCR handler's retry discipline against the real Firestore and storage emulators, with engines
 * that fail on purpose (fault injection: the real engine is exercised by the pipeline tests).
 */
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
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
import { createLocalOcrEngine } from '../../shared/engines/ocr/local.js';
import type { Publisher } from '../../shared/events/publisher.js';
import { fixture } from '../helpers/client.js';
import type { LocalConfig } from '../../emulators/local-config.js';

/**
 * These tests are about the OCR stage alone: its text-ready events are recorded, not published,
 * so the platform's embedding and summary functions do not race the assertions on these jobs.
 */
const textReady: { jobId: string; data: unknown }[] = [];
function offTopic(inner: Publisher): Publisher {
  return {
    publish: (topic, data, attributes) => {
      if (topic === 'document-events' && (data as { type?: string }).type === 'scriptorium.document.text.ready.v1') {
        textReady.push({ jobId: (data as { jobId: string }).jobId, data });
        return Promise.resolve('recorded');
      }
      return inner.publish(topic, data, attributes);
    },
  };
}

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
    publisher: offTopic(createPublisher(new PubSub({ projectId: cfg.gcpProjectId }))),
    log: quiet,
    config: { SCRIPTORIUM_MAX_ATTEMPTS: 3 },
  };
});

/** A document + RUNNING job at the OCR stage, with a real source object (outside `uploads/`, so nothing triggers). */
async function seedJob(body: Buffer = Buffer.from('not really a png'), projectId = 'test'): Promise<{ jobId: string; documentId: string; object: string; generation: string; envelope: ReturnType<typeof pushEnvelope<'ocr-requests'>> }> {
  const suffix = randomBytes(10).toString('hex');
  const documentId = `doc_${suffix}`;
  const jobId = `job_${suffix}`;
  const object = `test-sources/${documentId}/page.png`;
  const file = new Storage({ projectId: cfg.gcpProjectId, apiEndpoint: cfg.storageEmulatorHost }).bucket(cfg.bucket).file(object);
  await file.save(body, { resumable: false, contentType: 'image/png' });
  const generation = String(file.metadata.generation);
  const db = testFirestore(cfg);
  await db.runTransaction(async (tx) => {
    deps.documents.createIn(tx, {
      id: documentId, projectId, ownerUid: 'u', fileName: 'page.png', contentType: 'image/png', declaredSize: 16, status: 'PROCESSING', jobId, currentVersion: 1,
      source: { bucket: cfg.bucket, object, generation, size: 16, md5Hash: null, crc32c: null }, pageCount: null, language: null, text: null,
    });
    deps.jobs.createIn(tx, {
      id: jobId, kind: 'document.process', projectId, documentId, ownerUid: 'u', agentId: null, status: 'RUNNING', stage: 'ocr', progress: 10, attempts: 0, error: null,
      input: { bucket: cfg.bucket, object, fileName: 'page.png', contentType: 'image/png', declaredSize: 16, generation, uploadExpiresAt: null, md5Hash: null, crc32c: null, detectedType: null, family: null }, dispatchedStage: 'ocr', result: null, cancelRequested: false, retryOf: null, metrics: {},
    }, { level: 'INFO', message: 'seeded' });
    return Promise.resolve();
  });
  // As ingest leaves it: the OCR stage dispatched, waiting to be claimed.
  await deps.jobs.ref(jobId).update({ 'stages.ocr': { status: 'PENDING', progress: 0, attempts: 0, lease: null, error: null, startedAt: null, finishedAt: null, result: null, metrics: {} } });
  const envelope = pushEnvelope('ocr-requests', {
    type: 'scriptorium.document.ocr.requested.v1', jobId, projectId, documentId,
    source: { bucket: cfg.bucket, object, generation }, contentType: 'image/png', requestedAt: new Date().toISOString(),
  });
  return { jobId, documentId, object, generation, envelope };
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
    await assert.rejects(handleOcr(envelope, { ...deps, engine }));
    assert.equal((await deps.jobs.get(jobId))?.error?.code, 'INTERNAL');
    const last = await handleOcr(envelope, { ...deps, engine });
    assert.equal(last.action, 'failed');
    const job = await deps.jobs.get(jobId);
    assert.equal(job?.status, 'FAILED');
    assert.match(job?.error?.message ?? '', /surprise \(gave up after 3 attempts\)/);
    assert.equal(engine.calls, 3);
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

/** The real local engine behind a gate, so a test can hold an attempt inside the engine. */
function gated(inner: OcrEngine): { engine: OcrEngine; release: () => void; calls: () => number } {
  let open: () => void = () => {};
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  let calls = 0;
  return {
    engine: {
      name: `gated-${inner.name}`,
      async extract(input, options) {
        calls++;
        await gate;
        return inner.extract(input, options);
      },
    },
    release: () => open(),
    calls: () => calls,
  };
}

/** Polls an in-process condition (not an emulator): the handler runs in this process. */
async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Another copy of the same request: same content, its own message id (as a second publish gets). */
function anotherCopy<T extends { message: { messageId: string } }>(envelope: T): T {
  return { ...envelope, message: { ...envelope.message, messageId: randomUUID() } };
}

describe('handleOcr under duplicate delivery', () => {
  it('runs the engine once when two copies of a request overlap; the second is acknowledged without work', async () => {
    const { jobId, documentId, envelope } = await seedJob(await fixture('ocr/phototest-rotated-180.png'));
    const g = gated(createLocalOcrEngine());
    const first = handleOcr(envelope, { ...deps, engine: g.engine });
    await until(() => g.calls() === 1);
    const second = await handleOcr(anotherCopy(envelope), { ...deps, engine: g.engine });
    assert.equal(second.action, 'skipped');
    assert.match(second.action === 'skipped' ? second.reason : '', /another attempt holds it/);
    g.release();
    assert.equal((await first).action, 'completed');
    assert.equal(g.calls(), 1);
    const job = await deps.jobs.get(jobId);
    assert.equal(job?.attempts, 1);
    assert.equal(job?.stages.ocr?.lease, null, 'the lease ends with the job');
    assert.equal(job?.stages.ocr?.status, 'COMPLETED');
    assert.equal(job?.stages.ocr?.attempts, 1);
    assert.equal(job?.stages.ocr?.announced, true);
    // OCR hands over to the two parallel stages: the job goes on.
    assert.equal(job?.status, 'RUNNING');
    assert.deepEqual([job?.stages.embed?.status, job?.stages.summarize?.status], ['PENDING', 'PENDING']);
    assert.equal(job?.stage, 'embed+summarize');
    assert.equal(textReady.filter((e) => e.jobId === jobId).length, 1, 'one text-ready event');
    const doc = await deps.documents.get(documentId);
    assert.ok(doc?.text);
    assert.match((await deps.storage.read(doc.text)).toString('utf8'), /quick brown dog/);
  });

  it('does not acknowledge a redelivery of the holder\'s own message while its lease is live, and does not run it', async () => {
    const { jobId, envelope } = await seedJob(await fixture('ocr/phototest-rotated-180.png'));
    await deps.jobs.ref(jobId).update({ attempts: 1, 'stages.ocr.attempts': 1, 'stages.ocr.status': 'RUNNING', 'stages.ocr.lease': { id: 'live-attempt', messageId: envelope.message.messageId, expiresAt: new Date(Date.now() + 60_000).toISOString() } });
    const engine = failing(new Error('must not run'));
    await assert.rejects(handleOcr(envelope, { ...deps, engine }), (err: unknown) => err instanceof TransientError && err.code === 'ATTEMPT_IN_PROGRESS');
    assert.equal(engine.calls, 0);
    const job = await deps.jobs.get(jobId);
    assert.equal(job?.stages.ocr?.lease?.id, 'live-attempt', 'the live attempt keeps its lease');
    assert.equal(job?.attempts, 1);
  });

  it('keeps a slow attempt\'s lease alive with heartbeats, so it is never taken over, and a dead one\'s lapses', async () => {
    const { jobId, envelope } = await seedJob(await fixture('ocr/phototest-rotated-180.png'));
    const g = gated(createLocalOcrEngine());
    // A 1.5 s lease renewed every 0.3 s; the work stays silent (no progress) for 3 s.
    const quick = { ...deps, leaseMs: 1500, heartbeatMs: 300 };
    const first = handleOcr(envelope, { ...quick, engine: g.engine });
    await until(() => g.calls() === 1);
    const claimed = (await deps.jobs.get(jobId))?.stages.ocr?.lease;
    await new Promise((r) => setTimeout(r, 3000));
    const renewed = (await deps.jobs.get(jobId))?.stages.ocr?.lease;
    assert.equal(renewed?.id, claimed?.id);
    assert.ok(Date.parse(renewed?.expiresAt ?? '') > Date.parse(claimed?.expiresAt ?? '') + 1000, `renewed: ${claimed?.expiresAt} → ${renewed?.expiresAt}`);
    const second = await handleOcr(anotherCopy(envelope), { ...quick, engine: failing(new Error('must not run')) });
    assert.equal(second.action, 'skipped', 'a live (heartbeating) lease is not taken over');
    g.release();
    assert.equal((await first).action, 'completed');
    assert.equal((await deps.jobs.get(jobId))?.attempts, 1);
  });

  it('takes over an expired lease whatever message brings the request', async () => {
    const { jobId, envelope } = await seedJob(await fixture('ocr/phototest-rotated-180.png'));
    await deps.jobs.ref(jobId).update({ attempts: 1, 'stages.ocr.attempts': 1, 'stages.ocr.status': 'RUNNING', 'stages.ocr.lease': { id: 'old', messageId: 'another-message', expiresAt: new Date(Date.now() - 1000).toISOString() } });
    assert.equal((await handleOcr(envelope, { ...deps, engine: createLocalOcrEngine() })).action, 'completed');
  });

  it('repairs a lost text-ready announcement when a redelivery meets the completed stage', async () => {
    const { jobId, documentId, envelope } = await seedJob(await fixture('ocr/phototest-rotated-180.png'));
    assert.equal((await handleOcr(envelope, { ...deps, engine: createLocalOcrEngine() })).action, 'completed');
    await deps.jobs.ref(jobId).update({ 'stages.ocr.announced': false });
    const published: { topic: string; data: unknown }[] = [];
    const publisher: Publisher = {
      publish: (topic, data, attributes) => {
        published.push({ topic, data });
        return deps.publisher.publish(topic, data, attributes);
      },
    };
    const engine = failing(new Error('must not run'));
    const again = await handleOcr(anotherCopy(envelope), { ...deps, publisher, engine });
    assert.equal(again.action, 'skipped');
    assert.equal(engine.calls, 0);
    assert.deepEqual(published.map((p) => [p.topic, (p.data as { type: string; documentId: string }).type, (p.data as { documentId: string }).documentId]), [['document-events', 'scriptorium.document.text.ready.v1', documentId]]);
    assert.equal((await deps.jobs.get(jobId))?.stages.ocr?.announced, true);
  });

  it('keeps derived objects create-only: a later write of the same name reuses the first, so references stay valid', async () => {
    const { jobId, documentId, envelope } = await seedJob(await fixture('ocr/phototest-rotated-180.png'));
    assert.equal((await handleOcr(envelope, { ...deps, engine: createLocalOcrEngine() })).action, 'completed');
    const firstText = (await deps.documents.get(documentId))?.text;
    // A later attempt on the same generation (e.g. after a failed completion) writes the same names.
    const again = await deps.storage.writeDerived({ bucket: cfg.bucket, object: firstText?.object ?? '', contentType: 'text/plain', body: 'different' });
    assert.equal(again.generation, firstText?.generation);
    assert.match((await deps.storage.read({ bucket: cfg.bucket, object: firstText?.object ?? '' })).toString('utf8'), /quick brown dog/);
    assert.equal((await deps.jobs.get(jobId))?.stages.ocr?.status, 'COMPLETED');
  });
});

describe('handleOcr endings', () => {
  it('does not acknowledge when announcing the text is ready fails; the redelivery announces it', async () => {
    const { jobId, envelope } = await seedJob(await fixture('ocr/phototest-rotated-180.png'));
    let failures = 1;
    const flaky: Publisher = {
      publish: (topic, data, attributes) => {
        if (topic === 'document-events' && failures-- > 0) return Promise.reject(Object.assign(new Error('unavailable'), { code: 14 }));
        return deps.publisher.publish(topic, data, attributes);
      },
    };
    await assert.rejects(handleOcr(envelope, { ...deps, publisher: flaky, engine: createLocalOcrEngine() }), /unavailable/);
    let job = await deps.jobs.get(jobId);
    assert.equal(job?.stages.ocr?.status, 'COMPLETED');
    assert.equal(job?.stages.ocr?.announced, false);
    const again = await handleOcr(envelope, { ...deps, publisher: flaky, engine: failing(new Error('must not run')) });
    assert.equal(again.action, 'skipped');
    job = await deps.jobs.get(jobId);
    assert.equal(job?.stages.ocr?.announced, true);
  });

  it('gives the job up as taken over (retryable, not acknowledged) when another attempt took its lease', async () => {
    const { jobId, envelope } = await seedJob(await fixture('ocr/phototest-rotated-180.png'));
    const g = gated(createLocalOcrEngine());
    const first = handleOcr(envelope, { ...deps, engine: g.engine });
    await until(() => g.calls() === 1);
    await deps.jobs.ref(jobId).update({ 'stages.ocr.lease': { id: 'usurper', messageId: 'other', expiresAt: new Date(Date.now() + 600_000).toISOString() } });
    g.release();
    await assert.rejects(first, (err: unknown) => err instanceof TransientError && err.code === 'LEASE_LOST');
    const job = await deps.jobs.get(jobId);
    assert.equal(job?.status, 'RUNNING', 'the usurper, not this attempt, ends the job');
  });

  it('fails the job alone when its document record has vanished', async () => {
    const { jobId, documentId, envelope } = await seedJob();
    await deps.jobs.ref(jobId).update({ attempts: 3, 'stages.ocr.attempts': 3 });
    await testFirestore(cfg).doc(`documents/${documentId}`).delete();
    const out = await handleOcr(envelope, { ...deps, engine: failing(new Error('must not run')) });
    assert.equal(out.action, 'failed');
    const job = await deps.jobs.get(jobId);
    assert.equal(job?.status, 'FAILED');
    assert.equal(job?.error?.code, 'DOCUMENT_MISSING');
  });
});

describe('handleOcr trusts the records, not the message', () => {
  const request = (r: { jobId: string; projectId: string; documentId: string; object: string; generation: string; contentType?: string }) =>
    pushEnvelope('ocr-requests', {
      type: 'scriptorium.document.ocr.requested.v1', jobId: r.jobId, projectId: r.projectId, documentId: r.documentId,
      source: { bucket: cfg.bucket, object: r.object, generation: r.generation }, contentType: r.contentType ?? 'image/png', requestedAt: new Date().toISOString(),
    });

  it('ignores a request naming job A with document B of another project: neither changes', async () => {
    const a = await seedJob(await fixture('ocr/phototest-rotated-180.png'));
    const b = await seedJob(Buffer.from('b'), 'other-project');
    const engine = failing(new Error('must not run'));
    const forged = request({ jobId: a.jobId, projectId: 'other-project', documentId: b.documentId, object: a.object, generation: a.generation });
    const out = await handleOcr(forged, { ...deps, engine });
    assert.equal(out.action, 'skipped');
    assert.equal(engine.calls, 0);
    const [jobA, docB] = await Promise.all([deps.jobs.get(a.jobId), deps.documents.get(b.documentId)]);
    assert.equal(jobA?.status, 'RUNNING');
    assert.equal(jobA?.attempts, 0);
    assert.equal(jobA?.stages.ocr?.lease, null);
    assert.equal(jobA?.stages.ocr?.status, 'PENDING');
    assert.equal(docB?.status, 'PROCESSING');
    assert.equal(docB?.text, null);
    // The real request for A still works afterwards.
    const real = await handleOcr(a.envelope, { ...deps, engine: createLocalOcrEngine() });
    assert.equal(real.action, 'completed');
    assert.equal((await deps.documents.get(b.documentId))?.status, 'PROCESSING', 'B untouched by A');
  });

  it('ignores a request naming another object than the job\'s, and one of the right object in another project', async () => {
    const a = await seedJob();
    const b = await seedJob();
    const engine = failing(new Error('must not run'));
    for (const forged of [
      request({ jobId: a.jobId, projectId: 'test', documentId: a.documentId, object: b.object, generation: a.generation }),
      request({ jobId: a.jobId, projectId: 'elsewhere', documentId: a.documentId, object: a.object, generation: a.generation }),
    ]) {
      assert.equal((await handleOcr(forged, { ...deps, engine })).action, 'skipped');
    }
    assert.equal(engine.calls, 0);
    assert.equal((await deps.jobs.get(a.jobId))?.attempts, 0);
  });

  it('takes the content type from the job: a message calling a PNG a PDF still reads the PNG', async () => {
    const a = await seedJob(await fixture('ocr/phototest-rotated-180.png'));
    const out = await handleOcr(request({ ...a, projectId: 'test', contentType: 'application/pdf' }), { ...deps, engine: createLocalOcrEngine() });
    assert.equal(out.action, 'completed', JSON.stringify(out));
  });

  it('fails the job alone when its document names another job, leaving that document as it was', async () => {
    const a = await seedJob();
    await testFirestore(cfg).doc(`documents/${a.documentId}`).update({ jobId: 'job_ffffffffffffffffffff' });
    const out = await handleOcr(a.envelope, { ...deps, engine: failing(new Error('must not run')) });
    assert.equal(out.action, 'failed');
    const [job, doc] = await Promise.all([deps.jobs.get(a.jobId), deps.documents.get(a.documentId)]);
    assert.equal(job?.status, 'FAILED');
    assert.equal(job?.error?.code, 'DOCUMENT_MISMATCH');
    assert.equal(doc?.status, 'PROCESSING');
  });

  it('refuses ids that would reach another Firestore path', async () => {
    const a = await seedJob();
    const bad = { ...a.envelope, message: { ...a.envelope.message, data: Buffer.from(JSON.stringify({ type: 'scriptorium.document.ocr.requested.v1', jobId: `${a.jobId}/logs/000`, projectId: 'test', documentId: a.documentId, source: { bucket: cfg.bucket, object: a.object, generation: a.generation }, contentType: 'image/png', requestedAt: new Date().toISOString() })).toString('base64') } };
    await assert.rejects(handleOcr(bad, { ...deps, engine: failing(new Error('must not run')) }), (err: unknown) => err instanceof PermanentError && err.code === 'MESSAGE_CONTRACT_VIOLATION');
  });
});
