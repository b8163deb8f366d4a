/**
 * Following a job to its end through a Firestore listener, with a timeout, and with stall
 * detection: a job whose progress has not changed for a while is reported ("stalled: no progress
 * for N s"), and after a longer while given up on, so a job that nothing will ever finish (a
 * crashed function, a lost message) does not keep a client waiting until its overall timeout.
 */
import type { Session } from './session.js';
import { isTerminalStatus, type JobView } from './job-view.js';

/** How following a job ended. */
export type FollowOutcome =
  | { readonly kind: 'terminal'; readonly job: JobView }
  | { readonly kind: 'timeout'; readonly last: JobView | null }
  /** No progress for the stall timeout: `idleMs` since the last change (or since following began). */
  | { readonly kind: 'stalled'; readonly last: JobView | null; readonly idleMs: number }
  | { readonly kind: 'error'; readonly error: Error; readonly last: JobView | null };

/** Default time without progress before a job is reported stalled. */
export const DEFAULT_STALL_WARN_MS = 60_000;
/** Default time without progress before the CLI gives up on a job (0 would disable it). */
export const DEFAULT_STALL_TIMEOUT_MS = 600_000;

function record(v: unknown): Record<string, unknown> | null {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
}

/**
 * What counts as progress of a job: its status, stage, progress, attempts and `updatedAt`, and per
 * stage its status, progress, attempts and lease expiry. A renewed lease is a heartbeat of a live
 * attempt, so a slow stage that still renews is not stalled; a listener re-delivering the same
 * data (metadata-only snapshots) is not progress.
 */
export function progressFingerprint(job: JobView): string {
  const stages = record(job.raw.stages) ?? {};
  const perStage = Object.keys(stages)
    .sort()
    .map((name) => {
      const st = record(stages[name]) ?? {};
      return [name, st.status ?? null, st.progress ?? null, st.attempts ?? null, record(st.lease)?.expiresAt ?? null];
    });
  return JSON.stringify([job.status, job.stage, job.progress, job.attempts, job.updatedAt, perStage]);
}

/** The verdict of {@link StallWatch.check}. */
export type StallCheck =
  | { readonly kind: 'ok'; readonly idleMs: number }
  /** `report`: a new multiple of the warning threshold was reached (print a line now). */
  | { readonly kind: 'stalled'; readonly idleMs: number; readonly report: boolean }
  | { readonly kind: 'timeout'; readonly idleMs: number };

/**
 * Tracks the time since a job last made progress, on an injected clock (pure: unit-tested without
 * waiting). The clock starts when the watch is created: a job that never reports anything is
 * stalled from the moment it is followed.
 */
export class StallWatch {
  private lastChangeAt: number;
  private fingerprint: string | null = null;
  /** How many warning thresholds have been reported during the current stall. */
  private reported = 0;

  constructor(
    /** Time without progress before a job is stalled (a line then, and again every such interval). */
    readonly warnAfterMs: number,
    /** Time without progress before giving up; 0 never gives up. */
    readonly timeoutMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.lastChangeAt = now();
  }

  /** Time since the last progress. */
  idleMs(): number {
    return Math.max(0, this.now() - this.lastChangeAt);
  }

  /**
   * Records a state of the job. Returns whether it was progress, and if it ended a reported stall,
   * how long that lasted (for a "progress again" line).
   */
  observe(job: JobView): { readonly progressed: boolean; readonly resumedAfterMs: number | null } {
    const fp = progressFingerprint(job);
    if (fp === this.fingerprint) return { progressed: false, resumedAfterMs: null };
    const idle = this.idleMs();
    const resumedAfterMs = this.reported > 0 ? idle : null;
    this.fingerprint = fp;
    this.lastChangeAt = this.now();
    this.reported = 0;
    return { progressed: true, resumedAfterMs };
  }

  /** Where the job stands now. */
  check(): StallCheck {
    const idleMs = this.idleMs();
    if (this.timeoutMs > 0 && idleMs >= this.timeoutMs) return { kind: 'timeout', idleMs };
    if (this.warnAfterMs > 0 && idleMs >= this.warnAfterMs) {
      const due = Math.floor(idleMs / this.warnAfterMs);
      const report = due > this.reported;
      this.reported = Math.max(this.reported, due);
      return { kind: 'stalled', idleMs, report };
    }
    return { kind: 'ok', idleMs };
  }
}

/** Stall detection of {@link followJob}. */
export interface StallOptions {
  /** See {@link StallWatch.warnAfterMs}. */
  readonly warnAfterMs: number;
  /** See {@link StallWatch.timeoutMs} (0: never give up for lack of progress). */
  readonly timeoutMs: number;
  /** On every check while stalled (about every `tickMs`): redraw, or print a line when `report`. */
  readonly onStalled?: (idleMs: number, report: boolean, last: JobView | null) => void;
  /** When progress comes after a reported stall. */
  readonly onResumed?: (stalledMs: number, job: JobView) => void;
  /** Time between checks. Default a tenth of the smaller threshold, between 10 ms and 1 s. */
  readonly tickMs?: number;
  /** Default `Date.now`. */
  readonly clock?: () => number;
}

/**
 * How often to check a {@link StallWatch} (and, for a follower that polls, to read the jobs): a
 * tenth of the smaller threshold (the precision of the stall verdicts), between 10 ms and 1 s.
 */
export function stallTickMs(warnAfterMs: number, timeoutMs: number): number {
  const thresholds = [warnAfterMs, timeoutMs].filter((t) => t > 0);
  return Math.min(1000, Math.max(10, Math.min(...thresholds, 10_000) / 10));
}

/**
 * Listens to `jobs/{jobId}` until it reaches a terminal status, the listener fails, `timeoutMs`
 * passes, or (with `stall`) the job makes no progress for the stall timeout. When the overall
 * timeout and the stall timeout are both due, the outcome is `stalled`: "nothing happened" says
 * more than "it took too long". The listener is always unsubscribed and the timers cleared before
 * this resolves.
 */
export function followJob(
  session: Pick<Session, 'watchJob'>,
  jobId: string,
  timeoutMs: number,
  onUpdate: (job: JobView) => void,
  stall?: StallOptions,
): Promise<FollowOutcome> {
  return new Promise((resolve) => {
    let last: JobView | null = null;
    let settled = false;
    const watch = stall ? new StallWatch(stall.warnAfterMs, stall.timeoutMs, stall.clock) : null;
    // A holder rather than a variable: `finish` may run before watchJob has returned.
    const subscription: { unsubscribe?: () => void } = {};
    const finish = (outcome: FollowOutcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (ticker) clearInterval(ticker);
      subscription.unsubscribe?.();
      resolve(outcome);
    };
    const timer = setTimeout(() => {
      const verdict = watch?.check();
      finish(verdict?.kind === 'timeout' ? { kind: 'stalled', last, idleMs: verdict.idleMs } : { kind: 'timeout', last });
    }, timeoutMs);
    const ticker = watch
      ? setInterval(() => {
          const verdict = watch.check();
          if (verdict.kind === 'timeout') finish({ kind: 'stalled', last, idleMs: verdict.idleMs });
          else if (verdict.kind === 'stalled') stall?.onStalled?.(verdict.idleMs, verdict.report, last);
        }, stall ? (stall.tickMs ?? stallTickMs(stall.warnAfterMs, stall.timeoutMs)) : 1000)
      : null;
    const unsubscribe = session.watchJob(
      jobId,
      (job) => {
        // A missing document (not created yet) is not an end: keep listening.
        if (job === null || settled) return;
        last = job;
        const seen = watch?.observe(job);
        if (seen?.resumedAfterMs !== null && seen?.resumedAfterMs !== undefined) stall?.onResumed?.(seen.resumedAfterMs, job);
        onUpdate(job);
        if (isTerminalStatus(job.status)) finish({ kind: 'terminal', job });
      },
      (error) => finish({ kind: 'error', error, last }),
    );
    subscription.unsubscribe = unsubscribe;
    // A listener that reported synchronously (fakes do) finished before it could be unsubscribed.
    if (settled) unsubscribe();
  });
}
