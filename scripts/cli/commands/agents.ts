/** `scriptorium agents list|create|show|update|activate|deactivate|delete`: a project's agents. */
import { jsonArg, opt, qs, resourceCommand, type SubContext } from '../resource-command.js';

const USAGE = `Usage: scriptorium agents SUBCOMMAND [OPTIONS]   (--project ID, default the demo project)

  list                          the project's agents (--type T, --status active|inactive)
  create TYPE NAME --json CFG   a new agent: TYPE ocr {"languages":["eng"]}, summary {"length":"short"},
                                tts {"voice":"flite-kal16","speakingRate":1}, chunking {"chunkSize":1200,"overlap":100}
  show AGENT_ID                 one agent
  update AGENT_ID --json '{…}'  change name, description and/or config (a new version)
  activate AGENT_ID | deactivate AGENT_ID | delete AGENT_ID

Prints the api's answer as JSON. Options: --config FILE, -h/--help.
`;

const base = (c: SubContext): string => `/v1/projects/${encodeURIComponent(opt(c, 'project') ?? c.config.projectId)}/agents`;
const one = (c: SubContext): string => `${base(c)}/${encodeURIComponent(c.args[0] ?? '')}`;

export const agentsCommand = resourceCommand(
  'agents',
  "manage a project's agents (processing profiles)",
  USAGE,
  {
    list: { synopsis: 'list', arity: 0, run: (c) => c.api.call('GET', `${base(c)}${qs({ type: opt(c, 'type'), status: opt(c, 'status') })}`) },
    create: { synopsis: 'create TYPE NAME --json CONFIG', arity: 2, run: (c) => c.api.call('POST', base(c), { type: c.args[0], name: c.args[1], config: jsonArg('json', opt(c, 'json')) }) },
    show: { synopsis: 'show AGENT_ID', arity: 1, run: (c) => c.api.call('GET', one(c)) },
    update: { synopsis: "update AGENT_ID --json '{…}'", arity: 1, run: (c) => c.api.call('PATCH', one(c), jsonArg('json', opt(c, 'json'))) },
    activate: { synopsis: 'activate AGENT_ID', arity: 1, run: (c) => c.api.call('POST', `${one(c)}/activate`) },
    deactivate: { synopsis: 'deactivate AGENT_ID', arity: 1, run: (c) => c.api.call('POST', `${one(c)}/deactivate`) },
    delete: { synopsis: 'delete AGENT_ID', arity: 1, run: async (c) => (await c.api.call('DELETE', one(c))) ?? { deleted: c.args[0] } },
  },
  { project: { type: 'string' }, json: { type: 'string' }, type: { type: 'string' }, status: { type: 'string' } },
);
