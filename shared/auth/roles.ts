/**
 * The principal model and the pure authorization rules: who a request is (a user signed in with a
 * Firebase ID token, or a project's API key) and what it may do in a project. No I/O here, so every
 * cell of the role × action matrix is unit-testable; the API feeds in the records it read.
 */
import { ROLES, type Role } from '../firestore/paths.js';

/** Global roles (the `role` custom claim and `users/{uid}.role`): the same names as project roles. */
export const GLOBAL_ROLES = ROLES;
export type GlobalRole = Role;

/** API key scopes: `read` for reads, `write` for changes (a key needs `write` for any non-read route). */
export const API_KEY_SCOPES = ['read', 'write'] as const;
export type ApiKeyScope = (typeof API_KEY_SCOPES)[number];

/** Which kind of credential authenticated a request. */
export type AuthMethod = 'idToken' | 'apiKey';

/** What an API key grants: one project, some scopes. */
export interface ApiKeyGrant {
  readonly keyId: string;
  readonly projectId: string;
  readonly scopes: readonly ApiKeyScope[];
}

/** The order of roles, least first: a cap keeps the lesser of two. */
const RANK: Readonly<Record<Role, number>> = { viewer: 0, editor: 1, admin: 2 };

export function lesserRole(a: Role, b: Role): Role {
  return RANK[a] <= RANK[b] ? a : b;
}

/** Whether `role` is at least `min`. */
export function atLeast(role: Role, min: Role): boolean {
  return RANK[role] >= RANK[min];
}

/**
 * The role a principal acts with in one project, or null (no access):
 * - an API key: only in its own project, as an editor with the `write` scope, a viewer without;
 * - a global admin: admin of every existing project, member or not;
 * - anyone else: their member role; a global viewer's is capped at viewer (read-only everywhere,
 *   even where a project made them editor or admin); a global editor keeps theirs, so the editor
 *   who creates a project can be its admin. Not a member: no access.
 * `globalRole` undefined is a caller built before global roles existed (tests of other areas):
 * then the member role alone decides, as it did.
 */
export function effectiveRole(
  principal: { readonly globalRole?: GlobalRole | null; readonly apiKey?: ApiKeyGrant | undefined },
  projectId: string,
  memberRole: Role | null,
  projectExists: boolean,
): Role | null {
  if (principal.apiKey) {
    if (principal.apiKey.projectId !== projectId || !projectExists) return null;
    return principal.apiKey.scopes.includes('write') ? 'editor' : 'viewer';
  }
  if (principal.globalRole === 'admin') return projectExists ? 'admin' : null;
  if (memberRole === null) return null;
  return principal.globalRole === 'viewer' ? lesserRole(memberRole, 'viewer') : memberRole;
}

/** Whether a route is a read or a change. */
export type Access = 'read' | 'write';

/** Default access of a method: GET/HEAD read; everything else changes something unless the route says otherwise. */
export function defaultAccess(method: string): Access {
  return method === 'GET' || method === 'HEAD' ? 'read' : 'write';
}

/**
 * The refusal, if any, of a principal for a route of the given access, before any project is known:
 * a read-only key or a global viewer may not change anything.
 */
export function accessRefusal(principal: { readonly globalRole?: GlobalRole | null; readonly apiKey?: ApiKeyGrant | undefined }, access: Access): string | null {
  if (access === 'read') return null;
  if (principal.apiKey && !principal.apiKey.scopes.includes('write')) return 'this API key has the read scope only';
  if (!principal.apiKey && principal.globalRole === 'viewer') return 'viewers may only read';
  return null;
}
