/**
 * The stale-job reaper's rules: what to do with a job nobody is moving. Pure (the function in
 * `functions/reaper` reads the jobs, decides with these, and applies each decision in a guarded
 * transaction that decides again on the job as it then is), so two reapers at once, or a reaper
 * racing a live attempt, change a job at most once and never take a live lease.
 *
 * A job is stuck when:
 * - it is PENDING (no upload taken) and its upload is stored in the bucket, but ingest never took it
 *   (the notification was lost: the Pub/Sub emulator forgets messages on restart, the storage
 *   emulator gives up publishing while Pub/Sub is down) → the notification is published again, at
 *   most {@link MAX_UPLOAD_REINGESTS} times, then FAILED `UPLOAD_NOT_INGESTED`. The bucket is looked
 *   at {@link ReaperSettings.uploadCheckMs} after the job was created, then less and less often;
 * - it is PENDING past its signed upload URL's expiry (plus a grace for an upload finishing at the
 *   last second) and the bucket has no upload: the file will never come → FAILED `UPLOAD_EXPIRED`
 *   (never while the file is there);
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
  /** First look in the bucket for a PENDING job's upload, this long after the job was created; the shortest interval between looks. */
  readonly uploadCheckMs: number;
  /** The longest interval between looks (they double with the job's age up to it). */
  readonly uploadCheckMaxMs: number;
  /** A stored upload whose job ingest has not touched since is taken for lost this long after it was stored (ingest normally takes it within seconds). */
  readonly uploadSettleMs: number;
}

export const DEFAULT_REAPER_SETTINGS: ReaperSettings = {
  staleMs: 11 * 60_000,
  uploadGraceMs: 60_000,
  announceAfterMs: 60_000,
  uploadCheckMs: 2 * 60_000,
  uploadCheckMaxMs: 30 * 60_000,
  uploadSettleMs: 60_000,
};

/** Notifications of one stored upload the reaper publishes again before giving up on the job. */
export const MAX_UPLOAD_REINGESTS = 3;

/** When the reaper first looks for the upload of a job created at `now` (the API's clock, as the URL's expiry). */
export function firstUploadCheck(now: Date, settings: ReaperSettings = DEFAULT_REAPER_SETTINGS): string {
  return new Date(now.getTime() + settings.uploadCheckMs).toISOString();
}

export type ReaperDecision =
  | { readonly action: 'none' }
  /** Look in the bucket for the upload, then decide with {@link uploadCheckDecision}. */
  | { readonly action: 'check-upload'; readonly why: string }
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
  if (job.status === 'PENDING' && job.input.generation === null) {
    if (expires !== null && t > ms(expires) + settings.uploadGraceMs) return { action: 'check-upload', why: `the signed URL expired at ${expires}` };
    const due = job.input.uploadCheckAt;
    if (due !== null && t >= ms(due)) return { action: 'check-upload', why: `the look for its upload was due at ${due}` };
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

/** What the bucket holds at a PENDING job's upload name (the live generation's resource), for {@link uploadCheckDecision}. */
export interface StoredUpload {
  readonly generation: string;
  /** When the generation was stored (RFC 3339), as Cloud Storage reports it. */
  readonly timeCreated?: string | undefined;
}

export type UploadCheckDecision =
  /** Stored, never taken: publish its notification again. */
  | { readonly action: 'reingest'; readonly why: string }
  | { readonly action: 'expire-upload'; readonly why: string }
  /** Stored, and ingest already failed to take it this often: fail the job. */
  | { readonly action: 'give-up'; readonly why: string }
  /** Nothing to do yet: look again at `nextCheckAt`. */
  | { readonly action: 'wait'; readonly nextCheckAt: string };

/**
 * What to do with a PENDING job once the reaper has looked at its upload name in the bucket
 * (`stored`: the live generation, or null). Pure, like {@link reaperDecision}; the handler applies
 * it in a transaction that first checks the job is still PENDING without an upload taken.
 * - Stored, and the job untouched since (ingest never wrote to it) for {@link ReaperSettings.uploadSettleMs},
 *   or untouched for {@link ReaperSettings.staleMs} (ingest failed and nothing redelivered) → publish
 *   again, at most {@link MAX_UPLOAD_REINGESTS} times;
 * - not stored and the URL expired (with the grace) → FAILED `UPLOAD_EXPIRED`;
 * - otherwise look again later: the interval doubles with the job's age, from uploadCheckMs to uploadCheckMaxMs.
 */
export function uploadCheckDecision(job: Job, stored: StoredUpload | null, now: Date, settings: ReaperSettings = DEFAULT_REAPER_SETTINGS): UploadCheckDecision {
  const t = now.getTime();
  const updated = ms(job.updatedAt);
  if (stored !== null) {
    const at = ms(stored.timeCreated);
    const storedAt = Number.isFinite(at) ? at : t;
    const neverTaken = updated < storedAt && t - storedAt >= settings.uploadSettleMs;
    const quiet = t - updated >= settings.staleMs;
    if (neverTaken || quiet) {
      const why = neverTaken
        ? `its upload (generation ${stored.generation}) was stored at ${stored.timeCreated ?? 'an unknown time'} and ingest never took it: the notification was lost`
        : `its upload (generation ${stored.generation}) is stored but the job has not moved for ${Math.round((t - updated) / 1000)} s`;
      if (job.input.uploadReingests >= MAX_UPLOAD_REINGESTS) return { action: 'give-up', why: `${why}; already published again ${job.input.uploadReingests} times` };
      return { action: 'reingest', why };
    }
    return { action: 'wait', nextCheckAt: new Date(updated < storedAt ? storedAt + settings.uploadSettleMs : updated + settings.staleMs).toISOString() };
  }
  const expires = job.input.uploadExpiresAt;
  if (expires !== null && t > ms(expires) + settings.uploadGraceMs) return { action: 'expire-upload', why: `no upload arrived before the signed URL expired at ${expires}` };
  const age = Math.max(0, t - ms(job.createdAt));
  const interval = Math.min(settings.uploadCheckMaxMs, Math.max(settings.uploadCheckMs, Number.isFinite(age) ? age : 0));
  return { action: 'wait', nextCheckAt: new Date(t + interval).toISOString() };
}
