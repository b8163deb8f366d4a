/**
 * The HTTP API. Framework-free: `handleApi(request, deps)` takes a plain request and returns a plain
 * response, so it is tested without functions-framework; `index.ts` adapts Express to it. Routes
 * live in `routes/` (one module per area), listed in `routes/index.ts`.
 */
import { randomUUID } from 'node:crypto';
import { API_ROUTES } from '../../shared/api/contracts.js';
import { RATE_LIMIT_DEFAULTS } from '../../shared/config/index.js';
import { HttpError, isRetryable } from '../../shared/errors/index.js';
import { problemBody, PROBLEM_CONTENT_TYPE } from '../../shared/http/problem.js';
import { RateLimiter } from '../../shared/http/rate-limit.js';
import { accessRefusal, defaultAccess } from '../../shared/auth/roles.js';
import { isUid } from '../../shared/ids.js';
import type { Principal } from '../../shared/auth/index.js';
import { json, projectsFor, type ApiDeps, type ApiRequest, type ApiResponse, type Method, type Route } from './http.js';
import { openApiDocument } from './openapi.js';
import { ROUTES } from './routes/index.js';

export type { ApiDeps, ApiRequest, ApiResponse } from './http.js';
export { jobIdFor, newDocumentId, versionJobId } from './routes/uploads.js';

/** The API's version in its OpenAPI document (the path prefix `/v1` is its major). */
export const API_VERSION = '1.0.0';
export const OPENAPI_PATH = '/v1/openapi.json';

/** Generated once per route table (per instance), on the first request for it. */
const openApiCache = new WeakMap<readonly Route[], Record<string, unknown>>();

function errorResponse(err: HttpError, requestId?: string): ApiResponse {
  const headers: Record<string, string> = { 'content-type': PROBLEM_CONTENT_TYPE };
  const retryAfter = (err.details as { retryAfterSeconds?: unknown } | undefined)?.retryAfterSeconds;
  if (err.status === 429 && typeof retryAfter === 'number') headers['retry-after'] = String(retryAfter);
  return { status: err.status, headers, body: problemBody(err.status, err.code, err.message, err.details, requestId) };
}

function rateLimited(retryAfterSeconds: number, message: string): HttpError {
  return new HttpError(429, 'RATE_LIMITED', message, { retryAfterSeconds });
}

interface Limiters {
  readonly principal: RateLimiter;
  readonly authFailures: RateLimiter;
}

/** One set of limiters per distinct configuration (in practice one per instance). */
const limiters = new Map<string, Limiters>();

function limitersFor(config: ApiDeps['config']): Limiters {
  const perMinute = config.SCRIPTORIUM_RATE_LIMIT_PER_MINUTE ?? RATE_LIMIT_DEFAULTS.perMinute;
  const burst = config.SCRIPTORIUM_RATE_LIMIT_BURST ?? RATE_LIMIT_DEFAULTS.burst;
  const failures = config.SCRIPTORIUM_AUTH_FAILURES_PER_MINUTE ?? RATE_LIMIT_DEFAULTS.authFailuresPerMinute;
  const key = `${perMinute}/${burst}/${failures}`;
  let found = limiters.get(key);
  if (!found) {
    found = { principal: new RateLimiter({ perMinute, burst }), authFailures: new RateLimiter({ perMinute: failures, burst: failures }) };
    limiters.set(key, found);
  }
  return found;
}

function allowed(route: Route): string {
  return Object.keys(route.methods).join(', ');
}

/** A caller's `X-Request-Id` is kept when it is a sane token; otherwise one is made up. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function requestIdOf(req: Pick<ApiRequest, 'headers'>): string {
  const given = req.headers['x-request-id']?.trim();
  return given && REQUEST_ID.test(given) ? given : randomUUID();
}

async function dispatch(req: ApiRequest, deps: ApiDeps, routes: readonly Route[], requestId: string, who: { uid?: string }): Promise<ApiResponse> {
  const method = req.method.toUpperCase();
  const path = req.path.replace(/\/+$/, '') || '/';
  if (path === API_ROUTES.health) {
    if (method !== 'GET') throw new HttpError(405, 'METHOD_NOT_ALLOWED', 'use GET');
    return json(200, { status: 'ok', project: deps.config.GOOGLE_CLOUD_PROJECT, bucket: deps.config.SCRIPTORIUM_BUCKET });
  }
  if (path === OPENAPI_PATH) {
    if (method !== 'GET') throw new HttpError(405, 'METHOD_NOT_ALLOWED', 'use GET');
    let doc = openApiCache.get(routes);
    if (!doc) {
      doc = openApiDocument(routes, { version: API_VERSION });
      openApiCache.set(routes, doc);
    }
    return json(200, doc);
  }
  if (!path.startsWith('/v1/')) throw new HttpError(404, 'NOT_FOUND', 'no such route');

  const limits = limitersFor(deps.config);
  const address = `ip:${req.clientIp ?? 'unknown'}`;
  // An address that keeps presenting refused credentials is refused before verifying more of them.
  if (!limits.authFailures.peek(address)) throw rateLimited(60, 'too many refused credentials from this address; try again later');
  let caller: Principal;
  try {
    caller = await deps.verifier.verify(req.headers.authorization, req.headers['x-api-key']);
  } catch (err) {
    if (err instanceof HttpError && err.status === 401) limits.authFailures.take(address);
    throw err;
  }
  const taken = limits.principal.take(`uid:${caller.uid}`);
  if (!taken.allowed) throw rateLimited(taken.retryAfterSeconds, `rate limit of ${deps.config.SCRIPTORIUM_RATE_LIMIT_PER_MINUTE} requests per minute exceeded; retry after ${taken.retryAfterSeconds} s`);
  // The uid goes into Firestore paths (`members/{uid}`): a token for an unusable uid is refused here.
  if (!isUid(caller.uid)) throw new HttpError(403, 'UNSUPPORTED_PRINCIPAL', 'this account cannot use the API: its user id is not supported');
  // Every route sees projects through the caller: its roleOf answers the caller's effective role.
  const scoped: ApiDeps = { ...deps, projects: projectsFor(deps.projects, caller) };
  who.uid = caller.uid;

  // Ids are checked by the patterns before they reach a Firestore path; unknown, malformed and
  // not-yours all read as 404, so ids cannot be probed for existence or for their project.
  // Several modules may serve one path with different methods (documents: GET here, DELETE there):
  // the first route that matches and has the method wins; 405 only when none has it.
  const matched: Route[] = [];
  for (const route of routes) {
    const m = route.pattern.exec(path);
    if (!m) continue;
    matched.push(route);
    const handler = route.methods[method as Method];
    if (!handler) continue;
    // A read-only key or a global viewer never reaches a handler that changes something.
    const refusal = accessRefusal(caller, route.access?.[method as Method] ?? defaultAccess(method));
    if (refusal) throw new HttpError(403, caller.apiKey ? 'INSUFFICIENT_SCOPE' : 'PERMISSION_DENIED', refusal);
    // An operation documented without query parameters takes none: an unknown one is refused, as an
    // unknown body field is (a misspelt filter must not silently list everything).
    const doc = route.docs?.[method as Method];
    const queryKeys = Object.keys(req.query ?? {});
    if (doc && !doc.query && queryKeys.length > 0) {
      throw new HttpError(400, 'INVALID_ARGUMENT', 'invalid query: this operation takes no query parameters', { _request: [`unknown query parameter(s): ${queryKeys.slice(0, 5).map((k) => k.slice(0, 40)).join(', ')}`] });
    }
    const params: Record<string, string> = {};
    for (const [k, v] of Object.entries(m.groups ?? {})) if (v !== undefined) params[k] = v;
    return handler({ req, caller, deps: scoped, params, requestId });
  }
  if (matched.length > 0) throw new HttpError(405, 'METHOD_NOT_ALLOWED', `use ${[...new Set(matched.flatMap((r) => allowed(r).split(', ')))].join(', ')}`);
  throw new HttpError(404, 'NOT_FOUND', 'no such route');
}

/**
 * Handles one request; never throws (every failure becomes a problem+json response). Every answer
 * carries `X-Request-Id` (the caller's, or a new one) and one log line names it.
 */
export async function handleApi(req: ApiRequest, deps: ApiDeps, routes: readonly Route[] = ROUTES): Promise<ApiResponse> {
  const requestId = requestIdOf(req);
  const started = Date.now();
  const who: { uid?: string } = {};
  const out = await answer(req, deps, routes, requestId, who);
  deps.log.info('request', { requestId, method: req.method, path: req.path, status: out.status, durationMs: Date.now() - started, ...(who.uid ? { uid: who.uid } : {}) });
  return { ...out, headers: { ...out.headers, 'x-request-id': requestId } };
}

async function answer(req: ApiRequest, deps: ApiDeps, routes: readonly Route[], requestId: string, who: { uid?: string }): Promise<ApiResponse> {
  try {
    return await dispatch(req, deps, routes, requestId, who);
  } catch (err) {
    if (err instanceof HttpError) {
      if (err.status >= 500) deps.log.error('request failed', { path: req.path, err, requestId });
      return errorResponse(err, requestId);
    }
    // The details go to the log, not to the caller.
    deps.log.error('unhandled error in api', { path: req.path, err, requestId });
    return errorResponse(new HttpError(isRetryable(err) ? 503 : 500, 'INTERNAL', isRetryable(err) ? 'temporarily unavailable, try again' : 'internal error'), requestId);
  }
}
