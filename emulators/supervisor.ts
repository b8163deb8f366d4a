/**
 * Supervision of the local function servers: a function process that dies is started again, as
 * Cloud Run starts a new instance when one crashes, so a killed OCR process does not leave the
 * local platform without OCR until someone restarts everything.
 *
 * Restarts back off exponentially (capped), so a function that crashes as it loads does not spin
 * a CPU; after {@link RestartPolicy.crashLoopFailures} quick failures within a window the process
 * is flagged CRASH_LOOPING and retried at the longest delay, never abandoned (a fix and a rebuild
 * then bring it back without a platform restart). An instance that stays up for
 * {@link RestartPolicy.stableAfterMs} clears the history.
 *
 * The decisions ({@link backoffDelay}, {@link decideRestart}) are pure functions of a clock value so
 * they are unit-tested without waiting; {@link Supervisor} applies them to real processes. The
 * supervisor must run in a process that lives as long as the platform (see supervisor-daemon.ts):
 * only the parent of a process learns its exit code and signal.
 *
 * It also stands in for Cloud Scheduler: a process with a schedule (a scheduled function) is called
 * on it once it first answers (see supervisor-schedule.ts), because the supervisor is the one part of
 * the local platform that lives as long as the function servers and knows whether each is up.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { probeOnce, spawnGroup, stopGroup, type ExitInfo, type ManagedProcess, type SpawnGroupOptions, type StopResult } from './processes.js';
import { postScheduled, REAL_TIMERS, ScheduledCaller, ScheduleStatusSchema, type CallResult, type ScheduleSpec, type ScheduleTimers } from './supervisor-schedule.js';

/** When and how often a dead process is started again. */
export interface RestartPolicy {
  /** Delay before the first restart after a failure. */
  readonly initialDelayMs: number;
  /** Each further consecutive failure multiplies the delay by this. */
  readonly factor: number;
  /** The longest delay; also the delay of every restart while crash-looping. */
  readonly maxDelayMs: number;
  /** An instance that ran this long was healthy: its death starts the backoff over, and it ends a crash loop. */
  readonly stableAfterMs: number;
  /** This many quick failures (instances that died before `stableAfterMs`) ... */
  readonly crashLoopFailures: number;
  /** ... within this window mean a crash loop. */
  readonly crashLoopWindowMs: number;
}

export const RestartPolicySchema = z.object({
  initialDelayMs: z.number().nonnegative(),
  factor: z.number().min(1),
  maxDelayMs: z.number().nonnegative(),
  stableAfterMs: z.number().positive(),
  crashLoopFailures: z.number().int().positive(),
  crashLoopWindowMs: z.number().positive(),
});

/**
 * Defaults: the first restart after half a second (a function that was killed is back within its
 * load time, ~1–2 s), then 1, 2, 4, 8, 16 s, capped at 30 s. Five quick failures in a minute is a
 * crash loop (a function that dies as it loads reaches it in ~15 s). No jitter: one supervisor
 * restarts one process per function, there is no herd to spread, and fixed delays are testable.
 */
export const DEFAULT_RESTART_POLICY: RestartPolicy = {
  initialDelayMs: 500,
  factor: 2,
  maxDelayMs: 30_000,
  stableAfterMs: 30_000,
  crashLoopFailures: 5,
  crashLoopWindowMs: 60_000,
};

/** The delay before restart number `consecutive` (1 = the first failure since the last stable run). */
export function backoffDelay(policy: RestartPolicy, consecutive: number): number {
  const n = Math.max(1, Math.floor(consecutive));
  // The exponent is bounded so a long loop cannot overflow to Infinity (or NaN with a 0 initial).
  return Math.min(policy.maxDelayMs, policy.initialDelayMs * policy.factor ** Math.min(n - 1, 64));
}

/** What the supervisor remembers of a process's recent failures. */
export interface RestartHistory {
  /** Failures since the last stable run. */
  readonly consecutive: number;
  /** When the recent quick failures happened (ms, oldest first), only those inside the window. */
  readonly quickFailures: readonly number[];
  /** Sticky until an instance stays up for `stableAfterMs`. */
  readonly crashLooping: boolean;
}

export const FRESH_HISTORY: RestartHistory = { consecutive: 0, quickFailures: [], crashLooping: false };

/** What to do after a process died. */
export interface RestartDecision {
  readonly history: RestartHistory;
  readonly delayMs: number;
  /** Whether the instance died before it was stable. */
  readonly quick: boolean;
  /** Whether this failure started a crash loop (for a log line of its own). */
  readonly enteredCrashLoop: boolean;
}

/**
 * The decision after a process died at `now` having run `uptimeMs`: a stable instance's death
 * starts from a clean history; a quick one adds to it, and the K-th quick failure inside the window
 * turns on the crash loop, after which every delay is the maximum.
 */
export function decideRestart(policy: RestartPolicy, history: RestartHistory, now: number, uptimeMs: number): RestartDecision {
  const quick = uptimeMs < policy.stableAfterMs;
  const base = quick ? history : FRESH_HISTORY;
  const quickFailures = quick ? [...base.quickFailures, now].filter((t) => t > now - policy.crashLoopWindowMs) : [];
  const crashLooping = base.crashLooping || quickFailures.length >= policy.crashLoopFailures;
  const consecutive = base.consecutive + 1;
  return {
    history: { consecutive, quickFailures, crashLooping },
    delayMs: crashLooping ? policy.maxDelayMs : backoffDelay(policy, consecutive),
    quick,
    enteredCrashLoop: crashLooping && !history.crashLooping,
  };
}

/** How a process ended, for a log line: `exit code 1`, `signal SIGKILL`. */
export function describeExit(info: ExitInfo): string {
  if (info.signal !== null) return `signal ${info.signal}`;
  if (info.code !== null) return `exit code ${info.code}`;
  return 'spawn failure';
}

/** `1.2 s`, `850 ms`: durations in log lines. */
function ms(n: number): string {
  return n < 1000 ? `${Math.round(n)} ms` : `${(n / 1000).toFixed(1)} s`;
}

/** Lifecycle of a supervised process: spawned and not answering yet, answering, waiting to restart, stopped. */
export const SUPERVISED_STATES = ['STARTING', 'RUNNING', 'BACKOFF', 'STOPPED'] as const;
export type SupervisedState = (typeof SUPERVISED_STATES)[number];

const ExitRecordSchema = z.object({
  code: z.number().nullable(),
  signal: z.string().nullable(),
  at: z.string(),
  uptimeMs: z.number(),
});

/** What the supervisor knows of one process (persisted in its state file, shown by `health`). */
export const SupervisedStatusSchema = z.object({
  name: z.string(),
  state: z.enum(SUPERVISED_STATES),
  crashLooping: z.boolean(),
  /** The current instance (null while waiting to restart). */
  pid: z.number().nullable(),
  /** The group of the current instance, or of the last one (a `stop` then still finds its leftovers). */
  pgid: z.number().nullable(),
  /** Restarts since the platform started. */
  restarts: z.number().int(),
  /** Failures since the last stable run (what the backoff is computed from). */
  consecutiveFailures: z.number().int(),
  /** When the current instance was spawned, and when it first answered its probe. */
  startedAt: z.string().nullable(),
  readyAt: z.string().nullable(),
  lastExit: ExitRecordSchema.nullable(),
  lastRestartAt: z.string().nullable(),
  /** Why the last restart happened: how the instance before it ended. */
  lastRestartReason: z.string().nullable(),
  /** While in BACKOFF: when the next instance starts. */
  nextRestartAt: z.string().nullable(),
  /** From the death of an instance to its successor answering, for the last recovery. */
  lastRecoveryMs: z.number().nullable(),
  /** For a scheduled function: its local schedule and the last run (absent for other processes). */
  schedule: ScheduleStatusSchema.optional(),
});
export type SupervisedStatus = z.infer<typeof SupervisedStatusSchema>;

/** One process to supervise. */
export interface SupervisedSpec {
  readonly spawn: SpawnGroupOptions;
  /** Readiness probe (`http://…` any answer, or `tcp://host:port`); without one a spawned instance counts as RUNNING. */
  readonly probeUrl?: string;
  /** Call the process on this schedule, from one period after it first counts as RUNNING. */
  readonly schedule?: ScheduleSpec;
}

/** What the supervisor uses of the outside world (replaced in unit tests). */
export interface SupervisorDeps {
  readonly spawn: (opts: SpawnGroupOptions) => ManagedProcess;
  readonly stopGroup: (pgid: number, marker: string, graceMs: number) => Promise<StopResult>;
  /** One probe: a status (any answer means up) or null when nothing answered. */
  readonly probe: (url: string) => Promise<number | null>;
  readonly now: () => number;
  /** Timers of the schedules (their `now` is theirs: a test may drive schedules and restarts apart). */
  readonly scheduleTimers: ScheduleTimers;
  /** One scheduled call: a POST that resolves (never rejects) with how it went. */
  readonly callScheduled: (url: string, signal: AbortSignal) => Promise<CallResult>;
}

/** Options of {@link Supervisor}. */
export interface SupervisorOptions {
  readonly policy?: Partial<RestartPolicy>;
  /** One line per event (death, restart, recovery, crash loop, failed or delayed scheduled run). */
  readonly log?: (line: string) => void;
  /**
   * One line per successful scheduled run. Default: {@link SupervisorOptions.log}. The daemon keeps
   * them out of a foreground platform's terminal (one a minute would drown the events).
   */
  readonly runLog?: (line: string) => void;
  /** After every change of any status: to persist them. */
  readonly onChange?: (statuses: readonly SupervisedStatus[]) => void;
  /** After each spawn; `restart` is 0 for the first instance. */
  readonly onSpawn?: (name: string, proc: ManagedProcess, restart: number) => void;
  /** After each exit, before any restart is decided. */
  readonly onExit?: (name: string, proc: ManagedProcess, info: ExitInfo) => void;
  /** SIGTERM-to-SIGKILL grace of each process on {@link Supervisor.stop}. Default 8 s. */
  readonly graceMs?: number;
  /** Pause between readiness probes. Default 100 ms. */
  readonly probeIntervalMs?: number;
  readonly deps?: Partial<SupervisorDeps>;
}

interface Entry {
  readonly spec: SupervisedSpec;
  readonly status: { -readonly [K in keyof SupervisedStatus]: SupervisedStatus[K] };
  proc: ManagedProcess | null;
  startedAtMs: number;
  history: RestartHistory;
  restartTimer: NodeJS.Timeout | null;
  stableTimer: NodeJS.Timeout | null;
  /** When the first instance of the current outage died (null while healthy): recovery is measured from it. */
  downSince: number | null;
  /** The process's scheduled caller, when its spec has a schedule (set once, right after the entry is built). */
  caller: ScheduledCaller | null;
}

/**
 * Runs processes and restarts each one that dies, with the backoff of its {@link RestartPolicy}.
 * Must live in the parent of the processes (only a parent learns exit codes and signals).
 */
export class Supervisor {
  private readonly entries: Entry[];
  private readonly policy: RestartPolicy;
  private readonly deps: SupervisorDeps;
  private readonly log: (line: string) => void;
  private stopping = false;

  constructor(
    specs: readonly SupervisedSpec[],
    private readonly options: SupervisorOptions = {},
  ) {
    this.policy = RestartPolicySchema.parse({ ...DEFAULT_RESTART_POLICY, ...options.policy });
    this.deps = {
      spawn: spawnGroup,
      stopGroup,
      probe: (url) => probeOnce(url, 1000),
      now: Date.now,
      scheduleTimers: REAL_TIMERS,
      callScheduled: postScheduled,
      ...options.deps,
    };
    this.log = options.log ?? (() => {});
    this.entries = specs.map((spec) => {
      const entry: Entry = {
        spec,
        status: {
          name: spec.spawn.name,
          state: 'STARTING',
          crashLooping: false,
          pid: null,
          pgid: null,
          restarts: 0,
          consecutiveFailures: 0,
          startedAt: null,
          readyAt: null,
          lastExit: null,
          lastRestartAt: null,
          lastRestartReason: null,
          nextRestartAt: null,
          lastRecoveryMs: null,
        },
        proc: null,
        startedAtMs: 0,
        history: FRESH_HISTORY,
        restartTimer: null,
        stableTimer: null,
        downSince: null,
        caller: null,
      };
      if (spec.schedule) {
        entry.caller = this.scheduledCaller(entry, spec.schedule);
        entry.status.schedule = entry.caller.status();
      }
      return entry;
    });
  }

  /** The caller of one scheduled process: it calls only while the process is RUNNING, and records each run in its status. */
  private scheduledCaller(e: Entry, schedule: ScheduleSpec): ScheduledCaller {
    const caller: ScheduledCaller = new ScheduledCaller(e.status.name, schedule, {
      timers: this.deps.scheduleTimers,
      call: this.deps.callScheduled,
      // Any state but RUNNING would only produce a connection error: say which one instead.
      unavailable: () => (e.status.state === 'RUNNING' ? null : e.status.state === 'BACKOFF' ? 'BACKOFF (dead, waiting to restart)' : e.status.state),
      log: (line) => this.log(line),
      runLog: (line) => (this.options.runLog ?? this.log)(line),
      onChange: () => {
        e.status.schedule = caller.status();
        this.changed();
      },
    });
    return caller;
  }

  /** The policy in force (defaults filled in). */
  get restartPolicy(): RestartPolicy {
    return this.policy;
  }

  /** Whether {@link stop} was called. */
  get isStopping(): boolean {
    return this.stopping;
  }

  /** Spawns every process; returns the first instances, in the order of the specs. */
  start(): ManagedProcess[] {
    return this.entries.map((e) => this.launch(e, null));
  }

  /** A copy of every process's status. */
  statuses(): SupervisedStatus[] {
    return this.entries.map((e) => ({ ...e.status }));
  }

  /**
   * Stops supervising, then stops every live process group (SIGTERM, SIGKILL after the grace).
   * From the first moment nothing is restarted: pending restarts are cancelled and exits caused by
   * the stop are recorded, not answered.
   */
  async stop(): Promise<StopResult[]> {
    this.stopping = true;
    for (const e of this.entries) {
      this.clearTimers(e);
      // First, so no scheduled call reaches a server being stopped.
      e.caller?.stop();
      if (e.caller) e.status.schedule = e.caller.status();
    }
    const graceMs = this.options.graceMs ?? 8000;
    const results = await Promise.all(
      this.entries.map(async (e) => {
        const proc = e.proc;
        const result = proc && proc.pgid > 0 ? await this.deps.stopGroup(proc.pgid, proc.marker, graceMs) : null;
        e.status.state = 'STOPPED';
        e.status.pid = null;
        e.status.nextRestartAt = null;
        return result;
      }),
    );
    this.changed();
    return results.filter((r): r is StopResult => r !== null);
  }

  private clearTimers(e: Entry): void {
    if (e.restartTimer) clearTimeout(e.restartTimer);
    if (e.stableTimer) clearTimeout(e.stableTimer);
    e.restartTimer = null;
    e.stableTimer = null;
  }

  private changed(): void {
    try {
      this.options.onChange?.(this.statuses());
    } catch (err) {
      // Persisting the status is secondary: supervision goes on without it.
      this.log(`status not recorded: ${(err as Error).message}`);
    }
  }

  /** Spawns, turning a synchronous failure (log folder gone, fd exhaustion) into an instance that died at once. */
  private spawnSafely(opts: SpawnGroupOptions): ManagedProcess {
    try {
      return this.deps.spawn(opts);
    } catch (err) {
      this.log(`${opts.name}: spawn failed: ${(err as Error).message}`);
      const info: ExitInfo = { code: null, signal: null };
      return { name: opts.name, pid: -1, pgid: -1, logFile: opts.logFile, marker: opts.marker, exited: Promise.resolve(info), hasExited: () => true };
    }
  }

  /** Spawns an instance; `reason` is how the previous one ended (null for the first). */
  private launch(e: Entry, reason: string | null): ManagedProcess {
    const restart = reason === null ? 0 : e.status.restarts + 1;
    const proc = this.spawnSafely({
      ...e.spec.spawn,
      // The first instance starts a fresh log; a restart appends below the crash it follows.
      append: restart > 0,
      ...(restart > 0 ? { note: `restart #${restart} by the supervisor (previous instance: ${reason ?? ''})` } : {}),
    });
    const now = this.deps.now();
    e.proc = proc;
    e.startedAtMs = now;
    const s = e.status;
    s.state = e.spec.probeUrl ? 'STARTING' : 'RUNNING';
    s.pid = proc.pid > 0 ? proc.pid : null;
    s.pgid = proc.pgid > 0 ? proc.pgid : s.pgid;
    s.startedAt = new Date(now).toISOString();
    s.readyAt = e.spec.probeUrl ? null : s.startedAt;
    s.nextRestartAt = null;
    if (restart > 0) {
      s.restarts = restart;
      s.lastRestartAt = s.startedAt;
      s.lastRestartReason = reason;
      this.log(`${s.name}: restart #${restart}: pid ${proc.pid}`);
    }
    this.options.onSpawn?.(s.name, proc, restart);
    // Without a probe a spawned instance counts as running at once, so its schedule starts now.
    if (!e.spec.probeUrl) e.caller?.start(this.deps.scheduleTimers.now());
    e.stableTimer = setTimeout(() => this.markStable(e, proc), this.policy.stableAfterMs);
    // An instance's end is handled whenever it comes (exited never rejects); a bug in the handling
    // is logged rather than left to kill the process that supervises everything.
    void proc.exited
      .then((info) => this.handleExit(e, proc, info))
      .catch((err: unknown) => this.log(`${e.status.name}: exit handling failed: ${(err as Error).message}`));
    if (e.spec.probeUrl) {
      void this.watchReady(e, proc, e.spec.probeUrl).catch((err: unknown) => this.log(`${e.status.name}: readiness probe failed: ${(err as Error).message}`));
    }
    this.changed();
    return proc;
  }

  /** The instance stayed up long enough: forget the failures before it. */
  private markStable(e: Entry, proc: ManagedProcess): void {
    e.stableTimer = null;
    if (e.proc !== proc || proc.hasExited() || this.stopping) return;
    const was = e.history;
    e.history = FRESH_HISTORY;
    e.status.consecutiveFailures = 0;
    e.status.crashLooping = false;
    if (was.crashLooping) this.log(`${e.status.name}: up for ${ms(this.policy.stableAfterMs)}: no longer crash-looping, backoff reset`);
    this.changed();
  }

  /** Probes until the instance answers (or dies, or is replaced): STARTING becomes RUNNING. */
  private async watchReady(e: Entry, proc: ManagedProcess, url: string): Promise<void> {
    const interval = this.options.probeIntervalMs ?? 100;
    for (;;) {
      if (this.stopping || e.proc !== proc || proc.hasExited()) return;
      const answer = await this.deps.probe(url).catch(() => null);
      if (this.stopping || e.proc !== proc || proc.hasExited()) return;
      if (answer !== null) break;
      await sleep(interval);
    }
    const now = this.deps.now();
    e.status.state = 'RUNNING';
    e.status.readyAt = new Date(now).toISOString();
    // The first time only: a restarted function keeps the rhythm laid when it first answered.
    e.caller?.start(this.deps.scheduleTimers.now());
    if (e.downSince !== null) {
      e.status.lastRecoveryMs = now - e.downSince;
      this.log(`${e.status.name}: answering again ${ms(now - e.downSince)} after it died (${ms(now - e.startedAtMs)} after restart #${e.status.restarts})`);
      e.downSince = null;
    }
    this.changed();
  }

  private async handleExit(e: Entry, proc: ManagedProcess, info: ExitInfo): Promise<void> {
    if (e.proc !== proc) return;
    if (e.stableTimer) clearTimeout(e.stableTimer);
    e.stableTimer = null;
    const now = this.deps.now();
    const uptimeMs = now - e.startedAtMs;
    const s = e.status;
    s.lastExit = { code: info.code, signal: info.signal, at: new Date(now).toISOString(), uptimeMs };
    s.pid = null;
    this.options.onExit?.(s.name, proc, info);
    if (this.stopping) {
      s.state = 'STOPPED';
      this.changed();
      return;
    }
    const reason = describeExit(info);
    const decision = decideRestart(this.policy, e.history, now, uptimeMs);
    e.history = decision.history;
    e.downSince ??= now;
    s.state = 'BACKOFF';
    s.crashLooping = decision.history.crashLooping;
    s.consecutiveFailures = decision.history.consecutive;
    const restartAt = now + decision.delayMs;
    s.nextRestartAt = new Date(restartAt).toISOString();
    this.log(`${s.name}: pid ${proc.pid} died (${reason}) after ${ms(uptimeMs)}; restart #${s.restarts + 1} in ${ms(decision.delayMs)}`);
    if (decision.enteredCrashLoop) {
      this.log(
        `${s.name}: CRASH_LOOPING: ${decision.history.quickFailures.length} failures within ${ms(this.policy.crashLoopWindowMs)}, ` +
          `each before ${ms(this.policy.stableAfterMs)} of uptime; retrying every ${ms(this.policy.maxDelayMs)} (see ${proc.logFile})`,
      );
    }
    this.changed();
    // Children the dead instance started (a converter, an OCR engine) would outlive it in its group:
    // they go with it, as everything in a retired Cloud Run instance does.
    if (proc.pgid > 0) {
      try {
        await this.deps.stopGroup(proc.pgid, proc.marker, 2000);
      } catch (err) {
        this.log(`${s.name}: leftovers of pid ${proc.pid} not stopped: ${(err as Error).message}`);
      }
    }
    if (this.stopping || e.proc !== proc) return;
    e.restartTimer = setTimeout(
      () => {
        e.restartTimer = null;
        if (!this.stopping) this.launch(e, reason);
      },
      Math.max(0, restartAt - this.deps.now()),
    );
  }
}

/** The supervisor's state file (`.scriptorium/<profile>/supervisor.json`). */
export const SupervisorStateSchema = z.object({
  pid: z.number(),
  pgid: z.number(),
  marker: z.string(),
  startedAt: z.string(),
  updatedAt: z.string(),
  /** Set when the supervisor began to stop (nothing is restarted after that). */
  stoppingAt: z.string().nullable(),
  policy: RestartPolicySchema,
  processes: z.record(z.string(), SupervisedStatusSchema),
  /** How the stop of each process went, written just before the supervisor exits. */
  stopResults: z.array(z.object({ pgid: z.number(), outcome: z.enum(['absent', 'term', 'kill']), ms: z.number() })).default([]),
});
export type SupervisorState = z.infer<typeof SupervisorStateSchema>;

/** The supervisor's state file, or null when missing or unreadable. */
export function readSupervisorState(file: string): SupervisorState | null {
  try {
    return SupervisorStateSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
  } catch {
    return null;
  }
}
