import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { derivedPrefix, parseUploadObjectName, safeObjectFileName, uploadObjectName } from '../../shared/storage/names.js';
import { jobIdFor, newDocumentId, versionJobId } from '../../functions/api/handler.js';

describe('object names', () => {
  it('round-trips upload names', () => {
    const name = uploadObjectName('demo', 'doc_0123456789abcdef0123', 'Scan 1 (final).PDF');
    assert.equal(name, 'uploads/demo/doc_0123456789abcdef0123/Scan_1_final_.PDF');
    assert.deepEqual(parseUploadObjectName(name), { projectId: 'demo', documentId: 'doc_0123456789abcdef0123', version: 1 });
  });

  it('names later versions under v{n}/ and reads the version back', () => {
    const name = uploadObjectName('demo', 'doc_0123456789abcdef0123', 'report.pdf', 12);
    assert.equal(name, 'uploads/demo/doc_0123456789abcdef0123/v12/report.pdf');
    assert.deepEqual(parseUploadObjectName(name), { projectId: 'demo', documentId: 'doc_0123456789abcdef0123', version: 12 });
    // A file called v2 is version 1's file, not a version segment.
    assert.deepEqual(parseUploadObjectName('uploads/demo/doc_0123456789abcdef0123/v2'), { projectId: 'demo', documentId: 'doc_0123456789abcdef0123', version: 1 });
  });

  const foreign = [
    'derived/demo/doc_0123456789abcdef0123/1/text.txt',
    'uploads/demo/text.txt',
    'uploads/Demo/doc_0123456789abcdef0123/a',
    'uploads/demo/doc_0123456789abcdef0123/a/b',
    'other',
    // Version 1 has no segment, and versions are positive decimal numbers without leading zeros.
    'uploads/demo/doc_0123456789abcdef0123/v1/a.pdf',
    'uploads/demo/doc_0123456789abcdef0123/v0/a.pdf',
    'uploads/demo/doc_0123456789abcdef0123/v02/a.pdf',
    'uploads/demo/doc_0123456789abcdef0123/v2/x/a.pdf',
  ];
  for (const name of foreign) it(`does not take ${name} for an API upload`, () => assert.equal(parseUploadObjectName(name), null));

  it('keeps file names safe and non-empty', () => {
    assert.equal(safeObjectFileName('../../etc/passwd'), 'etc_passwd');
    assert.equal(safeObjectFileName('日本語'), 'source');
    assert.equal(safeObjectFileName('a'.repeat(300)).length, 100);
  });

  it('keys derived files on the source generation', () => {
    assert.equal(derivedPrefix({ projectId: 'demo', documentId: 'doc_x', sourceGeneration: '42' }), 'derived/demo/doc_x/42/');
  });
});

describe('document ids', () => {
  it('are deterministic for an idempotent request and distinct per caller', () => {
    const a = newDocumentId({ uid: 'u1', projectId: 'p', clientRequestId: 'r1' });
    assert.equal(a, newDocumentId({ uid: 'u1', projectId: 'p', clientRequestId: 'r1' }));
    assert.notEqual(a, newDocumentId({ uid: 'u2', projectId: 'p', clientRequestId: 'r1' }));
    assert.match(a, /^doc_[0-9a-f]{20}$/);
  });
  it('are random otherwise', () => {
    assert.notEqual(newDocumentId(), newDocumentId());
  });
  it('derive the job id from the document id', () => {
    assert.equal(jobIdFor('doc_0123456789abcdef0123'), 'job_0123456789abcdef0123');
  });
});

describe('version job ids', () => {
  it('are deterministic per document and version, distinct from the first version\'s, and valid job ids', () => {
    const d = 'doc_0123456789abcdef0123';
    assert.equal(versionJobId(d, 2), versionJobId(d, 2));
    assert.notEqual(versionJobId(d, 2), versionJobId(d, 3));
    assert.notEqual(versionJobId(d, 2), jobIdFor(d));
    assert.match(versionJobId(d, 2), /^job_[0-9a-f]{20}$/);
  });
});
