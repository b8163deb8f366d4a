/**
 * The HTTP API. Framework-free: `handleApi(request, deps)` takes a plain request and returns a plain
 * response, so it is tested without functions-framework; `index.ts` adapts Express to it. Routes
 * live in `routes/` (one module per area), listed in `routes/index.ts`.
 */
import { API_ROUTES } from '../../shared/api/contracts.js';
import { HttpError, isRetryable } from '../../shared/errors/index.js';
import { problemBody, PROBLEM_CONTENT_TYPE } from '../../shared/http/problem.js';
import { accessRefusal, defaultAccess } from '../../shared/auth/roles.js';
import { isUid } from '../../shared/ids.js';
import { json, projectsFor, type ApiDeps, type ApiRequest, type ApiResponse, type Method, type Route } from './http.js';
import { ROUTES } from './routes/index.js';

export type { ApiDeps, ApiRequest, ApiResponse } from './http.js';
export { jobIdFor, newDocumentId, versionJobId } from './routes/uploads.js';

function errorResponse(err: HttpError, requestId?: string): ApiResponse {
  return { status: err.status, headers: { 'content-type': PROBLEM_CONTENT_TYPE }, body: problemBody(err.status, err.code, err.message, err.details, requestId) };
}

function allowed(route: Route): string {
  return Object.keys(route.methods).join(', ');
}

async function dispatch(req: ApiRequest, deps: ApiDeps, routes: readonly Route[]): Promise<ApiResponse> {
  const method = req.method.toUpperCase();
  const path = req.path.replace(/\/+$/, '') || '/';
  if (path === API_ROUTES.health) {
    if (method !== 'GET') throw new HttpError(405, 'METHOD_NOT_ALLOWED', 'use GET');
    return json(200, { status: 'ok', project: deps.config.GOOGLE_CLOUD_PROJECT, bucket: deps.config.SCRIPTORIUM_BUCKET });
  }
  if (!path.startsWith('/v1/')) throw new HttpError(404, 'NOT_FOUND', 'no such route');

  const caller = await deps.verifier.verify(req.headers.authorization, req.headers['x-api-key']);
  // The uid goes into Firestore paths (`members/{uid}`): a token for an unusable uid is refused here.
  if (!isUid(caller.uid)) throw new HttpError(403, 'UNSUPPORTED_PRINCIPAL', 'this account cannot use the API: its user id is not supported');
  // Every route sees projects through the caller: its roleOf answers the caller's effective role.
  const scoped: ApiDeps = { ...deps, projects: projectsFor(deps.projects, caller) };

  // Ids are checked by the patterns before they reach a Firestore path; unknown, malformed and
  // not-yours all read as 404, so ids cannot be probed for existence or for their project.
  for (const route of routes) {
    const m = route.pattern.exec(path);
    if (!m) continue;
    const handler = route.methods[method as Method];
    if (!handler) throw new HttpError(405, 'METHOD_NOT_ALLOWED', `use ${allowed(route)}`);
    // A read-only key or a global viewer never reaches a handler that changes something.
    const refusal = accessRefusal(caller, route.access?.[method as Method] ?? defaultAccess(method));
    if (refusal) throw new HttpError(403, caller.apiKey ? 'INSUFFICIENT_SCOPE' : 'PERMISSION_DENIED', refusal);
    const params: Record<string, string> = {};
    for (const [k, v] of Object.entries(m.groups ?? {})) if (v !== undefined) params[k] = v;
    return handler({ req, caller, deps: scoped, params });
  }
  throw new HttpError(404, 'NOT_FOUND', 'no such route');
}

/** Handles one request; never throws (every failure becomes a problem+json response). */
export async function handleApi(req: ApiRequest, deps: ApiDeps, routes: readonly Route[] = ROUTES): Promise<ApiResponse> {
  const requestId = req.headers['x-request-id'];
  try {
    return await dispatch(req, deps, routes);
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
