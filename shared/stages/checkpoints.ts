/**
 * Stage checkpoints: what an attempt finished (an OCR page or request's pages, a transcribed
 * segment) kept so a later attempt of the same stage, after a crash, a lost lease or a transient
 * failure, starts at the first unit not done instead of from the beginning.
 *
 * Stored in Firestore under the job, `jobs/{jobId}/checkpoints/{stage}~{key}~{unit}`, one document
 * per unit, written create-only (`create()`: a duplicate attempt's second write of the same unit is
 * refused and ignored, so a unit's checkpoint never changes once written). `key` is the source
 * generation the stage works on (plus whatever else decides the result, e.g. the model), so a
 * checkpoint is never reused for other bytes. Each document carries `expireAt` (a Firestore TTL
 * policy in terraform deletes it after a week whatever happens) and is deleted when the stage
 * completes (`clear`). Clients cannot read them (no rule matches the subcollection).
 *
 * A checkpoint is an optimisation, never a source of truth: a payload that fails its schema, or a
 * failed read, is treated as "not done" and the unit is simply redone.
 */
import { FieldPath, Timestamp, type CollectionReference, type DocumentReference } from '@google-cloud/firestore';
import type { z } from 'zod';
import type { Logger } from '../logger/index.js';
import { isAlreadyExists } from '../firestore/client.js';

/** Firestore documents hold at most 1 MiB; a bigger payload is not checkpointed (the unit is redone on resume). */
const MAX_PAYLOAD_BYTES = 900 * 1024;
/** Deleted by the TTL policy after this long even if the stage never completes. */
export const CHECKPOINT_TTL_MS = 7 * 24 * 3600 * 1000;
/** The subcollection under `jobs/{id}` (terraform's TTL policy names it too). */
export const CHECKPOINTS = 'checkpoints';

export interface CheckpointStore<T> {
  /** The units done so far, by unit number. Unreadable ones are left out (redone). */
  load(): Promise<Map<number, T>>;
  /** Records a finished unit (create-only; an existing checkpoint of the unit is kept). Never throws for the write itself: a lost checkpoint only costs redoing the unit. */
  save(unit: number, payload: T): Promise<void>;
  /** Deletes every checkpoint of this stage and key; returns how many. */
  clear(): Promise<number>;
}

function docId(stage: string, key: string, unit: number): string {
  return `${stage}~${key}~${String(unit).padStart(6, '0')}`;
}

/** Checkpoints of `stage` under job `jobRef`, keyed on `key` (the source generation, and model where it matters). */
export function jobCheckpoints<T>(jobRef: DocumentReference, stage: string, key: string, schema: z.ZodType<T>, log?: Logger): CheckpointStore<T> {
  const col: CollectionReference = jobRef.collection(CHECKPOINTS);
  const prefix = `${stage}~${key}~`;
  const range = () => col.where(FieldPath.documentId(), '>=', col.doc(`${prefix}`)).where(FieldPath.documentId(), '<', col.doc(`${prefix}\uffff`));
  return {
    async load() {
      const out = new Map<number, T>();
      const snap = await range().get();
      for (const d of snap.docs) {
        const data: unknown = d.data();
        const unit = typeof data === 'object' && data !== null && 'unit' in data ? data.unit : undefined;
        const raw = typeof data === 'object' && data !== null && 'payload' in data ? data.payload : undefined;
        if (typeof unit !== 'number' || typeof raw !== 'string') continue;
        try {
          const parsed = schema.safeParse(JSON.parse(raw));
          if (parsed.success) out.set(unit, parsed.data);
          else log?.warn('checkpoint ignored: it does not match its schema', { checkpoint: d.id });
        } catch {
          log?.warn('checkpoint ignored: not JSON', { checkpoint: d.id });
        }
      }
      return out;
    },
    async save(unit, payload) {
      const body = JSON.stringify(payload);
      if (Buffer.byteLength(body) > MAX_PAYLOAD_BYTES) {
        log?.warn('checkpoint too large to keep; the unit will be redone if the stage restarts', { stage, unit, bytes: Buffer.byteLength(body) });
        return;
      }
      try {
        // Stored as a JSON string: the payload's shape is the stage's, and a string keeps Firestore
        // from indexing every field of it.
        await col.doc(docId(stage, key, unit)).create({ stage, key, unit, payload: body, createdAt: Timestamp.now(), expireAt: Timestamp.fromMillis(Date.now() + CHECKPOINT_TTL_MS) });
      } catch (err) {
        // ALREADY_EXISTS (6): another attempt (a duplicate delivery) wrote this unit first; the same
        // unit of the same bytes, so either copy is right. Anything else: the unit is redone on resume.
        if (!isAlreadyExists(err)) log?.warn('checkpoint write failed; the unit will be redone if the stage restarts', { stage, unit, err });
      }
    },
    async clear() {
      const snap = await range().select().get();
      for (let i = 0; i < snap.docs.length; i += 400) {
        const batch = jobRef.firestore.batch();
        for (const d of snap.docs.slice(i, i + 400)) batch.delete(d.ref);
        await batch.commit();
      }
      return snap.size;
    },
  };
}
