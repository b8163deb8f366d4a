/**
 * Projects and their members. Membership (`projects/{p}/members/{uid}` with a role) decides who may
 * upload to a project and, through the security rules, who may read its documents and jobs.
 */
import { FieldValue, type Firestore } from '@google-cloud/firestore';
import { z } from 'zod';
import { paths, ROLES, type Role } from './paths.js';
import { directReads, type DocReader } from './reads.js';

export const MemberSchema = z.object({ role: z.enum(ROLES), email: z.string().nullable().optional() });

export class ProjectRepository {
  /** `reads`: how single documents are read (the API batches them: ./reads.ts). */
  constructor(
    private readonly db: Firestore,
    private readonly reads: DocReader = directReads,
  ) {}

  /** The caller's role in a project, or null when not a member (or no such project). */
  async roleOf(projectId: string, uid: string): Promise<Role | null> {
    const snap = await this.reads.read(this.db.doc(paths.member(projectId, uid)));
    if (!snap.exists) return null;
    const parsed = MemberSchema.safeParse(snap.data());
    return parsed.success ? parsed.data.role : null;
  }

  /** Whether the project exists (global admins and API keys act only in existing projects). */
  async exists(projectId: string): Promise<boolean> {
    return (await this.reads.read(this.db.doc(paths.project(projectId)))).exists;
  }

  /** Creates or refreshes a project and an admin member (used by the demo seed and tests). */
  async ensureProject(projectId: string, name: string, admin: { uid: string; email: string }): Promise<void> {
    const batch = this.db.batch();
    batch.set(this.db.doc(paths.project(projectId)), { name, createdAt: FieldValue.serverTimestamp(), ownerUid: admin.uid }, { merge: true });
    // uid and projectId on the member record: the caller's projects are a collection-group query on them.
    batch.set(this.db.doc(paths.member(projectId, admin.uid)), { uid: admin.uid, projectId, role: 'admin', email: admin.email, addedAt: FieldValue.serverTimestamp() }, { merge: true });
    await batch.commit();
  }
}
