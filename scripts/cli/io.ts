/**
 * What every CLI command gets and returns: streams and environment are passed in (never taken from
 * `process`), and commands return an exit code instead of exiting, so tests run them in-process.
 */
import type { SessionFactory } from './session.js';

/** Exit codes of the CLI. */
export const EXIT = {
  /** The command did what was asked (for `upload`: every job COMPLETED). */
  OK: 0,
  /** Something failed at run time: a job failed, the API refused, a component is down. */
  FAILURE: 1,
  /** The command line was wrong (unknown option, missing argument, missing file). */
  USAGE: 2,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** The subset of a writable stream the CLI uses; `isTTY`/`columns` decide how progress is drawn. */
export interface OutStream {
  write(chunk: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

/** Input of a command. */
export interface CliContext {
  /** Arguments after the command name. */
  readonly argv: readonly string[];
  readonly stdout: OutStream;
  readonly stderr: OutStream;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** How to sign in; tests pass a fake, the default signs in against the Auth emulator. */
  readonly openSession?: SessionFactory;
}

/** A wrong command line: the dispatcher prints the message and a usage hint and exits 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A run-time failure with a message meant for the user as is: the dispatcher prints it and exits 1. */
export class CliFailure extends Error {
  constructor(
    message: string,
    /** A stable code for JSON output (`NO_LOCAL_STACK`, `SIGN_IN_FAILED`, ...). */
    readonly code = 'FAILED',
  ) {
    super(message);
    this.name = 'CliFailure';
  }
}

/** A CLI command: its name, one-line summary, `--help` text and entry point. */
export interface Command {
  readonly name: string;
  readonly summary: string;
  readonly usage: string;
  run(ctx: CliContext): Promise<number>;
}
