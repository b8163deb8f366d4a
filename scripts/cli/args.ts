/**
 * Argument parsing on `node:util` parseArgs (strict), with the options every command shares.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from './io.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/** Options every command accepts. */
export const COMMON_OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  config: { type: 'string' },
} as const satisfies Options;

/**
 * Parses a command's arguments; any parse error (unknown option, missing value) becomes a
 * {@link UsageError} so the dispatcher exits 2.
 */
export function parseCommand<const O extends Options>(argv: readonly string[], options: O) {
  try {
    return parseArgs({ args: [...argv], options: { ...COMMON_OPTIONS, ...options }, allowPositionals: true, strict: true });
  } catch (err) {
    // parseArgs throws TypeErrors with ERR_PARSE_ARGS_* codes for bad command lines.
    if (err instanceof TypeError && 'code' in err && typeof err.code === 'string' && err.code.startsWith('ERR_PARSE_ARGS')) {
      throw new UsageError(err.message);
    }
    throw err;
  }
}

/** A positive number of seconds (`--timeout`), as milliseconds. */
export function parseSeconds(name: string, value: string): number {
  const n = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value.trim()) || !Number.isFinite(n) || n <= 0) {
    throw new UsageError(`--${name} must be a positive number of seconds, got '${value}'`);
  }
  return Math.round(n * 1000);
}

/**
 * A number of seconds where 0 means "off" (`--stall-timeout`), as milliseconds. `name` is how the
 * value was given: an option (`--stall-timeout`) or an environment variable.
 */
export function parseSecondsOrZero(name: string, value: string): number {
  const n = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value.trim()) || !Number.isFinite(n)) {
    throw new UsageError(`${name} must be a number of seconds (0 to disable), got '${value}'`);
  }
  return Math.round(n * 1000);
}

/** A positive integer (`--size`). */
export function parsePositiveInt(name: string, value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n <= 0) {
    throw new UsageError(`--${name} must be a positive integer, got '${value}'`);
  }
  return n;
}
