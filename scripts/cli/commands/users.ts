/**
 * `scriptorium users create|list|set-role|disable|enable|revoke`: user administration through the
 * API (`/v1/users`), as the signed-in user (the local stack's demo user is a global admin).
 */
import { z } from 'zod';
import { parseCommand, parsePositiveInt } from '../args.js';
import { EXIT, UsageError, CliFailure, type CliContext, type Command } from '../io.js';
import { ApiError, loadConfig, openFirebaseSession, type Session } from '../session.js';
import { CreateUserResponseSchema, IDENTITY_ROUTES, ListUsersResponseSchema, RevokeSessionsResponseSchema, UserSchema, type User } from '../../../shared/api/identity.js';
import { GLOBAL_ROLES, type GlobalRole } from '../../../shared/auth/roles.js';
import { UidSchema } from '../../../shared/ids.js';

const USAGE = `Usage: scriptorium users create EMAIL --role admin|editor|viewer [--password P] [--json]
       scriptorium users list [--limit N] [--json]
       scriptorium users set-role USER --role admin|editor|viewer [--json]
       scriptorium users disable USER | enable USER | revoke USER [--json]

Administers users (global administrators only). There is no public sign-up: a user exists for the
API once an administrator created it here (or through POST /v1/users). USER is a uid or an e-mail.

  create     creates the account with a global role; without --password, prints a link to set one
  list       provisioned users, in uid order
  set-role   changes the global role; applies on the user's next request, and ends their sessions
  disable    refuses the user from their next request on (and ends their sessions); enable undoes it
  revoke     ends the user's sessions: ID tokens issued before now are refused

Options:
  --role ROLE       admin (everything), editor (create and change), viewer (read only)
  --password P      the new user's password (at least 8 characters)
  --limit N         users per page for list (default: all, 100 per request)
  --json            print JSON on stdout
  --config FILE     local stack config (default: $SCRIPTORIUM_LOCAL_CONFIG or .scriptorium/local.json)
  -h, --help        show this help
`;

const ACTIONS = ['create', 'list', 'set-role', 'disable', 'enable', 'revoke'] as const;

function role(value: string | undefined): GlobalRole {
  if (value === undefined) throw new UsageError('--role is required: admin, editor or viewer');
  if (!(GLOBAL_ROLES as readonly string[]).includes(value)) throw new UsageError(`invalid --role '${value}': admin, editor or viewer`);
  return value as GlobalRole;
}

/** A uid as given, or the uid of the user with that e-mail (looked up page by page). */
async function resolveUser(session: Session, who: string): Promise<string> {
  if (!who.includes('@')) {
    if (!UidSchema.safeParse(who).success) throw new UsageError(`invalid USER '${who}': a uid or an e-mail`);
    return who;
  }
  let pageToken: string | null = null;
  do {
    const page: z.infer<typeof ListUsersResponseSchema> = await session.api.request('GET', `${IDENTITY_ROUTES.users}?limit=100${pageToken ? `&pageToken=${pageToken}` : ''}`, ListUsersResponseSchema);
    const found = page.users.find((u) => u.email === who.toLowerCase());
    if (found) return found.uid;
    pageToken = page.nextPageToken;
  } while (pageToken);
  throw new CliFailure(`no provisioned user with e-mail ${who}`);
}

const line = (u: User): string => `${u.uid}  ${u.email ?? '-'}  ${u.role}${u.disabled ? '  DISABLED' : ''}`;

async function run(ctx: CliContext): Promise<number> {
  const { values, positionals } = parseCommand(ctx.argv, { role: { type: 'string' }, password: { type: 'string' }, limit: { type: 'string' }, json: { type: 'boolean' } });
  if (values.help) {
    ctx.stdout.write(USAGE);
    return EXIT.OK;
  }
  const [action, target, ...extra] = positionals;
  if (!action || !(ACTIONS as readonly string[]).includes(action)) throw new UsageError(`expected one of ${ACTIONS.join(', ')}`);
  if (extra.length > 0) throw new UsageError(`unexpected argument '${extra[0] ?? ''}'`);
  if (action !== 'list' && !target) throw new UsageError(`users ${action} needs a ${action === 'create' ? 'EMAIL' : 'USER'}`);
  if (action === 'list' && target) throw new UsageError('users list takes no argument');
  const limit = values.limit === undefined ? undefined : parsePositiveInt('limit', values.limit);
  const newRole = action === 'create' || action === 'set-role' ? role(values.role) : undefined;
  const out = (value: unknown, text: string): void => void ctx.stdout.write(values.json ? `${JSON.stringify(value)}\n` : `${text}\n`);
  const session = await (ctx.openSession ?? openFirebaseSession)(loadConfig(values.config, ctx.env));
  try {
    switch (action) {
      case 'create': {
        const created = await session.api.request('POST', IDENTITY_ROUTES.users, CreateUserResponseSchema, { email: target, role: newRole, ...(values.password ? { password: values.password } : {}) });
        out(created, `${line(created)}${created.adopted ? '  (existing account provisioned)' : ''}${created.passwordResetLink ? `\nset the password at: ${created.passwordResetLink}` : ''}`);
        break;
      }
      case 'list': {
        const users: User[] = [];
        let pageToken: string | null = null;
        do {
          const size = Math.min(100, limit === undefined ? 100 : limit - users.length);
          const page: z.infer<typeof ListUsersResponseSchema> = await session.api.request('GET', `${IDENTITY_ROUTES.users}?limit=${size}${pageToken ? `&pageToken=${pageToken}` : ''}`, ListUsersResponseSchema);
          users.push(...page.users);
          pageToken = page.nextPageToken;
        } while (pageToken && (limit === undefined || users.length < limit));
        out({ users }, users.map(line).join('\n'));
        break;
      }
      case 'set-role':
      case 'disable':
      case 'enable': {
        const uid = await resolveUser(session, target ?? '');
        const change = action === 'set-role' ? { role: newRole } : { disabled: action === 'disable' };
        const user = await session.api.request('PATCH', IDENTITY_ROUTES.user(uid), UserSchema, change);
        out(user, line(user));
        break;
      }
      case 'revoke': {
        const uid = await resolveUser(session, target ?? '');
        const revoked = await session.api.request('POST', IDENTITY_ROUTES.revokeSessions(uid), RevokeSessionsResponseSchema);
        out(revoked, `sessions of ${revoked.uid} revoked at ${revoked.revokedAt}`);
        break;
      }
    }
    return EXIT.OK;
  } catch (err) {
    if (err instanceof ApiError) throw new CliFailure(err.explain(`${action} the user`));
    throw err;
  } finally {
    await session.close();
  }
}

/** `scriptorium users`. */
export const usersCommand: Command = { name: 'users', summary: 'create, list, change, disable users (admins)', usage: USAGE, run };
