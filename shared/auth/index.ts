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
        return { uid: token.uid, email: token.email ?? null };
      } catch (cause) {
        const code = typeof cause === 'object' && cause !== null && 'code' in cause ? String(cause.code) : '';
        if (code.includes('revoked') || code.includes('expired') || code.includes('argument') || code.includes('invalid') || code.includes('user-not-found') || code.includes('user-disabled')) {
          throw new HttpError(401, 'UNAUTHENTICATED', `invalid ID token (${code || 'rejected'})`);
        }
        // Anything else (e.g. the key endpoint unreachable) is not the caller's fault.
        throw new HttpError(503, 'AUTH_UNAVAILABLE', 'could not verify the ID token right now', { cause: String(cause) });
      }
    },
  };
}
