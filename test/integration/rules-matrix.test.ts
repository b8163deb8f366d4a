/**
 * The Firestore security rules (`shared/firestore/firestore.rules`) as a matrix, with
 * `@firebase/rules-unit-testing` against the platform's real Firestore emulator (in a project of
 * its own, `demo-rules-matrix`, so the platform's data and rules are untouched): every collection ×
 * role × operation is one assertion (one `it`), then the queries that must be denied rather than
 * filtered, `count()` aggregations, collection-group queries over `members` and `logs`, job logs
 * and the user-settings schema.
 */
import { describe, it, before, after } from 'node:test';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { assertFails, assertSucceeds, initializeTestEnvironment, type RulesTestContext, type RulesTestEnvironment } from '@firebase/rules-unit-testing';
import {
  collection,
  collectionGroup,
  deleteDoc,
  doc,
  getCountFromServer,
  getDoc,
  getDocs,
  query,
  serverTimestamp,
  setDoc,
  updateDoc,
  where,
  type DocumentData,
  type Firestore,
  type Query,
} from 'firebase/firestore';
import assert from 'node:assert/strict';
import { localConfigForTests } from '../helpers/platform.js';

const P = 'proj-a';
const Q = 'proj-b';
const D = 'doc_00000000000000000001';
const DQ = 'doc_00000000000000000002';
const J = 'job_00000000000000000001';
const JQ = 'job_00000000000000000002';
const A = 'agt_0000000000000001';
const C = `${D}_v1_c00000`;
const E = `document-delete-${D}`;

const ROLES = ['owner', 'admin', 'editor', 'viewer', 'outsider', 'anon'] as const;
type RoleName = (typeof ROLES)[number];
const OPS = ['get', 'list', 'create', 'update', 'delete'] as const;
type Op = (typeof OPS)[number];

const MEMBERS: readonly RoleName[] = ['owner', 'admin', 'editor', 'viewer'];
const ADMINS: readonly RoleName[] = ['owner', 'admin'];
const SIGNED_IN: readonly RoleName[] = ['owner', 'admin', 'editor', 'viewer', 'outsider'];
const NOBODY: readonly RoleName[] = [];

/** The uid of each role (anon has none: the settings row addresses a user it cannot be). */
const uidOf = (r: RoleName): string => (r === 'anon' ? 'nobody' : `u-${r}`);

let env: RulesTestEnvironment;

/** The compat Firestore rules-unit-testing hands out, used through the modular API (supported by the library). */
const fs = (ctx: RulesTestContext): Firestore => ctx.firestore() as unknown as Firestore;
const as = (r: RoleName): Firestore => fs(r === 'anon' ? env.unauthenticatedContext() : env.authenticatedContext(uidOf(r)));

interface Row {
  readonly name: string;
  /** The existing document the get/update/delete cells address (seeded before each write cell). */
  readonly path: (r: RoleName) => string;
  readonly seed: DocumentData;
  /** The new document the create cell writes. */
  readonly newPath: (r: RoleName) => string;
  readonly list: (db: Firestore, r: RoleName) => Query;
  /** What a client would write (create) and change (update). */
  readonly write: () => DocumentData;
  readonly change: () => DocumentData;
  readonly allowed: Readonly<Record<Op, readonly RoleName[]>>;
}

const readOnly = (readers: readonly RoleName[], listers: readonly RoleName[] = readers): Row['allowed'] => ({ get: readers, list: listers, create: NOBODY, update: NOBODY, delete: NOBODY });
const serverData = (): DocumentData => ({ projectId: P, status: 'COMPLETED', tampered: true });

const settings = (): DocumentData => ({ theme: 'dark', language: 'fr', reading: { fontSize: 18 }, updatedAt: serverTimestamp() });

const MATRIX: readonly Row[] = [
  { name: 'projects', path: () => `projects/${P}`, seed: { name: 'A', ownerUid: uidOf('owner') }, newPath: (r) => `projects/new-${r}`, list: (db) => query(collection(db, 'projects')), write: serverData, change: () => ({ name: 'renamed' }), allowed: readOnly(MEMBERS, NOBODY) },
  { name: 'members', path: () => `projects/${P}/members/${uidOf('editor')}`, seed: { uid: uidOf('editor'), projectId: P, role: 'editor' }, newPath: (r) => `projects/${P}/members/new-${r}`, list: (db) => query(collection(db, `projects/${P}/members`)), write: () => ({ uid: 'x', projectId: P, role: 'admin' }), change: () => ({ role: 'admin' }), allowed: readOnly(MEMBERS) },
  { name: 'agents', path: () => `projects/${P}/agents/${A}`, seed: { projectId: P, type: 'ocr', status: 'active', version: 1 }, newPath: (r) => `projects/${P}/agents/agt_new_${r}`, list: (db) => query(collection(db, `projects/${P}/agents`)), write: () => ({ projectId: P, type: 'ocr' }), change: () => ({ status: 'inactive' }), allowed: readOnly(MEMBERS) },
  { name: 'agent versions', path: () => `projects/${P}/agents/${A}/versions/000001`, seed: { version: 1 }, newPath: (r) => `projects/${P}/agents/${A}/versions/new-${r}`, list: (db) => query(collection(db, `projects/${P}/agents/${A}/versions`)), write: () => ({ version: 9 }), change: () => ({ version: 9 }), allowed: readOnly(MEMBERS) },
  { name: 'project settings', path: () => `projects/${P}/settings/project`, seed: { maxUploadBytes: 1000 }, newPath: (r) => `projects/${P}/settings/new-${r}`, list: (db) => query(collection(db, `projects/${P}/settings`)), write: () => ({ maxUploadBytes: 1 }), change: () => ({ maxUploadBytes: 1e12 }), allowed: readOnly(MEMBERS) },
  { name: 'documents', path: () => `documents/${D}`, seed: { projectId: P, fileName: 'a.pdf', ownerUid: uidOf('editor') }, newPath: (r) => `documents/new-${r}`, list: (db) => query(collection(db, 'documents'), where('projectId', '==', P)), write: serverData, change: () => ({ status: 'READY' }), allowed: readOnly(MEMBERS) },
  { name: 'document versions', path: () => `documents/${D}/versions/v000001`, seed: { projectId: P, version: 1 }, newPath: (r) => `documents/${D}/versions/new-${r}`, list: (db) => query(collection(db, `documents/${D}/versions`)), write: serverData, change: () => ({ status: 'READY' }), allowed: readOnly(MEMBERS) },
  { name: 'jobs', path: () => `jobs/${J}`, seed: { projectId: P, status: 'RUNNING', documentId: D }, newPath: (r) => `jobs/new-${r}`, list: (db) => query(collection(db, 'jobs'), where('projectId', '==', P)), write: serverData, change: () => ({ status: 'COMPLETED' }), allowed: readOnly(MEMBERS) },
  { name: 'job logs', path: () => `jobs/${J}/logs/000000`, seed: { seq: 0, message: 'waiting' }, newPath: (r) => `jobs/${J}/logs/new-${r}`, list: (db) => query(collection(db, `jobs/${J}/logs`)), write: () => ({ seq: 1, message: 'forged' }), change: () => ({ message: 'forged' }), allowed: readOnly(MEMBERS) },
  { name: 'chunks', path: () => `chunks/${C}`, seed: { projectId: P, documentId: D, text: 'a chunk' }, newPath: (r) => `chunks/new-${r}`, list: (db) => query(collection(db, 'chunks'), where('projectId', '==', P)), write: serverData, change: () => ({ text: 'tampered' }), allowed: readOnly(MEMBERS) },
  { name: 'auditLog', path: () => `auditLog/${E}`, seed: { projectId: P, action: 'document.deleted', actorUid: uidOf('owner') }, newPath: (r) => `auditLog/new-${r}`, list: (db) => query(collection(db, 'auditLog'), where('projectId', '==', P)), write: () => ({ projectId: P, action: 'forged' }), change: () => ({ action: 'forged' }), allowed: readOnly(ADMINS) },
  {
    name: 'own user settings',
    path: (r) => `users/${uidOf(r)}/settings/preferences`,
    seed: { theme: 'light' },
    newPath: (r) => `users/${uidOf(r)}/settings/preferences`,
    list: (db, r) => query(collection(db, `users/${uidOf(r)}/settings`)),
    write: settings,
    change: () => ({ theme: 'system', updatedAt: serverTimestamp() }),
    allowed: { get: SIGNED_IN, list: SIGNED_IN, create: SIGNED_IN, update: SIGNED_IN, delete: SIGNED_IN },
  },
  { name: "another user's settings", path: () => 'users/someone/settings/preferences', seed: { theme: 'light' }, newPath: () => 'users/someone/settings/preferences', list: (db) => query(collection(db, 'users/someone/settings')), write: settings, change: () => ({ theme: 'dark', updatedAt: serverTimestamp() }), allowed: readOnly(NOBODY) },
];

/** Writes past the rules (the server's side). */
async function admin(fn: (db: Firestore) => Promise<void>): Promise<void> {
  await env.withSecurityRulesDisabled(async (ctx) => fn(fs(ctx)));
}

async function cell(row: Row, role: RoleName, op: Op): Promise<void> {
  const db = as(role);
  if (op === 'create') await admin(async (a) => deleteDoc(doc(a, row.newPath(role))));
  if (op === 'update' || op === 'delete' || op === 'get') await admin(async (a) => setDoc(doc(a, row.path(role)), row.seed));
  const attempt: Record<Op, () => Promise<unknown>> = {
    get: () => getDoc(doc(db, row.path(role))),
    list: () => getDocs(row.list(db, role)),
    create: () => setDoc(doc(db, row.newPath(role)), row.write()),
    update: () => updateDoc(doc(db, row.path(role)), row.change()),
    delete: () => deleteDoc(doc(db, row.path(role))),
  };
  if (row.allowed[op].includes(role)) await assertSucceeds(attempt[op]());
  else await assertFails(attempt[op]());
}

before(async () => {
  const cfg = localConfigForTests();
  const [host, port] = cfg.firestoreEmulatorHost.split(':');
  env = await initializeTestEnvironment({
    projectId: 'demo-rules-matrix',
    firestore: { host: host ?? '127.0.0.1', port: Number(port), rules: readFileSync(path.join(process.cwd(), 'shared', 'firestore', 'firestore.rules'), 'utf8') },
  });
  await env.clearFirestore();
  await admin(async (db) => {
    const member = (p: string, r: RoleName, role: string) => setDoc(doc(db, `projects/${p}/members/${uidOf(r)}`), { uid: uidOf(r), projectId: p, role });
    await setDoc(doc(db, `projects/${P}`), { name: 'A', ownerUid: uidOf('owner') });
    await setDoc(doc(db, `projects/${Q}`), { name: 'B', ownerUid: 'u-other' });
    await member(P, 'owner', 'admin');
    await member(P, 'admin', 'admin');
    await member(P, 'editor', 'editor');
    await member(P, 'viewer', 'viewer');
    await setDoc(doc(db, `projects/${Q}/members/u-other`), { uid: 'u-other', projectId: Q, role: 'admin' });
    for (const row of MATRIX) if (!row.name.includes('settings') || row.name === 'project settings') await setDoc(doc(db, row.path('owner')), row.seed);
    await setDoc(doc(db, `documents/${DQ}`), { projectId: Q, fileName: 'b.pdf' });
    await setDoc(doc(db, `jobs/${JQ}`), { projectId: Q, status: 'RUNNING', documentId: DQ });
    await setDoc(doc(db, `jobs/${JQ}/logs/000000`), { seq: 0, message: 'other project' });
    await setDoc(doc(db, `chunks/${DQ}_v1_c00000`), { projectId: Q, documentId: DQ, text: 'other' });
    await setDoc(doc(db, 'auditLog/other'), { projectId: Q, action: 'document.deleted' });
  });
});

after(async () => {
  await env.cleanup();
});

describe('Firestore rules matrix (collection × role × operation)', () => {
  for (const row of MATRIX) {
    describe(row.name, () => {
      for (const role of ROLES) {
        for (const op of OPS) {
          const verdict = row.allowed[op].includes(role) ? 'allows' : 'denies';
          it(`${verdict} ${op} to ${role}`, () => cell(row, role, op));
        }
      }
    });
  }
});

describe('Firestore rules: queries that could return another project\'s data are denied, not filtered', () => {
  it('denies an unfiltered documents query to a member', () => assertFails(getDocs(collection(as('editor'), 'documents'))));
  it("denies a member a documents query on another project", () => assertFails(getDocs(query(collection(as('editor'), 'documents'), where('projectId', '==', Q)))));
  it("denies a member a jobs query on another project", () => assertFails(getDocs(query(collection(as('viewer'), 'jobs'), where('projectId', '==', Q)))));
  it('denies a chunks query filtered on the document alone', () => assertFails(getDocs(query(collection(as('editor'), 'chunks'), where('documentId', '==', D)))));
  it('denies an audit-log query not filtered on a project the caller administers', () => assertFails(getDocs(collection(as('owner'), 'auditLog'))));
  it('denies an editor the audit log of their project', () => assertFails(getDocs(query(collection(as('editor'), 'auditLog'), where('projectId', '==', P)))));
  it("returns exactly the project's documents to a member's filtered query", async () => {
    const snap = await assertSucceeds(getDocs(query(collection(as('viewer'), 'documents'), where('projectId', '==', P))));
    assert.deepEqual(snap.docs.map((d) => d.id), [D]);
  });
});

describe('Firestore rules: count() aggregations', () => {
  it('counts a project\'s documents for a member', async () => {
    const snap = await assertSucceeds(getCountFromServer(query(collection(as('viewer'), 'documents'), where('projectId', '==', P))));
    assert.equal(snap.data().count, 1);
  });
  it('counts a project\'s jobs for a member', async () => {
    const snap = await assertSucceeds(getCountFromServer(query(collection(as('editor'), 'jobs'), where('projectId', '==', P))));
    assert.equal(snap.data().count, 1);
  });
  it('denies an unfiltered count of documents', () => assertFails(getCountFromServer(collection(as('owner'), 'documents'))));
  it("denies a count of another project's documents", () => assertFails(getCountFromServer(query(collection(as('owner'), 'documents'), where('projectId', '==', Q)))));
  it('denies a count to a non-member', () => assertFails(getCountFromServer(query(collection(as('outsider'), 'chunks'), where('projectId', '==', P)))));
  it('denies a count to an unauthenticated client', () => assertFails(getCountFromServer(query(collection(as('anon'), 'jobs'), where('projectId', '==', P)))));
});

describe('Firestore rules: collection-group queries', () => {
  it("lets a user find their own memberships (members where uid == me)", async () => {
    const snap = await assertSucceeds(getDocs(query(collectionGroup(as('editor'), 'members'), where('uid', '==', uidOf('editor')))));
    assert.deepEqual(snap.docs.map((d) => d.ref.path), [`projects/${P}/members/${uidOf('editor')}`]);
  });
  it("lets a member list their project's members across the group (projectId == theirs)", async () => {
    const snap = await assertSucceeds(getDocs(query(collectionGroup(as('viewer'), 'members'), where('projectId', '==', P))));
    assert.equal(snap.size, 4);
  });
  it("denies someone else's memberships", () => assertFails(getDocs(query(collectionGroup(as('editor'), 'members'), where('uid', '==', 'u-other')))));
  it('denies an unfiltered members group query', () => assertFails(getDocs(collectionGroup(as('owner'), 'members'))));
  it("denies a non-member the members of a project", () => assertFails(getDocs(query(collectionGroup(as('outsider'), 'members'), where('projectId', '==', P)))));
  it('denies memberships to an unauthenticated client', () => assertFails(getDocs(query(collectionGroup(as('anon'), 'members'), where('uid', '==', 'nobody')))));
  it('denies a collection-group query over logs, even to a member', () => assertFails(getDocs(collectionGroup(as('owner'), 'logs'))));
  it('denies a filtered collection-group query over logs', () => assertFails(getDocs(query(collectionGroup(as('editor'), 'logs'), where('seq', '==', 0)))));
});

describe('Firestore rules: job logs', () => {
  it("lets a member read a job's log in order", async () => {
    const snap = await assertSucceeds(getDocs(collection(as('viewer'), `jobs/${J}/logs`)));
    assert.deepEqual(snap.docs.map((d) => d.get('message') as unknown), ['waiting']);
  });
  it("denies a member the log of another project's job", () => assertFails(getDocs(collection(as('owner'), `jobs/${JQ}/logs`))));
  it("denies a member one entry of another project's job log", () => assertFails(getDoc(doc(as('editor'), `jobs/${JQ}/logs/000000`))));
  it('denies writing a log entry to a member', () => assertFails(setDoc(doc(as('owner'), `jobs/${J}/logs/000001`), { seq: 1, message: 'forged' })));
});

describe('Firestore rules: user settings within the schema', () => {
  const mine = (): Firestore => as('viewer');
  const target = `users/${uidOf('viewer')}/settings/preferences`;
  const cases: readonly [string, DocumentData, boolean][] = [
    ['a valid partial document', { theme: 'dark', updatedAt: serverTimestamp() }, true],
    ['every field valid', { language: 'pt-BR', theme: 'light', reading: { fontSize: 20, lineHeight: 1.75, fontFamily: 'sans-serif' }, notifications: { jobCompleted: false, jobFailed: true, email: true }, defaultVoice: 'flite-kal16', updatedAt: serverTimestamp() }, true],
    ['a null default voice', { defaultVoice: null, updatedAt: serverTimestamp() }, true],
    ['an unknown theme', { theme: 'neon', updatedAt: serverTimestamp() }, false],
    ['an unknown field', { theme: 'dark', isAdmin: true, updatedAt: serverTimestamp() }, false],
    ['a font size out of range', { reading: { fontSize: 99 }, updatedAt: serverTimestamp() }, false],
    ['a font size of the wrong type', { reading: { fontSize: '18' }, updatedAt: serverTimestamp() }, false],
    ['an unknown reading field', { reading: { fontSize: 18, colour: 'red' }, updatedAt: serverTimestamp() }, false],
    ['a notification flag that is not a boolean', { notifications: { email: 'yes' }, updatedAt: serverTimestamp() }, false],
    ['a malformed language tag', { language: 'english please', updatedAt: serverTimestamp() }, false],
    ['a voice name with a slash', { defaultVoice: '../x', updatedAt: serverTimestamp() }, false],
    ['no server timestamp', { theme: 'dark' }, false],
    ['a client-chosen timestamp', { theme: 'dark', updatedAt: new Date(0) }, false],
  ];
  for (const [what, data, ok] of cases) {
    it(`${ok ? 'accepts' : 'refuses'} ${what}`, async () => {
      await admin(async (a) => deleteDoc(doc(a, target)));
      if (ok) await assertSucceeds(setDoc(doc(mine(), target), data));
      else await assertFails(setDoc(doc(mine(), target), data));
    });
  }
  it('refuses a settings document under another name', () => assertFails(setDoc(doc(mine(), `users/${uidOf('viewer')}/settings/other`), { theme: 'dark', updatedAt: serverTimestamp() })));
});
