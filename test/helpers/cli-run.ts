/** Runs the `scriptorium` bin as a user would, against a local stack's config file. */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { REPO_ROOT } from './paths.js';

export const CLI_BIN = path.join(REPO_ROOT, 'scripts', 'scriptorium.mjs');

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  wallMs: number;
}

/**
 * The bin with SCRIPTORIUM_LOCAL_CONFIG set (default: the environment's, else the test stack's);
 * never rejects on a non-zero exit; killed after `timeoutMs` (default 180 s). `onStderr` sees the
 * stderr so far at every chunk, so a test can act on what a running command has printed.
 */
export function runCli(args: readonly string[], opts: { cwd?: string; timeoutMs?: number; configFile?: string; onStderr?: (stderr: string) => void } = {}): Promise<CliRun> {
  const started = performance.now();
  const configFile = opts.configFile ?? process.env.SCRIPTORIUM_LOCAL_CONFIG ?? path.join(REPO_ROOT, '.scriptorium', 'test.json');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_BIN, ...args], { cwd: opts.cwd ?? REPO_ROOT, env: { ...process.env, SCRIPTORIUM_LOCAL_CONFIG: configFile }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      stderr += s;
      opts.onStderr?.(stderr);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 180_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, wallMs: performance.now() - started });
    });
  });
}
