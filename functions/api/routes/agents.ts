/**
 * Agents: `/v1/projects/:id/agents[/:agentId[/activate|/deactivate]]`. Members read; project admins
 * create, change, (de)activate and delete. Every change bumps `version` and snapshots the agent in
 * `…/agents/{agentId}/versions/{n}`, so a job's `{agentId, agentVersion}` names exactly what it ran.
 */
import { randomBytes } from 'node:crypto';
import { FieldPath, FieldValue, type CollectionReference, type DocumentSnapshot, type Firestore, type Transaction } from '@google-cloud/firestore';
import { AGENT_CONFIG_SCHEMAS, AgentSchema, CreateAgentRequestSchema, ListAgentsQuerySchema, ListAgentsResponseSchema, UpdateAgentRequestSchema, type Agent } from '../../../shared/api/agents.js';
import { decodeCursor, encodeCursor, queryKey } from '../../../shared/api/pagination.js';
import { AGENT_ID } from '../../../shared/api/settings.js';
import { auditInTransaction, type AuditAction } from '../../../shared/audit.js';
import { HttpError } from '../../../shared/errors/index.js';
import { toPlain } from '../../../shared/firestore/client.js';
import { paths } from '../../../shared/firestore/paths.js';
import { settingsPaths } from '../../../shared/firestore/settings.js';
import { PROJECT_ID } from '../../../shared/ids.js';
import { checkIfMatch, idGroup, invalid, json, jsonWithEtag, projectRole, type ApiResponse, type Route, type RouteContext } from '../http.js';

export function agentsCollection(db: Firestore, projectId: string): CollectionReference {
  return db.collection(`${paths.project(projectId)}/agents`);
}

export function agentView(snap: DocumentSnapshot): Agent | null {
  if (!snap.exists) return null;
  return AgentSchema.parse({ ...(toPlain(snap.data()) as Record<string, unknown>), id: snap.id });
}

/**
 * The agent an upload runs with: the named one, else the project's default, else none. A named
 * agent must exist in the project and be active (400 otherwise).
 */
export async function agentForUpload(db: Firestore, projectId: string, agentId: string | undefined, defaultAgentId: string | null): Promise<{ agentId: string; agentVersion: number } | null> {
  const id = agentId ?? defaultAgentId;
  if (!id) return null;
  const agent = agentView(await agentsCollection(db, projectId).doc(id).get());
  if (!agent || agent.status !== 'active') {
    if (agentId === undefined) return null; // a stale default does not block uploads
    throw new HttpError(400, 'INVALID_ARGUMENT', `agent ${id} is not an active agent of project ${projectId}`, { agentId: ['no such active agent'] });
  }
  return { agentId: agent.id, agentVersion: agent.version };
}

/** Writes the agent and its version snapshot in the transaction. */
function writeVersion(tx: Transaction, ref: FirebaseFirestore.DocumentReference, data: Record<string, unknown>, version: number, create: boolean): void {
  const now = FieldValue.serverTimestamp();
  if (create) tx.create(ref, { ...data, version, createdAt: now, updatedAt: now });
  else tx.update(ref, { ...data, version, updatedAt: now });
  tx.set(ref.collection('versions').doc(String(version).padStart(6, '0')), { ...data, version, at: now });
}

async function createAgent({ req, caller, deps, params, requestId }: RouteContext): Promise<ApiResponse> {
  const projectId = params.id ?? '';
  await projectRole(deps, caller, projectId, ['admin']);
  const parsed = CreateAgentRequestSchema.safeParse(await req.readBody());
  if (!parsed.success) throw invalid('agent', parsed.error);
  const id = `agt_${randomBytes(8).toString('hex')}`;
  const ref = agentsCollection(deps.db, projectId).doc(id);
  // Write-only: the transaction commits the agent, its first version and the audit entry together.
  await deps.db.runTransaction((tx) => {
    writeVersion(tx, ref, { ...parsed.data, projectId, createdBy: caller.uid, updatedBy: caller.uid }, 1, true);
    auditInTransaction({ db: deps.db }, tx, { action: 'agent.created', actor: caller, projectId, target: { type: 'agent', id: ref.id }, details: { type: parsed.data.type, requestId } });
    return Promise.resolve();
  });
  const view = agentView(await ref.get());
  return { ...jsonWithEtag(view, 201), headers: { ...jsonWithEtag(view).headers, location: `/v1/projects/${projectId}/agents/${id}` } };
}

async function listAgents({ req, caller, deps, params }: RouteContext): Promise<ApiResponse> {
  const projectId = params.id ?? '';
  await projectRole(deps, caller, projectId);
  const parsed = ListAgentsQuerySchema.safeParse(req.query ?? {});
  if (!parsed.success) throw invalid('query', parsed.error);
  const { type, status, limit, pageToken } = parsed.data;
  let q = agentsCollection(deps.db, projectId).orderBy(FieldPath.documentId());
  if (type) q = q.where('type', '==', type);
  if (status) q = q.where('status', '==', status);
  const key = queryKey({ list: 'agents', projectId, type, status });
  if (pageToken) {
    const [after] = decodeCursor(pageToken, key, 1);
    if (typeof after !== 'string' || !AGENT_ID.test(after)) throw new HttpError(400, 'INVALID_PAGE_TOKEN', 'pageToken is not one this endpoint returned');
    q = q.startAfter(after);
  }
  const snap = await q.limit(limit + 1).get();
  const page = snap.docs.slice(0, limit);
  const last = page.at(-1);
  return json(200, ListAgentsResponseSchema.parse({ agents: page.map(agentView), nextPageToken: snap.docs.length > limit && last ? encodeCursor(key, [last.id]) : null }));
}

async function getAgent({ caller, deps, params }: RouteContext): Promise<ApiResponse> {
  const projectId = params.id ?? '';
  await projectRole(deps, caller, projectId);
  const view = agentView(await agentsCollection(deps.db, projectId).doc(params.agentId ?? '').get());
  if (!view) throw new HttpError(404, 'NOT_FOUND', 'no such agent');
  return jsonWithEtag(view);
}

/** A guarded change of an agent: read, If-Match, compute, write a new version. */
async function changeAgent(ctx: RouteContext, action: AuditAction, change: (agent: Agent) => Record<string, unknown> | null): Promise<ApiResponse> {
  const { req, caller, deps, params, requestId } = ctx;
  const projectId = params.id ?? '';
  await projectRole(deps, caller, projectId, ['admin']);
  const ref = agentsCollection(deps.db, projectId).doc(params.agentId ?? '');
  await deps.db.runTransaction(async (tx) => {
    const current = agentView(await tx.get(ref));
    if (!current) throw new HttpError(404, 'NOT_FOUND', 'no such agent');
    checkIfMatch(req, current);
    const patch = change(current);
    if (patch === null) return;
    const { id: _id, version: _v, createdAt: _c, updatedAt: _u, ...rest } = current;
    writeVersion(tx, ref, { ...rest, ...patch, updatedBy: caller.uid }, current.version + 1, false);
    auditInTransaction({ db: deps.db }, tx, { action, actor: caller, projectId, target: { type: 'agent', id: ref.id }, details: { version: current.version + 1, requestId } });
  });
  return jsonWithEtag(agentView(await ref.get()));
}

async function patchAgent(ctx: RouteContext): Promise<ApiResponse> {
  const parsed = UpdateAgentRequestSchema.safeParse(await ctx.req.readBody());
  if (!parsed.success) throw invalid('agent change', parsed.error);
  const { name, description, config } = parsed.data;
  return changeAgent(ctx, 'agent.updated', (agent) => {
    let checked: Record<string, unknown> | undefined;
    if (config !== undefined) {
      // The type never changes; the config must be valid for it.
      const r = AGENT_CONFIG_SCHEMAS[agent.type].safeParse(config);
      if (!r.success) throw invalid(`${agent.type} agent config`, r.error);
      checked = r.data;
    }
    return { ...(name !== undefined ? { name } : {}), ...(description !== undefined ? { description } : {}), ...(checked ? { config: checked } : {}) };
  });
}

const setStatus = (status: 'active' | 'inactive') => (ctx: RouteContext) => changeAgent(ctx, status === 'active' ? 'agent.activated' : 'agent.deactivated', (agent) => (agent.status === status ? null : { status }));

async function deleteAgent({ req, caller, deps, params, requestId }: RouteContext): Promise<ApiResponse> {
  const projectId = params.id ?? '';
  await projectRole(deps, caller, projectId, ['admin']);
  const ref = agentsCollection(deps.db, projectId).doc(params.agentId ?? '');
  const current = agentView(await ref.get());
  if (!current) throw new HttpError(404, 'NOT_FOUND', 'no such agent');
  checkIfMatch(req, current);
  const settings = await deps.db.doc(settingsPaths.project(projectId)).get();
  if (settings.get('defaultAgentId') === current.id) throw new HttpError(409, 'AGENT_IN_USE', `agent ${current.id} is the project's default agent: change the project settings first`);
  await deps.db.runTransaction((tx) => {
    tx.delete(ref);
    auditInTransaction({ db: deps.db }, tx, { action: 'agent.deleted', actor: caller, projectId, target: { type: 'agent', id: ref.id }, details: { version: current.version, requestId } });
    return Promise.resolve();
  });
  // Its version snapshots stay: jobs that ran with it still name what they ran.
  return { status: 204, body: '' };
}

const BASE = `^/v1/projects/${idGroup('id', PROJECT_ID)}/agents`;
const AGENT = idGroup('agentId', AGENT_ID);
const TAG = 'agents';

export const agentRoutes: readonly Route[] = [
  {
    pattern: new RegExp(`${BASE}$`),
    path: '/v1/projects/{id}/agents',
    methods: { POST: createAgent, GET: listAgents },
    docs: {
      POST: { summary: 'Create an agent (project admins)', tag: TAG, body: CreateAgentRequestSchema, status: 201, response: AgentSchema },
      GET: { summary: "List a project's agents", tag: TAG, query: ListAgentsQuerySchema, response: ListAgentsResponseSchema },
    },
  },
  {
    pattern: new RegExp(`${BASE}/${AGENT}$`),
    path: '/v1/projects/{id}/agents/{agentId}',
    methods: { GET: getAgent, PATCH: patchAgent, DELETE: deleteAgent },
    docs: {
      GET: { summary: 'Read an agent (ETag)', tag: TAG, response: AgentSchema },
      PATCH: { summary: 'Change name, description or config (new version; project admins; If-Match)', tag: TAG, body: UpdateAgentRequestSchema, response: AgentSchema, errors: [412] },
      DELETE: { summary: 'Delete an agent (not the default one; project admins)', tag: TAG, status: 204, errors: [409, 412] },
    },
  },
  {
    pattern: new RegExp(`${BASE}/${AGENT}/activate$`),
    path: '/v1/projects/{id}/agents/{agentId}/activate',
    methods: { POST: setStatus('active') },
    docs: { POST: { summary: 'Activate an agent (project admins)', tag: TAG, response: AgentSchema, errors: [412] } },
  },
  {
    pattern: new RegExp(`${BASE}/${AGENT}/deactivate$`),
    path: '/v1/projects/{id}/agents/{agentId}/deactivate',
    methods: { POST: setStatus('inactive') },
    docs: { POST: { summary: 'Deactivate an agent (project admins)', tag: TAG, response: AgentSchema, errors: [412] } },
  },
];
