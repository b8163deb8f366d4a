/**
 * The parallel stages after OCR (embedding and summary) on the stage runner, against the real
 * Firestore and storage emulators: the job completes with its last stage, a stage that fails for
 * good fails the job naming the stage while the other keeps what it did, and a stage's own
 * redelivery repeats nothing. The real local engines do the work; faults are injected by engines
 * that fail on purpose.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { PubSub } from '@google-cloud/pubsub';
import { Storage } from '@google-cloud/storage';
import { localConfigForTests } from '../helpers/platform.js';
import { testFirestore } from '../helpers/client.js';
import { pushEnvelope } from '../helpers/events.js';
import { handleEmbed } from '../../functions/embed/handler.js';
import { handleSummarize } from '../../functions/summarize/handler.js';
import { JobRepository } from '../../shared/firestore/jobs.js';
import { DocumentRepository } from '../../shared/firestore/documents.js';
import { ChunkRepository } from '../../shared/firestore/chunks.js';
import { createPublisher, type Publisher } from '../../shared/events/publisher.js';
import { createStorageGateway, type StorageGateway } from '../../shared/storage/index.js';
import { createLogger } from '../../shared/logger/index.js';
import { PermanentError, TransientError } from '../../shared/errors/index.js';
import { createLocalSummaryEngine } from '../../shared/engines/summary/local.js';
import { createEmbeddingEngine } from '../../shared/engines/embeddings/index.js';
import type { SummaryEngine } from '../../shared/engines/summary/types.js';
import type { EmbeddingEngine } from '../../shared/engines/embeddings/types.js';
import type { LocalConfig } from '../../emulators/local-config.js';

let cfg: LocalConfig;
let jobs: JobRepository;
let documents: DocumentRepository;
let chunks: ChunkRepository;
let storage: StorageGateway;
let publisher: Publisher;
const log = createLogger({ test: 'stages' });
const localEmbedding = createEmbeddingEngine({ engine: 'local' });

const TEXT = [
  'The archive holds letters written between 1820 and 1850. Most of them concern the family estate and its tenants.',
  'A second series records the building of the railway. The engineers wrote weekly reports to the board.',
  '\f',
  'The third part is a diary. Its author describes the harvest, the weather and the prices at the market in great detail.',
].join('\n\n');

before(() => {
  cfg = localConfigForTests();
  process.env.PUBSUB_EMULATOR_HOST = cfg.pubsubEmulatorHost;
  process.env.STORAGE_EMULATOR_HOST = cfg.storageEmulatorHost;
  const db = testFirestore(cfg);
  jobs = new JobRepository(db);
  documents = new DocumentRepository(db);
  chunks = new ChunkRepository(db);
  storage = createStorageGateway({ projectId: cfg.gcpProjectId });
  // Terminal announcements go to the real topic; that is harmless here (no stage takes document.ready).
  publisher = createPublisher(new PubSub({ projectId: cfg.gcpProjectId }));
});

/** A job as OCR leaves it: text written, OCR COMPLETED, embed and summarize PENDING; and its text-ready event. */
async function seedAfterOcr() {
  const suffix = randomBytes(10).toString('hex');
  const documentId = `doc_${suffix}`;
  const jobId = `job_${suffix}`;
  const source = `test-sources/${documentId}/notes.txt`;
  const textObject = `derived/test/${documentId}/1/text.txt`;
  const bucket = new Storage({ projectId: cfg.gcpProjectId, apiEndpoint: cfg.storageEmulatorHost }).bucket(cfg.bucket);
  await bucket.file(source).save(TEXT, { resumable: false, contentType: 'text/plain' });
  await bucket.file(textObject).save(TEXT, { resumable: false, contentType: 'text/plain; charset=utf-8' });
  const generation = String(bucket.file(source).metadata.generation);
  const textGeneration = String(bucket.file(textObject).metadata.generation);
  const db = testFirestore(cfg);
  await db.runTransaction(async (tx) => {
    documents.createIn(tx, {
      id: documentId, projectId: 'test', ownerUid: 'u', fileName: 'notes.txt', contentType: 'text/plain', declaredSize: TEXT.length, status: 'PROCESSING', jobId, currentVersion: 1,
      source: { bucket: cfg.bucket, object: source, generation, size: TEXT.length, md5Hash: null, crc32c: null }, pageCount: 2, language: 'eng',
      text: { bucket: cfg.bucket, object: textObject, generation: textGeneration, size: TEXT.length, md5Hash: null, crc32c: null },
    });
    jobs.createIn(tx, {
      id: jobId, kind: 'document.process', projectId: 'test', documentId, ownerUid: 'u', agentId: null, status: 'RUNNING', stage: 'embed+summarize', progress: 60, attempts: 1, error: null,
      input: { bucket: cfg.bucket, object: source, fileName: 'notes.txt', contentType: 'text/plain', declaredSize: TEXT.length, generation, uploadExpiresAt: null, md5Hash: null, crc32c: null, detectedType: 'text/plain', family: 'text' },
      dispatchedStage: 'ocr', result: null, cancelRequested: false, retryOf: null, metrics: {},
    }, { level: 'INFO', message: 'seeded' });
    return Promise.resolve();
  });
  const text = { bucket: cfg.bucket, object: textObject, generation: textGeneration };
  await jobs.update(jobId, () => ({
    stages: [{ name: 'ocr', status: 'COMPLETED', result: { pageCount: 2, language: 'eng', text } }, { name: 'embed', status: 'PENDING' }, { name: 'summarize', status: 'PENDING' }],
  }));
  const event = pushEnvelope('document-events', { type: 'scriptorium.document.text.ready.v1', jobId, projectId: 'test', documentId, generation, text, pageCount: 2, language: 'eng', occurredAt: new Date().toISOString() });
  return { jobId, documentId, event };
}

const deps = () => ({ jobs, documents, storage, publisher, log, config: { SCRIPTORIUM_MAX_ATTEMPTS: 3 } });

function failingSummary(err: Error): SummaryEngine & { calls: number } {
  const engine = { name: 'failing', model: 'none', calls: 0, summarize: () => { engine.calls++; return Promise.reject(err); } };
  return engine;
}
function failingEmbedding(err: Error): EmbeddingEngine & { calls: number } {
  const engine = { name: 'failing', model: 'none', dimensions: 512, maxInputTokens: 512, calls: 0, embed: () => { engine.calls++; return Promise.reject(err); } };
  return engine;
}

describe('parallel stages', () => {
  it('completes the job with its last stage: embed then summarize, each once', async () => {
    const { jobId, documentId, event } = await seedAfterOcr();
    const embedded = await handleEmbed(event, { ...deps(), chunks, engine: () => localEmbedding });
    assert.equal(embedded.action, 'completed');
    let job = await jobs.get(jobId);
    assert.equal(job?.status, 'RUNNING', 'one stage left');
    assert.equal(job?.stage, 'summarize');
    assert.equal(job?.stages.embed?.status, 'COMPLETED');
    const summarized = await handleSummarize(event, { ...deps(), engine: () => createLocalSummaryEngine() });
    assert.equal(summarized.action, 'completed');
    job = await jobs.get(jobId);
    assert.equal(job?.status, 'COMPLETED');
    assert.equal(job?.progress, 100);
    assert.equal(job?.announced, true);
    const doc = await documents.get(documentId);
    assert.equal(doc?.status, 'READY');
    assert.ok(doc?.summary?.text);
    assert.equal(doc?.chunkCount, (await chunks.list(documentId, 1)).length);
    // Chunks keep their pages: the form feed separates page 1 from page 2.
    const listed = await chunks.list(documentId, 1);
    assert.ok(listed.some((c) => c.pageStart === 2), 'a chunk on page 2');
    // Redelivered: nothing runs again, nothing is duplicated.
    assert.equal((await handleEmbed(event, { ...deps(), chunks, engine: () => failingEmbedding(new Error('must not run')) })).action, 'skipped');
    assert.equal((await chunks.list(documentId, 1)).length, listed.length);
  });

  it('fails the job naming the stage when a stage fails for good; the other keeps its result', async () => {
    const { jobId, documentId, event } = await seedAfterOcr();
    assert.equal((await handleEmbed(event, { ...deps(), chunks, engine: () => localEmbedding })).action, 'completed');
    const out = await handleSummarize(event, { ...deps(), engine: () => failingSummary(new PermanentError('CONTENT_BLOCKED', 'the model refused to summarize this text')) });
    assert.equal(out.action, 'failed');
    const job = await jobs.get(jobId);
    assert.equal(job?.status, 'FAILED');
    assert.equal(job?.stage, 'summarize');
    assert.equal(job?.error?.code, 'CONTENT_BLOCKED');
    assert.equal(job?.stages.summarize?.status, 'FAILED');
    assert.equal(job?.stages.embed?.status, 'COMPLETED', 'the other stage keeps what it did');
    assert.ok((await chunks.list(documentId, 1)).length > 0);
    assert.equal((await documents.get(documentId))?.status, 'FAILED');
  });

  it('retries a transient failure of one stage without touching the other, and cancels the pending one when the job fails', async () => {
    const { jobId, event } = await seedAfterOcr();
    const flaky = failingEmbedding(new TransientError('ENGINE_FAILED', 'model crashed'));
    for (let attempt = 1; attempt < 3; attempt++) await assert.rejects(handleEmbed(event, { ...deps(), chunks, engine: () => flaky }), TransientError);
    let job = await jobs.get(jobId);
    assert.equal(job?.stages.embed?.attempts, 2);
    assert.equal(job?.stages.embed?.error?.code, 'ENGINE_FAILED');
    assert.equal(job?.stages.summarize?.status, 'PENDING');
    assert.equal(job?.stages.summarize?.attempts, 0);
    const last = await handleEmbed(event, { ...deps(), chunks, engine: () => flaky });
    assert.equal(last.action, 'failed');
    job = await jobs.get(jobId);
    assert.equal(job?.status, 'FAILED');
    assert.match(job?.error?.message ?? '', /gave up after 3 attempts/);
    assert.equal(job?.stages.summarize?.status, 'CANCELLED', 'a stage that will never run is cancelled');
    // Its event, when it arrives, does no work.
    const late = failingSummary(new Error('must not run'));
    assert.equal((await handleSummarize(event, { ...deps(), engine: () => late })).action, 'skipped');
    assert.equal(late.calls, 0);
  });

  it('ignores a text-ready event for another text than the job\'s', async () => {
    const { event } = await seedAfterOcr();
    const data = JSON.parse(Buffer.from(event.message.data, 'base64').toString('utf8')) as Record<string, unknown>;
    const other = pushEnvelope('document-events', { ...(data as Parameters<typeof pushEnvelope<'document-events'>>[1]), text: { bucket: cfg.bucket, object: 'derived/test/elsewhere/text.txt', generation: '1' } } as Parameters<typeof pushEnvelope<'document-events'>>[1]);
    const engine = failingEmbedding(new Error('must not run'));
    assert.equal((await handleEmbed(other, { ...deps(), chunks, engine: () => engine })).action, 'skipped');
    assert.equal(engine.calls, 0);
  });
});

describe('parallel stages finishing together', () => {
  it('announces the job once whichever stage completes it, when both complete at the same moment', async () => {
    for (let round = 0; round < 3; round++) {
      const { jobId, event } = await seedAfterOcr();
      const outcomes = await Promise.all([
        handleEmbed(event, { ...deps(), chunks, engine: () => localEmbedding }),
        handleSummarize(event, { ...deps(), engine: () => createLocalSummaryEngine() }),
      ]);
      assert.deepEqual(outcomes.map((o) => o.action), ['completed', 'completed']);
      const job = await jobs.get(jobId);
      assert.equal(job?.status, 'COMPLETED');
      assert.equal(job?.announced, true, `round ${round}: ${JSON.stringify({ status: job?.status, stages: job?.stages })}`);
    }
  });
});
