import { Throttle } from '../../shared/engines/throttle.js';

/**
 * A limiter for engine tests against the fake servers: no rate limit worth the name, and quota
 * refusals retried twice after a millisecond or two (production waits seconds, see DEFAULT_RETRY),
 * so a refusal every time ends in ENGINE_THROTTLED after three requests.
 */
export function fastThrottle(engine = 'test'): Throttle {
  return new Throttle(engine, { concurrency: 64, ratePerSecond: 10_000, burst: 1_000 }, { baseDelayMs: 1, maxDelayMs: 2, maxRetries: 2, maxWaitMs: 5_000 });
}
