/**
 * The usage meter of one stage attempt, and the counters that fill it.
 *
 * - {@link UsageMeter}: quantities by unit for one attempt. The stage runner creates it, runs the
 *   attempt inside it ({@link UsageMeter.run}, an AsyncLocalStorage scope) and writes what it holds
 *   with the transition that ends the attempt.
 * - {@link meterFirestore}: counts the Firestore operations a process makes, on the wire (each
 *   document a read RPC returned, each write and delete a commit carried), into the meter of the
 *   attempt that made them. Real counts, attributed by async context, so concurrent attempts in one
 *   instance each get their own.
 * - Engine and storage wrappers: count what each successful engine call consumed (a failed call is
 *   not billed; a successful one is, even when the attempt later fails).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Firestore } from '@google-cloud/firestore';
import type { EmbeddingEngine } from '../engines/embeddings/types.js';
import type { SpeechToTextEngine, SttResult } from '../engines/stt/types.js';
import type { SummaryEngine } from '../engines/summary/types.js';
import type { StorageGateway } from '../storage/index.js';
import { billableCharacters, estimateTokens, TTS_TIER_UNIT, ttsTier, type Units, type UsageUnit } from './usage.js';

const scope = new AsyncLocalStorage<UsageMeter>();

export class UsageMeter {
  private readonly units = new Map<UsageUnit, number>();
  private readonly started = performance.now();

  /** Adds `qty` of `unit` (ignored unless a positive finite number). */
  add(unit: UsageUnit, qty: number): void {
    if (!Number.isFinite(qty) || qty <= 0) return;
    this.units.set(unit, (this.units.get(unit) ?? 0) + qty);
  }

  get(unit: UsageUnit): number {
    return this.units.get(unit) ?? 0;
  }

  /** What was counted so far. */
  snapshot(): Units {
    return Object.fromEntries(this.units);
  }

  /** Milliseconds since the meter was created (the attempt's wall time so far). */
  elapsedMs(): number {
    return performance.now() - this.started;
  }

  /** Runs `fn` with this meter as the current one: Firestore operations made within count here. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    return scope.run(this, fn);
  }
}

/** The meter of the attempt running in this async context, if any. */
export function currentMeter(): UsageMeter | undefined {
  return scope.getStore();
}

/** The two internal entry points every RPC of the Firestore client goes through (checked at install). */
interface FirestoreRpc {
  request(method: string, request: unknown, tag: string, retryCodes?: number[]): Promise<unknown>;
  requestStream(method: string, bidirectional: boolean, request: unknown, tag: string): Promise<NodeJS.ReadableStream>;
}

const METERED = Symbol.for('scriptorium.cost.meteredFirestore');

/**
 * Counts, into the current attempt's meter, what Firestore bills:
 * - reads: each document a `batchGetDocuments` returned (a missing document is a read too), each
 *   document a `runQuery` returned, and one read for a query that returned none (the minimum);
 *   one read per aggregation query (Firestore bills one per 1,000 index entries: we see no entries);
 * - writes and deletes: each write of a successful `commit` (a delete, or a set/update/create with its
 *   transforms), each successful write of a `batchWrite`.
 * Not counted: listeners (functions do not listen), and operations outside any meter's scope.
 * It wraps the client's internal `request`/`requestStream` (the one path every call takes): if a
 * client version lacks them, nothing is counted and the function still works.
 */
export function meterFirestore(db: Firestore): Firestore {
  const rpc = db as unknown as Partial<FirestoreRpc> & { [METERED]?: true };
  if (rpc[METERED] || typeof rpc.request !== 'function' || typeof rpc.requestStream !== 'function') return db;
  const request = rpc.request.bind(db);
  const requestStream = rpc.requestStream.bind(db);
  rpc.request = async (method, req, tag, retryCodes) => {
    const meter = currentMeter();
    const response = await request(method, req, tag, retryCodes);
    if (meter && (method === 'commit' || method === 'batchWrite')) countWrites(meter, method, req, response);
    return response;
  };
  rpc.requestStream = async (method, bidirectional, req, tag) => {
    const meter = currentMeter();
    const stream = await requestStream(method, bidirectional, req, tag);
    if (meter && (method === 'batchGetDocuments' || method === 'runQuery' || method === 'runAggregationQuery')) tapReads(meter, method, stream);
    return stream;
  };
  rpc[METERED] = true;
  return db;
}

interface WireWrite {
  readonly delete?: unknown;
}

function countWrites(meter: UsageMeter, method: string, req: unknown, response: unknown): void {
  const writes = (req as { writes?: readonly WireWrite[] }).writes ?? [];
  // batchWrite applies writes one by one: only those with an OK status (code 0) happened.
  const statuses = method === 'batchWrite' ? ((response as { status?: readonly { code?: number }[] } | undefined)?.status ?? []) : null;
  writes.forEach((w, i) => {
    if (statuses && (statuses[i]?.code ?? 0) !== 0) return;
    if (w.delete) meter.add('firestoreDeletes', 1);
    else meter.add('firestoreWrites', 1);
  });
}

/**
 * Observes the documents a read stream delivers, without changing how it flows: every chunk a
 * Readable hands to its consumer (flowing or `read()`) is emitted as `data`, so wrapping `emit`
 * sees exactly what the client consumed.
 */
function tapReads(meter: UsageMeter, method: string, stream: NodeJS.ReadableStream): void {
  let documents = 0;
  const emit = stream.emit.bind(stream) as (event: string | symbol, ...args: unknown[]) => boolean;
  (stream as unknown as { emit: typeof emit }).emit = (event, ...args) => {
    if (event === 'data') {
      const chunk = args[0] as { found?: unknown; missing?: unknown; document?: unknown; result?: unknown } | undefined;
      const isDoc = method === 'batchGetDocuments' ? Boolean(chunk?.found ?? chunk?.missing) : method === 'runQuery' ? Boolean(chunk?.document) : Boolean(chunk?.result);
      if (isDoc) {
        documents++;
        if (method !== 'runAggregationQuery') meter.add('firestoreReads', 1);
      }
    } else if (event === 'end' && method !== 'batchGetDocuments' && (documents === 0 || method === 'runAggregationQuery')) {
      // A query that returned nothing still bills one read; an aggregation bills (at least) one.
      meter.add('firestoreReads', 1);
    }
    return emit(event, ...args);
  };
}

/** Bills one speech result: the seconds the service reports, else its audio length rounded up to the second. */
export function chargeStt(meter: UsageMeter, result: Pick<SttResult, 'billedSeconds' | 'durationSeconds'>): void {
  meter.add('sttAudioSeconds', result.billedSeconds ?? Math.ceil(result.durationSeconds));
}

/** Speech-to-Text: each successful request's billed seconds ({@link chargeStt}). */
export function meteredStt(engine: SpeechToTextEngine, meter: UsageMeter): SpeechToTextEngine {
  return {
    name: engine.name,
    model: engine.model,
    defaultLanguage: engine.defaultLanguage,
    languages: engine.languages,
    maxInputSeconds: engine.maxInputSeconds,
    supportsLanguage: (language) => engine.supportsLanguage(language),
    async transcribe(input, options) {
      const result = await engine.transcribe(input, options);
      chargeStt(meter, result);
      return result;
    },
  };
}

/** Embeddings: the billable characters of each successful request's texts. */
export function meteredEmbeddings(engine: EmbeddingEngine, meter: UsageMeter): EmbeddingEngine {
  return {
    name: engine.name,
    model: engine.model,
    dimensions: engine.dimensions,
    maxInputTokens: engine.maxInputTokens,
    async embed(texts, options) {
      const vectors = await engine.embed(texts, options);
      meter.add('embeddingCharacters', texts.reduce((n, t) => n + billableCharacters(t), 0));
      return vectors;
    },
  };
}

/** Summaries: the tokens the model reported, or (an engine that reports none) an estimate from the text lengths. */
export function meteredSummary(engine: SummaryEngine, meter: UsageMeter): SummaryEngine {
  return {
    name: engine.name,
    model: engine.model,
    async summarize(input, options) {
      const result = await engine.summarize(input, options);
      meter.add('summaryInputTokens', result.usage ? result.usage.inputTokens : estimateTokens(input.text) + estimateTokens(input.prompt ?? ''));
      meter.add('summaryOutputTokens', result.usage ? result.usage.outputTokens : estimateTokens(result.summary));
      return result;
    },
  };
}

/** Text-to-Speech: characters of input by the voice's price tier (for a synthesis stage to add). */
export function ttsUnits(voice: string, characters: number): Units {
  return { [TTS_TIER_UNIT[ttsTier(voice)]]: characters };
}

/**
 * Cloud Storage operations a stage's gateway calls make: a download or read is one class B
 * operation (an object GET), a derived write one class A (an insert). Counted per call, not on the
 * wire: metadata lookups the client library adds are not counted.
 */
export function meteredStorage(storage: StorageGateway, meter: UsageMeter): StorageGateway {
  return {
    // Signing is local computation, not a Storage operation.
    signUpload: (args) => storage.signUpload(args),
    signDownload: (args) => storage.signDownload(args),
    async deletePrefix(args) {
      const n = await storage.deletePrefix(args);
      // A listing (class A) and one delete per object (free).
      meter.add('storageClassA', 1);
      return n;
    },
    async download(ref, destination) {
      await storage.download(ref, destination);
      meter.add('storageClassB', 1);
    },
    async readHead(ref, bytes) {
      const out = await storage.readHead(ref, bytes);
      meter.add('storageClassB', 1);
      return out;
    },
    async read(ref) {
      const out = await storage.read(ref);
      meter.add('storageClassB', 1);
      return out;
    },
    async writeDerived(args) {
      const out = await storage.writeDerived(args);
      meter.add('storageClassA', 1);
      return out;
    },
    async objectResource(ref) {
      const out = await storage.objectResource(ref);
      meter.add('storageClassB', 1);
      return out;
    },
  };
}
