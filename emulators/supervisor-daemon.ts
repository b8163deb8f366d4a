/**
 * The supervisor as a process of its own: the parent of the function servers for as long as the
 * platform runs.
 *
 * Why a separate process: `start --detach` returns once the platform is ready, and the CLI that
 * started it exits; a supervisor inside it would die with it, and a process that is not the parent
 * cannot learn how a function died (exit code, signal). The daemon leads its own process group and
 * carries the platform's marker, so `stop` finds it like any other component; `stop` ends it
 * first (SIGTERM), and it stops its children itself, so no restart can race the stop.
 *
 * Protocol (Node IPC, only while the starter is attached): the starter sends one `spec`; the
 * daemon answers `spawned` per instance, `exited` per death, `log` per line and `ready` once the
 * first instances exist. The starter then detaches and the daemon carries on alone, recording
 * everything in its state file ({@link SupervisorStateSchema}).
 *
 * A process whose spec carries a `schedule` (a scheduled function) is also called by the daemon on
 * that schedule (supervisor-schedule.ts): it is the local platform's Cloud Scheduler.
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { MARKER_ENV, tailFile, writeJsonAtomic, type ExitInfo, type ManagedProcess } from './processes.js';
import { ScheduleSpecSchema } from './supervisor-schedule.js';
import { RestartPolicySchema, Supervisor, type SupervisorState, type SupervisedStatus } from './supervisor.js';

/** One process for the daemon to run (the marker is the daemon's own). */
const DaemonProcessSchema = z.object({
  name: z.string(),
  command: z.string(),
  args: z.array(z.string()),
  cwd: z.string(),
  env: z.record(z.string(), z.string()),
  logFile: z.string(),
  probeUrl: z.string().optional(),
  /** A scheduled function: the daemon calls it on this schedule (supervisor-schedule.ts). */
  schedule: ScheduleSpecSchema.optional(),
});
export type DaemonProcess = z.infer<typeof DaemonProcessSchema>;

/** What the starter sends the daemon. */
export const DaemonSpecSchema = z.object({
  marker: z.string(),
  /** Where the daemon keeps its state (`.scriptorium/<profile>/supervisor.json`). */
  stateFile: z.string(),
  /**
   * A LocalConfig whose `pgids` are kept current across restarts (tests and tools find a
   * function's process there). Patched only if it exists.
   */
  configFile: z.string().optional(),
  policy: RestartPolicySchema.partial().optional(),
  /** SIGTERM-to-SIGKILL grace of each child when the daemon stops. */
  graceMs: z.number().positive().optional(),
  processes: z.array(DaemonProcessSchema),
});
export type DaemonSpec = z.infer<typeof DaemonSpecSchema>;

const DaemonMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('spawned'), name: z.string(), pid: z.number(), pgid: z.number(), restart: z.number() }),
  z.object({ type: z.literal('exited'), name: z.string(), pid: z.number(), code: z.number().nullable(), signal: z.string().nullable() }),
  z.object({ type: z.literal('log'), line: z.string() }),
  z.object({ type: z.literal('ready') }),
]);
type DaemonMessage = z.infer<typeof DaemonMessageSchema>;

const SpecMessageSchema = z.object({ type: z.literal('spec'), spec: DaemonSpecSchema });

/** Options of {@link launchSupervisor}. */
export interface LaunchSupervisorOptions {
  /** The compiled daemon entry (`dist/emulators/supervisor-main.js`). */
  readonly mainFile: string;
  readonly cwd: string;
  /** The daemon's own environment ({@link MARKER_ENV} is added); children get theirs from the spec. */
  readonly env: NodeJS.ProcessEnv;
  /** The daemon's stdout and stderr: its log lines (truncated at start). */
  readonly logFile: string;
  readonly spec: DaemonSpec;
  /** Lines the daemon logs while attached. */
  readonly onLog?: (line: string) => void;
  /**
   * Each instance spawned until `ready` (first instances, and restarts during the start): the
   * starter records their groups. Later ones are in the state file, which `stop` reads.
   */
  readonly onSpawned?: (name: string, pid: number, pgid: number, restart: number) => void;
  /** How long to wait for the daemon's `ready`. Default 30 s. */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

/** A launched daemon, seen from its starter. */
export interface SupervisorHandle {
  readonly pid: number;
  /** Equal to `pid`: the daemon leads its own group. */
  readonly pgid: number;
  /**
   * Resolves once the first instances exist: each as a {@link ManagedProcess} whose exit is the
   * one the daemon reports while attached (so a readiness wait fails fast if it dies first).
   */
  readonly ready: Promise<ReadonlyMap<string, ManagedProcess>>;
  /** Closes the channel: the daemon runs on alone (its lines still go to its log file). */
  detach(): void;
  /**
   * Keeps the channel for the daemon's lines (restarts on a foreground platform's terminal)
   * without keeping this process alive for it.
   */
  follow(onLog: (line: string) => void): void;
}

/** An instance the daemon owns, as its starter sees it: exits come from `exited` messages. */
function remoteInstance(name: string, pid: number, logFile: string, marker: string): { proc: ManagedProcess; end: (info: ExitInfo) => void } {
  let done = false;
  let resolveExit: (info: ExitInfo) => void = () => {};
  const exited = new Promise<ExitInfo>((resolve) => {
    resolveExit = resolve;
  });
  return {
    proc: { name, pid, pgid: pid, logFile, marker, exited, hasExited: () => done },
    end: (info) => {
      done = true;
      resolveExit(info);
    },
  };
}

/**
 * Starts the daemon in its own process group and hands it `spec`. Returns at once (the pid must be
 * recorded before anything can fail, so a `stop` finds the daemon); `ready` says how it went.
 */
export function launchSupervisor(opts: LaunchSupervisorOptions): SupervisorHandle {
  mkdirSync(path.dirname(opts.logFile), { recursive: true });
  const fd = openSync(opts.logFile, 'w');
  const child = spawn(process.execPath, ['--enable-source-maps', opts.mainFile], {
    cwd: opts.cwd,
    env: { ...opts.env, [MARKER_ENV]: opts.spec.marker },
    detached: true,
    // A file for output (not a pipe: the daemon must not die of SIGPIPE when we exit), IPC for the handshake.
    stdio: ['ignore', fd, fd, 'ipc'],
  });
  closeSync(fd);
  child.unref();
  const pid = child.pid ?? -1;
  const logFile = (name: string) => opts.spec.processes.find((p) => p.name === name)?.logFile ?? opts.logFile;
  // The first instance of each process: what a readiness wait needs.
  const firsts = new Map<string, { proc: ManagedProcess; end: (info: ExitInfo) => void }>();
  let onLog = opts.onLog;
  let settle: { resolve: (m: ReadonlyMap<string, ManagedProcess>) => void; reject: (e: Error) => void } | null = null;
  const ready = new Promise<ReadonlyMap<string, ManagedProcess>>((resolve, reject) => {
    settle = { resolve, reject };
  });
  const fail = (message: string) => {
    const s = settle;
    settle = null;
    s?.reject(new Error(`${message}; log ${opts.logFile}:\n${tailFile(opts.logFile)}`));
  };
  const timer = setTimeout(() => fail(`supervisor not ready after ${opts.timeoutMs ?? 30_000} ms`), opts.timeoutMs ?? 30_000);
  timer.unref();
  const onAbort = () => fail(`supervisor start aborted: ${String(opts.signal?.reason)}`);
  opts.signal?.addEventListener('abort', onAbort, { once: true });

  child.on('message', (raw: unknown) => {
    const parsed = DaemonMessageSchema.safeParse(raw);
    if (!parsed.success) return;
    const msg: DaemonMessage = parsed.data;
    switch (msg.type) {
      case 'log':
        onLog?.(msg.line);
        break;
      case 'spawned':
        if (!firsts.has(msg.name)) firsts.set(msg.name, remoteInstance(msg.name, msg.pid, logFile(msg.name), opts.spec.marker));
        // Only during the start: afterwards a starter that follows the lines may outlive a `stop`
        // run elsewhere, and must not write records that stop has already removed.
        if (settle !== null) opts.onSpawned?.(msg.name, msg.pid, msg.pgid, msg.restart);
        break;
      case 'exited': {
        const first = firsts.get(msg.name);
        if (first && first.proc.pid === msg.pid) first.end({ code: msg.code, signal: msg.signal as NodeJS.Signals | null });
        break;
      }
      case 'ready': {
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        const s = settle;
        settle = null;
        s?.resolve(new Map([...firsts].map(([name, f]) => [name, f.proc])));
        break;
      }
    }
  });
  child.once('exit', (code, signal) => {
    clearTimeout(timer);
    fail(`supervisor exited (${code !== null ? `exit code ${code}` : `signal ${String(signal)}`})`);
    // Its children may live on, but nobody reports their exits any more: readiness waits must not hang.
    for (const f of firsts.values()) f.end({ code: null, signal: null });
  });
  child.once('error', (err) => fail(`supervisor failed to start: ${err.message}`));
  // Nothing rejects `ready` before the caller can attach a handler, but a caller that never awaits it must not crash us.
  ready.catch(() => {});
  child.send({ type: 'spec', spec: opts.spec });

  return {
    pid,
    pgid: pid,
    ready,
    detach() {
      onLog = undefined;
      if (child.connected) child.disconnect();
    },
    follow(lines) {
      onLog = lines;
      // The channel delivers lines but must not be why this process stays alive.
      child.channel?.unref();
    },
  };
}

/** Keeps a LocalConfig's `pgids` current: a function found there after a restart is the live one. */
function patchConfigPgid(configFile: string, name: string, pgid: number): void {
  let config: unknown;
  try {
    config = JSON.parse(readFileSync(configFile, 'utf8'));
  } catch {
    return; // Not written yet (the start is still in progress) or removed by a stop.
  }
  if (config === null || typeof config !== 'object' || !('pgids' in config)) return;
  const pgids = config.pgids;
  if (pgids === null || typeof pgids !== 'object') return;
  writeJsonAtomic(configFile, { ...config, pgids: { ...pgids, [name]: pgid } });
}

/** Waits for the starter's spec (the first IPC message). */
function receiveSpec(timeoutMs: number): Promise<DaemonSpec> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no spec received within ${timeoutMs} ms`)), timeoutMs);
    process.once('message', (raw: unknown) => {
      clearTimeout(timer);
      const parsed = SpecMessageSchema.safeParse(raw);
      if (parsed.success) resolve(parsed.data.spec);
      else reject(new Error(`invalid spec: ${parsed.error.message}`));
    });
  });
}

/**
 * The daemon's main: receives the spec, starts every process under a {@link Supervisor}, keeps
 * the state file current, and on SIGTERM (SIGINT, SIGHUP) stops supervising, stops its children
 * and exits 0.
 */
export async function runSupervisorDaemon(): Promise<void> {
  if (!process.send) {
    process.stderr.write('the supervisor is started by the local platform (emulators/cli.js start), not by hand\n');
    process.exitCode = 2;
    return;
  }
  const send = (msg: DaemonMessage): void => {
    // Once the starter has detached there is nobody to tell; the state file and the log remain.
    if (process.connected) process.send?.(msg, undefined, undefined, () => {});
  };
  const log = (line: string): void => {
    process.stdout.write(`${new Date().toISOString()} ${line}\n`);
    send({ type: 'log', line });
  };
  // Signals before the spec arrives: nothing to stop yet.
  let stopRequested = false;
  const early = () => {
    stopRequested = true;
  };
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, early);

  const spec = await receiveSpec(10_000);
  if (process.env[MARKER_ENV] !== spec.marker) throw new Error('the spec is for another platform run (marker mismatch)');
  if (stopRequested) {
    process.exitCode = 0;
    return;
  }
  const startedAt = new Date().toISOString();
  let statuses: readonly SupervisedStatus[] = [];
  let stoppingAt: string | null = null;
  let stopResults: SupervisorState['stopResults'] = [];
  const supervisor = new Supervisor(
    spec.processes.map((p) => ({
      spawn: { name: p.name, command: p.command, args: p.args, cwd: p.cwd, env: p.env, logFile: p.logFile, marker: spec.marker },
      ...(p.probeUrl !== undefined ? { probeUrl: p.probeUrl } : {}),
      ...(p.schedule !== undefined ? { schedule: p.schedule } : {}),
    })),
    {
      ...(spec.policy ? { policy: spec.policy } : {}),
      ...(spec.graceMs !== undefined ? { graceMs: spec.graceMs } : {}),
      log,
      // Successful scheduled runs go to the log file only: a starter following the lines (a
      // foreground platform's terminal) would otherwise get one every minute.
      runLog: (line) => process.stdout.write(`${new Date().toISOString()} ${line}\n`),
      onChange: (s) => {
        statuses = s;
        writeState();
      },
      onSpawn: (name, proc, restart) => {
        send({ type: 'spawned', name, pid: proc.pid, pgid: proc.pgid, restart });
        if (restart > 0 && spec.configFile && proc.pgid > 0) patchConfigPgid(spec.configFile, name, proc.pgid);
      },
      onExit: (name, proc, info) => send({ type: 'exited', name, pid: proc.pid, code: info.code, signal: info.signal }),
    },
  );
  function writeState(): void {
    const state: SupervisorState = {
      pid: process.pid,
      pgid: process.pid,
      marker: spec.marker,
      startedAt,
      updatedAt: new Date().toISOString(),
      stoppingAt,
      policy: supervisor.restartPolicy,
      processes: Object.fromEntries(statuses.map((s) => [s.name, s])),
      stopResults,
    };
    writeJsonAtomic(spec.stateFile, state);
  }

  // Children are unref'd (spawnGroup), so something must keep this process alive once detached.
  setInterval(() => {}, 1 << 30);
  let stopping: Promise<never> | null = null;
  const stop = (signal: NodeJS.Signals) => {
    // A second signal during the stop changes nothing: the first one's stop is under way.
    stopping ??= (async () => {
      stoppingAt = new Date().toISOString();
      log(`${signal}: stopping supervision (no more restarts) and ${spec.processes.length} process(es)`);
      stopResults = await supervisor.stop();
      writeState();
      const killed = stopResults.filter((r) => r.outcome === 'kill').length;
      log(`stopped${killed > 0 ? ` (${killed} needed SIGKILL)` : ''}`);
    })().then(
      () => process.exit(0),
      (err: unknown) => {
        // The platform's stop sweeps the recorded groups after us: report, and leave it to that.
        log(`stop failed: ${(err as Error).message}`);
        process.exit(1);
      },
    );
  };
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.off(sig, early);
    process.on(sig, stop);
  }
  // The starter detaching (or dying) is normal: the platform runs on.
  process.on('disconnect', () => {});

  supervisor.start();
  writeState();
  log(`supervising ${spec.processes.map((p) => p.name).join(', ')} (pid ${process.pid})`);
  send({ type: 'ready' });
}
