/**
 * Caller authentication: a Firebase ID token in `Authorization: Bearer …`, verified with
 * firebase-admin (against the Auth emulator when FIREBASE_AUTH_EMULATOR_HOST is set: there tokens
 * are unsigned, so signature checks are only proven in production).
 */
import { getApps, initializeApp, type App } from 'firebase-admin/app';
import { getAuth } from 'firebase-admin/auth';
import { HttpError } from '../errors/index.js';

export interface Caller {
  readonly uid: string;
  readonly email: string | null;
  /** Global role from the ID token's `role` custom claim (`admin` = platform admin), when set. */
  readonly role?: string;
}

export interface TokenVerifier {
  verify(authorization: string | undefined): Promise<Caller>;
}

let app: App | undefined;

function adminApp(projectId: string): App {
  app ??= getApps()[0] ?? initializeApp({ projectId });
  return app;
}

export function createFirebaseVerifier(projectId: string): TokenVerifier {
  return {
    async verify(authorization) {
      const match = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
      if (!match?.[1]) throw new HttpError(401, 'UNAUTHENTICATED', 'missing bearer token: send Authorization: Bearer <Firebase ID token>');
      try {
        const token = await getAuth(adminApp(projectId)).verifyIdToken(match[1], true);
        return { uid: token.uid, email: token.email ?? null, ...(typeof token.role === 'string' ? { role: token.role } : {}) };
      } catch (cause) {
        const code = typeof cause === 'object' && cause !== null && 'code' in cause ? String(cause.code) : '';
        if (code.includes('revoked') || code.includes('expired') || code.includes('argument') || code.includes('invalid') || code.includes('user-not-found') || code.includes('user-disabled')) {
          // A stable reason (a client refreshes an expired token, signs in again otherwise); not the library's text.
          const reason = code.includes('expired') ? 'expired' : code.includes('revoked') ? 'revoked' : code.includes('disabled') ? 'user-disabled' : code.includes('not-found') ? 'user-not-found' : 'invalid';
          throw new HttpError(401, 'UNAUTHENTICATED', `the ID token was refused (${reason})`, { reason });
        }
        // Anything else (e.g. the key endpoint unreachable) is not the caller's fault. The cause is
        // logged by the API (it is this error's cause), never returned.
        throw new HttpError(503, 'AUTH_UNAVAILABLE', 'could not verify the ID token right now', undefined, cause);
      }
    },
  };
}
