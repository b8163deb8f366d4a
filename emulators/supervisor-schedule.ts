/**
 * The local platform's stand-in for Cloud Scheduler: the supervisor calls each scheduled function
 * (trigger `scheduled` in shared/topology.ts) with a POST to its local URL, on its schedule.
 *
 * Only the cron forms a timer can honour without a calendar are accepted: `* * * * *` (every
 * minute), and the same with the step `/N` after the minute field's star (every N minutes,
 * 1 ≤ N ≤ 59). Anything else is refused when the platform starts, so a schedule the local platform
 * would run differently from production never gets that far. Locally the period counts from the
 * moment the function is ready (the first call one period after it), not from the wall clock: the
 * same period as Cloud Scheduler's, whose runs fall on whole minutes (and, for an N that does not
 * divide 60, bunch up at the hour; the local ones do not).
 *
 * `SCRIPTORIUM_SCHEDULE_SECONDS` (read by the platform at start): when set, every scheduled function
 * runs every that many seconds instead of on its cron schedule, so a test need not wait minutes.
 *
 * As Cloud Scheduler does, one function never has two calls outstanding: a period that ends while a
 * call is still in flight delays the next call until that one ends (missed periods collapse into
 * one call). A failed call (an error status, no answer, the deadline) is one line in the
 * supervisor's log and nothing more: the next period calls again.
 *
 * {@link ScheduledCaller} takes its clock and its HTTP call as dependencies, so the timing rules are
 * unit-tested without waiting.
 */
import { z } from 'zod';

/** The environment variable that replaces every schedule's period by a number of seconds. */
export const SCHEDULE_SECONDS_ENV = 'SCRIPTORIUM_SCHEDULE_SECONDS';

/** The longest period accepted: one day (setTimeout itself stops at ~24.8 days). */
const MAX_PERIOD_MS = 24 * 3600 * 1000;

/** A schedule the local timer cannot run, or an override it cannot read: reported at platform start. */
export class ScheduleError extends Error {
  override readonly name = 'ScheduleError';
}

/**
 * The period of a cron expression in minutes: `* * * * *` → 1, a minute field of star-slash-N with
 * stars elsewhere → N. Throws a
 * {@link ScheduleError} naming the accepted forms for anything else (a fixed minute, ranges, lists,
 * restrictions on hour, day, month or weekday, and N outside 1..59).
 */
export function parseLocalCron(expr: string): number {
  const fields = expr.trim().split(/\s+/);
  const refuse = (why: string): never => {
    throw new ScheduleError(
      `cron schedule ${JSON.stringify(expr)} ${why}: the local timer takes only "* * * * *" (every minute) and "*/N * * * *" (every N minutes, N from 1 to 59)`,
    );
  };
  if (fields.length !== 5) refuse(`has ${fields.length} field(s), not 5`);
  const [minute = '', ...rest] = fields;
  if (rest.some((f) => f !== '*')) refuse('restricts the hour, day, month or weekday');
  if (minute === '*') return 1;
  const m = /^\*\/(\d+)$/.exec(minute);
  if (!m?.[1]) return refuse(`has minute field ${JSON.stringify(minute)}`);
  const n = Number(m[1]);
  if (n < 1 || n > 59) refuse(`steps by ${n} minutes`);
  return n;
}

/** The override's period in milliseconds, undefined when it is unset or blank; a {@link ScheduleError} when it is not a positive number of seconds. */
export function parseScheduleOverride(raw: string | undefined): number | undefined {
  if (raw === undefined || raw.trim() === '') return undefined;
  const seconds = Number(raw.trim());
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds * 1000 > MAX_PERIOD_MS) {
    throw new ScheduleError(`${SCHEDULE_SECONDS_ENV}=${JSON.stringify(raw)} is not a number of seconds between 0 and ${MAX_PERIOD_MS / 1000}`);
  }
  return seconds * 1000;
}

/** What the supervisor needs to call one function on its schedule (sent in the daemon's spec). */
export const ScheduleSpecSchema = z.object({
  /** The topology's cron expression, kept for log lines and `health`. */
  cron: z.string(),
  periodMs: z.number().positive().max(MAX_PERIOD_MS),
  /** Whether the period comes from the cron expression or from SCRIPTORIUM_SCHEDULE_SECONDS. */
  source: z.enum(['cron', 'override']),
  /** The function's local URL; each run POSTs to it. */
  url: z.string().url(),
  /** How long one call may take before it counts as failed (Cloud Scheduler's attempt deadline). */
  deadlineMs: z.number().positive(),
});
export type ScheduleSpec = z.infer<typeof ScheduleSpecSchema>;

/**
 * The local schedule of a function: its cron expression's period, or the override's for every
 * function when `env` sets {@link SCHEDULE_SECONDS_ENV}. The cron expression is checked either way,
 * so a schedule the local timer cannot run is refused whatever the environment. The deadline is the
 * function's timeout plus 30 s, like terraform's attempt_deadline: a call ends with the function's
 * own answer.
 */
export function localSchedule(fn: { readonly name: string; readonly timeoutSeconds: number; readonly schedule?: string | undefined }, url: string, env: NodeJS.ProcessEnv): ScheduleSpec {
  if (fn.schedule === undefined) throw new ScheduleError(`function ${fn.name}: trigger scheduled but topology declares no schedule`);
  let minutes: number;
  try {
    minutes = parseLocalCron(fn.schedule);
  } catch (err) {
    throw new ScheduleError(`function ${fn.name}: ${(err as Error).message}`);
  }
  const override = parseScheduleOverride(env[SCHEDULE_SECONDS_ENV]);
  return ScheduleSpecSchema.parse({
    cron: fn.schedule,
    periodMs: override ?? minutes * 60_000,
    source: override === undefined ? 'cron' : 'override',
    url,
    deadlineMs: (fn.timeoutSeconds + 30) * 1000,
  } satisfies ScheduleSpec);
}

/** How one call went. */
export interface CallResult {
  readonly ok: boolean;
  /** HTTP status, null when nothing answered. */
  readonly status: number | null;
  /** The answer's body (the function's report), or what went wrong; one line, shortened. */
  readonly detail: string;
}

/** What the supervisor records of a schedule (in its state file; `health` shows it). */
export const ScheduleStatusSchema = z.object({
  cron: z.string(),
  periodMs: z.number(),
  source: z.enum(['cron', 'override']),
  /** When the next period ends (null before the function was first ready, and once stopped). */
  nextRunAt: z.string().nullable(),
  /** Calls made, and how many of them failed (a period with the function not running counts as a failed one). */
  runs: z.number().int(),
  failures: z.number().int(),
  /** When the call now outstanding began (null when none is). */
  inFlightSince: z.string().nullable(),
  lastRun: z
    .object({
      at: z.string(),
      ok: z.boolean(),
      status: z.number().nullable(),
      ms: z.number(),
      detail: z.string(),
    })
    .nullable(),
});
export type ScheduleStatus = z.infer<typeof ScheduleStatusSchema>;

/** Timers: `set` runs `fn` after `ms` and returns what cancels it (real timers, or a test's fake clock). */
export interface ScheduleTimers {
  readonly now: () => number;
  readonly set: (fn: () => void, ms: number) => () => void;
}

/** What a {@link ScheduledCaller} uses of the world. */
export interface ScheduledCallerDeps {
  readonly timers: ScheduleTimers;
  /** One POST; must resolve (never reject) and honour `signal` (the deadline and a stop). */
  readonly call: (url: string, signal: AbortSignal) => Promise<CallResult>;
  /** Null when the function can take a call, else why not (its supervised state). */
  readonly unavailable: () => string | null;
  /** Lines worth attention: failures, skipped and delayed runs. */
  readonly log: (line: string) => void;
  /** One line per successful call. */
  readonly runLog: (line: string) => void;
  /** After every change of {@link ScheduledCaller.status}. */
  readonly onChange: () => void;
}

/** `1.2 s`, `850 ms`. */
function ms(n: number): string {
  return n < 1000 ? `${Math.round(n)} ms` : `${(n / 1000).toFixed(1)} s`;
}

/** A period for log lines: `60 s`, `2.5 s`. */
export function describePeriod(periodMs: number): string {
  return periodMs % 1000 === 0 ? `${periodMs / 1000} s` : `${(periodMs / 1000).toFixed(1)} s`;
}

/** Shortens an answer for a one-line log entry. */
export function oneLine(text: string, max = 200): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/**
 * Calls one function every period, from one period after {@link start}. Periods stay on the grid
 * laid from the start (a late timer, or a laptop waking up, does not fire a burst of catch-up calls:
 * periods that passed unnoticed are skipped), and never two calls are outstanding.
 */
export class ScheduledCaller {
  private nextAt: number | null = null;
  private cancelTimer: (() => void) | null = null;
  private inFlight: { since: number; abort: AbortController } | null = null;
  /** A period ended while a call was in flight: call again as soon as it ends. */
  private due = false;
  private stopped = false;
  private runs = 0;
  private failures = 0;
  private lastRun: ScheduleStatus['lastRun'] = null;

  constructor(
    readonly name: string,
    readonly spec: ScheduleSpec,
    private readonly deps: ScheduledCallerDeps,
  ) {}

  /** Whether {@link start} has laid the grid (later starts, after a restart of the function, keep it). */
  get started(): boolean {
    return this.nextAt !== null || this.stopped;
  }

  /**
   * Lays the grid: the first call one period after `readyAt`. Only the first start counts: a
   * function restarted by the supervisor keeps its rhythm, as Cloud Scheduler's does.
   */
  start(readyAt: number): void {
    if (this.started) return;
    this.nextAt = readyAt + this.spec.periodMs;
    const why = this.spec.source === 'override' ? `${SCHEDULE_SECONDS_ENV}, instead of cron "${this.spec.cron}"` : `cron "${this.spec.cron}"`;
    this.deps.log(`${this.name}: scheduled every ${describePeriod(this.spec.periodMs)} (${why}); first run at ${new Date(this.nextAt).toISOString()}`);
    this.arm();
    this.deps.onChange();
  }

  /** No more calls; a call in flight is aborted and its outcome not recorded. */
  stop(): void {
    this.stopped = true;
    this.cancelTimer?.();
    this.cancelTimer = null;
    this.nextAt = null;
    this.due = false;
    this.inFlight?.abort.abort(new Error('the platform is stopping'));
  }

  status(): ScheduleStatus {
    return {
      cron: this.spec.cron,
      periodMs: this.spec.periodMs,
      source: this.spec.source,
      nextRunAt: this.nextAt === null ? null : new Date(this.nextAt).toISOString(),
      runs: this.runs,
      failures: this.failures,
      inFlightSince: this.inFlight ? new Date(this.inFlight.since).toISOString() : null,
      lastRun: this.lastRun,
    };
  }

  private arm(): void {
    if (this.stopped || this.nextAt === null) return;
    const delay = Math.max(0, this.nextAt - this.deps.timers.now());
    this.cancelTimer = this.deps.timers.set(() => this.tick(), delay);
  }

  /** A period ended: lay the next one, then call (or note that the call must wait). */
  private tick(): void {
    this.cancelTimer = null;
    if (this.stopped || this.nextAt === null) return;
    const now = this.deps.timers.now();
    const dueAt = this.nextAt;
    if (now < dueAt) {
      // Fired early (timers run on a monotonic clock, `now` is the wall clock): wait the rest.
      this.arm();
      return;
    }
    // The next grid point after now: periods that passed while the timer could not fire are dropped.
    while (this.nextAt <= now) this.nextAt += this.spec.periodMs;
    this.arm();
    if (this.inFlight) {
      if (!this.due) {
        this.deps.log(`${this.name}: run due at ${new Date(dueAt).toISOString()} delayed: run #${this.runs} is still in flight (since ${new Date(this.inFlight.since).toISOString()}); it starts when that one ends`);
      }
      this.due = true;
      this.deps.onChange();
      return;
    }
    this.run();
  }

  private run(): void {
    const why = this.deps.unavailable();
    const started = this.deps.timers.now();
    if (why !== null) {
      // Cloud Scheduler would call and fail; locally the supervisor knows the answer already.
      this.runs += 1;
      this.failures += 1;
      this.lastRun = { at: new Date(started).toISOString(), ok: false, status: null, ms: 0, detail: `not called: the function is ${why}` };
      this.deps.log(`${this.name}: scheduled run #${this.runs} failed: not called, the function is ${why}`);
      this.deps.onChange();
      return;
    }
    this.runs += 1;
    const run = this.runs;
    const abort = new AbortController();
    const deadline = this.deps.timers.set(() => abort.abort(new Error(`no answer within the ${ms(this.spec.deadlineMs)} deadline`)), this.spec.deadlineMs);
    this.inFlight = { since: started, abort };
    this.deps.onChange();
    void this.deps
      .call(this.spec.url, abort.signal)
      .catch((err: unknown): CallResult => ({ ok: false, status: null, detail: (err as Error).message }))
      .then((result) => {
        deadline();
        this.inFlight = null;
        if (this.stopped) return;
        this.record(run, started, result);
        if (this.due) {
          this.due = false;
          this.run();
        }
      })
      // Bookkeeping must never break the supervisor: a bug here is a log line, not a crash.
      .catch((err: unknown) => this.deps.log(`${this.name}: scheduled run #${run}: bookkeeping failed: ${(err as Error).message}`));
  }

  private record(run: number, started: number, result: CallResult): void {
    const took = this.deps.timers.now() - started;
    this.lastRun = { at: new Date(started).toISOString(), ok: result.ok, status: result.status, ms: took, detail: oneLine(result.detail) };
    const answer = result.status === null ? '' : `HTTP ${result.status} `;
    if (result.ok) {
      this.deps.runLog(`${this.name}: scheduled run #${run}: ${answer}in ${ms(took)} ${oneLine(result.detail)}`.trimEnd());
    } else {
      this.failures += 1;
      this.deps.log(`${this.name}: scheduled run #${run} failed: ${answer}after ${ms(took)}: ${oneLine(result.detail) || 'no detail'}`);
    }
    this.deps.onChange();
  }
}

/** The cause of a fetch failure (`connect ECONNREFUSED 127.0.0.1:8096`), not undici's bare "fetch failed". */
function describeCallError(err: unknown, signal: AbortSignal): string {
  if (signal.aborted) return signal.reason instanceof Error ? signal.reason.message : String(signal.reason);
  if (err instanceof Error && err.cause instanceof Error) return err.cause.message;
  return err instanceof Error ? err.message : String(err);
}

/**
 * The real call: a POST with no body, announced as Cloud Scheduler announces itself (functions may
 * log or check these headers). Any 2xx is a success. Never rejects.
 */
export async function postScheduled(url: string, signal: AbortSignal): Promise<CallResult> {
  try {
    const res = await fetch(url, { method: 'POST', signal, headers: { 'User-Agent': 'Google-Cloud-Scheduler', 'X-CloudScheduler': 'true' } });
    const body = await res.text();
    return { ok: res.status >= 200 && res.status < 300, status: res.status, detail: oneLine(body) };
  } catch (err) {
    return { ok: false, status: null, detail: describeCallError(err, signal) };
  }
}

/** Real timers. Unref'd: the daemon stays alive by itself, and a timer must not hold a test open. */
export const REAL_TIMERS: ScheduleTimers = {
  now: Date.now,
  set(fn, delay) {
    const t = setTimeout(fn, delay);
    t.unref();
    return () => clearTimeout(t);
  },
};
