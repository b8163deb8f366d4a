/**
 * shared/storage/v4-signer.ts checked two ways: against the emulator's verifier (what the local
 * platform relies on), and against an independent reference, `@google-cloud/storage`'s signer, which
 * must produce the very same URL wherever its (portless) host is right: a default-port endpoint.
 * Also the gateway's signUpload on both of its paths (our signer with a key file, the library without).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Storage, type GetSignedUrlConfig } from '@google-cloud/storage';
import { trustedKeyMap, verifyV4, type SignedRequest } from '../../emulators/storage/signing.js';
import { generateServiceAccount } from '../../emulators/storage/testing.js';
import { createStorageGateway, storageEndpoint } from '../../shared/storage/index.js';
import { readSigningKey, signV4Url } from '../../shared/storage/v4-signer.js';

process.env.METADATA_SERVER_DETECTION ??= 'none';

const sa = generateServiceAccount('demo-test');
const trusted = trustedKeyMap([sa.trusted]);
/** A fixed signing time, whole seconds (the library truncates to seconds), in the future enough for the library's own checks. */
const NOW = new Date(Math.floor(Date.now() / 1000) * 1000 + 60_000);

/** The request an HTTP client sends for `url`: Host as on the wire (URL.host keeps a non-default port). */
function requestFor(url: string, method: string, headers: Record<string, string> = {}): SignedRequest {
  const u = new URL(url);
  return {
    method,
    rawPath: u.pathname,
    rawQuery: u.search.slice(1),
    headers: new Map(Object.entries({ host: u.host, ...headers }).map(([k, v]) => [k.toLowerCase(), v])),
  };
}

describe('V4 signer (shared/storage/v4-signer.ts)', () => {
  it('signs the host with its port, and the emulator verifies it (names, headers, query, methods)', () => {
    const cases: { method: 'GET' | 'HEAD' | 'PUT' | 'POST' | 'DELETE'; object?: string; headers?: Record<string, string>; queryParams?: Record<string, string> }[] = [
      { method: 'GET', object: 'a/b c.txt' },
      { method: 'HEAD', object: "ü/ñ (1)+x~y*z'!.pdf" },
      { method: 'PUT', object: 'a//b', headers: { 'content-type': 'application/pdf', 'x-goog-content-length-range': '9,9', 'x-goog-if-generation-match': '0', 'content-md5': 'ODg4ODg4ODg4ODg4ODg4OA==' } },
      { method: 'POST', object: 'up.bin', headers: { 'x-goog-resumable': 'start', 'content-type': 'application/octet-stream' } },
      { method: 'DELETE', object: 'gone.txt' },
      { method: 'GET', object: 'r.pdf', queryParams: { 'response-content-disposition': 'attachment; filename="r.pdf"', generation: '12' } },
      { method: 'GET' },
    ];
    for (const c of cases) {
      const signed = signV4Url({ key: sa.signingKey, endpoint: 'http://127.0.0.1:19199', bucket: 'bkt', expiresInSeconds: 900, now: NOW, ...c });
      assert.ok(signed.url.startsWith('http://127.0.0.1:19199/bkt'), signed.url);
      assert.match(signed.canonicalRequest, /\nhost:127\.0\.0\.1:19199\n/);
      assert.equal(signed.headers.host, '127.0.0.1:19199');
      const v = verifyV4(requestFor(signed.url, c.method, c.headers), trusted, NOW);
      assert.equal(v.clientEmail, sa.trusted.clientEmail);
      assert.deepEqual(v.signedHeaders, Object.keys(signed.headers).sort(), JSON.stringify(c));
    }
  });

  it('produces exactly the URL @google-cloud/storage produces for a default-port endpoint', async () => {
    const expires = NOW.getTime() + 900_000;
    const cases: { endpoint: string; object: string; cfg: GetSignedUrlConfig; headers: Record<string, string>; method: 'GET' | 'PUT' | 'POST' | 'DELETE'; queryParams?: Record<string, string> }[] = [
      { endpoint: 'https://storage.googleapis.com', object: 'a/b c.txt', method: 'GET', cfg: { version: 'v4', action: 'read', expires }, headers: {} },
      {
        endpoint: 'https://storage.googleapis.com',
        object: "uploads/p1/doc_1/rapport été (1)+'x'*.pdf",
        method: 'PUT',
        cfg: {
          version: 'v4',
          action: 'write',
          expires,
          contentType: 'application/pdf',
          contentMd5: 'ODg4ODg4ODg4ODg4ODg4OA==',
          extensionHeaders: { 'x-goog-content-length-range': '9,9', 'x-goog-hash': 'crc32c=AAAAAA==', 'x-goog-if-generation-match': '0' },
        },
        headers: { 'content-type': 'application/pdf', 'content-md5': 'ODg4ODg4ODg4ODg4ODg4OA==', 'x-goog-content-length-range': '9,9', 'x-goog-hash': 'crc32c=AAAAAA==', 'x-goog-if-generation-match': '0' },
      },
      { endpoint: 'https://storage.googleapis.com', object: 'r.bin', method: 'POST', cfg: { version: 'v4', action: 'resumable', expires, contentType: 'text/plain' }, headers: { 'content-type': 'text/plain', 'x-goog-resumable': 'start' } },
      {
        endpoint: 'http://127.0.0.1',
        object: 'd/r.pdf',
        method: 'GET',
        cfg: { version: 'v4', action: 'read', expires, promptSaveAs: 'r.pdf' },
        headers: {},
        queryParams: { 'response-content-disposition': 'attachment; filename="r.pdf"' },
      },
      { endpoint: 'http://127.0.0.1', object: 'x', method: 'DELETE', cfg: { version: 'v4', action: 'delete', expires }, headers: {} },
    ];
    for (const c of cases) {
      const lib = new Storage({ apiEndpoint: c.endpoint, projectId: 'demo-test', credentials: sa.credentials });
      const [reference] = await lib.bucket('bkt').file(c.object).getSignedUrl({ ...c.cfg, accessibleAt: NOW });
      const mine = signV4Url({
        key: sa.signingKey,
        method: c.method,
        endpoint: c.endpoint,
        bucket: 'bkt',
        object: c.object,
        headers: c.headers,
        expiresInSeconds: 900,
        now: NOW,
        ...(c.queryParams ? { queryParams: c.queryParams } : {}),
      });
      assert.equal(mine.url, reference, `${c.method} ${c.endpoint} ${c.object}`);
    }
  });

  it('differs from the library on a non-default port only in the signed host (with vs without the port)', async () => {
    const lib = new Storage({ apiEndpoint: 'http://127.0.0.1:9199', projectId: 'demo-test', credentials: sa.credentials });
    const [reference] = await lib.bucket('bkt').file('t.txt').getSignedUrl({ version: 'v4', action: 'read', expires: NOW.getTime() + 900_000, accessibleAt: NOW });
    const mine = signV4Url({ key: sa.signingKey, method: 'GET', endpoint: 'http://127.0.0.1:9199', bucket: 'bkt', object: 't.txt', expiresInSeconds: 900, now: NOW });
    const strip = (u: string): string => u.replace(/&X-Goog-Signature=[0-9a-f]+$/, '');
    assert.equal(strip(mine.url), strip(reference), 'same URL apart from the signature');
    assert.notEqual(mine.url, reference);
    // The library's signature is over `host:127.0.0.1`: it verifies only for a request whose Host has no port.
    assert.doesNotThrow(() => verifyV4({ ...requestFor(reference, 'GET'), headers: new Map([['host', '127.0.0.1']]) }, trusted, NOW));
    assert.doesNotThrow(() => verifyV4(requestFor(mine.url, 'GET'), trusted, NOW));
  });

  it('refuses expiries GCS refuses, and a host header given by hand', () => {
    const base = { key: sa.signingKey, method: 'GET' as const, endpoint: 'http://127.0.0.1:1', bucket: 'b', object: 'o', now: NOW };
    for (const expiresInSeconds of [0, 604_801, 1.5]) assert.throws(() => signV4Url({ ...base, expiresInSeconds }), /expiresInSeconds/);
    assert.doesNotThrow(() => signV4Url({ ...base, expiresInSeconds: 604_800 }));
    assert.throws(() => signV4Url({ ...base, expiresInSeconds: 60, headers: { Host: 'evil.test' } }), /host/);
  });
});

describe('StorageGateway.signUpload', () => {
  let dir: string;
  let keyFile: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'signer-'));
    keyFile = join(dir, 'sa.json');
    await writeFile(keyFile, JSON.stringify(sa.credentials));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const args = { bucket: 'demo-documents', object: 'uploads/p/doc_1/r.pdf', contentType: 'application/pdf', size: 9, ttlSeconds: 900, now: NOW };

  it('with a key file: signs for the emulator host:port, with every returned header signed', async () => {
    const gw = createStorageGateway({ projectId: 'demo-test', signingKeyFile: keyFile, storageEmulatorHost: 'http://127.0.0.1:19199' });
    const s = await gw.signUpload({ ...args, md5Hash: 'ODg4ODg4ODg4ODg4ODg4OA==', crc32c: 'AAAAAA==' });
    assert.ok(s.url.startsWith('http://127.0.0.1:19199/demo-documents/uploads/p/doc_1/r.pdf?'), s.url);
    assert.deepEqual(s.headers, {
      'content-type': 'application/pdf',
      'content-md5': 'ODg4ODg4ODg4ODg4ODg4OA==',
      'x-goog-content-length-range': '9,9',
      'x-goog-if-generation-match': '0',
      'x-goog-hash': 'crc32c=AAAAAA==',
    });
    assert.equal(s.expiresAt.getTime(), NOW.getTime() + 900_000);
    const v = verifyV4(requestFor(s.url, 'PUT', s.headers), trusted, NOW);
    assert.deepEqual(v.signedHeaders, ['content-md5', 'content-type', 'host', 'x-goog-content-length-range', 'x-goog-hash', 'x-goog-if-generation-match']);
    // Without checksums: the three upload constraints only.
    const plain = await gw.signUpload(args);
    assert.deepEqual(Object.keys(plain.headers).sort(), ['content-type', 'x-goog-content-length-range', 'x-goog-if-generation-match']);
    assert.match(plain.url, /X-Goog-SignedHeaders=content-type%3Bhost%3Bx-goog-content-length-range%3Bx-goog-if-generation-match&/);
  });

  it('without a key file (production): the library signs the same headers for storage.googleapis.com', async () => {
    // ADC from a key file signs locally, so the production branch runs offline; it is the branch
    // that IAM signBlob takes in Cloud Run, with the same signed content.
    const saved = { adc: process.env.GOOGLE_APPLICATION_CREDENTIALS, emu: process.env.STORAGE_EMULATOR_HOST };
    process.env.GOOGLE_APPLICATION_CREDENTIALS = keyFile;
    delete process.env.STORAGE_EMULATOR_HOST;
    try {
      const gw = createStorageGateway({ projectId: 'demo-test' });
      const s = await gw.signUpload({ ...args, md5Hash: 'ODg4ODg4ODg4ODg4ODg4OA==', crc32c: 'AAAAAA==' });
      const ours = signV4Url({ key: readSigningKey(keyFile), method: 'PUT', endpoint: 'https://storage.googleapis.com', bucket: args.bucket, object: args.object, headers: s.headers, expiresInSeconds: 900, now: NOW });
      assert.equal(s.url, ours.url);
    } finally {
      if (saved.adc === undefined) delete process.env.GOOGLE_APPLICATION_CREDENTIALS;
      else process.env.GOOGLE_APPLICATION_CREDENTIALS = saved.adc;
      if (saved.emu !== undefined) process.env.STORAGE_EMULATOR_HOST = saved.emu;
    }
  });

  it('derives the endpoint from STORAGE_EMULATOR_HOST the way the client library does', () => {
    assert.equal(storageEndpoint('http://127.0.0.1:19199'), 'http://127.0.0.1:19199');
    assert.equal(storageEndpoint('http://127.0.0.1:19199/'), 'http://127.0.0.1:19199');
    assert.equal(storageEndpoint('localhost:9199'), 'https://localhost:9199');
    assert.equal(storageEndpoint(''), 'https://storage.googleapis.com');
  });
});
