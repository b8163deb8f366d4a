/**
 * The usage meter against the real Firestore emulator: it counts exactly the reads, writes and
 * deletes Firestore bills for known operations, attributes them to the attempt that made them, and
 * an attempt's usage is recorded with its guarded transition once (job, stage and project day).
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { FieldValue, Firestore } from '@google-cloud/firestore';
import { localConfigForTests } from '../helpers/platform.js';
import { UsageMeter, meterFirestore } from '../../shared/cost/meter.js';
import { BUNDLED_PRICES, unitPrice } from '../../shared/cost/prices.js';
import { usagePaths } from '../../shared/cost/record.js';
import { usageDay, UsageRecordSchema } from '../../shared/cost/usage.js';
import { JobRepository, type NewJob } from '../../shared/firestore/jobs.js';
import { toPlain } from '../../shared/firestore/client.js';

let db: Firestore;

before(() => {
  const cfg = localConfigForTests();
  process.env.FIRESTORE_EMULATOR_HOST = cfg.firestoreEmulatorHost;
  // A client of its own, metered as the functions' client is.
  db = meterFirestore(new Firestore({ projectId: cfg.gcpProjectId, ignoreUndefinedProperties: true }));
});

describe('usage meter: Firestore operations', () => {
  it('counts the reads, writes and deletes Firestore bills for known operations', async () => {
    const col = db.collection(`usage-meter-test-${randomUUID()}`);
    const meter = new UsageMeter();
    await meter.run(async () => {
      const batch = db.batch();
      for (const id of ['a', 'b', 'c']) batch.set(col.doc(id), { n: 1 });
      await batch.commit(); // 3 writes
      await col.doc('a').get(); // 1 read
      await col.doc('missing').get(); // 1 read (a missing document is billed too)
      assert.equal((await col.get()).size, 3); // 3 reads
      assert.equal((await col.where('n', '==', 2).get()).size, 0); // 1 read (the minimum of a query)
      await db.runTransaction(async (tx) => {
        const snap = await tx.get(col.doc('b')); // 1 read
        tx.update(snap.ref, { n: 2, at: FieldValue.serverTimestamp() }); // 1 write (the transform is part of it)
      });
      await col.doc('c').delete(); // 1 delete
      await col.doc('d').create({ n: 3 }); // 1 write
      await (await col.doc('d').get()).ref.update({ n: 4 }); // 1 read, 1 write
      await col.count().get(); // 1 read (an aggregation)
    });
    assert.deepEqual(meter.snapshot(), { firestoreWrites: 6, firestoreReads: 9, firestoreDeletes: 1 });
  });

  it('attributes concurrent attempts their own operations, and counts nothing outside an attempt', async () => {
    const col = db.collection(`usage-meter-test-${randomUUID()}`);
    const [m1, m2] = [new UsageMeter(), new UsageMeter()];
    await Promise.all([
      m1.run(async () => {
        for (let i = 0; i < 5; i++) await col.doc(`x${i}`).set({ i });
      }),
      m2.run(async () => {
        for (let i = 0; i < 2; i++) await col.doc(`y${i}`).set({ i });
        await col.doc('x0').get();
      }),
      col.doc('outside').set({ n: 1 }),
    ]);
    assert.deepEqual(m1.snapshot(), { firestoreWrites: 5 });
    assert.deepEqual(m2.snapshot(), { firestoreWrites: 2, firestoreReads: 1 });
  });
});

describe('usage meter: recording with the guarded transition', () => {
  it("adds an attempt's usage to the job, its stage and the project's day once, with the transaction's own writes", async () => {
    const jobs = new JobRepository(db);
    const projectId = `usage-${randomUUID().slice(0, 8)}`;
    const job: NewJob = {
      id: `job_usage_${randomUUID()}`,
      kind: 'document.process',
      projectId,
      documentId: null,
      ownerUid: 'u',
      agentId: null,
      status: 'RUNNING',
      stage: 'ocr',
      progress: 0,
      attempts: 0,
      error: null,
      input: { bucket: 'b', object: 'o', fileName: 'f', contentType: 'application/pdf', declaredSize: 1, generation: '1', uploadExpiresAt: null, md5Hash: null, crc32c: null, detectedType: null, family: null },
      dispatchedStage: null,
      result: null,
      cancelRequested: false,
      retryOf: null,
      metrics: {},
      stages: { ocr: { status: 'PENDING' } },
    };
    await db.runTransaction((tx) => Promise.resolve(jobs.createIn(tx, job, { level: 'INFO', message: 'created' })));
    const attempt = { ocrPages: 4, firestoreReads: 3, firestoreWrites: 2 };
    const charge = { stage: 'ocr', units: attempt, prices: BUNDLED_PRICES };
    // The completion, guarded like the runner's (here: the stage is not yet completed).
    const complete = () => jobs.update(job.id, (j) => (j.stages.ocr?.status === 'COMPLETED' ? null : { stages: [{ name: 'ocr', status: 'COMPLETED' }], usage: charge, log: { level: 'INFO', message: 'done' } }));
    const first = await complete();
    assert.ok(first.applied);
    const second = await complete(); // a redelivery meets the completed stage: declined, nothing recorded
    assert.equal(second.applied, false);

    const stored = await jobs.get(job.id);
    // This transaction wrote the job, its log entry and the project's day: 3 more writes.
    assert.deepEqual(stored?.usage?.units, { ocrPages: 4, firestoreReads: 3, firestoreWrites: 5 });
    assert.deepEqual(stored?.stages.ocr?.usage?.units, stored?.usage?.units);
    assert.equal(stored?.usage?.attempts, 1);
    assert.deepEqual(first.job.usage?.units, stored?.usage?.units, 'the in-memory job after the update matches the stored one');
    const expected = 4 * unitPrice(BUNDLED_PRICES, 'ocrPages') + 3 * unitPrice(BUNDLED_PRICES, 'firestoreReads') + 5 * unitPrice(BUNDLED_PRICES, 'firestoreWrites');
    assert.ok(Math.abs((stored?.usage?.totalUsd ?? 0) - expected) < 1e-8, `${stored?.usage?.totalUsd} vs ${expected}`);

    const days = await db.collection(usagePaths.projectUsage(projectId)).get();
    assert.equal(days.size, 1);
    assert.equal(days.docs[0]?.id, usageDay(new Date()));
    const day = UsageRecordSchema.parse(toPlain(days.docs[0]?.data()));
    assert.deepEqual(day.units, stored?.usage?.units);
    assert.equal(day.totalUsd, stored?.usage?.totalUsd);
  });
});
