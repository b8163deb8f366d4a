/**
 * The storage emulator driven by the real `@google-cloud/storage` client (both endpoint styles)
 * and by raw HTTP for what the client hides (upload protocols, signed URLs, CORS, XML errors).
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CRC32C, Storage, type Bucket } from '@google-cloud/storage';
import { startStorageEmulator, type StorageEmulator } from '../../emulators/storage/server.js';
import { generateServiceAccount } from '../../emulators/storage/testing.js';
import { signV4Url, type SignV4Options } from '../../shared/storage/v4-signer.js';

process.env.METADATA_SERVER_DETECTION ??= 'none';

const md5 = (b: Buffer): string => createHash('md5').update(b).digest('base64');
const crc = (b: Buffer): string => {
  const c = new CRC32C();
  c.update(b);
  return c.toString();
};
/** Deterministic pseudo-random bytes (not all-zero, so hashes and ranges are meaningful). */
const bytes = (n: number, seed = 1): Buffer => {
  const b = Buffer.alloc(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
};

/** HTTP status of a client rejection: ApiError carries it as `code`, GaxiosError (resumable uploads) as `status`. */
const status = (e: unknown): unknown => {
  if (typeof e !== 'object' || e === null) return undefined;
  const o = e as { code?: unknown; status?: unknown };
  return typeof o.code === 'number' ? o.code : o.status;
};

const sa = generateServiceAccount('demo-test');
const other = generateServiceAccount('demo-test', 'untrusted');

/** Both storage modes run the same suites: bytes in memory, or streamed to files under persistDir. */
const MODES = ['memory', 'persist'] as const;
async function startIn(mode: (typeof MODES)[number]): Promise<{ emu: StorageEmulator; stop: () => Promise<void> }> {
  const dir = mode === 'persist' ? await mkdtemp(join(tmpdir(), 'storage-emu-')) : undefined;
  const emu = await startStorageEmulator({ port: 0, trustedServiceAccounts: [sa.trusted], ...(dir ? { persistDir: dir } : {}) });
  return {
    emu,
    stop: async () => {
      await emu.close();
      if (dir) await rm(dir, { recursive: true, force: true });
    },
  };
}

for (const mode of MODES) describe(`storage emulator: JSON API with @google-cloud/storage (${mode})`, () => {
  let emu: StorageEmulator;
  let stop: () => Promise<void>;
  let storage: Storage;
  let bucket: Bucket;

  before(async () => {
    ({ emu, stop } = await startIn(mode));
    storage = new Storage({ apiEndpoint: emu.url, projectId: 'demo-test', credentials: sa.credentials });
    [bucket] = await storage.createBucket('json-api');
  });
  after(async () => {
    await stop();
  });

  it('answers the readiness probe', async () => {
    const res = await fetch(`${emu.url}/_health`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: 'ok' });
  });

  it('creates, gets, lists and patches buckets (cors)', async () => {
    const [meta] = await bucket.getMetadata();
    assert.equal(meta.name, 'json-api');
    assert.equal(meta.metageneration, '1');
    await assert.rejects(storage.createBucket('json-api'), (e) => status(e) === 409);
    const [buckets] = await storage.getBuckets();
    assert.ok(buckets.some((b) => b.name === 'json-api'));
    const cors = [{ origin: ['http://app.test'], method: ['PUT'], responseHeader: ['Content-Type'], maxAgeSeconds: 60 }];
    const [patched] = await bucket.setMetadata({ cors });
    assert.deepEqual(patched.cors, cors);
    assert.equal(patched.metageneration, '2');
    assert.equal((await storage.bucket('nope-missing').exists())[0], false);
  });

  it('file.save() (resumable, the default) stores bytes with correct md5Hash/crc32c/size', async () => {
    const data = bytes(300_000, 7);
    const file = bucket.file('uploads/resumable.bin');
    await file.save(data, { contentType: 'application/x-test', metadata: { metadata: { owner: 'alice' } } });
    const [m] = await file.getMetadata();
    assert.equal(m.md5Hash, md5(data));
    assert.equal(m.crc32c, crc(data));
    assert.equal(m.size, '300000');
    assert.equal(m.contentType, 'application/x-test');
    assert.deepEqual(m.metadata, { owner: 'alice' });
    assert.equal(m.metageneration, '1');
    assert.match(String(m.generation), /^\d{16}$/);
    assert.ok(m.timeCreated && m.updated && m.selfLink && m.mediaLink);
    const [down] = await file.download();
    assert.ok(down.equals(data));
  });

  it('multipart upload (resumable: false) and empty objects', async () => {
    const data = Buffer.from('multipart body\r\n--not-a-boundary--\r\n');
    const file = bucket.file('uploads/multi part.txt');
    await file.save(data, { resumable: false, contentType: 'text/plain' });
    const [m] = await file.getMetadata();
    assert.equal(m.md5Hash, md5(data));
    assert.equal(m.contentType, 'text/plain');
    assert.ok((await file.download())[0].equals(data));
    const empty = bucket.file('uploads/empty');
    await empty.save(Buffer.alloc(0), { resumable: false });
    assert.equal((await empty.getMetadata())[0].size, '0');
    assert.equal((await empty.download())[0].length, 0);
  });

  it('multi-chunk resumable upload (createWriteStream with chunkSize: 308 + Range between chunks)', async () => {
    const data = bytes(700 * 1024, 3);
    const file = bucket.file('uploads/chunked.bin');
    await new Promise<void>((resolve, reject) => {
      const ws = file.createWriteStream({ chunkSize: 256 * 1024, contentType: 'application/octet-stream' });
      ws.on('error', reject).on('finish', resolve);
      ws.end(data);
    });
    const [m] = await file.getMetadata();
    assert.equal(m.md5Hash, md5(data));
    assert.equal(m.crc32c, crc(data));
  });

  it('raw upload protocols: media, resumable chunks with 308/Range, status query and resend overlap', async () => {
    const media = await fetch(`${emu.url}/upload/storage/v1/b/json-api/o?uploadType=media&name=raw%2Fmedia.txt`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'media!',
    });
    assert.equal(media.status, 200);
    const mediaObj = (await media.json()) as Record<string, string>;
    assert.equal(mediaObj.name, 'raw/media.txt');
    assert.equal(mediaObj.md5Hash, md5(Buffer.from('media!')));
    assert.equal(mediaObj.size, '6');

    const data = bytes(300_000, 9);
    const init = await fetch(`${emu.url}/upload/storage/v1/b/json-api/o?uploadType=resumable&name=raw%2Fresumable.bin`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-upload-content-type': 'application/pdf' },
      body: JSON.stringify({ metadata: { k: 'v' } }),
    });
    assert.equal(init.status, 200);
    const location = init.headers.get('location');
    assert.ok(location);
    const put = (range: string, body?: Buffer): Promise<Response> => fetch(location, { method: 'PUT', headers: { 'content-range': range }, ...(body ? { body } : {}) });

    let r = await put('bytes */*');
    assert.equal(r.status, 308);
    assert.equal(r.headers.get('range'), null);
    r = await put('bytes 0-262143/*', data.subarray(0, 262144));
    assert.equal(r.status, 308);
    assert.equal(r.headers.get('range'), 'bytes=0-262143');
    r = await put('bytes */*');
    assert.equal(r.status, 308);
    assert.equal(r.headers.get('range'), 'bytes=0-262143');
    // Resending bytes the server already holds is harmless: they are skipped.
    r = await put('bytes 200000-299999/300000', data.subarray(200000));
    assert.equal(r.status, 200);
    const obj = (await r.json()) as Record<string, unknown>;
    assert.equal(obj.md5Hash, md5(data));
    assert.equal(obj.crc32c, crc(data));
    assert.equal(obj.contentType, 'application/pdf');
    assert.deepEqual(obj.metadata, { k: 'v' });
    // The finished session keeps answering with the object.
    r = await put('bytes */300000');
    assert.equal(r.status, 200);
    await r.arrayBuffer();

    // A declared X-Goog-Hash that does not match the bytes fails the upload.
    const bad = await fetch(`${emu.url}/upload/storage/v1/b/json-api/o?uploadType=resumable&name=raw%2Fbad.bin`, { method: 'POST' });
    const badLoc = bad.headers.get('location') ?? '';
    const fin = await fetch(badLoc, { method: 'PUT', headers: { 'content-range': 'bytes 0-2/3', 'x-goog-hash': `md5=${md5(Buffer.from('xyz'))}` }, body: 'abc' });
    assert.equal(fin.status, 400);
    await fin.arrayBuffer();
    assert.equal((await bucket.file('raw/bad.bin').exists())[0], false);
  });

  it('range downloads answer 206 with Content-Range', async () => {
    const data = bytes(5000, 11);
    const file = bucket.file('ranges/data.bin');
    await file.save(data, { resumable: false });
    const [part] = await file.download({ start: 100, end: 199 });
    assert.ok(part.equals(data.subarray(100, 200)));
    const res = await fetch(`${emu.url}/storage/v1/b/json-api/o/ranges%2Fdata.bin?alt=media`, { headers: { range: 'bytes=4990-' } });
    assert.equal(res.status, 206);
    assert.equal(res.headers.get('content-range'), 'bytes 4990-4999/5000');
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(data.subarray(4990)));
    const suffix = await fetch(`${emu.url}/download/storage/v1/b/json-api/o/ranges%2Fdata.bin?alt=media`, { headers: { range: 'bytes=-3' } });
    assert.equal(suffix.status, 206);
    assert.ok(Buffer.from(await suffix.arrayBuffer()).equals(data.subarray(4997)));
    const unsatisfiable = await fetch(`${emu.url}/storage/v1/b/json-api/o/ranges%2Fdata.bin?alt=media`, { headers: { range: 'bytes=6000-' } });
    assert.equal(unsatisfiable.status, 416);
    await unsatisfiable.arrayBuffer();
  });

  it('lists with prefix, delimiter (prefixes) and maxResults/pageToken pagination', async () => {
    const [b] = await storage.createBucket('listing');
    for (const n of ['a/1', 'a/2', 'a/b/3', 'b/1', 'c', 'd', 'e']) await b.file(n).save(n, { resumable: false });
    const seen: string[] = [];
    const prefixes: string[] = [];
    let query: Record<string, unknown> | null = { delimiter: '/', maxResults: 2, autoPaginate: false };
    let pages = 0;
    while (query) {
      const [files, next, raw] = (await b.getFiles(query)) as unknown as [{ name: string }[], Record<string, unknown> | null, { prefixes?: string[] }];
      seen.push(...files.map((f) => f.name));
      prefixes.push(...(raw.prefixes ?? []));
      query = next;
      pages++;
    }
    assert.deepEqual(prefixes, ['a/', 'b/']);
    assert.deepEqual(seen, ['c', 'd', 'e']);
    assert.equal(pages, 3);
    const [under] = await b.getFiles({ prefix: 'a/' });
    assert.deepEqual(
      under.map((f) => f.name),
      ['a/1', 'a/2', 'a/b/3'],
    );
    const [all] = await b.getFiles({ maxResults: 3 }); // autoPaginate follows tokens
    assert.equal(all.length, 3);
    const [everything] = await b.getFiles();
    assert.equal(everything.length, 7);
    const glob = (await (await fetch(`${emu.url}/storage/v1/b/listing/o?matchGlob=a/*`)).json()) as { items: { name: string }[] };
    assert.deepEqual(
      glob.items.map((i) => i.name),
      ['a/1', 'a/2'],
    );
  });

  it('enforces ifGenerationMatch / ifGenerationNotMatch / ifMetagenerationMatch', async () => {
    const file = bucket.file('pre/cond.txt');
    await file.save('v1', { resumable: false, preconditionOpts: { ifGenerationMatch: 0 } });
    const [m1] = await file.getMetadata();
    await assert.rejects(file.save('v2', { resumable: false, preconditionOpts: { ifGenerationMatch: 0 } }), (e) => status(e) === 412);
    await assert.rejects(file.save('v2', { preconditionOpts: { ifGenerationMatch: 0 } }), (e) => status(e) === 412);
    await assert.rejects(file.save('v2', { resumable: false, preconditionOpts: { ifGenerationMatch: 123 } }), (e) => status(e) === 412);
    await file.save('v2', { resumable: false, preconditionOpts: { ifGenerationMatch: Number(m1.generation) } });
    const [m2] = await file.getMetadata();
    assert.ok(BigInt(String(m2.generation)) > BigInt(String(m1.generation)));
    assert.equal((await file.download())[0].toString(), 'v2');

    const notMatch = await fetch(`${emu.url}/storage/v1/b/json-api/o/pre%2Fcond.txt?ifGenerationNotMatch=${String(m2.generation)}`);
    assert.equal(notMatch.status, 304);
    await notMatch.arrayBuffer();
    const patchWrongMeta = await fetch(`${emu.url}/storage/v1/b/json-api/o/pre%2Fcond.txt?ifMetagenerationMatch=7`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ metadata: { x: '1' } }),
    });
    assert.equal(patchWrongMeta.status, 412);
    const err = (await patchWrongMeta.json()) as { error: { code: number; errors: { reason: string }[] } };
    assert.equal(err.error.code, 412);
    assert.equal(err.error.errors[0]?.reason, 'conditionNotMet');
    await assert.rejects(file.delete({ ifGenerationMatch: 1 }), (e) => status(e) === 412);
  });

  it('patches metadata (metageneration++, null removes a key)', async () => {
    const file = bucket.file('meta/patch.txt');
    await file.save('x', { resumable: false, metadata: { metadata: { a: '1', b: '2' } } });
    const [m] = await file.setMetadata({ metadata: { a: null, c: '3' }, contentType: 'text/markdown', cacheControl: 'no-store' });
    assert.equal(m.metageneration, '2');
    assert.deepEqual(m.metadata, { b: '2', c: '3' });
    assert.equal(m.contentType, 'text/markdown');
    assert.equal(m.cacheControl, 'no-store');
    const [again] = await file.getMetadata();
    assert.equal(again.metageneration, '2');
    // Unicode in a header-bound field must not break downloads.
    await file.setMetadata({ contentDisposition: 'attachment; filename="rapport-été-€.pdf"' });
    const res = await fetch(`${emu.url}/storage/v1/b/json-api/o/meta%2Fpatch.txt?alt=media`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'x');
    assert.match(res.headers.get('content-disposition') ?? '', /%E2%82%AC/);
  });

  it('copies (rewriteTo via file.copy, copyTo raw), composes and deletes', async () => {
    const src = bucket.file('copy/src.txt');
    await src.save('copy me', { resumable: false, contentType: 'text/plain', metadata: { metadata: { from: 'src' } } });
    await src.copy(bucket.file('copy/dst1.txt'));
    const [d1] = await bucket.file('copy/dst1.txt').getMetadata();
    assert.equal(d1.md5Hash, md5(Buffer.from('copy me')));
    assert.deepEqual(d1.metadata, { from: 'src' });
    assert.equal(d1.contentType, 'text/plain');

    const res = await fetch(`${emu.url}/storage/v1/b/json-api/o/copy%2Fsrc.txt/copyTo/b/listing/o/copied%2Fdst2.txt`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ contentType: 'text/x-copied' }),
    });
    assert.equal(res.status, 200);
    const d2 = (await res.json()) as Record<string, unknown>;
    assert.equal(d2.bucket, 'listing');
    assert.equal(d2.contentType, 'text/x-copied');
    assert.equal((await storage.bucket('listing').file('copied/dst2.txt').download())[0].toString(), 'copy me');

    await bucket.file('copy/p2.txt').save(' and me', { resumable: false });
    await bucket.combine(['copy/src.txt', 'copy/p2.txt'], 'copy/composed.txt');
    const composed = bucket.file('copy/composed.txt');
    assert.equal((await composed.download())[0].toString(), 'copy me and me');
    assert.equal((await composed.getMetadata())[0].componentCount, 2);

    await src.delete();
    assert.equal((await src.exists())[0], false);
    await assert.rejects(src.delete(), (e) => status(e) === 404);
  });

  it('answers GCS-shaped JSON errors', async () => {
    const res = await fetch(`${emu.url}/storage/v1/b/json-api/o/missing%2Fobject`);
    assert.equal(res.status, 404);
    const body = (await res.json()) as { error: { code: number; message: string; errors: { reason: string }[] } };
    assert.equal(body.error.code, 404);
    assert.equal(body.error.errors[0]?.reason, 'notFound');
    assert.match(body.error.message, /No such object: json-api\/missing\/object/);
  });

  it('works through STORAGE_EMULATOR_HOST (routes without /storage/v1)', async () => {
    const saved = process.env.STORAGE_EMULATOR_HOST;
    process.env.STORAGE_EMULATOR_HOST = emu.url;
    let envStorage: Storage;
    try {
      envStorage = new Storage({ projectId: 'demo-test', credentials: sa.credentials });
    } finally {
      if (saved === undefined) delete process.env.STORAGE_EMULATOR_HOST;
      else process.env.STORAGE_EMULATOR_HOST = saved;
    }
    const [b] = await envStorage.createBucket('env-host');
    const data = bytes(100_000, 5);
    await b.file('x/y.bin').save(data);
    await b.file('x/z.txt').save('z', { resumable: false });
    const [m] = await b.file('x/y.bin').getMetadata();
    assert.equal(m.md5Hash, md5(data));
    assert.ok((await b.file('x/y.bin').download())[0].equals(data));
    const [files] = await b.getFiles({ prefix: 'x/' });
    assert.deepEqual(
      files.map((f) => f.name),
      ['x/y.bin', 'x/z.txt'],
    );
    await b.file('x/z.txt').delete();
    assert.equal((await b.file('x/z.txt').exists())[0], false);
  });
});

for (const mode of MODES) describe(`storage emulator: XML API, V4 signed URLs and CORS (${mode})`, () => {
  let emu: StorageEmulator;
  let stop: () => Promise<void>;
  let storage: Storage;
  let bucket: Bucket;
  /**
   * A V4 URL for `signed/name` on the emulator, signed for its host:port (the emulator compares the
   * signed host exactly, so the Node client's portless signature would be refused here).
   */
  const sign = (name: string, method: SignV4Options['method'], opts: Partial<SignV4Options> = {}): string =>
    signV4Url({ key: sa.signingKey, method, endpoint: emu.url, bucket: 'signed', object: name, expiresInSeconds: 600, ...opts }).url;

  before(async () => {
    ({ emu, stop } = await startIn(mode));
    storage = new Storage({ apiEndpoint: emu.url, projectId: 'demo-test', credentials: sa.credentials });
    [bucket] = await storage.createBucket('signed', {
      cors: [
        {
          origin: ['http://app.test'],
          method: ['PUT', 'GET'],
          responseHeader: ['Content-Type', 'x-goog-content-length-range', 'x-goog-if-generation-match', 'ETag'],
          maxAgeSeconds: 600,
        },
      ],
    });
  });
  after(async () => {
    await stop();
  });

  const signPut = (name: string, contentType: string, extensionHeaders: Record<string, string> = {}): string =>
    sign(name, 'PUT', { headers: { 'content-type': contentType, ...extensionHeaders } });

  it('signed PUT then signed GET round-trip; x-goog-meta-* becomes custom metadata', async () => {
    const url = signPut('docs/report 1.pdf', 'application/pdf', { 'x-goog-content-length-range': '0,1000', 'x-goog-meta-owner': 'u1' });
    assert.match(url, /X-Goog-Signature=/);
    const put = await fetch(url, {
      method: 'PUT',
      headers: { 'content-type': 'application/pdf', 'x-goog-content-length-range': '0,1000', 'x-goog-meta-owner': 'u1' },
      body: '%PDF-1.4 tiny',
    });
    assert.equal(put.status, 200, await put.clone().text());
    assert.ok(put.headers.get('x-goog-generation'));
    const [m] = await bucket.file('docs/report 1.pdf').getMetadata();
    assert.equal(m.contentType, 'application/pdf');
    assert.deepEqual(m.metadata, { owner: 'u1' });
    assert.equal(m.md5Hash, md5(Buffer.from('%PDF-1.4 tiny')));

    const getUrl = sign('docs/report 1.pdf', 'GET');
    const got = await fetch(getUrl);
    assert.equal(got.status, 200);
    assert.equal(await got.text(), '%PDF-1.4 tiny');
    assert.equal(got.headers.get('x-goog-hash'), `crc32c=${crc(Buffer.from('%PDF-1.4 tiny'))},md5=${md5(Buffer.from('%PDF-1.4 tiny'))}`);
    const ranged = await fetch(getUrl, { headers: { range: 'bytes=0-3' } });
    assert.equal(ranged.status, 206);
    assert.equal(await ranged.text(), '%PDF');
    const saveAs = sign('docs/report 1.pdf', 'GET', { queryParams: { 'response-content-disposition': 'attachment; filename="r.pdf"', 'response-content-type': 'application/x-download' } });
    const dl = await fetch(saveAs);
    assert.equal(dl.headers.get('content-disposition'), 'attachment; filename="r.pdf"');
    assert.equal(dl.headers.get('content-type'), 'application/x-download');
    await dl.arrayBuffer();
    // HEAD is its own method in the canonical request; unsigned HEAD is allowed (no ACLs here).
    const head = await fetch(`${emu.url}/signed/docs/report%201.pdf`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), '13');
  });

  it('tampered signature → 403 SignatureDoesNotMatch with StringToSign and CanonicalRequest', async () => {
    const url = signPut('docs/t.txt', 'text/plain');
    const sig = /X-Goog-Signature=([0-9a-f]+)/.exec(url)?.[1] ?? '';
    const tampered = url.replace(sig, (sig.startsWith('0') ? '1' : '0') + sig.slice(1));
    const res = await fetch(tampered, { method: 'PUT', headers: { 'content-type': 'text/plain' }, body: 'x' });
    assert.equal(res.status, 403);
    const xml = await res.text();
    assert.match(xml, /^<\?xml version='1\.0' encoding='UTF-8'\?><Error><Code>SignatureDoesNotMatch<\/Code>/);
    assert.match(xml, /<StringToSign>GOOG4-RSA-SHA256\n\d{8}T\d{6}Z\n\d{8}\/auto\/storage\/goog4_request\n[0-9a-f]{64}<\/StringToSign>/);
    assert.match(xml, /<CanonicalRequest>PUT\n\/signed\/docs\/t\.txt\n/);
    assert.equal((await bucket.file('docs/t.txt').exists())[0], false);
    // Another path with the same query is also a mismatch (the path is signed).
    const moved = await fetch(url.replace('/docs/t.txt', '/docs/other.txt'), { method: 'PUT', headers: { 'content-type': 'text/plain' }, body: 'x' });
    assert.equal(moved.status, 403);
    await moved.arrayBuffer();
  });

  it('wrong content-type → 403; a signer the emulator does not trust → 403', async () => {
    const url = signPut('docs/ct.txt', 'text/plain');
    const res = await fetch(url, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: 'x' });
    assert.equal(res.status, 403);
    assert.match(await res.text(), /SignatureDoesNotMatch/);

    const r2 = await fetch(sign('docs/u.txt', 'GET', { key: other.signingKey }));
    assert.equal(r2.status, 403);
    assert.match(await r2.text(), /no trusted key for untrusted@demo-test/);
  });

  it('expired URL → 400 ExpiredToken', async () => {
    const url = sign('docs/exp.txt', 'PUT', { headers: { 'content-type': 'text/plain' }, expiresInSeconds: 1 });
    const goog = /X-Goog-Date=(\d{8}T\d{6}Z)&X-Goog-Expires=(\d+)/.exec(url);
    assert.ok(goog);
    // Wait out the (1 s) validity window the URL itself states.
    const [d, e] = [goog[1] ?? '', Number(goog[2])];
    const start = Date.UTC(+d.slice(0, 4), +d.slice(4, 6) - 1, +d.slice(6, 8), +d.slice(9, 11), +d.slice(11, 13), +d.slice(13, 15));
    await sleep(Math.max(0, start + e * 1000 - Date.now() + 1100));
    const res = await fetch(url, { method: 'PUT', headers: { 'content-type': 'text/plain' }, body: 'late' });
    assert.equal(res.status, 400);
    assert.match(await res.text(), /<Code>ExpiredToken<\/Code>/);
    assert.equal((await bucket.file('docs/exp.txt').exists())[0], false);
  });

  it('x-goog-content-length-range: body over MAX → 400 EntityTooLarge, nothing stored; under MIN → EntityTooSmall', async () => {
    const ext = { 'x-goog-content-length-range': '0,10' };
    const url = signPut('docs/big.txt', 'text/plain', ext);
    const res = await fetch(url, { method: 'PUT', headers: { 'content-type': 'text/plain', ...ext }, body: 'eleven byte' });
    assert.equal(res.status, 400);
    assert.match(await res.text(), /<Code>EntityTooLarge<\/Code>/);
    assert.equal((await bucket.file('docs/big.txt').exists())[0], false);

    // Chunked body (no Content-Length): enforced while streaming.
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new Uint8Array(8));
        c.enqueue(new Uint8Array(8));
        c.close();
      },
    });
    const chunked = await fetch(url, { method: 'PUT', headers: { 'content-type': 'text/plain', ...ext }, body: stream, duplex: 'half' });
    assert.equal(chunked.status, 400);
    assert.match(await chunked.text(), /EntityTooLarge/);
    assert.equal((await bucket.file('docs/big.txt').exists())[0], false);

    const minExt = { 'x-goog-content-length-range': '5,10' };
    const url2 = signPut('docs/small.txt', 'text/plain', minExt);
    const small = await fetch(url2, { method: 'PUT', headers: { 'content-type': 'text/plain', ...minExt }, body: 'abc' });
    assert.equal(small.status, 400);
    assert.match(await small.text(), /EntityTooSmall/);
  });

  it('x-goog-if-generation-match: 0 twice → second 412 PreconditionFailed', async () => {
    const ext = { 'x-goog-content-length-range': '0,10', 'x-goog-if-generation-match': '0' };
    const url = signPut('docs/once.txt', 'text/plain', ext);
    const first = await fetch(url, { method: 'PUT', headers: { 'content-type': 'text/plain', ...ext }, body: 'first' });
    assert.equal(first.status, 200);
    const second = await fetch(url, { method: 'PUT', headers: { 'content-type': 'text/plain', ...ext }, body: 'second' });
    assert.equal(second.status, 412);
    assert.match(await second.text(), /<Code>PreconditionFailed<\/Code>/);
    assert.equal((await bucket.file('docs/once.txt').download())[0].toString(), 'first');
  });

  it('signed resumable upload (POST x-goog-resumable: start, then PUT to Location)', async () => {
    const url = sign('docs/resumable.bin', 'POST', { headers: { 'x-goog-resumable': 'start', 'content-type': 'application/octet-stream' } });
    const start = await fetch(url, { method: 'POST', headers: { 'x-goog-resumable': 'start', 'content-type': 'application/octet-stream' } });
    assert.equal(start.status, 201, await start.clone().text());
    const location = start.headers.get('location') ?? '';
    const data = bytes(1000, 4);
    const put = await fetch(location, { method: 'PUT', body: data });
    assert.equal(put.status, 200);
    assert.equal((await bucket.file('docs/resumable.bin').getMetadata())[0].md5Hash, md5(data));
  });

  it('XML bucket listing (ListBucketResult with prefix/delimiter)', async () => {
    await bucket.file('list/a.txt').save('a', { resumable: false });
    await bucket.file('list/sub/b.txt').save('b', { resumable: false });
    const res = await fetch(`${emu.url}/signed?prefix=list/&delimiter=/`);
    assert.equal(res.status, 200);
    const xml = await res.text();
    assert.match(xml, /<ListBucketResult[^>]*><Name>signed<\/Name><Prefix>list\/<\/Prefix>/);
    assert.match(xml, /<Contents><Key>list\/a\.txt<\/Key><Generation>\d+<\/Generation>/);
    assert.match(xml, /<CommonPrefixes><Prefix>list\/sub\/<\/Prefix><\/CommonPrefixes>/);
    assert.doesNotMatch(xml, /list\/sub\/b\.txt/);
  });

  it('XML errors: NoSuchKey, NoSuchBucket; signed DELETE', async () => {
    const missing = await fetch(`${emu.url}/signed/nope.txt`);
    assert.equal(missing.status, 404);
    assert.match(await missing.text(), /<Code>NoSuchKey<\/Code>/);
    const noBucket = await fetch(`${emu.url}/no-such-bucket/x`);
    assert.equal(noBucket.status, 404);
    assert.match(await noBucket.text(), /<Code>NoSuchBucket<\/Code>/);
    await bucket.file('docs/del.txt').save('bye', { resumable: false });
    const del = sign('docs/del.txt', 'DELETE');
    assert.equal((await fetch(del, { method: 'DELETE' })).status, 204);
    assert.equal((await bucket.file('docs/del.txt').exists())[0], false);
  });

  it('CORS: preflight from the bucket config, Allow-Origin/Expose-Headers on the actual PUT', async () => {
    const target = `${emu.url}/signed/docs/cors.txt`;
    const pre = await fetch(target, {
      method: 'OPTIONS',
      headers: { origin: 'http://app.test', 'access-control-request-method': 'PUT', 'access-control-request-headers': 'content-type,x-goog-content-length-range' },
    });
    assert.equal(pre.status, 200);
    assert.equal(pre.headers.get('access-control-allow-origin'), 'http://app.test');
    assert.match(pre.headers.get('access-control-allow-methods') ?? '', /PUT/);
    assert.match(pre.headers.get('access-control-allow-headers') ?? '', /x-goog-content-length-range/);
    assert.equal(pre.headers.get('access-control-max-age'), '600');

    const wrongOrigin = await fetch(target, { method: 'OPTIONS', headers: { origin: 'http://evil.test', 'access-control-request-method': 'PUT' } });
    assert.equal(wrongOrigin.headers.get('access-control-allow-origin'), null);
    const wrongMethod = await fetch(target, { method: 'OPTIONS', headers: { origin: 'http://app.test', 'access-control-request-method': 'DELETE' } });
    assert.equal(wrongMethod.headers.get('access-control-allow-origin'), null);
    const wrongHeader = await fetch(target, { method: 'OPTIONS', headers: { origin: 'http://app.test', 'access-control-request-method': 'PUT', 'access-control-request-headers': 'x-custom' } });
    assert.equal(wrongHeader.headers.get('access-control-allow-origin'), null);

    const url = signPut('docs/cors.txt', 'text/plain');
    const put = await fetch(url, { method: 'PUT', headers: { 'content-type': 'text/plain', origin: 'http://app.test' }, body: 'from a browser' });
    assert.equal(put.status, 200);
    assert.equal(put.headers.get('access-control-allow-origin'), 'http://app.test');
    assert.match(put.headers.get('access-control-expose-headers') ?? '', /ETag/);
  });
});

describe('storage emulator: upload cap', () => {
  it('refuses objects over maxUploadBytes on every upload path without storing them', async () => {
    const emu = await startStorageEmulator({ port: 0, maxUploadBytes: 1000 });
    try {
      const storage = new Storage({ apiEndpoint: emu.url, projectId: 'demo-test', credentials: sa.credentials });
      const [b] = await storage.createBucket('capped');
      const big = bytes(1001);
      const media = await fetch(`${emu.url}/upload/storage/v1/b/capped/o?uploadType=media&name=m`, { method: 'POST', body: big });
      assert.equal(media.status, 413);
      assert.equal(((await media.json()) as { error: { errors: { reason: string }[] } }).error.errors[0]?.reason, 'uploadTooLarge');
      await assert.rejects(b.file('r').save(big), (e) => status(e) === 413 || /413|exceeds/.test(String(e)));
      await assert.rejects(b.file('mp').save(big, { resumable: false }), (e) => status(e) === 413);
      const xml = await fetch(`${emu.url}/capped/x`, { method: 'PUT', body: big });
      assert.equal(xml.status, 413);
      await xml.arrayBuffer();
      const [files] = await b.getFiles();
      assert.equal(files.length, 0);
      await b.file('ok').save(bytes(1000), { resumable: false });
    } finally {
      await emu.close();
    }
  });
});

describe('storage emulator: persistence', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'storage-emu-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps buckets, objects, metadata and notification configs across a restart', async () => {
    const data = bytes(50_000, 21);
    let emu = await startStorageEmulator({ port: 0, persistDir: dir });
    let storage = new Storage({ apiEndpoint: emu.url, projectId: 'demo-test', credentials: sa.credentials });
    const [b] = await storage.createBucket('kept', { cors: [{ origin: ['*'], method: ['GET'] }] });
    await b.file('a/b.bin').save(data, { metadata: { metadata: { k: 'v' } } });
    await b.file('gone.txt').save('x', { resumable: false });
    await b.file('gone.txt').delete();
    await b.file('a/b.bin').setMetadata({ metadata: { k2: 'v2' } });
    const created = await fetch(`${emu.url}/storage/v1/b/kept/notificationConfigs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ topic: '//pubsub.googleapis.com/projects/demo-test/topics/t1', payload_format: 'JSON_API_V1', event_types: ['OBJECT_FINALIZE'] }),
    });
    assert.equal(created.status, 200);
    const [before] = await b.file('a/b.bin').getMetadata();
    await emu.close();

    emu = await startStorageEmulator({ port: 0, persistDir: dir });
    try {
      storage = new Storage({ apiEndpoint: emu.url, projectId: 'demo-test', credentials: sa.credentials });
      const kept = storage.bucket('kept');
      const [bm] = await kept.getMetadata();
      assert.deepEqual(bm.cors, [{ origin: ['*'], method: ['GET'] }]);
      const [m] = await kept.file('a/b.bin').getMetadata();
      assert.equal(m.generation, before.generation);
      assert.equal(m.metageneration, '2');
      assert.deepEqual(m.metadata, { k: 'v', k2: 'v2' });
      assert.ok((await kept.file('a/b.bin').download())[0].equals(data));
      assert.equal((await kept.file('gone.txt').exists())[0], false);
      const [notifications] = await kept.getNotifications();
      assert.equal(notifications.length, 1);
      assert.equal(notifications[0]?.metadata.topic, '//pubsub.googleapis.com/projects/demo-test/topics/t1');
      // Generations keep increasing after a restart.
      await kept.file('new.txt').save('n', { resumable: false });
      const [n] = await kept.file('new.txt').getMetadata();
      assert.ok(BigInt(String(n.generation)) > BigInt(String(m.generation)));
    } finally {
      await emu.close();
    }
  });
});
