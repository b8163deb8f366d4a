/**
 * The stale-job reaper's rules: what to do with a job nobody is moving. Pure (the function in
 * `functions/reaper` reads the jobs, decides with these, and applies each decision in a guarded
 * transaction that decides again on the job as it then is), so two reapers at once, or a reaper
 * racing a live attempt, change a job at most once and never take a live lease.
 *
 * A job is stuck when:
 * - it is PENDING past its signed upload URL's expiry (plus a grace for an upload finishing at the
 *   last second): the file will never come → FAILED `UPLOAD_EXPIRED`;
 * - a stage's lease expired: its attempt stopped renewing it (the process died, the platform
 *   restarted) → the stage's request is published again (the next claim takes the lapsed lease;
 *   the attempt cap still applies there);
 * - a stage is PENDING or RUNNING without a lease and nothing touched the job for longer than any
 *   Pub/Sub redelivery waits (the message was lost: the emulator forgets messages on restart, a
 *   dispatch failed after its job update) → published again;
 * - it ended but its outcome was never announced (the publish failed and nothing redelivered) →
 *   announced.
 * A stage re-dispatched by the reaper is not re-dispatched again before the same stale period.
 */
import { isStageTerminal, isTerminal, pipelineFor, type Job } from './model.js';

export interface ReaperSettings {
  /** A job left alone this long, with no live lease, has lost its message. Above Pub/Sub's largest retry backoff. */
  readonly staleMs: number;
  /** Grace after a signed URL's expiry before its job is failed. */
  readonly uploadGraceMs: number;
  /** A terminal job unannounced this long after it ended is announced. */
  readonly announceAfterMs: number;
}

export const DEFAULT_REAPER_SETTINGS: ReaperSettings = { staleMs: 11 * 60_000, uploadGraceMs: 60_000, announceAfterMs: 60_000 };

export type ReaperDecision =
  | { readonly action: 'none' }
  | { readonly action: 'expire-upload'; readonly why: string }
  | { readonly action: 'redispatch'; readonly stages: readonly string[]; readonly why: string }
  | { readonly action: 'announce'; readonly why: string };

const ms = (iso: string | null | undefined): number => (iso ? Date.parse(iso) : NaN);

/** What the reaper does with `job` at Firestore time `now`. */
export function reaperDecision(job: Job, now: Date, settings: ReaperSettings = DEFAULT_REAPER_SETTINGS): ReaperDecision {
  const t = now.getTime();
  if (isTerminal(job.status)) {
    if (!job.announced && t - ms(job.finishedAt ?? job.updatedAt) > settings.announceAfterMs) {
      return { action: 'announce', why: `ended ${job.status} at ${job.finishedAt ?? job.updatedAt} and was never announced` };
    }
    return { action: 'none' };
  }
  const expires = job.input.uploadExpiresAt;
  if (job.status === 'PENDING' && job.input.generation === null && expires !== null && t > ms(expires) + settings.uploadGraceMs) {
    return { action: 'expire-upload', why: `no upload arrived before the signed URL expired at ${expires}` };
  }
  // Stages only exist once the job's input was taken (ingest) or, for a re-embedding, from creation.
  const stuck: string[] = [];
  const reasons: string[] = [];
  for (const { name } of pipelineFor(job.kind)) {
    const st = job.stages[name];
    if (!st || isStageTerminal(st.status)) continue;
    const reapedLately = st.reapedAt !== null && t - ms(st.reapedAt) < settings.staleMs;
    if (reapedLately) continue;
    if (st.lease) {
      if (ms(st.lease.expiresAt) < t) {
        stuck.push(name);
        reasons.push(`${name}: the lease of attempt ${st.lease.id} expired at ${st.lease.expiresAt} without a heartbeat`);
      }
      continue;
    }
    const idle = t - ms(job.updatedAt);
    if (idle > settings.staleMs) {
      stuck.push(name);
      reasons.push(`${name}: ${st.status} with no attempt and no change for ${Math.round(idle / 1000)} s`);
    }
  }
  return stuck.length > 0 ? { action: 'redispatch', stages: stuck, why: reasons.join('; ') } : { action: 'none' };
}
