/**
 * Settings: `GET/PUT /v1/me/settings` (the caller's own) and `GET/PUT /v1/projects/:id/settings`
 * (members read, project admins write). PUT replaces the whole settings object; absent fields take
 * their defaults. ETag on reads, If-Match honoured on writes.
 */
import { FieldValue } from '@google-cloud/firestore';
import { ProjectSettingsSchema, ProjectSettingsViewSchema, UserSettingsSchema, UserSettingsViewSchema } from '../../../shared/api/settings.js';
import { HttpError } from '../../../shared/errors/index.js';
import { projectSettingsFrom, readProjectSettings, readUserSettings, settingsPaths, userSettingsFrom } from '../../../shared/firestore/settings.js';
import { PROJECT_ID } from '../../../shared/ids.js';
import { checkIfMatch, idGroup, invalid, jsonWithEtag, projectRole, type ApiResponse, type Route, type RouteContext } from '../http.js';
import { agentsCollection } from './agents.js';

async function getMine({ caller, deps }: RouteContext): Promise<ApiResponse> {
  return jsonWithEtag(UserSettingsViewSchema.parse(await readUserSettings(deps.db, caller.uid)));
}

async function putMine({ req, caller, deps }: RouteContext): Promise<ApiResponse> {
  const parsed = UserSettingsSchema.safeParse(await req.readBody());
  if (!parsed.success) throw invalid('settings', parsed.error);
  const ref = deps.db.doc(settingsPaths.user(caller.uid));
  await deps.db.runTransaction(async (tx) => {
    // The ETag compared is the view's (settings with defaults, updatedAt), as GET returned it.
    checkIfMatch(req, UserSettingsViewSchema.parse(userSettingsFrom((await tx.get(ref)).data())));
    tx.set(ref, { ...parsed.data, updatedAt: FieldValue.serverTimestamp() });
  });
  return jsonWithEtag(UserSettingsViewSchema.parse(await readUserSettings(deps.db, caller.uid)));
}

async function getProjectSettings({ caller, deps, params }: RouteContext): Promise<ApiResponse> {
  const id = params.id ?? '';
  await projectRole(deps, caller, id);
  return jsonWithEtag(ProjectSettingsViewSchema.parse({ projectId: id, ...(await readProjectSettings(deps.db, id)) }));
}

async function putProjectSettings({ req, caller, deps, params }: RouteContext): Promise<ApiResponse> {
  const id = params.id ?? '';
  await projectRole(deps, caller, id, ['admin']);
  const parsed = ProjectSettingsSchema.safeParse(await req.readBody());
  if (!parsed.success) throw invalid('project settings', parsed.error);
  const settings = parsed.data;
  const max = deps.config.SCRIPTORIUM_MAX_UPLOAD_BYTES;
  if (settings.maxUploadBytes !== null && settings.maxUploadBytes > max) throw new HttpError(400, 'INVALID_ARGUMENT', `maxUploadBytes may not exceed the platform limit of ${max} bytes`, { maxUploadBytes: [`at most ${max}`] });
  if (settings.defaultAgentId !== null) {
    const agent = await agentsCollection(deps.db, id).doc(settings.defaultAgentId).get();
    if (!agent.exists || agent.get('status') !== 'active') throw new HttpError(400, 'INVALID_ARGUMENT', `defaultAgentId ${settings.defaultAgentId} is not an active agent of project ${id}`, { defaultAgentId: ['no such active agent'] });
  }
  const ref = deps.db.doc(settingsPaths.project(id));
  await deps.db.runTransaction(async (tx) => {
    checkIfMatch(req, ProjectSettingsViewSchema.parse({ projectId: id, ...projectSettingsFrom((await tx.get(ref)).data()) }));
    tx.set(ref, { ...settings, updatedAt: FieldValue.serverTimestamp() });
  });
  return jsonWithEtag(ProjectSettingsViewSchema.parse({ projectId: id, ...(await readProjectSettings(deps.db, id)) }));
}

const TAG = 'settings';

export const settingsRoutes: readonly Route[] = [
  {
    pattern: /^\/v1\/me\/settings$/,
    path: '/v1/me/settings',
    methods: { GET: getMine, PUT: putMine },
    docs: {
      GET: { summary: "The caller's settings (defaults filled in; ETag)", tag: TAG, response: UserSettingsViewSchema },
      PUT: { summary: "Replace the caller's settings (absent fields take defaults; If-Match)", tag: TAG, body: UserSettingsSchema, response: UserSettingsViewSchema, errors: [412] },
    },
  },
  {
    pattern: new RegExp(`^/v1/projects/${idGroup('id', PROJECT_ID)}/settings$`),
    path: '/v1/projects/{id}/settings',
    methods: { GET: getProjectSettings, PUT: putProjectSettings },
    docs: {
      GET: { summary: "A project's settings (members; ETag)", tag: TAG, response: ProjectSettingsViewSchema },
      PUT: { summary: "Replace a project's settings (project admins; If-Match)", tag: TAG, body: ProjectSettingsSchema, response: ProjectSettingsViewSchema, errors: [412] },
    },
  },
];
