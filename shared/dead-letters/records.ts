/**
 * Dead-letter records: `deadLetters/{messageId}`, one per message Pub/Sub dead-lettered, written by
 * the dead-letter function (keyed by the dead-lettered message's id, so a redelivery of it finds its
 * record instead of adding one). A record says where the message came from (source subscription and
 * the topic it was published to), what it was about (project, job, document, event type), how often
 * delivery was tried, when, and why it ended there (the job's error, or the handler's reason); it
 * keeps the original payload and attributes so an operator can replay it to its topic after a fix.
 *
 * Replay is guarded: a claim (`status` REPLAYING with a claim id, in a transaction) lets exactly one
 * of two concurrent replays publish; the claim becomes REPLAYED with the new message id, or is
 * released if the publish fails. A claim older than {@link REPLAY_CLAIM_MS} is taken over (the
 * replaying process died between claim and publish).
 */
import { FieldValue, type Firestore, type DocumentReference, type Timestamp } from '@google-cloud/firestore';
import { z } from 'zod';
import { toPlain } from '../firestore/client.js';
import { cursorAfter } from '../firestore/cursor.js';
import { topology } from '../topology.js';

export const DEAD_LETTERS_COLLECTION = 'deadLetters';

export const DEAD_LETTER_STATUSES = ['DEAD_LETTERED', 'REPLAYING', 'REPLAYED'] as const;
export type DeadLetterStatus = (typeof DEAD_LETTER_STATUSES)[number];

/** Largest payload (base64) a record keeps: our messages are a few KB; Firestore documents cap at 1 MiB. */
export const MAX_RECORDED_PAYLOAD = 256 * 1024;

/** A replay claim older than this is abandoned (its process died before publishing) and may be taken over. */
export const REPLAY_CLAIM_MS = 5 * 60_000;

export const DeadLetterRecordSchema = z.object({
  id: z.string(),
  /** Full name of the subscription that gave up (`projects/P/subscriptions/S`), from `CloudPubSubDeadLetterSourceSubscription`. */
  sourceSubscription: z.string(),
  /** Its short name, and the topic it reads (from the topology; null when the topology does not know it). */
  subscription: z.string(),
  topic: z.string().nullable(),
  projectId: z.string().nullable(),
  jobId: z.string().nullable(),
  documentId: z.string().nullable(),
  /** The message's `type` (our contracts), or the Cloud Storage notification's `eventType`. */
  eventType: z.string().nullable(),
  /** `CloudPubSubDeadLetterSourceDeliveryCount`, when Pub/Sub set it. */
  deliveryAttempts: z.number().int().nullable(),
  /** When the source topic received the message, and when it was dead-lettered (our record time). */
  publishedAt: z.string().nullable(),
  deadLetteredAt: z.string(),
  reason: z.object({ code: z.string(), message: z.string() }),
  /** What the dead-letter function did: failed the job, or only recorded the message. */
  action: z.string(),
  /** The original payload (base64) and attributes (without the CloudPubSubDeadLetter* ones); null payload when too large to keep. */
  data: z.string().nullable(),
  attributes: z.record(z.string(), z.string()),
  status: z.enum(DEAD_LETTER_STATUSES),
  replay: z
    .object({
      claimId: z.string(),
      claimedAt: z.string(),
      by: z.string(),
      messageId: z.string().nullable().default(null),
      replayedAt: z.string().nullable().default(null),
      /** The job the replayed message named (the retry of the original job, when it was retried). */
      jobId: z.string().nullable().default(null),
    })
    .nullable()
    .default(null),
  replayCount: z.number().int().default(0),
});
export type DeadLetterRecord = z.infer<typeof DeadLetterRecordSchema>;

export type NewDeadLetterRecord = Omit<DeadLetterRecord, 'deadLetteredAt' | 'status' | 'replay' | 'replayCount'>;

/** The short name of a subscription path, and the topic the topology says it reads. */
export function sourceOf(sourceSubscription: string): { subscription: string; topic: string | null } {
  const subscription = sourceSubscription.slice(sourceSubscription.lastIndexOf('/') + 1);
  const decl = topology.subscriptions.find((s) => s.name === subscription);
  return { subscription, topic: decl?.topic ?? null };
}

/** Pub/Sub's own attributes on a dead-lettered message (not part of what was published). */
export function originalAttributes(attributes: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(attributes).filter(([k]) => !k.startsWith('CloudPubSubDeadLetter')));
}

/** The event type a payload carries: our contracts' `type`, or a Cloud Storage notification's `eventType` attribute. */
export function eventTypeOf(json: unknown, attributes: Readonly<Record<string, string>>): string | null {
  if (typeof json === 'object' && json !== null && 'type' in json && typeof json.type === 'string') return json.type;
  return attributes.eventType ?? null;
}

export interface DeadLetterQuery {
  readonly projectId?: string;
  readonly jobId?: string;
  readonly status?: DeadLetterStatus;
  readonly limit: number;
  /** A cursor from {@link cursorAfter}, decoded. */
  readonly after?: readonly [Timestamp, string];
}

export type ClaimOutcome =
  | { readonly claimed: true; readonly record: DeadLetterRecord; readonly claimId: string }
  | { readonly claimed: false; readonly record: DeadLetterRecord; readonly why: 'replayed' | 'in-progress' };

export class DeadLetterRepository {
  constructor(private readonly db: Firestore) {}

  ref(id: string): DocumentReference {
    return this.db.collection(DEAD_LETTERS_COLLECTION).doc(id);
  }

  parse(id: string, data: unknown): DeadLetterRecord {
    return DeadLetterRecordSchema.parse({ ...(toPlain(data) as Record<string, unknown>), id });
  }

  async get(id: string): Promise<DeadLetterRecord | null> {
    const snap = await this.ref(id).get();
    return snap.exists ? this.parse(id, snap.data()) : null;
  }

  /**
   * Records a dead-lettered message once: a redelivery of the same message only refreshes the reason
   * and action (the job may have been failed since), never its replay state. Returns whether it was new.
   */
  async record(rec: NewDeadLetterRecord): Promise<boolean> {
    const ref = this.ref(rec.id);
    return this.db.runTransaction(async (tx) => {
      const snap = await tx.get(ref);
      const { id: _id, ...data } = rec;
      if (snap.exists) {
        tx.update(ref, { reason: data.reason, action: data.action, jobId: data.jobId, documentId: data.documentId, projectId: data.projectId });
        return false;
      }
      tx.create(ref, { ...data, deadLetteredAt: FieldValue.serverTimestamp(), status: 'DEAD_LETTERED', replay: null, replayCount: 0 });
      return true;
    });
  }

  /** Newest first, optionally one project's / one job's / one status's (cursor pagination on (deadLetteredAt, id)). */
  async list(q: DeadLetterQuery): Promise<{ records: DeadLetterRecord[]; next: string | null }> {
    let query = this.db.collection(DEAD_LETTERS_COLLECTION).orderBy('deadLetteredAt', 'desc').orderBy('__name__', 'desc');
    if (q.projectId !== undefined) query = query.where('projectId', '==', q.projectId);
    if (q.jobId !== undefined) query = query.where('jobId', '==', q.jobId);
    if (q.status !== undefined) query = query.where('status', '==', q.status);
    if (q.after) query = query.startAfter(...q.after);
    const snap = await query.limit(q.limit + 1).get();
    const page = snap.docs.slice(0, q.limit);
    const last = page.at(-1);
    return { records: page.map((d) => this.parse(d.id, d.data())), next: snap.size > q.limit && last ? cursorAfter(last, 'deadLetteredAt') : null };
  }

  /**
   * Claims a record for replay (one claim at a time): DEAD_LETTERED, or REPLAYING with an abandoned
   * claim, becomes REPLAYING with `claimId`. `check` may refuse (throw) after reading the record in
   * the same transaction (e.g. its job is terminal and was not retried).
   */
  async claim(id: string, by: string, claimId: string, check: (rec: DeadLetterRecord) => Promise<void>, now: Date): Promise<ClaimOutcome | null> {
    const ref = this.ref(id);
    return this.db.runTransaction(async (tx) => {
      const snap = await tx.get(ref);
      if (!snap.exists) return null;
      const rec = this.parse(id, snap.data());
      if (rec.status === 'REPLAYED') return { claimed: false, record: rec, why: 'replayed' } as const;
      if (rec.status === 'REPLAYING' && rec.replay && now.getTime() - Date.parse(rec.replay.claimedAt) < REPLAY_CLAIM_MS) return { claimed: false, record: rec, why: 'in-progress' } as const;
      await check(rec);
      tx.update(ref, { status: 'REPLAYING', replay: { claimId, claimedAt: now.toISOString(), by, messageId: null, replayedAt: null, jobId: null } });
      return { claimed: true, record: rec, claimId } as const;
    });
  }

  /** Marks a claimed record replayed (only by the claim's holder). */
  async replayed(id: string, claimId: string, messageId: string, jobId: string | null): Promise<boolean> {
    const ref = this.ref(id);
    return this.db.runTransaction(async (tx) => {
      const snap = await tx.get(ref);
      const rec = snap.exists ? this.parse(id, snap.data()) : null;
      if (!rec || rec.status !== 'REPLAYING' || rec.replay?.claimId !== claimId) return false;
      tx.update(ref, { status: 'REPLAYED', 'replay.messageId': messageId, 'replay.replayedAt': new Date().toISOString(), 'replay.jobId': jobId, replayCount: rec.replayCount + 1 });
      return true;
    });
  }

  /** Releases a claim whose publish failed (the record can be replayed again). */
  async release(id: string, claimId: string): Promise<void> {
    const ref = this.ref(id);
    await this.db.runTransaction(async (tx) => {
      const snap = await tx.get(ref);
      const rec = snap.exists ? this.parse(id, snap.data()) : null;
      if (rec?.status === 'REPLAYING' && rec.replay?.claimId === claimId) tx.update(ref, { status: 'DEAD_LETTERED', replay: null });
    });
  }
}
