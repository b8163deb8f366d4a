/**
 * Regression tests for two holes security probing found in the storage emulator's V4 signed-URL
 * checks, over real HTTP: headers that change what a request does (x-goog-*, content-type,
 * content-md5) were accepted without being signed, and the signed host was compared without its
 * port. Also the signed checksums of StorageGateway.signUpload (400 BadDigest, nothing stored).
 * A stand-in Pub/Sub endpoint records what the emulator publishes, so "no notification" is checked
 * without the Pub/Sub emulator.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CRC32C, Storage, type Bucket } from '@google-cloud/storage';
import { startStorageEmulator, type StorageEmulator } from '../../emulators/storage/server.js';
import { generateServiceAccount } from '../../emulators/storage/testing.js';
import { createStorageGateway } from '../../shared/storage/index.js';
import { signV4Url, type SignV4Options } from '../../shared/storage/v4-signer.js';

process.env.METADATA_SERVER_DETECTION ??= 'none';

const md5 = (b: Buffer | string): string => createHash('md5').update(b).digest('base64');
const crc = (b: Buffer | string): string => {
  const c = new CRC32C();
  c.update(Buffer.from(b));
  return c.toString();
};
const code = (xml: string): string | undefined => /<Code>([^<]*)<\/Code>/.exec(xml)?.[1];
const parameterName = (xml: string): string | undefined => /<ParameterName>([^<]*)<\/ParameterName>/.exec(xml)?.[1];

/** A Pub/Sub emulator stand-in: every topic exists, every publish is recorded. */
async function fakePubsub(): Promise<{ host: string; published: string[]; close: () => Promise<void> }> {
  const published: string[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method === 'POST' && req.url?.endsWith(':publish')) {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { messages: { attributes: { objectId: string; eventType: string } }[] };
        for (const m of body.messages) published.push(`${m.attributes.eventType} ${m.attributes.objectId}`);
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ messageIds: body.messages.map((_, i) => String(published.length + i)) }));
      } else {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { host: `127.0.0.1:${port}`, published, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** One request with full control of the Host header (fetch derives it from the URL). */
function raw(url: string, opts: { method: string; headers?: Record<string, string>; body?: string }): Promise<{ status: number; body: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path: u.pathname + u.search, method: opts.method, headers: opts.headers ?? {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

describe('storage emulator: what a V4 signature covers (regressions)', () => {
  const sa = generateServiceAccount('demo-test');
  let pubsub: Awaited<ReturnType<typeof fakePubsub>>;
  let emu: StorageEmulator;
  let bucket: Bucket;
  let dir: string;
  let keyFile: string;
  const errors: Record<string, unknown>[] = [];

  /** A V4 URL on the emulator, signed for its host:port. */
  const sign = (name: string, method: SignV4Options['method'], opts: Partial<SignV4Options> = {}): string =>
    signV4Url({ key: sa.signingKey, method, endpoint: emu.url, bucket: 'sig', object: name, expiresInSeconds: 600, ...opts }).url;
  /** What signUpload signs for a 9-byte PDF: type, exact length, create-only. */
  const pdfHeaders = { 'content-type': 'application/pdf', 'x-goog-content-length-range': '9,9', 'x-goog-if-generation-match': '0' };
  const PDF = '%PDF-1.7\n';
  const exists = async (name: string): Promise<boolean> => (await bucket.file(name).exists())[0];

  before(async () => {
    pubsub = await fakePubsub();
    emu = await startStorageEmulator({
      port: 0,
      pubsubEmulatorHost: pubsub.host,
      trustedServiceAccounts: [sa.trusted],
      log: (e) => {
        if (e.severity === 'ERROR') errors.push(e);
      },
    });
    const storage = new Storage({ apiEndpoint: emu.url, projectId: 'demo-test', credentials: sa.credentials });
    [bucket] = await storage.createBucket('sig');
    await bucket.createNotification('projects/demo-test/topics/object-events', { payloadFormat: 'JSON_API_V1' });
    await bucket.file('secret/other.pdf').save('%PDF-1.7 someone else', { resumable: false, contentType: 'application/pdf' });
    dir = await mkdtemp(join(tmpdir(), 'storage-signing-'));
    keyFile = join(dir, 'sa.json');
    await writeFile(keyFile, JSON.stringify(sa.credentials));
  });
  after(async () => {
    await emu?.close();
    await pubsub?.close();
    await rm(dir, { recursive: true, force: true });
    assert.deepEqual(errors, []);
  });

  it('unsigned x-goog-copy-source on a signed PUT: refused, nothing written, no notification', async () => {
    const url = sign('uploads/a.pdf', 'PUT', { headers: pdfHeaders });
    const before = pubsub.published.length;
    const res = await fetch(url, { method: 'PUT', headers: { ...pdfHeaders, 'x-goog-copy-source': '/sig/secret/other.pdf' }, body: PDF });
    const xml = await res.text();
    assert.equal(res.status, 400, xml);
    assert.equal(code(xml), 'MalformedSecurityHeader');
    assert.equal(parameterName(xml), 'x-goog-copy-source');
    assert.equal(await exists('uploads/a.pdf'), false);
    assert.equal(pubsub.published.length, before, pubsub.published.join('\n'));
    // The URL itself is intact: the same PUT without the extra header uploads the 9 bytes.
    const ok = await fetch(url, { method: 'PUT', headers: pdfHeaders, body: PDF });
    assert.equal(ok.status, 200, await ok.text());
    assert.equal((await bucket.file('uploads/a.pdf').download())[0].toString(), PDF);
    assert.deepEqual(pubsub.published.slice(before), ['OBJECT_FINALIZE uploads/a.pdf']);
  });

  it('a copy the signer did sign (x-goog-copy-source in SignedHeaders) still works', async () => {
    const headers = { 'x-goog-copy-source': '/sig/secret/other.pdf' };
    const res = await fetch(sign('copies/other.pdf', 'PUT', { headers }), { method: 'PUT', headers });
    assert.equal(res.status, 200, await res.text());
    assert.equal((await bucket.file('copies/other.pdf').download())[0].toString(), '%PDF-1.7 someone else');
  });

  it('unsigned x-goog-meta-*: refused, no custom metadata set', async () => {
    const url = sign('uploads/m.pdf', 'PUT', { headers: pdfHeaders });
    const res = await fetch(url, { method: 'PUT', headers: { ...pdfHeaders, 'x-goog-meta-scriptorium-derived': 'true' }, body: PDF });
    const xml = await res.text();
    assert.equal(res.status, 400, xml);
    assert.equal(parameterName(xml), 'x-goog-meta-scriptorium-derived');
    assert.equal(await exists('uploads/m.pdf'), false);
  });

  it('unsigned x-goog-if-generation-match / x-goog-content-length-range / content-md5: refused', async () => {
    // Signed for the content type only: the uploader may not add constraints the signer did not choose.
    const url = sign('uploads/c.pdf', 'PUT', { headers: { 'content-type': 'application/pdf' } });
    const extras: Record<string, string>[] = [{ 'x-goog-if-generation-match': '0' }, { 'x-goog-content-length-range': '0,100' }, { 'content-md5': md5(PDF) }, { 'x-goog-hash': `crc32c=${crc(PDF)}` }];
    for (const extra of extras) {
      const res = await fetch(url, { method: 'PUT', headers: { 'content-type': 'application/pdf', ...extra }, body: PDF });
      const xml = await res.text();
      assert.equal(res.status, 400, xml);
      assert.equal(code(xml), 'MalformedSecurityHeader');
      assert.equal(parameterName(xml), Object.keys(extra)[0]);
    }
    assert.equal(await exists('uploads/c.pdf'), false);
  });

  it('a signed header missing from the request: 400 MalformedSecurityHeader, GCS wording', async () => {
    const url = sign('uploads/d.pdf', 'PUT', { headers: pdfHeaders });
    // Dropping the create-only precondition must not turn the URL into an overwrite-anything URL.
    const { 'x-goog-if-generation-match': _dropped, ...rest } = pdfHeaders;
    const res = await fetch(url, { method: 'PUT', headers: rest, body: PDF });
    const xml = await res.text();
    assert.equal(res.status, 400);
    assert.equal(
      xml,
      "<?xml version='1.0' encoding='UTF-8'?><Error><Code>MalformedSecurityHeader</Code><Message>Invalid argument.</Message><Details>Your request has a malformed header. Header was included in signedheaders, but not in the request.</Details><ParameterName>x-goog-if-generation-match</ParameterName></Error>",
    );
    assert.equal(await exists('uploads/d.pdf'), false);
  });

  it('GET, HEAD and DELETE refuse unsigned x-goog-* headers too', async () => {
    const get = await fetch(sign('secret/other.pdf', 'GET'), { headers: { 'x-goog-foo': 'bar' } });
    assert.equal(get.status, 400);
    assert.equal(parameterName(await get.text()), 'x-goog-foo');
    const head = await fetch(sign('secret/other.pdf', 'HEAD'), { method: 'HEAD', headers: { 'x-goog-if-generation-match': '1' } });
    assert.equal(head.status, 400);
    const del = await fetch(sign('secret/other.pdf', 'DELETE'), { method: 'DELETE', headers: { 'x-goog-if-generation-match': '1' } });
    assert.equal(del.status, 400);
    assert.equal(parameterName(await del.text()), 'x-goog-if-generation-match');
    assert.equal(await exists('secret/other.pdf'), true);
    const plain = await fetch(sign('secret/other.pdf', 'GET'));
    assert.equal(plain.status, 200);
    assert.equal(await plain.text(), '%PDF-1.7 someone else');
  });

  it('resumable start with an unsigned x-goog header: refused, no session; the signed start, then its session PUT, work', async () => {
    const start = sign('uploads/r.bin', 'POST', { headers: { 'x-goog-resumable': 'start', 'content-type': 'application/pdf' } });
    const extras: Record<string, string>[] = [{ 'x-goog-meta-scriptorium-derived': 'true' }, { 'x-goog-content-length-range': '0,1' }, { 'x-goog-if-generation-match': '0' }];
    for (const extra of extras) {
      const res = await fetch(start, { method: 'POST', headers: { 'x-goog-resumable': 'start', 'content-type': 'application/pdf', ...extra } });
      const xml = await res.text();
      assert.equal(res.status, 400, xml);
      assert.equal(parameterName(xml), Object.keys(extra)[0]);
      assert.equal(res.headers.get('location'), null);
    }
    // Unsigned x-goog-resumable itself (a URL signed for a plain POST) is refused as well.
    const unsignedStart = await fetch(sign('uploads/r.bin', 'POST'), { method: 'POST', headers: { 'x-goog-resumable': 'start' } });
    assert.equal(unsignedStart.status, 400);
    assert.equal(parameterName(await unsignedStart.text()), 'x-goog-resumable');

    const ok = await fetch(start, { method: 'POST', headers: { 'x-goog-resumable': 'start', 'content-type': 'application/pdf' } });
    assert.equal(ok.status, 201, await ok.text());
    const location = ok.headers.get('location') ?? '';
    // The session is authorised by its upload_id; metadata was fixed by the signed start.
    const put = await fetch(location, { method: 'PUT', headers: { 'x-goog-hash': `crc32c=${crc(PDF)}` }, body: PDF });
    assert.equal(put.status, 200, await put.text());
    const [m] = await bucket.file('uploads/r.bin').getMetadata();
    assert.equal(m.contentType, 'application/pdf');
    assert.equal(m.metadata, undefined);
  });

  it('a URL signed for 127.0.0.1:<another port> is refused on the emulator port (403)', async () => {
    const otherPort = emu.port === 65535 ? emu.port - 1 : emu.port + 1;
    const signedElsewhere = signV4Url({ key: sa.signingKey, method: 'GET', endpoint: `http://127.0.0.1:${otherPort}`, bucket: 'sig', object: 'secret/other.pdf', expiresInSeconds: 600 }).url;
    const here = new URL(signedElsewhere);
    here.port = String(emu.port);
    const res = await fetch(here);
    const xml = await res.text();
    assert.equal(res.status, 403);
    assert.equal(code(xml), 'SignatureDoesNotMatch');
    assert.match(xml, new RegExp(`host:127\\.0\\.0\\.1:${emu.port}\\n`));
  });

  it("the Node client's portless signature: refused with Host host:port, accepted with Host host or host:80", async () => {
    const lib = new Storage({ apiEndpoint: emu.url, projectId: 'demo-test', credentials: sa.credentials });
    const [url] = await lib.bucket('sig').file('secret/other.pdf').getSignedUrl({ version: 'v4', action: 'read', expires: Date.now() + 600_000 });
    const withPort = await raw(url, { method: 'GET', headers: { host: `127.0.0.1:${emu.port}` } });
    assert.equal(withPort.status, 403);
    assert.equal(code(withPort.body), 'SignatureDoesNotMatch');
    for (const host of ['127.0.0.1', '127.0.0.1:80']) {
      const res = await raw(url, { method: 'GET', headers: { host } });
      assert.equal(res.status, 200, `${host}: ${res.body}`);
      assert.equal(res.body, '%PDF-1.7 someone else');
    }
  });

  it('signUpload with checksums: the right bytes are stored once; wrong bytes get 400 BadDigest, nothing stored, no notification', async () => {
    const gw = createStorageGateway({ projectId: 'demo-test', signingKeyFile: keyFile, storageEmulatorHost: emu.url });
    const body = Buffer.from(PDF);
    const good = await gw.signUpload({ bucket: 'sig', object: 'uploads/gw.pdf', contentType: 'application/pdf', size: body.length, ttlSeconds: 600, md5Hash: md5(body), crc32c: crc(body) });
    assert.ok(good.url.startsWith(`${emu.url}/sig/uploads/gw.pdf?`), good.url);
    const put = await fetch(good.url, { method: 'PUT', headers: good.headers, body });
    assert.equal(put.status, 200, await put.text());
    const [m] = await bucket.file('uploads/gw.pdf').getMetadata();
    assert.equal(m.md5Hash, md5(body));
    assert.equal(m.crc32c, crc(body));
    const replay = await fetch(good.url, { method: 'PUT', headers: good.headers, body });
    assert.equal(replay.status, 412);
    await replay.arrayBuffer();

    const wrong = Buffer.from('%PDF-1.7X');
    for (const [object, sums] of [
      ['uploads/bad-md5.pdf', { md5Hash: md5(body) }],
      ['uploads/bad-crc.pdf', { crc32c: crc(body) }],
    ] as const) {
      const signed = await gw.signUpload({ bucket: 'sig', object, contentType: 'application/pdf', size: body.length, ttlSeconds: 600, ...sums });
      const before = pubsub.published.length;
      const res = await fetch(signed.url, { method: 'PUT', headers: signed.headers, body: wrong });
      const xml = await res.text();
      assert.equal(res.status, 400, xml);
      assert.equal(code(xml), 'BadDigest');
      assert.equal(await exists(object), false);
      assert.equal(pubsub.published.length, before);
      // The checksum is signed: leaving it out does not get the wrong bytes in either.
      const { 'content-md5': _m, 'x-goog-hash': _h, ...withoutSums } = signed.headers;
      const stripped = await fetch(signed.url, { method: 'PUT', headers: withoutSums, body: wrong });
      assert.equal(stripped.status, 400);
      assert.equal(code(await stripped.text()), 'MalformedSecurityHeader');
      assert.equal(await exists(object), false);
    }
  });
});
