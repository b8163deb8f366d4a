/**
 * A test client of the running stack, doing what a real client does: sign in against the Auth
 * emulator, ask the api function for a signed URL, PUT the bytes to it, then follow the job through
 * a Firestore listener until it ends.
 */
import { readFile } from 'node:fs/promises';
import { Firestore } from '@google-cloud/firestore';
import { CreateUploadResponseSchema, type CreateUploadResponse } from '../../shared/api/contracts.js';
import { JobSchema, isTerminal, type Job } from '../../shared/jobs/model.js';
import { DocumentSchema, type DocumentRecord } from '../../shared/firestore/documents.js';
import { toPlain } from '../../shared/firestore/client.js';
import type { LocalConfig } from '../../emulators/local-config.js';
import { fixturePath } from './paths.js';

/** An Identity Toolkit account call on the Auth emulator that answers with an ID token. */
async function idToken(cfg: LocalConfig, call: 'signInWithPassword' | 'signUp', email: string, password: string): Promise<string> {
  const res = await fetch(`http://${cfg.authEmulatorHost}/identitytoolkit.googleapis.com/v1/accounts:${call}?key=local`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password, returnSecureToken: true }),
  });
  const body = (await res.json()) as { idToken?: string };
  if (!res.ok || !body.idToken) throw new Error(`${call} failed: ${res.status} ${JSON.stringify(body)}`);
  return body.idToken;
}

export async function signIn(cfg: LocalConfig, email = cfg.demoUser.email, password = cfg.demoUser.password): Promise<string> {
  return idToken(cfg, 'signInWithPassword', email, password);
}

/**
 * A new user, provisioned as an administrator does it (`POST /v1/users` as the demo admin), with a
 * global role (viewer by default) and no project membership; returns an ID token. There is no
 * public sign-up: an account made with the emulator's signUp alone is refused by the API
 * (see {@link signUpUnprovisioned}).
 */
export async function signUp(cfg: LocalConfig, email: string, password = 'password-123', role: 'admin' | 'editor' | 'viewer' = 'viewer'): Promise<string> {
  await provisionUser(cfg, email, role, password);
  return signIn(cfg, email, password);
}

/** Provisions a user through the admin API (as the demo admin); returns its uid. */
export async function provisionUser(cfg: LocalConfig, email: string, role: 'admin' | 'editor' | 'viewer', password = 'password-123'): Promise<string> {
  const res = await api(cfg, await signIn(cfg), 'POST', '/v1/users', { email, role, password });
  if (res.status !== 201) throw new Error(`provisioning ${email} failed: ${res.status} ${res.text}`);
  return (res.json as { uid: string }).uid;
}

/** What public sign-up would do: an Auth emulator account nobody provisioned (the API refuses it). */
export async function signUpUnprovisioned(cfg: LocalConfig, email: string, password = 'password-123'): Promise<string> {
  return idToken(cfg, 'signUp', email, password);
}

/** The code of a fetch failure's cause (undici wraps socket errors in a TypeError 'fetch failed'). */
function causeCode(err: unknown): string | undefined {
  const cause = err instanceof Error ? (err as Error & { cause?: unknown }).cause : undefined;
  return typeof cause === 'object' && cause !== null && 'code' in cause && typeof cause.code === 'string' ? cause.code : undefined;
}

export async function api(cfg: LocalConfig, token: string | null, method: string, route: string, body?: unknown): Promise<{ status: number; json: unknown; text: string }> {
  const send = () =>
    fetch(`${cfg.apiUrl}${route}`, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  let res: Response;
  try {
    res = await send();
  } catch (err) {
    // A kept-alive connection the server closed as idle just as it was reused: the request never
    // reached the handler (the server only closes idle connections), so sending it again is safe.
    if (causeCode(err) !== 'UND_ERR_SOCKET') throw new Error(`${method} ${route}: ${err instanceof Error ? err.message : String(err)} (${causeCode(err) ?? 'no cause code'})`, { cause: err });
    res = await send();
  }
  return readResponse(res);
}

/** A response's status, text, and JSON body (null when the body is not JSON). */
export async function readResponse(res: Response): Promise<{ status: number; json: unknown; text: string }> {
  const text = await res.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = null;
  }
  return { status: res.status, json, text };
}

export async function createUpload(cfg: LocalConfig, token: string, req: { fileName: string; contentType: string; size: number; projectId?: string; md5Hash?: string; crc32c?: string; documentId?: string; clientRequestId?: string }): Promise<CreateUploadResponse> {
  const res = await api(cfg, token, 'POST', '/v1/uploads', { projectId: cfg.projectId, ...req });
  if (res.status !== 201 && res.status !== 200) throw new Error(`createUpload: ${res.status} ${res.text}`);
  return CreateUploadResponseSchema.parse(res.json);
}

export async function putSigned(upload: CreateUploadResponse, body: Buffer): Promise<Response> {
  return fetch(upload.uploadUrl, { method: 'PUT', headers: upload.headers, body });
}

let db: Firestore | undefined;

/** An admin Firestore client on the emulator of the running stack (tests read past the rules). */
export function testFirestore(cfg: LocalConfig): Firestore {
  // The client reads the emulator host from the environment (and then sends the emulator's owner token).
  process.env.FIRESTORE_EMULATOR_HOST = cfg.firestoreEmulatorHost;
  db ??= new Firestore({ projectId: cfg.gcpProjectId, ignoreUndefinedProperties: true });
  return db;
}

/**
 * Follows `jobs/{id}` with a listener until it is terminal and (unless `settled` is false) its outcome
 * has been announced, i.e. no handler will write it again; every snapshot seen is returned too.
 */
export async function waitForJob(cfg: LocalConfig, jobId: string, timeoutMs = 120_000, settled = true, onListening?: () => void): Promise<{ job: Job; seen: Job[] }> {
  const seen: Job[] = [];
  const done = (job: Job): boolean => isTerminal(job.status) && (job.announced || !settled);
  return new Promise((resolve, reject) => {
    // Besides the listener, a plain read every few seconds: with many listeners open at once the
    // emulator has been seen to leave one without the last update of its document.
    const poll = setInterval(() => {
      testFirestore(cfg)
        .doc(`jobs/${jobId}`)
        .get()
        .then((snap) => {
          if (!snap.exists) return;
          const job = JobSchema.parse({ ...(toPlain(snap.data()) as object), id: jobId });
          if (done(job)) {
            seen.push(job);
            finish();
            resolve({ job, seen });
          }
        })
        .catch(() => undefined);
    }, 5_000);
    const finish = (): void => {
      clearTimeout(timer);
      clearInterval(poll);
      unsubscribe();
    };
    const timer = setTimeout(() => {
      finish();
      reject(new Error(`job ${jobId} not terminal after ${timeoutMs} ms; last: ${JSON.stringify(seen.at(-1))}`));
    }, timeoutMs);
    const unsubscribe = testFirestore(cfg)
      .doc(`jobs/${jobId}`)
      .onSnapshot(
        (snap) => {
          onListening?.();
          if (!snap.exists) return;
          const job = JobSchema.parse({ ...(toPlain(snap.data()) as object), id: jobId });
          seen.push(job);
          if (done(job)) {
            finish();
            resolve({ job, seen });
          }
        },
        (err) => {
          finish();
          reject(err);
        },
      );
  });
}

export async function getDocument(cfg: LocalConfig, documentId: string): Promise<DocumentRecord> {
  const snap = await testFirestore(cfg).doc(`documents/${documentId}`).get();
  return DocumentSchema.parse({ ...(toPlain(snap.data()) as object), id: documentId });
}

/** Reads a fixture (see test/fixtures/SOURCES.md). */
export async function fixture(relative: string): Promise<Buffer> {
  return readFile(fixturePath(relative));
}

/** Uploads a file through the whole client flow and waits for the job to end. */
export async function uploadAndWait(cfg: LocalConfig, token: string, fileName: string, body: Buffer, contentType: string): Promise<{ upload: CreateUploadResponse; job: Job; seen: Job[]; document: DocumentRecord; putStatus: number }> {
  const upload = await createUpload(cfg, token, { fileName, contentType, size: body.length });
  // The listener is in place before the upload, so it sees every stage, even of a fast job.
  let listening: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (listening = resolve));
  const waiting = waitForJob(cfg, upload.jobId, 120_000, true, listening);
  await ready;
  const put = await putSigned(upload, body);
  if (!put.ok) {
    waiting.catch(() => undefined);
    throw new Error(`signed PUT failed: ${put.status} ${await put.text()}`);
  }
  const { job, seen } = await waiting;
  return { upload, job, seen, document: await getDocument(cfg, upload.documentId), putStatus: put.status };
}

/** Structured log entries a function of the running stack wrote (its stdout log file). */
export async function functionLog(cfg: LocalConfig, fn: string): Promise<Record<string, unknown>[]> {
  const raw = await readFile(`${cfg.logsDir}/function-${fn}.log`, 'utf8');
  return raw
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** The outcome a function logged for one pushed message (its eventId is the Pub/Sub messageId). */
export async function outcomeOf(cfg: LocalConfig, fn: string, messageId: string): Promise<Record<string, unknown> | undefined> {
  const entry = (await functionLog(cfg, fn)).find((e) => e.eventId === messageId && typeof e.outcome === 'object');
  return entry?.outcome as Record<string, unknown> | undefined;
}
