/**
 * V4/V2 signed-URL verification against URLs produced by the real `@google-cloud/storage` signer,
 * with the clock injected so expiry is tested without waiting.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Storage } from '@google-cloud/storage';
import { StorageApiError } from '../../emulators/storage/errors.js';
import { canonicalPath, encodeRfc3986, signedUrlVersion, parseQuery, trustedKeyMap, verifyV2, verifyV4, type SignedRequest } from '../../emulators/storage/signing.js';
import { generateServiceAccount } from '../../emulators/storage/testing.js';

const sa = generateServiceAccount('demo-test');
const trusted = trustedKeyMap([sa.trusted]);
const storage = new Storage({ apiEndpoint: 'http://127.0.0.1:9199', projectId: 'demo-test', credentials: sa.credentials });
const bucket = storage.bucket('bkt');

/** The request a client would send for `url` (Host header as sent on the wire: with the port). */
function requestFor(url: string, method: string, headers: Record<string, string> = {}): SignedRequest {
  const u = new URL(url);
  return {
    method,
    rawPath: u.pathname,
    rawQuery: u.search.slice(1),
    headers: new Map(Object.entries({ host: u.host, ...headers }).map(([k, v]) => [k.toLowerCase(), v])),
  };
}

function apiError(fn: () => unknown): StorageApiError {
  try {
    fn();
  } catch (e) {
    if (e instanceof StorageApiError) return e;
    throw e;
  }
  assert.fail('expected a StorageApiError');
}

describe('V4 signed URL verification', () => {
  it('accepts a URL signed by the Node client (host signed without the port, sent with it)', async () => {
    const [url] = await bucket.file('a/b c.txt').getSignedUrl({ version: 'v4', action: 'read', expires: Date.now() + 60_000 });
    const v = verifyV4(requestFor(url, 'GET'), trusted);
    assert.equal(v.clientEmail, sa.trusted.clientEmail);
    assert.deepEqual(v.signedHeaders, ['host']);
  });

  it('handles object names that need percent-encoding', async () => {
    for (const name of ['ü/ñ (1)+x~y*z.pdf', "quote'!.txt", 'a//b', 'spaces  and\ttab']) {
      const [url] = await bucket.file(name).getSignedUrl({ version: 'v4', action: 'write', contentType: 'text/plain', expires: Date.now() + 60_000 });
      assert.doesNotThrow(() => verifyV4(requestFor(url, 'PUT', { 'content-type': 'text/plain' }), trusted), name);
    }
  });

  it('checks every signed header value (content-type, extension headers), the method and the path', async () => {
    const ext = { 'x-goog-content-length-range': '0,10', 'x-goog-if-generation-match': '0' };
    const [url] = await bucket.file('x.bin').getSignedUrl({ version: 'v4', action: 'write', contentType: 'image/png', extensionHeaders: ext, expires: Date.now() + 60_000 });
    const ok = { 'content-type': 'image/png', ...ext };
    assert.doesNotThrow(() => verifyV4(requestFor(url, 'PUT', ok), trusted));
    // Header values are trimmed and inner whitespace runs collapsed before comparing.
    assert.doesNotThrow(() => verifyV4(requestFor(url, 'PUT', { ...ok, 'content-type': '  image/png ' }), trusted));
    for (const [what, req] of [
      ['content-type', requestFor(url, 'PUT', { ...ok, 'content-type': 'image/jpeg' })],
      ['missing extension header', requestFor(url, 'PUT', { 'content-type': 'image/png', 'x-goog-if-generation-match': '0' })],
      ['changed extension header', requestFor(url, 'PUT', { ...ok, 'x-goog-content-length-range': '0,1000000' })],
      ['method', requestFor(url, 'GET', ok)],
      ['path', { ...requestFor(url, 'PUT', ok), rawPath: '/bkt/y.bin' }],
      ['host', { ...requestFor(url, 'PUT', ok), headers: new Map([...requestFor(url, 'PUT', ok).headers, ['host', 'evil.test:9199']]) }],
      ['query', requestFor(url.replace('X-Goog-Expires=', 'X-Goog-Expires=1'), 'PUT', ok)],
    ] as const) {
      const e = apiError(() => verifyV4(req, trusted));
      assert.equal(e.status, 403, what);
      assert.equal(e.xmlCode, 'SignatureDoesNotMatch', what);
      assert.ok(e.extras.canonicalRequest && e.extras.stringToSign, what);
    }
  });

  it('refuses expired URLs (400 ExpiredToken) and URLs dated in the future (403)', async () => {
    const [url] = await bucket.file('t.txt').getSignedUrl({ version: 'v4', action: 'read', expires: Date.now() + 60_000 });
    const later = new Date(Date.now() + 61_000 + 1000);
    const e = apiError(() => verifyV4(requestFor(url, 'GET'), trusted, later));
    assert.equal(e.status, 400);
    assert.equal(e.xmlCode, 'ExpiredToken');
    assert.match(e.extras.details ?? '', /expired at/);
    const earlier = new Date(Date.now() - 3600_000);
    assert.equal(apiError(() => verifyV4(requestFor(url, 'GET'), trusted, earlier)).status, 403);
  });

  it('refuses malformed parameters: missing, X-Goog-Expires over 7 days, bad date, unknown algorithm', async () => {
    const [url] = await bucket.file('t.txt').getSignedUrl({ version: 'v4', action: 'read', expires: Date.now() + 60_000 });
    const cases = [
      url.replace(/&X-Goog-Signature=[0-9a-f]+/, ''),
      url.replace(/X-Goog-Expires=\d+/, 'X-Goog-Expires=604801'),
      url.replace(/X-Goog-Date=[0-9TZ]+/, 'X-Goog-Date=yesterday'),
      url.replace('GOOG4-RSA-SHA256', 'AWS4-HMAC-SHA256'),
    ];
    for (const c of cases) {
      const e = apiError(() => verifyV4(requestFor(c, 'GET'), trusted));
      assert.equal(e.status, 400, c);
      assert.equal(e.xmlCode, 'MalformedSecurityHeader');
    }
  });

  it('refuses signers it does not trust, saying so', async () => {
    const other = generateServiceAccount('demo-test', 'stranger');
    const s2 = new Storage({ apiEndpoint: 'http://127.0.0.1:9199', projectId: 'demo-test', credentials: other.credentials });
    const [url] = await s2.bucket('bkt').file('t.txt').getSignedUrl({ version: 'v4', action: 'read', expires: Date.now() + 60_000 });
    const e = apiError(() => verifyV4(requestFor(url, 'GET'), trusted));
    assert.equal(e.xmlCode, 'SignatureDoesNotMatch');
    assert.match(e.extras.details ?? '', /no trusted key for stranger@demo-test/);
  });

  it('verifies V2 signed URLs too', async () => {
    const [url] = await bucket.file('v2 file.txt').getSignedUrl({ version: 'v2', action: 'write', contentType: 'text/plain', expires: Date.now() + 60_000 });
    assert.equal(signedUrlVersion(parseQuery(new URL(url).search.slice(1))), 'v2');
    assert.doesNotThrow(() => verifyV2(requestFor(url, 'PUT', { 'content-type': 'text/plain' }), trusted));
    assert.equal(apiError(() => verifyV2(requestFor(url, 'PUT', { 'content-type': 'text/html' }), trusted)).status, 403);
    assert.equal(apiError(() => verifyV2(requestFor(url, 'PUT', { 'content-type': 'text/plain' }), trusted, new Date(Date.now() + 120_000))).xmlCode, 'ExpiredToken');
  });

  it('canonicalises paths and query components with RFC 3986 encoding', () => {
    assert.equal(encodeRfc3986("a b+c/d~e*f'(g)!"), 'a%20b%2Bc%2Fd~e%2Af%27%28g%29%21');
    assert.equal(canonicalPath('/bkt/a%20b/c+d/%C3%BC'), '/bkt/a%20b/c%2Bd/%C3%BC');
    assert.deepEqual(parseQuery('a=1&b=x%2Fy&c&d=sp+ace'), [
      ['a', '1'],
      ['b', 'x/y'],
      ['c', ''],
      ['d', 'sp ace'],
    ]);
    assert.equal(signedUrlVersion(parseQuery('generation=1')), undefined);
  });
});
