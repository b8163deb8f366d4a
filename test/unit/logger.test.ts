import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger, sink } from '../../shared/logger/index.js';
import { PermanentError } from '../../shared/errors/index.js';

describe('logger', () => {
  const original = sink.write;
  afterEach(() => {
    sink.write = original;
  });

  it('writes one Cloud Logging JSON line with severity, message and merged fields', () => {
    const lines: string[] = [];
    sink.write = (l) => void lines.push(l);
    createLogger({ function: 'ocr' }).child({ jobId: 'j1' }).warn('slow page', { page: 3, err: new PermanentError('X', 'boom') });
    assert.equal(lines.length, 1);
    const entry = JSON.parse(lines[0] ?? '') as Record<string, unknown>;
    assert.equal(entry.severity, 'WARNING');
    assert.equal(entry.message, 'slow page');
    assert.equal(entry.function, 'ocr');
    assert.equal(entry.jobId, 'j1');
    assert.equal(entry.page, 3);
    assert.deepEqual((entry.err as Record<string, unknown>).code, 'X');
  });
});
