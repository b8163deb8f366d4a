/**
 * The `local` summary engine: extractive, offline, deterministic. It picks the document's most
 * central sentences with TextRank (weighted PageRank over a sentence-similarity graph, as LexRank's
 * continuous variant) and returns them verbatim, in document order, with their offsets.
 *
 * Choices, and why:
 * - Similarity is language-neutral: cosine of TF-IDF vectors over Unicode word tokens (letters and
 *   digits of any script). IDF over the document's own sentences stands in for stop-word lists, so
 *   no language has to be detected or supported. For the similarity only (never for the output),
 *   tokens are case-folded and compatibility-decomposed (ligatures `ﬁ`, Arabic presentation forms),
 *   lose Latin accents and Arabic diacritics (harakat, Quranic marks), tatweel is dropped, alef
 *   variants (أ إ آ ٱ) become ا, ى and ی become ي, ة becomes ه, and the Arabic article with its
 *   common proclitics (ال, وال, بال, كال, فال, لل, ولل, فلل) is stripped. Words broken across lines with a hyphen are joined.
 * - Candidates are sentences with at least four word tokens and mostly letters: headings, page
 *   numbers, formulas and OCR debris are left out of the ranking (unless nothing else is left).
 * - Bounded cost on long documents: a graph has at most `maxGraphNodes` sentences (default 400,
 *   so at most 80,000 similarity pairs). A document with more candidates is ranked window by
 *   window (consecutive runs of `windowSize` sentences), each window's best sentences go on, and
 *   the winners are ranked together in a final graph; repeated until they fit. Time grows
 *   linearly with the document, memory with the graph size.
 * - Redundancy: a sentence too similar to one already chosen (cosine ≥ 0.7) is skipped, so a text
 *   that repeats itself does not fill the summary with copies.
 * - Selection: best-ranked first, within `maxSentences` and `maxChars` (the sentences joined by a
 *   single space), skipping a sentence that does not fit and trying the next. Sentences longer
 *   than min(1000, maxChars) are cut by the splitter first (text without punctuation), so every
 *   candidate fits alone.
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';

import { ScriptoriumError } from '../../errors/index.js';
import { DEFAULT_MAX_SENTENCE_CHARS, splitSentences, type Sentence } from '../../text/sentences.js';
import { CallerError, abortError, checkAborted, progressReporter } from './common.js';
import { summaryBounds, type SummaryEngine, type SummaryInput, type SummaryOptions, type SummaryResult, type SummarySentence } from './types.js';

export const LOCAL_SUMMARY_MODEL = 'textrank-v1';

/** Settings of {@link createLocalSummaryEngine}. */
export interface LocalSummaryEngineOptions {
  /** Largest similarity graph (default 400 sentences). */
  readonly maxGraphNodes?: number;
  /** Sentences per window when a document has more candidates than a graph holds (default 300). */
  readonly windowSize?: number;
  /** Cosine similarity at or above which a sentence counts as a repeat of a chosen one (default 0.7). */
  readonly redundancy?: number;
}

const DEFAULTS = { maxGraphNodes: 400, windowSize: 300, redundancy: 0.7 } as const;
/** PageRank damping, convergence and iteration cap. */
const DAMPING = 0.85;
const EPSILON = 1e-7;
/** Similarities below this are noise (one shared common word), not edges. */
const MIN_EDGE = 0.02;
const MAX_ITERATIONS = 100;
/** Candidates need this many word tokens and this share of letters among non-space characters. */
const MIN_TOKENS = 4;
const MIN_LETTER_SHARE = 0.6;
/** Summary sentences are joined with this. */
const JOINER = ' ';

/** Creates the `local` engine. Never touches the network; never fails on any text. */
export function createLocalSummaryEngine(options: LocalSummaryEngineOptions = {}): SummaryEngine {
  const maxGraphNodes = Math.max(2, Math.floor(options.maxGraphNodes ?? DEFAULTS.maxGraphNodes));
  const windowSize = Math.max(2, Math.floor(options.windowSize ?? DEFAULTS.windowSize));
  const redundancy = options.redundancy ?? DEFAULTS.redundancy;
  return {
    name: 'local',
    model: LOCAL_SUMMARY_MODEL,
    async summarize(input: SummaryInput, callOptions: SummaryOptions = {}): Promise<SummaryResult> {
      const { signal } = callOptions;
      const report = progressReporter(callOptions);
      try {
        checkAborted(signal);
        const { maxSentences, maxChars } = summaryBounds(input);
        const sentences = splitSentences(input.text, { language: input.language ?? null, maxChars: Math.min(DEFAULT_MAX_SENTENCE_CHARS, maxChars) });
        await report(0.1);
        const chosen = await rank(sentences, { maxSentences, maxChars, maxGraphNodes, windowSize, redundancy, signal, report });
        await report(1);
        return {
          summary: chosen.map((s) => s.text).join(JOINER),
          sentences: chosen.map((s) => ({ text: s.text, start: s.start, end: s.end })),
          engine: 'local',
          model: LOCAL_SUMMARY_MODEL,
        };
      } catch (err) {
        if (err instanceof CallerError) throw err.error;
        if (err instanceof ScriptoriumError) throw err;
        if (signal?.aborted) throw abortError(signal, err);
        throw err;
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Ranking

interface RankSettings {
  readonly maxSentences: number;
  readonly maxChars: number;
  readonly maxGraphNodes: number;
  readonly windowSize: number;
  readonly redundancy: number;
  readonly signal: AbortSignal | undefined;
  readonly report: (fraction: number) => Promise<void>;
}

/** A candidate sentence with its unit-length TF-IDF vector (term ids ascending). */
interface Node {
  readonly sentence: Sentence;
  /** Position in the document's sentence list: ties and output order. */
  readonly index: number;
  readonly terms: Int32Array;
  readonly weights: Float64Array;
}

/** The chosen sentences, in document order. */
async function rank(sentences: readonly Sentence[], s: RankSettings): Promise<SummarySentence[]> {
  const nodes = vectorize(sentences, s.maxChars);
  if (nodes.length === 0) return [];
  // Window levels until the pool fits one graph; every window and the final graph are one unit.
  const plan = planLevels(nodes.length, s.maxGraphNodes, s.windowSize);
  const units = plan.reduce((sum, level) => sum + level.windows, 0) + 1;
  let done = 0;
  let pool: Node[] = nodes;
  for (const level of plan) {
    const next: Node[] = [];
    for (let w = 0; w < level.windows; w++) {
      const window = pool.slice(w * s.windowSize, (w + 1) * s.windowSize);
      const scores = textRank(window);
      next.push(...best(window, scores, level.keep));
      done++;
      await s.report(0.1 + (0.85 * done) / units);
      // Let timers and I/O run between windows (an abort, a health check), then honour an abort.
      await yieldToEventLoop();
      checkAborted(s.signal);
    }
    pool = next.sort((a, b) => a.index - b.index);
  }
  const scores = textRank(pool);
  await s.report(0.95);
  return select(pool, scores, s);
}

interface Level {
  readonly windows: number;
  readonly keep: number;
}

/** How many windows each reduction level has and how many sentences each window passes on. */
function planLevels(count: number, maxGraphNodes: number, windowSize: number): Level[] {
  const levels: Level[] = [];
  let size = count;
  while (size > maxGraphNodes) {
    const windows = Math.ceil(size / windowSize);
    const keep = Math.max(1, Math.floor(maxGraphNodes / windows));
    levels.push({ windows, keep });
    let next = 0;
    for (let w = 0; w < windows; w++) next += Math.min(keep, Math.min(windowSize, size - w * windowSize));
    size = next;
  }
  return levels;
}

/** The `keep` best-scored nodes of `window` (ties: earlier first). */
function best(window: readonly Node[], scores: Float64Array, keep: number): Node[] {
  return order(scores)
    .slice(0, keep)
    .map((i) => window[i] as Node);
}

/** Indices by score, highest first; equal scores in document order. */
function order(scores: Float64Array): number[] {
  return Array.from(scores.keys()).sort((a, b) => (scores[b] ?? 0) - (scores[a] ?? 0) || a - b);
}

/**
 * Weighted PageRank over the cosine-similarity graph of `nodes` (no self-loops; edges weaker than
 * {@link MIN_EDGE} dropped as noise). A node without edges spreads its score evenly (the standard
 * dangling-node rule). The graph is kept as adjacency lists, so an iteration costs its edges.
 */
function textRank(nodes: readonly Node[]): Float64Array {
  const n = nodes.length;
  const scores = new Float64Array(n).fill(1 / Math.max(1, n));
  if (n < 2) return scores;
  // Edges of each node, both directions.
  const lists: { to: number[]; w: number[] }[] = Array.from({ length: n }, () => ({ to: [], w: [] }));
  for (let i = 0; i < n; i++) {
    const a = nodes[i] as Node;
    for (let j = i + 1; j < n; j++) {
      const v = dot(a, nodes[j] as Node);
      if (v >= MIN_EDGE) {
        (lists[i] as { to: number[]; w: number[] }).to.push(j);
        (lists[i] as { to: number[]; w: number[] }).w.push(v);
        (lists[j] as { to: number[]; w: number[] }).to.push(i);
        (lists[j] as { to: number[]; w: number[] }).w.push(v);
      }
    }
  }
  // Compressed rows; each row's weights normalized to the share of the node's score it passes on.
  const offsets = new Int32Array(n + 1);
  for (let j = 0; j < n; j++) offsets[j + 1] = (offsets[j] ?? 0) + (lists[j]?.to.length ?? 0);
  const edges = offsets[n] ?? 0;
  const targets = new Int32Array(edges);
  const shares = new Float64Array(edges);
  const dangling: number[] = [];
  for (let j = 0; j < n; j++) {
    const list = lists[j] as { to: number[]; w: number[] };
    const total = list.w.reduce((sum, w) => sum + w, 0);
    if (total === 0) dangling.push(j);
    const at = offsets[j] ?? 0;
    for (let k = 0; k < list.to.length; k++) {
      targets[at + k] = list.to[k] ?? 0;
      shares[at + k] = (list.w[k] ?? 0) / total;
    }
  }
  const next = new Float64Array(n);
  for (let iteration = 0; iteration < MAX_ITERATIONS; iteration++) {
    let lost = 0;
    for (const j of dangling) lost += scores[j] ?? 0;
    next.fill((1 - DAMPING) / n + (DAMPING * lost) / n);
    for (let j = 0; j < n; j++) {
      const give = DAMPING * (scores[j] ?? 0);
      const end = offsets[j + 1] ?? 0;
      for (let e = offsets[j] ?? 0; e < end; e++) {
        const to = targets[e] ?? 0;
        next[to] = (next[to] ?? 0) + give * (shares[e] ?? 0);
      }
    }
    let change = 0;
    for (let i = 0; i < n; i++) {
      change += Math.abs((next[i] ?? 0) - (scores[i] ?? 0));
      scores[i] = next[i] ?? 0;
    }
    if (change < EPSILON) break;
  }
  return scores;
}

/** Greedy choice within the bounds, skipping repeats; returned in document order. */
function select(pool: readonly Node[], scores: Float64Array, s: RankSettings): SummarySentence[] {
  const chosen: Node[] = [];
  let used = 0;
  for (const i of order(scores)) {
    if (chosen.length >= s.maxSentences) break;
    const node = pool[i] as Node;
    const length = node.sentence.text.length + (chosen.length > 0 ? JOINER.length : 0);
    if (used + length > s.maxChars) continue;
    if (chosen.some((c) => dot(c, node) >= s.redundancy)) continue;
    chosen.push(node);
    used += length;
  }
  return chosen.sort((a, b) => a.index - b.index).map((n) => n.sentence);
}

// ---------------------------------------------------------------------------------------------
// Vectors

/**
 * Unit TF-IDF vectors of the candidate sentences (see the module comment), IDF over the
 * candidates. Sentences longer than `maxChars` are never candidates: they could not be output.
 */
function vectorize(sentences: readonly Sentence[], maxChars: number): Node[] {
  const tokenized = sentences.map((sentence, index) => ({ sentence, index, tokens: similarityTokens(sentence.text) }));
  const fits = tokenized.filter((t) => t.sentence.text.length <= maxChars && t.tokens.length > 0);
  let candidates = fits.filter((t) => t.tokens.length >= MIN_TOKENS && letterShare(t.sentence.text) >= MIN_LETTER_SHARE);
  if (candidates.length === 0) candidates = fits;
  const ids = new Map<string, number>();
  const df: number[] = [];
  const counted = candidates.map(({ sentence, index, tokens }) => {
    const tf = new Map<number, number>();
    for (const token of tokens) {
      let id = ids.get(token);
      if (id === undefined) {
        id = ids.size;
        ids.set(token, id);
        df.push(0);
      }
      tf.set(id, (tf.get(id) ?? 0) + 1);
    }
    for (const id of tf.keys()) df[id] = (df[id] ?? 0) + 1;
    return { sentence, index, tf };
  });
  const n = counted.length;
  return counted.map(({ sentence, index, tf }) => {
    const terms = Int32Array.from([...tf.keys()].sort((a, b) => a - b));
    const weights = new Float64Array(terms.length);
    let norm = 0;
    terms.forEach((id, k) => {
      const w = (1 + Math.log(tf.get(id) ?? 1)) * Math.log((n + 1) / ((df[id] ?? 0) + 0.5));
      weights[k] = w;
      norm += w * w;
    });
    norm = Math.sqrt(norm);
    if (norm > 0) for (let k = 0; k < weights.length; k++) weights[k] = (weights[k] ?? 0) / norm;
    return { sentence, index, terms, weights };
  });
}

/** Cosine of two unit vectors: a merge over their ascending term ids. */
function dot(a: Node, b: Node): number {
  let i = 0;
  let j = 0;
  let sum = 0;
  const at = a.terms;
  const bt = b.terms;
  while (i < at.length && j < bt.length) {
    const x = at[i] ?? 0;
    const y = bt[j] ?? 0;
    if (x === y) sum += (a.weights[i++] ?? 0) * (b.weights[j++] ?? 0);
    else if (x < y) i++;
    else j++;
  }
  return sum;
}

const MARKS = /[\u0300-\u036f\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06dc\u06df-\u06e8\u06ea-\u06ed]/gu;
const ARABIC_WORD = /^[\u0621-\u064a\u0660-\u0669\u066e-\u06d3\u06d5\u06ee-\u06ff]+$/u;
const ARABIC_ARTICLES = ['وال', 'بال', 'كال', 'فال', 'ولل', 'فلل', 'لل', 'ال'];

/**
 * The word tokens the similarity compares (see the module comment). Exported for tests; the
 * summary itself always quotes the original text.
 */
export function similarityTokens(text: string): string[] {
  const folded = text
    // A word hyphenated across a line break (`weath-\nered`) is one word.
    .replace(/(\p{L})[-\u2010\u2011\u00ad][ \t]*\r?\n[ \t]*(\p{Ll})/gu, '$1$2')
    .normalize('NFKD')
    .replace(MARKS, '')
    .replace(/\u0640/gu, '')
    .replace(/[\u0671-\u0673\u0675]/gu, '\u0627')
    .replace(/[\u0649\u06cc\u06d2]/gu, '\u064a')
    .replace(/\u0629/gu, '\u0647')
    .replace(/\u06a9/gu, '\u0643')
    .toLowerCase();
  const out: string[] = [];
  for (const match of folded.matchAll(/[\p{L}\p{M}\p{N}]+/gu)) {
    let token = match[0];
    if (ARABIC_WORD.test(token)) {
      const article = ARABIC_ARTICLES.find((a) => token.startsWith(a) && token.length - a.length >= 3);
      if (article) token = token.slice(article.length);
    }
    if ([...token].length >= 2) out.push(token);
  }
  return out;
}

function letterShare(text: string): number {
  const visible = text.match(/\S/gu)?.length ?? 0;
  const letters = text.match(/\p{L}/gu)?.length ?? 0;
  return visible === 0 ? 0 : letters / visible;
}
