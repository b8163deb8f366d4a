/**
 * Identity and roles against the real Auth and Firestore emulators and the running api function:
 * every cell of the authorization matrix (README, "Authorization matrix") for the routes that exist,
 * for each kind of principal; 401 for unauthenticated calls on every /v1 route of the table; current
 * role and revocation on the next request; API keys (hashed, scoped, revocable at once, expiring);
 * the audit log; and the per-request cost of the role and revocation checks.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { localConfigForTests } from '../helpers/platform.js';
import { createUpload, provisionUser, readResponse, signIn, signUpUnprovisioned, testFirestore } from '../helpers/client.js';
import { ProjectRepository } from '../../shared/firestore/projects.js';
import { ROUTES } from '../../functions/api/routes/index.js';
import type { LocalConfig } from '../../emulators/local-config.js';

let cfg: LocalConfig;

/** A credential as a client presents it. */
type Credential = { bearer: string } | { xApiKey: string } | null;

async function call(cred: Credential, method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown; text: string }> {
  const headers: Record<string, string> = {};
  if (cred && 'bearer' in cred) headers.authorization = `Bearer ${cred.bearer}`;
  if (cred && 'xApiKey' in cred) headers['x-api-key'] = cred.xApiKey;
  if (body !== undefined) headers['content-type'] = 'application/json';
  return readResponse(await fetch(`${cfg.apiUrl}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) }));
}

const codeOf = (json: unknown): string | undefined => (json as { code?: string } | null)?.code;
const reasonOf = (json: unknown): string | undefined => (json as { details?: { reason?: string } } | null)?.details?.reason;
const suffix = (): string => randomBytes(4).toString('hex');
const email = (who: string): string => `${who}-${Date.now()}-${suffix()}@identity.test`;

/** The payload of a JWT (the emulator's are unsigned; only read here, never trusted). */
function claims(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
}

/** Sessions are revoked at second resolution: waits until the clock is past the token's sign-in second. */
async function pastSignInSecond(token: string): Promise<void> {
  const authTime = Number(claims(token).auth_time);
  while (Math.floor(Date.now() / 1000) <= authTime) await new Promise((r) => setTimeout(r, 50));
}

async function member(projectId: string, uid: string, role: 'admin' | 'editor' | 'viewer'): Promise<void> {
  await testFirestore(cfg).doc(`projects/${projectId}/members/${uid}`).set({ role, email: null });
}

/** A provisioned user, signed in. */
async function user(who: string, role: 'admin' | 'editor' | 'viewer'): Promise<{ uid: string; email: string; token: string }> {
  const address = email(who);
  const uid = await provisionUser(cfg, address, role);
  return { uid, email: address, token: await signIn(cfg, address, 'password-123') };
}

async function createKey(token: string, projectId: string, scopes: string[], name = 'test key'): Promise<{ id: string; key: string }> {
  const res = await call({ bearer: token }, 'POST', `/v1/projects/${projectId}/api-keys`, { name, scopes });
  assert.equal(res.status, 201, res.text);
  return res.json as { id: string; key: string };
}

// The principals of the matrix, filled in `before`.
const P = `idt-${suffix()}`;
const Q = `idt-other-${suffix()}`;
const cred: Record<string, Credential> = {};
let documentId = '';
let jobId = '';
let throwawayUid = '';

before(async () => {
  cfg = localConfigForTests();
  const admin = await signIn(cfg);
  const projects = new ProjectRepository(testFirestore(cfg));
  await projects.ensureProject(P, 'Identity matrix', { uid: cfg.demoUser.uid, email: cfg.demoUser.email });
  await projects.ensureProject(Q, 'Identity other', { uid: cfg.demoUser.uid, email: cfg.demoUser.email });
  const [outsiderAdmin, editor, viewer, capped, nonMember, disabled, throwaway, editorAdmin, editorViewer] = await Promise.all([
    user('outsider-admin', 'admin'),
    user('editor', 'editor'),
    user('viewer', 'viewer'),
    user('capped', 'viewer'),
    user('non-member', 'editor'),
    user('disabled', 'editor'),
    user('throwaway', 'viewer'),
    user('editor-member-admin', 'editor'),
    user('editor-member-viewer', 'editor'),
  ]);
  throwawayUid = throwaway.uid;
  await Promise.all([member(P, editor.uid, 'editor'), member(P, viewer.uid, 'viewer'), member(P, capped.uid, 'editor'), member(P, disabled.uid, 'editor'), member(P, editorAdmin.uid, 'admin'), member(P, editorViewer.uid, 'viewer')]);
  const keyRead = await createKey(editor.token, P, ['read']);
  const keyWrite = await createKey(editor.token, P, ['read', 'write']);
  const keyOther = await createKey(admin, Q, ['read', 'write']);
  const revoked = await createKey(editor.token, P, ['read', 'write']);
  assert.equal((await call({ bearer: editor.token }, 'DELETE', `/v1/projects/${P}/api-keys/${revoked.id}`)).status, 200);
  const expired = await createKey(editor.token, P, ['read', 'write']);
  // Time passing, without waiting for it: the key's expiry moves into the past.
  await testFirestore(cfg).doc(`apiKeys/${expired.id}`).update({ expiresAt: new Date(Date.now() - 1000) });
  assert.equal((await call({ bearer: admin }, 'PATCH', `/v1/users/${disabled.uid}`, { disabled: true })).status, 200);
  const upload = await createUpload(cfg, admin, { projectId: P, fileName: 'matrix.pdf', contentType: 'application/pdf', size: 10 });
  documentId = upload.documentId;
  jobId = upload.jobId;
  Object.assign(cred, {
    admin: { bearer: admin },
    outsiderAdmin: { bearer: outsiderAdmin.token },
    editor: { bearer: editor.token },
    viewer: { bearer: viewer.token },
    cappedViewer: { bearer: capped.token },
    editorMemberAdmin: { bearer: editorAdmin.token },
    editorMemberViewer: { bearer: editorViewer.token },
    nonMember: { bearer: nonMember.token },
    keyRead: { xApiKey: keyRead.key },
    keyWrite: { bearer: keyWrite.key },
    keyOtherProject: { xApiKey: keyOther.key },
    revokedKey: { xApiKey: revoked.key },
    expiredKey: { bearer: expired.key },
    disabledUser: { bearer: disabled.token },
    unprovisioned: { bearer: await signUpUnprovisioned(cfg, email('unprovisioned')) },
    anonymous: null,
  });
});

after(async () => {
  await testFirestore(cfg).terminate();
});

/** One operation of the matrix: the request and, per principal, the expected status. */
interface Cell {
  readonly name: string;
  readonly request: () => { method: string; path: string; body?: unknown };
  readonly expect: Readonly<Record<string, number>>;
}

// Denials common to every operation: credentials that do not authenticate, and an account nobody provisioned.
const REFUSED = { revokedKey: 401, expiredKey: 401, disabledUser: 401, anonymous: 401, unprovisioned: 403 } as const;

const MATRIX: readonly Cell[] = [
  { name: 'upload (POST /v1/uploads)', request: () => ({ method: 'POST', path: '/v1/uploads', body: { projectId: P, fileName: 'm.pdf', contentType: 'application/pdf', size: 10 } }), expect: { admin: 201, outsiderAdmin: 201, editor: 201, viewer: 403, cappedViewer: 403, nonMember: 403, keyRead: 403, keyWrite: 201, keyOtherProject: 403, ...REFUSED } },
  { name: 'search (POST /v1/search)', request: () => ({ method: 'POST', path: '/v1/search', body: { projectId: P, query: 'ledger' } }), expect: { admin: 200, outsiderAdmin: 200, editor: 200, viewer: 200, cappedViewer: 200, nonMember: 403, keyRead: 200, keyWrite: 200, keyOtherProject: 403, ...REFUSED } },
  { name: 'read a document (GET /v1/documents/:id)', request: () => ({ method: 'GET', path: `/v1/documents/${documentId}` }), expect: { admin: 200, outsiderAdmin: 200, editor: 200, viewer: 200, cappedViewer: 200, nonMember: 404, keyRead: 200, keyWrite: 200, keyOtherProject: 404, ...REFUSED } },
  { name: 'read a job (GET /v1/jobs/:id)', request: () => ({ method: 'GET', path: `/v1/jobs/${jobId}` }), expect: { admin: 200, outsiderAdmin: 200, editor: 200, viewer: 200, cappedViewer: 200, nonMember: 404, keyRead: 200, keyWrite: 200, keyOtherProject: 404, ...REFUSED } },
  { name: 're-embed (POST /v1/reembed)', request: () => ({ method: 'POST', path: '/v1/reembed', body: { projectId: P } }), expect: { admin: 202, outsiderAdmin: 202, editor: 202, viewer: 403, cappedViewer: 403, nonMember: 403, keyRead: 403, keyWrite: 202, keyOtherProject: 403, ...REFUSED } },
  { name: 'create an API key', request: () => ({ method: 'POST', path: `/v1/projects/${P}/api-keys`, body: { name: 'matrix', scopes: ['read'] } }), expect: { admin: 201, outsiderAdmin: 201, editor: 201, viewer: 403, cappedViewer: 403, nonMember: 403, keyRead: 403, keyWrite: 403, keyOtherProject: 403, ...REFUSED } },
  { name: 'list API keys', request: () => ({ method: 'GET', path: `/v1/projects/${P}/api-keys` }), expect: { admin: 200, outsiderAdmin: 200, editor: 200, viewer: 403, cappedViewer: 403, nonMember: 403, keyRead: 403, keyWrite: 403, keyOtherProject: 403, ...REFUSED } },
  { name: 'create a user', request: () => ({ method: 'POST', path: '/v1/users', body: { email: email('matrix'), role: 'viewer', password: 'password-123' } }), expect: { admin: 201, outsiderAdmin: 201, editor: 403, viewer: 403, cappedViewer: 403, nonMember: 403, keyRead: 403, keyWrite: 403, keyOtherProject: 403, ...REFUSED } },
  { name: 'list users', request: () => ({ method: 'GET', path: '/v1/users?limit=5' }), expect: { admin: 200, outsiderAdmin: 200, editor: 403, viewer: 403, cappedViewer: 403, nonMember: 403, keyRead: 403, keyWrite: 403, keyOtherProject: 403, ...REFUSED } },
  { name: "change a user's role", request: () => ({ method: 'PATCH', path: `/v1/users/${throwawayUid}`, body: { role: 'viewer' } }), expect: { admin: 200, outsiderAdmin: 200, editor: 403, viewer: 403, cappedViewer: 403, nonMember: 403, keyRead: 403, keyWrite: 403, keyOtherProject: 403, ...REFUSED } },
  { name: "revoke a user's sessions", request: () => ({ method: 'POST', path: `/v1/users/${throwawayUid}/revoke-sessions` }), expect: { admin: 200, outsiderAdmin: 200, editor: 403, viewer: 403, cappedViewer: 403, nonMember: 403, keyRead: 403, keyWrite: 403, keyOtherProject: 403, ...REFUSED } },
  { name: 'read the audit log', request: () => ({ method: 'GET', path: `/v1/audit?projectId=${P}&limit=5` }), expect: { admin: 200, outsiderAdmin: 200, editor: 403, viewer: 403, cappedViewer: 403, nonMember: 403, keyRead: 403, keyWrite: 403, keyOtherProject: 403, ...REFUSED } },
];

describe('identity: the authorization matrix, cell by cell', () => {
  // A global editor who is a project admin acts as a project editor does here (users and the audit
  // log need a global admin); one who is a project viewer, as a viewer.
  const rows = MATRIX.map((c) => ({ ...c, expect: { ...c.expect, editorMemberAdmin: c.expect.editor ?? 0, editorMemberViewer: c.expect.viewer ?? 0 } }));
  for (const cell of rows) {
    it(`${cell.name}: each principal gets its expected answer`, async () => {
      const seen: Record<string, number> = {};
      for (const principal of Object.keys(cell.expect)) {
        const credential = cred[principal];
        assert.ok(credential !== undefined, `no principal ${principal}`);
        const { method, path, body } = cell.request();
        const res = await call(credential, method, path, body);
        seen[principal] = res.status;
        if (principal === 'unprovisioned') assert.equal(codeOf(res.json), 'NOT_PROVISIONED', res.text);
        if (res.status === 401) assert.equal(codeOf(res.json), 'UNAUTHENTICATED', res.text);
      }
      assert.deepEqual(seen, cell.expect);
    });
  }

  it('refuses the reasons it should: revoked and expired keys, disabled users, a read-only key writing', async () => {
    assert.equal(reasonOf((await call(cred.revokedKey ?? null, 'GET', `/v1/jobs/${jobId}`)).json), 'revoked');
    assert.equal(reasonOf((await call(cred.expiredKey ?? null, 'GET', `/v1/jobs/${jobId}`)).json), 'expired');
    assert.equal(reasonOf((await call(cred.disabledUser ?? null, 'GET', `/v1/jobs/${jobId}`)).json), 'user-disabled');
    const readOnly = await call(cred.keyRead ?? null, 'POST', '/v1/uploads', { projectId: P, fileName: 'm.pdf', contentType: 'application/pdf', size: 10 });
    assert.equal(codeOf(readOnly.json), 'INSUFFICIENT_SCOPE');
  });
});

/** A path that a route matches, for each route of the table (a new route without a sample fails the walk). */
function samplePaths(): string[] {
  const values: Record<string, string> = { projectId: 'demo', uid: 'someone', keyId: `key_${'0'.repeat(20)}`, agentId: `agt_${'0'.repeat(16)}`, version: '1' };
  // A parameter such as `{id}` names a job, a document or a dead letter depending on the route: the
  // first well-formed id its pattern accepts is the sample.
  const ids = [`job_${'0'.repeat(20)}`, `doc_${'0'.repeat(20)}`, `key_${'0'.repeat(20)}`, 'demo', '1', 'x'];
  const fromTemplates = ROUTES.flatMap((r) => {
    const template = r.path;
    if (!template) return [];
    const filled = ids.map((id) => template.replace(/\{(\w+)\}/g, (_, name: string) => values[name] ?? id));
    return [filled.find((p) => r.pattern.test(p)) ?? filled[0] ?? template];
  });
  const doc = `doc_${'0'.repeat(20)}`;
  return [...fromTemplates, '/v1/uploads', '/v1/search', '/v1/reembed', `/v1/jobs/job_${'0'.repeat(20)}`, `/v1/documents/${doc}`, `/v1/documents/${doc}/text`, `/v1/documents/${doc}/versions`, `/v1/documents/${doc}/versions/1`, `/v1/documents/${doc}/versions/1/text`, `/v1/documents/${doc}/transcript`];
}

describe('identity: unauthenticated calls', () => {
  it('get 401 on every method of every /v1 route of the table, with or without a bad credential', async () => {
    const samples = samplePaths();
    let checked = 0;
    for (const route of ROUTES) {
      const path = samples.find((p) => route.pattern.test(p));
      assert.ok(path, `no sample path for route ${route.pattern.source}: add one to samplePaths()`);
      for (const method of Object.keys(route.methods)) {
        for (const credential of [null, { bearer: 'not-a-token' }, { xApiKey: `scr_${'0'.repeat(20)}_${'A'.repeat(43)}` }] satisfies Credential[]) {
          const res = await call(credential, method, path, method === 'GET' || method === 'DELETE' ? undefined : {});
          assert.equal(res.status, 401, `${method} ${path} with ${JSON.stringify(credential)}: ${res.text}`);
          checked++;
        }
      }
    }
    assert.ok(checked >= ROUTES.length * 3);
    // Health stays open.
    assert.equal((await call(null, 'GET', '/health')).status, 200);
  });
});

describe('identity: current role and sessions, on the next request', () => {
  it('acts with the role in users/{uid}, not the one in an older token', async () => {
    const e = await user('record-role', 'editor');
    await member(P, e.uid, 'editor');
    const upload = { projectId: P, fileName: 'r.pdf', contentType: 'application/pdf', size: 10 };
    assert.equal(claims(e.token).role, 'editor');
    assert.equal((await call({ bearer: e.token }, 'POST', '/v1/uploads', upload)).status, 201);
    // The record changes, the token (still claiming editor) does not: the next request is a viewer's.
    await testFirestore(cfg).doc(`users/${e.uid}`).update({ role: 'viewer' });
    assert.equal((await call({ bearer: e.token }, 'POST', '/v1/uploads', upload)).status, 403);
    assert.equal((await call({ bearer: e.token }, 'GET', `/v1/jobs/${jobId}`)).status, 200);
    await testFirestore(cfg).doc(`users/${e.uid}`).update({ role: 'editor' });
    assert.equal((await call({ bearer: e.token }, 'POST', '/v1/uploads', upload)).status, 201);
  });

  it('applies a role change made through the API: the old token cannot write, a new one carries the new claim', async () => {
    const admin = { bearer: await signIn(cfg) };
    const e = await user('demoted', 'editor');
    await member(P, e.uid, 'editor');
    const upload = { projectId: P, fileName: 'd.pdf', contentType: 'application/pdf', size: 10 };
    const changed = await call(admin, 'PATCH', `/v1/users/${e.uid}`, { role: 'viewer' });
    assert.equal(changed.status, 200, changed.text);
    assert.equal((changed.json as { role: string }).role, 'viewer');
    const old = await call({ bearer: e.token }, 'POST', '/v1/uploads', upload);
    // Refused either way: 401 when the revocation's second is past the token's sign-in, else 403 as a viewer.
    assert.ok(old.status === 401 || old.status === 403, old.text);
    const fresh = await signIn(cfg, e.email, 'password-123');
    assert.equal(claims(fresh).role, 'viewer');
    assert.equal((await call({ bearer: fresh }, 'POST', '/v1/uploads', upload)).status, 403);
    assert.equal((await call({ bearer: fresh }, 'GET', `/v1/jobs/${jobId}`)).status, 200);
  });

  it('refuses a token whose sessions were revoked, and accepts the next sign-in', async () => {
    const admin = { bearer: await signIn(cfg) };
    const r = await user('revoked', 'viewer');
    await member(P, r.uid, 'viewer');
    assert.equal((await call({ bearer: r.token }, 'GET', `/v1/jobs/${jobId}`)).status, 200);
    await pastSignInSecond(r.token);
    assert.equal((await call(admin, 'POST', `/v1/users/${r.uid}/revoke-sessions`)).status, 200);
    const res = await call({ bearer: r.token }, 'GET', `/v1/jobs/${jobId}`);
    assert.equal(res.status, 401);
    assert.equal(reasonOf(res.json), 'revoked');
    assert.equal((await call({ bearer: await signIn(cfg, r.email, 'password-123') }, 'GET', `/v1/jobs/${jobId}`)).status, 200);
  });

  it('disables and re-enables a user: sign-in is refused while disabled, and the old token stays refused', async () => {
    const admin = { bearer: await signIn(cfg) };
    const d = await user('toggle', 'viewer');
    await member(P, d.uid, 'viewer');
    await pastSignInSecond(d.token);
    assert.equal((await call(admin, 'PATCH', `/v1/users/${d.uid}`, { disabled: true })).status, 200);
    assert.equal((await call({ bearer: d.token }, 'GET', `/v1/jobs/${jobId}`)).status, 401);
    await assert.rejects(signIn(cfg, d.email, 'password-123'), /USER_DISABLED/);
    assert.equal((await call(admin, 'PATCH', `/v1/users/${d.uid}`, { disabled: false })).status, 200);
    assert.equal(reasonOf((await call({ bearer: d.token }, 'GET', `/v1/jobs/${jobId}`)).json), 'revoked');
    assert.equal((await call({ bearer: await signIn(cfg, d.email, 'password-123') }, 'GET', `/v1/jobs/${jobId}`)).status, 200);
  });

  it('refuses an account nobody provisioned, until an admin provisions (adopts) it', async () => {
    const address = email('self-signed');
    const token = await signUpUnprovisioned(cfg, address);
    const res = await call({ bearer: token }, 'GET', `/v1/jobs/${jobId}`);
    assert.equal(res.status, 403);
    assert.equal(codeOf(res.json), 'NOT_PROVISIONED');
    const adopted = await call({ bearer: await signIn(cfg) }, 'POST', '/v1/users', { email: address, role: 'viewer' });
    assert.equal(adopted.status, 201, adopted.text);
    assert.equal((adopted.json as { adopted: boolean }).adopted, true);
    assert.equal((await call({ bearer: await signIn(cfg, address, 'password-123') }, 'GET', '/v1/users')).status, 403);
    const again = await call({ bearer: await signIn(cfg) }, 'POST', '/v1/users', { email: address, role: 'viewer' });
    assert.equal(again.status, 409);
  });

  it('will not let an admin demote or disable themselves', async () => {
    const admin = { bearer: await signIn(cfg) };
    for (const change of [{ role: 'editor' }, { disabled: true }]) {
      const res = await call(admin, 'PATCH', `/v1/users/${cfg.demoUser.uid}`, change);
      assert.equal(res.status, 409, res.text);
      assert.equal(codeOf(res.json), 'SELF_LOCKOUT');
    }
  });

  it('validates user requests field by field', async () => {
    const admin = { bearer: await signIn(cfg) };
    const bad = await call(admin, 'POST', '/v1/users', { email: 'not-an-email', role: 'owner', extra: 1 });
    assert.equal(bad.status, 400);
    assert.equal((await call(admin, 'PATCH', `/v1/users/${throwawayUid}`, {})).status, 400);
    assert.equal((await call(admin, 'PATCH', '/v1/users/no-such-user-uid', { role: 'viewer' })).status, 404);
    assert.equal((await call(admin, 'GET', '/v1/users?limit=0')).status, 400);
  });

  it('pages through users', async () => {
    const admin = { bearer: await signIn(cfg) };
    const first = await call(admin, 'GET', '/v1/users?limit=2');
    assert.equal(first.status, 200);
    const page = first.json as { users: { uid: string }[]; nextPageToken: string | null };
    assert.equal(page.users.length, 2);
    assert.ok(page.nextPageToken);
    const second = (await call(admin, 'GET', `/v1/users?limit=2&pageToken=${page.nextPageToken}`)).json as { users: { uid: string }[] };
    assert.ok(second.users.every((u) => u.uid > (page.users[1]?.uid ?? '')));
  });
});

describe('identity: API keys', () => {
  it('shows the key once, stores only a SHA-256 of its secret, and lists keys without secrets', async () => {
    const admin = await signIn(cfg);
    const created = await call({ bearer: admin }, 'POST', `/v1/projects/${P}/api-keys`, { name: 'ci', scopes: ['read'], expiresAt: new Date(Date.now() + 86_400_000).toISOString() });
    assert.equal(created.status, 201, created.text);
    const key = created.json as { id: string; key: string; prefix: string; expiresAt: string };
    assert.match(key.key, /^scr_[0-9a-f]{20}_[A-Za-z0-9_-]{43}$/);
    assert.ok(key.key.startsWith(key.prefix));
    // The secret is base64url, which may itself contain `_`: everything after the prefix and its `_`.
    const secret = key.key.slice(key.prefix.length + 1);
    const stored = (await testFirestore(cfg).doc(`apiKeys/${key.id}`).get()).data() ?? {};
    assert.equal(stored.hash, createHash('sha256').update(secret).digest('hex'));
    assert.ok(!JSON.stringify(stored).includes(secret));
    const listed = await call({ bearer: admin }, 'GET', `/v1/projects/${P}/api-keys`);
    assert.ok(!listed.text.includes(secret));
    assert.ok(!listed.text.includes('"hash"'));
    const mine = (listed.json as { keys: { id: string; key?: string }[] }).keys.find((k) => k.id === key.id);
    assert.ok(mine);
    assert.equal(mine.key, undefined);
  });

  it('accepts Bearer and x-api-key, records the last use, refuses a wrong secret and both headers at once', async () => {
    const admin = await signIn(cfg);
    const { id, key } = await createKey(admin, P, ['read']);
    assert.equal((await call({ bearer: key }, 'GET', `/v1/jobs/${jobId}`)).status, 200);
    assert.equal((await call({ xApiKey: key }, 'GET', `/v1/jobs/${jobId}`)).status, 200);
    const used = (await testFirestore(cfg).doc(`apiKeys/${id}`).get()).data() ?? {};
    assert.ok(used.lastUsedAt, 'lastUsedAt recorded');
    const tampered = key.slice(0, -1) + (key.endsWith('A') ? 'B' : 'A');
    const wrong = await call({ xApiKey: tampered }, 'GET', `/v1/jobs/${jobId}`);
    assert.equal(wrong.status, 401);
    assert.equal(reasonOf(wrong.json), 'invalid');
    const both = await fetch(`${cfg.apiUrl}/v1/jobs/${jobId}`, { headers: { authorization: `Bearer ${admin}`, 'x-api-key': key } });
    assert.equal(both.status, 400);
    await both.body?.cancel();
  });

  it('revokes at once: the next request with the key is refused', async () => {
    const admin = await signIn(cfg);
    const { id, key } = await createKey(admin, P, ['read', 'write']);
    assert.equal((await call({ xApiKey: key }, 'GET', `/v1/jobs/${jobId}`)).status, 200);
    const revoked = await call({ bearer: admin }, 'DELETE', `/v1/projects/${P}/api-keys/${id}`);
    assert.equal(revoked.status, 200, revoked.text);
    assert.ok((revoked.json as { revokedAt: string }).revokedAt);
    const res = await call({ xApiKey: key }, 'GET', `/v1/jobs/${jobId}`);
    assert.equal(res.status, 401);
    assert.equal(reasonOf(res.json), 'revoked');
    // Revoking again answers the same revocation.
    assert.equal((await call({ bearer: admin }, 'DELETE', `/v1/projects/${P}/api-keys/${id}`)).status, 200);
  });

  it("lets editors revoke their own keys but not others'; admins revoke any; viewers none; other projects' keys are not found", async () => {
    const admin = await signIn(cfg);
    const ed = await user('key-editor', 'editor');
    const vw = await user('key-viewer', 'viewer');
    const pa = await user('key-project-admin', 'editor');
    await Promise.all([member(P, ed.uid, 'editor'), member(P, vw.uid, 'viewer'), member(P, pa.uid, 'admin')]);
    const edSecond = await createKey(ed.token, P, ['read']);
    // A project admin (global editor) revokes anyone's key in the project.
    assert.equal((await call({ bearer: pa.token }, 'DELETE', `/v1/projects/${P}/api-keys/${edSecond.id}`)).status, 200);
    const own = await createKey(ed.token, P, ['read']);
    const admins = await createKey(admin, P, ['read']);
    const other = await createKey(admin, Q, ['read']);
    assert.equal((await call({ bearer: vw.token }, 'DELETE', `/v1/projects/${P}/api-keys/${own.id}`)).status, 403);
    assert.equal((await call({ bearer: ed.token }, 'DELETE', `/v1/projects/${P}/api-keys/${admins.id}`)).status, 403);
    assert.equal((await call({ bearer: ed.token }, 'DELETE', `/v1/projects/${P}/api-keys/${own.id}`)).status, 200);
    assert.equal((await call({ bearer: admin }, 'DELETE', `/v1/projects/${P}/api-keys/${admins.id}`)).status, 200);
    assert.equal((await call({ bearer: admin }, 'DELETE', `/v1/projects/${P}/api-keys/${other.id}`)).status, 404);
    assert.equal((await call({ xApiKey: own.key }, 'DELETE', `/v1/projects/${P}/api-keys/${other.id}`)).status, 401);
  });

  it('validates key requests', async () => {
    const admin = { bearer: await signIn(cfg) };
    for (const body of [{ name: '', scopes: ['read'] }, { name: 'x', scopes: [] }, { name: 'x', scopes: ['admin'] }, { name: 'x', scopes: ['read', 'read'] }, { name: 'x', scopes: ['read'], expiresAt: new Date(Date.now() - 1000).toISOString() }, { name: 'x', scopes: ['read'], expiresAt: 'tomorrow' }]) {
      const res = await call(admin, 'POST', `/v1/projects/${P}/api-keys`, body);
      assert.equal(res.status, 400, JSON.stringify(body));
    }
  });
});

describe('identity: audit log', () => {
  it('records user changes and key creation and revocation, newest first, filtered by project', async () => {
    const admin = { bearer: await signIn(cfg) };
    const { id } = await createKey(admin.bearer, P, ['read'], 'audited');
    assert.equal((await call(admin, 'DELETE', `/v1/projects/${P}/api-keys/${id}`)).status, 200);
    const res = await call(admin, 'GET', `/v1/audit?projectId=${P}&limit=50`);
    assert.equal(res.status, 200, res.text);
    const entries = (res.json as { entries: { id: string; action: string; projectId: string; target: { id: string }; actor: { uid: string } }[] }).entries;
    assert.ok(entries.every((e) => e.projectId === P));
    const forKey = entries.filter((e) => e.target.id === id).map((e) => e.action);
    assert.deepEqual(forKey, ['apiKey.revoked', 'apiKey.created']);
    assert.ok(entries.every((e, i) => i === 0 || (entries[i - 1]?.id ?? '') > e.id), 'newest first');
    const all = (await call(admin, 'GET', '/v1/audit?limit=200')).json as { entries: { action: string; target: { id: string } }[] };
    const actions = new Set(all.entries.map((e) => e.action));
    for (const action of ['user.created', 'user.disabled', 'apiKey.created', 'apiKey.revoked']) assert.ok(actions.has(action), `${action} in ${[...actions].join(', ')}`);
    const paged = (await call(admin, 'GET', '/v1/audit?limit=1')).json as { entries: unknown[]; nextPageToken: string };
    assert.equal(paged.entries.length, 1);
    const next = await call(admin, 'GET', `/v1/audit?limit=1&pageToken=${paged.nextPageToken}`);
    assert.equal(next.status, 200);
  });
});

describe('identity: security rules', () => {
  it('let a user read their own users record only; nobody reads apiKeys or the audit log', async () => {
    const [{ initializeApp, deleteApp }, authSdk, fs] = await Promise.all([import('firebase/app'), import('firebase/auth'), import('firebase/firestore')]);
    const app = initializeApp({ projectId: cfg.gcpProjectId, apiKey: 'local', authDomain: 'localhost' }, `identity-rules-${suffix()}`);
    try {
      const auth = authSdk.getAuth(app);
      authSdk.connectAuthEmulator(auth, `http://${cfg.authEmulatorHost}`, { disableWarnings: true });
      await authSdk.signInWithEmailAndPassword(auth, cfg.demoUser.email, cfg.demoUser.password);
      const db = fs.getFirestore(app);
      const [host, port] = cfg.firestoreEmulatorHost.split(':');
      fs.connectFirestoreEmulator(db, host ?? '127.0.0.1', Number(port));
      const denied = (err: unknown): boolean => typeof err === 'object' && err !== null && 'code' in err && err.code === 'permission-denied';
      assert.equal((await fs.getDoc(fs.doc(db, 'users', cfg.demoUser.uid))).get('role'), 'admin');
      await assert.rejects(fs.getDoc(fs.doc(db, 'users', throwawayUid)), denied);
      await assert.rejects(fs.setDoc(fs.doc(db, 'users', cfg.demoUser.uid), { role: 'admin' }), denied);
      const { id } = await createKey(await signIn(cfg), P, ['read']);
      // Even a global admin: keys and the log are server-only.
      await assert.rejects(fs.getDoc(fs.doc(db, 'apiKeys', id)), denied);
      await assert.rejects(fs.getDocs(fs.query(fs.collection(db, 'auditLog'), fs.limit(1))), denied);
    } finally {
      await deleteApp(app);
    }
  });
});

describe('identity: per-request cost of the role and revocation checks', () => {
  it('measures the verifier with the checks against verifying the token alone', async () => {
    process.env.FIREBASE_AUTH_EMULATOR_HOST = cfg.authEmulatorHost;
    const [{ createFirebaseVerifier, adminApp }, { getAuth }] = await Promise.all([import('../../shared/auth/index.js'), import('firebase-admin/auth')]);
    const token = await signIn(cfg);
    const verifier = createFirebaseVerifier(cfg.gcpProjectId, { db: testFirestore(cfg) });
    const auth = getAuth(adminApp(cfg.gcpProjectId));
    const median = async (run: () => Promise<unknown>): Promise<number> => {
      for (let i = 0; i < 5; i++) await run();
      const times: number[] = [];
      for (let i = 0; i < 40; i++) {
        const t0 = performance.now();
        await run();
        times.push(performance.now() - t0);
      }
      return times.sort((a, b) => a - b)[20] ?? NaN;
    };
    const decodeOnly = await median(() => auth.verifyIdToken(token, false));
    const libraryRevocation = await median(() => auth.verifyIdToken(token, true));
    const full = await median(() => verifier.verify(`Bearer ${token}`));
    const { key } = await createKey(token, P, ['read']);
    const viaKey = await median(() => verifier.verify(undefined, key));
    const line = { decodeOnlyMs: +decodeOnly.toFixed(2), verifyIdTokenCheckRevokedMs: +libraryRevocation.toFixed(2), principalMs: +full.toFixed(2), addedOverDecodeMs: +(full - decodeOnly).toFixed(2), addedOverCheckRevokedMs: +(full - libraryRevocation).toFixed(2), apiKeyMs: +viaKey.toFixed(2) };
    console.log(`identity cost (median of 40, in-process, emulators): ${JSON.stringify(line)}`);
    const p = await verifier.verify(`Bearer ${token}`);
    assert.equal(p.globalRole, 'admin');
    // A sanity bound, not a benchmark: the checks are one Auth lookup and one document read, in parallel.
    assert.ok(full < 500, JSON.stringify(line));
  });
});
