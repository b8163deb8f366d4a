/**
 * Embedding stage: when a document's text is ready, chunks it by structure (pages, paragraphs,
 * headings; bounded by the model's input limit, with overlap), embeds the chunks in batches with
 * live progress, and writes them to `chunks/` with their vectors and keyword terms under
 * deterministic ids (a redelivery rewrites the same chunks). Claim, lease, attempts, cancel and
 * completion are the stage runner's.
 */
import type { EmbeddingEngine } from '../../shared/engines/embeddings/types.js';
import type { ChunkRepository, NewChunk } from '../../shared/firestore/chunks.js';
import { leaseFor, runStage, type StageDefinition, type StageDeps, type StageOutcome } from '../../shared/stages/runner.js';
import { decodeTextReady, readDocumentText, transcriptRefsOf } from '../../shared/stages/text-ready.js';
import type { StorageGateway } from '../../shared/storage/index.js';
import { chunkDocument, type Chunk } from '../../shared/text/chunk.js';
import { stripBidiControls } from '../../shared/text/normalize.js';
import { termFrequencies } from '../../shared/text/terms.js';
import { documentTermsLanguage } from '../../shared/search/query.js';
import { parseTranscriptJson, segmentOffsets, timeSpanOf } from '../../shared/media/transcript.js';
import type { Job } from '../../shared/jobs/model.js';
import { meteredEmbeddings, meteredStorage } from '../../shared/cost/meter.js';

export interface EmbedDeps extends StageDeps {
  readonly chunks: ChunkRepository;
  readonly storage: StorageGateway;
  /** Created on first use by the function (the model loads only where chunks are embedded). */
  readonly engine: () => EmbeddingEngine;
}

/**
 * Chunk size: well under every model's input limit (USE-lite reads ~128 word pieces well; Vertex takes
 * 2,048 tokens), small enough that a hit points at a passage, with overlap so no sentence is only cut.
 */
export const CHUNK_MAX_TOKENS = 200;
export const CHUNK_OVERLAP_TOKENS = 30;
/** Texts per embed call: progress between batches, bounded memory for long documents. */
const EMBED_BATCH = 32;

export function embedStage(deps: Pick<EmbedDeps, 'storage' | 'engine' | 'chunks'>): StageDefinition {
  return {
    name: 'embed',
    leaseMs: leaseFor('embed'),
    decode: (eventData) => decodeTextReady('embed', eventData),
    async work({ job, document, signal, progress, log, usage }) {
      const engine = meteredEmbeddings(deps.engine(), usage);
      const storage = meteredStorage(deps.storage, usage);
      const text = await readDocumentText(storage, document);
      const maxTokens = Math.min(CHUNK_MAX_TOKENS, engine.maxInputTokens);
      const chunks = chunkDocument(text, { maxTokens, overlapTokens: Math.min(CHUNK_OVERLAP_TOKENS, Math.floor(maxTokens / 4)) });
      const embedding = { engine: engine.name, model: engine.model, dimensions: engine.dimensions };
      // A recording's chunks point at the time in it: its text is the transcript, one line per utterance.
      const offsets = await transcriptOffsets(storage, job);
      // Terms are made as queries' terms are (see documentTermsLanguage), so the two always match.
      const language = documentTermsLanguage(document.language, text);
      const ctx = { projectId: job.projectId, documentId: document.id, version: job.input.version, contentType: document.contentType, fileName: document.fileName, embedding, jobId: job.id };
      // Resuming: the chunks an earlier attempt of this job wrote (deterministic ids, same text, same
      // model) are its checkpoints; their batches are neither embedded nor written again.
      const reusable = await reusableChunks(deps.chunks, job, document.id, embedding);
      const started = performance.now();
      let written = 0;
      let resumedChunks = 0;
      for (let i = 0; i < chunks.length; i += EMBED_BATCH) {
        const slice = chunks.slice(i, i + EMBED_BATCH);
        if (slice.every((c) => reusable.get(c.index)?.matches(c) === true)) {
          resumedChunks += slice.length;
        } else {
          // Bidi controls carry no meaning for the model (and are kept out of what is matched).
          const vectors = await engine.embed(
            slice.map((c) => stripBidiControls(c.text)),
            { kind: 'document', signal },
          );
          const records: NewChunk[] = slice.map((c, k) => {
            const tf = termFrequencies(c.text, { language });
            const span = offsets ? timeSpanOf(offsets, c.charStart, c.charEnd) : null;
            return {
              ...(span ? { timeStart: span.start, timeEnd: span.end } : {}),
              index: c.index,
              text: c.text,
              pageStart: c.pageStart,
              pageEnd: c.pageEnd,
              charStart: c.charStart,
              charEnd: c.charEnd,
              tokenEstimate: c.tokenEstimate,
              termFreqs: Object.fromEntries(tf.counts),
              termCount: tf.tokenCount,
              vector: vectors[k] ?? [],
            };
          });
          // Written batch by batch: each written batch is what a later attempt resumes from.
          // A later version's chunks are searched only once the document names it current (see shared/search).
          await deps.chunks.write(ctx, records);
        }
        written += slice.length;
        await progress(written / Math.max(1, chunks.length), { chunksEmbedded: written, chunkCount: chunks.length, ...(resumedChunks > 0 ? { resumedChunks } : {}) });
      }
      await deps.chunks.removeBeyond(ctx, chunks.length);
      const embedMs = Math.round(performance.now() - started);
      if (resumedChunks > 0) log.info(`embed: ${resumedChunks} of ${chunks.length} chunk(s) reused from an earlier attempt`, { resumedFrom: resumedChunks });
      return {
        result: { chunkCount: written, embedding, resumedFrom: resumedChunks },
        metrics: { embedMs, chunks: written, resumedChunks },
        document: { chunkCount: written, embedding },
        message: `embedded ${written} chunk(s) with ${embedding.model} (${embedding.dimensions} dimensions) in ${embedMs} ms`,
      };
    },
  };
}

/** A stored chunk this attempt may keep: written by this job with this model, for the same piece of text. */
async function reusableChunks(repo: ChunkRepository, job: Job, documentId: string, embedding: { model: string; dimensions: number }): Promise<Map<number, { matches(c: Chunk): boolean }>> {
  const stored = await repo.list(documentId, job.input.version);
  const out = new Map<number, { matches(c: Chunk): boolean }>();
  for (const s of stored) {
    if (s.embeddedBy !== job.id || s.embeddingModel !== embedding.model || s.embeddingDimensions !== embedding.dimensions) continue;
    out.set(s.index, { matches: (c) => c.text === s.text && c.charStart === s.charStart && c.charEnd === s.charEnd });
  }
  return out;
}

/** The transcript's segment offsets of a recording's job (null for documents). */
async function transcriptOffsets(storage: StorageGateway, job: Job): Promise<ReturnType<typeof segmentOffsets> | null> {
  const ref = transcriptRefsOf(job)?.json;
  if (!ref) return null;
  const transcript = parseTranscriptJson((await storage.read(ref)).toString('utf8'));
  return segmentOffsets(transcript);
}

export function handleEmbed(eventData: unknown, deps: EmbedDeps): Promise<StageOutcome> {
  return runStage(embedStage(deps), eventData, deps);
}
