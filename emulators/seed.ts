/**
 * Demo data for a local stack: a demo user in the Auth emulator and the demo Scriptorium project,
 * with that user as its admin, in the Firestore emulator. Idempotent: a restart (or a persisted
 * stack) reuses the user and refreshes the project.
 */
import { Firestore } from '@google-cloud/firestore';
import { FieldValue } from '@google-cloud/firestore';
import { USERS_COLLECTION } from '../shared/auth/users.js';
import { ProjectRepository } from '../shared/firestore/projects.js';

/** The seeded Scriptorium project id (the CLI's default `--project`). */
export const DEMO_PROJECT_ID = 'demo';
/** Display name of the demo project. */
export const DEMO_PROJECT_NAME = 'Demo project';
/** Fixed uid, so a fresh stack and a persisted one agree on who the demo user is. */
export const DEMO_USER_UID = 'demo-user';
/** The demo user's sign-in e-mail. */
export const DEMO_USER_EMAIL = 'demo@scriptorium.local';
/** Local-only password (the Auth emulator holds no real accounts). */
export const DEMO_USER_PASSWORD = 'scriptorium-demo';
/**
 * The demo user is a global admin (the `role` claim and `users/{uid}`): it provisions every other
 * user through the API, as an operator does in production.
 */
export const DEMO_USER_ROLE = 'admin';
const DEMO_CLAIMS = JSON.stringify({ role: DEMO_USER_ROLE });

/** Where to seed. */
export interface SeedTarget {
  readonly gcpProjectId: string;
  /** `host:port` of the Auth emulator. */
  readonly authEmulatorHost: string;
  /** `host:port` of the Firestore emulator. */
  readonly firestoreEmulatorHost: string;
}

/** The seeded demo user. */
export interface DemoUser {
  readonly uid: string;
  readonly email: string;
  readonly password: string;
}

interface LookupResponse {
  users?: { localId: string; email?: string }[];
}

/**
 * Calls the Auth emulator's admin REST API (the Identity Toolkit API as firebase-admin uses it).
 * `Bearer owner` is the emulator's admin credential; it spares us firebase-admin, which only finds
 * the emulator through `process.env` (and this runs inside test processes too).
 */
async function authAdmin<T>(target: SeedTarget, method: string, body: unknown): Promise<T> {
  const url = `http://${target.authEmulatorHost}/identitytoolkit.googleapis.com/v1/projects/${target.gcpProjectId}/${method}`;
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer owner' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`Auth emulator ${method} failed: HTTP ${res.status} ${text}`);
  return JSON.parse(text) as T;
}

/**
 * Creates the demo user, or reuses it (resetting its e-mail, password and claims) when one with its
 * e-mail or its uid exists. Looked up by both: an account imported from a persisted platform was
 * once found by its uid but not by its e-mail right after the emulator started (its create then
 * failed DUPLICATE_LOCAL_ID and the restart with it).
 */
export async function ensureDemoUser(target: SeedTarget): Promise<DemoUser> {
  const byEmail = await authAdmin<LookupResponse>(target, 'accounts:lookup', { email: [DEMO_USER_EMAIL] });
  const existing = byEmail.users?.[0] ?? (await authAdmin<LookupResponse>(target, 'accounts:lookup', { localId: [DEMO_USER_UID] })).users?.[0];
  if (existing) {
    await authAdmin(target, 'accounts:update', { localId: existing.localId, email: DEMO_USER_EMAIL, password: DEMO_USER_PASSWORD, emailVerified: true, customAttributes: DEMO_CLAIMS, disableUser: false });
    return { uid: existing.localId, email: DEMO_USER_EMAIL, password: DEMO_USER_PASSWORD };
  }
  const created = await authAdmin<{ localId: string }>(target, 'accounts', {
    localId: DEMO_USER_UID,
    email: DEMO_USER_EMAIL,
    password: DEMO_USER_PASSWORD,
    emailVerified: true,
    displayName: 'Demo User',
  });
  await authAdmin(target, 'accounts:update', { localId: created.localId, customAttributes: DEMO_CLAIMS });
  return { uid: created.localId, email: DEMO_USER_EMAIL, password: DEMO_USER_PASSWORD };
}

/** A Firestore client for the emulator, without touching `process.env` (admin: rules do not apply). */
export function emulatorFirestore(gcpProjectId: string, firestoreEmulatorHost: string): Firestore {
  const [host, port] = firestoreEmulatorHost.split(':');
  // ssl: false makes the client send `Bearer owner`, the emulator's admin identity.
  return new Firestore({ projectId: gcpProjectId, host, port: Number(port), ssl: false, ignoreUndefinedProperties: true });
}

/** The demo project with `user` as its admin (Firestore only: the user may not exist yet). */
export async function seedDemoProject(target: Pick<SeedTarget, 'gcpProjectId' | 'firestoreEmulatorHost'>, user: Pick<DemoUser, 'uid' | 'email'>): Promise<void> {
  const db = emulatorFirestore(target.gcpProjectId, target.firestoreEmulatorHost);
  try {
    await new ProjectRepository(db).ensureProject(DEMO_PROJECT_ID, DEMO_PROJECT_NAME, { uid: user.uid, email: user.email });
    // Provisioned as a global admin (the API refuses accounts without a users/{uid} record).
    await db.collection(USERS_COLLECTION).doc(user.uid).set({ email: user.email, role: DEMO_USER_ROLE, disabled: false, createdBy: null, createdAt: FieldValue.serverTimestamp(), updatedAt: FieldValue.serverTimestamp() }, { merge: true });
  } finally {
    await db.terminate();
  }
}

/** Seeds the demo user and the demo project; returns the user. */
export async function seed(target: SeedTarget): Promise<DemoUser> {
  const user = await ensureDemoUser(target);
  await seedDemoProject(target, user);
  return user;
}
