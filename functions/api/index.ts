/** Registration only: adapts functions-framework's Express request to {@link handleApi}. */
import * as ff from '@google-cloud/functions-framework';
import { MAX_API_BODY_BYTES } from '../../shared/api/contracts.js';
import { createFirebaseVerifier, type TokenVerifier } from '../../shared/auth/index.js';
import { hasBody, readJsonBody } from '../../shared/http/body.js';
import { problemBody, PROBLEM_CONTENT_TYPE } from '../../shared/http/problem.js';
import { installRequestGate, markBodyConsumed, originalHeaders, passedGate } from '../../shared/http/gate.js';
import { getRuntime } from '../../shared/runtime/index.js';
import { batchedReads } from '../../shared/firestore/reads.js';
import { DocumentRepository } from '../../shared/firestore/documents.js';
import { JobRepository } from '../../shared/firestore/jobs.js';
import { ProjectRepository } from '../../shared/firestore/projects.js';
import { corsHeaders } from './cors.js';
import { handleApi, requestIdOf, type ApiDeps } from './handler.js';

// Before the framework builds its app: its body parsers must never read an API request's body.
installRequestGate({ kind: 'deferred' });

let deps: ApiDeps | undefined;
let verifier: TokenVerifier | undefined;

function apiDeps(): ApiDeps {
  if (deps) return deps;
  const rt = getRuntime();
  // Requests answered at once read their documents together: the caller's record, the resource,
  // the membership of many requests go out as one getAll per event-loop turn (shared/firestore/reads.ts).
  const reads = batchedReads(rt.db);
  verifier ??= createFirebaseVerifier(rt.config.GOOGLE_CLOUD_PROJECT, { db: rt.db, log: rt.log, reads });
  deps = { ...rt, documents: new DocumentRepository(rt.db, reads), projects: new ProjectRepository(rt.db, reads), jobs: new JobRepository(rt.db, reads), reads, verifier };
  return deps;
}

/**
 * The caller's address. Behind Google's front end (Cloud Run, Cloud Functions) the socket is the
 * front end's and X-Forwarded-For ends with the client's address as Google saw it; locally there is
 * no proxy and the socket is the client.
 */
function clientAddress(headers: Record<string, string | undefined>, socket: string | undefined): string {
  const forwarded = headers['x-forwarded-for']?.split(',').map((h) => h.trim()).filter((h) => h.length > 0);
  return (process.env.K_SERVICE && forwarded && forwarded.length > 0 ? forwarded[forwarded.length - 1] : socket) ?? 'unknown';
}

ff.http('api', async (req, res) => {
  if (!passedGate(req)) {
    // The framework's body parsers ran before us (another express instance): never serve like that.
    apiDeps().log.error('request gate not in front of the framework: refusing requests');
    res.status(500).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(problemBody(500, 'INTERNAL', 'internal error')));
    return;
  }
  const raw = originalHeaders(req);
  const headers: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(raw)) headers[k] = Array.isArray(v) ? v.join(', ') : v;
  // CORS: browsers call the API directly from the origins the config allows (authorisation is the
  // bearer token, not cookies); any other origin gets no CORS headers, so its browser refuses.
  const cors = corsHeaders(apiDeps().config.SCRIPTORIUM_CORS_ORIGINS, headers.origin, req.method === 'OPTIONS');
  res.set('Vary', 'Origin');
  for (const [k, v] of Object.entries(cors)) res.set(k, v);
  if (req.method === 'OPTIONS') {
    const requestId = requestIdOf({ headers });
    res.set('X-Request-Id', requestId);
    // A preflight has no body to read; if one was sent anyway it is not drained.
    res.set('Connection', 'close');
    apiDeps().log.info('preflight', { requestId, path: req.path, origin: headers.origin ?? null, allowed: Object.keys(cors).length > 0 });
    res.status(Object.keys(cors).length > 0 ? 204 : 403).send('');
    return;
  }
  let consumed = false;
  const readBody = async (maxBytes = MAX_API_BODY_BYTES): Promise<unknown> => {
    const body = await readJsonBody(req, maxBytes, raw);
    consumed = true;
    markBodyConsumed(req);
    return body;
  };
  // Only plain string parameters (Express parses `a[b]=c` into objects: those are ignored).
  const query: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.query)) if (typeof v === 'string') query[k] = v;
  const out = await handleApi({ method: req.method, path: req.path, headers, readBody, query, clientIp: clientAddress(headers, req.socket.remoteAddress) }, apiDeps());
  res.status(out.status);
  res.set('Cache-Control', 'no-store');
  res.set('X-Content-Type-Options', 'nosniff');
  for (const [k, v] of Object.entries(out.headers ?? {})) res.set(k, v);
  // A body nobody read (a refused or unauthenticated request, a GET with a body) is not drained:
  // the connection closes after the answer, so a client streaming gigabytes is cut off.
  if (!consumed && hasBody(raw)) res.set('Connection', 'close');
  if (Buffer.isBuffer(out.body) || typeof out.body === 'string') res.send(out.body);
  else if (out.headers?.['content-type']) res.send(JSON.stringify(out.body));
  else res.json(out.body);
});
