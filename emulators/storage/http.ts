/**
 * Request/response plumbing shared by the JSON and XML APIs: the per-request context, bounded body
 * reading, and error rendering in the shape of the API that was called.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Notifier } from './notifications.js';
import type { Store } from './store.js';
import type { TrustedKey } from './signing.js';
import type { UploadSessions } from './uploads.js';
import { StorageApiError, jsonErrorBody, xmlErrorBody } from './errors.js';
import { parseQuery } from './signing.js';

export type Log = (entry: Record<string, unknown>) => void;

/** Everything a handler needs besides the request. */
export interface Emulator {
  readonly store: Store;
  readonly notifier: Notifier;
  readonly trusted: ReadonlyMap<string, TrustedKey>;
  readonly sessions: UploadSessions;
  readonly log: Log;
  /** Cap on one object's size, for every upload path. */
  readonly maxUploadBytes: number;
}

/** One request, parsed once. */
export class Ctx {
  readonly method: string;
  readonly rawPath: string;
  readonly rawQuery: string;
  readonly queryPairs: [string, string][];
  /** Set when the query string could not be decoded; routing reports it. */
  readonly queryError: StorageApiError | undefined;
  readonly headers: Map<string, string>;
  /** Scheme and host the client used to reach us (for selfLink, mediaLink, Location). */
  readonly baseUrl: string;
  /** Which error/response dialect to speak. */
  api: 'json' | 'xml' = 'json';

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    fallbackHost: string,
  ) {
    this.method = (req.method ?? 'GET').toUpperCase();
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    this.rawPath = q < 0 ? url : url.slice(0, q);
    this.rawQuery = q < 0 ? '' : url.slice(q + 1);
    let pairs: [string, string][] = [];
    let queryError: StorageApiError | undefined;
    try {
      pairs = parseQuery(this.rawQuery);
    } catch (e) {
      queryError = e instanceof StorageApiError ? e : new StorageApiError(400, 'invalid', 'InvalidArgument', 'Invalid query string.');
    }
    this.queryPairs = pairs;
    this.queryError = queryError;
    this.headers = new Map();
    // Join repeated headers with ',' (the canonical form signatures use), from the raw list so
    // Node's own joining rules do not interfere.
    for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
      const k = (req.rawHeaders[i] ?? '').toLowerCase();
      const v = req.rawHeaders[i + 1] ?? '';
      const prev = this.headers.get(k);
      this.headers.set(k, prev === undefined ? v : `${prev},${v}`);
    }
    this.baseUrl = `http://${this.headers.get('host') ?? fallbackHost}`;
  }

  /** First value of a query parameter. */
  q(name: string): string | undefined {
    return this.queryPairs.find(([k]) => k === name)?.[1];
  }

  header(name: string): string | undefined {
    return this.headers.get(name);
  }

  /** Declared body length, if any. */
  get contentLength(): number | undefined {
    const v = this.headers.get('content-length');
    return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
  }
}

/** Integer query/header parameter, 400 if malformed. */
export function intParam(value: string | undefined, name: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  if (!/^-?\d+$/.test(value)) throw new StorageApiError(400, 'invalid', 'InvalidArgument', `Invalid value for ${name}: ${value}`);
  return Number(value);
}

/** Body chunks with a running cap; throws `tooLarge()` as soon as the cap is passed. */
export async function* cappedBody(req: IncomingMessage, cap: number, tooLarge: () => StorageApiError): AsyncGenerator<Buffer> {
  let total = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > cap) throw tooLarge();
    yield chunk;
  }
}

/** Reads a small body (JSON requests) fully, up to `cap` bytes. */
export async function readSmallBody(ctx: Ctx, cap = 16 * 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of cappedBody(ctx.req, cap, () => new StorageApiError(413, 'uploadTooLarge', 'EntityTooLarge', 'Request body too large.'))) {
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

/** Reads a JSON object body; an empty body is `{}`. */
export async function readJsonBody(ctx: Ctx): Promise<Record<string, unknown>> {
  const text = (await readSmallBody(ctx)).toString('utf8').trim();
  if (!text) return {};
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // fall through to the 400 below
  }
  throw new StorageApiError(400, 'parseError', 'InvalidArgument', 'Parse Error: the request body is not a JSON object.');
}

export function sendJson(ctx: Ctx, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  ctx.res.writeHead(status, { ...headers, 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(text) });
  ctx.res.end(text);
}

export function sendEmpty(ctx: Ctx, status: number, headers: Record<string, string | number> = {}): void {
  ctx.res.writeHead(status, { ...headers, 'content-length': 0 });
  ctx.res.end();
}

export function sendXml(ctx: Ctx, status: number, xml: string, headers: Record<string, string> = {}): void {
  ctx.res.writeHead(status, { ...headers, 'content-type': 'application/xml; charset=UTF-8', 'content-length': Buffer.byteLength(xml) });
  ctx.res.end(xml);
}

/** Bodies up to this size are drained before an early error answer, so the client reads the answer cleanly. */
const DRAIN_LIMIT = 64 * 1024 * 1024;

/**
 * Answers with an error in the dialect of the API that was called. If the request body was not
 * consumed, small remainders are drained first; big ones get `Connection: close` instead, so the
 * emulator never reads gigabytes just to say no.
 */
export async function sendError(ctx: Ctx, err: StorageApiError): Promise<void> {
  const { req, res } = ctx;
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const headers: Record<string, string> = { ...err.headers };
  if (!req.complete) {
    const declared = ctx.contentLength;
    if (declared !== undefined && declared <= DRAIN_LIMIT && !req.destroyed) {
      try {
        req.resume();
        await new Promise<void>((resolve) => {
          if (req.complete) return resolve();
          req.once('end', resolve);
          req.once('close', resolve);
          req.once('error', () => resolve());
        });
      } catch {
        // The client went away; nothing to answer.
      }
    } else {
      headers.connection = 'close';
    }
  }
  if (res.destroyed) return;
  if (err.status === 304 || ctx.method === 'HEAD') {
    sendEmpty(ctx, err.status, headers);
  } else if (ctx.api === 'xml') {
    sendXml(ctx, err.status, xmlErrorBody(err), headers);
  } else {
    sendJson(ctx, err.status, JSON.parse(jsonErrorBody(err)) as unknown, headers);
  }
  if (headers.connection === 'close') res.once('finish', () => req.destroy());
}
