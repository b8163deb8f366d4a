/**
 * Settings: per user (`users/{uid}/settings/preferences`) and per project
 * (`projects/{p}/settings/project`), each one zod schema with defaults. Clients may write their
 * own user settings directly: the security rules check the same shape (see firestore.rules).
 */
import { z } from 'zod';

export const BCP47 = /^[A-Za-z]{2,8}(?:-[A-Za-z0-9]{1,8})*$/;
export const VOICE_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
export const AGENT_ID = /^agt_[0-9a-f]{16}$/;
export const AgentIdSchema = z.string().regex(AGENT_ID, 'agent id: agt_ and 16 hex digits');

export const THEMES = ['system', 'light', 'dark'] as const;
export const FONT_FAMILIES = ['serif', 'sans-serif', 'monospace'] as const;

export const ReadingPreferencesSchema = z
  .object({
    fontSize: z.number().int().min(10).max(32).default(16),
    lineHeight: z.number().min(1).max(3).default(1.5),
    fontFamily: z.enum(FONT_FAMILIES).default('serif'),
  })
  .strict();

export const NotificationPreferencesSchema = z
  .object({
    jobCompleted: z.boolean().default(true),
    jobFailed: z.boolean().default(true),
    email: z.boolean().default(false),
  })
  .strict();

export const UserSettingsSchema = z
  .object({
    language: z.string().regex(BCP47, 'a BCP-47 language tag such as en or fr-CA').max(35).default('en'),
    theme: z.enum(THEMES).default('system'),
    reading: ReadingPreferencesSchema.prefault({}),
    notifications: NotificationPreferencesSchema.prefault({}),
    /** The voice `speak` uses when a request names none; null: the platform's. */
    defaultVoice: z.string().regex(VOICE_NAME, 'a voice name such as flite-kal16').nullable().default(null),
  })
  .strict();
export type UserSettings = z.infer<typeof UserSettingsSchema>;

/** A content type or a `type/*` wildcard. */
export const ContentTypePatternSchema = z.string().regex(/^[a-z0-9!#$&^_.+-]+\/(?:\*|[a-z0-9!#$&^_.+-]+)$/, 'a content type (application/pdf) or a wildcard (image/*)');

export const ProjectSettingsSchema = z
  .object({
    /** Content types uploads may declare; empty: any type the pipeline handles. */
    allowedContentTypes: z.array(ContentTypePatternSchema).max(50).default([]),
    /** Largest upload, in bytes; null: the platform's limit (never above it). */
    maxUploadBytes: z.number().int().positive().nullable().default(null),
    /** Days documents are kept; null: forever. */
    retentionDays: z.number().int().min(1).max(36500).nullable().default(null),
    /** The agent uploads use when they name none (must be an active agent of the project). */
    defaultAgentId: AgentIdSchema.nullable().default(null),
  })
  .strict();
export type ProjectSettings = z.infer<typeof ProjectSettingsSchema>;

export const UserSettingsViewSchema = z.object({ settings: UserSettingsSchema, updatedAt: z.string().nullable() });
export const ProjectSettingsViewSchema = z.object({ projectId: z.string(), settings: ProjectSettingsSchema, updatedAt: z.string().nullable() });

/** Whether `contentType` (parameters ignored) is allowed by the patterns (empty list: all). */
export function contentTypeAllowed(patterns: readonly string[], contentType: string): boolean {
  if (patterns.length === 0) return true;
  const bare = (contentType.split(';')[0] ?? '').trim().toLowerCase();
  const [type] = bare.split('/');
  return patterns.some((p) => p === bare || (p.endsWith('/*') && p.slice(0, -2) === type));
}
