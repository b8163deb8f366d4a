/**
 * Document records (`documents/{documentId}`): what was uploaded and what was derived from it.
 *
 * Versions: every upload of a document is a version with its own record
 * (`documents/{id}/versions/{n}`: source, status, text, chunks, summary) and its own job. The
 * document record shows the **current** version's fields (`currentVersion`): the first version from
 * its creation on, a later version only once it is READY, when it is promoted in the transaction that
 * completes its job. So a reader of the document, and search (which keeps only chunks of each
 * document's `currentVersion`), sees one version at a time; the version in progress is on its own
 * record and its job.
 */
import { FieldValue, type DocumentReference, type DocumentSnapshot, type Firestore, type Transaction } from '@google-cloud/firestore';
import { z } from 'zod';
import { COLLECTIONS, paths } from './paths.js';
import { toPlain } from './client.js';
import { directReads, type CreateWrites, type DocReader } from './reads.js';

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
  /** The highest version created (uploaded or awaited); `currentVersion` ≤ it. */
  latestVersion: z.number().int().min(1).default(1),
  /**
   * The last job created for this document (a version's processing, a re-embedding). One runs at a
   * time: a new one is refused while this one is not terminal, so their writes never interleave.
   */
  activeJobId: z.string().nullable().default(null),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type DocumentRecord = z.infer<typeof DocumentSchema>;

/** The fields of a document record that belong to one version (mirrored from the current version). */
export const VERSION_FIELDS = ['jobId', 'ownerUid', 'fileName', 'contentType', 'declaredSize', 'status', 'source', 'pageCount', 'language', 'text', 'chunkCount', 'embedding', 'summary'] as const;

/** `documents/{id}/versions/{n}`: one upload of the document and what was derived from it. */
export const VersionSchema = DocumentSchema.pick({
  projectId: true,
  jobId: true,
  ownerUid: true,
  fileName: true,
  contentType: true,
  declaredSize: true,
  status: true,
  source: true,
  pageCount: true,
  language: true,
  text: true,
  chunkCount: true,
  embedding: true,
  summary: true,
  createdAt: true,
  updatedAt: true,
}).extend({
  documentId: z.string(),
  version: z.number().int().min(1),
  /** Hash of the idempotent request that created it (same caller, project, document, clientRequestId). */
  requestKey: z.string().nullable().default(null),
});
export type VersionRecord = z.infer<typeof VersionSchema>;

export type NewDocument = Omit<DocumentRecord, 'createdAt' | 'updatedAt' | 'chunkCount' | 'embedding' | 'summary' | 'latestVersion' | 'activeJobId'> & { readonly requestKey?: string | null };

export type NewVersion = Omit<VersionRecord, 'createdAt' | 'updatedAt' | 'chunkCount' | 'embedding' | 'summary' | 'pageCount' | 'language' | 'text' | 'status'>;

/** What a job's writes to "its document" address: the version it processes, and whether that is the current one. */
export interface DocumentTarget {
  readonly documentId: string | null;
  readonly kind: string;
  readonly input: { readonly version: number; readonly current: boolean };
}

export type DocumentPatchFields = Partial<Omit<DocumentRecord, 'id' | 'createdAt' | 'updatedAt'>>;

export interface Promotion {
  readonly promote: boolean;
  /** The version current before. */
  readonly from: number;
  readonly record: VersionRecord | null;
}

/** Version record id: zero-padded so ids sort like numbers. */
export function versionId(version: number): string {
  return `v${String(version).padStart(6, '0')}`;
}

/** The document as it reads when `version` is its current one (what a stage of that version works on). */
export function versionView(document: DocumentRecord, version: VersionRecord): DocumentRecord {
  const picked = Object.fromEntries(VERSION_FIELDS.map((f) => [f, version[f]])) as Pick<DocumentRecord, (typeof VERSION_FIELDS)[number]>;
  return { ...document, ...picked };
}

export class DocumentRepository {
  /** `reads`: how single documents are read (the API batches them: ./reads.ts). */
  constructor(
    private readonly db: Firestore,
    private readonly reads: DocReader = directReads,
  ) {}

  ref(documentId: string): DocumentReference {
    return this.db.doc(paths.document(documentId));
  }

  async get(documentId: string): Promise<DocumentRecord | null> {
    return this.parse(await this.reads.read(this.ref(documentId)));
  }

  /** A read document record (from a get or a query), or null when it does not exist. */
  parse(snap: DocumentSnapshot): DocumentRecord | null {
    return snap.exists ? DocumentSchema.parse({ ...(toPlain(snap.data()) as Record<string, unknown>), id: snap.id }) : null;
  }

  async getIn(tx: Transaction, documentId: string): Promise<DocumentRecord | null> {
    return this.parse(await tx.get(this.ref(documentId)));
  }

  versionRef(documentId: string, version: number): DocumentReference {
    return this.ref(documentId).collection('versions').doc(versionId(version));
  }

  async getVersion(documentId: string, version: number): Promise<VersionRecord | null> {
    const snap = await this.versionRef(documentId, version).get();
    return snap.exists ? VersionSchema.parse(toPlain(snap.data())) : null;
  }

  async getVersionIn(tx: Transaction, documentId: string, version: number): Promise<VersionRecord | null> {
    const snap = await tx.get(this.versionRef(documentId, version));
    return snap.exists ? VersionSchema.parse(toPlain(snap.data())) : null;
  }

  /** Every version of a document, oldest first. */
  async listVersions(documentId: string): Promise<VersionRecord[]> {
    const snap = await this.ref(documentId).collection('versions').orderBy('version').get();
    return snap.docs.map((d) => VersionSchema.parse(toPlain(d.data())));
  }

  /** Creates a document with its first version (both records, create-only). */
  createIn(tx: CreateWrites, doc: NewDocument): void {
    const now = FieldValue.serverTimestamp();
    const { id, requestKey, ...data } = doc;
    tx.create(this.ref(id), { ...data, chunkCount: null, embedding: null, summary: null, latestVersion: doc.currentVersion, activeJobId: doc.jobId, createdAt: now, updatedAt: now });
    tx.create(this.versionRef(id, doc.currentVersion), {
      documentId: id,
      version: doc.currentVersion,
      requestKey: requestKey ?? null,
      ...Object.fromEntries(VERSION_FIELDS.map((f) => [f, f in data ? data[f as keyof typeof data] : null])),
      projectId: doc.projectId,
      chunkCount: null,
      embedding: null,
      summary: null,
      createdAt: now,
      updatedAt: now,
    });
  }

  /** Creates version `v.version` of an existing document, awaiting its upload; the document records it as the latest and its job as active. */
  createVersionIn(tx: Transaction, v: NewVersion): void {
    const now = FieldValue.serverTimestamp();
    tx.create(this.versionRef(v.documentId, v.version), {
      ...v,
      status: 'AWAITING_UPLOAD',
      pageCount: null,
      language: null,
      text: null,
      chunkCount: null,
      embedding: null,
      summary: null,
      createdAt: now,
      updatedAt: now,
    });
    tx.update(this.ref(v.documentId), { latestVersion: v.version, activeJobId: v.jobId, updatedAt: now });
  }

  /**
   * Reads what promoting `version` to current needs, inside the transaction that completes its job
   * (before its writes): the document and the version. `null` when the document is gone;
   * `promote: false` when a version at least as new is already current.
   */
  async readPromotion(tx: Transaction, documentId: string, version: number): Promise<Promotion | null> {
    const doc = await this.getIn(tx, documentId);
    if (!doc) return null;
    const record = await this.getVersionIn(tx, documentId, version);
    return { promote: record !== null && doc.currentVersion < version, from: doc.currentVersion, record };
  }

  /**
   * Makes a version current: the document shows its fields (with `patch`, the completing stage's
   * own) and its status READY, in one write. That write is the switch for search too: search keeps
   * only chunks of each document's `currentVersion`, read after its queries (see shared/search), so an
   * answer holds one version of a document, never both and never none. The old version's chunks are
   * retired afterwards ({@link retireChunks}), which only spares search the work of skipping them.
   */
  promoteIn(tx: Transaction, documentId: string, p: Promotion, patch: DocumentPatchFields): void {
    if (!p.promote || !p.record) return;
    const record = p.record;
    const fields = Object.fromEntries(VERSION_FIELDS.map((f) => [f, record[f]]));
    tx.update(this.ref(documentId), { ...fields, ...patch, status: 'READY', currentVersion: record.version, updatedAt: FieldValue.serverTimestamp() });
  }

  /**
   * Marks the chunks of every version but `keep` not current (after a promotion): search's queries
   * filter on the flag, so they stop spending candidates and statistics on superseded text. In
   * batches; safe to repeat; returns how many were retired.
   */
  async retireChunks(documentId: string, keep: number): Promise<number> {
    const snap = await this.db.collection(COLLECTIONS.chunks).where('documentId', '==', documentId).where('current', '==', true).select('version').get();
    const stale = snap.docs.filter((d) => d.get('version') !== keep);
    for (let i = 0; i < stale.length; i += 400) {
      const batch = this.db.batch();
      for (const d of stale.slice(i, i + 400)) batch.update(d.ref, { current: false });
      await batch.commit();
    }
    return stale.length;
  }

  /** A partial update of the document record inside a transaction. */
  updateIn(tx: Transaction, documentId: string, patch: DocumentPatchFields): void {
    tx.update(this.ref(documentId), { ...patch, updatedAt: FieldValue.serverTimestamp() });
  }

  /**
   * A job's writes to its document: always to its version's record, and to the document record too
   * while that version is the current one (first versions, re-embeddings of the current version). A
   * re-embedding never changes the document's status: it only replaces vectors of a READY version.
   */
  updateForJob(tx: Transaction, job: DocumentTarget, patch: DocumentPatchFields): void {
    if (!job.documentId) return;
    const own = job.kind === 'document.embed' ? Object.fromEntries(Object.entries(patch).filter(([k]) => k !== 'status')) : patch;
    if (Object.keys(own).length === 0) return;
    const versionPatch = Object.fromEntries(Object.entries(own).filter(([k]) => (VERSION_FIELDS as readonly string[]).includes(k)));
    const now = FieldValue.serverTimestamp();
    if (Object.keys(versionPatch).length > 0) tx.update(this.versionRef(job.documentId, job.input.version), { ...versionPatch, updatedAt: now });
    if (job.input.current) tx.update(this.ref(job.documentId), { ...own, updatedAt: now });
  }
}
