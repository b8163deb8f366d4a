/**
 * BM25 (Robertson–Spärck Jones, Okapi) with exact corpus statistics supplied by the caller, and the
 * choice of which query terms to count and to fetch candidates for. Pure: no Firestore here.
 */

/** Okapi BM25 parameters (the usual defaults; Lucene's too). */
export const BM25_K1 = 1.2;
export const BM25_B = 0.75;

/** Exact statistics of the searched corpus (a project's current chunks). */
export interface CorpusStats {
  /** Number of chunks (N). */
  readonly n: number;
  /** Average chunk length in terms (avgdl = sum(termCount) / N). */
  readonly avgdl: number;
  /** term → number of chunks containing it (df). */
  readonly df: ReadonlyMap<string, number>;
}

/** What BM25 needs of one chunk: its counts of the query terms and its length in terms. */
export interface ScoredDoc {
  readonly termFreqs: Readonly<Record<string, number>>;
  readonly termCount: number;
}

/**
 * Lucene's non-negative IDF: ln(1 + (N − df + 0.5) / (df + 0.5)). Always > 0, so a term present
 * in most chunks still counts a little and never subtracts.
 */
export function idf(n: number, df: number): number {
  if (n <= 0 || df <= 0) return 0;
  const d = Math.min(df, n);
  return Math.log(1 + (n - d + 0.5) / (d + 0.5));
}

/** BM25 of one chunk for `terms` (each counted once; duplicates in `terms` are ignored). */
export function bm25(doc: ScoredDoc, terms: readonly string[], stats: CorpusStats, k1 = BM25_K1, b = BM25_B): number {
  const avgdl = stats.avgdl > 0 ? stats.avgdl : 1;
  const norm = k1 * (1 - b + (b * doc.termCount) / avgdl);
  let score = 0;
  for (const t of new Set(terms)) {
    const tf = doc.termFreqs[t] ?? 0;
    if (tf <= 0) continue;
    score += idf(stats.n, stats.df.get(t) ?? 0) * ((tf * (k1 + 1)) / (tf + norm));
  }
  return score;
}

/** Most query terms whose document frequency is counted (one aggregation each). */
export const MAX_COUNTED_TERMS = 24;
/** Most query terms scored (the rarest of those counted). */
export const MAX_QUERY_TERMS = 12;
/** Terms whose chunks are fetched as candidates (the rarest present). */
export const MAX_CANDIDATE_TERMS = 3;

/**
 * Before any statistics are known: which of a long query's terms to count at all. References and
 * numbers (`2:255`, `iso-9001`, `1847`) first — they are what exact search is for — then longer
 * words (rarer, as a rule), in query order among equals.
 */
export function preselectTerms(terms: readonly string[], max = MAX_COUNTED_TERMS): string[] {
  if (terms.length <= max) return [...terms];
  const weight = (t: string): number => (/[\p{N}]/u.test(t) ? 1000 : 0) + (/[-.:/_'§]/u.test(t) ? 500 : 0) + [...t].length;
  const ranked = terms.map((t, i) => ({ t, i, w: weight(t) })).sort((a, b) => b.w - a.w || a.i - b.i);
  const keep = new Set(ranked.slice(0, max).map((r) => r.t));
  return terms.filter((t) => keep.has(t));
}

/**
 * With document frequencies known: the terms to score (present in the corpus, the `max` rarest,
 * in query order) and the ones to fetch candidates for (the `candidates` rarest, rarest first).
 */
export function selectTerms(df: ReadonlyMap<string, number>, max = MAX_QUERY_TERMS, candidates = MAX_CANDIDATE_TERMS): { scored: string[]; fetch: string[] } {
  const present = [...df.entries()].filter(([, d]) => d > 0);
  const byRarity = [...present].sort((a, b) => a[1] - b[1]);
  const keep = new Set(byRarity.slice(0, max).map(([t]) => t));
  return { scored: present.map(([t]) => t).filter((t) => keep.has(t)), fetch: byRarity.slice(0, candidates).map(([t]) => t) };
}
