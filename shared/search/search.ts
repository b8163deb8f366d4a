/**
 * Hybrid search over a project's current chunks: BM25 keyword ranking with exact corpus statistics
 * from Firestore aggregations (no index in memory), a Firestore vector query (findNearest) with the
 * query embedded by the chunks' engine, fused; snippets with highlights.
 *
 * Reads per query (T = counted query terms ≤ 24, F = candidate terms ≤ 3):
 *   1 aggregation (count + sum of termCount) + T count aggregations (each billed as one read per
 *   1,000 index entries it scans), F candidate queries of ≤ 200 chunks each (field mask: a few
 *   numbers per chunk), 1 vector query of ≤ 50 chunks, and ≤ `limit` chunk reads for the texts of
 *   keyword-only hits. Memory per query: ≤ F·200 + 50 small candidate records, whatever the corpus size.
 */
import { AggregateField, FieldPath, type DocumentSnapshot, type Firestore, type Query } from '@google-cloud/firestore';
import type { EmbeddingEngine } from '../engines/embeddings/types.js';
import { CHUNKS } from '../firestore/chunks.js';
import { COLLECTIONS } from '../firestore/paths.js';
import { bm25, preselectTerms, selectTerms, type CorpusStats } from './bm25.js';
import { fuse, preciseTerms, promote, type Fused, type FusionMethod, type Ranked } from './fusion.js';
import { matchRanges, snippet, type Range } from './highlight.js';
import { queryLanguage, searchTerms, vectorUseful } from './query.js';

export const DEFAULT_LIMIT = 10;
export const MAX_LIMIT = 50;
/** Chunks fetched per candidate term (Firestore returns them in id order: see the README's limits). */
export const CANDIDATES_PER_TERM = 200;
/** Nearest neighbours asked of the vector side. */
export const VECTOR_NEIGHBOURS = 50;

export interface SearchRequest {
  readonly projectId: string;
  readonly query: string;
  readonly limit?: number;
  readonly documentId?: string;
  readonly contentType?: string;
}

export interface SearchHit {
  readonly documentId: string;
  readonly fileName: string;
  readonly chunkId: string;
  /** First page of the chunk (1-based). */
  readonly page: number;
  readonly pageEnd: number;
  /** Fused score (RRF: Σ 1/(60 + rank); higher is better, comparable within one answer only). */
  readonly score: number;
  /** Plain excerpt of the chunk, whitespace collapsed. */
  readonly snippet: string;
  /** [start, end) UTF-16 offsets into `snippet` of the matched words. */
  readonly highlights: Range[];
  /** A recording's hit: where in it (seconds) the passage was said. */
  readonly timeStart?: number;
  readonly timeEnd?: number;
  /** 1-based ranks on each side, when the chunk was ranked there. */
  readonly keywordRank?: number;
  readonly vectorRank?: number;
}

export interface SearchOutcome {
  readonly results: SearchHit[];
  readonly modes: { readonly keyword: boolean; readonly vector: boolean };
  /** The query terms scored (normalized), rarest-limited. */
  readonly terms: string[];
}

export interface SearchDeps {
  readonly db: Firestore;
  /** The embedding engine of the chunks, created on first use (absent: keyword only). */
  readonly engine?: () => Promise<EmbeddingEngine>;
  /** Default `rrf` (chosen by scripts/eval-search.ts). */
  readonly fusion?: FusionMethod;
  /** Restricts to one side (evaluation); default both. */
  readonly sides?: { readonly keyword: boolean; readonly vector: boolean };
  /** Told when the vector side fails and the answer falls back to keyword only. */
  readonly onError?: (side: 'vector', err: unknown) => void;
}

interface Candidate {
  readonly id: string;
  readonly documentId: string;
  /** The document version the chunk belongs to (see {@link currentVersionsOnly}). */
  readonly version: number;
  termFreqs: Record<string, number>;
  termCount: number;
  detail?: Detail;
}

interface Detail {
  readonly fileName: string;
  readonly text: string;
  readonly pageStart: number;
  readonly pageEnd: number;
  /** A recording's chunk: seconds into it. */
  readonly timeStart?: number;
  readonly timeEnd?: number;
}

const DETAIL_FIELDS = ['documentId', 'fileName', 'text', 'pageStart', 'pageEnd', 'timeStart', 'timeEnd'] as const;

function termFieldPaths(terms: readonly string[]): FieldPath[] {
  return terms.map((t) => new FieldPath('termFreqs', t));
}

function numberOr(v: unknown, d: number): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : d;
}

function readCandidate(snap: DocumentSnapshot, terms: readonly string[]): Candidate {
  const tf: Record<string, number> = {};
  const freqs: unknown = snap.get('termFreqs');
  if (freqs && typeof freqs === 'object') {
    for (const t of terms) {
      const v = (freqs as Record<string, unknown>)[t];
      if (typeof v === 'number') tf[t] = v;
    }
  }
  const documentId: unknown = snap.get('documentId');
  return { id: snap.id, documentId: typeof documentId === 'string' ? documentId : '', version: numberOr(snap.get('version'), 0), termFreqs: tf, termCount: numberOr(snap.get('termCount'), 0) };
}

function readDetail(snap: DocumentSnapshot): Detail | undefined {
  const text: unknown = snap.get('text');
  if (typeof text !== 'string') return undefined;
  const fileName: unknown = snap.get('fileName');
  const timeStart: unknown = snap.get('timeStart');
  const timeEnd: unknown = snap.get('timeEnd');
  const times = typeof timeStart === 'number' ? { timeStart, timeEnd: typeof timeEnd === 'number' ? timeEnd : timeStart } : {};
  return { fileName: typeof fileName === 'string' ? fileName : '', text, pageStart: numberOr(snap.get('pageStart'), 1), pageEnd: numberOr(snap.get('pageEnd'), numberOr(snap.get('pageStart'), 1)), ...times };
}

/**
 * Keeps the fused hits whose chunk belongs to its document's current version, in order, up to
 * `limit`. A new version's chunks are written (and searchable by the queries) while it is processed,
 * and its document switches to it in one write when it is READY (`currentVersion`); reading that
 * field for the documents of the first hits, after every query, makes an answer hold one version of
 * a document (never both, never none when either would match), whatever moment each query read.
 * Costs one read per distinct document among the first hits (a window of twice the limit at a time).
 */
async function currentVersionsOnly(db: Firestore, fused: readonly Fused[], candidates: ReadonlyMap<string, Candidate>, limit: number): Promise<Fused[]> {
  const kept: Fused[] = [];
  const current = new Map<string, number | null>();
  for (let i = 0; i < fused.length && kept.length < limit; i += 2 * limit) {
    const window = fused.slice(i, i + 2 * limit);
    const unknown = [...new Set(window.map((f) => candidates.get(f.id)?.documentId ?? '').filter((d) => d !== '' && !current.has(d)))];
    if (unknown.length > 0) {
      const snaps = await db.getAll(...unknown.map((d) => db.collection(COLLECTIONS.documents).doc(d)), { fieldMask: ['currentVersion'] });
      for (const snap of snaps) current.set(snap.id, snap.exists ? numberOr(snap.get('currentVersion'), 1) : null);
    }
    for (const f of window) {
      const c = candidates.get(f.id);
      if (c && current.get(c.documentId) === c.version && kept.length < limit) kept.push(f);
    }
  }
  return kept;
}

/** Clamps a requested limit to 1..MAX_LIMIT (default DEFAULT_LIMIT). */
export function clampLimit(limit: number | undefined): number {
  if (limit === undefined || !Number.isFinite(limit)) return DEFAULT_LIMIT;
  return Math.max(1, Math.min(MAX_LIMIT, Math.floor(limit)));
}

export async function search(request: SearchRequest, deps: SearchDeps): Promise<SearchOutcome> {
  const limit = clampLimit(request.limit);
  const col = deps.db.collection(CHUNKS);
  const project = col.where('projectId', '==', request.projectId).where('current', '==', true);
  let filtered: Query = project;
  if (request.documentId !== undefined) filtered = filtered.where('documentId', '==', request.documentId);
  if (request.contentType !== undefined) filtered = filtered.where('contentType', '==', request.contentType);

  const language = queryLanguage(request.query);
  const allTerms = searchTerms(request.query);
  const counted = preselectTerms(allTerms);
  const keywordOn = (deps.sides?.keyword ?? true) && counted.length > 0;

  // Statistics (keyword side), over the whole project so scores do not depend on the filters.
  const statsPromise: Promise<{ stats: CorpusStats; scored: string[]; fetch: string[] } | null> = keywordOn
    ? (async () => {
        const [total, ...dfs] = await Promise.all([
          project.aggregate({ n: AggregateField.count(), sum: AggregateField.sum('termCount') }).get(),
          ...counted.map((t) => project.where('terms', 'array-contains', t).count().get()),
        ]);
        const n = total?.data().n ?? 0;
        const df = new Map(counted.map((t, i) => [t, dfs[i]?.data().count ?? 0]));
        const { scored, fetch } = selectTerms(df);
        return { stats: { n, avgdl: n > 0 ? numberOr(total?.data().sum, 0) / n : 0, df }, scored, fetch };
      })()
    : Promise.resolve(null);

  // Vector side, in parallel: embed, then the nearest chunks of the same model. An engine that
  // cannot be created or fails degrades the answer to keyword only (reported in `modes`), not to an error.
  let engine: EmbeddingEngine | undefined;
  if ((deps.sides?.vector ?? true) && deps.engine) {
    try {
      engine = await deps.engine();
    } catch (err) {
      deps.onError?.('vector', err);
    }
  }
  let vectorOn = engine !== undefined && vectorUseful(request.query, engine.name);
  const vectorPromise: Promise<{ candidate: Candidate; similarity: number }[]> =
    vectorOn && engine
      ? (async (e: EmbeddingEngine) => {
          const [queryVector] = await e.embed([request.query], { kind: 'query' });
          if (!queryVector) return [];
          const snap = await filtered
            .where('embeddingModel', '==', e.model)
            .select(...DETAIL_FIELDS, 'version', 'termCount', ...termFieldPaths(counted))
            .findNearest({ vectorField: 'embedding', queryVector, limit: VECTOR_NEIGHBOURS, distanceMeasure: 'COSINE', distanceResultField: '_distance' })
            .get();
          return snap.docs.map((d) => {
            const c = readCandidate(d, counted);
            const detail = readDetail(d);
            if (detail) c.detail = detail;
            // COSINE distance is 1 − cosine similarity.
            return { candidate: c, similarity: 1 - numberOr(d.get('_distance'), 1) };
          });
        })(engine).catch((err: unknown) => {
          deps.onError?.('vector', err);
          vectorOn = false;
          return [];
        })
      : Promise.resolve([]);

  const stats = await statsPromise;
  const candidates = new Map<string, Candidate>();
  if (stats && stats.fetch.length > 0) {
    const mask = ['documentId', 'version', 'termCount', ...termFieldPaths(stats.scored)];
    const snaps = await Promise.all(stats.fetch.map((t) => filtered.where('terms', 'array-contains', t).select(...mask).limit(CANDIDATES_PER_TERM).get()));
    for (const s of snaps) for (const d of s.docs) if (!candidates.has(d.id)) candidates.set(d.id, readCandidate(d, stats.scored));
  }
  const vectorHits = await vectorPromise;
  // Vector hits carry their term counts too: their BM25 score is exact, so they join the keyword ranking.
  for (const h of vectorHits) {
    const known = candidates.get(h.candidate.id);
    if (known) known.detail = h.candidate.detail;
    else candidates.set(h.candidate.id, h.candidate);
  }

  let keywordRanked: Ranked = [];
  if (stats && stats.scored.length > 0) {
    keywordRanked = [...candidates.values()]
      .map((c) => ({ id: c.id, score: bm25(c, stats.scored, stats.stats) }))
      .filter((e) => e.score > 0)
      .sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : 1));
  }
  const vectorRanked: Ranked = vectorHits.map((h) => ({ id: h.candidate.id, score: h.similarity }));
  // Chunks holding every precise query term (references, numbers) lead, in fused order.
  const precise = stats ? preciseTerms(stats.scored) : [];
  const exact = new Set(precise.length === 0 ? [] : [...candidates.values()].filter((c) => precise.every((t) => (c.termFreqs[t] ?? 0) > 0)).map((c) => c.id));
  const fused = await currentVersionsOnly(deps.db, promote(fuse(deps.fusion ?? 'rrf', keywordRanked, vectorRanked), exact), candidates, limit);

  // Texts of keyword-only hits: one batched read of just the fields a result shows.
  const missing = fused.map((f) => candidates.get(f.id)).filter((c): c is Candidate => c !== undefined && c.detail === undefined);
  if (missing.length > 0) {
    const snaps = await deps.db.getAll(...missing.map((c) => col.doc(c.id)), { fieldMask: [...DETAIL_FIELDS] });
    for (const s of snaps) {
      const c = candidates.get(s.id);
      const detail = s.exists ? readDetail(s) : undefined;
      if (c && detail) c.detail = detail;
    }
  }

  const highlightTerms = stats?.scored.length ? stats.scored : allTerms;
  const results: SearchHit[] = [];
  for (const f of fused) {
    const c = candidates.get(f.id);
    if (!c?.detail) continue;
    const ranges = matchRanges(c.detail.text, request.query, highlightTerms, language);
    const snip = snippet(c.detail.text, ranges);
    results.push({
      documentId: c.documentId,
      fileName: c.detail.fileName,
      chunkId: c.id,
      page: c.detail.pageStart,
      pageEnd: c.detail.pageEnd,
      score: Number(f.score.toFixed(6)),
      snippet: snip.snippet,
      highlights: snip.highlights,
      ...(c.detail.timeStart === undefined ? {} : { timeStart: c.detail.timeStart, timeEnd: c.detail.timeEnd ?? c.detail.timeStart }),
      ...(f.keywordRank === undefined ? {} : { keywordRank: f.keywordRank }),
      ...(f.vectorRank === undefined ? {} : { vectorRank: f.vectorRank }),
    });
  }
  return { results, modes: { keyword: keywordOn, vector: vectorOn }, terms: stats?.scored ?? [] };
}
