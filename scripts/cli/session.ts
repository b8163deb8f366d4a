/**
 * Where the CLI talks to: the local stack's config, the signed-in demo user (Auth emulator), the api
 * function (with typed errors, responses checked against the shared zod contracts) and Firestore
 * (client SDK, signed in, so the security rules decide what the user may read).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { readLocalConfig, localConfigPath, type LocalConfig } from '../../emulators/local-config.js';
import {
  API_ROUTES,
  ApiErrorSchema,
  CreateUploadResponseSchema,
  ReembedResponseSchema,
  SearchResponseSchema,
  type CreateUploadRequest,
  type ReembedRequest,
  type ReembedResponse,
  type CreateUploadResponse,
  type SearchRequest,
  type SearchResponse,
} from '../../shared/api/contracts.js';
import { AudioLinkResponseSchema, CreateJobResponseSchema, SPEECH_ROUTES, VoicesResponseSchema, type AudioLinkResponse, type CreateJobRequest, type CreateJobResponse, type VoicesResponse } from '../../shared/api/speech.js';
import { CliFailure } from './io.js';
import { ProjectUsageResponseSchema, usageRoute, type ProjectUsageResponse, type UsageQuery } from '../../shared/api/usage.js';
import { COLLECTIONS } from '../../shared/firestore/paths.js';
import { toDocumentView, toJobView, type DocumentView, type JobView } from './job-view.js';

/** The directory of the package (the first ancestor of this module with a package.json). */
function packageRoot(): string | null {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) return null;
    dir = up;
  }
}

/**
 * The config file to use: `--config`, else `SCRIPTORIUM_LOCAL_CONFIG`, else `.scriptorium/local.json`
 * in the working directory, else in the package (so the installed bin works from any directory).
 */
export function configPath(flag: string | undefined, env: Readonly<Record<string, string | undefined>>, cwd = process.cwd()): string {
  if (flag) return path.resolve(cwd, flag);
  if (env.SCRIPTORIUM_LOCAL_CONFIG) return path.resolve(cwd, env.SCRIPTORIUM_LOCAL_CONFIG);
  const here = localConfigPath(cwd);
  if (existsSync(here)) return here;
  const root = packageRoot();
  const there = root ? localConfigPath(root) : null;
  return there && existsSync(there) ? there : here;
}

/** Reads the local stack's config; any problem becomes a {@link CliFailure} naming the file. */
export function loadConfig(flag: string | undefined, env: Readonly<Record<string, string | undefined>>): LocalConfig {
  const file = configPath(flag, env);
  try {
    return readLocalConfig(file);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (!existsSync(file)) throw new CliFailure(message, 'NO_LOCAL_STACK');
    throw new CliFailure(`invalid local config ${file}: ${message}`, 'INVALID_CONFIG');
  }
}

/** `host:port` (or a URL) as an `http://` URL without a trailing slash. */
export function hostUrl(host: string): string {
  const url = /^https?:\/\//.test(host) ? host : `http://${host}`;
  return url.replace(/\/+$/, '');
}

/** Splits `host:port`, `[::1]:port` or `http://host:port` for `connectFirestoreEmulator`. */
export function splitHostPort(hostPort: string): { host: string; port: number } {
  const url = new URL(hostUrl(hostPort));
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  return { host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port };
}

/** An error answer of the api function (or none: `status` 0, code `UNREACHABLE` or `TIMEOUT`). */
export class ApiError extends Error {
  constructor(
    /** HTTP status; 0 when there was no answer. */
    readonly status: number,
    /** The API's error code (the problem's `code`), or `HTTP_<status>` / `UNREACHABLE` / `TIMEOUT` / `BAD_RESPONSE`. */
    readonly code: string,
    message: string,
    readonly details?: unknown,
    /** From a 429's (or 503's) `Retry-After`: how long the API asked us to wait, in ms. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  /** What went wrong with a request doing `action` ("create the upload"), for the user. */
  explain(action: string): string {
    if (this.status === 0) return `cannot ${action}: ${this.message}`;
    if (this.code === 'BAD_RESPONSE') return `cannot ${action}: ${this.message} (HTTP ${this.status})`;
    return `the api refused to ${action} (${this.describe()})`;
  }

  /** `HTTP 413 FILE_TOO_LARGE: message`. */
  describe(): string {
    return this.status ? `HTTP ${this.status} ${this.code}: ${this.message}` : `${this.code}: ${this.message}`;
  }
}

/**
 * What the CLI needs of a document record from `GET /v1/documents/:id` (the server's schema is
 * `DocumentSchema` in shared/firestore/documents.ts, which loads the server SDK, so it is not
 * imported here). Lenient where it can be: fields a record written before the intelligence stages
 * lacks read as null, and unknown fields are kept.
 */
export const ApiDocumentSchema = z
  .object({
    id: z.string(),
    status: z.string(),
    fileName: z.string().optional(),
    jobId: z.string().optional(),
    pageCount: z.number().nullable().optional(),
    language: z.string().nullable().optional(),
    chunkCount: z.number().int().nullable().default(null),
    embedding: z.object({ engine: z.string(), model: z.string(), dimensions: z.number().int() }).nullable().default(null),
    summary: z.object({ text: z.string(), engine: z.string(), model: z.string() }).nullable().default(null),
  })
  .loose();
export type ApiDocument = z.infer<typeof ApiDocumentSchema>;

/** `GET /v1/documents/:id/versions`, checked leniently (fields added later pass through). */
export const ApiVersionsSchema = z
  .object({
    documentId: z.string(),
    currentVersion: z.number().int(),
    latestVersion: z.number().int(),
    versions: z.array(
      z
        .object({
          version: z.number().int(),
          status: z.string(),
          fileName: z.string(),
          jobId: z.string(),
          createdAt: z.string().nullable().optional(),
          chunkCount: z.number().int().nullable().optional(),
          pageCount: z.number().int().nullable().optional(),
        })
        .loose(),
    ),
  })
  .loose();
export type ApiVersions = z.infer<typeof ApiVersionsSchema>;

/** Client of the api function's HTTP contract, authenticated with a Firebase ID token. */
export class ApiClient {
  constructor(
    private readonly baseUrl: string,
    /** Called per request: the SDK refreshes the token when it nears expiry. */
    private readonly idToken: () => Promise<string>,
    private readonly timeoutMs = 30_000,
    /** Waits before each retry of an idempotent request. */
    private readonly retryDelaysMs: readonly number[] = [300, 1000],
  ) {}

  /**
   * `POST /v1/uploads`: a document, its job and a signed URL to PUT the bytes to. With a
   * `clientRequestId` the request is idempotent, so transient failures (no answer, 429, 502–504)
   * are retried: a retry returns the same upload rather than creating a second one.
   */
  async createUpload(request: CreateUploadRequest): Promise<CreateUploadResponse> {
    const attempts = request.clientRequestId ? this.retryDelaysMs.length + 1 : 1;
    return this.retrying(attempts, async () => this.parse(await this.send('POST', API_ROUTES.createUpload, { body: JSON.stringify(request) }), CreateUploadResponseSchema));
  }

  /**
   * Runs `call` up to `attempts` times while it fails transiently, waiting `retryDelaysMs` between
   * tries, or longer when the API said how long (`Retry-After` on a 429), up to a minute.
   */
  private async retrying<T>(attempts: number, call: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await call();
      } catch (err) {
        if (!(err instanceof ApiError) || !isTransient(err) || attempt >= attempts) throw err;
        const wait = Math.min(60_000, Math.max(this.retryDelaysMs[attempt - 1] ?? 0, err.retryAfterMs ?? 0));
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }
  }

  /** `GET /v1/documents/:id`: the document record (checked leniently: see {@link ApiDocumentSchema}). */
  async document(documentId: string): Promise<ApiDocument> {
    const res = await this.send('GET', API_ROUTES.document(documentId), {});
    return this.parse(res, ApiDocumentSchema);
  }

  /** `POST /v1/search`: chunks of the project's documents matching a query, best first. Read-only, so retried when transient. */
  async search(request: SearchRequest): Promise<SearchResponse> {
    const attempts = this.retryDelaysMs.length + 1;
    return this.retrying(attempts, async () => this.parse(await this.send('POST', API_ROUTES.search, { body: JSON.stringify(request) }), SearchResponseSchema));
  }

  /** `GET /v1/documents/:id/versions`: every version of a document, oldest first. */
  async documentVersions(documentId: string): Promise<ApiVersions> {
    const res = await this.send('GET', API_ROUTES.documentVersions(documentId), {});
    return this.parse(res, ApiVersionsSchema);
  }

  /** `GET /v1/documents/:id/versions/:n/text`: the text extracted from one version. */
  async versionText(documentId: string, version: number): Promise<string> {
    const res = await this.send('GET', API_ROUTES.documentVersionText(documentId, version), { accept: 'text/plain' });
    return res.text();
  }

  /** `POST /v1/reembed`: re-embedding jobs for one page of the project's documents. Not retried (each call creates jobs). */
  async reembed(request: ReembedRequest): Promise<ReembedResponse> {
    const res = await this.send('POST', API_ROUTES.reembed, { body: JSON.stringify(request) });
    return this.parse(res, ReembedResponseSchema);
  }

  /** `GET /v1/documents/:id/transcript?format=…`: a recording's transcript in one of its formats. */
  async transcript(documentId: string, format: 'txt' | 'json' | 'srt' | 'vtt'): Promise<string> {
    const res = await this.send('GET', API_ROUTES.transcript(documentId, format), { accept: '*/*' });
    return res.text();
  }

  /** `GET /v1/projects/:id/usage`: the project's metered usage and estimated cost over a range of days. Read-only. */
  async projectUsage(projectId: string, query: UsageQuery): Promise<ProjectUsageResponse> {
    const res = await this.send('GET', usageRoute(projectId, query), {});
    return this.parse(res, ProjectUsageResponseSchema);
  }

  /** `GET /v1/documents/:id/translation?lang=&format=…`: a translated recording's subtitles or JSON, as bytes (the dubbed MP4 answers 303 to a signed URL: see the download route). */
  async translation(documentId: string, lang: string, format: 'vtt' | 'srt' | 'json'): Promise<Buffer> {
    const res = await this.send('GET', API_ROUTES.translation(documentId, lang, format), { accept: '*/*' });
    return Buffer.from(await res.arrayBuffer());
  }

  /** `GET /v1/documents/:id/text`: the extracted text. */
  async documentText(documentId: string): Promise<string> {
    const res = await this.send('GET', API_ROUTES.documentText(documentId), { accept: 'text/plain' });
    return res.text();
  }

  /**
   * Any other JSON route (job control, dead letters, users, API keys): `route` with its query
   * string, the answer checked against `schema`. Not retried: the caller knows whether its request
   * is idempotent.
   */
  async request<S extends z.ZodType>(method: string, route: string, schema: S, body?: unknown): Promise<z.infer<S>> {
    const res = await this.send(method, route, body === undefined ? {} : { body: JSON.stringify(body) });
    return this.parse(res, schema);
  }

  /**
   * A JSON request to any route (the resource commands: projects, members, documents, settings,
   * agents): the parsed answer (null for an empty one); ApiError on failure. Not retried.
   */
  async call(method: string, route: string, body?: unknown, headers: Record<string, string> = {}): Promise<unknown> {
    const res = await this.send(method, route, { ...(body === undefined ? {} : { body: JSON.stringify(body) }), headers });
    const text = await res.text();
    if (text === '') return null;
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new ApiError(res.status, 'BAD_RESPONSE', `the api answered with something that is not JSON: ${text.slice(0, 200)}`);
    }
  }

  /**
   * `POST /v1/jobs`: a text-to-speech job. With a `clientRequestId` the request is idempotent, so
   * transient failures are retried (a retry returns the same job).
   */
  async createSpeechJob(request: CreateJobRequest): Promise<CreateJobResponse> {
    const attempts = request.clientRequestId ? this.retryDelaysMs.length + 1 : 1;
    return this.retrying(attempts, async () => this.parse(await this.send('POST', SPEECH_ROUTES.jobs, { body: JSON.stringify(request) }), CreateJobResponseSchema));
  }

  /** `GET /v1/voices`: the configured text-to-speech engine's voices. */
  async voices(language?: string): Promise<VoicesResponse> {
    const res = await this.send('GET', SPEECH_ROUTES.voices(language), {});
    return this.parse(res, VoicesResponseSchema);
  }

  /** `GET /v1/jobs/:id/audio`: a short-lived signed download URL for a completed TTS job's audio. */
  async speechAudio(jobId: string): Promise<AudioLinkResponse> {
    const res = await this.send('GET', SPEECH_ROUTES.audio(jobId), {});
    return this.parse(res, AudioLinkResponseSchema);
  }

  private async send(method: string, route: string, opts: { body?: string; accept?: string; headers?: Record<string, string> }): Promise<Response> {
    const url = `${this.baseUrl.replace(/\/+$/, '')}${route}`;
    const headers: Record<string, string> = {
      authorization: `Bearer ${await this.idToken()}`,
      accept: opts.accept ?? 'application/json',
      ...opts.headers,
    };
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(url, { method, headers, body: opts.body, signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (err) {
      const timedOut = err instanceof Error && err.name === 'TimeoutError';
      throw new ApiError(0, timedOut ? 'TIMEOUT' : 'UNREACHABLE', `${timedOut ? 'no answer from' : 'cannot reach'} the api at ${url}: ${describeFetchError(err)}`);
    }
    if (!res.ok) throw await errorFrom(res);
    return res;
  }

  private async parse<S extends z.ZodType>(res: Response, schema: S): Promise<z.infer<S>> {
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new ApiError(res.status, 'BAD_RESPONSE', `the api answered with something that is not JSON: ${text.slice(0, 200)}`);
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      throw new ApiError(res.status, 'BAD_RESPONSE', `the api's answer does not match the contract (${summarizeIssues(parsed.error)})`);
    }
    return parsed.data;
  }
}

/**
 * Failures worth retrying: no connection, overload, gateway errors. Not a timeout: that request may
 * still be running, and waiting as long again helps nobody.
 */
export function isTransient(err: ApiError): boolean {
  return err.code === 'UNREACHABLE' || [429, 502, 503, 504].includes(err.status);
}

/** Zod issues on one line: `documentId: Invalid input; method: Invalid input` (the first few). */
export function summarizeIssues(error: z.ZodError): string {
  const shown = error.issues.slice(0, 4).map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`);
  if (error.issues.length > shown.length) shown.push(`${error.issues.length - shown.length} more`);
  return shown.join('; ');
}

/** The message of a failed `fetch` (undici puts the real reason, e.g. ECONNREFUSED, in `cause`). */
export function describeFetchError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  if (err.name === 'TimeoutError') return 'timed out';
  const cause: unknown = err.cause;
  if (cause instanceof Error) {
    const code = 'code' in cause && typeof cause.code === 'string' ? cause.code : null;
    return code && !cause.message.includes(code) ? `${code} ${cause.message}` : cause.message;
  }
  return err.message;
}

/** An {@link ApiError} from a non-2xx response: the contract's problem body (`code`, `detail`) if present. */
export async function errorFrom(res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => '');
  // Retry-After in seconds (the API's form; an HTTP date is not used by it).
  const retryAfter = Number(res.headers.get('retry-after') ?? '');
  const retryAfterMs = Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : undefined;
  try {
    const parsed = ApiErrorSchema.safeParse(JSON.parse(text));
    if (parsed.success) return new ApiError(res.status, parsed.data.code, parsed.data.detail, parsed.data.details, retryAfterMs);
  } catch {
    // Not JSON: fall through to the raw body.
  }
  return new ApiError(res.status, `HTTP_${res.status}`, text.trim().slice(0, 300) || res.statusText);
}

/** Called with a job's state on every change (`null` while the document does not exist). */
export type JobListener = (job: JobView | null) => void;

/** A signed-in connection to the local stack. Always {@link Session.close} it. */
export interface Session {
  readonly config: LocalConfig;
  /** Who is signed in (for messages). */
  readonly userEmail: string;
  readonly api: ApiClient;
  /** Listens to `jobs/{jobId}` (a Firestore listener: changes are pushed, not polled). Returns unsubscribe. */
  watchJob(jobId: string, onChange: JobListener, onError: (error: Error) => void): () => void;
  /** Reads `jobs/{jobId}` once; null when missing. Errors (e.g. permission-denied) are thrown. */
  getJob(jobId: string): Promise<JobView | null>;
  /** Reads `documents/{documentId}` once; null when missing. */
  getDocument(documentId: string): Promise<DocumentView | null>;
  /** Unsubscribes nothing by itself: stops the SDK (deleteApp) so the process can exit. */
  close(): Promise<void>;
}

/** Opens a {@link Session}; commands take one so tests can substitute a fake. */
export type SessionFactory = (config: LocalConfig) => Promise<Session>;

/** The `code` of an error, if any: Firebase (`permission-denied`) or Node (`ENOENT`). */
export function errorCode(err: unknown): string | null {
  return err !== null && typeof err === 'object' && 'code' in err && typeof err.code === 'string' ? err.code : null;
}

/**
 * The default {@link SessionFactory}: signs the demo user in on the Auth emulator and connects the
 * Firestore client SDK to the Firestore emulator.
 */
export const openFirebaseSession: SessionFactory = async (config) => {
  // Imported here, not at the top: the SDK takes a few hundred ms to load, which `health` and
  // `--help` should not pay.
  const [{ initializeApp, deleteApp }, authSdk, fs] = await Promise.all([import('firebase/app'), import('firebase/auth'), import('firebase/firestore')]);

  // Probe the Auth emulator first: when it is down the SDK's sign-in fails fast but leaves a 30 s
  // timer behind (which would hold the process), and this gives the clearer message anyway.
  const authUrl = hostUrl(config.authEmulatorHost);
  try {
    const res = await fetch(`${authUrl}/`, { signal: AbortSignal.timeout(5000) });
    await res.body?.cancel();
  } catch (err) {
    throw new CliFailure(`the Auth emulator at ${config.authEmulatorHost} does not answer (${describeFetchError(err)}): is the local stack running?`, 'SIGN_IN_FAILED');
  }

  // A unique app name per session: several sessions can live in one process (tests).
  const app = initializeApp(
    // The emulators accept any API key; the project id must be the emulators' project.
    { apiKey: 'demo-scriptorium-cli', projectId: config.gcpProjectId, authDomain: `${config.gcpProjectId}.firebaseapp.com` },
    `scriptorium-cli-${randomUUID()}`,
  );
  const { email, password } = config.demoUser;
  let token: () => Promise<string>;
  let db: import('firebase/firestore').Firestore;
  try {
    const auth = authSdk.getAuth(app);
    authSdk.connectAuthEmulator(auth, authUrl, { disableWarnings: true });
    let credential: import('firebase/auth').UserCredential;
    try {
      credential = await authSdk.signInWithEmailAndPassword(auth, email, password);
    } catch (err) {
      throw new CliFailure(`cannot sign in as ${email} on the Auth emulator at ${config.authEmulatorHost}: ${errorCode(err) ?? (err instanceof Error ? err.message : String(err))}`, 'SIGN_IN_FAILED');
    }
    const user = credential.user;
    token = () => user.getIdToken();
    db = fs.getFirestore(app);
    const { host, port } = splitHostPort(config.firestoreEmulatorHost);
    fs.connectFirestoreEmulator(db, host, port);
  } catch (err) {
    await deleteApp(app);
    throw err;
  }

  return {
    config,
    userEmail: email,
    api: new ApiClient(config.apiUrl, token),
    watchJob(jobId, onChange, onError) {
      return fs.onSnapshot(
        fs.doc(db, COLLECTIONS.jobs, jobId),
        (snap) => onChange(snap.exists() ? toJobView(jobId, snap.data()) : null),
        (err) => onError(err),
      );
    },
    async getJob(jobId) {
      const snap = await fs.getDoc(fs.doc(db, COLLECTIONS.jobs, jobId));
      return snap.exists() ? toJobView(jobId, snap.data()) : null;
    },
    async getDocument(documentId) {
      const snap = await fs.getDoc(fs.doc(db, COLLECTIONS.documents, documentId));
      return snap.exists() ? toDocumentView(documentId, snap.data()) : null;
    },
    async close() {
      // deleteApp terminates Firestore (closing its streams) and stops Auth's token refresh timer,
      // which would otherwise keep the process alive.
      await deleteApp(app);
    },
  };
};
