/**
 * API keys for programmatic callers. A key is `scr_<20 hex>_<43 base64url>`: the recognisable
 * `scr_` prefix (secret scanners can match it), the key id (`key_<20 hex>` is its document,
 * `apiKeys/{keyId}`), then 256 random bits. Only the SHA-256 of the secret is stored: a fast hash is
 * enough for a 256-bit random secret (nothing to brute-force, unlike a password), and it keeps the
 * per-request check at one document read. The key itself is shown once, at creation.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { FieldValue, Timestamp, type Firestore, type WriteBatch } from '@google-cloud/firestore';
import { z } from 'zod';
import { toPlain } from '../firestore/client.js';
import { API_KEY_SCOPES, type ApiKeyScope } from './roles.js';

export const API_KEYS_COLLECTION = 'apiKeys';
export const API_KEY_PREFIX = 'scr_';
export const API_KEY_ID = /^key_[0-9a-f]{20}$/;
const KEY_FORMAT = /^scr_([0-9a-f]{20})_([A-Za-z0-9_-]{43})$/;
/** `lastUsedAt` is written at most this often per key: a busy key costs one write a minute, not one per request. */
export const LAST_USED_RESOLUTION_MS = 60_000;

export const ApiKeyRecordSchema = z.object({
  id: z.string().regex(API_KEY_ID),
  projectId: z.string(),
  name: z.string(),
  /** `scr_<20 hex>`: enough to recognise a key in a listing, nothing to use it with. */
  prefix: z.string(),
  scopes: z.array(z.enum(API_KEY_SCOPES)).min(1),
  hash: z.string().regex(/^[0-9a-f]{64}$/),
  createdBy: z.string(),
  createdAt: z.string().nullable(),
  expiresAt: z.string().nullable(),
  lastUsedAt: z.string().nullable().default(null),
  revokedAt: z.string().nullable().default(null),
  revokedBy: z.string().nullable().default(null),
});
export type ApiKeyRecord = z.infer<typeof ApiKeyRecordSchema>;
/** What a listing shows: everything but the hash. */
export type ApiKeyView = Omit<ApiKeyRecord, 'hash'>;

export function viewOf(record: ApiKeyRecord): ApiKeyView {
  const { hash: _hash, ...view } = record;
  return view;
}

/** A key as presented, split; null when it is not one of ours (never a lookup for those). */
export function parseApiKey(key: string): { keyId: string; secret: string } | null {
  const m = KEY_FORMAT.exec(key);
  return m?.[1] && m[2] ? { keyId: `key_${m[1]}`, secret: m[2] } : null;
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** Compares a presented secret with the stored hash in constant time (hashes have a fixed length). */
export function secretMatches(secret: string, storedHash: string): boolean {
  const a = Buffer.from(hashSecret(secret), 'hex');
  const b = Buffer.from(storedHash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}

/** A fresh key: its id, the full key (shown once) and what is stored of it. */
export function generateApiKey(): { keyId: string; key: string; prefix: string; hash: string } {
  const id = randomBytes(10).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  return { keyId: `key_${id}`, key: `${API_KEY_PREFIX}${id}_${secret}`, prefix: `${API_KEY_PREFIX}${id}`, hash: hashSecret(secret) };
}

/** Why a presented key is refused (a stable reason for the 401). */
export type KeyRefusal = 'invalid' | 'revoked' | 'expired';

export class ApiKeyRepository {
  constructor(private readonly db: Firestore) {}

  private doc(keyId: string) {
    return this.db.collection(API_KEYS_COLLECTION).doc(keyId);
  }

  async get(keyId: string): Promise<ApiKeyRecord | null> {
    const snap = await this.doc(keyId).get();
    if (!snap.exists) return null;
    const parsed = ApiKeyRecordSchema.safeParse({ ...(toPlain(snap.data()) as object), id: keyId });
    return parsed.success ? parsed.data : null;
  }

  /** Stores a new key's record (in the caller's batch, so the key and its audit entry land together). */
  create(batch: WriteBatch, fields: { keyId: string; projectId: string; name: string; prefix: string; hash: string; scopes: readonly ApiKeyScope[]; createdBy: string; expiresAt: Date | null }): void {
    batch.create(this.doc(fields.keyId), {
      projectId: fields.projectId,
      name: fields.name,
      prefix: fields.prefix,
      hash: fields.hash,
      scopes: [...fields.scopes],
      createdBy: fields.createdBy,
      createdAt: FieldValue.serverTimestamp(),
      expiresAt: fields.expiresAt ? Timestamp.fromDate(fields.expiresAt) : null,
      lastUsedAt: null,
      revokedAt: null,
      revokedBy: null,
    });
  }

  revoke(batch: WriteBatch, keyId: string, by: string, at: Date): void {
    batch.update(this.doc(keyId), { revokedAt: Timestamp.fromDate(at), revokedBy: by });
  }

  /** A project's keys, newest first (a project holds few: sorted here, so no composite index is needed). */
  async list(projectId: string): Promise<ApiKeyRecord[]> {
    const snap = await this.db.collection(API_KEYS_COLLECTION).where('projectId', '==', projectId).limit(1000).get();
    const keys = snap.docs.flatMap((d) => {
      const parsed = ApiKeyRecordSchema.safeParse({ ...(toPlain(d.data()) as object), id: d.id });
      return parsed.success ? [parsed.data] : [];
    });
    return keys.sort((a, b) => (b.createdAt ?? '').localeCompare(a.createdAt ?? '') || a.id.localeCompare(b.id));
  }

  /**
   * Checks a presented key: the record exists, the secret's hash matches (constant time), it is not
   * revoked nor expired. Revocation is a field of the record read here, so it applies at once.
   */
  async verify(key: string, now: Date): Promise<{ ok: true; record: ApiKeyRecord } | { ok: false; reason: KeyRefusal }> {
    const parsed = parseApiKey(key);
    if (!parsed) return { ok: false, reason: 'invalid' };
    const record = await this.get(parsed.keyId);
    // A missing record still costs a hash comparison: the answer takes as long either way.
    const matches = secretMatches(parsed.secret, record?.hash ?? '0'.repeat(64));
    if (!record || !matches) return { ok: false, reason: 'invalid' };
    if (record.revokedAt !== null) return { ok: false, reason: 'revoked' };
    if (record.expiresAt !== null && Date.parse(record.expiresAt) <= now.getTime()) return { ok: false, reason: 'expired' };
    return { ok: true, record };
  }

  /** Records use, at most once per {@link LAST_USED_RESOLUTION_MS}. */
  async touch(record: ApiKeyRecord, now: Date): Promise<void> {
    if (record.lastUsedAt !== null && now.getTime() - Date.parse(record.lastUsedAt) < LAST_USED_RESOLUTION_MS) return;
    await this.doc(record.id).update({ lastUsedAt: Timestamp.fromDate(now) });
  }
}
