/**
 * Batched document reads (shared/firestore/reads.ts) against the real Firestore emulator: the reads
 * of one turn are one getAll, answers are the documents' current state (a write before the read is
 * seen), a missing document is a snapshot that does not exist, and the repositories read through it.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Firestore } from '@google-cloud/firestore';
import { localConfigForTests } from '../helpers/platform.js';
import { testFirestore } from '../helpers/client.js';
import { batchedReads } from '../../shared/firestore/reads.js';
import { ProjectRepository } from '../../shared/firestore/projects.js';

let db: Firestore;
const prefix = `batched-${randomBytes(6).toString('hex')}`;

before(() => {
  db = testFirestore(localConfigForTests());
});

describe('batched document reads', () => {
  it('reads of one turn are one getAll; each gets its own document, missing ones do not exist', async () => {
    await Promise.all([db.doc(`${prefix}/a`).set({ n: 1 }), db.doc(`${prefix}/b`).set({ n: 2 })]);
    const reads = batchedReads(db);
    const [a, b, missing, again] = await Promise.all([reads.read(db.doc(`${prefix}/a`)), reads.read(db.doc(`${prefix}/b`)), reads.read(db.doc(`${prefix}/none`)), reads.read(db.doc(`${prefix}/a`))]);
    assert.equal(a.get('n'), 1);
    assert.equal(b.get('n'), 2);
    assert.equal(again.get('n'), 1);
    assert.equal(missing.exists, false);
    assert.deepEqual(reads.stats, { loads: 4, batches: 1 });
  });

  it('a read after a write sees the write (each read is sent after it was asked)', async () => {
    const reads = batchedReads(db);
    const ref = db.doc(`${prefix}/fresh`);
    await ref.set({ v: 'old' });
    assert.equal((await reads.read(ref)).get('v'), 'old');
    await ref.set({ v: 'new' });
    assert.equal((await reads.read(ref)).get('v'), 'new');
  });

  it('repositories read through it: concurrent membership checks share one call', async () => {
    const project = `p${randomBytes(5).toString('hex')}`;
    await db.doc(`projects/${project}/members/u1`).set({ role: 'editor', uid: 'u1' });
    const reads = batchedReads(db);
    const projects = new ProjectRepository(db, reads);
    const roles = await Promise.all(['u1', 'u2', 'u1'].map((u) => projects.roleOf(project, u)));
    assert.deepEqual(roles, ['editor', null, 'editor']);
    assert.equal(reads.stats.batches, 1);
  });
});
