/**
 * V4/V2 signed-URL verification against URLs from shared/storage/v4-signer.ts (which signs the
 * host with its port, as the request carries it) and from the real `@google-cloud/storage` signer
 * (portless host: accepted only where that is the Host sent), with the clock injected so expiry is
 * tested without waiting.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Storage } from '@google-cloud/storage';
import { StorageApiError, xmlErrorBody } from '../../emulators/storage/errors.js';
import { canonicalPath, encodeRfc3986, signedUrlVersion, parseQuery, trustedKeyMap, verifyV2, verifyV4, type SignedRequest } from '../../emulators/storage/signing.js';
import { generateServiceAccount } from '../../emulators/storage/testing.js';
import { signV4Url, type SignV4Options } from '../../shared/storage/v4-signer.js';

const sa = generateServiceAccount('demo-test');
const trusted = trustedKeyMap([sa.trusted]);
const ENDPOINT = 'http://127.0.0.1:9199';
const storage = new Storage({ apiEndpoint: ENDPOINT, projectId: 'demo-test', credentials: sa.credentials });
const bucket = storage.bucket('bkt');

/** A V4 URL for `bkt/object` on ENDPOINT, signed with the port (as the emulator requires). */
const sign = (object: string, method: SignV4Options['method'], opts: Partial<SignV4Options> = {}): string =>
  signV4Url({ key: sa.signingKey, method, endpoint: ENDPOINT, bucket: 'bkt', object, expiresInSeconds: 60, ...opts }).url;

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

/** `req` with its Host header replaced. */
const withHost = (req: SignedRequest, host: string): SignedRequest => ({ ...req, headers: new Map([...req.headers, ['host', host]]) });

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
  it('accepts a URL signed with the host as sent (port included)', () => {
    const url = sign('a/b c.txt', 'GET');
    assert.match(url, /^http:\/\/127\.0\.0\.1:9199\/bkt\/a\/b%20c\.txt\?/);
    const v = verifyV4(requestFor(url, 'GET'), trusted);
    assert.equal(v.clientEmail, sa.trusted.clientEmail);
    assert.deepEqual(v.signedHeaders, ['host']);
  });

  it("refuses the Node client's portless signature on a non-default port; accepts it where Host carries no port or the default one", async () => {
    // @google-cloud/storage signs `new URL(endpoint).hostname`: `host:127.0.0.1` for a URL on :9199.
    const [url] = await bucket.file('a/b c.txt').getSignedUrl({ version: 'v4', action: 'read', expires: Date.now() + 60_000 });
    assert.ok(url.startsWith(`${ENDPOINT}/bkt/`), url);
    const e = apiError(() => verifyV4(requestFor(url, 'GET'), trusted));
    assert.equal(e.status, 403);
    assert.equal(e.xmlCode, 'SignatureDoesNotMatch');
    assert.match(e.extras.canonicalRequest ?? '', /\nhost:127\.0\.0\.1:9199\n/, 'the emulator shows the host it received');
    assert.doesNotThrow(() => verifyV4(withHost(requestFor(url, 'GET'), '127.0.0.1'), trusted));
    assert.doesNotThrow(() => verifyV4(withHost(requestFor(url, 'GET'), '127.0.0.1:80'), trusted));
    const overHttps = { ...withHost(requestFor(url, 'GET'), '127.0.0.1:80'), scheme: 'https' as const };
    assert.equal(apiError(() => verifyV4(overHttps, trusted)).xmlCode, 'SignatureDoesNotMatch', ":80 is not https's default");
    assert.doesNotThrow(() => verifyV4({ ...withHost(requestFor(url, 'GET'), '127.0.0.1:443'), scheme: 'https' }, trusted));
  });

  it('compares the signed host exactly: another port, another host, case-insensitively', () => {
    const url = sign('t.txt', 'GET');
    for (const host of ['127.0.0.1:19199', '127.0.0.1', '127.0.0.1:80', 'localhost:9199', 'evil.test:9199']) {
      const e = apiError(() => verifyV4(withHost(requestFor(url, 'GET'), host), trusted));
      assert.equal(e.status, 403, host);
      assert.equal(e.xmlCode, 'SignatureDoesNotMatch', host);
    }
    const named = signV4Url({ key: sa.signingKey, method: 'GET', endpoint: 'http://Storage.Local:9199', bucket: 'bkt', object: 't.txt', expiresInSeconds: 60 }).url;
    assert.doesNotThrow(() => verifyV4(withHost(requestFor(named, 'GET'), 'STORAGE.local:9199'), trusted));
    // A URL for the default port, used with the port spelled out (and the other way round).
    const portless = signV4Url({ key: sa.signingKey, method: 'GET', endpoint: 'http://127.0.0.1', bucket: 'bkt', object: 't.txt', expiresInSeconds: 60 }).url;
    assert.doesNotThrow(() => verifyV4(withHost(requestFor(portless, 'GET'), '127.0.0.1:80'), trusted));
    const explicit = signV4Url({ key: sa.signingKey, method: 'GET', endpoint: 'http://127.0.0.1:80', bucket: 'bkt', object: 't.txt', expiresInSeconds: 60 }).url;
    assert.doesNotThrow(() => verifyV4(withHost(requestFor(explicit, 'GET'), '127.0.0.1:80'), trusted));
  });

  it('handles object names that need percent-encoding', () => {
    for (const name of ['ü/ñ (1)+x~y*z.pdf', "quote'!.txt", 'a//b', 'spaces  and\ttab']) {
      const url = sign(name, 'PUT', { headers: { 'content-type': 'text/plain' } });
      assert.doesNotThrow(() => verifyV4(requestFor(url, 'PUT', { 'content-type': 'text/plain' }), trusted), name);
    }
  });

  it('checks every signed header value (content-type, extension headers), the method and the path', () => {
    const ext = { 'x-goog-content-length-range': '0,10', 'x-goog-if-generation-match': '0' };
    const ok = { 'content-type': 'image/png', ...ext };
    const url = sign('x.bin', 'PUT', { headers: ok });
    assert.doesNotThrow(() => verifyV4(requestFor(url, 'PUT', ok), trusted));
    // Header values are trimmed and inner whitespace runs collapsed before comparing.
    assert.doesNotThrow(() => verifyV4(requestFor(url, 'PUT', { ...ok, 'content-type': '  image/png ' }), trusted));
    for (const [what, req] of [
      ['content-type', requestFor(url, 'PUT', { ...ok, 'content-type': 'image/jpeg' })],
      ['changed extension header', requestFor(url, 'PUT', { ...ok, 'x-goog-content-length-range': '0,1000000' })],
      ['method', requestFor(url, 'GET', ok)],
      ['path', { ...requestFor(url, 'PUT', ok), rawPath: '/bkt/y.bin' }],
      ['host', withHost(requestFor(url, 'PUT', ok), 'evil.test:9199')],
      ['query', requestFor(url.replace('X-Goog-Expires=', 'X-Goog-Expires=1'), 'PUT', ok)],
    ] as const) {
      const e = apiError(() => verifyV4(req, trusted));
      assert.equal(e.status, 403, what);
      assert.equal(e.xmlCode, 'SignatureDoesNotMatch', what);
      assert.ok(e.extras.canonicalRequest && e.extras.stringToSign, what);
    }
  });

  it('refuses a signed header the request does not carry (400 MalformedSecurityHeader, as GCS words it)', () => {
    const ok = { 'content-type': 'image/png', 'x-goog-content-length-range': '0,10', 'x-goog-if-generation-match': '0', 'content-md5': 'ODg4ODg4ODg4ODg4ODg4OA==' };
    const url = sign('x.bin', 'PUT', { headers: ok });
    for (const dropped of Object.keys(ok)) {
      const headers: Record<string, string> = { ...ok };
      delete headers[dropped];
      const e = apiError(() => verifyV4(requestFor(url, 'PUT', headers), trusted));
      assert.equal(e.status, 400, dropped);
      assert.equal(e.xmlCode, 'MalformedSecurityHeader', dropped);
      assert.equal(e.extras.parameterName, dropped);
      assert.equal(
        xmlErrorBody(e),
        `<?xml version='1.0' encoding='UTF-8'?><Error><Code>MalformedSecurityHeader</Code><Message>Invalid argument.</Message><Details>Your request has a malformed header. Header was included in signedheaders, but not in the request.</Details><ParameterName>${dropped}</ParameterName></Error>`,
      );
    }
  });

  it('refuses x-goog-*, content-type and content-md5 headers that are not signed (400 MalformedSecurityHeader)', () => {
    const signedPut = { 'content-type': 'application/pdf', 'x-goog-content-length-range': '9,9' };
    const put = sign('doc.pdf', 'PUT', { headers: signedPut });
    const get = sign('doc.pdf', 'GET');
    const del = sign('doc.pdf', 'DELETE');
    const start = sign('doc.pdf', 'POST', { headers: { 'x-goog-resumable': 'start' } });
    for (const [what, req, header] of [
      ['copy source on a PUT', requestFor(put, 'PUT', { ...signedPut, 'x-goog-copy-source': '/bkt/secret.pdf' }), 'x-goog-copy-source'],
      ['custom metadata', requestFor(put, 'PUT', { ...signedPut, 'x-goog-meta-scriptorium-derived': 'true' }), 'x-goog-meta-scriptorium-derived'],
      ['precondition', requestFor(put, 'PUT', { ...signedPut, 'x-goog-if-generation-match': '0' }), 'x-goog-if-generation-match'],
      ['md5 on a PUT', requestFor(put, 'PUT', { ...signedPut, 'content-md5': 'ODg4ODg4ODg4ODg4ODg4OA==' }), 'content-md5'],
      ['content-type on a GET', requestFor(get, 'GET', { 'content-type': 'text/plain' }), 'content-type'],
      ['x-goog header on a GET', requestFor(get, 'GET', { 'X-Goog-Foo': 'bar' }), 'x-goog-foo'],
      ['x-goog header on a DELETE', requestFor(del, 'DELETE', { 'x-goog-if-generation-match': '1' }), 'x-goog-if-generation-match'],
      ['length range on a resumable start', requestFor(start, 'POST', { 'x-goog-resumable': 'start', 'x-goog-content-length-range': '0,1' }), 'x-goog-content-length-range'],
    ] as const) {
      const e = apiError(() => verifyV4(req, trusted));
      assert.equal(e.status, 400, what);
      assert.equal(e.xmlCode, 'MalformedSecurityHeader', what);
      assert.equal(e.extras.parameterName, header, what);
      assert.match(e.extras.details ?? '', /not in signedheaders/, what);
    }
    // Headers outside those families are not the signer's business (the client sends its own).
    assert.doesNotThrow(() => verifyV4(requestFor(get, 'GET', { 'user-agent': 'x', accept: '*/*', range: 'bytes=0-1', 'accept-encoding': 'gzip' }), trusted));
  });

  it('refuses expired URLs (400 ExpiredToken) and URLs dated in the future (403)', () => {
    const url = sign('t.txt', 'GET');
    const later = new Date(Date.now() + 61_000 + 1000);
    const e = apiError(() => verifyV4(requestFor(url, 'GET'), trusted, later));
    assert.equal(e.status, 400);
    assert.equal(e.xmlCode, 'ExpiredToken');
    assert.match(e.extras.details ?? '', /expired at/);
    const earlier = new Date(Date.now() - 3600_000);
    assert.equal(apiError(() => verifyV4(requestFor(url, 'GET'), trusted, earlier)).status, 403);
  });

  it('refuses malformed parameters: missing, X-Goog-Expires over 7 days, bad date, unknown algorithm', () => {
    const url = sign('t.txt', 'GET');
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

  it('refuses signers it does not trust, saying so', () => {
    const other = generateServiceAccount('demo-test', 'stranger');
    const url = sign('t.txt', 'GET', { key: other.signingKey });
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
    // V2 signs every x-goog-* header the request carries (and Content-MD5): one the signer did not add fails.
    const extras: Record<string, string>[] = [{ 'x-goog-copy-source': '/bkt/other' }, { 'x-goog-meta-derived': 'true' }, { 'content-md5': 'ODg4ODg4ODg4ODg4ODg4OA==' }];
    for (const extra of extras) {
      assert.equal(apiError(() => verifyV2(requestFor(url, 'PUT', { 'content-type': 'text/plain', ...extra }), trusted)).xmlCode, 'SignatureDoesNotMatch', JSON.stringify(extra));
    }
    const ext = { 'x-goog-meta-owner': 'u1', 'x-goog-if-generation-match': '0' };
    const [withExt] = await bucket.file('v2 file.txt').getSignedUrl({ version: 'v2', action: 'write', contentType: 'text/plain', extensionHeaders: ext, expires: Date.now() + 60_000 });
    assert.doesNotThrow(() => verifyV2(requestFor(withExt, 'PUT', { 'content-type': 'text/plain', ...ext }), trusted));
    // The Host header is not part of a V2 signature: any port will do.
    assert.doesNotThrow(() => verifyV2(withHost(requestFor(withExt, 'PUT', { 'content-type': 'text/plain', ...ext }), '127.0.0.1:19199'), trusted));
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
