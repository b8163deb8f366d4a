/**
 * Per-engine throttling inside one function instance: a semaphore (requests in flight) and a token
 * bucket (requests per second) per Google engine, and a retry of quota refusals (HTTP 429, gRPC
 * RESOURCE_EXHAUSTED) with exponential backoff and full jitter, bounded in count and in time.
 *
 * Why here and not (only) in Pub/Sub: a burst of uploads fans out to `maxInstances` instances, each
 * working on its own document; without a limit each sends as fast as the engine answers, the
 * project's quota refuses most of them, and every refusal used to cost a stage attempt. With it,
 * `maxInstances × ratePerSecond` is at most the project's quota (see {@link ENGINE_QUOTAS} and
 * {@link quotaBudgetProblems}, checked by a unit test against the topology), so a burst is queued
 * inside the instances instead of being refused; a refusal that still happens (another client of
 * the same project, a lowered quota) holds the whole bucket for the backoff, so the instance's other
 * callers wait too instead of adding to the storm.
 *
 * When the retries are used up the call fails with {@link ThrottledError} (a TransientError with code
 * ENGINE_THROTTLED): the stage runner ends the attempt without counting it as a failed one (see
 * `shared/stages/runner.ts` and {@link MAX_THROTTLED_ATTEMPTS}).
 *
 * Limits are per engine name and per process; defaults are below, overridable with
 * `SCRIPTORIUM_ENGINE_LIMITS` (JSON, e.g. `{"documentai":{"ratePerSecond":2,"concurrency":1}}`).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { ScriptoriumError, TransientError } from '../errors/index.js';

export const ENGINE_NAMES = ['documentai', 'speech', 'tts', 'vertex-embeddings', 'gemini'] as const;
export type EngineName = (typeof ENGINE_NAMES)[number];

export function isEngineName(value: string): value is EngineName {
  return (ENGINE_NAMES as readonly string[]).includes(value);
}

export interface EngineLimits {
  /** Requests in flight at once, per instance. */
  readonly concurrency: number;
  /** Sustained requests per second, per instance. */
  readonly ratePerSecond: number;
  /** Requests that may go at once after a quiet spell (the bucket's size). */
  readonly burst: number;
}

export interface RetryPolicy {
  /** First backoff ceiling; doubled per refusal up to `maxDelayMs`; the wait is uniform in [0, ceiling] (full jitter). */
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /** Quota refusals retried within one call before it fails as ENGINE_THROTTLED. */
  readonly maxRetries: number;
  /** And never longer than this in total waiting within one call (it must end well inside the stage's lease and the function's timeout). */
  readonly maxWaitMs: number;
}

/**
 * A project's default quota for one engine and who shares it. Quotas are per project (and region),
 * shared by every instance of every function that calls the engine.
 */
export interface EngineQuota {
  /** Requests per minute per project (per region), Google's default. */
  readonly requestsPerMinute: number;
  /** Where the number comes from. */
  readonly source: string;
  /** The functions (topology names) whose instances call this engine. */
  readonly functions: readonly string[];
}

/**
 * Google's default quotas, as their quota pages state them (read 2025); a project with a raised quota
 * raises the limits with SCRIPTORIUM_ENGINE_LIMITS.
 */
export const ENGINE_QUOTAS: Readonly<Record<EngineName, EngineQuota>> = {
  // "Online requests per minute: 600 per project" (and 1,800 requests per minute per user).
  documentai: { requestsPerMinute: 600, source: 'https://cloud.google.com/document-ai/quotas', functions: ['ocr'] },
  // Speech-to-Text v2: requests per minute per region (Recognize, BatchRecognize and operation polls
  // all count). 900 is the v1 figure "requests per 60 seconds" kept as the conservative default.
  speech: { requestsPerMinute: 900, source: 'https://cloud.google.com/speech-to-text/v2/quotas', functions: ['transcribe'] },
  // "Requests per minute: 1,000" (Neural2 1,000, Studio 500, Chirp 3 200 per minute per project).
  tts: { requestsPerMinute: 1000, source: 'https://cloud.google.com/text-to-speech/quotas', functions: ['synthesize', 'dub'] },
  // Text embeddings: "online prediction requests per base model per minute per region" 1,500 for the
  // text-embedding models on the standard quota system (gemini-embedding-001 is limited by 5,000,000
  // input tokens per minute instead). Chunks of ≤200 tokens in batches of 32 stay far under that.
  'vertex-embeddings': { requestsPerMinute: 1500, source: 'https://cloud.google.com/vertex-ai/generative-ai/docs/quotas', functions: ['embed', 'api'] },
  // Gemini 2.x runs on dynamic shared quota (no per-project number): this is our own ceiling, so a
  // burst of summaries cannot become a storm of 429s on the shared pool.
  gemini: { requestsPerMinute: 300, source: 'https://cloud.google.com/vertex-ai/generative-ai/docs/dynamic-shared-quota', functions: ['summarize'] },
};

/**
 * Per-instance defaults. With every function at 10 instances (topology, terraform
 * `var.max_instances`), instances × ratePerSecond × 60 stays under each quota:
 * documentai 10 × 0.9/s = 540/min ≤ 600; speech 10 × 1.4/s = 840/min ≤ 900; tts 10 × 1.5/s = 900/min
 * ≤ 1,000; vertex-embeddings (embed 10 × 1.5/s + api 10 × 0.9/s) = 1,440/min ≤ 1,500; gemini 10 × 0.45/s
 * = 270/min ≤ 300.
 */
export const DEFAULT_LIMITS: Readonly<Record<EngineName, EngineLimits>> = {
  documentai: { concurrency: 2, ratePerSecond: 0.9, burst: 2 },
  speech: { concurrency: 2, ratePerSecond: 1.4, burst: 2 },
  tts: { concurrency: 2, ratePerSecond: 1.5, burst: 2 },
  'vertex-embeddings': { concurrency: 2, ratePerSecond: 1.5, burst: 3 },
  gemini: { concurrency: 2, ratePerSecond: 0.45, burst: 2 },
};

/** Per-function share of an engine's default rate where two functions share its quota: the API's query embeddings get 0.6 × 1.5/s = 0.9/s per instance. */
export const RATE_SHARE: Readonly<Partial<Record<string, Partial<Record<EngineName, number>>>>> = {
  api: { 'vertex-embeddings': 0.6 },
};

export const DEFAULT_RETRY: RetryPolicy = { baseDelayMs: 1000, maxDelayMs: 32_000, maxRetries: 6, maxWaitMs: 120_000 };

/**
 * Throttled attempts of one stage that do not count as failed attempts. Beyond it they count like
 * any transient failure, so the attempt cap (SCRIPTORIUM_MAX_ATTEMPTS) still ends a job whose engine
 * refuses it for good: each throttled attempt already waited up to {@link DEFAULT_RETRY}.maxWaitMs
 * plus Pub/Sub's redelivery backoff (10–600 s), so 10 of them is at least 20 minutes of refusals.
 * In production the subscription's dead-letter policy (5 deliveries) is the outer bound.
 */
export const MAX_THROTTLED_ATTEMPTS = 10;

export const ENGINE_THROTTLED = 'ENGINE_THROTTLED';

/** A call still refused for quota after its retries: transient, and not a failed attempt. */
export class ThrottledError extends TransientError {
  constructor(
    readonly engine: string,
    readonly refusals: number,
    cause?: unknown,
  ) {
    // The service's own words name the quota that ran out: keep them for the job's log.
    const said = cause instanceof Error && cause.message ? `: ${cause.message}` : '';
    super(ENGINE_THROTTLED, `${engine} refused ${refusals} request(s) for quota (429 / RESOURCE_EXHAUSTED); backing off${said}`, cause);
    this.name = 'ThrottledError';
  }
}

/** Whether a failure is (or wraps) a quota refusal that outlived the in-call retries. */
export function isThrottled(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 5; depth++) {
    if (e instanceof ScriptoriumError && e.code === ENGINE_THROTTLED) return true;
    e = e instanceof Error ? e.cause : undefined;
  }
  return false;
}

function field(err: unknown, key: string): unknown {
  return typeof err === 'object' && err !== null && key in err ? (err as Record<string, unknown>)[key] : undefined;
}

/** HTTP 429 or gRPC RESOURCE_EXHAUSTED (8), on the error itself or its HTTP response. */
export function isQuotaError(err: unknown): boolean {
  if (err instanceof ScriptoriumError) return false;
  const code = field(err, 'code');
  if (code === 8 || code === 429 || code === 'RESOURCE_EXHAUSTED') return true;
  const status = field(err, 'status') ?? field(field(err, 'response'), 'status');
  return status === 429 || status === 'RESOURCE_EXHAUSTED';
}

/** Full jitter: uniform in [0, min(max, base × 2^attempt)] (attempt 0 is the first retry). */
export function backoffDelay(attempt: number, policy: Pick<RetryPolicy, 'baseDelayMs' | 'maxDelayMs'>, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt));
  return Math.floor(random() * ceiling);
}

/**
 * A token bucket by reservation: each request takes a token now or the next one due, so waiters are
 * served in order and nobody polls. `hold(ms)` empties it for a while (after a quota refusal).
 */
export class TokenBucket {
  private tokens: number;
  private last: number;
  private heldUntil = 0;
  constructor(
    readonly ratePerSecond: number,
    readonly burst: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(ratePerSecond > 0) || !(burst >= 1)) throw new Error(`token bucket needs a positive rate and a burst ≥ 1 (got ${ratePerSecond}/s, ${burst})`);
    this.tokens = burst;
    this.last = now();
  }

  /** Takes a token; returns how many ms to wait before using it (0: go now). */
  reserve(): number {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.ratePerSecond);
    this.last = t;
    this.tokens -= 1;
    const fromTokens = this.tokens >= 0 ? 0 : (-this.tokens / this.ratePerSecond) * 1000;
    return Math.max(fromTokens, this.heldUntil - t);
  }

  /** No request goes before `ms` from now; the bucket refills from empty after that. */
  hold(ms: number): void {
    const t = this.now();
    if (t + ms <= this.heldUntil) return;
    this.heldUntil = t + ms;
    this.tokens = Math.min(this.tokens, 0);
  }
}

/** A FIFO counting semaphore. */
export class Semaphore {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(readonly size: number) {
    if (!(size >= 1)) throw new Error(`semaphore size must be ≥ 1 (got ${size})`);
  }

  get inFlight(): number {
    return this.active;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /** Resolves with a release function once a slot is free; rejects when `signal` aborts first. */
  async acquire(signal?: AbortSignal): Promise<() => void> {
    signal?.throwIfAborted();
    if (this.active < this.size) {
      this.active++;
      return this.releaser();
    }
    await new Promise<void>((resolve, reject) => {
      const go = (): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = (): void => {
        const i = this.waiting.indexOf(go);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
      };
      this.waiting.push(go);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    // The releaser handed the slot over: `active` already counts us.
    return this.releaser();
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    };
  }
}

export interface ThrottleStats {
  readonly calls: number;
  readonly quotaRefusals: number;
  readonly throttledCalls: number;
  /** Total ms callers waited for a slot or a token or a backoff. */
  readonly waitedMs: number;
}

/** One engine's limiter. */
export class Throttle {
  private readonly semaphore: Semaphore;
  private readonly bucket: TokenBucket;
  private stats = { calls: 0, quotaRefusals: 0, throttledCalls: 0, waitedMs: 0 };
  constructor(
    readonly engine: string,
    readonly limits: EngineLimits,
    readonly retry: RetryPolicy = DEFAULT_RETRY,
    private readonly random: () => number = Math.random,
  ) {
    this.semaphore = new Semaphore(Math.max(1, Math.floor(limits.concurrency)));
    this.bucket = new TokenBucket(limits.ratePerSecond, Math.max(1, limits.burst));
  }

  get counters(): ThrottleStats {
    return { ...this.stats };
  }

  /**
   * Runs `send` within the limits. A quota refusal is retried after a full-jitter backoff (during
   * which the whole engine's bucket is held) up to `retry.maxRetries` times or `retry.maxWaitMs`;
   * then {@link ThrottledError}. Any other failure is thrown as it is. Abortable at every wait.
   */
  async run<T>(send: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    this.stats.calls++;
    let waited = 0;
    for (let refusals = 0; ; ) {
      const started = performance.now();
      const release = await this.semaphore.acquire(signal);
      let result: { value: T } | undefined;
      let refusal: unknown;
      try {
        const wait = this.bucket.reserve();
        if (wait > 0) await sleep(wait, undefined, signal ? { signal } : undefined);
        waited += performance.now() - started;
        result = { value: await send() };
      } catch (err) {
        if (!isQuotaError(err)) throw err;
        refusal = err;
      } finally {
        release();
      }
      if (result) {
        this.stats.waitedMs += waited;
        return result.value;
      }
      refusals++;
      this.stats.quotaRefusals++;
      const delay = backoffDelay(refusals - 1, this.retry, this.random);
      if (refusals > this.retry.maxRetries || waited + delay > this.retry.maxWaitMs) {
        this.stats.throttledCalls++;
        this.stats.waitedMs += waited;
        throw new ThrottledError(this.engine, refusals, refusal);
      }
      // Everyone in this instance waits out the backoff, not only this caller: a refusal means the
      // project is over its quota right now.
      this.bucket.hold(delay);
      const before = performance.now();
      await sleep(delay, undefined, signal ? { signal } : undefined);
      waited += performance.now() - before;
    }
  }
}

const LimitsOverride = z.partialRecord(
  z.enum(ENGINE_NAMES),
  z.object({ concurrency: z.number().int().min(1).max(1000).optional(), ratePerSecond: z.number().positive().max(100_000).optional(), burst: z.number().int().min(1).max(10_000).optional() }).strict(),
);
export type LimitsOverride = z.infer<typeof LimitsOverride>;

/** Parses `SCRIPTORIUM_ENGINE_LIMITS` (JSON); throws a clear Error when it is not valid. */
export function parseEngineLimits(raw: string | undefined): LimitsOverride {
  if (raw === undefined || raw.trim() === '') return {};
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new Error('SCRIPTORIUM_ENGINE_LIMITS must be JSON, e.g. {"documentai":{"ratePerSecond":2}}');
  }
  const parsed = LimitsOverride.safeParse(json);
  if (!parsed.success) throw new Error(`SCRIPTORIUM_ENGINE_LIMITS is invalid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return parsed.data;
}

/** The limits an engine runs with in a function: defaults, the function's share, then overrides. */
export function limitsFor(engine: EngineName, override: LimitsOverride = {}, functionName?: string): EngineLimits {
  const base = DEFAULT_LIMITS[engine];
  const share = (functionName ? RATE_SHARE[functionName]?.[engine] : undefined) ?? 1;
  const mine = override[engine] ?? {};
  return {
    concurrency: mine.concurrency ?? base.concurrency,
    ratePerSecond: mine.ratePerSecond ?? base.ratePerSecond * share,
    burst: mine.burst ?? base.burst,
  };
}

const registry = new Map<EngineName, Throttle>();

/**
 * The process's limiter for `engine`, created on first use from the defaults and
 * `SCRIPTORIUM_ENGINE_LIMITS` (read then, validated; `K_SERVICE` names the function on Cloud Run).
 */
export function engineThrottle(engine: EngineName, env: NodeJS.ProcessEnv = process.env): Throttle {
  let t = registry.get(engine);
  if (!t) {
    t = new Throttle(engine, limitsFor(engine, parseEngineLimits(env.SCRIPTORIUM_ENGINE_LIMITS), env.K_SERVICE ?? env.FUNCTION_TARGET));
    registry.set(engine, t);
  }
  return t;
}

/** A function's instance count and per-instance concurrency, as the topology declares them. */
export interface FunctionScale {
  readonly name: string;
  readonly maxInstances?: number;
}

/**
 * Where the defaults would let a function's instances together exceed an engine's project quota:
 * Σ over the engine's functions of maxInstances × ratePerSecond × 60 must be ≤ requestsPerMinute.
 */
export function quotaBudgetProblems(functions: readonly FunctionScale[], override: LimitsOverride = {}): string[] {
  const problems: string[] = [];
  for (const engine of ENGINE_NAMES) {
    const quota = ENGINE_QUOTAS[engine];
    let perMinute = 0;
    for (const name of quota.functions) {
      const fn = functions.find((f) => f.name === name);
      if (!fn) {
        problems.push(`${engine}: function ${name} is not in the topology`);
        continue;
      }
      if (fn.maxInstances === undefined) {
        problems.push(`${engine}: function ${name} declares no maxInstances, so its load on the quota is unbounded`);
        continue;
      }
      perMinute += fn.maxInstances * limitsFor(engine, override, name).ratePerSecond * 60;
    }
    if (perMinute > quota.requestsPerMinute + 1e-9) {
      problems.push(`${engine}: ${quota.functions.join(' + ')} may send ${Math.round(perMinute)} requests/min, over the default quota of ${quota.requestsPerMinute}/min (${quota.source})`);
    }
  }
  return problems;
}
