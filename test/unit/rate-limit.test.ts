/** Per-principal rate limits: the token bucket, and the API's 429 with Retry-After. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { handleApi, type ApiDeps } from '../../functions/api/handler.js';
import { HttpError } from '../../shared/errors/index.js';
import { RateLimiter } from '../../shared/http/rate-limit.js';

void describe('RateLimiter', () => {
  void it('allows a burst, then refills at the sustained rate', () => {
    let now = 0;
    const rl = new RateLimiter({ perMinute: 60, burst: 3 }, () => now);
    assert.deepEqual([1, 2, 3].map(() => rl.take('a').allowed), [true, true, true]);
    const refused = rl.take('a');
    assert.equal(refused.allowed, false);
    assert.equal(!refused.allowed && refused.retryAfterSeconds, 1);
    // Another key has its own bucket.
    assert.equal(rl.take('b').allowed, true);
    now += 1000;
    assert.equal(rl.take('a').allowed, true);
    assert.equal(rl.take('a').allowed, false);
    // Never more than the burst, however long the pause.
    now += 3_600_000;
    assert.deepEqual([1, 2, 3, 4].map(() => rl.take('a').allowed), [true, true, true, false]);
  });

  void it('says how long until the next token at slow rates', () => {
    let now = 0;
    const rl = new RateLimiter({ perMinute: 2, burst: 1 }, () => now);
    assert.equal(rl.take('k').allowed, true);
    const d = rl.take('k');
    assert.equal(!d.allowed && d.retryAfterSeconds, 30);
    now += 29_000;
    assert.equal(rl.peek('k'), false);
    now += 1_000;
    assert.equal(rl.peek('k'), true);
  });
});

void describe('API rate limits', () => {
  const deps = (verify: (a: string | undefined) => Promise<{ uid: string; email: null }>, perMinute: number, burst: number, failures: number): ApiDeps =>
    ({
      config: { GOOGLE_CLOUD_PROJECT: 'p', SCRIPTORIUM_BUCKET: 'b', SCRIPTORIUM_RATE_LIMIT_PER_MINUTE: perMinute, SCRIPTORIUM_RATE_LIMIT_BURST: burst, SCRIPTORIUM_AUTH_FAILURES_PER_MINUTE: failures },
      verifier: { verify },
      projects: { roleOf: () => Promise.resolve(null) },
      jobs: { get: () => Promise.resolve(null) },
      log: { error: () => undefined, info: () => undefined, warn: () => undefined },
    }) as unknown as ApiDeps;
  const get = (d: ApiDeps, ip: string, auth = 'Bearer t') => handleApi({ method: 'GET', path: '/v1/jobs/job_0123456789abcdef0123', headers: { authorization: auth }, clientIp: ip, readBody: () => Promise.resolve(undefined) }, d);

  void it('answers 429 RATE_LIMITED with Retry-After once a principal has used its burst', async () => {
    const d = deps(() => Promise.resolve({ uid: 'user1', email: null }), 7, 2, 50);
    assert.equal((await get(d, '10.0.0.1')).status, 404);
    assert.equal((await get(d, '10.0.0.2')).status, 404);
    const limited = await get(d, '10.0.0.3');
    assert.equal(limited.status, 429);
    assert.equal((limited.body as { code: string }).code, 'RATE_LIMITED');
    assert.equal(limited.headers?.['retry-after'], '9');
    assert.match(limited.headers?.['content-type'] ?? '', /^application\/problem\+json/);
  });

  void it('throttles an address that keeps presenting refused credentials, not others', async () => {
    let calls = 0;
    const d = deps((a) => {
      calls += 1;
      return a === 'Bearer good' ? Promise.resolve({ uid: 'user2', email: null }) : Promise.reject(new HttpError(401, 'UNAUTHENTICATED', 'the ID token was refused (invalid)'));
    }, 600, 100, 3);
    for (let i = 0; i < 3; i += 1) assert.equal((await get(d, '10.9.9.9', 'Bearer guess')).status, 401);
    const before = calls;
    const refused = await get(d, '10.9.9.9', 'Bearer guess');
    assert.equal(refused.status, 429);
    assert.equal(calls, before, 'the token is not even verified');
    assert.equal((await get(d, '10.8.8.8', 'Bearer good')).status, 404);
  });
});
