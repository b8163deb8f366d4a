/**
 * The api function behind the real functions-framework server (the app production runs), probed with
 * hostile bodies before any token is checked: nothing is read or inflated, and every answer is our
 * JSON error, never Express's HTML page. No emulator is needed: requests without a valid bearer token
 * never reach Firestore or the Auth emulator.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { gzipSync } from 'node:zlib';
import { internalsIn, rawRequest } from '../helpers/raw-http.js';

process.env.GOOGLE_CLOUD_PROJECT ??= 'demo-unit';
process.env.SCRIPTORIUM_BUCKET ??= 'demo-unit-documents';
// No auth emulator runs: a token would be checked against this closed port (never reached below).
process.env.FIREBASE_AUTH_EMULATOR_HOST ??= '127.0.0.1:9';
process.env.METADATA_SERVER_DETECTION ??= 'none';

let server: Server;
let base: string;

before(async () => {
  // The function module installs the gate when loaded, as in production (before the framework's app exists).
  await import('../../functions/api/index.js');
  const { getTestServer } = await import('@google-cloud/functions-framework/testing');
  server = getTestServer('api');
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

function errorCode(text: string): string | undefined {
  try {
    return (JSON.parse(text) as { code?: string }).code;
  } catch {
    return undefined;
  }
}

describe('api gate: unauthenticated bodies are never read', () => {
  // ~100 KB of gzip that inflates to 100 MB: before the gate, each one grew the process by ~100 MB.
  const bomb = gzipSync(Buffer.alloc(100 * 1024 * 1024), { level: 9 });

  it('answers 401 JSON to a gzip bomb without a token, closes the connection, and memory stays flat', async () => {
    global.gc?.();
    const before = process.memoryUsage().rss;
    for (let i = 0; i < 10; i++) {
      const res = await rawRequest(`${base}/v1/uploads`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': String(bomb.length) }, body: bomb });
      assert.equal(res.status, 401);
      assert.equal(errorCode(res.text), 'UNAUTHENTICATED');
      assert.equal(res.headers.connection, 'close');
      assert.deepEqual(internalsIn(res.text), []);
    }
    const grew = process.memoryUsage().rss - before;
    // The bodies alone would be 1 GB inflated; allow for allocator noise only.
    assert.ok(grew < 64 * 1024 * 1024, `rss grew by ${Math.round(grew / 1048576)} MiB`);
  });

  it('answers 401 to a large plain body of any type without reading it', async () => {
    for (const type of ['application/json', 'text/plain', 'application/octet-stream', 'application/x-www-form-urlencoded']) {
      const res = await rawRequest(`${base}/v1/uploads`, { method: 'POST', headers: { 'content-type': type, 'content-length': String(200_000) }, body: Buffer.alloc(200_000, 0x7b) });
      assert.equal(res.status, 401, type);
      assert.equal(errorCode(res.text), 'UNAUTHENTICATED', type);
    }
  });

  it('answers JSON for routes and methods nobody serves, with or without a body', async () => {
    for (const [method, path] of [['GET', '/nope'], ['POST', '/health'], ['PUT', '/'], ['DELETE', '/v2/x']] as const) {
      const res = await rawRequest(`${base}${path}`, { method, headers: { 'content-type': 'text/plain', 'content-length': '5' }, body: 'hello' });
      assert.ok(res.status >= 400 && res.status < 500, `${method} ${path}: ${res.status}`);
      assert.ok(errorCode(res.text), `${method} ${path}: ${res.text}`);
      assert.deepEqual(internalsIn(res.text), []);
    }
  });

  it('answers JSON, not Express HTML, to a path it cannot decode', async () => {
    const res = await rawRequest(base, { path: '/v1/jobs/%E0%A4%A', headers: {} });
    assert.ok(res.status >= 400 && res.status < 500, String(res.status));
    assert.ok(errorCode(res.text), res.text);
    assert.deepEqual(internalsIn(res.text), []);
  });

  it('keeps health public and JSON', async () => {
    const res = await rawRequest(`${base}/health`);
    assert.equal(res.status, 200);
    assert.equal((JSON.parse(res.text) as { status: string }).status, 'ok');
  });

  it('does not echo why a token was refused', async () => {
    const res = await rawRequest(`${base}/v1/jobs/job_0123456789abcdef0123`, { headers: { authorization: 'Bearer not.a.jwt' } });
    assert.equal(res.status, 401);
    assert.deepEqual(internalsIn(res.text), []);
    assert.doesNotMatch(res.text, /Decoding|Firebase|firebase-admin|argument-error/i);
  });

  it('answers 503 without the cause when the token cannot be checked (auth service unreachable)', async () => {
    // The Auth emulator accepts unsigned tokens; checking revocation then needs the (closed) emulator port.
    const now = Math.floor(Date.now() / 1000);
    const b64 = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url');
    const jwt = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ iss: `https://securetoken.google.com/${process.env.GOOGLE_CLOUD_PROJECT}`, aud: process.env.GOOGLE_CLOUD_PROJECT, sub: 'u1', user_id: 'u1', iat: now, auth_time: now, exp: now + 3600 })}.`;
    const res = await rawRequest(`${base}/v1/jobs/job_0123456789abcdef0123`, { headers: { authorization: `Bearer ${jwt}` } });
    assert.equal(res.status, 503, res.text);
    assert.equal(errorCode(res.text), 'AUTH_UNAVAILABLE');
    assert.deepEqual(internalsIn(res.text), []);
    assert.doesNotMatch(res.text, /ECONNREFUSED|127\.0\.0\.1|network/i);
  });
});
