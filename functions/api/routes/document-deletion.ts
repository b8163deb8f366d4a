/**
 * Deleting a document, resumably. Each step is idempotent and the document record, which carries
 * the `deletion` marker, goes last: a crash at any point leaves the marker (and whatever is left),
 * and the next DELETE (or a project's forced deletion) picks up where it stopped.
 *
 *   1. mark the record `deletion: {requestedAt, by}` and write the audit entry (once, by id);
 *   2. cancel the document's jobs that are still running (jobs themselves are KEPT, with their
 *      status and logs, as the audit trail of what was processed: their refs point at nothing now);
 *   3. delete its storage objects: uploads (every version) and derived files;
 *   4. delete its chunks (search stops finding it);
 *   5. delete its versions and, last, the record itself.
 */
import { FieldValue } from '@google-cloud/firestore';
import { AUDIT_COLLECTION, auditInTransaction } from '../../../shared/audit.js';
import type { Caller } from '../../../shared/auth/index.js';
import { COLLECTIONS } from '../../../shared/firestore/paths.js';
import { isTerminal } from '../../../shared/jobs/model.js';
import { OBJECT_PREFIX } from '../../../shared/topology.js';
import type { ApiDeps } from '../http.js';

/** The audit entry of a document's deletion: one per document id (ids are never reused). */
export function deletionAuditId(documentId: string): string {
  return `document-delete-${documentId}`;
}

export interface DeletionCounts {
  readonly objects: number;
  readonly chunks: number;
  readonly versions: number;
  readonly jobsCancelled: number;
}

/**
 * Deletes a document and everything derived from it (see above). Null when the record is already
 * gone. Permission is the caller's business (the route checks it before).
 */
export async function deleteDocumentFully(deps: ApiDeps, documentId: string, caller: Caller, requestId?: string): Promise<DeletionCounts | null> {
  const db = deps.db;
  const ref = deps.documents.ref(documentId);
  const marked = await db.runTransaction(async (tx) => {
    const snap = await tx.get(ref);
    if (!snap.exists) return null;
    const auditRef = db.collection(AUDIT_COLLECTION).doc(deletionAuditId(documentId));
    const logged = await tx.get(auditRef);
    const projectId = String(snap.get('projectId'));
    if (!snap.get('deletion')) tx.update(ref, { deletion: { requestedAt: FieldValue.serverTimestamp(), by: caller.uid } });
    if (!logged.exists) {
      auditInTransaction({ db }, tx, { action: 'document.deleted', actor: caller, projectId, target: { type: 'document', id: documentId }, details: { fileName: snap.get('fileName') as unknown, latestVersion: snap.get('latestVersion') as unknown, requestId: requestId ?? null } }, deletionAuditId(documentId));
    }
    return { projectId };
  });
  if (!marked) return null;
  const { projectId } = marked;

  // 2. Jobs still running are cancelled (guarded: a terminal job never moves again).
  let jobsCancelled = 0;
  const jobs = await db.collection(COLLECTIONS.jobs).where('documentId', '==', documentId).select('status').get();
  for (const j of jobs.docs) {
    const out = await deps.jobs.update(j.id, (job) => (isTerminal(job.status) ? null : { status: 'CANCELLED', error: { code: 'DOCUMENT_DELETED', message: `document ${documentId} was deleted`, retryable: false }, log: { level: 'WARNING', message: `cancelled: document ${documentId} was deleted by ${caller.uid}` } }));
    if (out.applied) jobsCancelled++;
  }

  // 3. Storage: every version's upload and every derived file live under the document's prefixes.
  const bucket = deps.config.SCRIPTORIUM_BUCKET;
  let objects = 0;
  for (const root of [OBJECT_PREFIX.uploads, OBJECT_PREFIX.derived]) objects += await deps.storage.deletePrefix({ bucket, prefix: `${root}${projectId}/${documentId}/` });

  // 4. Chunks, in batches.
  let chunks = 0;
  for (;;) {
    const page = await db.collection(COLLECTIONS.chunks).where('documentId', '==', documentId).select().limit(400).get();
    if (page.empty) break;
    const batch = db.batch();
    for (const c of page.docs) batch.delete(c.ref);
    await batch.commit();
    chunks += page.size;
  }

  // 5. Versions, then the record (it holds the marker, so it goes last).
  const versions = (await ref.collection('versions').count().get()).data().count;
  await db.recursiveDelete(ref.collection('versions'));
  await ref.delete();
  const counts = { objects, chunks, versions, jobsCancelled };
  deps.log.info('document deleted', { documentId, projectId, uid: caller.uid, requestId, ...counts });
  return counts;
}
