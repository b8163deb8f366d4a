/**
 * Summary stage: when a document's text is ready, summarizes it (extractive locally: real sentences
 * in document order; Gemini in production, map-reduce for long texts) with live progress, writes the
 * summary as a create-only derived object and on the document record. Claim, lease, attempts,
 * cancel and completion are the stage runner's.
 */
import type { SummaryEngine } from '../../shared/engines/summary/types.js';
import { leaseFor, runStage, type StageDefinition, type StageDeps, type StageOutcome } from '../../shared/stages/runner.js';
import { decodeTextReady, readDocumentText } from '../../shared/stages/text-ready.js';
import type { StorageGateway } from '../../shared/storage/index.js';
import { derivedPrefix } from '../../shared/storage/names.js';
import { meteredStorage, meteredSummary } from '../../shared/cost/meter.js';

export interface SummarizeDeps extends StageDeps {
  readonly storage: StorageGateway;
  readonly engine: () => SummaryEngine;
}

/** Summary bounds (project settings and agents will set them; these are the defaults). */
export const SUMMARY_MAX_SENTENCES = 5;
export const SUMMARY_MAX_CHARS = 1200;

export function summarizeStage(deps: Pick<SummarizeDeps, 'storage' | 'engine'>): StageDefinition {
  return {
    name: 'summarize',
    leaseMs: leaseFor('summarize'),
    decode: (eventData) => decodeTextReady('summarize', eventData),
    async work({ job, document, signal, progress, usage }) {
      const engine = meteredSummary(deps.engine(), usage);
      const storage = meteredStorage(deps.storage, usage);
      const text = await readDocumentText(storage, document);
      const started = performance.now();
      const out = await engine.summarize({ text, language: document.language, maxSentences: SUMMARY_MAX_SENTENCES, maxChars: SUMMARY_MAX_CHARS }, { signal, onProgress: (f) => progress(f) });
      const engineMs = Math.round(performance.now() - started);
      const generation = job.input.generation ?? 'unknown';
      const prefix = derivedPrefix({ projectId: job.projectId, documentId: document.id, sourceGeneration: generation });
      // Create-only like every derived object: a retried attempt reuses the first summary written.
      const obj = await storage.writeDerived({
        bucket: job.input.bucket,
        object: `${prefix}summary.json`,
        contentType: 'application/json',
        body: JSON.stringify({ summary: out.summary, sentences: out.sentences ?? null, engine: out.engine, model: out.model, usage: out.usage ?? null }),
        metadata: { jobId: job.id },
      });
      const summary = { text: out.summary, engine: out.engine, model: out.model };
      return {
        result: { summary: { ...summary, object: { bucket: obj.bucket, object: obj.object, generation: obj.generation } } },
        metrics: { summaryMs: engineMs, summaryChars: out.summary.length },
        document: { summary },
        message: `summarized with ${out.model}: ${out.summary.length} characters${out.sentences ? `, ${out.sentences.length} sentence(s)` : ''}`,
      };
    },
  };
}

export function handleSummarize(eventData: unknown, deps: SummarizeDeps): Promise<StageOutcome> {
  return runStage(summarizeStage(deps), eventData, deps);
}
