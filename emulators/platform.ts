/**
 * The local platform: the real Firestore, Pub/Sub and Auth emulators, the storage emulator, one
 * functions-framework server per declared function, the topology from `shared/topology.ts` and
 * the demo seed, as one unit that starts, reports where everything is, and stops cleanly.
 *
 * Two profiles with disjoint ports (`dev` for `npm start`, `test` for `npm test`) so a developer's
 * stack and the test stack run side by side. Each profile keeps its state under
 * `.scriptorium/<profile>/` (logs, generated firebase.json, signing key, persisted data) and
 * publishes its addresses in `.scriptorium/local.json` (dev) or `.scriptorium/test.json` (test).
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { z } from 'zod';
import { bucketName, topology, type FunctionDecl, type FunctionTrigger } from '../shared/topology.js';
import { applyTopology, type AppliedTopology } from './apply-topology.js';
import { LocalConfigSchema, STATE_DIR, type LocalConfig } from './local-config.js';
import {
  markedGroupMembers,
  probeOnce,
  spawnGroup,
  stopGroup,
  waitForHttp,
  writeJsonAtomic,
  type HttpProbe,
  type ManagedProcess,
  type SpawnGroupOptions,
  type StopResult,
} from './processes.js';
import { DEMO_PROJECT_ID, DEMO_USER_EMAIL, DEMO_USER_UID, ensureDemoUser, seedDemoProject } from './seed.js';
import { ensureSigningKey } from './signing-key.js';
import { launchSupervisor, type DaemonProcess, type SupervisorHandle } from './supervisor-daemon.js';
import { localSchedule, type ScheduleSpec } from './supervisor-schedule.js';
import { readSupervisorState, type RestartPolicy, type SupervisedStatus } from './supervisor.js';

/**
 * How long `stop` gives the supervisor to stop the function servers and exit before it is killed
 * (the function groups are then stopped from the record like everything else). Longer than the
 * supervisor's own grace per function ({@link FUNCTION_STOP_GRACE_MS}) so it normally finishes.
 */
const SUPERVISOR_STOP_GRACE_MS = 15_000;
/** SIGTERM-to-SIGKILL grace of a function server when the supervisor stops it. */
const FUNCTION_STOP_GRACE_MS = 8000;

/** `dev` (what `npm start` runs) or `test` (what `npm test` runs). */
export type Profile = 'dev' | 'test';
/** Every profile. */
export const PROFILES: readonly Profile[] = ['dev', 'test'];

/** Ports of one profile. Functions get consecutive ports from `functionsBase`, in topology order. */
export interface ProfilePorts {
  readonly firestore: number;
  readonly pubsub: number;
  readonly auth: number;
  /** firebase-tools always opens an emulator hub and a logging port beside the Auth emulator. */
  readonly authHub: number;
  readonly authLogging: number;
  readonly storage: number;
  readonly functionsBase: number;
}

/** dev uses the emulators' customary ports; test the same plus 10000. */
/**
 * The ports of a profile. `SCRIPTORIUM_PORT_OFFSET` (test profile only) shifts every port, so that
 * several checkouts (git worktrees) can each run their own test platform at once.
 */
export function profilePorts(profile: Profile, env: NodeJS.ProcessEnv = process.env): ProfilePorts {
  const base = PROFILE_PORTS[profile];
  const raw = env.SCRIPTORIUM_PORT_OFFSET;
  if (profile !== 'test' || raw === undefined || raw === '') return base;
  const offset = Number(raw);
  if (!Number.isInteger(offset) || offset < 0 || offset > 20000) throw new Error(`SCRIPTORIUM_PORT_OFFSET must be an integer from 0 to 20000, not ${raw}`);
  return Object.fromEntries(Object.entries(base).map(([k, v]) => [k, v + offset])) as unknown as ProfilePorts;
}

export const PROFILE_PORTS: Readonly<Record<Profile, ProfilePorts>> = {
  dev: { firestore: 8080, pubsub: 8085, auth: 9099, authHub: 4400, authLogging: 4500, storage: 9199, functionsBase: 8090 },
  test: { firestore: 18080, pubsub: 18085, auth: 19099, authHub: 14400, authLogging: 14500, storage: 19199, functionsBase: 18090 },
};

/** Emulator-only GCP projects (the `demo-` prefix keeps firebase-tools from looking for a real one). */
export const DEFAULT_GCP_PROJECT: Readonly<Record<Profile, string>> = { dev: 'demo-scriptorium', test: 'demo-scriptorium-test' };

const HOST = '127.0.0.1';

/** Options of {@link startPlatform}. */
export interface StartPlatformOptions {
  readonly profile: Profile;
  /** Repository root (holds `dist/`, `node_modules/`, `shared/firestore/firestore.rules`). */
  readonly root: string;
  /**
   * Keep data across restarts under `.scriptorium/<profile>/`: storage objects, Firestore (exported
   * on stop, imported on start) and Auth users (exported on exit). Pub/Sub holds only in-flight
   * messages and is not persisted; the topology is re-applied on every start.
   */
  readonly persist?: boolean;
  readonly gcpProjectId?: string;
  /** Compiled functions (`<dir>/<name>/index.js`). Default `<root>/dist/functions`; override for tests of the platform itself. */
  readonly functionsDir?: string;
  /** Progress lines (default: none). */
  readonly log?: (line: string) => void;
  /** Aborting it makes a start in progress stop what it started and reject. */
  readonly signal?: AbortSignal;
  /** Restart backoff of the function servers (default: DEFAULT_RESTART_POLICY of supervisor.ts). */
  readonly restartPolicy?: Partial<RestartPolicy>;
  /**
   * Where the supervisor's lines (deaths, restarts) go once the platform is up, for a platform
   * run in the foreground. Without it they are only in `logs/supervisor.log`.
   */
  readonly supervisorLog?: (line: string) => void;
}

/** Milliseconds from the start of {@link startPlatform} until each component was ready. */
export type Timings = Record<string, number>;

/** A started platform. */
export interface RunningPlatform {
  readonly config: LocalConfig;
  /** Where {@link RunningPlatform.config} was written. */
  readonly configFile: string;
  readonly topology: AppliedTopology;
  readonly timings: Timings;
  /** Stops every process (exporting persisted data first) and removes the state files. */
  stop(): Promise<StopResult[]>;
}

/** Files and folders of a profile. */
export interface ProfilePaths {
  readonly stateDir: string;
  readonly logsDir: string;
  /** The LocalConfig: `.scriptorium/local.json` (dev) or `.scriptorium/test.json` (test). */
  readonly configFile: string;
  /** Marker and pgids, written as processes start (so `stop` works even after a failed start). */
  readonly processesFile: string;
  readonly firebaseJson: string;
  readonly signingKey: string;
  readonly storageData: string;
  readonly firestoreData: string;
  readonly authData: string;
  readonly pubsubData: string;
  /** The supervisor's state: restarts per function (read by `health` and `status`). */
  readonly supervisorState: string;
}

/** The files and folders of `profile` under `root`. */
export function profilePaths(root: string, profile: Profile): ProfilePaths {
  const base = path.join(root, STATE_DIR);
  const stateDir = path.join(base, profile);
  return {
    stateDir,
    logsDir: path.join(stateDir, 'logs'),
    configFile: path.join(base, profile === 'dev' ? 'local.json' : 'test.json'),
    processesFile: path.join(stateDir, 'processes.json'),
    firebaseJson: path.join(stateDir, 'firebase.json'),
    signingKey: path.join(stateDir, 'signing-sa.json'),
    storageData: path.join(stateDir, 'storage'),
    firestoreData: path.join(stateDir, 'firestore'),
    authData: path.join(stateDir, 'auth'),
    pubsubData: path.join(stateDir, 'pubsub'),
    supervisorState: path.join(stateDir, 'supervisor.json'),
  };
}

const ProcessesFileSchema = z.object({
  profile: z.enum(['dev', 'test']),
  /** Value of the marker variable every process of this run carries. */
  marker: z.string(),
  pgids: z.record(z.string(), z.number()),
  /** Set when Firestore data must be exported before the emulator stops. */
  firestoreExport: z.object({ host: z.string(), gcpProjectId: z.string(), dir: z.string() }).optional(),
  /**
   * The supervisor daemon, parent of the function servers. Apart from `pgids` because it is not a
   * component (the config's `pgids` lists components), and because `stop` must end it first.
   */
  supervisor: z.object({ pgid: z.number(), stateFile: z.string() }).optional(),
});
type ProcessesFile = z.infer<typeof ProcessesFileSchema>;

/** The process record of a profile, or null if none (or unreadable). */
export function readProcessesFile(root: string, profile: Profile): ProcessesFile | null {
  try {
    return ProcessesFileSchema.parse(JSON.parse(readFileSync(profilePaths(root, profile).processesFile, 'utf8')));
  } catch {
    return null;
  }
}

/** Names of the recorded processes of `profile` that are still running. */
export function runningProcesses(root: string, profile: Profile): string[] {
  const rec = readProcessesFile(root, profile);
  if (!rec) return [];
  const groups = Object.entries(rec.pgids);
  if (rec.supervisor) groups.push(['supervisor', rec.supervisor.pgid]);
  return groups.filter(([, pgid]) => markedGroupMembers(pgid, rec.marker).length > 0).map(([name]) => name);
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, HOST, () => srv.close(() => resolve(true)));
  });
}

/** Ports of a profile in use by someone, as `name:port`. */
async function busyPorts(ports: ProfilePorts, functionNames: readonly string[]): Promise<string[]> {
  const named: [string, number][] = [
    ['firestore', ports.firestore],
    ['pubsub', ports.pubsub],
    ['auth', ports.auth],
    ['auth hub', ports.authHub],
    ['auth logging', ports.authLogging],
    ['storage', ports.storage],
    ...functionNames.map((name, i): [string, number] => [`function ${name}`, ports.functionsBase + i]),
  ];
  const free = await Promise.all(named.map(([, p]) => portFree(p)));
  return named.filter((_, i) => !free[i]).map(([n, p]) => `${n}:${p}`);
}

/** Newest Firestore export (`*.overall_export_metadata`) under `dir`, if any. */
function latestFirestoreExport(dir: string): string | undefined {
  if (!existsSync(dir)) return undefined;
  const candidates = readdirSync(dir)
    .map((d) => path.join(dir, d))
    .filter((d) => statSync(d).isDirectory())
    .map((d) => ({ d, meta: readdirSync(d).find((f) => f.endsWith('.overall_export_metadata')) }))
    .filter((c): c is { d: string; meta: string } => c.meta !== undefined)
    .sort((a, b) => statSync(b.d).mtimeMs - statSync(a.d).mtimeMs);
  const newest = candidates[0];
  return newest ? path.join(newest.d, newest.meta) : undefined;
}

/**
 * Exports Firestore through the emulator's export endpoint, then deletes older exports. Used
 * instead of `--export-on-exit`, which the emulator skips when its process group gets SIGTERM.
 */
async function exportFirestore(exp: NonNullable<ProcessesFile['firestoreExport']>): Promise<void> {
  mkdirSync(exp.dir, { recursive: true });
  const before = new Set(readdirSync(exp.dir));
  const res = await fetch(`http://${exp.host}/emulator/v1/projects/${exp.gcpProjectId}:export`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ database: `projects/${exp.gcpProjectId}/databases/(default)`, export_directory: exp.dir }),
    signal: AbortSignal.timeout(30_000),
  });
  if (!res.ok) throw new Error(`Firestore export failed: HTTP ${res.status} ${await res.text()}`);
  const fresh = readdirSync(exp.dir).filter((d) => !before.has(d));
  if (fresh.length > 0) for (const old of before) rmSync(path.join(exp.dir, old), { recursive: true, force: true });
}

/**
 * Stops the platform of `profile` from its process record (any process may call this): exports
 * Firestore when persisted, stops every process group (SIGTERM, then SIGKILL after a grace
 * period) and removes the state files.
 */
export async function stopPlatform(root: string, profile: Profile, log: (line: string) => void = () => {}): Promise<StopResult[]> {
  const p = profilePaths(root, profile);
  const rec = readProcessesFile(root, profile);
  if (!rec) {
    rmSync(p.configFile, { force: true });
    return [];
  }
  if (rec.firestoreExport && rec.pgids.firestore !== undefined && markedGroupMembers(rec.pgids.firestore, rec.marker).length > 0) {
    try {
      await exportFirestore(rec.firestoreExport);
      log(`Firestore data exported to ${rec.firestoreExport.dir}`);
    } catch (err) {
      // Stopping matters more than the export: report and carry on.
      log(`warning: ${(err as Error).message}`);
    }
  }
  const results: StopResult[] = [];
  const pgids = new Set(Object.values(rec.pgids));
  if (rec.supervisor) {
    // The supervisor first: it would otherwise answer the deaths this stop causes with restarts.
    // On SIGTERM it stops restarting at once, stops the function servers and exits.
    results.push(await stopGroup(rec.supervisor.pgid, rec.marker, SUPERVISOR_STOP_GRACE_MS));
    const state = readSupervisorState(rec.supervisor.stateFile);
    if (state && state.marker === rec.marker) {
      results.push(...state.stopResults);
      // Restarted functions have pgids the record never saw: the sweep below must include them.
      for (const s of Object.values(state.processes)) if (s.pgid !== null) pgids.add(s.pgid);
    }
  }
  // Everything else, and (absent, normally) whatever a killed supervisor left running.
  const swept = await Promise.all([...pgids].map((pgid) => stopGroup(pgid, rec.marker)));
  results.push(...swept);
  rmSync(p.configFile, { force: true });
  rmSync(p.processesFile, { force: true });
  return results;
}

function firebaseJson(ports: ProfilePorts): unknown {
  return {
    emulators: {
      auth: { host: HOST, port: ports.auth },
      hub: { host: HOST, port: ports.authHub },
      logging: { host: HOST, port: ports.authLogging },
      ui: { enabled: false },
      singleProjectMode: true,
    },
  };
}

/** Environment for the emulators: ours minus anything pointing at another stack. */
function emulatorEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.endsWith('_EMULATOR_HOST') || k === 'GOOGLE_APPLICATION_CREDENTIALS') continue;
    env[k] = v;
  }
  return {
    ...env,
    // Offline: no gcloud prompts or update checks.
    CLOUDSDK_CORE_DISABLE_PROMPTS: '1',
    CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK: 'true',
    ...extra,
  };
}

/** Environment variables a function server may inherit from the caller (besides SCRIPTORIUM_*). */
const INHERITED_ENV = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR', 'NODE_EXTRA_CA_CERTS', 'TESSDATA_PREFIX'];

function functionProbeUrl(trigger: FunctionTrigger, baseUrl: string): string {
  // The api answers /health; other functions (event and scheduled ones) are probed by their port.
  return trigger === 'http' ? `${baseUrl}/health` : baseUrl.replace(/^http:/, 'tcp:');
}

interface Component {
  readonly spawn: SpawnGroupOptions;
  readonly probe: HttpProbe;
}

/**
 * Starts the platform and resolves once everything answers, the topology is applied and the
 * demo data is seeded. On any failure, stops whatever it started and rethrows.
 *
 * All processes start at once: the function servers need only the emulators' addresses (known in
 * advance), and their clients connect on first use, so waiting for the emulators first would only
 * add their start time to ours. The topology is applied once everything answers, so the first
 * push finds its function listening.
 */
export async function startPlatform(opts: StartPlatformOptions): Promise<RunningPlatform> {
  const t0 = Date.now();
  const log = opts.log ?? (() => {});
  const { profile, root } = opts;
  const persist = opts.persist ?? false;
  const gcp = opts.gcpProjectId ?? DEFAULT_GCP_PROJECT[profile];
  const ports = profilePorts(profile);
  const p = profilePaths(root, profile);
  const functionsDir = opts.functionsDir ?? path.join(root, 'dist', 'functions');
  const storageMain = path.join(root, 'dist', 'emulators', 'storage', 'main.js');
  const supervisorMain = path.join(root, 'dist', 'emulators', 'supervisor-main.js');
  const rulesFile = path.join(root, 'shared', 'firestore', 'firestore.rules');
  const firebaseBin = path.join(root, 'node_modules', 'firebase-tools', 'lib', 'bin', 'firebase.js');
  const ffMain = path.join(root, 'node_modules', '@google-cloud', 'functions-framework', 'build', 'src', 'main.js');

  const already = runningProcesses(root, profile);
  if (already.length > 0) {
    throw new Error(`the ${profile} platform is already running (${already.join(', ')}): stop it first (node dist/emulators/cli.js stop --profile ${profile})`);
  }
  for (const f of [storageMain, supervisorMain, rulesFile, firebaseBin, ffMain]) {
    if (!existsSync(f)) throw new Error(`missing ${f} (run npm install and npm run build)`);
  }
  const functionFiles = topology.functions.map((fn) => path.join(functionsDir, fn.name, 'index.js'));
  const missing = functionFiles.filter((f) => !existsSync(f));
  if (missing.length > 0) throw new Error(`missing compiled functions: ${missing.join(', ')} (run npm run build)`);
  // Scheduled functions: the supervisor calls them (supervisor-schedule.ts). A schedule its timer
  // cannot run, or a bad SCRIPTORIUM_SCHEDULE_SECONDS, is refused here, before anything starts.
  const functionDecls: readonly FunctionDecl[] = topology.functions;
  const schedules = new Map<string, ScheduleSpec>();
  functionDecls.forEach((fn, i) => {
    if (fn.trigger === 'scheduled') schedules.set(fn.name, localSchedule(fn, `http://${HOST}:${ports.functionsBase + i}`, process.env));
  });
  const busy = await busyPorts(ports, topology.functions.map((f) => f.name));
  if (busy.length > 0) throw new Error(`ports of the ${profile} profile already in use: ${busy.join(', ')}`);
  opts.signal?.throwIfAborted();

  // Without persist nothing is imported or exported (the storage emulator keeps objects in
  // memory), so data an earlier persisted run left stays on disk, untouched, for the next one.
  for (const d of [p.logsDir, p.pubsubData]) mkdirSync(d, { recursive: true });
  writeJsonAtomic(p.firebaseJson, firebaseJson(ports));
  ensureSigningKey(p.signingKey, gcp);

  const marker = `${profile}-${randomUUID()}`;
  const hosts = {
    firestore: `${HOST}:${ports.firestore}`,
    pubsub: `${HOST}:${ports.pubsub}`,
    auth: `${HOST}:${ports.auth}`,
    storage: `http://${HOST}:${ports.storage}`,
  };
  const functionUrls: Record<string, string> = {};
  topology.functions.forEach((fn, i) => {
    functionUrls[fn.name] = `http://${HOST}:${ports.functionsBase + i}`;
  });
  const bucket = bucketName(gcp, 'documents');
  const logFile = (name: string) => path.join(p.logsDir, `${name}.log`);
  const base = { cwd: root, marker };

  const passthrough: NodeJS.ProcessEnv = {};
  for (const k of INHERITED_ENV) if (process.env[k] !== undefined) passthrough[k] = process.env[k];
  for (const [k, v] of Object.entries(process.env)) if (k.startsWith('SCRIPTORIUM_') && v !== undefined) passthrough[k] = v;
  // Fault injection (shared/faults.ts): the test profile's functions (and the storage emulator's
  // notifications) read their faults from this file, which only tests write; absent, nothing is injected. A leftover of an earlier run is removed.
  const faultsFile = passthrough.SCRIPTORIUM_FAULTS_FILE ?? (profile === 'test' ? path.join(p.stateDir, 'faults.json') : undefined);
  if (faultsFile !== undefined) {
    passthrough.SCRIPTORIUM_FAULTS_FILE = faultsFile;
    rmSync(faultsFile, { force: true });
  }
  const firestoreImport = persist ? latestFirestoreExport(p.firestoreData) : undefined;
  const authImport = persist && existsSync(path.join(p.authData, 'firebase-export-metadata.json'));
  const components: Record<string, Component> = {
    // Spawned in this order. Auth first: its start (~5 s of CPU) is the longest.
    auth: {
      spawn: {
        ...base,
        name: 'auth',
        // firebase-debug.log lands in the working directory: keep it out of the repository root.
        cwd: p.stateDir,
        command: process.execPath,
        args: [
          firebaseBin, 'emulators:start', '--only', 'auth', '--project', gcp, '--config', p.firebaseJson,
          ...(authImport ? ['--import', p.authData] : []),
          ...(persist ? ['--export-on-exit', p.authData] : []),
        ],
        // CI=true skips the MOTD fetch, NO_UPDATE_NOTIFIER the npm update check: both go online.
        env: emulatorEnv({ CI: 'true', NO_UPDATE_NOTIFIER: '1' }),
        logFile: logFile('auth'),
      },
      probe: { url: `http://${hosts.auth}/`, timeoutMs: 90_000 },
    },
    firestore: {
      spawn: {
        ...base,
        name: 'firestore',
        command: 'gcloud',
        args: [
          'emulators', 'firestore', 'start', `--host-port=${hosts.firestore}`, `--rules=${rulesFile}`,
          ...(firestoreImport ? [`--import-data=${firestoreImport}`] : []),
        ],
        env: emulatorEnv(),
        logFile: logFile('firestore'),
      },
      probe: { url: `http://${hosts.firestore}/`, timeoutMs: 90_000 },
    },
    pubsub: {
      spawn: {
        ...base,
        name: 'pubsub',
        command: 'gcloud',
        args: ['beta', 'emulators', 'pubsub', 'start', `--host-port=${hosts.pubsub}`, `--project=${gcp}`, `--data-dir=${p.pubsubData}`],
        env: emulatorEnv(),
        logFile: logFile('pubsub'),
      },
      probe: { url: `http://${hosts.pubsub}/`, timeoutMs: 90_000 },
    },
    storage: {
      spawn: {
        ...base,
        name: 'storage',
        command: process.execPath,
        args: [
          '--enable-source-maps', storageMain, '--port', String(ports.storage), '--host', HOST,
          '--pubsub-emulator-host', hosts.pubsub, '--trust-key-file', p.signingKey,
          ...(persist ? ['--persist', p.storageData] : []),
          ...(faultsFile !== undefined ? ['--faults-file', faultsFile] : []),
        ],
        env: emulatorEnv({ METADATA_SERVER_DETECTION: 'none' }),
        logFile: logFile('storage'),
      },
      probe: { url: `${hosts.storage}/_health`, timeoutMs: 60_000 },
    },
  };

  topology.functions.forEach((fn, i) => {
    components[fn.name] = {
      spawn: {
        ...base,
        name: fn.name,
        command: process.execPath,
        args: [
          // Local-only: stack traces point at the TypeScript sources.
          '--enable-source-maps',
          ffMain,
          `--target=${fn.entryPoint}`,
          `--source=${functionFiles[i] ?? ''}`,
          `--port=${ports.functionsBase + i}`,
          `--signature-type=${fn.trigger === 'pubsub' ? 'cloudevent' : 'http'}`,
        ],
        env: {
          ...passthrough,
          GOOGLE_CLOUD_PROJECT: gcp,
          GCLOUD_PROJECT: gcp,
          // Cloud Run sets K_SERVICE to the function's name; loggers use it.
          K_SERVICE: fn.name,
          SCRIPTORIUM_BUCKET: bucket,
          SCRIPTORIUM_SIGNING_KEY_FILE: p.signingKey,
          STORAGE_EMULATOR_HOST: hosts.storage,
          FIRESTORE_EMULATOR_HOST: hosts.firestore,
          PUBSUB_EMULATOR_HOST: hosts.pubsub,
          FIREBASE_AUTH_EMULATOR_HOST: hosts.auth,
          METADATA_SERVER_DETECTION: 'none',
          // tesseract's default threading is 4-6x slower on small machines.
          OMP_THREAD_LIMIT: '1',
          // The test suites send hundreds of deliberately refused credentials, and thousands of
          // requests with one token, from one address within minutes: the limits would answer 429
          // where each test asserts its own answer. The limiter itself is tested with its default
          // sizes (test/unit/rate-limit.test.ts); the dev stack and production keep the defaults.
          ...(profile === 'test' ? { SCRIPTORIUM_AUTH_FAILURES_PER_MINUTE: '100000', SCRIPTORIUM_RATE_LIMIT_PER_MINUTE: '100000', SCRIPTORIUM_RATE_LIMIT_BURST: '10000' } : {}),
        },
        logFile: logFile(`function-${fn.name}`),
      },
      // functions-framework listens only after loading the function, so an answer means ready. HTTP
      // functions: any status of GET /health (the api serves it). CloudEvent functions answer a
      // GET with 405 (their request gate): for them an accepted connection is the cleaner signal.
      probe: { url: functionProbeUrl(fn.trigger, functionUrls[fn.name] ?? ''), ready: () => true, timeoutMs: 60_000 },
    };
  });

  // The function servers run under the supervisor daemon (restarted when they die, as Cloud Run
  // replaces a crashed instance); the emulators are ours directly, as before.
  const supervised = new Set<string>(topology.functions.map((f) => f.name));
  const supervisedSpecs: DaemonProcess[] = Object.values(components)
    .filter((c) => supervised.has(c.spawn.name))
    .map((c) => ({
      name: c.spawn.name,
      command: c.spawn.command,
      args: [...c.spawn.args],
      cwd: c.spawn.cwd,
      env: Object.fromEntries(Object.entries(c.spawn.env).filter((e): e is [string, string] => e[1] !== undefined)),
      logFile: c.spawn.logFile,
      probeUrl: c.probe.url,
      // Undefined (absent once serialized) for every function but the scheduled ones.
      schedule: schedules.get(c.spawn.name),
    }));
  const record: ProcessesFile = {
    profile,
    marker,
    pgids: {},
    ...(persist ? { firestoreExport: { host: hosts.firestore, gcpProjectId: gcp, dir: p.firestoreData } } : {}),
  };
  const started: ManagedProcess[] = [];
  let supervisor: SupervisorHandle | undefined;
  const stop = async (): Promise<StopResult[]> => {
    supervisor?.detach();
    return stopPlatform(root, profile, log);
  };
  const timings: Timings = {};
  // A state file of an earlier run must not be mistaken for this one's.
  rmSync(p.supervisorState, { force: true });
  try {
    for (const c of Object.values(components)) {
      if (supervised.has(c.spawn.name)) continue;
      const proc = spawnGroup(c.spawn);
      started.push(proc);
      if (proc.pgid > 0) record.pgids[c.spawn.name] = proc.pgid;
      // Recorded as we go: a start that dies half-way still leaves `stop` what it needs.
      writeJsonAtomic(p.processesFile, record);
    }
    supervisor = launchSupervisor({
      mainFile: supervisorMain,
      cwd: root,
      env: emulatorEnv({ METADATA_SERVER_DETECTION: 'none' }),
      logFile: logFile('supervisor'),
      spec: {
        marker,
        stateFile: p.supervisorState,
        configFile: p.configFile,
        ...(opts.restartPolicy ? { policy: opts.restartPolicy } : {}),
        graceMs: FUNCTION_STOP_GRACE_MS,
        processes: supervisedSpecs,
      },
      onLog: (line) => log(`  supervisor: ${line}`),
      onSpawned: (name, _pid, pgid) => {
        record.pgids[name] = pgid;
        writeJsonAtomic(p.processesFile, record);
      },
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    if (supervisor.pgid > 0) record.supervisor = { pgid: supervisor.pgid, stateFile: p.supervisorState };
    writeJsonAtomic(p.processesFile, record);
    started.push(...(await supervisor.ready).values());
    // Each step waits only for what it needs: the Firestore half of the seed (whose first write
    // pays the emulator's JVM warm-up, ~1 s) overlaps the Auth emulator's slow start.
    const readiness = new Map<string, Promise<void>>();
    for (const proc of started) {
      const c = components[proc.name];
      if (!c) throw new Error(`no component ${proc.name}`);
      readiness.set(
        proc.name,
        waitForHttp(proc, { ...c.probe, ...(opts.signal ? { signal: opts.signal } : {}) }).then(() => {
          timings[proc.name] = Date.now() - t0;
          log(`  ${proc.name.padEnd(12)} ready after ${timings[proc.name]} ms`);
        }),
      );
    }
    const after = (names: readonly string[]) => Promise.all(names.map((n) => readiness.get(n) ?? Promise.reject(new Error(`no component ${n}`))));
    const topologyTask = after(['pubsub', 'storage', ...topology.functions.map((f) => f.name)]).then(async () => {
      const applied = await applyTopology({ gcpProjectId: gcp, pubsubEmulatorHost: hosts.pubsub, storageEmulatorHost: hosts.storage, functions: functionUrls });
      timings.topology = Date.now() - t0;
      return applied;
    });
    const seedTarget = { gcpProjectId: gcp, authEmulatorHost: hosts.auth, firestoreEmulatorHost: hosts.firestore };
    const seedTask = (async () => {
      await after(['firestore']);
      await seedDemoProject(seedTarget, { uid: DEMO_USER_UID, email: DEMO_USER_EMAIL });
      await after(['auth']);
      const user = await ensureDemoUser(seedTarget);
      // A persisted user created elsewhere keeps its uid: make that one the admin too.
      if (user.uid !== DEMO_USER_UID) await seedDemoProject(seedTarget, user);
      timings.seed = Date.now() - t0;
      return user;
    })();
    const settled = await Promise.allSettled([...readiness.values(), topologyTask, seedTask]);
    const failures = [...new Set(settled.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => (r.reason as Error).message))];
    if (failures.length > 0) throw new Error(`platform (${profile}) failed to start:\n${failures.join('\n\n')}`);
    const applied = await topologyTask;
    const user = await seedTask;
    opts.signal?.throwIfAborted();

    const apiUrl = functionUrls.api;
    if (apiUrl === undefined) throw new Error('topology declares no api function');
    const config: LocalConfig = LocalConfigSchema.parse({
      projectId: DEMO_PROJECT_ID,
      gcpProjectId: gcp,
      bucket,
      apiUrl,
      firestoreEmulatorHost: hosts.firestore,
      pubsubEmulatorHost: hosts.pubsub,
      authEmulatorHost: hosts.auth,
      storageEmulatorHost: hosts.storage,
      functions: functionUrls,
      demoUser: user,
      signingKeyFile: p.signingKey,
      logsDir: p.logsDir,
      pgids: record.pgids,
      supervisorStateFile: p.supervisorState,
      ...(faultsFile !== undefined ? { faultsFile } : {}),
      startedAt: new Date(t0).toISOString(),
    } satisfies LocalConfig);
    writeJsonAtomic(p.configFile, config);
    timings.total = Date.now() - t0;
    if (opts.supervisorLog) supervisor.follow(opts.supervisorLog);
    else supervisor.detach();
    return { config, configFile: p.configFile, topology: applied, timings, stop };
  } catch (err) {
    await stop().catch((stopErr: unknown) => log(`warning: cleanup after a failed start: ${(stopErr as Error).message}`));
    throw err;
  }
}

/** One row of {@link platformStatus}. */
export interface ComponentStatus {
  readonly name: string;
  readonly pgid: number;
  readonly alive: boolean;
  readonly url?: string;
  readonly http: number | null;
  /** For a supervised function server: what the supervisor knows (restarts, crash loop). */
  readonly supervised?: SupervisedStatus;
}

/**
 * One row per component of `profile`: process alive, and what its address answers; then one for
 * the supervisor. Function servers are looked up by their current pgid (restarts change it).
 */
export async function platformStatus(root: string, profile: Profile): Promise<ComponentStatus[]> {
  const rec = readProcessesFile(root, profile);
  if (!rec) return [];
  const state = rec.supervisor ? readSupervisorState(rec.supervisor.stateFile) : null;
  const supervision = state && state.marker === rec.marker ? state.processes : {};
  let config: LocalConfig | undefined;
  try {
    config = LocalConfigSchema.parse(JSON.parse(readFileSync(profilePaths(root, profile).configFile, 'utf8')));
  } catch {
    config = undefined;
  }
  const urls: Record<string, string> = {};
  if (config) {
    urls.firestore = `http://${config.firestoreEmulatorHost}/`;
    urls.pubsub = `http://${config.pubsubEmulatorHost}/`;
    urls.auth = `http://${config.authEmulatorHost}/`;
    urls.storage = `${config.storageEmulatorHost}/_health`;
    for (const fn of topology.functions) {
      const url = config.functions[fn.name];
      if (url !== undefined) urls[fn.name] = functionProbeUrl(fn.trigger, url);
    }
  }
  const rows = await Promise.all(
    Object.entries(rec.pgids).map(async ([name, recorded]): Promise<ComponentStatus> => {
      const url = urls[name];
      const supervised = supervision[name];
      const pgid = supervised?.pgid ?? recorded;
      return {
        name,
        pgid,
        alive: markedGroupMembers(pgid, rec.marker).length > 0,
        ...(url !== undefined ? { url } : {}),
        http: url !== undefined ? await probeOnce(url) : null,
        ...(supervised ? { supervised } : {}),
      };
    }),
  );
  if (rec.supervisor) rows.push({ name: 'supervisor', pgid: rec.supervisor.pgid, alive: markedGroupMembers(rec.supervisor.pgid, rec.marker).length > 0, http: null });
  return rows;
}
