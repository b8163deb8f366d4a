/**
 * The Firestore security rules (`shared/firestore/firestore.rules`, loaded into the emulator by the
 * platform) as a browser sees them: the client SDK, signed in through the Auth emulator. Members read
 * their project's documents and jobs; strangers read nothing; nobody writes.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { deleteApp, initializeApp, type FirebaseApp } from 'firebase/app';
import { connectAuthEmulator, getAuth, signInWithEmailAndPassword } from 'firebase/auth';
import { collection, connectFirestoreEmulator, doc, getDoc, getDocs, getFirestore, limit, query, setDoc, where, type Firestore } from 'firebase/firestore';
import { localConfigForTests } from '../helpers/platform.js';
import { createUpload, signIn, signUp, testFirestore } from '../helpers/client.js';
import type { LocalConfig } from '../../emulators/local-config.js';
import type { CreateUploadResponse } from '../../shared/api/contracts.js';

let cfg: LocalConfig;
let upload: CreateUploadResponse;
const apps: FirebaseApp[] = [];

/** A client app signed in as the given user, like a web console would be. */
async function clientAs(email: string, password: string): Promise<Firestore> {
  const app = initializeApp({ projectId: cfg.gcpProjectId, apiKey: 'local', authDomain: 'localhost' }, `rules-${apps.length}`);
  apps.push(app);
  const auth = getAuth(app);
  connectAuthEmulator(auth, `http://${cfg.authEmulatorHost}`, { disableWarnings: true });
  await signInWithEmailAndPassword(auth, email, password);
  const db = getFirestore(app);
  const [host, port] = cfg.firestoreEmulatorHost.split(':');
  connectFirestoreEmulator(db, host ?? '127.0.0.1', Number(port));
  return db;
}

const denied = (err: unknown): boolean => typeof err === 'object' && err !== null && 'code' in err && err.code === 'permission-denied';

before(async () => {
  cfg = localConfigForTests();
  upload = await createUpload(cfg, await signIn(cfg), { fileName: 'rules.pdf', contentType: 'application/pdf', size: 10 });
});

after(async () => {
  await Promise.all(apps.map((a) => deleteApp(a)));
});

describe('Firestore security rules', () => {
  it('let a project member read its documents and jobs', async () => {
    const db = await clientAs(cfg.demoUser.email, cfg.demoUser.password);
    assert.equal((await getDoc(doc(db, 'jobs', upload.jobId))).get('status'), 'PENDING');
    assert.equal((await getDoc(doc(db, 'documents', upload.documentId))).get('fileName'), 'rules.pdf');
  });

  it('refuse reads to a signed-in user who is not a member', async () => {
    const email = `outsider-${Date.now()}@example.com`;
    await signUp(cfg, email, 'outsider-pw');
    const db = await clientAs(email, 'outsider-pw');
    await assert.rejects(getDoc(doc(db, 'jobs', upload.jobId)), denied);
    await assert.rejects(getDoc(doc(db, 'documents', upload.documentId)), denied);
    await assert.rejects(getDoc(doc(db, 'projects', cfg.projectId)), denied);
    await assert.rejects(getDoc(doc(db, 'documents', upload.documentId, 'versions', 'v000001')), denied);
  });

  it('let a project member read every version of its documents', async () => {
    const db = await clientAs(cfg.demoUser.email, cfg.demoUser.password);
    const versions = await getDocs(collection(db, 'documents', upload.documentId, 'versions'));
    assert.deepEqual(versions.docs.map((d): unknown[] => [d.id, d.get('version') as unknown, d.get('fileName') as unknown]), [['v000001', 1, 'rules.pdf']]);
    await assert.rejects(setDoc(doc(db, 'documents', upload.documentId, 'versions', 'v000002'), { projectId: cfg.projectId }), denied);
  });

  it('refuse every client write, even a member\'s', async () => {
    const db = await clientAs(cfg.demoUser.email, cfg.demoUser.password);
    await assert.rejects(setDoc(doc(db, 'jobs', upload.jobId), { status: 'COMPLETED' }, { merge: true }), denied);
    await assert.rejects(setDoc(doc(db, 'projects', cfg.projectId, 'members', 'intruder'), { role: 'admin' }), denied);
  });

  it("let members read their project's usage days; deny strangers and every client write", async () => {
    // A day of usage as the functions write it (server credentials).
    const day = '2000-01-01';
    await testFirestore(cfg).doc(`projects/${cfg.projectId}/usage/${day}`).set({ projectId: cfg.projectId, day, units: { ocrPages: 1 }, costUsd: { ocrPages: 0.0015 }, totalUsd: 0.0015, attempts: 1, priceTable: 't' });
    const member = await clientAs(cfg.demoUser.email, cfg.demoUser.password);
    assert.equal((await getDoc(doc(member, 'projects', cfg.projectId, 'usage', day))).get('totalUsd'), 0.0015);
    assert.ok((await getDocs(collection(member, 'projects', cfg.projectId, 'usage'))).size >= 1);
    await assert.rejects(setDoc(doc(member, 'projects', cfg.projectId, 'usage', day), { totalUsd: 0 }, { merge: true }), denied);
    const email = `usage-outsider-${Date.now()}@example.com`;
    await signUp(cfg, email, 'outsider-pw');
    const outsider = await clientAs(email, 'outsider-pw');
    await assert.rejects(getDoc(doc(outsider, 'projects', cfg.projectId, 'usage', day)), denied);
    await testFirestore(cfg).doc(`projects/${cfg.projectId}/usage/${day}`).delete();
  });

  it('let members read and query their project\'s chunks; deny others, and deny a query that could return another project\'s', async () => {
    // A chunk as the embedding stage writes it (server credentials).
    const id = `${upload.documentId}_v1_c00000`;
    await testFirestore(cfg).doc(`chunks/${id}`).set({ projectId: cfg.projectId, documentId: upload.documentId, version: 1, current: true, text: 'a chunk', index: 0 });
    const member = await clientAs(cfg.demoUser.email, cfg.demoUser.password);
    assert.equal((await getDoc(doc(member, 'chunks', id))).get('text'), 'a chunk');
    const mine = await getDocs(query(collection(member, 'chunks'), where('projectId', '==', cfg.projectId), where('documentId', '==', upload.documentId), limit(10)));
    assert.equal(mine.size, 1);
    // Not filtered to one project: it could return others' chunks, so it is refused, not filtered.
    await assert.rejects(getDocs(query(collection(member, 'chunks'), where('documentId', '==', upload.documentId))), denied);
    await assert.rejects(setDoc(doc(member, 'chunks', id), { text: 'tampered' }, { merge: true }), denied);
    const email = `chunk-outsider-${Date.now()}@example.com`;
    await signUp(cfg, email, 'outsider-pw');
    const outsider = await clientAs(email, 'outsider-pw');
    await assert.rejects(getDoc(doc(outsider, 'chunks', id)), denied);
    await assert.rejects(getDocs(query(collection(outsider, 'chunks'), where('projectId', '==', cfg.projectId))), denied);
  });
});
