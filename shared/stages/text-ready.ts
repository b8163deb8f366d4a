/**
 * Decoding for the stages that start when a document's text is ready (embedding, summary): they
 * subscribe to `document-events`, take `text.ready` events and acknowledge every other event type
 * without work. The event only names the job; the text is read from the document record.
 */
import { z } from 'zod';
import { parseMessage } from '../events/envelope.js';
import type { DocumentEvent } from '../events/contracts.js';
import type { StorageGateway } from '../storage/index.js';
import type { DocumentRecord } from '../firestore/documents.js';
import { PermanentError } from '../errors/index.js';
import type { Job } from '../jobs/model.js';
import type { Decoded } from './runner.js';

/** The stages that make a job's text: OCR (and extraction) for documents, transcription for recordings. */
export const TEXT_STAGES = ['ocr', 'transcribe'] as const;

const ObjectRefSchema = z.object({ bucket: z.string(), object: z.string(), generation: z.string() });

/** What a text stage records as its result, at least (the text-ready event is built from it). */
const TextStageResultSchema = z.object({
  pageCount: z.number().int(),
  language: z.string(),
  text: ObjectRefSchema,
});

/** The transcript files a recording's `transcribe` stage keeps (its result's `transcript`). */
const TranscriptRefsSchema = z.object({ json: ObjectRefSchema, srt: ObjectRefSchema, vtt: ObjectRefSchema });
export type TranscriptRefs = z.infer<typeof TranscriptRefsSchema>;

/** A recording's transcript files, from its job; null for documents and before transcription completed. */
export function transcriptRefsOf(job: Job): TranscriptRefs | null {
  const parsed = TranscriptRefsSchema.safeParse((job.stages.transcribe?.result as { transcript?: unknown } | null | undefined)?.transcript);
  return parsed.success ? parsed.data : null;
}

/** The job's text stage (the one of {@link TEXT_STAGES} it has) and its result, parsed; null before one exists. */
export function textStageOf(job: Job): { readonly name: (typeof TEXT_STAGES)[number]; readonly result: z.infer<typeof TextStageResultSchema> | null } | null {
  const name = TEXT_STAGES.find((n) => job.stages[n] !== undefined);
  if (!name) return null;
  const parsed = TextStageResultSchema.safeParse(job.stages[name]?.result);
  return { name, result: parsed.success ? parsed.data : null };
}

/**
 * The text-ready event of a job whose text stage completed, built from the job record (never from a
 * message): what the text stage announces and what the reaper publishes again.
 */
export function textReadyEvent(job: Job, occurredAt?: string): DocumentEvent {
  const stage = textStageOf(job);
  if (!stage?.result || job.documentId === null || job.input.generation === null) throw new PermanentError('JOB_NOT_INGESTED', `job ${job.id} has no text, document or source generation`);
  return {
    type: 'scriptorium.document.text.ready.v1',
    jobId: job.id,
    projectId: job.projectId,
    documentId: job.documentId,
    generation: job.input.generation,
    text: stage.result.text,
    pageCount: stage.result.pageCount,
    language: stage.result.language,
    occurredAt: occurredAt ?? job.stages[stage.name]?.finishedAt ?? new Date().toISOString(),
  };
}

export function decodeTextReady(stage: string, eventData: unknown): Decoded {
  const { data, messageId } = parseMessage('document-events', eventData);
  if (data.type !== 'scriptorium.document.text.ready.v1') return { ignore: `${data.type} is not for the ${stage} stage` };
  return {
    request: { jobId: data.jobId, projectId: data.projectId, documentId: data.documentId, generation: data.generation, messageId },
    // The event's text is the document's own text object, or it describes another version. A
    // re-embedding job is made for the version's text (its source generation is checked too).
    matches: (job) => {
      if (job.kind === 'document.embed') return job.stages[stage] !== undefined;
      // The stage that made the text: OCR for documents, transcription for recordings.
      const r = textStageOf(job)?.result;
      return r?.text.object === data.text.object && r.text.generation === data.text.generation;
    },
  };
}

/** The document's extracted text, from the object its record points at. */
export async function readDocumentText(storage: StorageGateway, document: DocumentRecord): Promise<string> {
  if (!document.text) throw new PermanentError('TEXT_MISSING', `document ${document.id} has no text yet`);
  const ref = { bucket: document.text.bucket, object: document.text.object, ...(document.text.generation ? { generation: document.text.generation } : {}) };
  return (await storage.read(ref)).toString('utf8');
}
