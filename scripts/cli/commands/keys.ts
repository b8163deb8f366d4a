/**
 * `scriptorium keys create|list|revoke`: a project's API keys (`/v1/projects/:p/api-keys`), for
 * programmatic callers. The key is printed once, at creation; it is stored only as a hash.
 */
import { parseCommand } from '../args.js';
import { EXIT, UsageError, CliFailure, type CliContext, type Command } from '../io.js';
import { ApiError, loadConfig, openFirebaseSession } from '../session.js';
import { ApiKeyViewSchema, CreateApiKeyResponseSchema, IDENTITY_ROUTES, ListApiKeysResponseSchema } from '../../../shared/api/identity.js';
import { API_KEY_ID } from '../../../shared/auth/api-keys.js';
import { ProjectIdSchema } from '../../../shared/ids.js';

const USAGE = `Usage: scriptorium keys create --name NAME [--scope read] [--scope write] [--expires-at ISO] [--project ID] [--json]
       scriptorium keys list [--project ID] [--json]
       scriptorium keys revoke KEY_ID [--project ID] [--json]

API keys let programs call the API for one project: send the key as Authorization: Bearer <key> or
x-api-key: <key>. A key with the read scope only may read; write lets it upload and change. Editors
and admins of the project create keys; editors revoke their own, admins any. Revocation applies to
the next request.

Options:
  --name NAME        what the key is for (shown in listings)
  --scope S          read or write (repeatable; default read)
  --expires-at ISO   when the key stops working (within a year; default: never)
  --project ID       Scriptorium project (default: the local stack's demo project)
  --json             print JSON on stdout
  --config FILE      local stack config (default: $SCRIPTORIUM_LOCAL_CONFIG or .scriptorium/local.json)
  -h, --help         show this help
`;

async function run(ctx: CliContext): Promise<number> {
  const { values, positionals } = parseCommand(ctx.argv, { name: { type: 'string' }, scope: { type: 'string', multiple: true }, 'expires-at': { type: 'string' }, project: { type: 'string' }, json: { type: 'boolean' } });
  if (values.help) {
    ctx.stdout.write(USAGE);
    return EXIT.OK;
  }
  const [action, keyId, ...extra] = positionals;
  if (action !== 'create' && action !== 'list' && action !== 'revoke') throw new UsageError('expected create, list or revoke');
  if (extra.length > 0 || (action !== 'revoke' && keyId)) throw new UsageError(`unexpected argument '${extra[0] ?? keyId ?? ''}'`);
  if (action === 'revoke' && (!keyId || !API_KEY_ID.test(keyId))) throw new UsageError('keys revoke needs a KEY_ID (key_ and 20 hex digits)');
  if (action === 'create' && !values.name) throw new UsageError('keys create needs --name');
  const scopes = values.scope ?? ['read'];
  for (const s of scopes) if (s !== 'read' && s !== 'write') throw new UsageError(`invalid --scope '${s}': read or write`);
  if (values.project !== undefined && !ProjectIdSchema.safeParse(values.project).success) throw new UsageError(`invalid --project '${values.project}'`);
  const out = (value: unknown, text: string): void => void ctx.stdout.write(values.json ? `${JSON.stringify(value)}\n` : `${text}\n`);
  const session = await (ctx.openSession ?? openFirebaseSession)(loadConfig(values.config, ctx.env));
  try {
    const projectId = values.project ?? session.config.projectId;
    if (action === 'create') {
      const created = await session.api.request('POST', IDENTITY_ROUTES.apiKeys(projectId), CreateApiKeyResponseSchema, { name: values.name, scopes: [...new Set(scopes)], ...(values['expires-at'] ? { expiresAt: values['expires-at'] } : {}) });
      ctx.stderr.write('the key is shown this once: store it now\n');
      out(created, `${created.key}\n${created.id}  ${created.name}  ${created.scopes.join(',')}  expires ${created.expiresAt ?? 'never'}`);
    } else if (action === 'list') {
      const { keys } = await session.api.request('GET', IDENTITY_ROUTES.apiKeys(projectId), ListApiKeysResponseSchema);
      out({ keys }, keys.map((k) => `${k.id}  ${k.prefix}…  ${k.name}  ${k.scopes.join(',')}  ${k.revokedAt ? `revoked ${k.revokedAt}` : `expires ${k.expiresAt ?? 'never'}`}  last used ${k.lastUsedAt ?? 'never'}`).join('\n'));
    } else {
      const revoked = await session.api.request('DELETE', IDENTITY_ROUTES.apiKey(projectId, keyId ?? ''), ApiKeyViewSchema);
      out(revoked, `${revoked.id} revoked at ${revoked.revokedAt ?? '?'}`);
    }
    return EXIT.OK;
  } catch (err) {
    if (err instanceof ApiError) throw new CliFailure(err.explain(`${action} the API key`));
    throw err;
  } finally {
    await session.close();
  }
}

/** `scriptorium keys`. */
export const keysCommand: Command = { name: 'keys', summary: "create, list, revoke a project's API keys", usage: USAGE, run };
