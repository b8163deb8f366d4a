/**
 * Decoding for the stages that start when a document's text is ready (embedding, summary): they
 * subscribe to `document-events`, take `text.ready` events and acknowledge every other event type
 * without work. The event only names the job; the text is read from the document record.
 */
import { parseMessage } from '../events/envelope.js';
import type { StorageGateway } from '../storage/index.js';
import type { DocumentRecord } from '../firestore/documents.js';
import { PermanentError } from '../errors/index.js';
import type { Decoded } from './runner.js';

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
      const r = (job.stages.ocr?.result ?? job.stages.transcribe?.result) as { text?: { object?: unknown; generation?: unknown } } | null | undefined;
      return r?.text?.object === data.text.object && r.text.generation === data.text.generation;
    },
  };
}

/** The document's extracted text, from the object its record points at. */
export async function readDocumentText(storage: StorageGateway, document: DocumentRecord): Promise<string> {
  if (!document.text) throw new PermanentError('TEXT_MISSING', `document ${document.id} has no text yet`);
  const ref = { bucket: document.text.bucket, object: document.text.object, ...(document.text.generation ? { generation: document.text.generation } : {}) };
  return (await storage.read(ref)).toString('utf8');
}
