/**
 * Request and response schemas of the identity API: users (admins), API keys (per project), the
 * audit log (admins). The routes validate with these and the OpenAPI document is built from them.
 */
import { z } from 'zod';
import { API_KEY_SCOPES, GLOBAL_ROLES } from '../auth/roles.js';
import { AUDIT_ACTIONS } from '../audit.js';
import { UidSchema } from '../ids.js';

const Email = z.string().trim().toLowerCase().pipe(z.email('an e-mail address')).pipe(z.string().max(254));
const PageSize = z
  .string()
  .regex(/^[1-9][0-9]{0,2}$/, 'limit: 1–500')
  .transform(Number)
  .pipe(z.number().max(500, 'limit: 1–500'));

export const CreateUserRequestSchema = z.strictObject({
  email: Email,
  role: z.enum(GLOBAL_ROLES),
  /** Optional: without one, the answer carries a link the user sets theirs with. */
  password: z.string().min(8, 'at least 8 characters').max(128).optional(),
});
export type CreateUserRequest = z.input<typeof CreateUserRequestSchema>;

export const UserSchema = z.object({
  uid: z.string(),
  email: z.string().nullable(),
  role: z.enum(GLOBAL_ROLES),
  disabled: z.boolean(),
  createdAt: z.string().nullable().optional(),
  updatedAt: z.string().nullable().optional(),
  createdBy: z.string().nullable().optional(),
});
export type User = z.infer<typeof UserSchema>;

export const CreateUserResponseSchema = UserSchema.extend({
  /** A password-setting link, when no password was given (null where links cannot be made). */
  passwordResetLink: z.string().nullable().optional(),
  /** True when the account existed in Firebase Auth and was provisioned now. */
  adopted: z.boolean(),
});

export const UpdateUserRequestSchema = z
  .strictObject({ role: z.enum(GLOBAL_ROLES).optional(), disabled: z.boolean().optional() })
  .refine((b) => b.role !== undefined || b.disabled !== undefined, 'give role and/or disabled');
export type UpdateUserRequest = z.input<typeof UpdateUserRequestSchema>;

export const ListUsersQuerySchema = z.strictObject({ limit: PageSize.optional(), pageToken: UidSchema.optional() });
export const ListUsersResponseSchema = z.object({ users: z.array(UserSchema), nextPageToken: z.string().nullable() });
export const RevokeSessionsResponseSchema = z.object({ uid: z.string(), revokedAt: z.string() });

/** At most a year: a key that never expires is a choice (omit expiresAt), not an accident. */
const MAX_KEY_LIFETIME_MS = 366 * 24 * 3600 * 1000;

export const CreateApiKeyRequestSchema = z.strictObject({
  name: z.string().trim().min(1).max(100),
  scopes: z
    .array(z.enum(API_KEY_SCOPES))
    .min(1)
    .refine((s) => new Set(s).size === s.length, 'each scope once'),
  expiresAt: z.iso.datetime({ offset: true }).optional(),
});
export type CreateApiKeyRequest = z.input<typeof CreateApiKeyRequestSchema>;

export function checkExpiry(expiresAt: string | undefined, now: Date): string | null {
  if (expiresAt === undefined) return null;
  const t = Date.parse(expiresAt);
  if (t <= now.getTime()) return 'expiresAt must be in the future';
  if (t - now.getTime() > MAX_KEY_LIFETIME_MS) return 'expiresAt must be within a year';
  return null;
}

export const ApiKeyViewSchema = z.object({
  id: z.string(),
  projectId: z.string(),
  name: z.string(),
  prefix: z.string(),
  scopes: z.array(z.enum(API_KEY_SCOPES)),
  createdBy: z.string(),
  createdAt: z.string().nullable(),
  expiresAt: z.string().nullable(),
  lastUsedAt: z.string().nullable(),
  revokedAt: z.string().nullable(),
  revokedBy: z.string().nullable(),
});
export const CreateApiKeyResponseSchema = ApiKeyViewSchema.extend({
  /** The key itself: shown in this answer only, never stored. */
  key: z.string(),
});
export type CreateApiKeyResponse = z.infer<typeof CreateApiKeyResponseSchema>;
export const ListApiKeysResponseSchema = z.object({ keys: z.array(ApiKeyViewSchema) });

export const ListAuditQuerySchema = z.strictObject({
  projectId: z.string().regex(/^[a-z0-9][a-z0-9-]{1,62}$/).optional(),
  limit: PageSize.optional(),
  pageToken: z.string().regex(/^aud_[0-9a-f]{24}$/).optional(),
});
export const AuditEntryViewSchema = z.object({
  id: z.string(),
  at: z.string(),
  action: z.enum(AUDIT_ACTIONS),
  actor: z.object({ uid: z.string(), email: z.string().nullable(), via: z.string() }),
  projectId: z.string().nullable(),
  target: z.object({ type: z.string(), id: z.string() }),
  details: z.record(z.string(), z.unknown()),
});
export const ListAuditResponseSchema = z.object({ entries: z.array(AuditEntryViewSchema), nextPageToken: z.string().nullable() });

/** Paths of the identity API (the CLI and the tests build URLs with these). */
export const IDENTITY_ROUTES = {
  users: '/v1/users',
  user: (uid: string) => `/v1/users/${uid}`,
  revokeSessions: (uid: string) => `/v1/users/${uid}/revoke-sessions`,
  apiKeys: (projectId: string) => `/v1/projects/${projectId}/api-keys`,
  apiKey: (projectId: string, keyId: string) => `/v1/projects/${projectId}/api-keys/${keyId}`,
  audit: '/v1/audit',
} as const;
