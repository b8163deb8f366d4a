/**
 * Caller authentication, for both kinds of credential:
 * - a Firebase ID token in `Authorization: Bearer …`, verified with firebase-admin (against the Auth
 *   emulator when FIREBASE_AUTH_EMULATOR_HOST is set: there tokens are unsigned, so signature checks
 *   are only proven in production), then checked against the account (disabled? sessions revoked
 *   since the token was issued?) and the server-side `users/{uid}` record (provisioned? disabled?
 *   current global role), on every request: nothing is trusted from the token but who it is;
 * - a project API key (`scr_…`) in `Authorization: Bearer …` or `x-api-key`, checked against its
 *   hashed record (revoked? expired?) on every request.
 */
import type { Firestore } from '@google-cloud/firestore';
import { getApps, initializeApp, type App } from 'firebase-admin/app';
import { getAuth, type DecodedIdToken, type UserRecord } from 'firebase-admin/auth';
import { createBatcher } from '../batcher.js';
import { HttpError } from '../errors/index.js';
import { isUid } from '../ids.js';
import type { Logger } from '../logger/index.js';
import { API_KEY_PREFIX, ApiKeyRepository } from './api-keys.js';
import type { ApiKeyGrant, AuthMethod, GlobalRole } from './roles.js';
import { UserDirectory } from './users.js';
import type { DocReader } from '../firestore/reads.js';

export type { ApiKeyGrant, AuthMethod, GlobalRole } from './roles.js';

/**
 * Who is calling. `uid` and `email` are all routes used to need; the rest describes the principal
 * (optional here so callers built by hand, e.g. in other areas' tests, still type-check: the
 * verifier always fills them, see {@link Principal}).
 */
export interface Caller {
  readonly uid: string;
  readonly email: string | null;
  /** The current global role (from `users/{uid}`, not the token's claim); null for an API key. */
  readonly globalRole?: GlobalRole | null;
  readonly authenticatedVia?: AuthMethod;
  /** For an API key: its id, project and scopes. */
  readonly apiKey?: ApiKeyGrant;
}

/** A verified caller: every field known. An API key's uid is `apikey:<keyId>` (never a user's). */
export interface Principal extends Caller {
  readonly globalRole: GlobalRole | null;
  readonly authenticatedVia: AuthMethod;
}

export interface TokenVerifier {
  /** `authorization` is the Authorization header, `apiKey` the x-api-key header. */
  verify(authorization: string | undefined, apiKey?: string): Promise<Principal>;
}

let app: App | undefined;

/** The process's firebase-admin app (one per process: firebase-admin keys apps by name). */
export function adminApp(projectId: string): App {
  app ??= getApps()[0] ?? initializeApp({ projectId });
  return app;
}

function refused(reason: string, what = 'the ID token'): HttpError {
  // A stable reason (a client refreshes an expired token, signs in again otherwise); not the library's text.
  return new HttpError(401, 'UNAUTHENTICATED', `${what} was refused (${reason})`, { reason });
}

function tokenFailure(cause: unknown): HttpError {
  const code = typeof cause === 'object' && cause !== null && 'code' in cause ? String(cause.code) : '';
  if (code.includes('revoked') || code.includes('expired') || code.includes('argument') || code.includes('invalid') || code.includes('user-not-found') || code.includes('user-disabled')) {
    return refused(code.includes('expired') ? 'expired' : code.includes('revoked') ? 'revoked' : code.includes('disabled') ? 'user-disabled' : code.includes('not-found') ? 'user-not-found' : 'invalid');
  }
  // Anything else (e.g. the key endpoint unreachable) is not the caller's fault. The cause is
  // logged by the API (it is this error's cause), never returned.
  return new HttpError(503, 'AUTH_UNAVAILABLE', 'could not verify the credential right now', undefined, cause);
}

export interface VerifierDeps {
  readonly db: Firestore;
  readonly log?: Logger;
  readonly now?: () => Date;
  /** How the user record is read (the API batches reads: ../firestore/reads.ts). */
  readonly reads?: DocReader;
}

/** Verified ID tokens kept (LRU): a busy instance sees each signed-in user's token many times an hour. */
const VERIFIED_TOKENS = 5000;

/** Which credential a request presents (both at once is refused: which one would act?). */
export function presentedCredential(authorization: string | undefined, apiKeyHeader: string | undefined): { kind: 'idToken' | 'apiKey'; value: string } {
  const bearer = /^Bearer\s+(\S+)$/i.exec(authorization ?? '')?.[1];
  const header = apiKeyHeader?.trim();
  if (header && authorization) throw new HttpError(400, 'AMBIGUOUS_CREDENTIALS', 'send either Authorization or x-api-key, not both');
  if (header) return { kind: 'apiKey', value: header };
  if (!bearer) throw new HttpError(401, 'UNAUTHENTICATED', 'missing credentials: send Authorization: Bearer <Firebase ID token or API key>, or x-api-key: <API key>');
  return { kind: bearer.startsWith(API_KEY_PREFIX) ? 'apiKey' : 'idToken', value: bearer };
}

export function createFirebaseVerifier(projectId: string, deps: VerifierDeps): TokenVerifier {
  const users = new UserDirectory(deps.db, deps.reads);
  // Signature, audience, issuer: checked once per token, kept until the token's own expiry. Only
  // this part is kept: the account (disabled, sessions revoked) and the user's record are read on
  // every request, so a change takes effect on the next one.
  const verified = new Map<string, DecodedIdToken>();
  // The accounts of the requests verified at once are looked up together (one accounts:lookup of up
  // to 100 users: ../batcher.ts), each still read after its request arrived.
  const accounts = createBatcher<string, UserRecord>(
    async (uids) => {
      const found = await getAuth(adminApp(projectId)).getUsers(uids.map((u) => ({ uid: u })));
      const byUid = new Map<string, UserRecord | Error>(found.users.map((u) => [u.uid, u]));
      // Not found: the error getUser gives (its code is what tokenFailure reads).
      for (const u of uids) if (!byUid.has(u)) byUid.set(u, Object.assign(new Error(`no user record for ${u}`), { code: 'auth/user-not-found' }));
      return byUid;
    },
    { maxBatch: 100 },
  );
  const verifyToken = async (auth: ReturnType<typeof getAuth>, token: string): Promise<DecodedIdToken> => {
    const hit = verified.get(token);
    if (hit && hit.exp * 1000 > now().getTime()) {
      // Most recently used last (Map keeps insertion order).
      verified.delete(token);
      verified.set(token, hit);
      return hit;
    }
    verified.delete(token);
    const decoded = await auth.verifyIdToken(token, false);
    verified.set(token, decoded);
    if (verified.size > VERIFIED_TOKENS) {
      const oldest = verified.keys().next();
      if (!oldest.done) verified.delete(oldest.value);
    }
    return decoded;
  };
  const keys = new ApiKeyRepository(deps.db);
  const now = deps.now ?? (() => new Date());

  async function viaIdToken(token: string): Promise<Principal> {
    const auth = getAuth(adminApp(projectId));
    let decoded: DecodedIdToken;
    try {
      // Signature, audience, issuer and expiry only (no network but the cached signing keys): the
      // account and the record are then read in parallel rather than one after the other.
      decoded = await verifyToken(auth, token);
    } catch (cause) {
      throw tokenFailure(cause);
    }
    // The uid goes into Firestore paths (`users/{uid}`, `members/{uid}`): refused before any read.
    if (!isUid(decoded.uid)) throw new HttpError(403, 'UNSUPPORTED_PRINCIPAL', 'this account cannot use the API: its user id is not supported');
    const [account, record] = await Promise.all([
      accounts.load(decoded.uid).catch((cause: unknown) => {
        throw tokenFailure(cause);
      }),
      users.get(decoded.uid),
    ]);
    // What verifyIdToken(token, true) checks, from the account read above: disabled, or sessions
    // revoked after the token's sign-in (both second-resolution times, as firebase-admin compares).
    if (account.disabled) throw refused('user-disabled');
    const validSince = account.tokensValidAfterTime ? Date.parse(account.tokensValidAfterTime) : 0;
    if (decoded.auth_time * 1000 < validSince) throw refused('revoked');
    if (!record) throw new HttpError(403, 'NOT_PROVISIONED', 'this account was not provisioned by an administrator: ask one to create your user');
    if (record.disabled) throw refused('user-disabled');
    return { uid: decoded.uid, email: decoded.email ?? null, globalRole: record.role, authenticatedVia: 'idToken' };
  }

  async function viaApiKey(key: string): Promise<Principal> {
    const at = now();
    const checked = await keys.verify(key, at);
    if (!checked.ok) throw refused(checked.reason, 'the API key');
    const record = checked.record;
    try {
      await keys.touch(record, at);
    } catch (err) {
      // Last-used time is bookkeeping: a failed write must not refuse a valid key.
      deps.log?.warn('could not record API key use', { keyId: record.id, err });
    }
    return { uid: `apikey:${record.id}`, email: null, globalRole: null, authenticatedVia: 'apiKey', apiKey: { keyId: record.id, projectId: record.projectId, scopes: record.scopes } };
  }

  return {
    async verify(authorization, apiKey) {
      const credential = presentedCredential(authorization, apiKey);
      if (credential.kind === 'apiKey') return viaApiKey(credential.value);
      return viaIdToken(credential.value);
    },
  };
}
