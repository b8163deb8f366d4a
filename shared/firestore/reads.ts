/**
 * Single-document reads, direct or batched.
 *
 * Each `DocumentReference.get()` is one `BatchGetDocuments` RPC, and its client-side cost (the
 * gRPC call, the stream, the decoding) is the same for one document as for a dozen: measured here,
 * ~1.6 ms of CPU for a get of one document and ~2.4 ms for a `getAll` of three. An HTTP API under
 * load answers many requests at once, each reading a few documents (the caller's user record, the
 * resource, the caller's membership), so {@link batchedReads} merges the reads issued in the same
 * turn of the event loop into one `getAll` (the DataLoader pattern). Freshness is unchanged: a read
 * is sent after it was asked for, never served from an earlier answer; the documents of one batch
 * are read at one consistent moment.
 *
 * Only for processes without a per-attempt usage meter (the API): the batch's RPC runs in the
 * async context of the read that opened it, so a meter keyed on that context would be charged for
 * the other reads too.
 */
import type { DocumentData, DocumentReference, DocumentSnapshot, Firestore, WithFieldValue } from '@google-cloud/firestore';
import { createBatcher } from '../batcher.js';

/**
 * What creating records needs of a transaction or a write batch (both have it): a first upload's
 * records are created in one batch commit, one RPC, where a transaction would take three.
 */
export interface CreateWrites {
  create(ref: DocumentReference, data: WithFieldValue<DocumentData>): unknown;
  set(ref: DocumentReference, data: WithFieldValue<DocumentData>): unknown;
}

export interface DocReader {
  /** The document now (a snapshot that may not exist). */
  read(ref: DocumentReference): Promise<DocumentSnapshot>;
}

/** One RPC per read: what every process but the API uses. */
export const directReads: DocReader = { read: (ref) => ref.get() };

/** Largest `getAll` sent: bigger batches are split (the RPC has no small limit; this bounds one answer's size). */
export const MAX_BATCH = 100;

/**
 * Reads asked for in the same turn of the event loop go out together, as one `getAll` (split past
 * {@link MAX_BATCH}); the same document asked twice is read once. A failed `getAll` fails every read
 * in it, with its error (the callers' own error handling applies, as for a direct get).
 */
export function batchedReads(db: Firestore, options: { readonly maxBatch?: number } = {}): DocReader & { readonly stats: { loads: number; batches: number } } {
  const batcher = createBatcher<string, DocumentSnapshot>(
    async (paths) => {
      // Plain references (no converters: the repositories parse the data themselves).
      const snaps = await db.getAll(...paths.map((p) => db.doc(p)));
      // getAll answers in the order asked.
      return new Map(paths.map((p, i) => [p, snaps[i] ?? new Error(`getAll returned no snapshot for ${p}`)]));
    },
    { maxBatch: Math.max(1, Math.min(MAX_BATCH, options.maxBatch ?? MAX_BATCH)) },
  );
  return {
    stats: batcher.stats,
    read: (ref) => batcher.load(ref.path),
  };
}
