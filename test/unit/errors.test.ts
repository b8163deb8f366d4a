import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { gunzipSync } from 'node:zlib';
import { HttpError, isRetryable, PermanentError, toJobError, TransientError } from '../../shared/errors/index.js';

/** The real error zlib throws for bytes that are not gzip (what a mislabelled Content-Encoding gives). */
function zlibError(): unknown {
  try {
    gunzipSync(Buffer.from('%PDF-1.4 not gzip at all'));
  } catch (err) {
    return err;
  }
  throw new Error('gunzip accepted non-gzip bytes');
}

describe('isRetryable', () => {
  const cases: [string, unknown, boolean][] = [
    ['PermanentError', new PermanentError('X', 'x'), false],
    ['TransientError', new TransientError('X', 'x'), true],
    ['HTTP 503 from a client library', Object.assign(new Error('unavailable'), { code: 503 }), true],
    ['HTTP 429', Object.assign(new Error('slow down'), { code: 429 }), true],
    ['HTTP 404', Object.assign(new Error('not found'), { code: 404 }), false],
    ['HTTP 412', Object.assign(new Error('precondition'), { code: 412 }), false],
    ['gRPC UNAVAILABLE (14)', Object.assign(new Error('unavailable'), { code: 14 }), true],
    ['gRPC INVALID_ARGUMENT (3)', Object.assign(new Error('bad'), { code: 3 }), false],
    ['gRPC ABORTED (10), transaction contention', Object.assign(new Error('aborted'), { code: 10 }), true],
    ['connection reset', Object.assign(new Error('reset'), { code: 'ECONNRESET' }), true],
    ['an unknown error (retried up to the attempt cap)', new Error('surprise'), true],
    ['HttpError 400', new HttpError(400, 'BAD', 'bad'), false],
    ['HttpError 502', new HttpError(502, 'BAD_GATEWAY', 'bad'), true],
    ['a schema violation (ZodError) in stored data', z.object({ a: z.string() }).safeParse({ a: 1 }).error, false],
    ['a decompression failure ("incorrect header check")', zlibError(), false],
  ];
  for (const [name, err, expected] of cases) it(`classifies ${name} as ${expected ? 'transient' : 'permanent'}`, () => assert.equal(isRetryable(err), expected));
});

describe('toJobError', () => {
  it('records a decompression failure as permanent corrupt input', () => {
    const e = toJobError(zlibError());
    assert.equal(e.code, 'INPUT_CORRUPT');
    assert.equal(e.retryable, false);
  });
  it('keeps our codes and messages', () => {
    assert.deepEqual(toJobError(new PermanentError('PDF_ENCRYPTED', 'needs a password')), { code: 'PDF_ENCRYPTED', message: 'needs a password', retryable: false });
  });
  it('wraps foreign errors as INTERNAL with their classification', () => {
    assert.deepEqual(toJobError(Object.assign(new Error('down'), { code: 14 })), { code: 'INTERNAL', message: 'down', retryable: true });
  });
});
