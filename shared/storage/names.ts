/**
 * Object naming. Uploads: `uploads/{projectId}/{documentId}/{file}` for a document's first version,
 * `uploads/{projectId}/{documentId}/v{n}/{file}` for version n ≥ 2 (the only prefix that notifies).
 * Derived files: `derived/{projectId}/{documentId}/{sourceGeneration}/…`, keyed on the source
 * generation so a retried stage overwrites its own output instead of adding more.
 */
import { OBJECT_PREFIX } from '../topology.js';

/** Object names keep a readable, safe form of the file name (the real name is in Firestore). */
export function safeObjectFileName(fileName: string): string {
  const cleaned = fileName.normalize('NFKD').replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._]+/, '').slice(-100);
  return cleaned === '' ? 'source' : cleaned;
}

export function uploadObjectName(projectId: string, documentId: string, fileName: string, version = 1): string {
  const v = version > 1 ? `v${version}/` : '';
  return `${OBJECT_PREFIX.uploads}${projectId}/${documentId}/${v}${safeObjectFileName(fileName)}`;
}

/** An upload's object name → ids and version, or null for objects the API did not hand out. */
export function parseUploadObjectName(name: string): { projectId: string; documentId: string; version: number } | null {
  if (!name.startsWith(OBJECT_PREFIX.uploads)) return null;
  const m = /^([a-z0-9][a-z0-9-]{1,62})\/(doc_[0-9a-f]{20})\/(?:v([1-9][0-9]{0,5})\/)?[^/]+$/.exec(name.slice(OBJECT_PREFIX.uploads.length));
  if (!m?.[1] || !m[2]) return null;
  const version = m[3] ? Number(m[3]) : 1;
  // Version 1 has no segment: `v1/` is not a name the API hands out.
  if (m[3] && version < 2) return null;
  return { projectId: m[1], documentId: m[2], version };
}

export function derivedPrefix(ref: { projectId: string; documentId: string; sourceGeneration: string }): string {
  return `${OBJECT_PREFIX.derived}${ref.projectId}/${ref.documentId}/${ref.sourceGeneration}/`;
}

/**
 * A text-to-speech job's stored request (text or SSML, voice, format…): `speech/{projectId}/{jobId}/request.json`.
 * Outside `uploads/`, so no notification fires for it; written create-only by the API.
 */
export function speechRequestObjectName(projectId: string, jobId: string): string {
  return `speech/${projectId}/${jobId}/request.json`;
}

/**
 * A text-to-speech job's audio: a derived object keyed on the request's generation (the job stands
 * in for the document), so a retried attempt finds what an earlier one wrote.
 */
export function speechAudioObjectName(ref: { projectId: string; jobId: string; requestGeneration: string }, format: string): string {
  return `${derivedPrefix({ projectId: ref.projectId, documentId: ref.jobId, sourceGeneration: ref.requestGeneration })}speech.${format}`;
}
