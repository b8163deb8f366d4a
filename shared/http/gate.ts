/**
 * A gate in front of functions-framework's Express app. The framework registers its body parsers
 * (JSON, text, urlencoded, raw `*\/*`; inflating gzip/deflate/br; 1 GiB limit) as the app's first
 * middleware, with no option to turn them off, and it creates that app only after loading the
 * function's module. Express copies `express.application`'s methods onto each app when it is created,
 * so wrapping `express.application.handle` here, at module load, puts this gate before every
 * middleware the framework adds. It is the only place such a gate can sit: in production too the
 * function runs inside the framework (Cloud Functions gen2 starts it).
 *
 * Two modes:
 * - `deferred` (the HTTP API): the framework's parsers never see a body (the framing headers are
 *   moved out of their sight); the handler authenticates first and only then reads the body itself,
 *   capped, with `readJsonBody` from the original headers.
 * - `json` (Pub/Sub push functions): the gate reads and parses the JSON body itself, capped and
 *   uncompressed, before the framework runs, which then finds the body already consumed.
 * In both, anything Express would answer itself (an undecodable path, no route) gets a JSON error
 * instead of its HTML page with a stack trace.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import express from 'express';
import { HttpError } from '../errors/index.js';
import { logger } from '../logger/index.js';
import { hasBody, readJsonBody } from './body.js';
import { problemBody, PROBLEM_CONTENT_TYPE } from './problem.js';

const FRAMING = Symbol('scriptorium.bodyFraming');
const CONSUMED = Symbol('scriptorium.bodyConsumed');

type Gated = IncomingMessage & { [FRAMING]?: IncomingHttpHeaders; [CONSUMED]?: boolean; body?: unknown };

/** The request's headers as they arrived (framing headers included, even once hidden from the framework). */
export function originalHeaders(req: IncomingMessage): IncomingHttpHeaders {
  const saved = (req as Gated)[FRAMING];
  return saved ? { ...req.headers, ...saved } : req.headers;
}

/** Hides Content-Length/Transfer-Encoding from body parsers (they skip requests "without a body"). */
function hideFraming(req: Gated): void {
  if (req[FRAMING]) return;
  const saved: IncomingHttpHeaders = {};
  for (const h of ['content-length', 'transfer-encoding'] as const) {
    if (req.headers[h] !== undefined) {
      saved[h] = req.headers[h];
      delete req.headers[h];
    }
  }
  req[FRAMING] = saved;
}

/**
 * Whether this request went through the gate. The gate works only if functions-framework builds its
 * app from the same `express` module this file patched (it does when the function's own dependency
 * is the framework that runs, as in Cloud Functions gen2 with the framework in package.json);
 * callers fail closed when it did not.
 */
export function passedGate(req: IncomingMessage): boolean {
  return (req as Gated)[FRAMING] !== undefined;
}

/** Marks the body as read by our code, so an answer need not close the connection to discard it. */
export function markBodyConsumed(req: IncomingMessage): void {
  (req as Gated)[CONSUMED] = true;
}

/**
 * Sends a JSON error. A body that was never read is not drained: the connection is closed after the
 * answer instead, so a client streaming a huge body is cut off rather than read.
 */
export function sendJsonError(req: IncomingMessage, res: ServerResponse, err: HttpError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify(problemBody(err.status, err.code, err.message, err.details));
  res.statusCode = err.status;
  res.setHeader('content-type', PROBLEM_CONTENT_TYPE);
  res.setHeader('cache-control', 'no-store');
  res.setHeader('x-content-type-options', 'nosniff');
  if (hasBody(originalHeaders(req)) && !(req as Gated)[CONSUMED]) res.setHeader('connection', 'close');
  res.end(body);
}

/** Express's own failures (no route, an undecodable path parameter) as JSON; details only to the log. */
function finalHandler(req: IncomingMessage, res: ServerResponse): (err?: unknown) => void {
  return (err?: unknown) => {
    if (err === undefined || err === null || err === 'route' || err === 'router') {
      sendJsonError(req, res, new HttpError(404, 'NOT_FOUND', 'no such route'));
      return;
    }
    if (err instanceof HttpError) {
      sendJsonError(req, res, err);
      return;
    }
    const status = typeof err === 'object' && 'status' in err && typeof err.status === 'number' ? err.status : 500;
    // A client's malformed request is a warning; anything else is ours.
    const fields = { err, method: req.method, url: req.url?.slice(0, 200) };
    if (status < 500) logger.warn('request failed before the function ran', fields);
    else logger.error('request failed before the function ran', fields);
    sendJsonError(req, res, status >= 400 && status < 500 ? new HttpError(400, 'BAD_REQUEST', 'the request could not be read') : new HttpError(500, 'INTERNAL', 'internal error'));
  };
}

export type GateMode = { readonly kind: 'deferred' } | { readonly kind: 'json'; readonly maxBytes: number };

type Handle = (this: unknown, req: IncomingMessage, res: ServerResponse, callback?: (err?: unknown) => void) => void;

let installed: GateMode | undefined;

/** Installs the gate for this process (once; a function process serves one function). */
export function installRequestGate(mode: GateMode): void {
  if (installed) {
    if (installed.kind !== mode.kind) throw new Error(`request gate already installed as ${installed.kind}`);
    return;
  }
  installed = mode;
  const proto = express.application as unknown as { handle: Handle };
  const original = proto.handle;
  proto.handle = function gatedHandle(this: unknown, req, res, callback) {
    const done = callback ?? finalHandler(req, res);
    const gated = req as Gated;
    if (mode.kind === 'deferred') {
      hideFraming(gated);
      original.call(this, req, res, done);
      return;
    }
    // The framework answers a failed event function with the error's message as the body: a JSON
    // type set here (before anything else may set one) keeps that answer JSON too.
    res.setHeader('content-type', 'application/json; charset=utf-8');
    // Pushes are POSTs with a JSON body; anything else would only reach the framework's middleware
    // with no body to convert (a TypeError and a 500 there).
    if (req.method !== 'POST') {
      sendJsonError(req, res, new HttpError(405, 'METHOD_NOT_ALLOWED', 'push deliveries are POST requests'));
      return;
    }
    if (!hasBody(req.headers)) {
      sendJsonError(req, res, new HttpError(400, 'MALFORMED_BODY', 'a push delivery has a JSON body'));
      return;
    }
    readJsonBody(req, mode.maxBytes).then(
      (body) => {
        markBodyConsumed(req);
        hideFraming(gated);
        gated.body = body;
        original.call(this, req, res, done);
      },
      (err: unknown) => {
        if (err instanceof HttpError) sendJsonError(req, res, err);
        else {
          logger.error('reading a request body failed', { err });
          sendJsonError(req, res, new HttpError(400, 'BAD_REQUEST', 'the request body could not be read'));
        }
      },
    );
  };
}
