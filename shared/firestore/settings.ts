/**
 * Settings records: `users/{uid}/settings/preferences` (a user's own; clients may write it directly,
 * within the schema the rules check) and `projects/{p}/settings/project` (server-written). Reads
 * parse with the zod schema, so missing fields come back as their defaults.
 */
import type { Firestore } from '@google-cloud/firestore';
import { ProjectSettingsSchema, UserSettingsSchema, type ProjectSettings, type UserSettings } from '../api/settings.js';
import { toPlain } from './client.js';
import { directReads, type DocReader } from './reads.js';

export const settingsPaths = {
  user: (uid: string) => `users/${uid}/settings/preferences`,
  project: (projectId: string) => `projects/${projectId}/settings/project`,
} as const;

export interface Stored<T> {
  readonly settings: T;
  readonly updatedAt: string | null;
}

/** Parses a stored record leniently: fields that no longer validate fall back to their defaults. */
function lenient<T>(schema: { safeParse: (v: unknown) => { success: true; data: T } | { success: false } }, raw: Record<string, unknown>): T {
  const whole = schema.safeParse(raw);
  if (whole.success) return whole.data;
  const base = schema.safeParse({});
  if (!base.success) throw new Error('settings defaults do not validate');
  const out: Record<string, unknown> = { ...(base.data as Record<string, unknown>) };
  for (const [k, v] of Object.entries(raw)) {
    const one = schema.safeParse({ ...out, [k]: v });
    if (one.success) out[k] = (one.data as Record<string, unknown>)[k];
  }
  return out as T;
}

function split(raw: unknown): { fields: Record<string, unknown>; updatedAt: string | null } {
  const { updatedAt, ...fields } = (toPlain(raw) ?? {}) as Record<string, unknown>;
  return { fields, updatedAt: typeof updatedAt === 'string' ? updatedAt : null };
}

/** A user settings record's data (undefined: none stored) as settings with defaults. */
export function userSettingsFrom(data: unknown): Stored<UserSettings> {
  const { fields, updatedAt } = split(data);
  return { settings: lenient(UserSettingsSchema, fields), updatedAt };
}

export function projectSettingsFrom(data: unknown): Stored<ProjectSettings> {
  const { fields, updatedAt } = split(data);
  return { settings: lenient(ProjectSettingsSchema, fields), updatedAt };
}

export async function readUserSettings(db: Firestore, uid: string): Promise<Stored<UserSettings>> {
  return userSettingsFrom((await db.doc(settingsPaths.user(uid)).get()).data());
}

export async function readProjectSettings(db: Firestore, projectId: string, reads: DocReader = directReads): Promise<Stored<ProjectSettings>> {
  return projectSettingsFrom((await reads.read(db.doc(settingsPaths.project(projectId)))).data());
}
