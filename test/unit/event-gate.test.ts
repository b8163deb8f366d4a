/**
 * A Pub/Sub push function (ingest) behind the real functions-framework server: push bodies are read
 * by the request gate, capped, uncompressed and strictly parsed, and every refusal is our JSON error.
 * Requests here never get far enough to touch an emulator.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { gzipSync } from 'node:zlib';
import { internalsIn, rawRequest } from '../helpers/raw-http.js';

process.env.GOOGLE_CLOUD_PROJECT ??= 'demo-unit';
process.env.SCRIPTORIUM_BUCKET ??= 'demo-unit-documents';
process.env.METADATA_SERVER_DETECTION ??= 'none';

let server: Server;
let url: string;

before(async () => {
  await import('../../functions/ingest/index.js');
  const { getTestServer } = await import('@google-cloud/functions-framework/testing');
  server = getTestServer('ingest');
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/projects/p/topics/object-events`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const json = (text: string): { code?: string } => JSON.parse(text) as { code?: string };

describe('event gate', () => {
  it('refuses compressed push bodies before inflating them', async () => {
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024));
    const before = process.memoryUsage().rss;
    const res = await rawRequest(url, { method: 'POST', headers: { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': String(bomb.length) }, body: bomb });
    assert.equal(res.status, 415);
    assert.equal(json(res.text).code, 'UNSUPPORTED_CONTENT_ENCODING');
    assert.ok(process.memoryUsage().rss - before < 32 * 1024 * 1024);
  });

  it('refuses bodies over 1 MiB, non-JSON types and malformed JSON with JSON errors', async () => {
    const big = Buffer.alloc(1024 * 1024 + 1, 0x20);
    const cases: [Record<string, string>, Buffer | string, number, string][] = [
      [{ 'content-type': 'application/json' }, big, 413, 'BODY_TOO_LARGE'],
      [{ 'content-type': 'text/plain' }, '{}', 415, 'UNSUPPORTED_MEDIA_TYPE'],
      [{ 'content-type': 'application/json' }, '{"message": ', 400, 'MALFORMED_JSON'],
    ];
    for (const [headers, body, status, code] of cases) {
      const buf = typeof body === 'string' ? Buffer.from(body) : body;
      const res = await rawRequest(url, { method: 'POST', headers: { ...headers, 'content-length': String(buf.length) }, body: buf });
      assert.equal(res.status, status, res.text);
      assert.equal(json(res.text).code, code);
      assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
      assert.deepEqual(internalsIn(res.text), []);
    }
  });

  it('answers a GET and a POST without a body with JSON, not a framework crash', async () => {
    const get = await rawRequest(url);
    assert.equal(get.status, 405);
    assert.equal(json(get.text).code, 'METHOD_NOT_ALLOWED');
    const empty = await rawRequest(url, { method: 'POST', headers: { 'content-type': 'application/json' } });
    assert.equal(empty.status, 400);
    assert.equal(json(empty.text).code, 'MALFORMED_BODY');
  });

  it('still delivers a well-formed push: a malformed envelope is acknowledged (204)', async () => {
    const body = JSON.stringify({ subscription: 'projects/p/subscriptions/s', message: { data: Buffer.from('garbage').toString('base64'), messageId: '1' } });
    const res = await rawRequest(url, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) }, body });
    assert.equal(res.status, 204);
  });
});
