/**
 * The audit log of security-relevant actions: `auditLog/{id}`, one entry per action (users, API
 * keys, projects and their members, agents, document deletions). Written only with server
 * credentials, in the same batch or transaction as the change where there is one. Platform admins
 * read it through `GET /v1/audit`; a project's admins may also read its entries from Firestore
 * (the security rules). An entry with a deterministic id is written once: a retried or resumed
 * operation does not log twice.
 */
import { Timestamp, type Firestore, type Transaction, type WriteBatch } from '@google-cloud/firestore';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { isAlreadyExists, toPlain } from './firestore/client.js';

export const AUDIT_COLLECTION = 'auditLog';

/** Actions recorded. New areas add theirs here (a closed set: a typo is a compile error). */
export const AUDIT_ACTIONS = [
  'user.created',
  'user.role_changed',
  'user.disabled',
  'user.enabled',
  'user.sessions_revoked',
  'apiKey.created',
  'apiKey.revoked',
  'member.added',
  'member.role_changed',
  'member.removed',
  'project.created',
  'project.deleted',
  'document.deleted',
  'agent.created',
  'agent.updated',
  'agent.activated',
  'agent.deactivated',
  'agent.deleted',
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

export const AuditEntrySchema = z.object({
  id: z.string(),
  at: z.string(),
  action: z.enum(AUDIT_ACTIONS),
  /** Who did it: a user's uid and e-mail, or `apikey:<keyId>` for a key. */
  actor: z.object({ uid: z.string(), email: z.string().nullable(), via: z.enum(['idToken', 'apiKey', 'system']) }),
  /** The project concerned, when there is one (filters the log). */
  projectId: z.string().nullable(),
  target: z.object({ type: z.string(), id: z.string() }),
  details: z.record(z.string(), z.unknown()).default({}),
});
export type AuditEntry = z.infer<typeof AuditEntrySchema>;

export interface AuditEvent {
  readonly action: AuditAction;
  readonly actor: { readonly uid: string; readonly email: string | null; readonly authenticatedVia?: 'idToken' | 'apiKey' | undefined };
  readonly projectId?: string | null;
  readonly target: { readonly type: string; readonly id: string };
  readonly details?: Readonly<Record<string, unknown>>;
}

export interface AuditDeps {
  readonly db: Firestore;
  readonly now?: () => Date;
}

/**
 * Entry ids sort by time (a millisecond timestamp, then randomness), so the log reads in order by id
 * as well as by `at`, and two entries of one millisecond never collide.
 */
function entryId(at: Date): string {
  return `aud_${at.getTime().toString(16).padStart(12, '0')}${randomBytes(6).toString('hex')}`;
}

function entryData(event: AuditEvent, at: Date): Record<string, unknown> {
  return {
    at: Timestamp.fromDate(at),
    action: event.action,
    actor: { uid: event.actor.uid, email: event.actor.email, via: event.actor.authenticatedVia ?? 'idToken' },
    projectId: event.projectId ?? null,
    target: { type: event.target.type, id: event.target.id },
    details: event.details ?? {},
  };
}

/** Adds an entry to a batch: the action's own write and its entry commit together or not at all. */
export function auditInBatch(deps: AuditDeps, batch: WriteBatch, event: AuditEvent): string {
  const at = deps.now?.() ?? new Date();
  const id = entryId(at);
  batch.create(deps.db.collection(AUDIT_COLLECTION).doc(id), entryData(event, at));
  return id;
}

/** Adds an entry to a transaction (the change and its entry commit together); with `id`, that entry id. */
export function auditInTransaction(deps: AuditDeps, tx: Transaction, event: AuditEvent, id?: string): string {
  const at = deps.now?.() ?? new Date();
  const entry = id ?? entryId(at);
  tx.set(deps.db.collection(AUDIT_COLLECTION).doc(entry), entryData(event, at));
  return entry;
}

/**
 * Records an action done elsewhere (e.g. in Firebase Auth, which no batch covers). With `id`, the
 * entry is written once: a second write of that id (a retried request) is a no-op.
 */
export async function audit(deps: AuditDeps, event: AuditEvent, id?: string): Promise<string> {
  const at = deps.now?.() ?? new Date();
  const entry = id ?? entryId(at);
  try {
    await deps.db.collection(AUDIT_COLLECTION).doc(entry).create(entryData(event, at));
  } catch (err) {
    // ALREADY_EXISTS (gRPC 6): written before, by the first attempt.
    if (id !== undefined && isAlreadyExists(err)) return entry;
    throw err;
  }
  return entry;
}

/** One page of the log, newest first, optionally for one project; `after` is the last id of the previous page. */
export async function listAudit(db: Firestore, opts: { projectId?: string; limit: number; after?: string }): Promise<{ entries: AuditEntry[]; next: string | null }> {
  const log = db.collection(AUDIT_COLLECTION);
  // Newest first by time (ids, which sort by time too, break ties); Firestore cannot scan
  // document keys backwards on their own. With a project: the (projectId, at desc) index.
  let q = (opts.projectId ? log.where('projectId', '==', opts.projectId) : log).orderBy('at', 'desc').orderBy('__name__', 'desc').limit(opts.limit + 1);
  if (opts.after) {
    const cursor = await log.doc(opts.after).get();
    // A token naming no entry (forged, or the entry is gone) starts nowhere rather than over.
    if (!cursor.exists) return { entries: [], next: null };
    q = q.startAfter(cursor);
  }
  const snap = await q.get();
  const entries = snap.docs.slice(0, opts.limit).flatMap((d) => {
    const parsed = AuditEntrySchema.safeParse({ ...(toPlain(d.data()) as object), id: d.id });
    return parsed.success ? [parsed.data] : [];
  });
  return { entries, next: snap.size > opts.limit ? (snap.docs[opts.limit - 1]?.id ?? null) : null };
}
