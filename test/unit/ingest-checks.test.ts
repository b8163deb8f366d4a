import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkUpload } from '../../functions/ingest/handler.js';
import type { Job } from '../../shared/jobs/model.js';
import type { GcsObject } from '../../shared/events/contracts.js';

const job = (input: Partial<Job['input']> = {}): Job => ({
  id: 'job_0123456789abcdef0123',
  kind: 'document.process',
  projectId: 'demo',
  documentId: 'doc_0123456789abcdef0123',
  ownerUid: 'u',
  agentId: null,
  status: 'PENDING',
  stage: 'upload',
  progress: 0,
  attempts: 0,
  createdAt: '2026-01-01T00:00:00.000Z',
  startedAt: null,
  updatedAt: '2026-01-01T00:00:00.000Z',
  finishedAt: null,
  error: null,
  input: { bucket: 'b', object: 'uploads/demo/doc_0123456789abcdef0123/a.pdf', fileName: 'a.pdf', contentType: 'application/pdf', declaredSize: 10, generation: null, uploadExpiresAt: null, md5Hash: null, crc32c: null, detectedType: null, family: null, version: 1, current: true, translate: null, audio: null, uploadCheckAt: null, uploadReingests: 0, ...input },
  dispatchedStage: null,
  stages: {},
  announced: false,
  result: null,
  cancelRequested: false,
  retryOf: null,
  metrics: {},
  logCount: 1,
});
const object = (o: Partial<GcsObject> = {}): GcsObject => ({ bucket: 'b', name: 'uploads/demo/doc_0123456789abcdef0123/a.pdf', generation: '1', size: '10', contentType: 'application/pdf', md5Hash: 'MD5MD5MD5MD5MD5MD5MD5A==', crc32c: 'AAAAAA==', ...o });

describe('ingest checks an upload against what was declared', () => {
  it('accepts the declared size and type', () => assert.equal(checkUpload(job(), object()), null));
  it('refuses another size', () => assert.equal(checkUpload(job(), object({ size: '11' }))?.code, 'SIZE_MISMATCH'));
  it('refuses another type', () => assert.equal(checkUpload(job(), object({ contentType: 'image/png' }))?.code, 'CONTENT_TYPE_MISMATCH'));
  for (const enc of ['gzip', 'GZIP', 'br', 'deflate', 'x-anything']) {
    it(`refuses Content-Encoding ${enc}, permanently`, () => {
      const e = checkUpload(job(), object({ contentEncoding: enc }));
      assert.equal(e?.code, 'CONTENT_ENCODING_NOT_SUPPORTED');
      assert.equal(e?.retryable, false);
    });
  }
  it('accepts identity encoding', () => assert.equal(checkUpload(job(), object({ contentEncoding: 'identity' })), null));
  it('compares declared checksums with the stored object', () => {
    assert.equal(checkUpload(job({ md5Hash: 'MD5MD5MD5MD5MD5MD5MD5A==' }), object()), null);
    assert.equal(checkUpload(job({ md5Hash: 'OTHEROTHEROTHEROTHERAA==' }), object())?.code, 'CHECKSUM_MISMATCH');
    assert.equal(checkUpload(job({ crc32c: 'BBBBBB==' }), object())?.code, 'CHECKSUM_MISMATCH');
    assert.equal(checkUpload(job({ md5Hash: 'MD5MD5MD5MD5MD5MD5MD5A==' }), object({ md5Hash: undefined }))?.code, 'CHECKSUM_MISMATCH', 'no hash is not the declared hash');
  });
  it('ignores uploader-set metadata: a "derived" marker changes nothing', () => assert.equal(checkUpload(job(), object({ metadata: { 'scriptorium-derived': 'true' } })), null));
});
