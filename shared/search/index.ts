/**
 * Hybrid search (keyword BM25 + vectors, fused). `createSearchDeps` builds what {@link search} needs
 * from a Firestore client and the config; the embedding engine (and its model) loads only when a
 * search first needs a query vector, so importing this costs other routes nothing.
 */
import type { Firestore } from '@google-cloud/firestore';
import type { EmbeddingEngine } from '../engines/embeddings/types.js';
import type { SearchDeps } from './search.js';

export * from './search.js';
export { bm25, idf, preselectTerms, selectTerms, BM25_B, BM25_K1, MAX_QUERY_TERMS, MAX_CANDIDATE_TERMS, MAX_COUNTED_TERMS, type CorpusStats } from './bm25.js';
export { blend, fuse, rrf, RRF_K, type FusionMethod } from './fusion.js';
export { markHighlights, matchRanges, snippet, type Range } from './highlight.js';
export { queryLanguage, searchTerms, vectorUseful } from './query.js';

/** Search deps on `db` with the embedding engine the config names (the same one the embed stage uses). */
export function createSearchDeps(db: Firestore): SearchDeps {
  let engine: Promise<EmbeddingEngine> | undefined;
  return {
    db,
    engine: () =>
      (engine ??= (async () => {
        const [{ config }, { createEmbeddingEngine }] = await Promise.all([import('../config/index.js'), import('../engines/embeddings/index.js')]);
        const c = config();
        return createEmbeddingEngine({
          engine: c.SCRIPTORIUM_EMBEDDING_ENGINE,
          project: c.GOOGLE_CLOUD_PROJECT,
          location: c.SCRIPTORIUM_VERTEX_LOCATION,
          ...(c.SCRIPTORIUM_EMBEDDING_MODEL ? { model: c.SCRIPTORIUM_EMBEDDING_MODEL } : {}),
          ...(c.SCRIPTORIUM_EMBEDDING_DIMENSIONS ? { dimensions: c.SCRIPTORIUM_EMBEDDING_DIMENSIONS } : {}),
          ...(c.SCRIPTORIUM_VERTEX_ENDPOINT ? { endpoint: c.SCRIPTORIUM_VERTEX_ENDPOINT } : {}),
        });
      })()),
  };
}
