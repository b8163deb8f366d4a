/** The pieces both embedding engines share: vector hygiene, the shared lazy load, console redirection. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { TransientError } from '../../shared/errors/index.js';
import { sink } from '../../shared/logger/index.js';
import { abortable, cosineSimilarity, lazyLoad, quietConsole, unitVector, wellFormed } from '../../shared/engines/embeddings/common.js';

describe('unitVector', () => {
  test('scales to unit norm', () => {
    assert.deepEqual(unitVector([3, 4]), [0.6, 0.8]);
    assert.deepEqual(unitVector(new Float32Array([0, 2])), [0, 1]);
  });

  test('refuses what cannot be a direction: empty, all-zero, NaN, infinite', () => {
    assert.equal(unitVector([]), undefined);
    assert.equal(unitVector([0, 0, 0]), undefined);
    assert.equal(unitVector([1, Number.NaN]), undefined);
    assert.equal(unitVector([1, Number.POSITIVE_INFINITY]), undefined);
    assert.equal(unitVector([1e-300, 1e-300]), undefined);
  });
});

test('cosineSimilarity', () => {
  assert.equal(cosineSimilarity([1, 0], [0, 1]), 0);
  assert.ok(Math.abs(cosineSimilarity([1, 1], [2, 2]) - 1) < 1e-12);
  assert.equal(cosineSimilarity([0, 0], [1, 1]), 0);
  assert.throws(() => cosineSimilarity([1], [1, 2]), /different lengths/);
});

test('wellFormed replaces unpaired surrogates only', () => {
  assert.equal(wellFormed('a\uD800b\uDC00c😀'), 'a\uFFFDb\uFFFDc😀');
  assert.equal(wellFormed('😀\uD83D'), '😀\uFFFD');
});

describe('lazyLoad', () => {
  test('one load for concurrent callers; nothing before the first get', async () => {
    let calls = 0;
    const lazy = lazyLoad(async () => {
      calls++;
      await new Promise((r) => setTimeout(r, 10));
      return { model: calls };
    });
    assert.equal(lazy.attempts, 0);
    assert.equal(lazy.peek(), undefined);
    const [a, b] = await Promise.all([lazy.get(), lazy.get()]);
    assert.equal(a, b);
    assert.equal(calls, 1);
    assert.equal(await lazy.get(), a);
    assert.equal(lazy.peek(), a);
    assert.equal(lazy.attempts, 1);
  });

  test('a failed load is retried by the next call (and both waiting callers see the failure)', async () => {
    let calls = 0;
    const lazy = lazyLoad(async () => {
      calls++;
      await new Promise((r) => setTimeout(r, 5));
      if (calls === 1) throw new Error('disk hiccup');
      return 'loaded';
    });
    const results = await Promise.allSettled([lazy.get(), lazy.get()]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['rejected', 'rejected'],
    );
    assert.equal(await lazy.get(), 'loaded');
    assert.equal(calls, 2);
    assert.equal(lazy.attempts, 2);
  });

  test('a loader that throws synchronously rejects (and is retried)', async () => {
    let calls = 0;
    const lazy = lazyLoad((): Promise<number> => {
      calls++;
      if (calls === 1) throw new Error('sync');
      return Promise.resolve(7);
    });
    await assert.rejects(lazy.get(), /sync/);
    assert.equal(await lazy.get(), 7);
  });
});

describe('abortable', () => {
  test('rejects with a TransientError when the signal aborts first; the result otherwise', async () => {
    const controller = new AbortController();
    const slow = new Promise<string>((r) => setTimeout(() => r('late'), 200));
    const pending = abortable(slow, controller.signal);
    controller.abort(new Error('stop'));
    await assert.rejects(pending, (err) => err instanceof TransientError && /stop/.test(err.message));
    assert.equal(await abortable(Promise.resolve('now'), new AbortController().signal), 'now');
    await assert.rejects(abortable(Promise.resolve('x'), AbortSignal.abort()), TransientError);
  });
});

describe('quietConsole', () => {
  test('turns console output into JSON log lines, nested and concurrent, and restores console after', async () => {
    const lines: Record<string, unknown>[] = [];
    const originalWrite = sink.write;
    const originalLog = console.log;
    const originalWarn = console.warn;
    sink.write = (line) => void lines.push(JSON.parse(line) as Record<string, unknown>);
    try {
      await Promise.all([
        quietConsole('lib-a', async () => {
          console.log('hello', { a: 1 });
          await new Promise((r) => setTimeout(r, 20));
          console.warn('Platform node has already been set.');
        }),
        quietConsole('lib-b', async () => {
          await new Promise((r) => setTimeout(r, 5));
          await quietConsole('lib-c', () => {
            console.debug('nested');
            return Promise.resolve();
          });
        }),
      ]);
      await assert.rejects(
        quietConsole('lib-d', () => Promise.reject(new Error('load failed'))),
        /load failed/,
      );
    } finally {
      sink.write = originalWrite;
    }
    assert.equal(console.log, originalLog, 'console.log restored');
    assert.equal(console.warn, originalWarn, 'console.warn restored');
    assert.deepEqual(
      lines.map((l) => [l.severity, l.message, l.console]),
      [
        ['DEBUG', 'hello {"a":1}', 'log'],
        ['DEBUG', 'nested', 'debug'],
        ['WARNING', 'Platform node has already been set.', 'warn'],
      ],
    );
  });
});
