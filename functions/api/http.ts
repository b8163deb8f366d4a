/**
 * What every API route shares: the plain request/response the handler works on, its dependencies,
 * the route table's shape, and the helpers routes use to answer and to refuse.
 */
import { createHash } from 'node:crypto';
import type { Firestore } from '@google-cloud/firestore';
import { z } from 'zod';
import type { Accounts } from '../../shared/auth/accounts.js';
import type { TokenVerifier, Caller } from '../../shared/auth/index.js';
import { effectiveRole, type Access } from '../../shared/auth/roles.js';
import type { Config } from '../../shared/config/index.js';
import { HttpError } from '../../shared/errors/index.js';
import type { DocumentRepository } from '../../shared/firestore/documents.js';
import type { JobRepository } from '../../shared/firestore/jobs.js';
import type { Publisher } from '../../shared/events/publisher.js';
import type { ProjectRepository } from '../../shared/firestore/projects.js';
import type { Role } from '../../shared/firestore/paths.js';
import type { Logger } from '../../shared/logger/index.js';
import type { SearchDeps } from '../../shared/search/search.js';
import type { StorageGateway } from '../../shared/storage/index.js';
import type { TextToSpeechEngine } from '../../shared/engines/tts/types.js';
import type { DocReader } from '../../shared/firestore/reads.js';

export interface ApiRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string | undefined>>;
  /**
   * Reads and parses the JSON body (capped, uncompressed, UTF-8; HttpError otherwise). Called only
   * by routes that take a body, after the caller is authenticated: nothing else reads a byte of it.
   * `maxBytes` defaults to MAX_API_BODY_BYTES; a route taking long texts (speech) passes its own cap.
   */
  readonly readBody: (maxBytes?: number) => Promise<unknown>;
  /** The client's address (the first X-Forwarded-For hop behind Google's front end, else the socket's). */
  readonly clientIp?: string;
  /** The query string's parameters (first value of each). */
  readonly query?: Readonly<Record<string, string | undefined>>;
}

export interface ApiResponse {
  readonly status: number;
  readonly headers?: Record<string, string>;
  /** JSON-serialisable, or a Buffer/string sent as is with the given content type. */
  readonly body: unknown;
}

export interface ApiDeps {
  /** Rate limits are optional here (defaults apply): tests build deps with only what they exercise. */
  readonly config: Partial<Pick<Config, 'SCRIPTORIUM_RATE_LIMIT_PER_MINUTE' | 'SCRIPTORIUM_RATE_LIMIT_BURST' | 'SCRIPTORIUM_AUTH_FAILURES_PER_MINUTE'>> &
    Pick<Config, 'GOOGLE_CLOUD_PROJECT' | 'SCRIPTORIUM_BUCKET' | 'SCRIPTORIUM_MAX_UPLOAD_BYTES' | 'SCRIPTORIUM_SIGNED_URL_TTL_SECONDS' | 'SCRIPTORIUM_EMBEDDING_ENGINE' | 'SCRIPTORIUM_EMBEDDING_MODEL'> &
    Partial<Pick<Config, 'SCRIPTORIUM_CORS_ORIGINS'>> &
    Partial<Pick<Config, 'SCRIPTORIUM_TTS_ENGINE' | 'SCRIPTORIUM_TTS_VOICE' | 'SCRIPTORIUM_TTS_LANGUAGE' | 'SCRIPTORIUM_TTS_ENDPOINT' | 'SCRIPTORIUM_TTS_MAX_CHARS'>>;
  readonly verifier: TokenVerifier;
  readonly db: Firestore;
  readonly projects: ProjectRepository;
  readonly documents: DocumentRepository;
  readonly jobs: JobRepository;
  /** How other single documents (settings) are read; absent: one RPC each (the function batches: shared/firestore/reads.ts). */
  readonly reads?: DocReader;
  readonly storage: StorageGateway;
  /** Starts re-embeddings (text-ready events for the embed function) and announces expired uploads. */
  readonly publisher: Publisher;
  readonly log: Logger;
  readonly now?: () => Date;
  /**
   * Search's dependencies (Firestore and the query embedding engine). Absent: built from `db` on the
   * first search, with the engine the config names; its module and model load only then.
   */
  readonly search?: SearchDeps;
  /** Firebase Auth accounts for the users admin API (absent: built from the config on first use). */
  readonly accounts?: Accounts;
  /** The text-to-speech engine `GET /v1/voices` lists. Absent: the one the config names, made on first use. */
  readonly tts?: () => TextToSpeechEngine;
}

/** Roles that may create and change things in a project. */
export const UPLOAD_ROLES: readonly Role[] = ['admin', 'editor'];

export const json = (status: number, body: unknown): ApiResponse => ({ status, body });

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** What a route's handler gets: the request, the authenticated caller, the path's named groups. */
export interface RouteContext {
  readonly req: ApiRequest;
  readonly caller: Caller;
  readonly deps: ApiDeps;
  readonly params: Readonly<Record<string, string>>;
  /** The request's id (the caller's `X-Request-Id`, or one made up): echoed, logged, audited. */
  readonly requestId?: string;
}

/**
 * One path of the API. `pattern` matches the whole path (trailing slashes removed); its named
 * groups become `params`. Ids in patterns use the id grammars of shared/ids.ts, so nothing
 * malformed reaches a Firestore path. A path that matches with a method not listed gets 405.
 */
export interface Route {
  readonly pattern: RegExp;
  readonly methods: Partial<Record<Method, (ctx: RouteContext) => Promise<ApiResponse>>>;
  /** The path as an OpenAPI template (`/v1/documents/{id}`): the OpenAPI document is generated from the table. */
  readonly path?: string;
  /** Per method: what the OpenAPI document says about the operation (schemas are the zod ones the route validates with). */
  readonly docs?: Partial<Record<Method, OperationDoc>>;
  /**
   * Per method, whether the operation reads or changes (default: GET reads, every other method
   * changes). A read-only API key and a global viewer are refused every change before the handler runs.
   */
  readonly access?: Partial<Record<Method, Access>>;
}

/** One operation's documentation, built from the same zod schemas the route uses. */
export interface OperationDoc {
  readonly summary: string;
  readonly tag?: string;
  /** The JSON request body's schema. */
  readonly body?: z.ZodType;
  /** A valid request body (shown in the document; the bad-input suite breaks it one field at a time). */
  readonly example?: Record<string, unknown>;
  /** The query parameters (an object of string-typed fields). */
  readonly query?: z.ZodObject;
  /** The success answer: its status (default 200) and JSON schema, or a non-JSON content type. */
  readonly status?: number;
  readonly response?: z.ZodType;
  readonly responseType?: string;
  /** Error statuses the operation answers with (problem+json), beyond 400/401/403/404/429/500 common to all. */
  readonly errors?: readonly number[];
  /** A 303 See Other some requests get instead (to a signed URL), with its JSON body's schema. */
  readonly redirect?: { readonly description: string; readonly response: z.ZodType };
}

/** An id grammar (anchored `^…$` RegExp) as a named group for a route pattern. */
export function idGroup(name: string, grammar: RegExp): string {
  return `(?<${name}>${grammar.source.slice(1, -1)})`;
}

const RAW_PROJECTS = Symbol('raw project repository');

/**
 * The project repository as one principal sees it: `roleOf(p, principal.uid)` answers the role the
 * principal acts with (global admin, API key, capped member role: see `effectiveRole`), so every
 * route that asks the repository (`deps.projects.roleOf(doc.projectId, caller.uid)`) gets the same
 * answer as {@link requireRole}. Other uids, and every other method, go to the repository as is.
 */
export function projectsFor(projects: ProjectRepository, caller: Caller): ProjectRepository {
  const raw = rawProjects(projects);
  return new Proxy(raw, {
    get(target, prop, receiver) {
      if (prop === RAW_PROJECTS) return raw;
      if (prop === 'roleOf') return (projectId: string, uid: string) => (uid === caller.uid ? roleIn(raw, caller, projectId) : raw.roleOf(projectId, uid));
      const value: unknown = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

function rawProjects(projects: ProjectRepository): ProjectRepository {
  return (projects as unknown as Record<symbol, ProjectRepository | undefined>)[RAW_PROJECTS] ?? projects;
}

/** The role `caller` acts with in a project, or null (no access, or no such project). */
export async function roleIn(projects: ProjectRepository, caller: Caller, projectId: string): Promise<Role | null> {
  const raw = rawProjects(projects);
  // A key or a global admin needs the project to exist; a member's record implies it (the
  // member read alone answers the common case in one read).
  if (caller.apiKey) return effectiveRole(caller, projectId, null, caller.apiKey.projectId === projectId && (await raw.exists(projectId)));
  if (caller.globalRole === 'admin') return effectiveRole(caller, projectId, null, await raw.exists(projectId));
  return effectiveRole(caller, projectId, await raw.roleOf(projectId, caller.uid), true);
}

export async function requireRole(deps: ApiDeps, caller: Caller, projectId: string, allowed?: readonly Role[]): Promise<Role> {
  const role = await roleIn(deps.projects, caller, projectId);
  // Not a member and no such project look the same from outside: no probing for project ids.
  if (role === null) throw new HttpError(403, 'PERMISSION_DENIED', `you are not a member of project ${projectId}`);
  if (allowed && !allowed.includes(role)) throw new HttpError(403, 'PERMISSION_DENIED', `role ${role} may not do this in project ${projectId}`);
  return role;
}

/** Refuses anyone but a global administrator signed in as a user (API keys never administer). */
export function requireGlobalAdmin(caller: Caller): void {
  if (caller.authenticatedVia === 'apiKey' || caller.apiKey || caller.globalRole !== 'admin') throw new HttpError(403, 'PERMISSION_DENIED', 'only administrators may do this');
}

export function invalid(what: string, error: z.ZodError): HttpError {
  const flat = z.flattenError(error);
  // Field errors by field; errors of the request as a whole (not an object, unknown fields) under `_request`.
  return new HttpError(400, 'INVALID_ARGUMENT', `invalid ${what}`, flat.formErrors.length > 0 ? { ...flat.fieldErrors, _request: flat.formErrors } : flat.fieldErrors);
}


/**
 * The caller's role in a project for the project's own resources: a non-member (or no such
 * project) gets 404, like an unknown id, so project ids cannot be probed; a member whose role is not
 * in `allowed` gets 403.
 */
export async function projectRole(deps: ApiDeps, caller: Caller, projectId: string, allowed?: readonly Role[]): Promise<Role> {
  const role = await deps.projects.roleOf(projectId, caller.uid);
  if (role === null) throw new HttpError(404, 'NOT_FOUND', 'no such project');
  if (allowed && !allowed.includes(role)) throw new HttpError(403, 'PERMISSION_DENIED', `role ${role} may not do this in project ${projectId}`);
  return role;
}

/** JSON with object keys sorted at every level: the same record always hashes the same. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/**
 * A strong entity tag of a resource's representation (the JSON the API returns for it). Records
 * carry `updatedAt`, so every write changes it; the same record read twice gives the same tag.
 */
export function etagOf(representation: unknown): string {
  return `"${createHash('sha256').update(canonicalJson(representation)).digest('base64url').slice(0, 27)}"`;
}

/** A 200 (or `status`) JSON answer carrying the representation's `ETag`. */
export function jsonWithEtag(representation: unknown, status = 200): ApiResponse {
  return { status, headers: { etag: etagOf(representation) }, body: representation };
}

/**
 * Checks `If-Match` (RFC 9110 §13.1.1) against the current representation (`null`: the resource
 * does not exist). Absent header: the write goes ahead (If-Match is optional: clients that want
 * lost-update protection send it). `*` matches any existing resource. Otherwise the current strong
 * tag must be listed (weak tags never match): 412 PRECONDITION_FAILED, with the current tag, if not.
 * Call it inside the transaction that writes, on what that transaction read.
 */
export function checkIfMatch(req: ApiRequest, current: unknown): void {
  const header = req.headers['if-match'];
  if (header === undefined || header.trim() === '') return;
  const exists = current !== null && current !== undefined;
  if (header.trim() === '*') {
    if (!exists) throw new HttpError(412, 'PRECONDITION_FAILED', 'If-Match: * but the resource does not exist');
    return;
  }
  const tags = header.split(',').map((t) => t.trim()).filter((t) => t !== '');
  const tag = exists ? etagOf(current) : null;
  if (tag === null || !tags.includes(tag)) {
    throw new HttpError(412, 'PRECONDITION_FAILED', 'the resource changed since you read it (If-Match does not match its ETag): read it again and retry', tag ? { etag: tag } : undefined);
  }
}
