/**
 * Object naming. Uploads: `uploads/{projectId}/{documentId}/{file}` (the only prefix that notifies).
 * Derived files: `derived/{projectId}/{documentId}/{sourceGeneration}/…`, keyed on the source
 * generation so a retried stage overwrites its own output instead of adding more.
 */
import { OBJECT_PREFIX } from '../topology.js';

/** Object names keep a readable, safe form of the file name (the real name is in Firestore). */
export function safeObjectFileName(fileName: string): string {
  const cleaned = fileName.normalize('NFKD').replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._]+/, '').slice(-100);
  return cleaned === '' ? 'source' : cleaned;
}

export function uploadObjectName(projectId: string, documentId: string, fileName: string): string {
  return `${OBJECT_PREFIX.uploads}${projectId}/${documentId}/${safeObjectFileName(fileName)}`;
}

/** `uploads/{projectId}/{documentId}/{file}` → ids, or null for objects the API did not hand out. */
export function parseUploadObjectName(name: string): { projectId: string; documentId: string } | null {
  if (!name.startsWith(OBJECT_PREFIX.uploads)) return null;
  const m = /^([a-z0-9][a-z0-9-]{1,62})\/(doc_[0-9a-f]{20})\/[^/]+$/.exec(name.slice(OBJECT_PREFIX.uploads.length));
  return m?.[1] && m[2] ? { projectId: m[1], documentId: m[2] } : null;
}

export function derivedPrefix(ref: { projectId: string; documentId: string; sourceGeneration: string }): string {
  return `${OBJECT_PREFIX.derived}${ref.projectId}/${ref.documentId}/${ref.sourceGeneration}/`;
}
