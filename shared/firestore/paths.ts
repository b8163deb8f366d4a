/**
 * Firestore layout. Top-level `documents` and `jobs` (clients listen to `jobs/{id}` by id alone), each
 * carrying `projectId` so security rules can check membership in `projects/{p}/members/{uid}`.
 */
export const COLLECTIONS = { projects: 'projects', members: 'members', documents: 'documents', jobs: 'jobs', logs: 'logs', chunks: 'chunks' } as const;

export const paths = {
  project: (projectId: string) => `${COLLECTIONS.projects}/${projectId}`,
  member: (projectId: string, uid: string) => `${COLLECTIONS.projects}/${projectId}/${COLLECTIONS.members}/${uid}`,
  document: (documentId: string) => `${COLLECTIONS.documents}/${documentId}`,
  job: (jobId: string) => `${COLLECTIONS.jobs}/${jobId}`,
  jobLogs: (jobId: string) => `${COLLECTIONS.jobs}/${jobId}/${COLLECTIONS.logs}`,
} as const;

/** Roles of project members (the full role model comes in a later issue; the names are fixed now). */
export const ROLES = ['admin', 'editor', 'viewer'] as const;
export type Role = (typeof ROLES)[number];
