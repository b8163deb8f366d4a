/**
 * API keys of a project: created by its editors and admins (signed in as users: a key never mints
 * keys), listed without secrets, revoked at once (the verifier reads the record on every request).
 * Editors revoke the keys they created; admins any key of the project.
 */
import { ApiKeyRepository, API_KEY_ID, generateApiKey, viewOf } from '../../../shared/auth/api-keys.js';
import { CreateApiKeyRequestSchema, CreateApiKeyResponseSchema, ListApiKeysResponseSchema, ApiKeyViewSchema, checkExpiry } from '../../../shared/api/identity.js';
import { auditInBatch } from '../../../shared/audit.js';
import type { Caller } from '../../../shared/auth/index.js';
import { HttpError } from '../../../shared/errors/index.js';
import { PROJECT_ID } from '../../../shared/ids.js';
import { idGroup, invalid, json, requireRole, UPLOAD_ROLES, type Route, type RouteContext } from '../http.js';

function requireUser(caller: Caller): void {
  if (caller.apiKey || caller.authenticatedVia === 'apiKey') throw new HttpError(403, 'PERMISSION_DENIED', 'API keys are managed by signed-in users, not by other keys');
}

async function createKey({ req, caller, deps, params }: RouteContext) {
  requireUser(caller);
  const projectId = params.projectId ?? '';
  await requireRole(deps, caller, projectId, UPLOAD_ROLES);
  const parsed = CreateApiKeyRequestSchema.safeParse(await req.readBody());
  if (!parsed.success) throw invalid('API key request', parsed.error);
  const now = deps.now?.() ?? new Date();
  const expiryProblem = checkExpiry(parsed.data.expiresAt, now);
  if (expiryProblem) throw new HttpError(400, 'INVALID_ARGUMENT', expiryProblem, { expiresAt: [expiryProblem] });
  const keys = new ApiKeyRepository(deps.db);
  const fresh = generateApiKey();
  const batch = deps.db.batch();
  keys.create(batch, {
    keyId: fresh.keyId,
    projectId,
    name: parsed.data.name,
    prefix: fresh.prefix,
    hash: fresh.hash,
    scopes: parsed.data.scopes,
    createdBy: caller.uid,
    expiresAt: parsed.data.expiresAt ? new Date(parsed.data.expiresAt) : null,
  });
  // The key and its audit entry commit together: no key exists that the log does not know of.
  auditInBatch(deps, batch, { action: 'apiKey.created', actor: caller, projectId, target: { type: 'apiKey', id: fresh.keyId }, details: { name: parsed.data.name, scopes: parsed.data.scopes, expiresAt: parsed.data.expiresAt ?? null } });
  await batch.commit();
  const record = await keys.get(fresh.keyId);
  if (!record) throw new HttpError(503, 'UNAVAILABLE', 'the key was created but cannot be read back; it is not shown again: revoke it and create another');
  return json(201, CreateApiKeyResponseSchema.parse({ ...viewOf(record), key: fresh.key }));
}

async function listKeys({ caller, deps, params }: RouteContext) {
  requireUser(caller);
  const projectId = params.projectId ?? '';
  await requireRole(deps, caller, projectId, UPLOAD_ROLES);
  const keys = await new ApiKeyRepository(deps.db).list(projectId);
  return json(200, ListApiKeysResponseSchema.parse({ keys: keys.map(viewOf) }));
}

async function revokeKey({ caller, deps, params }: RouteContext) {
  requireUser(caller);
  const projectId = params.projectId ?? '';
  const role = await requireRole(deps, caller, projectId, UPLOAD_ROLES);
  const keys = new ApiKeyRepository(deps.db);
  const record = await keys.get(params.keyId ?? '');
  // Another project's key reads as missing: key ids are not probed across projects.
  if (!record || record.projectId !== projectId) throw new HttpError(404, 'NOT_FOUND', 'no such API key');
  if (role !== 'admin' && record.createdBy !== caller.uid) throw new HttpError(403, 'PERMISSION_DENIED', 'editors revoke only the keys they created');
  // Revoking twice is a no-op answering the first revocation (a retried DELETE succeeds).
  if (record.revokedAt !== null) return json(200, ApiKeyViewSchema.parse(viewOf(record)));
  const batch = deps.db.batch();
  keys.revoke(batch, record.id, caller.uid, deps.now?.() ?? new Date());
  auditInBatch(deps, batch, { action: 'apiKey.revoked', actor: caller, projectId, target: { type: 'apiKey', id: record.id }, details: { name: record.name } });
  await batch.commit();
  const after = await keys.get(record.id);
  return json(200, ApiKeyViewSchema.parse(viewOf(after ?? record)));
}

const PROJECT = idGroup('projectId', PROJECT_ID);

export const apiKeyRoutes: readonly Route[] = [
  {
    pattern: new RegExp(`^/v1/projects/${PROJECT}/api-keys$`),
    path: '/v1/projects/{projectId}/api-keys',
    methods: { POST: createKey, GET: listKeys },
    docs: {
      POST: { summary: 'Create an API key for the project (editors, admins); the key is in this answer only', tag: 'api-keys', body: CreateApiKeyRequestSchema, status: 201, response: CreateApiKeyResponseSchema },
      GET: { summary: "The project's API keys, newest first, without secrets (editors, admins)", tag: 'api-keys', response: ListApiKeysResponseSchema },
    },
  },
  {
    pattern: new RegExp(`^/v1/projects/${PROJECT}/api-keys/${idGroup('keyId', API_KEY_ID)}$`),
    path: '/v1/projects/{projectId}/api-keys/{keyId}',
    methods: { DELETE: revokeKey },
    docs: { DELETE: { summary: 'Revoke an API key at once (admins; editors their own keys)', tag: 'api-keys', response: ApiKeyViewSchema } },
  },
];
