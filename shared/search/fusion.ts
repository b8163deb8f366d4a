/**
 * Fusing the keyword and vector rankings. Two methods, chosen by measurement (scripts/eval-search.ts):
 * reciprocal rank fusion (Cormack, Clarke & Büttcher 2009: Σ 1/(k + rank), k = 60) and a blend of
 * min–max-normalized scores. Pure.
 */

export const RRF_K = 60;

/** One ranked list: ids best first, with the side's own score. */
export type Ranked = readonly { readonly id: string; readonly score: number }[];

export interface Fused {
  readonly id: string;
  readonly score: number;
  /** 1-based rank on each side, when the id was there. */
  readonly keywordRank?: number;
  readonly vectorRank?: number;
}

function ranks(list: Ranked): Map<string, number> {
  const m = new Map<string, number>();
  list.forEach((e, i) => {
    if (!m.has(e.id)) m.set(e.id, i + 1);
  });
  return m;
}

function withRanks(ids: Iterable<string>, kw: Map<string, number>, vec: Map<string, number>, score: (id: string) => number): Fused[] {
  const out: Fused[] = [];
  for (const id of ids) {
    const k = kw.get(id);
    const v = vec.get(id);
    out.push({ id, score: score(id), ...(k === undefined ? {} : { keywordRank: k }), ...(v === undefined ? {} : { vectorRank: v }) });
  }
  // Ties (an id first on one side vs. one first on the other) go to the keyword side: exact matches win.
  return out.sort((a, b) => b.score - a.score || (a.keywordRank ?? Infinity) - (b.keywordRank ?? Infinity) || (a.vectorRank ?? Infinity) - (b.vectorRank ?? Infinity) || (a.id < b.id ? -1 : 1));
}

/** Reciprocal rank fusion: score = Σ_sides weight / (k + rank). */
export function rrf(keyword: Ranked, vector: Ranked, options: { k?: number; keywordWeight?: number; vectorWeight?: number } = {}): Fused[] {
  const k = options.k ?? RRF_K;
  const wk = options.keywordWeight ?? 1;
  const wv = options.vectorWeight ?? 1;
  const kw = ranks(keyword);
  const vec = ranks(vector);
  const ids = new Set([...kw.keys(), ...vec.keys()]);
  return withRanks(ids, kw, vec, (id) => {
    const a = kw.get(id);
    const b = vec.get(id);
    return (a === undefined ? 0 : wk / (k + a)) + (b === undefined ? 0 : wv / (k + b));
  });
}

/** Scores scaled to [0, 1] within their list (max → 1, min → 0; one score or all equal → 1). */
export function minMax(list: Ranked): Map<string, number> {
  const m = new Map<string, number>();
  if (list.length === 0) return m;
  const scores = list.map((e) => e.score);
  const hi = Math.max(...scores);
  const lo = Math.min(...scores);
  for (const e of list) if (!m.has(e.id)) m.set(e.id, hi > lo ? (e.score - lo) / (hi - lo) : 1);
  return m;
}

/**
 * Score blend: alpha · keyword(normalized) + (1 − alpha) · vector(normalized); an id missing from a
 * side gets 0 there. Keyword scores are divided by the best one (BM25 has no fixed scale, and zero
 * is a meaningful floor); vector similarities are min–max scaled within the list.
 */
export function blend(keyword: Ranked, vector: Ranked, alpha = 0.5): Fused[] {
  const kw = ranks(keyword);
  const vec = ranks(vector);
  const best = Math.max(0, ...keyword.map((e) => e.score));
  const kn = new Map(keyword.map((e) => [e.id, best > 0 ? e.score / best : 0]));
  const vn = minMax(vector);
  const ids = new Set([...kw.keys(), ...vec.keys()]);
  return withRanks(ids, kw, vec, (id) => alpha * (kn.get(id) ?? 0) + (1 - alpha) * (vn.get(id) ?? 0));
}

export type FusionMethod = 'rrf' | 'blend';

export function fuse(method: FusionMethod, keyword: Ranked, vector: Ranked): Fused[] {
  return method === 'rrf' ? rrf(keyword, vector) : blend(keyword, vector);
}

/**
 * Exact matches first: ids in `exact` move ahead of all others, each group keeping its fused order.
 * Fusion by rank alone can let a vector neighbour outrank the one chunk holding a queried reference
 * (`INV-2024-0415`, `2:255`) when the reference's parts (`2024`) also occur elsewhere; a precise
 * match is what such a query asks for.
 */
export function promote(fused: readonly Fused[], exact: ReadonlySet<string>): Fused[] {
  if (exact.size === 0) return [...fused];
  return [...fused.filter((f) => exact.has(f.id)), ...fused.filter((f) => !exact.has(f.id))];
}

/**
 * The query terms a chunk must hold to be promoted by {@link promote}: the query's references (a
 * term joining parts with `-.:/_'` or `§`, with a digit: `2:255`, `inv-2024-0415`, `iso-9001`);
 * else its numbers when they are at least half of its terms (`RFC 9111`, `1883 eruption`). A number
 * in a sentence (`run 42 kilometres`) promotes nothing: any table row holds some number.
 */
export function preciseTerms(terms: readonly string[]): string[] {
  const references = terms.filter((t) => /\p{N}/u.test(t) && /[-.:/_'§]/u.test(t));
  if (references.length > 0) return references;
  const numbers = terms.filter((t) => /\p{N}/u.test(t));
  return numbers.length > 0 && numbers.length * 2 >= terms.length ? numbers : [];
}
