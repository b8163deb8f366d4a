/**
 * Building blocks of the resource commands (`projects`, `members`, `documents`, `settings`,
 * `agents`): a command is a set of subcommands, each a small function of the API client; answers
 * print as JSON (pretty), errors as the API's problem.
 */
import { parseCommand } from './args.js';
import { EXIT, UsageError, CliFailure, type CliContext, type Command } from './io.js';
import { ApiError, loadConfig, openFirebaseSession, type ApiClient } from './session.js';
import type { LocalConfig } from '../../emulators/local-config.js';

/** What a subcommand gets: its positionals, its options (strings/booleans) and the client. */
export interface SubContext {
  readonly args: readonly string[];
  readonly opts: Readonly<Record<string, string | boolean | undefined>>;
  readonly api: ApiClient;
  readonly config: LocalConfig;
}

export interface Subcommand {
  /** `NAME ARG…` as shown in the usage. */
  readonly synopsis: string;
  readonly arity: number;
  run(ctx: SubContext): Promise<unknown>;
}

/** A string option, or undefined. */
export function opt(ctx: SubContext, name: string): string | undefined {
  const v = ctx.opts[name];
  return typeof v === 'string' ? v : undefined;
}

/** `?a=1&b=2` from the options given (undefined ones left out). */
export function qs(params: Readonly<Record<string, string | undefined>>): string {
  const entries = Object.entries(params).filter((e): e is [string, string] => e[1] !== undefined);
  return entries.length === 0 ? '' : `?${new URLSearchParams(entries).toString()}`;
}

/** A JSON object given on the command line (`--set '{"theme":"dark"}'`). */
export function jsonArg(name: string, value: string | undefined): unknown {
  if (value === undefined) throw new UsageError(`--${name} is required`);
  try {
    return JSON.parse(value) as unknown;
  } catch {
    throw new UsageError(`--${name} must be JSON, got '${value}'`);
  }
}

export function resourceCommand(name: string, summary: string, usage: string, subs: Readonly<Record<string, Subcommand>>, options: Readonly<Record<string, { type: 'string' | 'boolean' }>>): Command {
  async function run(ctx: CliContext): Promise<number> {
    const { values, positionals } = parseCommand(ctx.argv, options);
    if (values.help) {
      ctx.stdout.write(usage);
      return EXIT.OK;
    }
    const [subName, ...args] = positionals;
    const sub = subName === undefined ? undefined : subs[subName];
    if (!sub) throw new UsageError(subName === undefined ? `missing subcommand: ${Object.keys(subs).join(', ')}` : `unknown subcommand '${subName}': ${Object.keys(subs).join(', ')}`);
    if (args.length !== sub.arity) throw new UsageError(`usage: scriptorium ${name} ${sub.synopsis}`);
    const config = loadConfig(typeof values.config === 'string' ? values.config : undefined, ctx.env);
    const session = await (ctx.openSession ?? openFirebaseSession)(config);
    try {
      const out = await sub.run({ args, opts: values, api: session.api, config });
      if (out !== undefined && out !== null) ctx.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
      return EXIT.OK;
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      throw new CliFailure(`${name} ${subName ?? ''}: ${err.describe()}`);
    } finally {
      await session.close();
    }
  }
  return { name, summary, usage, run };
}
