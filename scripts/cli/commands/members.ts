/** `scriptorium members list|add|set-role|remove`: a project's members (project admins change them). */
import { UsageError } from '../io.js';
import { opt, resourceCommand, type SubContext } from '../resource-command.js';

const USAGE = `Usage: scriptorium members SUBCOMMAND [OPTIONS]

  list PROJECT_ID                   the project's members
  add PROJECT_ID UID ROLE           add a member (ROLE: admin, editor, viewer) (--email E)
  set-role PROJECT_ID UID ROLE      change a member's role (never the last admin's)
  remove PROJECT_ID UID             remove a member (not the last admin)

Prints the api's answer as JSON. Options: --config FILE, -h/--help.
`;

const path = (c: SubContext): string => `/v1/projects/${encodeURIComponent(c.args[0] ?? '')}/members/${encodeURIComponent(c.args[1] ?? '')}`;
const role = (c: SubContext): string => {
  const r = c.args[2] ?? '';
  if (!['admin', 'editor', 'viewer'].includes(r)) throw new UsageError(`ROLE must be admin, editor or viewer, got '${r}'`);
  return r;
};

export const membersCommand = resourceCommand(
  'members',
  "list and change a project's members",
  USAGE,
  {
    list: { synopsis: 'list PROJECT_ID', arity: 1, run: (c) => c.api.call('GET', `/v1/projects/${encodeURIComponent(c.args[0] ?? '')}/members`) },
    add: { synopsis: 'add PROJECT_ID UID ROLE', arity: 3, run: (c) => c.api.call('PUT', path(c), { role: role(c), ...(opt(c, 'email') ? { email: opt(c, 'email') } : {}) }) },
    'set-role': { synopsis: 'set-role PROJECT_ID UID ROLE', arity: 3, run: (c) => c.api.call('PUT', path(c), { role: role(c) }) },
    remove: { synopsis: 'remove PROJECT_ID UID', arity: 2, run: async (c) => (await c.api.call('DELETE', path(c))) ?? { removed: c.args[1] } },
  },
  { email: { type: 'string' } },
);
