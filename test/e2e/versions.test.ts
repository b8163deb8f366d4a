/**
 * Versions end to end on the test platform: a document uploaded again becomes version N+1; the
 * document (and search) keep showing the current version until the new one is READY, then switch
 * to it at once; old versions stay listable with their text; a failed version changes nothing; a
 * re-embedding rewrites the current version's chunks with the configured model.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { localConfigForTests } from '../helpers/platform.js';
import { api, createUpload, getDocument, putSigned, signIn, testFirestore, waitForJob } from '../helpers/client.js';
import { ChunkRepository } from '../../shared/firestore/chunks.js';
import type { LocalConfig } from '../../emulators/local-config.js';
import type { SearchResponse, ReembedResponse } from '../../shared/api/contracts.js';

let cfg: LocalConfig;
let token: string;

before(async () => {
  cfg = localConfigForTests();
  token = await signIn(cfg);
});

/** A text whose words are unique to this run (so search answers concern only this document). */
function textOf(tag: string, words: string): Buffer {
  const paragraphs = [
    `The ${tag} ledger records ${words} for the harbour archive.`,
    `Every entry of the ${tag} ledger names the ship, its cargo and the ${words} it carried.`,
    `Clerks copied the ${tag} ledger twice a year; the copies disagree on ${words} only.`,
  ];
  return Buffer.from(paragraphs.join('\n\n') + '\n', 'utf8');
}

async function uploadVersion(documentId: string | undefined, body: Buffer, fileName = 'ledger.txt', contentType = 'text/plain'): Promise<{ documentId: string; jobId: string; version: number; object: string }> {
  const up = await createUpload(cfg, token, { fileName, contentType, size: body.length, ...(documentId ? { documentId } : {}) });
  const put = await putSigned(up, body);
  assert.ok(put.ok, `PUT ${put.status}`);
  return up;
}

async function search(query: string, documentId: string): Promise<SearchResponse> {
  const res = await api(cfg, token, 'POST', '/v1/search', { projectId: cfg.projectId, query, documentId, limit: 20 });
  assert.equal(res.status, 200, res.text);
  return res.json as SearchResponse;
}

const versionOf = (chunkId: string): number => Number(/_v(\d+)_c\d+$/.exec(chunkId)?.[1]);

describe('document versions', () => {
  const tag = `ver${Date.now().toString(36)}`;
  let documentId = '';

  it('uploads a new version as N+1; the document and search switch to it when it is READY', async () => {
    const v1 = await uploadVersion(undefined, textOf(tag, 'zephyrine tallies'));
    documentId = v1.documentId;
    assert.equal(v1.version, 1);
    assert.equal((await waitForJob(cfg, v1.jobId)).job.status, 'COMPLETED');
    assert.ok((await search('zephyrine', documentId)).results.length > 0, 'version 1 is searchable');

    const body2 = textOf(tag, 'quixotic manifests');
    const up2 = await createUpload(cfg, token, { fileName: 'ledger-2.txt', contentType: 'text/plain', size: body2.length, documentId });
    assert.equal(up2.version, 2);
    assert.equal(up2.documentId, documentId);
    assert.notEqual(up2.jobId, v1.jobId);
    assert.match(up2.object, new RegExp(`/${documentId}/v2/ledger-2\\.txt$`));
    // One version at a time: another one is refused while version 2 is awaited.
    const third = await api(cfg, token, 'POST', '/v1/uploads', { projectId: cfg.projectId, fileName: 'x.txt', contentType: 'text/plain', size: 3, documentId });
    assert.equal(third.status, 409, third.text);
    assert.equal((third.json as { code: string }).code, 'VERSION_IN_PROGRESS');
    // Until version 2 is READY the document is version 1.
    let doc = await getDocument(cfg, documentId);
    assert.equal(doc.currentVersion, 1);
    assert.equal(doc.latestVersion, 2);
    assert.equal(doc.status, 'READY');
    assert.equal(doc.fileName, 'ledger.txt');

    assert.ok((await putSigned(up2, body2)).ok);
    const { job } = await waitForJob(cfg, up2.jobId);
    assert.equal(job.status, 'COMPLETED', JSON.stringify(job.error));
    assert.equal(job.input.version, 2);
    doc = await getDocument(cfg, documentId);
    assert.equal(doc.currentVersion, 2);
    assert.equal(doc.jobId, up2.jobId);
    assert.equal(doc.fileName, 'ledger-2.txt');
    assert.equal(doc.status, 'READY');

    const now = await search('quixotic manifests', documentId);
    assert.ok(now.results.length > 0, 'version 2 is searchable');
    assert.ok(now.results.every((r) => versionOf(r.chunkId) === 2), JSON.stringify(now.results.map((r) => r.chunkId)));
    const old = await search('zephyrine tallies', documentId);
    assert.ok(old.results.every((r) => versionOf(r.chunkId) === 2), 'no chunk of version 1 is returned any more');
    // Both versions' chunks are kept; only version 2's are current.
    const chunks = new ChunkRepository(testFirestore(cfg));
    const [c1, c2] = await Promise.all([chunks.list(documentId, 1), chunks.list(documentId, 2)]);
    assert.ok(c1.length > 0 && c1.every((c) => !c.current));
    assert.ok(c2.length > 0 && c2.every((c) => c.current));
  });

  it('keeps old versions listable with their text', async () => {
    const list = await api(cfg, token, 'GET', `/v1/documents/${documentId}/versions`);
    assert.equal(list.status, 200, list.text);
    const body = list.json as { currentVersion: number; versions: { version: number; status: string; fileName: string; jobId: string }[] };
    assert.equal(body.currentVersion, 2);
    assert.deepEqual(body.versions.map((v) => [v.version, v.status, v.fileName]), [[1, 'READY', 'ledger.txt'], [2, 'READY', 'ledger-2.txt']]);
    const t1 = await api(cfg, token, 'GET', `/v1/documents/${documentId}/versions/1/text`);
    assert.equal(t1.status, 200);
    assert.match(t1.text, /zephyrine tallies/);
    const t2 = await api(cfg, token, 'GET', `/v1/documents/${documentId}/text`);
    assert.match(t2.text, /quixotic manifests/);
    assert.equal((await api(cfg, token, 'GET', `/v1/documents/${documentId}/versions/9`)).status, 404);
    // Another user who is not a member sees no versions either.
    assert.equal((await api(cfg, await signInStranger(), 'GET', `/v1/documents/${documentId}/versions`)).status, 404);
  });

  it('switches search atomically: every answer during a switch holds one version, never both, never none', async () => {
    const body3 = textOf(tag, 'quixotic manifests and saffron bales');
    const v3 = await uploadVersion(documentId, body3, 'ledger-3.txt');
    assert.equal(v3.version, 3);
    const seen: number[][] = [];
    let finished = false;
    const watcher = (async () => {
      while (!finished) {
        const r = await search('ledger quixotic manifests', documentId);
        seen.push([...new Set(r.results.map((h) => versionOf(h.chunkId)))]);
      }
    })();
    const { job } = await waitForJob(cfg, v3.jobId);
    // A few more answers after the switch.
    for (let i = 0; i < 3; i++) seen.push([...new Set((await search('ledger quixotic manifests', documentId)).results.map((h) => versionOf(h.chunkId)))]);
    finished = true;
    await watcher;
    assert.equal(job.status, 'COMPLETED');
    console.log(`answers during the switch: ${seen.length}; versions seen: ${seen.map((s) => s.join('+')).join(' ')}`);
    for (const versions of seen) assert.equal(versions.length, 1, `one version per answer, got ${versions.join('+') || 'none'}`);
    assert.deepEqual(seen.at(-1), [3]);
    assert.ok(seen.every(([v]) => v === 2 || v === 3));
  });

  it('leaves the document on its current version when a new version fails', async () => {
    const zip = Buffer.from('504b0304140000000800', 'hex');
    const v4 = await uploadVersion(documentId, zip, 'ledger-4.txt');
    const { job } = await waitForJob(cfg, v4.jobId);
    assert.equal(job.status, 'FAILED');
    const doc = await getDocument(cfg, documentId);
    assert.equal(doc.currentVersion, 3);
    assert.equal(doc.latestVersion, 4);
    assert.equal(doc.status, 'READY');
    const versions = (await api(cfg, token, 'GET', `/v1/documents/${documentId}/versions`)).json as { versions: { version: number; status: string }[] };
    assert.deepEqual(versions.versions.map((v) => v.status), ['READY', 'READY', 'READY', 'FAILED']);
    assert.ok((await search('saffron bales', documentId)).results.length > 0, 'version 3 still answers');
  });

  it('re-embeds the current version on request, with progress, and skips documents already on the model', async () => {
    const before = await new ChunkRepository(testFirestore(cfg)).list(documentId, 3);
    const skip = await api(cfg, token, 'POST', '/v1/reembed', { projectId: cfg.projectId, documentIds: [documentId] });
    assert.equal(skip.status, 202, skip.text);
    const skipped = skip.json as ReembedResponse;
    assert.equal(skipped.jobs.length, 0);
    assert.match(skipped.skipped[0]?.reason ?? '', /already embedded/);

    const res = await api(cfg, token, 'POST', '/v1/reembed', { projectId: cfg.projectId, documentIds: [documentId], force: true });
    assert.equal(res.status, 202, res.text);
    const started = res.json as ReembedResponse;
    assert.equal(started.jobs.length, 1);
    assert.equal(started.jobs[0]?.version, 3);
    const { job, seen } = await waitForJob(cfg, started.jobs[0]?.jobId ?? '');
    assert.equal(job.kind, 'document.embed');
    assert.equal(job.status, 'COMPLETED', JSON.stringify(job.error));
    assert.deepEqual(Object.keys(job.stages), ['embed']);
    assert.ok(seen.some((j) => j.status === 'RUNNING'), 'progress was visible');
    const after = await new ChunkRepository(testFirestore(cfg)).list(documentId, 3);
    assert.equal(after.length, before.length, 'the same chunks, rewritten in place');
    assert.ok(after.every((c) => c.current && c.embeddingModel === started.model));
    const doc = await getDocument(cfg, documentId);
    assert.equal(doc.status, 'READY');
    assert.equal(doc.currentVersion, 3);
    assert.equal(doc.activeJobId, job.id);
    assert.ok((await search('saffron bales', documentId)).results.length > 0);
    // A viewer-less stranger cannot start one.
    assert.equal((await api(cfg, await signInStranger(), 'POST', '/v1/reembed', { projectId: cfg.projectId })).status, 403);
  });
});

async function signInStranger(): Promise<string> {
  const { signUp } = await import('../helpers/client.js');
  return signUp(cfg, `stranger-${Date.now()}-${Math.random().toString(36).slice(2)}@example.com`);
}
