/**
 * Long-running local processes (emulators, function servers): each runs in its own process group,
 * logs to a file, is declared ready by an HTTP probe, and is stopped by signalling the whole group.
 *
 * Why groups: `gcloud` (Python) starts a `java` child and keeps running beside it; `npx` starts
 * `node`. Killing only the pid we spawned leaves the real server running. A group kill
 * (`process.kill(-pgid)`) reaches every member, including grandchildren that never learned our pid.
 *
 * Why a marker: `stop` may run in another process long after `start` (from pgids saved in
 * `.scriptorium/*.json`). A saved pgid can be reused by an unrelated process once ours are gone, so
 * every process we start carries an environment variable {@link MARKER_ENV}; a group is signalled
 * only if one of its live members carries the expected value. Linux only (reads `/proc`).
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** Environment variable set on every process the platform starts; its value identifies the run. */
export const MARKER_ENV = 'SCRIPTORIUM_PLATFORM_RUN';

/** How to start one long-running process. */
export interface SpawnGroupOptions {
  /** Short name, used in logs and error messages. */
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly cwd: string;
  /** The complete environment of the child (not merged with ours). {@link MARKER_ENV} is added. */
  readonly env: NodeJS.ProcessEnv;
  /** The child's stdout and stderr go here (truncated at start, unless `append`). */
  readonly logFile: string;
  /** Value of {@link MARKER_ENV} for this run. */
  readonly marker: string;
  /**
   * Append to `logFile` instead of truncating it: a restarted instance must not erase the log of
   * the one that died, which is where the reason for the crash is.
   */
  readonly append?: boolean;
  /** Added to the header line written before the child's output (e.g. which restart this is). */
  readonly note?: string;
}

/** How a process ended. */
export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** A process group leader we spawned. */
export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  /** Equal to `pid`: the child leads its own group. */
  readonly pgid: number;
  readonly logFile: string;
  readonly marker: string;
  /** Resolves when the group leader exits (members may outlive it: see {@link stopGroup}). */
  readonly exited: Promise<ExitInfo>;
  /** Whether the leader has exited. */
  hasExited(): boolean;
}

/**
 * Spawns `command` as the leader of a new process group, its output appended to `logFile`.
 * The child is unref'd so that a detached start can exit and leave it running.
 */
export function spawnGroup(opts: SpawnGroupOptions): ManagedProcess {
  mkdirSync(path.dirname(opts.logFile), { recursive: true });
  const fd = openSync(opts.logFile, opts.append ? 'a' : 'w');
  writeSync(fd, `# ${new Date().toISOString()}${opts.note ? ` ${opts.note}:` : ''} ${opts.command} ${opts.args.join(' ')}\n`);
  // A file descriptor (not a pipe) for stdio: the child must not die of SIGPIPE when we exit.
  const child = spawn(opts.command, [...opts.args], {
    cwd: opts.cwd,
    env: { ...opts.env, [MARKER_ENV]: opts.marker },
    detached: true,
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  let done = false;
  const exited = new Promise<ExitInfo>((resolve) => {
    child.once('exit', (code, signal) => {
      done = true;
      resolve({ code, signal });
    });
    child.once('error', (err) => {
      done = true;
      appendLine(opts.logFile, `spawn error: ${err.message}`);
      resolve({ code: null, signal: null });
    });
  });
  child.unref();
  const pid = child.pid;
  if (pid === undefined) {
    // spawn failed synchronously (e.g. ENOENT is reported through 'error'); there is no group.
    return { name: opts.name, pid: -1, pgid: -1, logFile: opts.logFile, marker: opts.marker, exited, hasExited: () => true };
  }
  return { name: opts.name, pid, pgid: pid, logFile: opts.logFile, marker: opts.marker, exited, hasExited: () => done };
}

/**
 * Writes JSON to `file` through a temporary file and a rename, so a reader in another process
 * (a `stop`, `health`) sees the old content or the new one, never half of it.
 */
export function writeJsonAtomic(file: string, value: unknown): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`);
  renameSync(tmp, file);
}

function appendLine(file: string, line: string): void {
  try {
    const fd = openSync(file, 'a');
    writeSync(fd, `${line}\n`);
    closeSync(fd);
  } catch {
    // Logging a spawn error must not mask it.
  }
}

/** The last `lines` lines of a file ('' if unreadable). */
export function tailFile(file: string, lines = 30): string {
  try {
    const text = readFileSync(file, 'utf8');
    return text.split('\n').slice(-lines - 1).join('\n').trimEnd();
  } catch {
    return '';
  }
}

/** One HTTP GET: the status code, or null when nothing answered (refused, reset, timed out). */
export function httpStatus(url: string, timeoutMs = 1000): Promise<number | null> {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: timeoutMs, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? null);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(null));
  });
}

/** Whether something accepts TCP connections on `host:port`. */
export function tcpOpen(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, timeout: timeoutMs });
    const done = (open: boolean) => {
      socket.destroy();
      resolve(open);
    };
    socket.once('connect', () => done(true));
    socket.once('timeout', () => done(false));
    socket.once('error', () => done(false));
  });
}

/**
 * What a readiness probe waits for: an HTTP answer, or (`url` of the form `tcp://host:port`) an
 * accepted connection. The TCP form is for servers that listen only once loaded but answer a
 * plain GET with a logged error (functions-framework CloudEvent functions).
 */
export interface HttpProbe {
  readonly url: string;
  /** Statuses that mean "ready". Default: exactly 200. */
  readonly ready?: (status: number) => boolean;
  /** Total time to wait before giving up. Default 60 s. */
  readonly timeoutMs?: number;
  /** Pause between attempts. Default 100 ms. */
  readonly intervalMs?: number;
  /** Gives up (rejecting with the signal's reason) when aborted, e.g. on Ctrl-C during a start. */
  readonly signal?: AbortSignal;
}

/** One probe: the HTTP status, 200 for an open `tcp://` port, or null when nothing answered. */
export async function probeOnce(url: string, timeoutMs = 1000): Promise<number | null> {
  if (url.startsWith('tcp://')) {
    const { hostname, port } = new URL(url);
    return (await tcpOpen(hostname, Number(port), timeoutMs)) ? 200 : null;
  }
  return httpStatus(url, timeoutMs);
}

/** Thrown when a process does not become ready; the message carries its log tail. */
export class NotReadyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NotReadyError';
  }
}

/**
 * Polls `probe.url` until it answers with a ready status; resolves with the elapsed milliseconds.
 * Fails fast if the process exits first, and after `timeoutMs` otherwise, with the log tail in the
 * error either way (a port clash or a missing binary is then visible without opening the log).
 */
export async function waitForHttp(proc: ManagedProcess, probe: HttpProbe): Promise<number> {
  const started = Date.now();
  const timeoutMs = probe.timeoutMs ?? 60_000;
  const intervalMs = probe.intervalMs ?? 100;
  const ready = probe.ready ?? ((s: number) => s === 200);
  let last: number | null = null;
  for (;;) {
    probe.signal?.throwIfAborted();
    if (proc.hasExited()) {
      const info = await proc.exited;
      throw new NotReadyError(
        `${proc.name} exited before it was ready (code ${String(info.code)}, signal ${String(info.signal)}); log ${proc.logFile}:\n${tailFile(proc.logFile)}`,
      );
    }
    last = await probeOnce(probe.url, Math.min(2000, timeoutMs));
    if (last !== null && ready(last)) return Date.now() - started;
    if (Date.now() - started > timeoutMs) {
      throw new NotReadyError(
        `${proc.name} not ready after ${timeoutMs} ms (GET ${probe.url} → ${last === null ? 'no answer' : String(last)}); log ${proc.logFile}:\n${tailFile(proc.logFile)}`,
      );
    }
    await sleep(intervalMs);
  }
}

interface ProcInfo {
  readonly pid: number;
  readonly pgid: number;
  readonly state: string;
}

function readProc(pid: number): ProcInfo | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // `comm` (field 2) may contain spaces and parentheses: parse after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const state = rest[0];
    const pgid = Number(rest[2]);
    if (state === undefined || !Number.isFinite(pgid)) return null;
    return { pid, pgid, state };
  } catch {
    return null;
  }
}

/** Live (non-zombie) pids whose process group is `pgid`. */
export function groupMembers(pgid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const info = readProc(Number(entry));
    // Zombies are dead: they only wait for a parent (maybe an init that never reaps) to collect them.
    if (info && info.pgid === pgid && info.state !== 'Z') out.push(info.pid);
  }
  return out;
}

function carriesMarker(pid: number, marker: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`${MARKER_ENV}=${marker}`);
  } catch {
    return false;
  }
}

/** Live members of group `pgid` that carry `marker` (empty: the group is gone or is not ours). */
export function markedGroupMembers(pgid: number, marker: string): number[] {
  return groupMembers(pgid).filter((pid) => carriesMarker(pid, marker));
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch (err) {
    // ESRCH: the group emptied between our check and the signal.
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

async function waitGroupGone(pgid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (groupMembers(pgid).length === 0) return true;
    await sleep(50);
  }
  return groupMembers(pgid).length === 0;
}

/** How a group stop went. */
export interface StopResult {
  readonly pgid: number;
  /** 'absent': nothing of ours was running; 'term': ended after SIGTERM; 'kill': needed SIGKILL. */
  readonly outcome: 'absent' | 'term' | 'kill';
  readonly ms: number;
}

/**
 * Stops a whole process group: SIGTERM to every member, wait up to `graceMs` for all of them to
 * exit (the JVM emulators need ~2 s; the Auth emulator exports its data on SIGTERM), then SIGKILL
 * what is left. Works from any process (it polls `/proc` instead of waiting on a child). The group
 * is signalled only if a live member carries `marker`.
 */
export async function stopGroup(pgid: number, marker: string, graceMs = 10_000): Promise<StopResult> {
  const started = Date.now();
  if (pgid <= 1 || markedGroupMembers(pgid, marker).length === 0) return { pgid, outcome: 'absent', ms: 0 };
  signalGroup(pgid, 'SIGTERM');
  if (await waitGroupGone(pgid, graceMs)) return { pgid, outcome: 'term', ms: Date.now() - started };
  signalGroup(pgid, 'SIGKILL');
  if (!(await waitGroupGone(pgid, 5000))) {
    throw new Error(`process group ${pgid} survived SIGKILL: members ${groupMembers(pgid).join(', ')}`);
  }
  return { pgid, outcome: 'kill', ms: Date.now() - started };
}

/** Every live process (any group) that carries `marker`: after a stop, this must be empty. */
export function processesWithMarker(marker: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    const info = readProc(pid);
    if (info && info.state !== 'Z' && carriesMarker(pid, marker)) out.push(pid);
  }
  return out;
}
