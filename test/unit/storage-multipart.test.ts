/**
 * The streaming multipart/related parser with both body shapes seen on the wire: the Node client's
 * (CRLF, bare boundary) and gcloud's (Python email generator: LF, single-quoted boundary,
 * MIME-Version and Content-Transfer-Encoding headers — byte layout captured from gcloud 528).
 */
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { StorageApiError } from '../../emulators/storage/errors.js';
import { parseBoundary, readMultipartRelated } from '../../emulators/storage/multipart.js';

async function parse(body: Buffer, contentType: string, chunkSize: number): Promise<{ meta: Record<string, unknown>; type?: string; media: Buffer }> {
  const chunks: Buffer[] = [];
  for (let i = 0; i < body.length; i += chunkSize) chunks.push(body.subarray(i, i + chunkSize));
  const parts: Buffer[] = [];
  const head = await readMultipartRelated(Readable.from(chunks), contentType, (c) => {
    parts.push(Buffer.from(c));
    return Promise.resolve();
  });
  return { meta: head.metadata, ...(head.mediaContentType ? { type: head.mediaContentType } : {}), media: Buffer.concat(parts) };
}

const media = Buffer.concat([Buffer.from('line1\r\n--x\nline2 '), Buffer.alloc(20_000, 0x2d), Buffer.from('\r\n--')]);

describe('multipart/related upload parser', () => {
  it('parses the Node client shape (CRLF) for any chunking', async () => {
    const b = 'b0undary-123';
    const body = Buffer.concat([
      Buffer.from(`--${b}\r\nContent-Type: application/json\r\n\r\n{"name":"a.txt","metadata":{"k":"v"}}\r\n--${b}\r\nContent-Type: text/plain\r\n\r\n`),
      media,
      Buffer.from(`\r\n--${b}--`),
    ]);
    for (const size of [1, 7, 4096, body.length]) {
      const r = await parse(body, `multipart/related; boundary=${b}`, size);
      assert.deepEqual(r.meta, { name: 'a.txt', metadata: { k: 'v' } }, `chunk ${size}`);
      assert.equal(r.type, 'text/plain');
      assert.ok(r.media.equals(media), `chunk ${size}`);
    }
  });

  it("parses gcloud's shape (LF, boundary='...', MIME headers, trailing newline)", async () => {
    const b = '===============7489326476124648496==';
    const body = Buffer.concat([
      Buffer.from(`--${b}\nContent-Type: application/json\nMIME-Version: 1.0\n\n{"bucket": "bkt", "contentType": "text/plain", "name": "t.txt"}\n--${b}\nContent-Type: text/plain\nMIME-Version: 1.0\nContent-Transfer-Encoding: binary\n\n`),
      media,
      Buffer.from(`\n--${b}--\n`),
    ]);
    for (const size of [3, 1000, body.length]) {
      const r = await parse(body, `multipart/related; boundary='${b}'`, size);
      assert.equal(r.meta.name, 't.txt');
      assert.equal(r.meta.contentType, 'text/plain');
      assert.ok(r.media.equals(media), `chunk ${size}`);
    }
  });

  it('accepts empty media and quoted boundaries; rejects bodies without the closing delimiter', async () => {
    const body = Buffer.from('--q\r\nContent-Type: application/json\r\n\r\n{}\r\n--q\r\nContent-Type: application/octet-stream\r\n\r\n\r\n--q--\r\n');
    const r = await parse(body, 'multipart/related; boundary="q"', 5);
    assert.equal(r.media.length, 0);
    await assert.rejects(parse(Buffer.from('--q\r\n\r\n{}\r\n--q\r\n\r\nabc'), 'multipart/related; boundary=q', 4), StorageApiError);
    assert.throws(() => parseBoundary('multipart/related'), StorageApiError);
    assert.equal(parseBoundary('multipart/related; boundary="a b"; x=y'), 'a b');
  });
});
