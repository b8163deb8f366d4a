/**
 * Following a job to its end through a Firestore listener, with a timeout.
 */
import type { Session } from './session.js';
import { isTerminalStatus, type JobView } from './job-view.js';

/** How following a job ended. */
export type FollowOutcome =
  | { readonly kind: 'terminal'; readonly job: JobView }
  | { readonly kind: 'timeout'; readonly last: JobView | null }
  | { readonly kind: 'error'; readonly error: Error; readonly last: JobView | null };

/**
 * Listens to `jobs/{jobId}` until it reaches a terminal status, the listener fails, or `timeoutMs`
 * passes. The listener is always unsubscribed and the timer cleared before this resolves.
 */
export function followJob(session: Pick<Session, 'watchJob'>, jobId: string, timeoutMs: number, onUpdate: (job: JobView) => void): Promise<FollowOutcome> {
  return new Promise((resolve) => {
    let last: JobView | null = null;
    let settled = false;
    // A holder rather than a variable: `finish` may run before watchJob has returned.
    const subscription: { unsubscribe?: () => void } = {};
    const finish = (outcome: FollowOutcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      subscription.unsubscribe?.();
      resolve(outcome);
    };
    const timer = setTimeout(() => finish({ kind: 'timeout', last }), timeoutMs);
    const unsubscribe = session.watchJob(
      jobId,
      (job) => {
        // A missing document (not created yet) is not an end: keep listening.
        if (job === null || settled) return;
        last = job;
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
