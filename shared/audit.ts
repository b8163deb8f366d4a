/**
 * The audit log (`auditLog/{entryId}`): who deleted or changed what, written by the server only.
 * Shape: {at, actorUid, action, resource, projectId, details}. An entry with a deterministic id
 * (`entryId`) is written once: a retried or resumed operation does not log twice.
 *
 * NOTE for the merge: the `identity` helper may ship its own `shared/audit.ts`; this one is the
 * minimal version the resources routes need (same shape), to be reconciled into one.
 */
import { FieldValue, type Firestore, type Transaction } from '@google-cloud/firestore';

export const AUDIT_COLLECTION = 'auditLog';

export interface AuditEntry {
  readonly actorUid: string;
  /** Dotted verb: `project.delete`, `member.set`, `document.delete`, … */
  readonly action: string;
  /** The resource's path-like name: `projects/p`, `documents/doc_…`. */
  readonly resource: string;
  readonly projectId: string | null;
  readonly details?: Record<string, unknown>;
}

function data(entry: AuditEntry): Record<string, unknown> {
  return { at: FieldValue.serverTimestamp(), actorUid: entry.actorUid, action: entry.action, resource: entry.resource, projectId: entry.projectId, details: entry.details ?? {} };
}

/** Writes an entry; with `entryId`, only once (a second write with the same id is a no-op). */
export async function audit(db: Firestore, entry: AuditEntry, entryId?: string): Promise<void> {
  if (!entryId) {
    await db.collection(AUDIT_COLLECTION).add(data(entry));
    return;
  }
  try {
    await db.collection(AUDIT_COLLECTION).doc(entryId).create(data(entry));
  } catch (err) {
    // ALREADY_EXISTS (gRPC 6): logged before, by the first attempt.
    if (typeof err === 'object' && err !== null && 'code' in err && err.code === 6) return;
    throw err;
  }
}

/** Adds an entry to a transaction (so the change and its record commit together). */
export function auditIn(db: Firestore, tx: Transaction, entry: AuditEntry, entryId?: string): void {
  const ref = entryId ? db.collection(AUDIT_COLLECTION).doc(entryId) : db.collection(AUDIT_COLLECTION).doc();
  tx.set(ref, data(entry));
}
