/**
 * The `scriptorium` CLI: dispatch to a command and map outcomes to exit codes (0 ok, 1 failure,
 * 2 usage). `scripts/scriptorium.mjs` calls {@link runCli}; tests call {@link main} with fake streams.
 */
import { agentsCommand } from './commands/agents.js';
import { documentsCommand } from './commands/documents.js';
import { healthCommand } from './commands/health.js';
import { deadLettersCommand } from './commands/dead-letters.js';
import { jobCommand } from './commands/job.js';
import { cancelCommand, jobsCommand, retryCommand } from './commands/jobs.js';
import { keysCommand } from './commands/keys.js';
import { membersCommand } from './commands/members.js';
import { projectsCommand } from './commands/projects.js';
import { reembedCommand } from './commands/reembed.js';
import { searchCommand } from './commands/search.js';
import { settingsCommand } from './commands/settings.js';
import { speakCommand, voicesCommand } from './commands/speak.js';
import { summaryCommand } from './commands/summary.js';
import { textCommand } from './commands/text.js';
import { tokenCommand } from './commands/token.js';
import { transcriptCommand } from './commands/transcript.js';
import { translateVideoCommand } from './commands/translate-video.js';
import { uploadCommand } from './commands/upload.js';
import { uploadUrlCommand } from './commands/upload-url.js';
import { usageCommand } from './commands/usage.js';
import { usersCommand } from './commands/users.js';
import { versionsCommand } from './commands/versions.js';
import { EXIT, UsageError, CliFailure, type CliContext, type Command } from './io.js';
import { ApiError } from './session.js';

/** Every command, by name. */
export const COMMANDS: ReadonlyMap<string, Command> = new Map(
  [healthCommand, uploadCommand, uploadUrlCommand, searchCommand, textCommand, transcriptCommand, versionsCommand, summaryCommand, reembedCommand, jobCommand, jobsCommand, cancelCommand, retryCommand, deadLettersCommand, usageCommand, usersCommand, keysCommand, tokenCommand, projectsCommand, membersCommand, documentsCommand, settingsCommand, agentsCommand, speakCommand, voicesCommand, translateVideoCommand].map((c) => [c.name, c]),
);

/** The top-level `--help`. */
export function mainUsage(): string {
  const width = Math.max(...[...COMMANDS.keys()].map((n) => n.length));
  const list = [...COMMANDS.values()].map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n');
  return `Usage: scriptorium [--config FILE] COMMAND [OPTIONS]

Talks to the local Scriptorium stack (started by \`npm start\`) as its demo user.

Commands:
${list}

Options:
  --config FILE   local stack config (default: $SCRIPTORIUM_LOCAL_CONFIG, else .scriptorium/local.json)
  -h, --help      show this help; \`scriptorium COMMAND --help\` for a command's

Exit status: 0 success, 1 failure (job failed, api error, component down), 2 usage error.
`;
}

/**
 * Takes a leading `--config FILE` / `--config=FILE` (global form) and hands it to the command,
 * which parses it like its own options.
 */
function splitGlobal(argv: readonly string[]): { global: string[]; rest: string[] } {
  const global: string[] = [];
  let i = 0;
  while (i < argv.length) {
    const arg = argv[i] as string;
    if (arg === '--config' && i + 1 < argv.length) {
      global.push(arg, argv[i + 1] as string);
      i += 2;
    } else if (arg.startsWith('--config=')) {
      global.push(arg);
      i += 1;
    } else {
      break;
    }
  }
  return { global, rest: argv.slice(i) };
}

/** Runs the CLI with `ctx.argv` = the arguments after `scriptorium`; resolves to the exit code. */
export async function main(ctx: CliContext): Promise<number> {
  const { global, rest } = splitGlobal(ctx.argv);
  const [name, ...args] = rest;
  if (name === undefined) {
    ctx.stderr.write(mainUsage());
    return EXIT.USAGE;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    const topic = name === 'help' && args[0] !== undefined ? COMMANDS.get(args[0]) : undefined;
    ctx.stdout.write(topic ? topic.usage : mainUsage());
    return EXIT.OK;
  }
  const command = COMMANDS.get(name);
  if (!command) {
    ctx.stderr.write(`scriptorium: unknown command '${name}'\n\n${mainUsage()}`);
    return EXIT.USAGE;
  }
  try {
    return await command.run({ ...ctx, argv: [...global, ...args] });
  } catch (err) {
    if (err instanceof UsageError) {
      ctx.stderr.write(`scriptorium ${command.name}: ${err.message}\n${command.usage.split('\n')[0] ?? ''}\nRun 'scriptorium ${command.name} --help' for details.\n`);
      return EXIT.USAGE;
    }
    if (err instanceof CliFailure) {
      ctx.stderr.write(`error: ${err.message}\n`);
      return EXIT.FAILURE;
    }
    if (err instanceof ApiError) {
      ctx.stderr.write(`error: ${err.explain(`run ${command.name}`)}\n`);
      return EXIT.FAILURE;
    }
    // A bug or an unexpected failure: show the stack, it is what a bug report needs.
    ctx.stderr.write(`error: unexpected failure: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return EXIT.FAILURE;
  }
}

/** Entry point for the `scriptorium` bin: runs {@link main} on the process's argv and streams. */
export async function runCli(): Promise<void> {
  const code = await main({ argv: process.argv.slice(2), stdout: process.stdout, stderr: process.stderr, env: process.env });
  process.exitCode = code;
  // Commands release what they opened (listener, firebase app), so the process normally exits by
  // itself at once. Should some SDK handle still linger, do not hang a script: exit anyway. The
  // timer is unref'd, so it never delays a process that is otherwise done.
  setTimeout(() => process.exit(code), 3000).unref();
}
