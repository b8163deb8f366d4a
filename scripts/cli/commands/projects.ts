/** `scriptorium projects list|create|show|delete`: the caller's projects (`/v1/projects`). */
import { opt, qs, resourceCommand } from '../resource-command.js';

const USAGE = `Usage: scriptorium projects SUBCOMMAND [OPTIONS]

  list                      your projects, with your role (--limit N, --page-token T)
  create NAME               a new project; you become its admin (--id ID, --description TEXT)
  show PROJECT_ID           one project
  delete PROJECT_ID         an empty project; with --force its documents too (project admins)

Prints the api's answer as JSON. Options: --config FILE, -h/--help.
`;

export const projectsCommand = resourceCommand(
  'projects',
  'list, create, show and delete projects',
  USAGE,
  {
    list: { synopsis: 'list', arity: 0, run: (c) => c.api.call('GET', `/v1/projects${qs({ limit: opt(c, 'limit'), pageToken: opt(c, 'page-token') })}`) },
    create: { synopsis: 'create NAME', arity: 1, run: (c) => c.api.call('POST', '/v1/projects', { name: c.args[0], ...(opt(c, 'id') ? { id: opt(c, 'id') } : {}), ...(opt(c, 'description') ? { description: opt(c, 'description') } : {}) }) },
    show: { synopsis: 'show PROJECT_ID', arity: 1, run: (c) => c.api.call('GET', `/v1/projects/${encodeURIComponent(c.args[0] ?? '')}`) },
    delete: { synopsis: 'delete PROJECT_ID', arity: 1, run: (c) => c.api.call('DELETE', `/v1/projects/${encodeURIComponent(c.args[0] ?? '')}${c.opts.force ? '?force=true' : ''}`) },
  },
  { limit: { type: 'string' }, 'page-token': { type: 'string' }, id: { type: 'string' }, description: { type: 'string' }, force: { type: 'boolean' } },
);
