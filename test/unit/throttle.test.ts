import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { backoffDelay, DEFAULT_LIMITS, ENGINE_NAMES, isQuotaError, isThrottled, limitsFor, parseEngineLimits, quotaBudgetProblems, Semaphore, Throttle, ThrottledError, TokenBucket } from '../../shared/engines/throttle.js';
import { PermanentError, TransientError } from '../../shared/errors/index.js';
import { topology } from '../../shared/topology.js';

/** A gRPC-style quota refusal, as the client libraries throw it. */
const exhausted = (): Error => Object.assign(new Error('8 RESOURCE_EXHAUSTED: quota'), { code: 8 });

describe('backoffDelay (full jitter)', () => {
  it('stays within [0, min(max, base × 2^attempt)] and spans it', () => {
    const policy = { baseDelayMs: 100, maxDelayMs: 1000 };
    for (const [attempt, ceiling] of [[0, 100], [1, 200], [3, 800], [4, 1000], [10, 1000]] as const) {
      assert.equal(backoffDelay(attempt, policy, () => 0), 0);
      assert.equal(backoffDelay(attempt, policy, () => 0.999999), ceiling - 1);
      assert.equal(backoffDelay(attempt, policy, () => 0.5), ceiling / 2);
    }
  });
});

describe('TokenBucket', () => {
  it('lets a burst through, then spaces requests at the rate, in order', () => {
    let now = 0;
    const bucket = new TokenBucket(10, 2, () => now);
    assert.equal(bucket.reserve(), 0);
    assert.equal(bucket.reserve(), 0);
    // Third and fourth: one token every 100 ms.
    assert.equal(Math.round(bucket.reserve()), 100);
    assert.equal(Math.round(bucket.reserve()), 200);
    now = 1000;
    // A quiet second refills to the burst, not beyond.
    assert.equal(bucket.reserve(), 0);
    assert.equal(bucket.reserve(), 0);
    assert.equal(Math.round(bucket.reserve()), 100);
  });

  it('holds every request after a refusal for the backoff', () => {
    let now = 0;
    const bucket = new TokenBucket(100, 5, () => now);
    bucket.hold(500);
    assert.equal(Math.round(bucket.reserve()), 500);
    now = 600;
    assert.equal(bucket.reserve(), 0);
  });

  it('refuses a rate that is not positive', () => {
    assert.throws(() => new TokenBucket(0, 1));
  });
});

describe('Semaphore', () => {
  it('admits at most `size` at once, first come first served', async () => {
    const sem = new Semaphore(2);
    const order: number[] = [];
    const a = await sem.acquire();
    const b = await sem.acquire();
    const waiting = [sem.acquire().then((r) => (order.push(3), r)), sem.acquire().then((r) => (order.push(4), r))];
    assert.equal(sem.inFlight, 2);
    assert.equal(sem.queued, 2);
    a();
    a(); // a second release of the same slot is ignored
    const c = await waiting[0];
    assert.deepEqual(order, [3]);
    b();
    const d = await waiting[1];
    assert.deepEqual(order, [3, 4]);
    c?.();
    d?.();
    assert.equal(sem.inFlight, 0);
  });

  it('drops a waiter whose signal aborts', async () => {
    const sem = new Semaphore(1);
    const held = await sem.acquire();
    const ac = new AbortController();
    const waiting = sem.acquire(ac.signal);
    ac.abort(new Error('stop'));
    await assert.rejects(waiting, /stop/);
    assert.equal(sem.queued, 0);
    held();
    assert.equal(sem.inFlight, 0);
  });
});

describe('quota classification', () => {
  it('knows 429 and RESOURCE_EXHAUSTED, and nothing else', () => {
    assert.equal(isQuotaError(exhausted()), true);
    assert.equal(isQuotaError(Object.assign(new Error('x'), { status: 429 })), true);
    assert.equal(isQuotaError(Object.assign(new Error('x'), { response: { status: 429 } })), true);
    assert.equal(isQuotaError(Object.assign(new Error('x'), { code: 14 })), false);
    assert.equal(isQuotaError(Object.assign(new Error('x'), { status: 503 })), false);
    assert.equal(isQuotaError(new TransientError('ENGINE_UNAVAILABLE', 'x')), false);
  });

  it('recognises a throttled failure through wrapping', () => {
    const t = new ThrottledError('documentai', 3);
    assert.equal(isThrottled(t), true);
    assert.equal(isThrottled(new TransientError('ENGINE_FAILED', 'wrapped', t)), true);
    assert.equal(isThrottled(new TransientError('ENGINE_FAILED', 'x')), false);
    assert.equal(t.retryable, true);
  });
});

describe('Throttle.run', () => {
  const fast = { baseDelayMs: 1, maxDelayMs: 4, maxRetries: 3, maxWaitMs: 10_000 };

  it('retries quota refusals and returns the success, counting them', async () => {
    const throttle = new Throttle('test', { concurrency: 1, ratePerSecond: 1000, burst: 10 }, fast);
    let calls = 0;
    const value = await throttle.run(() => (++calls <= 2 ? Promise.reject(exhausted()) : Promise.resolve('ok')));
    assert.equal(value, 'ok');
    assert.equal(calls, 3);
    assert.equal(throttle.counters.quotaRefusals, 2);
    assert.equal(throttle.counters.throttledCalls, 0);
  });

  it('gives up after maxRetries with ENGINE_THROTTLED', async () => {
    const throttle = new Throttle('test', { concurrency: 1, ratePerSecond: 1000, burst: 10 }, fast);
    let calls = 0;
    await assert.rejects(
      throttle.run(() => (calls++, Promise.reject(exhausted()))),
      (err: unknown) => err instanceof ThrottledError && err.code === 'ENGINE_THROTTLED' && err.refusals === 4,
    );
    assert.equal(calls, 4);
  });

  it('gives up when the next backoff would pass maxWaitMs', async () => {
    const throttle = new Throttle('test', { concurrency: 1, ratePerSecond: 1000, burst: 10 }, { baseDelayMs: 1000, maxDelayMs: 1000, maxRetries: 100, maxWaitMs: 500 }, () => 0.9);
    let calls = 0;
    await assert.rejects(throttle.run(() => (calls++, Promise.reject(exhausted()))), ThrottledError);
    assert.equal(calls, 1);
  });

  it('passes other failures through at once', async () => {
    const throttle = new Throttle('test', { concurrency: 1, ratePerSecond: 1000, burst: 10 }, fast);
    let calls = 0;
    await assert.rejects(throttle.run(() => (calls++, Promise.reject(new PermanentError('INPUT_CORRUPT', 'bad')))), PermanentError);
    assert.equal(calls, 1);
  });

  it('keeps concurrency and rate within the limits', async () => {
    const throttle = new Throttle('test', { concurrency: 2, ratePerSecond: 50, burst: 1 }, fast);
    let inFlight = 0;
    let most = 0;
    const starts: number[] = [];
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: 10 }, () =>
        throttle.run(async () => {
          starts.push(performance.now() - t0);
          inFlight++;
          most = Math.max(most, inFlight);
          await new Promise((r) => setTimeout(r, 5));
          inFlight--;
        }),
      ),
    );
    assert.ok(most <= 2, `at most 2 in flight, saw ${most}`);
    // 10 requests at 50/s with a burst of 1: the last starts no earlier than ~180 ms.
    const last = Math.max(...starts);
    assert.ok(last >= 170, `the 10th request started at ${last.toFixed(0)} ms`);
  });
});

describe('limits and quotas', () => {
  it('parses overrides and refuses bad ones', () => {
    assert.deepEqual(parseEngineLimits(undefined), {});
    assert.deepEqual(parseEngineLimits('{"documentai":{"ratePerSecond":2}}'), { documentai: { ratePerSecond: 2 } });
    assert.equal(limitsFor('documentai', parseEngineLimits('{"documentai":{"ratePerSecond":2}}')).ratePerSecond, 2);
    assert.equal(limitsFor('documentai').ratePerSecond, DEFAULT_LIMITS.documentai.ratePerSecond);
    assert.throws(() => parseEngineLimits('{"nope":{}}'), /SCRIPTORIUM_ENGINE_LIMITS is invalid/);
    assert.throws(() => parseEngineLimits('{"documentai":{"ratePerSecond":-1}}'), /invalid/);
    assert.throws(() => parseEngineLimits('not json'), /must be JSON/);
  });

  it('keeps maxInstances × per-instance rate under every engine quota for the topology as declared', () => {
    assert.deepEqual(quotaBudgetProblems(topology.functions), []);
  });

  it('reports a topology whose instances would exceed a quota', () => {
    const more = topology.functions.map((f) => (f.name === 'ocr' ? { ...f, maxInstances: 100 } : f));
    const problems = quotaBudgetProblems(more);
    assert.equal(problems.length, 1);
    assert.match(problems[0] ?? '', /^documentai: ocr may send 5400 requests\/min, over the default quota of 600\/min/);
    assert.ok(ENGINE_NAMES.length >= 5);
  });
});
