/**
 * Regression tests for the holes found by probing the running stack as an outsider would (issue 5):
 * hostile bodies to the public API, unusable identities, internals in errors, uploads that are not
 * what was signed, and messages that point a stage at someone else's records. Each test is a probe
 * that broke something before; it runs against the test platform with the real emulators.
 */
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { Storage } from '@google-cloud/storage';
import { getAuth } from 'firebase-admin/auth';
import { initializeApp, deleteApp, type App } from 'firebase-admin/app';
import { localConfigForTests } from '../helpers/platform.js';
import { api, createUpload, fixture, getDocument, outcomeOf, putSigned, signIn, testFirestore, uploadAndWait, waitForJob } from '../helpers/client.js';
import { finalizeEnvelope, pushEnvelope } from '../helpers/events.js';
import { internalsIn, rawRequest, rssOf } from '../helpers/raw-http.js';
import { pushPath } from '../../shared/topology.js';
import { JobSchema } from '../../shared/jobs/model.js';
import { toPlain } from '../../shared/firestore/client.js';
import type { LocalConfig } from '../../emulators/local-config.js';
import type { GcsObject } from '../../shared/events/contracts.js';

let cfg: LocalConfig;
let token: string;
let admin: App;

before(async () => {
  cfg = localConfigForTests();
  token = await signIn(cfg);
  process.env.FIREBASE_AUTH_EMULATOR_HOST = cfg.authEmulatorHost;
  admin = initializeApp({ projectId: cfg.gcpProjectId }, `security-${Date.now()}`);
});

after(async () => {
  await deleteApp(admin);
});

const storage = (): Storage => new Storage({ projectId: cfg.gcpProjectId, apiEndpoint: cfg.storageEmulatorHost });
const code = (json: unknown): string | undefined => (json as { code?: string } | null)?.code;
const md5 = (b: Buffer): string => createHash('md5').update(b).digest('base64');

async function push(fn: string, topic: string, body: unknown): Promise<number> {
  const url = cfg.functions[fn];
  assert.ok(url, `no function ${fn}`);
  const res = await fetch(`${url}${pushPath(cfg.gcpProjectId, topic)}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  await res.arrayBuffer();
  return res.status;
}

async function jobNow(jobId: string) {
  const snap = await testFirestore(cfg).doc(`jobs/${jobId}`).get();
  return JobSchema.parse({ ...(toPlain(snap.data()) as object), id: jobId });
}

function apiPid(): number {
  const entry = Object.entries(cfg.pgids).find(([k]) => k === 'api' || k === 'function-api');
  assert.ok(entry, `no api process in ${JSON.stringify(Object.keys(cfg.pgids))}`);
  return entry[1];
}

describe('security: the API reads nothing before it knows the caller', () => {
  it('keeps the api process flat under a stream of unauthenticated gzip bombs and large bodies', async () => {
    const pid = apiPid();
    // 100 KB of gzip that inflates to 100 MB (the probe: 194 KB grew the process by ~200 MB).
    const bomb = gzipSync(Buffer.alloc(100 * 1024 * 1024), { level: 9 });
    const plain = Buffer.alloc(8 * 1024 * 1024, 0x20);
    const before = await rssOf(pid);
    let peak = before;
    for (let i = 0; i < 20; i++) {
      const body = i % 2 === 0 ? bomb : plain;
      const headers: Record<string, string> = { 'content-type': i % 4 === 0 ? 'application/json' : 'application/octet-stream', 'content-length': String(body.length) };
      if (i % 2 === 0) headers['content-encoding'] = 'gzip';
      const res = await rawRequest(`${cfg.apiUrl}/v1/uploads`, { method: 'POST', headers, body }).catch((err: unknown) => ({ status: -1, text: String(err), headers: {} }));
      // A large body may be cut off by the server's close before the answer is read: either is fine,
      // as long as nothing was read; an answer must be our JSON 401.
      if (res.status !== -1) {
        assert.equal(res.status, 401);
        assert.equal(code(JSON.parse(res.text)), 'UNAUTHENTICATED');
      }
      peak = Math.max(peak, await rssOf(pid));
    }
    const grew = peak - before;
    console.log(`api rss: before ${Math.round(before / 1048576)} MiB, peak ${Math.round(peak / 1048576)} MiB over 20 hostile requests (10 × 100 MB gzip bombs, 10 × 8 MiB bodies)`);
    assert.ok(grew < 48 * 1024 * 1024, `api rss grew by ${Math.round(grew / 1048576)} MiB`);
    // Still serving.
    assert.equal((await api(cfg, token, 'GET', '/health')).status, 200);
  });

  it('answers parser-level failures with JSON codes, never HTML or stack traces', async () => {
    const route = `${cfg.apiUrl}/v1/uploads`;
    const auth = { authorization: `Bearer ${token}` };
    const probes: [string, Record<string, string>, Buffer | string, number, string][] = [
      ['malformed JSON', { 'content-type': 'application/json' }, '{"projectId": ', 400, 'MALFORMED_JSON'],
      ['invalid UTF-8', { 'content-type': 'application/json' }, Buffer.from([0x7b, 0xc3, 0x28, 0x7d]), 400, 'MALFORMED_BODY'],
      ['an unsupported charset', { 'content-type': 'application/json; charset=utf-16' }, '{}', 415, 'UNSUPPORTED_CHARSET'],
      ['a bad content-encoding', { 'content-type': 'application/json', 'content-encoding': 'x-bogus' }, '{}', 415, 'UNSUPPORTED_CONTENT_ENCODING'],
      ['gzip', { 'content-type': 'application/json', 'content-encoding': 'gzip' }, gzipSync('{}'), 415, 'UNSUPPORTED_CONTENT_ENCODING'],
      ['an oversize body', { 'content-type': 'application/json' }, JSON.stringify({ projectId: cfg.projectId, pad: 'x'.repeat(70 * 1024) }), 413, 'BODY_TOO_LARGE'],
      ['a form body', { 'content-type': 'application/x-www-form-urlencoded' }, 'projectId=demo', 415, 'UNSUPPORTED_MEDIA_TYPE'],
      ['text', { 'content-type': 'text/plain' }, '{}', 415, 'UNSUPPORTED_MEDIA_TYPE'],
      ['a JSON array', { 'content-type': 'application/json' }, '[]', 400, 'INVALID_ARGUMENT'],
      ['an unknown field', { 'content-type': 'application/json' }, JSON.stringify({ projectId: cfg.projectId, fileName: 'a.pdf', contentType: 'application/pdf', size: 1, bucket: 'elsewhere' }), 400, 'INVALID_ARGUMENT'],
    ];
    for (const [name, headers, body, status, expected] of probes) {
      const buf = typeof body === 'string' ? Buffer.from(body) : body;
      const res = await rawRequest(route, { method: 'POST', headers: { ...auth, ...headers, 'content-length': String(buf.length) }, body: buf });
      assert.equal(res.status, status, `${name}: ${res.text}`);
      assert.match(String(res.headers['content-type']), /^application\/problem\+json/, name);
      assert.equal(code(JSON.parse(res.text)), expected, name);
      assert.deepEqual(internalsIn(res.text), [], `${name}: ${res.text}`);
    }
    // Chunked without a length: refused before reading.
    const chunked = await rawRequest(route, { method: 'POST', headers: { ...auth, 'content-type': 'application/json', 'transfer-encoding': 'chunked' }, body: '{}' });
    assert.equal(chunked.status, 411);
    // A path Express cannot decode.
    const undecodable = await rawRequest(cfg.apiUrl, { path: '/v1/documents/%E0%A4%A/text', headers: auth });
    assert.ok(undecodable.status >= 400 && undecodable.status < 500);
    assert.deepEqual(internalsIn(undecodable.text), []);
    assert.ok(code(JSON.parse(undecodable.text)));
  });
});

describe('security: identities and ids', () => {
  it('answers a clean 403 to a token whose uid contains / (not a 503 from a broken Firestore path)', async () => {
    const auth = getAuth(admin);
    const uid = `evil/${Date.now()}/../../projects`;
    const email = `slash-${Date.now()}@example.com`;
    await auth.createUser({ uid, email, password: 'password-123' });
    const evil = await signIn(cfg, email, 'password-123');
    const upload = await api(cfg, evil, 'POST', '/v1/uploads', { projectId: cfg.projectId, fileName: 'a.pdf', contentType: 'application/pdf', size: 10 });
    assert.equal(upload.status, 403, upload.text);
    assert.equal(code(upload.json), 'UNSUPPORTED_PRINCIPAL');
    const read = await api(cfg, evil, 'GET', '/v1/jobs/job_0123456789abcdef0123');
    assert.equal(read.status, 403);
  });

  it('does not return why a token was refused beyond a stable reason', async () => {
    const res = await api(cfg, 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.', 'GET', '/v1/jobs/job_0123456789abcdef0123');
    assert.equal(res.status, 401);
    assert.deepEqual(internalsIn(res.text), []);
    assert.equal((res.json as { details?: { cause?: unknown } }).details?.cause, undefined);
  });

  it('refuses content types that are not RFC 9110 media types (a non-ASCII parameter made an unusable URL)', async () => {
    for (const contentType of ['application/pdf; name=résumé', 'application/pdf; x="日本"', 'application/pdf\u0000', 'application/pdf; charset']) {
      const res = await api(cfg, token, 'POST', '/v1/uploads', { projectId: cfg.projectId, fileName: 'a.pdf', contentType, size: 10 });
      assert.equal(res.status, 400, contentType);
      assert.ok((res.json as { details: Record<string, unknown> }).details.contentType, contentType);
    }
    // A quoted ASCII parameter is fine, and its URL is usable.
    const body = await fixture('pdf/minimal-document.pdf');
    const upload = await createUpload(cfg, token, { fileName: 'param.pdf', contentType: 'application/pdf; name="x y"', size: body.length });
    assert.equal((await putSigned(upload, body)).status, 200);
  });
});

describe('security: retried uploads and errors', () => {
  it('moves the job\'s uploadExpiresAt to the URL a retried clientRequestId returns', async () => {
    const req = { projectId: cfg.projectId, fileName: 'again.pdf', contentType: 'application/pdf', size: 100, clientRequestId: `expiry-${Date.now()}` };
    const first = await api(cfg, token, 'POST', '/v1/uploads', req);
    assert.equal(first.status, 201);
    await new Promise((r) => setTimeout(r, 1100));
    const second = await api(cfg, token, 'POST', '/v1/uploads', req);
    assert.equal(second.status, 200);
    const a = first.json as { jobId: string; expiresAt: string };
    const b = second.json as { jobId: string; expiresAt: string };
    assert.ok(b.expiresAt > a.expiresAt);
    const job = await jobNow(b.jobId);
    assert.equal(job.input.uploadExpiresAt, b.expiresAt);
    // The checksum is part of the request: the same id with another checksum is a conflict.
    const conflict = await api(cfg, token, 'POST', '/v1/uploads', { ...req, md5Hash: '1B2M2Y8AsgTpgAmY7PhCfg==' });
    assert.equal(conflict.status, 409);
  });

  it('answers a 500 without any path when a READY document\'s text object is gone', async () => {
    const { upload, job } = await uploadAndWait(cfg, token, 'gone.pdf', await fixture('pdf/minimal-document.pdf'), 'application/pdf');
    assert.equal(job.status, 'COMPLETED');
    const doc = await getDocument(cfg, upload.documentId);
    assert.ok(doc.text);
    await storage().bucket(doc.text.bucket).file(doc.text.object).delete();
    const res = await api(cfg, token, 'GET', `/v1/documents/${upload.documentId}/text`);
    assert.equal(res.status, 500);
    assert.equal(code(res.json), 'TEXT_UNAVAILABLE');
    assert.deepEqual(internalsIn(res.text), []);
    assert.doesNotMatch(res.text, new RegExp(`${cfg.bucket}|derived/`));
  });
});

describe('security: an upload must be what was signed', () => {
  it('fails a signed PUT with Content-Encoding: gzip once, permanently, at ingest', async () => {
    const body = gzipSync(await fixture('pdf/minimal-document.pdf'));
    const upload = await createUpload(cfg, token, { fileName: 'zipped.pdf', contentType: 'application/pdf', size: body.length });
    const put = await fetch(upload.uploadUrl, { method: 'PUT', headers: { ...upload.headers, 'content-encoding': 'gzip' }, body });
    if (put.status !== 200) {
      // A store that refuses it is fine too; then nothing may have been created.
      const [exists] = await storage().bucket(upload.bucket).file(upload.object).exists();
      assert.equal(exists, false);
      return;
    }
    const { job } = await waitForJob(cfg, upload.jobId);
    assert.equal(job.status, 'FAILED');
    assert.equal(job.error?.code, 'CONTENT_ENCODING_NOT_SUPPORTED');
    assert.equal(job.error?.retryable, false);
    assert.equal(job.stage, 'ingest');
    assert.equal(job.attempts, 0, 'never retried');
  });

  it('binds declared checksums into the URL: other bytes of the same size are refused by the store', async () => {
    const body = await fixture('pdf/minimal-document.pdf');
    const upload = await createUpload(cfg, token, { fileName: 'summed.pdf', contentType: 'application/pdf', size: body.length, md5Hash: md5(body) });
    assert.equal(upload.headers['content-md5'], md5(body));
    const other = Buffer.from(body);
    other[other.length - 10] = (other[other.length - 10] ?? 0) ^ 0xff;
    const bad = await putSigned(upload, other);
    assert.equal(bad.status, 400);
    assert.match(await bad.text(), /BadDigest|InvalidDigest/);
    const good = await putSigned(upload, body);
    assert.equal(good.status, 200);
    const { job } = await waitForJob(cfg, upload.jobId);
    assert.equal(job.status, 'COMPLETED', JSON.stringify(job.error));
  });

  it('fails the job when a notification reports other checksums than declared (whatever the store did)', async () => {
    const body = await fixture('pdf/minimal-document.pdf');
    const upload = await createUpload(cfg, token, { fileName: 'forged.pdf', contentType: 'application/pdf', size: body.length, md5Hash: md5(body) });
    // A store that ignored the signed checksum: the object holds other bytes of the same size.
    const other = Buffer.alloc(body.length, 0x25);
    const file = storage().bucket(upload.bucket).file(`not-uploads/${upload.documentId}.pdf`);
    await file.save(other, { resumable: false, contentType: 'application/pdf' });
    const [meta] = await file.getMetadata();
    const forged = finalizeEnvelope({ ...(meta as unknown as GcsObject), name: upload.object });
    assert.equal(await push('ingest', 'object-events', forged), 204);
    const job = await jobNow(upload.jobId);
    assert.equal(job.status, 'FAILED');
    assert.equal(job.error?.code, 'CHECKSUM_MISMATCH');
  });

  it('does not trust uploader-set metadata: a "derived" marker neither passes the store nor makes ingest skip an upload', async () => {
    const body = await fixture('pdf/minimal-document.pdf');
    const upload = await createUpload(cfg, token, { fileName: 'marked.pdf', contentType: 'application/pdf', size: body.length });
    // The store: an unsigned x-goog-meta-* header is refused, as Cloud Storage refuses it.
    const marked = await fetch(upload.uploadUrl, { method: 'PUT', headers: { ...upload.headers, 'x-goog-meta-scriptorium-derived': 'true' }, body });
    assert.ok(marked.status === 400 || marked.status === 403, String(marked.status));
    const [exists] = await storage().bucket(upload.bucket).file(upload.object).exists();
    assert.equal(exists, false);
    // The pipeline, whatever the store does: the same object written with the marker (as a permissive
    // store would have kept it) is processed, not ignored.
    await storage().bucket(upload.bucket).file(upload.object).save(body, { resumable: false, contentType: 'application/pdf', metadata: { metadata: { 'scriptorium-derived': 'true' } } });
    const { job } = await waitForJob(cfg, upload.jobId);
    assert.equal(job.status, 'COMPLETED', JSON.stringify(job.error));
  });

  it('refuses an unsigned x-goog-copy-source: another document\'s upload is never copied in', async () => {
    const victimBody = await fixture('pdf/minimal-document.pdf');
    const victim = await uploadAndWait(cfg, token, 'victim.pdf', victimBody, 'application/pdf');
    const upload = await createUpload(cfg, token, { fileName: 'thief.pdf', contentType: 'application/pdf', size: victimBody.length });
    // A body of the signed size, so the length checks pass and only the copy header is at stake.
    const res = await fetch(upload.uploadUrl, { method: 'PUT', headers: { ...upload.headers, 'x-goog-copy-source': `/${victim.upload.bucket}/${victim.upload.object}` }, body: Buffer.alloc(victimBody.length, 0x20) });
    assert.ok(res.status === 400 || res.status === 403, String(res.status));
    const [exists] = await storage().bucket(upload.bucket).file(upload.object).exists();
    assert.equal(exists, false);
    assert.equal((await jobNow(upload.jobId)).status, 'PENDING');
  });
});

describe('security: stages check messages against the records', () => {
  it('ignores a notification for the document\'s object name in a foreign bucket; the real upload still goes through', async () => {
    const body = await fixture('pdf/minimal-document.pdf');
    const upload = await createUpload(cfg, token, { fileName: 'bucketed.pdf', contentType: 'application/pdf', size: body.length });
    const foreign: GcsObject = { bucket: 'someone-elses-bucket', name: upload.object, generation: '1700000000000000', size: String(body.length), contentType: 'application/pdf', md5Hash: md5(body) };
    const envelope = finalizeEnvelope(foreign);
    assert.equal(await push('ingest', 'object-events', envelope), 204);
    assert.deepEqual(await outcomeOf(cfg, 'ingest', envelope.message.messageId), { action: 'ignored', reason: 'not the document\'s bucket' });
    const doc = await getDocument(cfg, upload.documentId);
    assert.equal(doc.source.bucket, upload.bucket);
    assert.equal(doc.source.generation, null);
    assert.equal((await putSigned(upload, body)).status, 200);
    const { job } = await waitForJob(cfg, upload.jobId);
    assert.equal(job.status, 'COMPLETED', JSON.stringify(job.error));
  });

  it('ignores notifications whose attributes disagree with their object', async () => {
    const upload = await createUpload(cfg, token, { fileName: 'attrs.pdf', contentType: 'application/pdf', size: 10 });
    const object: GcsObject = { bucket: upload.bucket, name: upload.object, generation: '1', size: '10', contentType: 'application/pdf' };
    const envelope = pushEnvelope('object-events', object, { eventType: 'OBJECT_FINALIZE', bucketId: 'other-bucket', objectId: upload.object, objectGeneration: '1', payloadFormat: 'JSON_API_V1' });
    assert.equal(await push('ingest', 'object-events', envelope), 204);
    assert.equal((await outcomeOf(cfg, 'ingest', envelope.message.messageId))?.action, 'ignored');
    assert.equal((await jobNow(upload.jobId)).status, 'PENDING');
  });

  it('ignores an OCR request naming a finished job with another project\'s document', async () => {
    const mine = await uploadAndWait(cfg, token, 'mine.pdf', await fixture('pdf/minimal-document.pdf'), 'application/pdf');
    const theirs = await createUpload(cfg, token, { fileName: 'theirs.pdf', contentType: 'application/pdf', size: 10 });
    const before = await testFirestore(cfg).doc(`documents/${theirs.documentId}`).get();
    const forged = pushEnvelope('ocr-requests', {
      type: 'scriptorium.document.ocr.requested.v1',
      jobId: mine.upload.jobId,
      projectId: 'another-project',
      documentId: theirs.documentId,
      source: { bucket: mine.document.source.bucket, object: mine.document.source.object, generation: mine.document.source.generation ?? '' },
      contentType: 'application/pdf',
      requestedAt: new Date().toISOString(),
    });
    assert.equal(await push('ocr', 'ocr-requests', forged), 204);
    assert.equal((await outcomeOf(cfg, 'ocr', forged.message.messageId))?.action, 'skipped');
    const after = await testFirestore(cfg).doc(`documents/${theirs.documentId}`).get();
    assert.ok(after.updateTime?.isEqual(before.updateTime!), 'the other document is untouched');
  });

  it('answers event functions\' hostile bodies with JSON, capped and uncompressed', async () => {
    const url = `${cfg.functions.ingest}${pushPath(cfg.gcpProjectId, 'object-events')}`;
    const bomb = gzipSync(Buffer.alloc(50 * 1024 * 1024));
    const gz = await rawRequest(url, { method: 'POST', headers: { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': String(bomb.length) }, body: bomb });
    assert.equal(gz.status, 415);
    const big = Buffer.alloc(2 * 1024 * 1024, 0x20);
    const large = await rawRequest(url, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': String(big.length) }, body: big }).catch(() => ({ status: 413, text: '{"error":{"code":"BODY_TOO_LARGE"}}', headers: {} }));
    assert.equal(large.status, 413);
    const malformed = await rawRequest(url, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': '3' }, body: '{x}' });
    assert.equal(malformed.status, 400);
    for (const res of [gz, large, malformed]) assert.deepEqual(internalsIn(res.text), []);
  });
});
