/**
 * `.scriptorium/local.json`: written by `npm start` (and by the test platform into
 * `.scriptorium/test.json`), read by the CLI, the tests and the benchmark to find the local stack.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

export const LocalConfigSchema = z.object({
  /** The seeded demo Scriptorium project (the CLI's default `--project`). */
  projectId: z.string(),
  /** The GCP project the emulators run under (a `demo-` project). */
  gcpProjectId: z.string(),
  bucket: z.string(),
  apiUrl: z.string(),
  firestoreEmulatorHost: z.string(),
  pubsubEmulatorHost: z.string(),
  authEmulatorHost: z.string(),
  storageEmulatorHost: z.string(),
  /** Base URL of each function server, by function name. */
  functions: z.record(z.string(), z.string()),
  demoUser: z.object({ email: z.string(), password: z.string(), uid: z.string() }),
  /** Service-account key the functions sign URLs with (trusted by the storage emulator). */
  signingKeyFile: z.string(),
  /** Where each process writes its log. */
  logsDir: z.string(),
  /** Process-group ids of everything started, for `npm run stop` (a restarted function's is updated by the supervisor). */
  pgids: z.record(z.string(), z.number()),
  /**
   * The supervisor's state file (restarts and crash loops of the function servers), read by
   * `scriptorium health`. Absent in configs written before supervision existed.
   */
  supervisorStateFile: z.string().optional(),
  /** The file the functions read injected faults from (shared/faults.ts); test profile only. */
  faultsFile: z.string().optional(),
  startedAt: z.string(),
});
export type LocalConfig = z.infer<typeof LocalConfigSchema>;

export const STATE_DIR = '.scriptorium';

export function localConfigPath(root = process.cwd(), name = 'local.json'): string {
  return path.join(root, STATE_DIR, name);
}

/** Reads and validates a local config; `SCRIPTORIUM_LOCAL_CONFIG` overrides the path. */
export function readLocalConfig(file = process.env.SCRIPTORIUM_LOCAL_CONFIG ?? localConfigPath()): LocalConfig {
  let raw: string;
  try {
    raw = readFileSync(file, 'utf8');
  } catch {
    throw new Error(`no local stack found (${file} is missing): run \`npm start\` first`);
  }
  return LocalConfigSchema.parse(JSON.parse(raw));
}
