/**
 * Identifiers that end up in Firestore document paths and object names. Every id that reaches a path
 * (from a URL, a message, a token) is checked against one of these first: a `/` in an id would
 * address another document, and Firestore refuses `.`, `..` and `__…__` ids.
 */
import { z } from 'zod';

export const PROJECT_ID = /^[a-z0-9][a-z0-9-]{1,62}$/;
export const DOCUMENT_ID = /^doc_[0-9a-f]{20}$/;
export const JOB_ID = /^job_[0-9a-f]{20}$/;
/**
 * Firebase uids are at most 128 characters; generated ones are alphanumeric, and custom ones
 * (Admin SDK) are whatever an operator chose. We accept what is safe as a Firestore document id.
 */
export const UID = /^[A-Za-z0-9_-][A-Za-z0-9._:@+-]{0,127}$/;

/** Project ids: lowercase, digits and dashes; they appear in object names and document paths. */
export const ProjectIdSchema = z.string().regex(PROJECT_ID, 'project id: 2–63 chars of a-z, 0-9 and -');
export const DocumentIdSchema = z.string().regex(DOCUMENT_ID, 'document id: doc_ and 20 hex digits');
export const JobIdSchema = z.string().regex(JOB_ID, 'job id: job_ and 20 hex digits');
export const UidSchema = z
  .string()
  .regex(UID, 'user id: 1–128 chars of A-Z, a-z, 0-9 and . _ : @ + -')
  .refine((s) => !/^__.*__$/.test(s), 'user id must not look like __name__');

export function isUid(uid: string): boolean {
  return UidSchema.safeParse(uid).success;
}
