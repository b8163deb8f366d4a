/** JobRepository against the real Firestore emulator of the test platform. */
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { localConfigForTests } from '../helpers/platform.js';
import { testFirestore } from '../helpers/client.js';
import { JobRepository, type NewJob } from '../../shared/firestore/jobs.js';
import { LOG_CAPACITY } from '../../shared/jobs/model.js';
import type { Firestore } from '@google-cloud/firestore';

let db: Firestore;
let jobs: JobRepository;

function newJob(): NewJob {
  return {
    id: `job_test_${randomUUID()}`,
    kind: 'document.process',
    projectId: 'test',
    documentId: null,
    ownerUid: 'u',
    agentId: null,
    status: 'PENDING',
    stage: 'upload',
    progress: 0,
    attempts: 0,
    error: null,
    input: { bucket: 'b', object: 'o', fileName: 'f', contentType: 'application/pdf', declaredSize: 1, generation: null, uploadExpiresAt: null, md5Hash: null, crc32c: null, detectedType: null, family: null },
    dispatchedStage: null,
    result: null,
    cancelRequested: false,
    retryOf: null,
    metrics: {},
  };
}

async function create(): Promise<string> {
  const job = newJob();
  await db.runTransaction(async (tx) => {
    jobs.createIn(tx, job, { level: 'INFO', message: 'created' });
    return Promise.resolve();
  });
  return job.id;
}

before(() => {
  db = testFirestore(localConfigForTests());
  jobs = new JobRepository(db);
});

describe('JobRepository.update', () => {
  it('stamps startedAt and finishedAt and sets progress 100 on completion', async () => {
    const id = await create();
    await jobs.update(id, () => ({ status: 'RUNNING', stage: 'ocr', progress: 10 }));
    const out = await jobs.update(id, () => ({ status: 'COMPLETED', stage: 'done' }));
    assert.equal(out.applied, true);
    const job = await jobs.get(id);
    assert.equal(job?.status, 'COMPLETED');
    assert.equal(job?.progress, 100);
    assert.ok(job?.startedAt && job.finishedAt);
  });

  it('never moves a terminal job again', async () => {
    const id = await create();
    await jobs.update(id, () => ({ status: 'FAILED', error: { code: 'X', message: 'x', retryable: false } }));
    const out = await jobs.update(id, () => ({ status: 'RUNNING', progress: 50 }));
    assert.equal(out.applied, false);
    assert.equal(out.reason, 'forbidden-transition');
    const again = await jobs.update(id, () => ({ status: 'FAILED', error: { code: 'Y', message: 'y', retryable: false } }));
    assert.equal(again.applied, false);
    assert.equal((await jobs.get(id))?.error?.code, 'X');
  });

  it('refuses transitions the state machine forbids', async () => {
    const id = await create();
    const out = await jobs.update(id, () => ({ status: 'COMPLETED' }));
    assert.equal(out.applied, false);
    assert.equal((await jobs.get(id))?.status, 'PENDING');
  });

  it('keeps progress monotonic', async () => {
    const id = await create();
    await jobs.update(id, () => ({ status: 'RUNNING', progress: 60 }));
    await jobs.update(id, () => ({ progress: 20 }));
    assert.equal((await jobs.get(id))?.progress, 60);
  });

  it('keeps a bounded log: the last LOG_CAPACITY entries', async () => {
    const id = await create();
    await jobs.update(id, () => ({ status: 'RUNNING' }));
    const n = LOG_CAPACITY + 10;
    // A batch of plain updates would be faster, but every entry must go through the guarded path.
    for (let i = 0; i < n; i++) await jobs.update(id, () => ({ log: { level: 'INFO', message: `step ${i}` } }));
    const logs = await db.collection(`jobs/${id}/logs`).get();
    assert.equal(logs.size, LOG_CAPACITY);
    const seqs = logs.docs.map((d) => Number(d.get('seq'))).sort((a, b) => a - b);
    assert.equal(seqs.at(-1), n, 'newest entry kept (seq 0 is the creation entry)');
    assert.equal((await jobs.get(id))?.logCount, n + 1);
  });

  it('serialises concurrent attempts: two claims increment attempts twice, never lose one', async () => {
    const id = await create();
    await jobs.update(id, () => ({ status: 'RUNNING' }));
    await Promise.all([jobs.update(id, () => ({ attempts: 'increment' })), jobs.update(id, () => ({ attempts: 'increment' }))]);
    assert.equal((await jobs.get(id))?.attempts, 2);
  });
});

describe('JobRepository.update: stages', () => {
  it('creates a stage, stamps its times, keeps its progress monotonic and its completion at 100', async () => {
    const id = await create();
    await jobs.update(id, () => ({ status: 'RUNNING', stages: [{ name: 'ocr', status: 'PENDING' }] }));
    await jobs.update(id, () => ({ stages: [{ name: 'ocr', status: 'RUNNING', attempts: 'increment', progress: 40 }] }));
    await jobs.update(id, () => ({ stages: [{ name: 'ocr', progress: 10 }] }));
    let job = await jobs.get(id);
    assert.equal(job?.stages.ocr?.status, 'RUNNING');
    assert.equal(job?.stages.ocr?.progress, 40);
    assert.equal(job?.stages.ocr?.attempts, 1);
    assert.ok(job?.stages.ocr?.startedAt);
    await jobs.update(id, () => ({ stages: [{ name: 'ocr', status: 'COMPLETED', result: { pages: 2 } }] }));
    job = await jobs.get(id);
    assert.equal(job?.stages.ocr?.progress, 100);
    assert.deepEqual(job?.stages.ocr?.result, { pages: 2 });
    assert.ok(job?.stages.ocr?.finishedAt);
  });

  it('keeps parallel stages apart: concurrent updates of two stages lose nothing', async () => {
    const id = await create();
    await jobs.update(id, () => ({ status: 'RUNNING', stages: [{ name: 'embed', status: 'PENDING' }, { name: 'summarize', status: 'PENDING' }] }));
    await Promise.all([
      jobs.update(id, () => ({ stages: [{ name: 'embed', status: 'RUNNING', attempts: 'increment', progress: 30 }] })),
      jobs.update(id, () => ({ stages: [{ name: 'summarize', status: 'RUNNING', attempts: 'increment', progress: 70 }] })),
    ]);
    const job = await jobs.get(id);
    assert.deepEqual([job?.stages.embed?.progress, job?.stages.summarize?.progress], [30, 70]);
    assert.deepEqual([job?.stages.embed?.attempts, job?.stages.summarize?.attempts], [1, 1]);
  });

  it('never moves a terminal stage, and a terminal job cancels the stages that will not run', async () => {
    const id = await create();
    await jobs.update(id, () => ({ status: 'RUNNING', stages: [{ name: 'embed', status: 'COMPLETED' }, { name: 'summarize', status: 'RUNNING', lease: { id: 'a', messageId: 'm', expiresAt: new Date(Date.now() + 60_000).toISOString() } }] }));
    const refused = await jobs.update(id, () => ({ stages: [{ name: 'embed', status: 'FAILED' }] }));
    assert.equal(refused.applied, false);
    assert.equal(refused.reason, 'forbidden-transition');
    await jobs.update(id, () => ({ status: 'FAILED', error: { code: 'X', message: 'x', retryable: false } }));
    const job = await jobs.get(id);
    assert.equal(job?.stages.embed?.status, 'COMPLETED', 'a finished stage stays as it was');
    assert.equal(job?.stages.summarize?.status, 'CANCELLED');
    assert.equal(job?.stages.summarize?.lease, null);
  });

  it('refuses stage names that are not plain identifiers (they become field paths)', async () => {
    const id = await create();
    await assert.rejects(jobs.update(id, () => ({ stages: [{ name: 'a.b', status: 'PENDING' }] })), /invalid stage name/);
  });
});
