/**
 * Per-principal rate limits: a token bucket per key (a user, an API key, or an address whose
 * credentials keep failing), held in the memory of one function instance.
 *
 * Why in memory: a shared counter (a Firestore document per principal) would cost a write per
 * request and Firestore sustains about one write per second per document, far below the rates
 * being limited. The price is that the limit holds per instance: with `max_instance_count` N,
 * a principal can get at most N × the rate overall (terraform bounds N). A global limit belongs in
 * front of the functions (Cloud Armor rate-based rules or API Gateway quotas), documented in the
 * README; this one protects each instance and answers 429 with Retry-After either way.
 */

export interface RateLimit {
  /** Sustained requests per minute. */
  readonly perMinute: number;
  /** Requests allowed at once from a full bucket. */
  readonly burst: number;
}

export type RateDecision = { readonly allowed: true; readonly remaining: number } | { readonly allowed: false; readonly retryAfterSeconds: number };

interface Bucket {
  tokens: number;
  at: number;
}

/** Buckets kept at most: the least recently used are dropped first (a dropped bucket is a full one). */
const MAX_KEYS = 10_000;

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly limit: RateLimit,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Takes one token for `key` (`cost` tokens), or says how long until one is there. */
  take(key: string, cost = 1): RateDecision {
    const now = this.clock();
    const perMs = this.limit.perMinute / 60_000;
    const prior = this.buckets.get(key);
    const bucket: Bucket = prior ? { tokens: Math.min(this.limit.burst, prior.tokens + (now - prior.at) * perMs), at: now } : { tokens: this.limit.burst, at: now };
    // Re-insert: Map iteration order is insertion order, so the first key is the least recently used.
    this.buckets.delete(key);
    this.buckets.set(key, bucket);
    if (this.buckets.size > MAX_KEYS) {
      const oldest = this.buckets.keys().next().value;
      if (oldest !== undefined) this.buckets.delete(oldest);
    }
    if (bucket.tokens >= cost) {
      bucket.tokens -= cost;
      return { allowed: true, remaining: Math.floor(bucket.tokens) };
    }
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((cost - bucket.tokens) / perMs / 1000)) };
  }

  /** Whether `key` has a token left, without taking one. */
  peek(key: string): boolean {
    const prior = this.buckets.get(key);
    if (!prior) return true;
    return Math.min(this.limit.burst, prior.tokens + (this.clock() - prior.at) * (this.limit.perMinute / 60_000)) >= 1;
  }
}
