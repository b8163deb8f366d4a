/**
 * Users (global administrators only): provision accounts (no public sign-up: an account nobody
 * provisioned has no `users/{uid}` record and is refused), change a user's global role, disable
 * or re-enable them, revoke their sessions. Every change is written to `users/{uid}` (which the API
 * reads on each request, so it applies on the user's next request), mirrored in Firebase Auth (the
 * `role` claim, the account's disabled flag) and recorded in the audit log.
 */
import { createFirebaseAccounts, type Accounts } from '../../../shared/auth/accounts.js';
import { UserDirectory, type UserRecord } from '../../../shared/auth/users.js';
import {
  CreateUserRequestSchema,
  CreateUserResponseSchema,
  IDENTITY_ROUTES,
  ListUsersQuerySchema,
  ListUsersResponseSchema,
  RevokeSessionsResponseSchema,
  UpdateUserRequestSchema,
  UserSchema,
  type User,
} from '../../../shared/api/identity.js';
import { audit } from '../../../shared/audit.js';
import { HttpError } from '../../../shared/errors/index.js';
import { UID } from '../../../shared/ids.js';
import { idGroup, invalid, json, requireGlobalAdmin, type ApiDeps, type Route, type RouteContext } from '../http.js';

const DEFAULT_PAGE = 50;
const accountsByProject = new Map<string, Accounts>();

function accountsOf(deps: ApiDeps): Accounts {
  if (deps.accounts) return deps.accounts;
  const project = deps.config.GOOGLE_CLOUD_PROJECT;
  let accounts = accountsByProject.get(project);
  if (!accounts) accountsByProject.set(project, (accounts = createFirebaseAccounts(project)));
  return accounts;
}

function view(record: UserRecord): User {
  return { uid: record.uid, email: record.email, role: record.role, disabled: record.disabled, createdAt: record.createdAt ?? null, updatedAt: record.updatedAt ?? null, createdBy: record.createdBy ?? null };
}

async function createUser({ req, caller, deps }: RouteContext) {
  requireGlobalAdmin(caller);
  const parsed = CreateUserRequestSchema.safeParse(await req.readBody());
  if (!parsed.success) throw invalid('user', parsed.error);
  const body = parsed.data;
  const accounts = accountsOf(deps);
  const users = new UserDirectory(deps.db);
  // Auth first, the record last: the record is what makes the account usable, so a failure in
  // between leaves an account the API still refuses, and a retry adopts it.
  const { uid, existed } = await accounts.create({ email: body.email, password: body.password });
  if (existed && (await users.get(uid))) throw new HttpError(409, 'ALREADY_EXISTS', `a user with e-mail ${body.email} already exists`, { uid });
  if (existed && body.password) await accounts.setPassword(uid, body.password);
  await accounts.setRoleClaim(uid, body.role);
  // An adopted account (e.g. signed up on its own) starts with no session from before.
  if (existed) await accounts.revokeSessions(uid);
  await users.create(uid, { email: body.email, role: body.role, createdBy: caller.uid });
  await audit(deps, { action: 'user.created', actor: caller, target: { type: 'user', id: uid }, details: { email: body.email, role: body.role, adopted: existed } });
  const record = await users.get(uid);
  if (!record) throw new HttpError(503, 'UNAVAILABLE', 'the user was created but cannot be read back yet; list users to see it');
  const link = body.password ? null : await accounts.passwordResetLink(body.email);
  return json(201, CreateUserResponseSchema.parse({ ...view(record), passwordResetLink: link, adopted: existed }));
}

async function listUsers({ req, caller, deps }: RouteContext) {
  requireGlobalAdmin(caller);
  const parsed = ListUsersQuerySchema.safeParse(req.query ?? {});
  if (!parsed.success) throw invalid('query', parsed.error);
  const page = await new UserDirectory(deps.db).list(parsed.data.limit ?? DEFAULT_PAGE, parsed.data.pageToken);
  return json(200, ListUsersResponseSchema.parse({ users: page.users.map(view), nextPageToken: page.next }));
}

async function getUser({ caller, deps, params }: RouteContext) {
  requireGlobalAdmin(caller);
  const record = await new UserDirectory(deps.db).get(params.uid ?? '');
  if (!record) throw new HttpError(404, 'NOT_FOUND', 'no such user');
  return json(200, view(record));
}

async function updateUser({ req, caller, deps, params }: RouteContext) {
  requireGlobalAdmin(caller);
  const uid = params.uid ?? '';
  const parsed = UpdateUserRequestSchema.safeParse(await req.readBody());
  if (!parsed.success) throw invalid('user change', parsed.error);
  const change = parsed.data;
  const users = new UserDirectory(deps.db);
  const before = await users.get(uid);
  if (!before) throw new HttpError(404, 'NOT_FOUND', 'no such user');
  // The last line of defence against locking every administrator out: nobody demotes or disables themselves.
  if (uid === caller.uid && ((change.role !== undefined && change.role !== 'admin') || change.disabled === true)) {
    throw new HttpError(409, 'SELF_LOCKOUT', 'you cannot demote or disable yourself: ask another administrator');
  }
  const roleChanged = change.role !== undefined && change.role !== before.role;
  const disabledChanged = change.disabled !== undefined && change.disabled !== before.disabled;
  // The record first: it is what the API checks on every request, so the change applies from the
  // user's next request even if Auth is slow to follow.
  await users.update(uid, { ...(roleChanged ? { role: change.role } : {}), ...(disabledChanged ? { disabled: change.disabled } : {}) });
  const accounts = accountsOf(deps);
  if (roleChanged && change.role) await accounts.setRoleClaim(uid, change.role);
  if (disabledChanged && change.disabled !== undefined) await accounts.setDisabled(uid, change.disabled);
  // Old tokens carry the old role claim: ending the sessions makes clients sign in again and get
  // a token that says what is true (the API itself never trusted the claim).
  if (roleChanged || change.disabled === true) await accounts.revokeSessions(uid);
  if (roleChanged) await audit(deps, { action: 'user.role_changed', actor: caller, target: { type: 'user', id: uid }, details: { from: before.role, to: change.role } });
  if (disabledChanged) await audit(deps, { action: change.disabled ? 'user.disabled' : 'user.enabled', actor: caller, target: { type: 'user', id: uid } });
  const after = await users.get(uid);
  return json(200, UserSchema.parse(view(after ?? before)));
}

async function revokeSessions({ caller, deps, params }: RouteContext) {
  requireGlobalAdmin(caller);
  const uid = params.uid ?? '';
  if (!(await new UserDirectory(deps.db).get(uid))) throw new HttpError(404, 'NOT_FOUND', 'no such user');
  await accountsOf(deps).revokeSessions(uid);
  const at = (deps.now?.() ?? new Date()).toISOString();
  await audit(deps, { action: 'user.sessions_revoked', actor: caller, target: { type: 'user', id: uid } });
  return json(200, RevokeSessionsResponseSchema.parse({ uid, revokedAt: at }));
}

const UID_GROUP = idGroup('uid', UID);

export const userRoutes: readonly Route[] = [
  {
    pattern: new RegExp(`^${IDENTITY_ROUTES.users}$`),
    path: IDENTITY_ROUTES.users,
    methods: { POST: createUser, GET: listUsers },
    docs: {
      POST: { summary: 'Provision a user (admins): creates the Firebase account, sets the role claim and the users/{uid} record', tag: 'users', body: CreateUserRequestSchema, status: 201, response: CreateUserResponseSchema, errors: [409, 503] },
      GET: { summary: 'List provisioned users (admins), in uid order', tag: 'users', query: ListUsersQuerySchema, response: ListUsersResponseSchema },
    },
  },
  {
    pattern: new RegExp(`^/v1/users/${UID_GROUP}/revoke-sessions$`),
    path: '/v1/users/{uid}/revoke-sessions',
    methods: { POST: revokeSessions },
    docs: { POST: { summary: "Revoke a user's sessions (admins): ID tokens issued before now are refused", tag: 'users', response: RevokeSessionsResponseSchema } },
  },
  {
    pattern: new RegExp(`^/v1/users/${UID_GROUP}$`),
    path: '/v1/users/{uid}',
    methods: { GET: getUser, PATCH: updateUser },
    docs: {
      GET: { summary: 'A provisioned user (admins)', tag: 'users', response: UserSchema },
      PATCH: { summary: "Change a user's global role and/or disable them (admins); applies on their next request", tag: 'users', body: UpdateUserRequestSchema, response: UserSchema, errors: [409] },
    },
  },
];
