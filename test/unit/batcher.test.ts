/** The micro-batcher under the API's reads and account lookups (shared/batcher.ts). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { createBatcher } from '../../shared/batcher.js';

function recording(answer: (key: string) => string | Error = (k) => `v:${k}`) {
  const calls: string[][] = [];
  const batcher = createBatcher<string, string>(
    (keys) => {
      calls.push([...keys]);
      return Promise.resolve(new Map(keys.map((k) => [k, answer(k)])));
    },
    { maxBatch: 3 },
  );
  return { batcher, calls };
}

describe('createBatcher', () => {
  it('lookups of one turn go out in one call, in the order asked; the same key once', async () => {
    const { batcher, calls } = recording();
    const out = await Promise.all([batcher.load('a'), batcher.load('b'), batcher.load('a')]);
    assert.deepEqual(out, ['v:a', 'v:b', 'v:a']);
    assert.deepEqual(calls, [['a', 'b']]);
    assert.deepEqual(batcher.stats, { loads: 3, batches: 1 });
  });

  it('splits past maxBatch', async () => {
    const { batcher, calls } = recording();
    await Promise.all(['a', 'b', 'c', 'd', 'e'].map((k) => batcher.load(k)));
    assert.deepEqual(calls, [['a', 'b', 'c'], ['d', 'e']]);
  });

  it('a lookup asked after a batch left goes in the next one: never answered from an earlier call', async () => {
    const { batcher, calls } = recording();
    const first = batcher.load('a');
    await nextTurn();
    const second = batcher.load('a');
    assert.deepEqual(await Promise.all([first, second]), ['v:a', 'v:a']);
    assert.deepEqual(calls, [['a'], ['a']]);
  });

  it('an Error for one key fails that lookup only; a key left out fails with a clear message', async () => {
    const calls: string[][] = [];
    const batcher = createBatcher<string, string>(
      (keys) => {
        calls.push([...keys]);
        return Promise.resolve(new Map<string, string | Error>([['ok', 'fine'], ['bad', new Error('bad key')]]));
      },
      { maxBatch: 10 },
    );
    const [ok, bad, missing] = await Promise.allSettled([batcher.load('ok'), batcher.load('bad'), batcher.load('gone')]);
    assert.deepEqual(ok, { status: 'fulfilled', value: 'fine' });
    assert.equal(bad.status === 'rejected' && (bad.reason as Error).message, 'bad key');
    assert.match(missing.status === 'rejected' ? (missing.reason as Error).message : '', /no answer for gone/);
  });

  it('a failed call fails every lookup of its batch with its error, and the next batch works', async () => {
    let fail = true;
    const batcher = createBatcher<string, string>(
      (keys) => {
        if (fail) return Promise.reject(new Error('UNAVAILABLE'));
        return Promise.resolve(new Map(keys.map((k) => [k, k])));
      },
      { maxBatch: 10 },
    );
    const settled = await Promise.allSettled([batcher.load('a'), batcher.load('b')]);
    assert.deepEqual(settled.map((s) => s.status === 'rejected' && (s.reason as Error).message), ['UNAVAILABLE', 'UNAVAILABLE']);
    fail = false;
    assert.equal(await batcher.load('a'), 'a');
  });
});
