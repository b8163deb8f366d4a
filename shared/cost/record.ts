/**
 * Recording an attempt's usage: the writes that add it, priced, to the job, to the stage and to the
 * project's day, inside the transaction of the guarded transition that ends the attempt (completion,
 * failure, retry or cancellation). Only the attempt holding the stage's lease can make that
 * transition, and it clears the lease, so an attempt's usage is recorded at most once however often
 * its message is redelivered; a redelivery meeting a completed stage records nothing.
 */
import { FieldValue, type Firestore, type Transaction } from '@google-cloud/firestore';
import { COLLECTIONS } from '../firestore/paths.js';
import { priceUnits, type PriceTable } from './prices.js';
import { EMPTY_USAGE, round6, sumRecords, usageDay, type Units, type UsageRecord } from './usage.js';

/** What a transition records: one attempt's units, for one stage, priced with `prices`. */
export interface UsageCharge {
  readonly stage: string;
  readonly units: Units;
  readonly prices: PriceTable;
}

export const usagePaths = {
  /** The project's usage collection: one document per UTC day. */
  projectUsage: (projectId: string) => `${COLLECTIONS.projects}/${projectId}/usage`,
  projectDay: (projectId: string, day: string) => `${COLLECTIONS.projects}/${projectId}/usage/${day}`,
} as const;

/** The record an attempt's charge adds (its units with the transaction's own writes, priced). */
export function chargeRecord(charge: UsageCharge, ownWrites: number): UsageRecord {
  const units: Units = { ...charge.units, firestoreWrites: (charge.units.firestoreWrites ?? 0) + ownWrites };
  const priced = priceUnits(units, charge.prices);
  return { units: units, costUsd: priced.costUsd, totalUsd: priced.totalUsd, attempts: 1, priceTable: charge.prices.id };
}

/** Field increments of `record` under `prefix` (`usage`, `stages.ocr.usage`) for an update(). */
function increments(prefix: string, record: UsageRecord): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(record.units)) out[`${prefix}.units.${k}`] = FieldValue.increment(round6(v));
  for (const [k, v] of Object.entries(record.costUsd)) out[`${prefix}.costUsd.${k}`] = FieldValue.increment(v);
  out[`${prefix}.totalUsd`] = FieldValue.increment(record.totalUsd);
  out[`${prefix}.attempts`] = FieldValue.increment(1);
  out[`${prefix}.priceTable`] = record.priceTable;
  return out;
}

/** The same record as nested increments, for a set({merge: true}) of a day document. */
function nestedIncrements(record: UsageRecord): Record<string, unknown> {
  const map = (o: Record<string, number>, r = (v: number) => v) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, FieldValue.increment(r(v))]));
  return { units: map(record.units, round6), costUsd: map(record.costUsd), totalUsd: FieldValue.increment(record.totalUsd), attempts: FieldValue.increment(1), priceTable: record.priceTable };
}

export interface RecordedUsage {
  /** Documents this wrote besides the job's own update (the project's day): 1. */
  readonly writes: number;
  /** The job's and the stage's usage after the transaction. */
  readonly job: UsageRecord;
  readonly stage: UsageRecord;
}

/**
 * Adds the charge to the job update `patch` (job and stage totals) and writes the project's day in
 * `tx`. `ownWrites` is how many documents the transaction writes besides the day document (the job,
 * its log entry, the document record...): they are part of what the attempt cost.
 */
export function recordUsage(
  tx: Transaction,
  db: Firestore,
  job: { readonly projectId: string; readonly usage?: UsageRecord; readonly stages: Readonly<Record<string, { readonly usage?: UsageRecord }>> },
  charge: UsageCharge,
  ownWrites: number,
  at: Date,
  patch: Record<string, unknown>,
): RecordedUsage {
  const writes = 1;
  const record = chargeRecord(charge, ownWrites + writes);
  Object.assign(patch, increments('usage', record), increments(`stages.${charge.stage}.usage`, record));
  const day = usageDay(at);
  tx.set(db.doc(usagePaths.projectDay(job.projectId, day)), { projectId: job.projectId, day, ...nestedIncrements(record), updatedAt: FieldValue.serverTimestamp() }, { merge: true });
  return { writes, job: sumRecords([job.usage ?? EMPTY_USAGE, record]), stage: sumRecords([job.stages[charge.stage]?.usage ?? EMPTY_USAGE, record]) };
}
