/**
 * Firebase Auth accounts as the admin API manages them (firebase-admin; the Auth emulator when
 * FIREBASE_AUTH_EMULATOR_HOST is set, Identity Platform in production). An interface, so the routes
 * name what they need and nothing else.
 */
import { getAuth } from 'firebase-admin/auth';
import { HttpError } from '../errors/index.js';
import { adminApp } from './index.js';
import type { GlobalRole } from './roles.js';

export interface Accounts {
  /** Creates the account; an existing e-mail answers the existing uid with `existed: true`. */
  create(fields: { email: string; password?: string | undefined }): Promise<{ uid: string; existed: boolean }>;
  /** Sets the `role` custom claim (new ID tokens carry it; old ones keep theirs until refreshed). */
  setRoleClaim(uid: string, role: GlobalRole): Promise<void>;
  setDisabled(uid: string, disabled: boolean): Promise<void>;
  setPassword(uid: string, password: string): Promise<void>;
  /** Revokes refresh tokens: ID tokens issued before now are refused by `verifyIdToken(…, true)`. */
  revokeSessions(uid: string): Promise<void>;
  /** A link the user sets their password with (no password was given at creation). */
  passwordResetLink(email: string): Promise<string | null>;
}

function codeOf(err: unknown): string {
  return typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : '';
}

export function createFirebaseAccounts(projectId: string): Accounts {
  const auth = () => getAuth(adminApp(projectId));
  const guard = async <T>(what: string, run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (err) {
      const code = codeOf(err);
      if (code === 'auth/user-not-found') throw new HttpError(404, 'NOT_FOUND', 'no such user');
      if (code === 'auth/invalid-password') throw new HttpError(400, 'INVALID_ARGUMENT', 'the password is too weak: at least 6 characters', { password: ['at least 6 characters'] });
      if (code === 'auth/invalid-email') throw new HttpError(400, 'INVALID_ARGUMENT', 'invalid e-mail address', { email: ['invalid e-mail address'] });
      throw new HttpError(503, 'AUTH_UNAVAILABLE', `could not ${what} right now`, undefined, err);
    }
  };
  return {
    create: (fields) =>
      guard('create the account', async () => {
        try {
          const user = await auth().createUser({ email: fields.email, ...(fields.password ? { password: fields.password } : {}) });
          return { uid: user.uid, existed: false };
        } catch (err) {
          if (codeOf(err) !== 'auth/email-already-exists') throw err;
          const user = await auth().getUserByEmail(fields.email);
          return { uid: user.uid, existed: true };
        }
      }),
    setRoleClaim: (uid, role) => guard('set the role claim', async () => auth().setCustomUserClaims(uid, { role })),
    setDisabled: (uid, disabled) => guard('update the account', async () => void (await auth().updateUser(uid, { disabled }))),
    setPassword: (uid, password) => guard('set the password', async () => void (await auth().updateUser(uid, { password }))),
    revokeSessions: (uid) => guard('revoke sessions', async () => auth().revokeRefreshTokens(uid)),
    passwordResetLink: (email) =>
      guard('make a password link', async () => {
        try {
          return await auth().generatePasswordResetLink(email);
        } catch (err) {
          // Production needs an authorised continue domain for links; the account exists anyway.
          if (codeOf(err).startsWith('auth/')) return null;
          throw err;
        }
      }),
  };
}
