/**
 * Chunks (`chunks/{chunkId}`): the searchable pieces of a document version, each with its vector
 * (`FieldValue.vector`) and its keyword terms, plus the fields search pre-filters on (project,
 * document, version, current, content type). Ids are deterministic (document, version, index), so a
 * redelivered embedding stage rewrites the same chunks and never duplicates them.
 */
import { FieldValue, type Firestore } from '@google-cloud/firestore';
import { z } from 'zod';
import { chunkId } from '../text/chunk.js';
import { COLLECTIONS } from './paths.js';

export const CHUNKS = COLLECTIONS.chunks;

export { chunkId };

export interface NewChunk {
  readonly index: number;
  readonly text: string;
  readonly pageStart: number;
  readonly pageEnd: number;
  readonly charStart: number;
  readonly charEnd: number;
  readonly tokenEstimate: number;
  /** Normalized keyword terms with their counts in this chunk (BM25 side of search). */
  readonly termFreqs: Readonly<Record<string, number>>;
  readonly termCount: number;
  readonly vector: readonly number[];
  /** For a recording's chunks: where in it (seconds) the chunk's text was said. */
  readonly timeStart?: number;
  readonly timeEnd?: number;
}

export interface ChunkContext {
  readonly projectId: string;
  readonly documentId: string;
  readonly version: number;
  readonly contentType: string;
  readonly fileName: string;
  readonly embedding: { readonly engine: string; readonly model: string; readonly dimensions: number };
  /** The job that embeds them (stored as `embeddedBy`): a resumed attempt of that job reuses its chunks. */
  readonly jobId?: string;
}

export const StoredChunkSchema = z.object({
  projectId: z.string(),
  documentId: z.string(),
  version: z.number().int(),
  current: z.boolean(),
  contentType: z.string(),
  fileName: z.string(),
  index: z.number().int(),
  text: z.string(),
  pageStart: z.number().int(),
  pageEnd: z.number().int(),
  charStart: z.number().int(),
  charEnd: z.number().int(),
  tokenEstimate: z.number(),
  terms: z.array(z.string()),
  termFreqs: z.record(z.string(), z.number()),
  termCount: z.number().int(),
  embeddingModel: z.string(),
  embeddingDimensions: z.number().int(),
  embeddedBy: z.string().optional(),
  timeStart: z.number().optional(),
  timeEnd: z.number().optional(),
});
export type StoredChunk = z.infer<typeof StoredChunkSchema> & { readonly id: string };

/** Firestore allows 500 writes per batch; vectors make chunks a few KB each, far under 10 MB. */
const BATCH = 400;

export class ChunkRepository {
  constructor(private readonly db: Firestore) {}

  /**
   * Writes a version's chunks (set: idempotent per id) and deletes chunks of that version beyond the
   * new count (left by an earlier run with another model or chunking). Returns the count written.
   */
  async replace(ctx: ChunkContext, chunks: readonly NewChunk[], onBatch?: (written: number) => Promise<void> | void): Promise<number> {
    const written = await this.write(ctx, chunks, onBatch);
    await this.removeBeyond(ctx, chunks.length);
    return written;
  }

  /** Writes (sets) these chunks of a version, whatever their indexes; returns the count written. */
  async write(ctx: ChunkContext, chunks: readonly NewChunk[], onBatch?: (written: number) => Promise<void> | void): Promise<number> {
    const col = this.db.collection(CHUNKS);
    let written = 0;
    for (let i = 0; i < chunks.length; i += BATCH) {
      const batch = this.db.batch();
      for (const c of chunks.slice(i, i + BATCH)) {
        if (c.vector.length !== ctx.embedding.dimensions) throw new Error(`chunk ${c.index}: vector of ${c.vector.length} dimensions, model says ${ctx.embedding.dimensions}`);
        batch.set(col.doc(chunkId(ctx.documentId, ctx.version, c.index)), {
          projectId: ctx.projectId,
          documentId: ctx.documentId,
          version: ctx.version,
          // False once a later version is promoted (retired). Search also keeps only chunks of each
          // document's currentVersion, so a version in progress (or failed) is never an answer.
          current: true,
          contentType: ctx.contentType,
          fileName: ctx.fileName,
          index: c.index,
          text: c.text,
          pageStart: c.pageStart,
          pageEnd: c.pageEnd,
          charStart: c.charStart,
          charEnd: c.charEnd,
          tokenEstimate: c.tokenEstimate,
          ...(c.timeStart === undefined ? {} : { timeStart: c.timeStart, timeEnd: c.timeEnd ?? c.timeStart }),
          // The distinct terms, for array-contains-any pre-selection; their counts for scoring.
          terms: Object.keys(c.termFreqs),
          termFreqs: c.termFreqs,
          termCount: c.termCount,
          embedding: FieldValue.vector([...c.vector]),
          embeddingModel: ctx.embedding.model,
          embeddingDimensions: ctx.embedding.dimensions,
          ...(ctx.jobId ? { embeddedBy: ctx.jobId } : {}),
          updatedAt: FieldValue.serverTimestamp(),
        });
      }
      await batch.commit();
      written += Math.min(BATCH, chunks.length - i);
      await onBatch?.(written);
    }
    return written;
  }

  /** Deletes the version's chunks from index `count` on (left by an earlier run with another model or chunking). */
  async removeBeyond(ctx: Pick<ChunkContext, 'documentId' | 'version'>, count: number): Promise<void> {
    const col = this.db.collection(CHUNKS);
    const stale = await col.where('documentId', '==', ctx.documentId).where('version', '==', ctx.version).where('index', '>=', count).get();
    for (let i = 0; i < stale.docs.length; i += BATCH) {
      const batch = this.db.batch();
      for (const d of stale.docs.slice(i, i + BATCH)) batch.delete(d.ref);
      await batch.commit();
    }
  }

  async list(documentId: string, version: number): Promise<StoredChunk[]> {
    const snap = await this.db.collection(CHUNKS).where('documentId', '==', documentId).where('version', '==', version).orderBy('index').get();
    return snap.docs.map((d) => ({ ...StoredChunkSchema.parse(d.data()), id: d.id }));
  }
}
