/**
 * `users/{uid}`: the server-side record of a provisioned user (the current global role, whether
 * disabled). The API reads it on every request, so a role change or a disabling applies on the
 * user's next request, whatever their ID token's `role` claim still says. Only the admin API (and the
 * demo seed) write it; a signed-in account without one was never provisioned by an admin and is
 * refused (the Auth emulator, unlike Identity Platform, cannot turn public sign-up off).
 */
import { FieldValue, type Firestore } from '@google-cloud/firestore';
import { z } from 'zod';
import { toPlain } from '../firestore/client.js';
import { GLOBAL_ROLES, type GlobalRole } from './roles.js';
import { directReads, type DocReader } from '../firestore/reads.js';

export const USERS_COLLECTION = 'users';

export const UserRecordSchema = z.object({
  uid: z.string(),
  email: z.string().nullable(),
  role: z.enum(GLOBAL_ROLES),
  disabled: z.boolean().default(false),
  createdAt: z.string().nullable().optional(),
  updatedAt: z.string().nullable().optional(),
  createdBy: z.string().nullable().optional(),
});
export type UserRecord = z.infer<typeof UserRecordSchema>;

export class UserDirectory {
  /** `reads`: how single documents are read (the API batches them: ../firestore/reads.ts). */
  constructor(
    private readonly db: Firestore,
    private readonly reads: DocReader = directReads,
  ) {}

  /** The record, or null when the user was never provisioned (or the record is unreadable). */
  async get(uid: string): Promise<UserRecord | null> {
    const snap = await this.reads.read(this.db.collection(USERS_COLLECTION).doc(uid));
    if (!snap.exists) return null;
    const parsed = UserRecordSchema.safeParse({ ...(toPlain(snap.data()) as object), uid });
    return parsed.success ? parsed.data : null;
  }

  /** Creates or replaces the record of a newly provisioned user. */
  async create(uid: string, fields: { email: string | null; role: GlobalRole; createdBy: string | null }): Promise<void> {
    await this.db
      .collection(USERS_COLLECTION)
      .doc(uid)
      .set({ email: fields.email, role: fields.role, disabled: false, createdBy: fields.createdBy, createdAt: FieldValue.serverTimestamp(), updatedAt: FieldValue.serverTimestamp() });
  }

  async update(uid: string, fields: { role?: GlobalRole; disabled?: boolean }): Promise<void> {
    await this.db.collection(USERS_COLLECTION).doc(uid).update({ ...fields, updatedAt: FieldValue.serverTimestamp() });
  }

  /** One page of records in uid order; `after` is the last uid of the previous page. */
  async list(limit: number, after?: string): Promise<{ users: UserRecord[]; next: string | null }> {
    let q = this.db.collection(USERS_COLLECTION).orderBy('__name__').limit(limit + 1);
    if (after) q = q.startAfter(after);
    const snap = await q.get();
    const users = snap.docs.slice(0, limit).flatMap((d) => {
      const parsed = UserRecordSchema.safeParse({ ...(toPlain(d.data()) as object), uid: d.id });
      return parsed.success ? [parsed.data] : [];
    });
    return { users, next: snap.size > limit ? (snap.docs[limit - 1]?.id ?? null) : null };
  }
}
