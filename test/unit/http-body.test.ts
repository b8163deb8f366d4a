import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkJsonBodyHeaders, parseJson } from '../../shared/http/body.js';
import { HttpError } from '../../shared/errors/index.js';
import { CreateUploadRequestSchema, MEDIA_TYPE } from '../../shared/api/contracts.js';
import { isUid } from '../../shared/ids.js';

const code = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (err) {
    return err instanceof HttpError ? `${err.status} ${err.code}` : String(err);
  }
  return undefined;
};

describe('JSON body headers are checked before a byte is read', () => {
  const ok = { 'content-type': 'application/json', 'content-length': '100' };
  const cases: [string, Record<string, string>, string | undefined][] = [
    ['plain JSON', ok, undefined],
    ['JSON with charset=utf-8', { ...ok, 'content-type': 'application/json; charset=UTF-8' }, undefined],
    ['a +json type', { ...ok, 'content-type': 'application/merge-patch+json' }, undefined],
    ['gzip', { ...ok, 'content-encoding': 'gzip' }, '415 UNSUPPORTED_CONTENT_ENCODING'],
    ['deflate', { ...ok, 'content-encoding': 'deflate' }, '415 UNSUPPORTED_CONTENT_ENCODING'],
    ['br', { ...ok, 'content-encoding': 'br' }, '415 UNSUPPORTED_CONTENT_ENCODING'],
    ['identity encoding', { ...ok, 'content-encoding': 'identity' }, undefined],
    ['text/plain', { ...ok, 'content-type': 'text/plain' }, '415 UNSUPPORTED_MEDIA_TYPE'],
    ['a form', { ...ok, 'content-type': 'application/x-www-form-urlencoded' }, '415 UNSUPPORTED_MEDIA_TYPE'],
    ['no content type', { 'content-length': '10' }, '415 UNSUPPORTED_MEDIA_TYPE'],
    ['latin1', { ...ok, 'content-type': 'application/json; charset=latin1' }, '415 UNSUPPORTED_CHARSET'],
    ['an unknown charset', { ...ok, 'content-type': 'application/json; charset=x-nope' }, '415 UNSUPPORTED_CHARSET'],
    ['chunked without a length', { 'content-type': 'application/json', 'transfer-encoding': 'chunked' }, '411 LENGTH_REQUIRED'],
    ['over the cap', { ...ok, 'content-length': String(64 * 1024 + 1) }, '413 BODY_TOO_LARGE'],
    ['at the cap', { ...ok, 'content-length': String(64 * 1024) }, undefined],
  ];
  for (const [name, headers, expected] of cases) it(`${name} → ${expected ?? 'accepted'}`, () => assert.equal(code(() => checkJsonBodyHeaders(headers, 64 * 1024)), expected));
});

describe('JSON bodies are parsed strictly', () => {
  it('refuses invalid UTF-8, empty bodies and malformed JSON with stable codes and no parser text', () => {
    assert.equal(code(() => parseJson(Buffer.from([0x7b, 0xff, 0x7d]))), '400 MALFORMED_BODY');
    assert.equal(code(() => parseJson(Buffer.from('  '))), '400 MALFORMED_BODY');
    assert.equal(code(() => parseJson(Buffer.from('{"a":'))), '400 MALFORMED_JSON');
    try {
      parseJson(Buffer.from('{"a": tru}'));
    } catch (err) {
      assert.doesNotMatch((err as Error).message, /position|Unexpected token/);
    }
    assert.deepEqual(parseJson(Buffer.from('{"a":1}')), { a: 1 });
  });
});

describe('content types are RFC 9110 media types, ASCII only', () => {
  const good = ['application/pdf', 'text/plain; charset=utf-8', 'text/plain;charset="utf-8"', 'multipart/form-data; boundary="a b"', 'application/vnd.openxmlformats-officedocument.wordprocessingml.document', 'image/svg+xml'];
  const bad = ['application/pdf; name=é', 'text/plain; charset="ü"', 'application/pdf\r\nx-goog-meta-a: b', 'application/pdf; a', 'application /pdf', 'pdf', 'text/plain; charset="unterminated', 'a/b; c=d e', '/pdf', 'application/'];
  for (const t of good) it(`accepts ${JSON.stringify(t)}`, () => assert.ok(MEDIA_TYPE.test(t)));
  for (const t of bad) it(`refuses ${JSON.stringify(t)}`, () => assert.equal(CreateUploadRequestSchema.safeParse({ projectId: 'demo', fileName: 'a.pdf', contentType: t, size: 1 }).success, false));
});

describe('upload requests', () => {
  const ok = { projectId: 'demo', fileName: 'a.pdf', contentType: 'application/pdf', size: 1 };
  it('takes optional checksums in Cloud Storage form and refuses other shapes', () => {
    assert.ok(CreateUploadRequestSchema.safeParse({ ...ok, md5Hash: '1B2M2Y8AsgTpgAmY7PhCfg==', crc32c: 'AAAAAA==' }).success);
    assert.equal(CreateUploadRequestSchema.safeParse({ ...ok, md5Hash: 'd41d8cd98f00b204e9800998ecf8427e' }).success, false);
    assert.equal(CreateUploadRequestSchema.safeParse({ ...ok, crc32c: 'AAAAAAAA' }).success, false);
  });
  it('refuses unknown fields, bidi controls and lone surrogates in names', () => {
    assert.equal(CreateUploadRequestSchema.safeParse({ ...ok, bucket: 'other' }).success, false);
    assert.equal(CreateUploadRequestSchema.safeParse({ ...ok, fileName: 'invoice\u202Efdp.exe' }).success, false);
    assert.equal(CreateUploadRequestSchema.safeParse({ ...ok, fileName: 'a\uD800.pdf' }).success, false);
    assert.ok(CreateUploadRequestSchema.safeParse({ ...ok, fileName: 'حبيبي.pdf' }).success);
  });
});

describe('user ids that reach Firestore paths', () => {
  for (const uid of ['8mF3kq0ZbXcV1yT7uR2sW9pL4nA6', 'demo-user', 'svc:importer', 'a@b.c']) it(`accepts ${uid}`, () => assert.ok(isUid(uid)));
  for (const uid of ['a/b', '..', '.', '__x__', '', 'x'.repeat(129), 'a b', '../projects/demo']) it(`refuses ${JSON.stringify(uid)}`, () => assert.equal(isUid(uid), false));
});
