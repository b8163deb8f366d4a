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
import { chunkDocument } from '../../shared/text/chunk.js';
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
    async work({ job, document, signal, progress, usage }) {
      const engine = meteredEmbeddings(deps.engine(), usage);
      const storage = meteredStorage(deps.storage, usage);
      const text = await readDocumentText(storage, document);
      const maxTokens = Math.min(CHUNK_MAX_TOKENS, engine.maxInputTokens);
      const chunks = chunkDocument(text, { maxTokens, overlapTokens: Math.min(CHUNK_OVERLAP_TOKENS, Math.floor(maxTokens / 4)) });
      const started = performance.now();
      const vectors: number[][] = [];
      for (let i = 0; i < chunks.length; i += EMBED_BATCH) {
        // Bidi controls carry no meaning for the model (and are kept out of what is matched).
        const batch = chunks.slice(i, i + EMBED_BATCH).map((c) => stripBidiControls(c.text));
        vectors.push(...(await engine.embed(batch, { kind: 'document', signal })));
        // Embedding is most of the work: 0–90 %; writing the chunks the rest.
        await progress((0.9 * vectors.length) / chunks.length, { chunksEmbedded: vectors.length, chunkCount: chunks.length });
      }
      const embedMs = Math.round(performance.now() - started);
      // A recording's chunks point at the time in it: its text is the transcript, one line per utterance.
      const offsets = await transcriptOffsets(storage, job);
      // Terms are made as queries' terms are (see documentTermsLanguage), so the two always match.
      const language = documentTermsLanguage(document.language, text);
      const records: NewChunk[] = chunks.map((c, i) => {
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
          vector: vectors[i] ?? [],
        };
      });
      const embedding = { engine: engine.name, model: engine.model, dimensions: engine.dimensions };
      const written = await deps.chunks.replace(
        // A later version's chunks are searched only once the document names it current (see shared/search).
        { projectId: job.projectId, documentId: document.id, version: job.input.version, contentType: document.contentType, fileName: document.fileName, embedding },
        records,
        (n) => progress(0.9 + (0.1 * n) / Math.max(1, records.length)),
      );
      return {
        result: { chunkCount: written, embedding },
        metrics: { embedMs, chunks: written },
        document: { chunkCount: written, embedding },
        message: `embedded ${written} chunk(s) with ${embedding.model} (${embedding.dimensions} dimensions) in ${embedMs} ms`,
      };
    },
  };
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
