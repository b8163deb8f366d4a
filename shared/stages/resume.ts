/**
 * The checkpoints of the resumable stages (see ./checkpoints.ts): OCR keeps each recognised unit's
 * pages (a page for the local engine, one request's pages for Document AI), transcription each
 * transcribed segment. Keyed on the source generation (and, for speech, the engine and model), so
 * an attempt only ever resumes work done on the same bytes by the same engine.
 */
import type { DocumentReference } from '@google-cloud/firestore';
import { z } from 'zod';
import type { DonePage } from '../engines/ocr/types.js';
import type { SttResult } from '../engines/stt/types.js';
import type { Logger } from '../logger/index.js';
import { jobCheckpoints, type CheckpointStore } from './checkpoints.js';

const OcrPageSchema = z.object({
  pageNumber: z.number().int().min(1),
  text: z.string(),
  method: z.enum(['text-layer', 'ocr', 'extract']),
  rotation: z.number(),
  confidence: z.number().optional(),
});

const OcrUnitSchema = z.object({
  /** The document's page count when the unit was done: a unit from a different count is not this document's. */
  pageCount: z.number().int().min(1),
  pages: z.array(z.object({ page: OcrPageSchema, languageVotes: z.array(z.object({ code: z.string(), weight: z.number() })).optional() })).min(1),
});
export type OcrUnit = z.infer<typeof OcrUnitSchema>;

export interface OcrCheckpoints {
  /** Done pages by page number (units whose page count disagrees with the others are dropped). */
  load(): Promise<Map<number, DonePage>>;
  save(unit: number, payload: OcrUnit): Promise<void>;
  clear(): Promise<number>;
}

export function ocrCheckpoints(jobRef: DocumentReference, generation: string, log?: Logger): OcrCheckpoints {
  const store = jobCheckpoints(jobRef, 'ocr', generation, OcrUnitSchema, log);
  return {
    async load() {
      const units = await store.load();
      const counts = new Set([...units.values()].map((u) => u.pageCount));
      const out = new Map<number, DonePage>();
      // Every unit of one document says the same page count; if they do not, trust none.
      if (counts.size !== 1) return out;
      for (const u of units.values()) for (const d of u.pages) out.set(d.page.pageNumber, d);
      return out;
    },
    save: (unit, payload) => store.save(unit, payload),
    clear: () => store.clear(),
  };
}

const SttSegmentSchema = z.object({
  /** Where the segment lies in the normalized recording: a checkpoint only matches the same cut. */
  start: z.number(),
  end: z.number(),
  result: z.object({
    engine: z.string(),
    model: z.string(),
    language: z.string(),
    durationSeconds: z.number(),
    segments: z.array(
      z.object({
        start: z.number(),
        end: z.number(),
        text: z.string(),
        confidence: z.number().optional(),
        words: z.array(z.object({ text: z.string(), start: z.number(), end: z.number(), confidence: z.number().optional() })).optional(),
        language: z.string().optional(),
      }),
    ),
    engineMs: z.number(),
    billedSeconds: z.number().optional(),
  }),
});
export type SegmentCheckpoint = z.infer<typeof SttSegmentSchema>;
/** A checkpoint's result is an engine result (the schema is SttResult's shape). */
export const segmentResult = (c: SegmentCheckpoint): SttResult => c.result;

/** Speech checkpoints are of one source generation, engine and model. */
function speechKey(generation: string, engine: { name: string; model: string }): string {
  // Firestore document ids must not contain '/': model names may (e.g. a recognizer path).
  return `${generation}~${`${engine.name}-${engine.model}`.replace(/[^A-Za-z0-9._-]+/g, '_')}`;
}

export function transcribeCheckpoints(jobRef: DocumentReference, generation: string, engine: { name: string; model: string }, log?: Logger): CheckpointStore<SegmentCheckpoint> {
  return jobCheckpoints(jobRef, 'transcribe', speechKey(generation, engine), SttSegmentSchema, log);
}

const BatchOperationSchema = z.object({
  /** The long-running operation's name (`projects/P/locations/L/operations/ID`). */
  operation: z.string().min(1),
  /** The normalized recording the operation reads (`gs://…`). */
  uri: z.string().min(1),
  language: z.string().min(1),
  /** The normalized recording's length. */
  durationSeconds: z.number().positive(),
  startedAt: z.string(),
});
export type BatchOperationCheckpoint = z.infer<typeof BatchOperationSchema>;

/**
 * The batch recognition a transcription started (one per source generation, engine and model):
 * later invocations poll it instead of starting another, and a failed operation's checkpoint is
 * cleared so a retry starts anew. Unit 0 is the only one.
 */
export function transcribeBatchCheckpoint(jobRef: DocumentReference, generation: string, engine: { name: string; model: string }, log?: Logger): CheckpointStore<BatchOperationCheckpoint> {
  return jobCheckpoints(jobRef, 'transcribe-batch', speechKey(generation, engine), BatchOperationSchema, log);
}
