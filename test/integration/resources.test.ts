/**
 * The resource API against the running platform: projects and members, document list / download /
 * delete, settings and agents, plus the conventions (ETag and If-Match, request ids, CORS). Each
 * test user is a fresh Auth-emulator account in projects of its own, so nothing here touches the
 * demo project.
 */
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createUpload, putSigned, signUp, testFirestore, waitForJob } from '../helpers/client.js';
import { localConfigForTests } from '../helpers/platform.js';
import type { LocalConfig } from '../../emulators/local-config.js';

let cfg: LocalConfig;
const run = randomBytes(3).toString('hex');

interface Answer {
  readonly status: number;
  readonly json: Record<string, unknown>;
  readonly headers: Headers;
}

async function call(token: string | null, method: string, route: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await fetch(`${cfg.apiUrl}${route}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    json = { text };
  }
  return { status: res.status, json, headers: res.headers };
}

/** A signed-up user: its token and uid. */
async function user(name: string): Promise<{ token: string; uid: string }> {
  const token = await signUp(cfg, `${name}-${run}@example.com`, 'password-123', 'editor');
  const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { user_id: string };
  return { token, uid: payload.user_id };
}

let owner: { token: string; uid: string };
let editor: { token: string; uid: string };
let viewer: { token: string; uid: string };
let outsider: { token: string; uid: string };
let projectId: string;

before(async () => {
  cfg = localConfigForTests();
  [owner, editor, viewer, outsider] = await Promise.all([user('owner'), user('editor'), user('viewer'), user('outsider')]);
  const created = await call(owner.token, 'POST', '/v1/projects', { id: `res-${run}`, name: 'Resources test', description: 'made by resources.test' });
  assert.equal(created.status, 201, JSON.stringify(created.json));
  projectId = String(created.json.id);
  for (const [u, role] of [[editor, 'editor'], [viewer, 'viewer']] as const) {
    const put = await call(owner.token, 'PUT', `/v1/projects/${projectId}/members/${u.uid}`, { role });
    assert.equal(put.status, 201, JSON.stringify(put.json));
  }
});

describe('projects', () => {
  it('creates a project whose creator is its admin, with an ETag and a Location', async () => {
    const res = await call(owner.token, 'POST', '/v1/projects', { name: 'Ünïcode name!' });
    assert.equal(res.status, 201);
    assert.match(String(res.json.id), /^unicode-name-[0-9a-f]{6}$/);
    assert.equal(res.json.ownerUid, owner.uid);
    assert.match(res.headers.get('etag') ?? '', /^"[A-Za-z0-9_-]{27}"$/);
    assert.equal(res.headers.get('location'), `/v1/projects/${String(res.json.id)}`);
    const member = await call(owner.token, 'GET', `/v1/projects/${String(res.json.id)}/members/${owner.uid}`);
    assert.equal(member.json.role, 'admin');
  });

  it('refuses a taken project id with 409 and a malformed body with 400', async () => {
    assert.equal((await call(outsider.token, 'POST', '/v1/projects', { id: projectId, name: 'mine now' })).status, 409);
    const bad = await call(owner.token, 'POST', '/v1/projects', { name: '', extra: 1 });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.code, 'INVALID_ARGUMENT');
  });

  it("lists the caller's projects with their role, across pages", async () => {
    const u = await user('lister');
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(String((await call(u.token, 'POST', '/v1/projects', { id: `list-${run}-${i}`, name: `P${i}` })).json.id));
    const seen: string[] = [];
    let token: string | null = null;
    let pages = 0;
    do {
      const page: Answer = await call(u.token, 'GET', `/v1/projects?limit=2${token ? `&pageToken=${token}` : ''}`);
      assert.equal(page.status, 200, JSON.stringify(page.json));
      const items = page.json.projects as { id: string; role: string }[];
      assert.ok(items.length <= 2);
      for (const p of items) assert.equal(p.role, 'admin');
      seen.push(...items.map((p) => p.id));
      token = page.json.nextPageToken as string | null;
      pages++;
    } while (token);
    assert.equal(pages, 3);
    assert.deepEqual(seen.sort(), ids.sort());
    // A viewer sees the project shared with them, as viewer.
    const shared = await call(viewer.token, 'GET', '/v1/projects');
    assert.deepEqual((shared.json.projects as { id: string; role: string }[]).map((p) => [p.id, p.role]), [[projectId, 'viewer']]);
  });

  it('refuses a page token from another query', async () => {
    const u = await user('tokens');
    for (let i = 0; i < 2; i++) await call(u.token, 'POST', '/v1/projects', { id: `tok-${run}-${i}`, name: `T${i}` });
    const first = await call(u.token, 'GET', '/v1/projects?limit=1');
    const res = await call(owner.token, 'GET', `/v1/projects?limit=1&pageToken=${String(first.json.nextPageToken)}`);
    assert.equal(res.status, 400);
    assert.equal(res.json.code, 'INVALID_PAGE_TOKEN');
  });

  it('answers 404 to a non-member and 403 to a viewer who writes', async () => {
    assert.equal((await call(outsider.token, 'GET', `/v1/projects/${projectId}`)).status, 404);
    assert.equal((await call(outsider.token, 'GET', `/v1/projects/${projectId}/members`)).status, 404);
    assert.equal((await call(viewer.token, 'GET', `/v1/projects/${projectId}`)).status, 200);
    assert.equal((await call(viewer.token, 'PATCH', `/v1/projects/${projectId}`, { name: 'viewer was here' })).status, 403);
    assert.equal((await call(editor.token, 'PUT', `/v1/projects/${projectId}/members/${outsider.uid}`, { role: 'viewer' })).status, 403);
    assert.equal((await call(viewer.token, 'DELETE', `/v1/projects/${projectId}`)).status, 403);
  });

  it('updates with If-Match: 412 on a stale ETag, 200 with the current one and a new ETag', async () => {
    const read = await call(owner.token, 'GET', `/v1/projects/${projectId}`);
    const etag = read.headers.get('etag') ?? '';
    const ok = await call(owner.token, 'PATCH', `/v1/projects/${projectId}`, { description: 'changed once' }, { 'if-match': etag });
    assert.equal(ok.status, 200, JSON.stringify(ok.json));
    assert.equal(ok.json.description, 'changed once');
    assert.notEqual(ok.headers.get('etag'), etag);
    const stale = await call(owner.token, 'PATCH', `/v1/projects/${projectId}`, { description: 'lost update' }, { 'if-match': etag });
    assert.equal(stale.status, 412);
    assert.equal(stale.json.code, 'PRECONDITION_FAILED');
    assert.equal((await call(owner.token, 'GET', `/v1/projects/${projectId}`)).json.description, 'changed once');
    // The same record read twice has the same tag.
    assert.equal((await call(viewer.token, 'GET', `/v1/projects/${projectId}`)).headers.get('etag'), ok.headers.get('etag'));
  });

  it('never leaves a project without an admin, and audits member changes', async () => {
    const demote = await call(owner.token, 'PUT', `/v1/projects/${projectId}/members/${owner.uid}`, { role: 'editor' });
    assert.equal(demote.status, 409);
    assert.equal(demote.json.code, 'LAST_ADMIN');
    assert.equal((await call(owner.token, 'DELETE', `/v1/projects/${projectId}/members/${owner.uid}`)).status, 409);
    const temp = await user('temp');
    assert.equal((await call(owner.token, 'PUT', `/v1/projects/${projectId}/members/${temp.uid}`, { role: 'viewer' })).status, 201);
    const changed = await call(owner.token, 'PUT', `/v1/projects/${projectId}/members/${temp.uid}`, { role: 'editor' });
    assert.equal(changed.status, 200);
    assert.equal(changed.json.role, 'editor');
    assert.equal((await call(owner.token, 'DELETE', `/v1/projects/${projectId}/members/${temp.uid}`)).status, 204);
    assert.equal((await call(temp.token, 'GET', `/v1/projects/${projectId}`)).status, 404);
    const log = await testFirestore(cfg).collection('auditLog').where('projectId', '==', projectId).where('target.id', '==', temp.uid).get();
    assert.deepEqual(log.docs.map((d) => d.get('action') as string).sort(), ['member.added', 'member.removed', 'member.role_changed']);
    assert.ok(log.docs.every((d) => d.get('actor.uid') === owner.uid && d.get('projectId') === projectId));
  });
});

/** Uploads `body` as a text file into the test project and waits for its job. */
async function uploadText(token: string, fileName: string, body: string, wait = true): Promise<{ documentId: string; jobId: string }> {
  const bytes = Buffer.from(body, 'utf8');
  const up = await createUpload(cfg, token, { projectId, fileName, contentType: 'text/plain', size: bytes.length });
  const put = await putSigned(up, bytes);
  assert.ok(put.ok, `PUT ${put.status}`);
  if (wait) {
    const { job } = await waitForJob(cfg, up.jobId, 180_000);
    assert.equal(job.status, 'COMPLETED', JSON.stringify(job.error));
  }
  return { documentId: up.documentId, jobId: up.jobId };
}

const TEXT = 'Scriptorium keeps documents. '.repeat(40) + '\n\nA second paragraph about the deletion of documents and their chunks. '.repeat(20);

describe('documents', () => {
  let listProject: string;
  before(async () => {
    listProject = `docs-${run}`;
    assert.equal((await call(owner.token, 'POST', '/v1/projects', { id: listProject, name: 'List' })).status, 201);
    for (const name of ['delta.txt', 'alpha.txt', 'echo.pdf', 'bravo.txt', 'charlie.txt']) {
      await createUpload(cfg, owner.token, { projectId: listProject, fileName: name, contentType: name.endsWith('.pdf') ? 'application/pdf' : 'text/plain', size: 10 });
    }
  });

  it('lists across pages in each sort, with filters', async () => {
    const all = async (qs: string): Promise<string[]> => {
      const names: string[] = [];
      let token: string | null = null;
      do {
        const page: Answer = await call(owner.token, 'GET', `/v1/documents?projectId=${listProject}&limit=2${qs}${token ? `&pageToken=${token}` : ''}`);
        assert.equal(page.status, 200, JSON.stringify(page.json));
        names.push(...(page.json.documents as { fileName: string }[]).map((d) => d.fileName));
        token = page.json.nextPageToken as string | null;
      } while (token);
      return names;
    };
    assert.deepEqual(await all('&sort=fileName'), ['alpha.txt', 'bravo.txt', 'charlie.txt', 'delta.txt', 'echo.pdf']);
    assert.deepEqual(await all('&sort=createdAt'), ['delta.txt', 'alpha.txt', 'echo.pdf', 'bravo.txt', 'charlie.txt']);
    assert.deepEqual(await all(''), ['charlie.txt', 'bravo.txt', 'echo.pdf', 'alpha.txt', 'delta.txt']);
    assert.deepEqual(await all('&contentType=application/pdf'), ['echo.pdf']);
    assert.deepEqual(await all('&status=AWAITING_UPLOAD&q=c'), ['charlie.txt']);
    assert.deepEqual(await all('&status=READY'), []);
  });

  it('refuses a bad query with 400 and a non-member with 404', async () => {
    assert.equal((await call(owner.token, 'GET', `/v1/documents?projectId=${listProject}&sort=size`)).status, 400);
    assert.equal((await call(owner.token, 'GET', `/v1/documents?projectId=${listProject}&q=a&sort=createdAt`)).status, 400);
    assert.equal((await call(owner.token, 'GET', `/v1/documents?projectId=${listProject}&limit=1000`)).status, 400);
    assert.equal((await call(outsider.token, 'GET', `/v1/documents?projectId=${listProject}`)).status, 404);
  });

  it('hands out short-lived signed download URLs for the original and the text', async () => {
    const { documentId } = await uploadText(editor.token, 'dl test é.txt', TEXT);
    const res = await call(viewer.token, 'GET', `/v1/documents/${documentId}/download?what=original`);
    assert.equal(res.status, 200, JSON.stringify(res.json));
    assert.ok(Date.parse(String(res.json.expiresAt)) - Date.now() <= 300_000);
    const got = await fetch(String(res.json.url));
    assert.equal(got.status, 200);
    assert.equal(await got.text(), TEXT);
    assert.match(got.headers.get('content-disposition') ?? '', /attachment; filename="dl test e\.txt"; filename\*=UTF-8''dl%20test%20%C3%A9\.txt/);
    const text = await call(viewer.token, 'GET', `/v1/documents/${documentId}/download?what=text`);
    assert.equal(text.status, 200);
    assert.match(await (await fetch(String(text.json.url))).text(), /Scriptorium keeps documents/);
    // The signature covers the disposition: changing it breaks the URL.
    const tampered = String(res.json.url).replace('attachment', 'inline');
    assert.equal((await fetch(tampered)).status, 403);
    assert.equal((await call(viewer.token, 'GET', `/v1/documents/${documentId}/download?what=transcript.srt`)).status, 409);
    assert.equal((await call(outsider.token, 'GET', `/v1/documents/${documentId}/download`)).status, 404);
  });

  it('deletes objects, chunks, versions and the record; keeps the job; a second delete is harmless', async () => {
    const { documentId, jobId } = await uploadText(editor.token, 'to-delete.txt', TEXT);
    const db = testFirestore(cfg);
    const before = await db.collection('chunks').where('documentId', '==', documentId).get();
    assert.ok(before.size >= 1, 'the document has chunks before');
    const original = await call(owner.token, 'GET', `/v1/documents/${documentId}/download`);
    // Viewers may not delete; an editor may not delete another's document; the admin may.
    assert.equal((await call(viewer.token, 'DELETE', `/v1/documents/${documentId}`)).status, 403);
    const other = await user('other-editor');
    await call(owner.token, 'PUT', `/v1/projects/${projectId}/members/${other.uid}`, { role: 'editor' });
    assert.equal((await call(other.token, 'DELETE', `/v1/documents/${documentId}`)).status, 403);
    assert.equal((await call(outsider.token, 'DELETE', `/v1/documents/${documentId}`)).status, 404);
    assert.equal((await call(owner.token, 'DELETE', `/v1/documents/${documentId}`, undefined, { 'if-match': '"stale"' })).status, 412);
    const res = await call(owner.token, 'DELETE', `/v1/documents/${documentId}`);
    assert.equal(res.status, 200, JSON.stringify(res.json));
    const deleted = res.json.deleted as { objects: number; chunks: number; versions: number };
    assert.ok(deleted.objects >= 2, `upload and derived text deleted: ${JSON.stringify(deleted)}`);
    assert.equal(deleted.chunks, before.size);
    assert.equal(deleted.versions, 1);
    assert.equal((await db.collection('chunks').where('documentId', '==', documentId).get()).size, 0);
    assert.equal((await db.doc(`documents/${documentId}`).get()).exists, false);
    assert.equal((await db.collection(`documents/${documentId}/versions`).get()).size, 0);
    assert.equal((await fetch(String(original.json.url))).status, 404);
    assert.equal((await db.doc(`jobs/${jobId}`).get()).get('status'), 'COMPLETED');
    const audit = await db.doc(`auditLog/document-delete-${documentId}`).get();
    assert.equal(audit.get('actor.uid'), owner.uid);
    assert.equal(audit.get('projectId'), projectId);
    const again = await call(owner.token, 'DELETE', `/v1/documents/${documentId}`);
    assert.equal(again.status, 200);
    assert.equal(again.json.alreadyDeleted, true);
    assert.equal((await call(outsider.token, 'DELETE', `/v1/documents/${documentId}`)).status, 404);
  });

  it('finishes a deletion that stopped half-way', async () => {
    const { documentId } = await uploadText(editor.token, 'half.txt', TEXT);
    const db = testFirestore(cfg);
    // As a crash after steps 1 and 4 would leave it: marked, chunks gone, objects and versions left.
    await db.doc(`documents/${documentId}`).update({ deletion: { requestedAt: new Date(), by: editor.uid } });
    const chunks = await db.collection('chunks').where('documentId', '==', documentId).get();
    await Promise.all(chunks.docs.map((c) => c.ref.delete()));
    const res = await call(editor.token, 'DELETE', `/v1/documents/${documentId}`);
    assert.equal(res.status, 200, JSON.stringify(res.json));
    const deleted = res.json.deleted as { objects: number; chunks: number };
    assert.equal(deleted.chunks, 0);
    assert.ok(deleted.objects >= 2);
    assert.equal((await db.doc(`documents/${documentId}`).get()).exists, false);
  });

  it('cancels a job still waiting for its upload when its document is deleted', async () => {
    const up = await createUpload(cfg, editor.token, { projectId, fileName: 'never.txt', contentType: 'text/plain', size: 5 });
    const res = await call(editor.token, 'DELETE', `/v1/documents/${up.documentId}`);
    assert.equal(res.status, 200);
    assert.equal((res.json.deleted as { jobsCancelled: number }).jobsCancelled, 1);
    assert.equal((await testFirestore(cfg).doc(`jobs/${up.jobId}`).get()).get('status'), 'CANCELLED');
  });

  it('deletes a non-empty project only with force=true', async () => {
    const p = `gone-${run}`;
    await call(owner.token, 'POST', '/v1/projects', { id: p, name: 'Doomed' });
    const up = await createUpload(cfg, owner.token, { projectId: p, fileName: 'x.txt', contentType: 'text/plain', size: 3 });
    const refused = await call(owner.token, 'DELETE', `/v1/projects/${p}`);
    assert.equal(refused.status, 409);
    assert.equal(refused.json.code, 'PROJECT_NOT_EMPTY');
    const res = await call(owner.token, 'DELETE', `/v1/projects/${p}?force=true`);
    assert.equal(res.status, 200, JSON.stringify(res.json));
    assert.equal(res.json.deletedDocuments, 1);
    assert.equal((await testFirestore(cfg).doc(`documents/${up.documentId}`).get()).exists, false);
    assert.equal((await call(owner.token, 'GET', `/v1/projects/${p}`)).status, 404);
  });
});

describe('settings', () => {
  it('reads defaults, replaces with validation and If-Match', async () => {
    const u = await user('settings');
    const first = await call(u.token, 'GET', '/v1/me/settings');
    assert.equal(first.status, 200);
    assert.deepEqual(first.json.settings, { language: 'en', theme: 'system', reading: { fontSize: 16, lineHeight: 1.5, fontFamily: 'serif' }, notifications: { jobCompleted: true, jobFailed: true, email: false }, defaultVoice: null });
    const bad = await call(u.token, 'PUT', '/v1/me/settings', { theme: 'neon', reading: { fontSize: 200 } });
    assert.equal(bad.status, 400);
    assert.ok('theme' in (bad.json.details as object));
    const etag = first.headers.get('etag') ?? '';
    const put = await call(u.token, 'PUT', '/v1/me/settings', { theme: 'dark', reading: { fontSize: 20 } }, { 'if-match': etag });
    assert.equal(put.status, 200, JSON.stringify(put.json));
    assert.deepEqual((put.json.settings as { reading: unknown }).reading, { fontSize: 20, lineHeight: 1.5, fontFamily: 'serif' });
    assert.equal((await call(u.token, 'PUT', '/v1/me/settings', { theme: 'light' }, { 'if-match': etag })).status, 412);
    assert.equal(((await call(u.token, 'GET', '/v1/me/settings')).json.settings as { theme: string }).theme, 'dark');
  });

  it("enforces a project's allowed content types and size limit on uploads", async () => {
    const p = `set-${run}`;
    await call(owner.token, 'POST', '/v1/projects', { id: p, name: 'Settings' });
    assert.equal((await call(outsider.token, 'GET', `/v1/projects/${p}/settings`)).status, 404);
    const defaults = await call(owner.token, 'GET', `/v1/projects/${p}/settings`);
    assert.deepEqual(defaults.json.settings, { allowedContentTypes: [], maxUploadBytes: null, retentionDays: null, defaultAgentId: null });
    await call(owner.token, 'PUT', `/v1/projects/${p}/members/${viewer.uid}`, { role: 'viewer' });
    assert.equal((await call(viewer.token, 'PUT', `/v1/projects/${p}/settings`, { maxUploadBytes: 5 })).status, 403);
    assert.equal((await call(owner.token, 'PUT', `/v1/projects/${p}/settings`, { maxUploadBytes: 1e15 })).status, 400);
    const put = await call(owner.token, 'PUT', `/v1/projects/${p}/settings`, { allowedContentTypes: ['text/*'], maxUploadBytes: 100, retentionDays: 30 });
    assert.equal(put.status, 200, JSON.stringify(put.json));
    const upload = (contentType: string, size: number) => call(owner.token, 'POST', '/v1/uploads', { projectId: p, fileName: 'f', contentType, size });
    assert.equal((await upload('application/pdf', 10)).status, 415);
    assert.equal((await upload('text/plain', 101)).status, 413);
    assert.equal((await upload('text/plain; charset=utf-8', 100)).status, 201);
  });
});

describe('agents', () => {
  it('creates, versions, (de)activates and deletes agents; uploads record the agent version', async () => {
    const base = `/v1/projects/${projectId}/agents`;
    assert.equal((await call(owner.token, 'POST', base, { type: 'ocr', name: 'bad', config: { languages: ['english'] } })).status, 400);
    assert.equal((await call(owner.token, 'POST', base, { type: 'chunking', name: 'bad', config: { chunkSize: 500, overlap: 600 } })).status, 400);
    assert.equal((await call(viewer.token, 'POST', base, { type: 'ocr', name: 'v', config: { languages: ['eng'] } })).status, 403);
    const created = await call(owner.token, 'POST', base, { type: 'ocr', name: 'Arabic OCR', config: { languages: ['ara', 'eng'] } });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    const id = String(created.json.id);
    assert.equal(created.json.version, 1);
    assert.equal(created.json.status, 'active');
    assert.equal((await call(outsider.token, 'GET', `${base}/${id}`)).status, 404);
    const read = await call(viewer.token, 'GET', `${base}/${id}`);
    const patched = await call(owner.token, 'PATCH', `${base}/${id}`, { config: { languages: ['ara'] } }, { 'if-match': read.headers.get('etag') ?? '' });
    assert.equal(patched.status, 200, JSON.stringify(patched.json));
    assert.equal(patched.json.version, 2);
    assert.equal((await call(owner.token, 'PATCH', `${base}/${id}`, { name: 'x' }, { 'if-match': read.headers.get('etag') ?? '' })).status, 412);
    assert.equal((await call(owner.token, 'PATCH', `${base}/${id}`, { config: { voice: 'x' } })).status, 400);

    assert.equal((await call(owner.token, 'POST', `${base}/${id}/deactivate`)).json.status, 'inactive');
    const refused = await call(editor.token, 'POST', '/v1/uploads', { projectId, fileName: 'a.png', contentType: 'image/png', size: 10, agentId: id });
    assert.equal(refused.status, 400);
    const active = await call(owner.token, 'POST', `${base}/${id}/activate`);
    assert.equal(active.json.status, 'active');
    assert.equal(active.json.version, 4);
    const up = await call(editor.token, 'POST', '/v1/uploads', { projectId, fileName: 'a.png', contentType: 'image/png', size: 10, agentId: id });
    assert.equal(up.status, 201, JSON.stringify(up.json));
    const job = await testFirestore(cfg).doc(`jobs/${String(up.json.jobId)}`).get();
    assert.equal(job.get('agentId'), id);
    assert.equal(job.get('agentVersion'), 4);
    const snapshot = await testFirestore(cfg).doc(`projects/${projectId}/agents/${id}/versions/000004`).get();
    assert.deepEqual(snapshot.get('config'), { languages: ['ara'] });

    // The project's default agent is used when an upload names none, and cannot be deleted.
    assert.equal((await call(owner.token, 'PUT', `/v1/projects/${projectId}/settings`, { defaultAgentId: id })).status, 200);
    const byDefault = await call(editor.token, 'POST', '/v1/uploads', { projectId, fileName: 'b.png', contentType: 'image/png', size: 10 });
    assert.equal((await testFirestore(cfg).doc(`jobs/${String(byDefault.json.jobId)}`).get()).get('agentId'), id);
    assert.equal((await call(owner.token, 'DELETE', `${base}/${id}`)).status, 409);
    await call(owner.token, 'PUT', `/v1/projects/${projectId}/settings`, {});
    assert.equal((await call(owner.token, 'DELETE', `${base}/${id}`)).status, 204);
    assert.equal((await call(owner.token, 'GET', `${base}/${id}`)).status, 404);
  });

  it('lists agents across pages, filtered by type', async () => {
    const p = `agents-${run}`;
    await call(owner.token, 'POST', '/v1/projects', { id: p, name: 'Agents' });
    const base = `/v1/projects/${p}/agents`;
    await call(owner.token, 'POST', base, { type: 'tts', name: 't', config: { voice: 'flite-kal16', speakingRate: 1.2 } });
    await call(owner.token, 'POST', base, { type: 'summary', name: 's', config: { length: 'short' } });
    await call(owner.token, 'POST', base, { type: 'chunking', name: 'c', config: { chunkSize: 1200, overlap: 100 } });
    const first = await call(owner.token, 'GET', `${base}?limit=2`);
    const second = await call(owner.token, 'GET', `${base}?limit=2&pageToken=${String(first.json.nextPageToken)}`);
    assert.equal((first.json.agents as unknown[]).length + (second.json.agents as unknown[]).length, 3);
    assert.equal(second.json.nextPageToken, null);
    const tts = await call(owner.token, 'GET', `${base}?type=tts`);
    assert.deepEqual((tts.json.agents as { config: unknown }[]).map((a) => a.config), [{ voice: 'flite-kal16', speakingRate: 1.2 }]);
  });
});

describe('API conventions', () => {
  it('echoes a request id, makes one up when absent, and puts it in errors', async () => {
    const given = await call(owner.token, 'GET', `/v1/projects/${projectId}`, undefined, { 'x-request-id': `test-${run}` });
    assert.equal(given.headers.get('x-request-id'), `test-${run}`);
    const made = await call(owner.token, 'GET', `/v1/projects/${projectId}`);
    assert.match(made.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
    const err = await call(outsider.token, 'GET', `/v1/projects/${projectId}`, undefined, { 'x-request-id': `err-${run}` });
    assert.equal(err.json.requestId, `err-${run}`);
    assert.equal(err.headers.get('x-request-id'), `err-${run}`);
    const junk = await call(null, 'GET', '/v1/projects', undefined, { 'x-request-id': 'bad id with spaces' });
    assert.notEqual(junk.headers.get('x-request-id'), 'bad id with spaces');
  });

  it('answers CORS for allowed origins only', async () => {
    const pre = (origin: string) => fetch(`${cfg.apiUrl}/v1/projects`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'PATCH', 'access-control-request-headers': 'authorization, if-match' } });
    const ok = await pre('http://localhost:5173');
    assert.equal(ok.status, 204);
    assert.equal(ok.headers.get('access-control-allow-origin'), 'http://localhost:5173');
    assert.match(ok.headers.get('access-control-allow-methods') ?? '', /PATCH/);
    assert.match(ok.headers.get('access-control-allow-headers') ?? '', /If-Match/);
    const evil = await pre('https://evil.example');
    assert.equal(evil.status, 403);
    assert.equal(evil.headers.get('access-control-allow-origin'), null);
    const get = await fetch(`${cfg.apiUrl}/v1/projects`, { headers: { origin: 'http://localhost:5173', authorization: `Bearer ${owner.token}` } });
    assert.equal(get.headers.get('access-control-allow-origin'), 'http://localhost:5173');
    assert.match(get.headers.get('access-control-expose-headers') ?? '', /ETag/);
  });
});
