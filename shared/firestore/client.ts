/**
 * The Firestore client, created on first use (creating it costs ~200 ms: not at import time).
 * With FIRESTORE_EMULATOR_HOST set the library talks to the emulator.
 */
import { Firestore, Timestamp } from '@google-cloud/firestore';
import { meterFirestore } from '../cost/meter.js';

let instance: Firestore | undefined;

export function firestore(projectId?: string): Firestore {
  // Metered: operations made inside a stage attempt count on its usage (shared/cost/meter.ts).
  instance ??= meterFirestore(new Firestore({ projectId: projectId ?? process.env.GOOGLE_CLOUD_PROJECT, ignoreUndefinedProperties: true }));
  return instance;
}

/** Firestore Timestamps (and nested ones) to ISO strings, so zod schemas see plain data. */
export function toPlain(value: unknown): unknown {
  if (value instanceof Timestamp) return value.toDate().toISOString();
  if (Array.isArray(value)) return value.map(toPlain);
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = toPlain(v);
    return out;
  }
  return value;
}

/** A create-only write met an existing document (gRPC ALREADY_EXISTS, 6). */
export function isAlreadyExists(err: unknown): boolean {
  return typeof err === 'object' && err !== null && 'code' in err && err.code === 6;
}
