/**
 * What every API route shares: the plain request/response the handler works on, its dependencies,
 * the route table's shape, and the helpers routes use to answer and to refuse.
 */
import type { Firestore } from '@google-cloud/firestore';
import { z } from 'zod';
import type { TokenVerifier, Caller } from '../../shared/auth/index.js';
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
  readonly config: Pick<Config, 'GOOGLE_CLOUD_PROJECT' | 'SCRIPTORIUM_BUCKET' | 'SCRIPTORIUM_MAX_UPLOAD_BYTES' | 'SCRIPTORIUM_SIGNED_URL_TTL_SECONDS' | 'SCRIPTORIUM_EMBEDDING_ENGINE' | 'SCRIPTORIUM_EMBEDDING_MODEL'> &
    Partial<Pick<Config, 'SCRIPTORIUM_TTS_ENGINE' | 'SCRIPTORIUM_TTS_VOICE' | 'SCRIPTORIUM_TTS_LANGUAGE' | 'SCRIPTORIUM_TTS_ENDPOINT' | 'SCRIPTORIUM_TTS_MAX_CHARS'>>;
  readonly verifier: TokenVerifier;
  readonly db: Firestore;
  readonly projects: ProjectRepository;
  readonly documents: DocumentRepository;
  readonly jobs: JobRepository;
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
}

/** One operation's documentation, built from the same zod schemas the route uses. */
export interface OperationDoc {
  readonly summary: string;
  readonly tag?: string;
  /** The JSON request body's schema. */
  readonly body?: z.ZodType;
  /** The query parameters (an object of string-typed fields). */
  readonly query?: z.ZodObject;
  /** The success answer: its status (default 200) and JSON schema, or a non-JSON content type. */
  readonly status?: number;
  readonly response?: z.ZodType;
  readonly responseType?: string;
  /** Error statuses the operation answers with (problem+json), beyond 400/401/403/404/429/500 common to all. */
  readonly errors?: readonly number[];
}

/** An id grammar (anchored `^…$` RegExp) as a named group for a route pattern. */
export function idGroup(name: string, grammar: RegExp): string {
  return `(?<${name}>${grammar.source.slice(1, -1)})`;
}

export async function requireRole(deps: ApiDeps, caller: Caller, projectId: string, allowed?: readonly Role[]): Promise<Role> {
  const role = await deps.projects.roleOf(projectId, caller.uid);
  // Not a member and no such project look the same from outside: no probing for project ids.
  if (role === null) throw new HttpError(403, 'PERMISSION_DENIED', `you are not a member of project ${projectId}`);
  if (allowed && !allowed.includes(role)) throw new HttpError(403, 'PERMISSION_DENIED', `role ${role} may not do this in project ${projectId}`);
  return role;
}

export function invalid(what: string, error: z.ZodError): HttpError {
  const flat = z.flattenError(error);
  // Field errors by field; errors of the request as a whole (not an object, unknown fields) under `_request`.
  return new HttpError(400, 'INVALID_ARGUMENT', `invalid ${what}`, flat.formErrors.length > 0 ? { ...flat.fieldErrors, _request: flat.formErrors } : flat.fieldErrors);
}

