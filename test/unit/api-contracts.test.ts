import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CreateUploadRequestSchema } from '../../shared/api/contracts.js';

describe('CreateUploadRequestSchema', () => {
  const ok = { projectId: 'demo', fileName: 'scan.pdf', contentType: 'application/pdf', size: 1234 };

  it('accepts a well-formed request and lowercases the content type', () => {
    assert.equal(CreateUploadRequestSchema.parse({ ...ok, contentType: 'Application/PDF' }).contentType, 'application/pdf');
  });

  const bad: [string, Record<string, unknown>][] = [
    ['a path in the file name', { fileName: '../x.pdf' }],
    ['a control character in the file name', { fileName: 'a\u0000.pdf' }],
    ['an empty file name', { fileName: '' }],
    ['a content type without a subtype', { contentType: 'pdf' }],
    ['a zero size', { size: 0 }],
    ['a fractional size', { size: 1.5 }],
    ['a size given as a string', { size: '12' }],
    ['an upper-case project id', { projectId: 'Demo' }],
    ['a bad client request id', { clientRequestId: 'has space' }],
  ];
  for (const [name, patch] of bad) it(`refuses ${name}`, () => assert.equal(CreateUploadRequestSchema.safeParse({ ...ok, ...patch }).success, false));
});
