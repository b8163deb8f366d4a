/**
 * Fault injection for the local platform only: the fault-injection suite (test/faults) and its
 * representative in `npm test` use it to prove the pipeline survives the failures production sees
 * (an engine down for a while, an engine refusing for quota, a publish that fails, every message
 * delivered more than once). Production never has it: `shared/config` refuses both variables unless
 * the process runs against the emulators in a `demo-` project, and nothing here runs without them.
 *
 * The spec (JSON, {@link FaultSpecSchema}) comes from `SCRIPTORIUM_FAULTS` (fixed for the process's
 * life) or from the file `SCRIPTORIUM_FAULTS_FILE` names, read again whenever it changes, so a test
 * arms a fault on a running platform by writing the file (the test platform points every function at
 * `.scriptorium/<profile>/faults.json`; absent means no fault). Rules count per process: "the next N
 * calls" are this process's next N calls matching the rule since the rule (by its `id`) appeared.
 */
import { readFileSync, statSync } from 'node:fs';
import { z } from 'zod';
import { TransientError } from './errors/index.js';
import type { Publisher } from './events/publisher.js';

/** Engines that can be made to fail, with the methods that do their work. */
export const FAULT_ENGINES = { ocr: ['extract'], stt: ['transcribe'], embeddings: ['embed'], summary: ['summarize'], tts: ['synthesize'] } as const;
export type FaultEngine = keyof typeof FAULT_ENGINES;

const EngineRuleSchema = z.object({
  /** Rules are counted by id: a rule with a new id starts counting afresh. */
  id: z.string().min(1),
  engine: z.enum(Object.keys(FAULT_ENGINES) as [FaultEngine, ...FaultEngine[]]),
  /** The next `fail` calls fail; the ones after succeed. */
  fail: z.number().int().positive().max(1000),
  /**
   * `unavailable`: what an engine surfaces for a dependency that is down (TransientError
   * ENGINE_UNAVAILABLE, gRPC UNAVAILABLE as its cause). `quota`: what an engine surfaces when its
   * quota refusals (HTTP 429 / gRPC RESOURCE_EXHAUSTED) outlived its own backoff (ENGINE_THROTTLED).
   */
  kind: z.enum(['unavailable', 'quota']).default('unavailable'),
});

const PublishRuleSchema = z.object({
  id: z.string().min(1),
  topic: z.string().min(1),
  /** Only publishes made by this function (K_SERVICE); default any. */
  service: z.string().optional(),
  /** The next `fail` matching publishes are refused (as a Pub/Sub outage refuses them): nothing is sent. */
  fail: z.number().int().min(0).max(1000).default(0),
  /** Every matching publish is sent this many times (distinct message ids, as duplicates from a retried publish). */
  copies: z.number().int().min(1).max(5).default(1),
});

export const FaultSpecSchema = z.object({
  engines: z.array(EngineRuleSchema).default([]),
  publish: z.array(PublishRuleSchema).default([]),
});
export type FaultSpec = z.infer<typeof FaultSpecSchema>;
export type EngineFaultRule = z.infer<typeof EngineRuleSchema>;
export type PublishFaultRule = z.infer<typeof PublishRuleSchema>;

/** Parses a spec given as JSON text; throws with zod's words when it is not one. */
export function parseFaultSpec(text: string): FaultSpec {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new Error(`fault spec is not JSON: ${(err as Error).message}`);
  }
  const parsed = FaultSpecSchema.safeParse(raw);
  if (!parsed.success) throw new Error(`invalid fault spec: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

/**
 * Whether an environment is a local platform's: every Google service the functions use is an
 * emulator, in a `demo-` project (which cannot exist in Google Cloud). Fault injection is refused
 * anywhere else.
 */
export function isLocalPlatform(env: Readonly<Record<string, unknown>>): boolean {
  const set = (k: string) => typeof env[k] === 'string' && env[k] !== '';
  const project = env.GOOGLE_CLOUD_PROJECT;
  return set('FIRESTORE_EMULATOR_HOST') && set('PUBSUB_EMULATOR_HOST') && set('STORAGE_EMULATOR_HOST') && typeof project === 'string' && project.startsWith('demo-');
}

/** Where the spec comes from: inline, or a file read again when it changes. */
export interface FaultSource {
  readonly SCRIPTORIUM_FAULTS?: string | undefined;
  readonly SCRIPTORIUM_FAULTS_FILE?: string | undefined;
}

/** The process's fault injector: counts rule matches and says which call fails. */
export class FaultInjector {
  private readonly used = new Map<string, number>();
  private fileStamp = '';
  private fileSpec: FaultSpec = { engines: [], publish: [] };

  constructor(
    private readonly source: FaultSource,
    private readonly service: string | undefined = process.env.K_SERVICE,
  ) {}

  /** The current spec. A missing or unreadable file means no fault (a half-written file is skipped until it parses). */
  spec(): FaultSpec {
    if (this.source.SCRIPTORIUM_FAULTS) return parseFaultSpec(this.source.SCRIPTORIUM_FAULTS);
    const file = this.source.SCRIPTORIUM_FAULTS_FILE;
    if (!file) return { engines: [], publish: [] };
    let stamp: string;
    try {
      const st = statSync(file);
      stamp = `${st.mtimeMs}:${st.size}:${st.ino}`;
    } catch {
      return { engines: [], publish: [] };
    }
    if (stamp !== this.fileStamp) {
      try {
        this.fileSpec = parseFaultSpec(readFileSync(file, 'utf8'));
        this.fileStamp = stamp;
      } catch {
        return this.fileSpec;
      }
    }
    return this.fileSpec;
  }

  /** Takes one of a rule's `limit` uses; true while some remain. */
  private take(id: string, limit: number): boolean {
    const n = this.used.get(id) ?? 0;
    if (n >= limit) return false;
    this.used.set(id, n + 1);
    return true;
  }

  /** The error the next call of `engine` fails with, if a rule says so. */
  engineFault(engine: FaultEngine): Error | null {
    for (const rule of this.spec().engines) {
      if (rule.engine !== engine || !this.take(rule.id, rule.fail)) continue;
      const n = this.used.get(rule.id) ?? 0;
      if (rule.kind === 'quota') {
        // What an engine surfaces once its quota retries are spent (shared/engines/throttle.ts: code ENGINE_THROTTLED).
        const cause = Object.assign(new Error('8 RESOURCE_EXHAUSTED: Quota exceeded (injected fault)'), { code: 8, details: 'Quota exceeded (injected fault)' });
        return new TransientError('ENGINE_THROTTLED', `${engine} refused the request for quota (429 / RESOURCE_EXHAUSTED), injected fault ${rule.id} ${n}/${rule.fail}`, cause);
      }
      const cause = Object.assign(new Error('14 UNAVAILABLE: injected fault'), { code: 14, details: 'injected fault' });
      return new TransientError('ENGINE_UNAVAILABLE', `${engine} unavailable, injected fault ${rule.id} ${n}/${rule.fail}`, cause);
    }
    return null;
  }

  /** What to do with the next publish to `topic`: refuse it, or send it `copies` times. */
  publishFault(topic: string): { fail: Error | null; copies: number } {
    let copies = 1;
    for (const rule of this.spec().publish) {
      if (rule.topic !== topic || (rule.service !== undefined && rule.service !== this.service)) continue;
      if (rule.fail > 0 && this.take(rule.id, rule.fail)) {
        const n = this.used.get(rule.id) ?? 0;
        return { fail: new TransientError('PUBLISH_FAILED', `publish to ${topic} refused, injected fault ${rule.id} ${n}/${rule.fail}`, Object.assign(new Error('14 UNAVAILABLE'), { code: 14 })), copies: 0 };
      }
      copies = Math.max(copies, rule.copies);
    }
    return { fail: null, copies };
  }
}

/** The injector for a process's config, or null when no fault source is configured (production, and local runs without one). */
export function faultInjector(source: FaultSource): FaultInjector | null {
  return source.SCRIPTORIUM_FAULTS || source.SCRIPTORIUM_FAULTS_FILE ? new FaultInjector(source) : null;
}

/** `engine` with its work methods failing as the injector says (the same object when there is no injector). */
export function withEngineFaults<T extends object>(kind: FaultEngine, engine: T, faults: FaultInjector | null): T {
  if (!faults) return engine;
  const methods: readonly string[] = FAULT_ENGINES[kind];
  return new Proxy(engine, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof prop !== 'string' || !methods.includes(prop) || typeof value !== 'function') return value;
      return (...args: unknown[]): unknown => {
        const err = faults.engineFault(kind);
        if (err) return Promise.reject(err);
        return Reflect.apply(value as (...a: unknown[]) => unknown, target, args);
      };
    },
  });
}

/** A publisher under the injector: each publish refused, or repeated, as the rules say. */
export function withPublishFaults(publisher: Publisher, faults: FaultInjector | null): Publisher {
  if (!faults) return publisher;
  return {
    async publish(topic, data, attributes) {
      const { fail, copies } = faults.publishFault(topic);
      if (fail) throw fail;
      const first = await publisher.publish(topic, data, attributes);
      for (let i = 1; i < copies; i++) await publisher.publish(topic, data, attributes);
      return first;
    },
  };
}
