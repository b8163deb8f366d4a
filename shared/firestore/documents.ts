/**
 * Document records (`documents/{documentId}`): what was uploaded and what was derived from it.
 * `versions` room: today a document has one source; `currentVersion` is there so re-uploads can add
 * versions later without changing what readers expect.
 */
import { FieldValue, type DocumentReference, type Firestore, type Transaction } from '@google-cloud/firestore';
import { z } from 'zod';
import { paths } from './paths.js';
import { toPlain } from './client.js';

export const DOCUMENT_STATUSES = ['AWAITING_UPLOAD', 'PROCESSING', 'READY', 'FAILED', 'CANCELLED'] as const;
export type DocumentStatus = (typeof DOCUMENT_STATUSES)[number];

export const StoredObjectSchema = z.object({
  bucket: z.string(),
  object: z.string(),
  generation: z.string().nullable(),
  size: z.number().int().nullable(),
  md5Hash: z.string().nullable(),
  crc32c: z.string().nullable(),
});
export type StoredObject = z.infer<typeof StoredObjectSchema>;

export const DocumentSchema = z.object({
  id: z.string(),
  projectId: z.string(),
  ownerUid: z.string(),
  fileName: z.string(),
  contentType: z.string(),
  declaredSize: z.number().int(),
  status: z.enum(DOCUMENT_STATUSES),
  /** The processing job of the current version. */
  jobId: z.string(),
  currentVersion: z.number().int().min(1),
  source: StoredObjectSchema,
  pageCount: z.number().int().nullable(),
  language: z.string().nullable(),
  /** The extracted text, as an object in the documents bucket. */
  text: StoredObjectSchema.nullable(),
  /** Number of chunks (with vectors) search has for the current version. */
  chunkCount: z.number().int().nullable().default(null),
  /** The model that embedded the chunks: search never mixes vectors of different models. */
  embedding: z.object({ engine: z.string(), model: z.string(), dimensions: z.number().int() }).nullable().default(null),
  /** A short summary of the document (extractive locally, Gemini in production). */
  summary: z.object({ text: z.string(), engine: z.string(), model: z.string() }).nullable().default(null),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type DocumentRecord = z.infer<typeof DocumentSchema>;

export type NewDocument = Omit<DocumentRecord, 'createdAt' | 'updatedAt' | 'chunkCount' | 'embedding' | 'summary'>;

export class DocumentRepository {
  constructor(private readonly db: Firestore) {}

  ref(documentId: string): DocumentReference {
    return this.db.doc(paths.document(documentId));
  }

  async get(documentId: string): Promise<DocumentRecord | null> {
    const snap = await this.ref(documentId).get();
    return snap.exists ? DocumentSchema.parse({ ...(toPlain(snap.data()) as Record<string, unknown>), id: documentId }) : null;
  }

  async getIn(tx: Transaction, documentId: string): Promise<DocumentRecord | null> {
    const snap = await tx.get(this.ref(documentId));
    return snap.exists ? DocumentSchema.parse({ ...(toPlain(snap.data()) as Record<string, unknown>), id: documentId }) : null;
  }

  createIn(tx: Transaction, doc: NewDocument): void {
    const now = FieldValue.serverTimestamp();
    const { id, ...data } = doc;
    tx.create(this.ref(id), { ...data, chunkCount: null, embedding: null, summary: null, createdAt: now, updatedAt: now });
  }

  /** A partial update inside a transaction (used from guarded job updates). */
  updateIn(tx: Transaction, documentId: string, patch: Partial<Omit<DocumentRecord, 'id' | 'createdAt' | 'updatedAt'>>): void {
    tx.update(this.ref(documentId), { ...patch, updatedAt: FieldValue.serverTimestamp() });
  }
}
