/**
 * Projects and their members: `/v1/projects[/:id[/members[/:uid]]]`.
 *
 * Who may do what: a signed-in global editor or admin may create a project and becomes its admin
 * (not a global viewer, not an API key: see `mayCreateProjects`); members read the project and its member
 * list; project admins change the project, its members and delete it. A non-member sees 404, like
 * an unknown id. Member changes and deletions are audited (`auditLog`).
 */
import { randomBytes } from 'node:crypto';
import { FieldPath, FieldValue, type DocumentSnapshot, type Firestore } from '@google-cloud/firestore';
import { audit, auditInTransaction } from '../../../shared/audit.js';
import type { Caller } from '../../../shared/auth/index.js';
import { HttpError } from '../../../shared/errors/index.js';
import { isAlreadyExists, toPlain } from '../../../shared/firestore/client.js';
import { COLLECTIONS, paths, type Role } from '../../../shared/firestore/paths.js';
import { PROJECT_ID, UID } from '../../../shared/ids.js';
import { decodeCursor, encodeCursor, queryKey } from '../../../shared/api/pagination.js';
import {
  CreateProjectRequestSchema,
  DeleteProjectQuerySchema,
  ListMembersQuerySchema,
  ListMembersResponseSchema,
  ListProjectsQuerySchema,
  ListProjectsResponseSchema,
  MemberViewSchema,
  ProjectSchema,
  PutMemberRequestSchema,
  UpdateProjectRequestSchema,
  type MemberView,
  type Project,
} from '../../../shared/api/projects.js';
import { checkIfMatch, idGroup, invalid, json, jsonWithEtag, projectRole, type ApiResponse, type Route, type RouteContext } from '../http.js';
import { deleteDocumentFully } from './document-deletion.js';

const ADMIN: readonly Role[] = ['admin'];

/** Project records as the API shows them. */
export function projectView(snap: DocumentSnapshot): Project | null {
  if (!snap.exists) return null;
  const d = toPlain(snap.data()) as Record<string, unknown>;
  return ProjectSchema.parse({ id: snap.id, name: d.name ?? snap.id, description: d.description ?? '', ownerUid: d.ownerUid ?? '', createdAt: d.createdAt ?? null, updatedAt: d.updatedAt ?? d.createdAt ?? null });
}

function memberView(snap: DocumentSnapshot, projectId: string): MemberView | null {
  if (!snap.exists) return null;
  const d = toPlain(snap.data()) as Record<string, unknown>;
  return MemberViewSchema.parse({ uid: snap.id, projectId, role: d.role, email: d.email ?? null, addedAt: d.addedAt ?? null, updatedAt: d.updatedAt ?? d.addedAt ?? null });
}

/**
 * Whether the caller may create projects. Today: every signed-in user (they become the new
 * project's admin, and see nothing of anyone else's). When global roles (custom claims) land, a
 * global `viewer` should be refused here.
 */
function mayCreateProjects(caller: Caller): boolean {
  // An API key belongs to one project and cannot found others; a global viewer changes nothing
  // (refused before any route by the access gate, repeated here where it matters).
  return caller.apiKey === undefined && caller.globalRole !== 'viewer';
}

function slug(name: string): string {
  const s = name.normalize('NFKD').replace(/\p{M}/gu, '').toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 48);
  return `${s.length >= 2 ? s : 'project'}-${randomBytes(3).toString('hex')}`;
}

async function createProject({ req, caller, deps, requestId }: RouteContext): Promise<ApiResponse> {
  if (!mayCreateProjects(caller)) throw new HttpError(403, 'PERMISSION_DENIED', 'you may not create projects');
  const parsed = CreateProjectRequestSchema.safeParse(await req.readBody());
  if (!parsed.success) throw invalid('project', parsed.error);
  const { name, description } = parsed.data;
  const id = parsed.data.id ?? slug(name);
  const db = deps.db;
  const now = FieldValue.serverTimestamp();
  try {
    await db.runTransaction((tx) => {
      tx.create(db.doc(paths.project(id)), { name, description, ownerUid: caller.uid, createdAt: now, updatedAt: now });
      tx.create(db.doc(paths.member(id, caller.uid)), { uid: caller.uid, projectId: id, role: 'admin', email: caller.email, addedAt: now, updatedAt: now });
      auditInTransaction({ db }, tx, { action: 'project.created', actor: caller, projectId: id, target: { type: 'project', id }, details: { name, requestId } });
      return Promise.resolve();
    });
  } catch (err) {
    if (isAlreadyExists(err)) throw new HttpError(409, 'ALREADY_EXISTS', `project id ${id} is taken: choose another`);
    throw err;
  }
  const view = projectView(await db.doc(paths.project(id)).get());
  return { ...jsonWithEtag(view, 201), headers: { ...jsonWithEtag(view).headers, location: `/v1/projects/${id}` } };
}

/** The caller's projects: a collection-group query on `members` (uid field), in member-path order. */
async function listProjects({ req, caller, deps }: RouteContext): Promise<ApiResponse> {
  const parsed = ListProjectsQuerySchema.safeParse(req.query ?? {});
  if (!parsed.success) throw invalid('query', parsed.error);
  const { limit, pageToken } = parsed.data;
  const key = queryKey({ list: 'projects', uid: caller.uid });
  let q = deps.db.collectionGroup(COLLECTIONS.members).where('uid', '==', caller.uid).orderBy(FieldPath.documentId()).limit(limit + 1);
  if (pageToken) {
    const [after] = decodeCursor(pageToken, key, 1);
    if (typeof after !== 'string' || !/^projects\/[a-z0-9-]+\/members\/[^/]+$/.test(after)) throw new HttpError(400, 'INVALID_PAGE_TOKEN', 'pageToken is not one this endpoint returned');
    q = q.startAfter(deps.db.doc(after));
  }
  const snap = await q.get();
  const page = snap.docs.slice(0, limit);
  const refs = page.map((m) => m.ref.parent.parent).filter((r): r is NonNullable<typeof r> => r !== null);
  const projects = refs.length > 0 ? await deps.db.getAll(...refs) : [];
  const items = projects.flatMap((p, i) => {
    const view = projectView(p);
    const role = page[i]?.get('role') as unknown;
    return view && typeof role === 'string' ? [{ ...view, role }] : [];
  });
  const last = page.at(-1);
  const body = ListProjectsResponseSchema.parse({ projects: items, nextPageToken: snap.docs.length > limit && last ? encodeCursor(key, [last.ref.path]) : null });
  return json(200, body);
}

async function getProject({ caller, deps, params }: RouteContext): Promise<ApiResponse> {
  const id = params.id ?? '';
  await projectRole(deps, caller, id);
  const view = projectView(await deps.db.doc(paths.project(id)).get());
  if (!view) throw new HttpError(404, 'NOT_FOUND', 'no such project');
  return jsonWithEtag(view);
}

async function patchProject({ req, caller, deps, params }: RouteContext): Promise<ApiResponse> {
  const id = params.id ?? '';
  await projectRole(deps, caller, id, ADMIN);
  const parsed = UpdateProjectRequestSchema.safeParse(await req.readBody());
  if (!parsed.success) throw invalid('project change', parsed.error);
  const ref = deps.db.doc(paths.project(id));
  await deps.db.runTransaction(async (tx) => {
    const current = projectView(await tx.get(ref));
    if (!current) throw new HttpError(404, 'NOT_FOUND', 'no such project');
    checkIfMatch(req, current);
    tx.update(ref, { ...parsed.data, updatedAt: FieldValue.serverTimestamp() });
  });
  return jsonWithEtag(projectView(await ref.get()));
}

/** Deletes a project's own records (members, agents, settings, the project) once its documents are gone. */
async function deleteProjectRecords(db: Firestore, id: string): Promise<void> {
  await db.recursiveDelete(db.doc(paths.project(id)));
}

async function deleteProject({ req, caller, deps, params, requestId }: RouteContext): Promise<ApiResponse> {
  const id = params.id ?? '';
  await projectRole(deps, caller, id, ADMIN);
  const q = DeleteProjectQuerySchema.safeParse(req.query ?? {});
  if (!q.success) throw invalid('query', q.error);
  const force = q.data.force === 'true';
  const ref = deps.db.doc(paths.project(id));
  const current = projectView(await ref.get());
  if (!current) throw new HttpError(404, 'NOT_FOUND', 'no such project');
  checkIfMatch(req, current);
  const docs = deps.db.collection(COLLECTIONS.documents).where('projectId', '==', id);
  const count = (await docs.count().get()).data().count;
  if (count > 0 && !force) throw new HttpError(409, 'PROJECT_NOT_EMPTY', `project ${id} still has ${count} document(s): delete them first, or DELETE with ?force=true to delete them too`, { documents: count });
  await audit({ db: deps.db }, { action: 'project.deleted', actor: caller, projectId: id, target: { type: 'project', id }, details: { force, documents: count, requestId } }, `project-delete-${id}-${(current.createdAt ?? '').replace(/[^0-9]/g, '')}`);
  let deletedDocuments = 0;
  // Page through the documents; each deletion is itself resumable, so a crash here is resumed by repeating the request.
  for (;;) {
    const page = await docs.select().limit(50).get();
    if (page.empty) break;
    for (const d of page.docs) {
      await deleteDocumentFully(deps, d.id, caller, requestId);
      deletedDocuments++;
    }
  }
  await deleteProjectRecords(deps.db, id);
  deps.log.info('project deleted', { projectId: id, uid: caller.uid, force, deletedDocuments, requestId });
  return json(200, { projectId: id, deletedDocuments });
}

async function listMembers({ req, caller, deps, params }: RouteContext): Promise<ApiResponse> {
  const id = params.id ?? '';
  await projectRole(deps, caller, id);
  const parsed = ListMembersQuerySchema.safeParse(req.query ?? {});
  if (!parsed.success) throw invalid('query', parsed.error);
  const { limit, pageToken } = parsed.data;
  const key = queryKey({ list: 'members', projectId: id });
  let q = deps.db.collection(`${paths.project(id)}/${COLLECTIONS.members}`).orderBy(FieldPath.documentId()).limit(limit + 1);
  if (pageToken) {
    const [after] = decodeCursor(pageToken, key, 1);
    if (typeof after !== 'string' || !UID.test(after)) throw new HttpError(400, 'INVALID_PAGE_TOKEN', 'pageToken is not one this endpoint returned');
    q = q.startAfter(after);
  }
  const snap = await q.get();
  const page = snap.docs.slice(0, limit);
  const last = page.at(-1);
  return json(200, ListMembersResponseSchema.parse({ members: page.map((m) => memberView(m, id)), nextPageToken: snap.docs.length > limit && last ? encodeCursor(key, [last.id]) : null }));
}

async function getMember({ caller, deps, params }: RouteContext): Promise<ApiResponse> {
  const id = params.id ?? '';
  await projectRole(deps, caller, id);
  const view = memberView(await deps.db.doc(paths.member(id, params.uid ?? '')).get(), id);
  if (!view) throw new HttpError(404, 'NOT_FOUND', 'no such member');
  return jsonWithEtag(view);
}

/** Admins of a project, read in the transaction (at most 2: enough to know whether one is the last). */
async function adminCount(db: Firestore, tx: FirebaseFirestore.Transaction, projectId: string): Promise<number> {
  const snap = await tx.get(db.collection(`${paths.project(projectId)}/${COLLECTIONS.members}`).where('role', '==', 'admin').limit(2));
  return snap.size;
}

async function putMember({ req, caller, deps, params, requestId }: RouteContext): Promise<ApiResponse> {
  const id = params.id ?? '';
  const uid = params.uid ?? '';
  await projectRole(deps, caller, id, ADMIN);
  const parsed = PutMemberRequestSchema.safeParse(await req.readBody());
  if (!parsed.success) throw invalid('member', parsed.error);
  const { role, email } = parsed.data;
  const ref = deps.db.doc(paths.member(id, uid));
  const created = await deps.db.runTransaction(async (tx) => {
    const current = memberView(await tx.get(ref), id);
    checkIfMatch(req, current);
    if (current?.role === 'admin' && role !== 'admin' && (await adminCount(deps.db, tx, id)) < 2) {
      throw new HttpError(409, 'LAST_ADMIN', `${uid} is the last admin of project ${id}: make someone else admin first`);
    }
    const now = FieldValue.serverTimestamp();
    if (current) tx.update(ref, { role, ...(email !== undefined ? { email } : {}), updatedAt: now });
    else tx.create(ref, { uid, projectId: id, role, email: email ?? null, addedAt: now, updatedAt: now });
    auditInTransaction({ db: deps.db }, tx, { action: current ? 'member.role_changed' : 'member.added', actor: caller, projectId: id, target: { type: 'member', id: uid }, details: { role, previousRole: current?.role ?? null, requestId } });
    return current === null;
  });
  const view = memberView(await ref.get(), id);
  return jsonWithEtag(view, created ? 201 : 200);
}

async function deleteMember({ req, caller, deps, params, requestId }: RouteContext): Promise<ApiResponse> {
  const id = params.id ?? '';
  const uid = params.uid ?? '';
  // Admins remove anyone; any member may leave (remove themselves).
  await projectRole(deps, caller, id, uid === caller.uid ? undefined : ADMIN);
  const ref = deps.db.doc(paths.member(id, uid));
  await deps.db.runTransaction(async (tx) => {
    const current = memberView(await tx.get(ref), id);
    if (!current) throw new HttpError(404, 'NOT_FOUND', 'no such member');
    checkIfMatch(req, current);
    if (current.role === 'admin' && (await adminCount(deps.db, tx, id)) < 2) throw new HttpError(409, 'LAST_ADMIN', `${uid} is the last admin of project ${id}: make someone else admin first, or delete the project`);
    tx.delete(ref);
    auditInTransaction({ db: deps.db }, tx, { action: 'member.removed', actor: caller, projectId: id, target: { type: 'member', id: uid }, details: { role: current.role, requestId } });
  });
  return { status: 204, body: '' };
}

const PROJECT = idGroup('id', PROJECT_ID);
const MEMBER = idGroup('uid', UID);
const TAG = 'projects';

export const projectRoutes: readonly Route[] = [
  {
    pattern: /^\/v1\/projects$/,
    path: '/v1/projects',
    methods: { POST: createProject, GET: listProjects },
    docs: {
      POST: { summary: 'Create a project (the caller becomes its admin)', tag: TAG, body: CreateProjectRequestSchema, status: 201, response: ProjectSchema, errors: [409] },
      GET: { summary: "List the caller's projects (with the caller's role)", tag: TAG, query: ListProjectsQuerySchema, response: ListProjectsResponseSchema },
    },
  },
  {
    pattern: new RegExp(`^/v1/projects/${PROJECT}$`),
    path: '/v1/projects/{id}',
    methods: { GET: getProject, PATCH: patchProject, DELETE: deleteProject },
    docs: {
      GET: { summary: 'Read a project (ETag)', tag: TAG, response: ProjectSchema },
      PATCH: { summary: 'Change name or description (project admins; If-Match)', tag: TAG, body: UpdateProjectRequestSchema, response: ProjectSchema, errors: [412] },
      DELETE: { summary: 'Delete a project: empty, or with ?force=true its documents too (project admins; audited)', tag: TAG, query: DeleteProjectQuerySchema, errors: [409, 412] },
    },
  },
  {
    pattern: new RegExp(`^/v1/projects/${PROJECT}/members$`),
    path: '/v1/projects/{id}/members',
    methods: { GET: listMembers },
    docs: { GET: { summary: "List a project's members", tag: TAG, query: ListMembersQuerySchema, response: ListMembersResponseSchema } },
  },
  {
    pattern: new RegExp(`^/v1/projects/${PROJECT}/members/${MEMBER}$`),
    path: '/v1/projects/{id}/members/{uid}',
    methods: { GET: getMember, PUT: putMember, DELETE: deleteMember },
    docs: {
      GET: { summary: 'Read a member (ETag)', tag: TAG, response: MemberViewSchema },
      PUT: { summary: "Add a member or change a member's role (project admins; never leaves a project without an admin; audited)", tag: TAG, body: PutMemberRequestSchema, response: MemberViewSchema, errors: [409, 412] },
      DELETE: { summary: 'Remove a member (project admins, or the member themselves; not the last admin; audited)', tag: TAG, status: 204, errors: [409, 412] },
    },
  },
];
