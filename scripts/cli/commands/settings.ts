/** `scriptorium settings show|set [--project ID]`: your settings, or a project's (`/v1/me/settings`, `/v1/projects/:id/settings`). */
import { jsonArg, opt, resourceCommand, type SubContext } from '../resource-command.js';

const USAGE = `Usage: scriptorium settings SUBCOMMAND [OPTIONS]

  show                      your settings (defaults filled in); with --project ID the project's
  set --json '{…}'          replace them (absent fields take their defaults); with --project ID the
                            project's (project admins). User settings: language, theme, reading
                            {fontSize, lineHeight, fontFamily}, notifications {jobCompleted, jobFailed,
                            email}, defaultVoice. Project settings: allowedContentTypes, maxUploadBytes,
                            retentionDays, defaultAgentId.

Prints the api's answer as JSON. Options: --config FILE, -h/--help.
`;

const route = (c: SubContext): string => {
  const project = opt(c, 'project');
  return project ? `/v1/projects/${encodeURIComponent(project)}/settings` : '/v1/me/settings';
};

export const settingsCommand = resourceCommand(
  'settings',
  'show and change your settings or a project\'s',
  USAGE,
  {
    show: { synopsis: 'show', arity: 0, run: (c) => c.api.call('GET', route(c)) },
    set: { synopsis: "set --json '{…}'", arity: 0, run: (c) => c.api.call('PUT', route(c), jsonArg('json', opt(c, 'json'))) },
  },
  { project: { type: 'string' }, json: { type: 'string' } },
);
