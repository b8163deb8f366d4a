/**
 * Request bodies under our control. functions-framework parses every body it is sent (any content
 * type, gzip/deflate/br inflated, up to 1 GiB) before a function runs, and answers parser errors with
 * Express's HTML page and stack trace. Here the framework's parsers never see a body (see
 * `gate.ts`); bodies are read only by code that has decided it wants one, within a byte cap, with
 * no content encoding, as UTF-8 JSON — and every refusal is a JSON error with a stable code.
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { HttpError } from '../errors/index.js';

/** JSON content types we accept (`application/json`, `application/*+json`), parameters aside. */
const JSON_TYPE = /^application\/(?:[a-z0-9!#$&^_.-]+\+)?json$/;

export interface BodyHeaders {
  readonly contentLength: number | undefined;
  readonly chunked: boolean;
}

/** Whether a request carries a body at all, from its headers alone (as Node's parser framed it). */
export function bodyFraming(headers: IncomingHttpHeaders): BodyHeaders {
  const raw = headers['content-length'];
  const contentLength = raw !== undefined && /^\d+$/.test(raw) ? Number(raw) : undefined;
  return { contentLength, chunked: headers['transfer-encoding'] !== undefined };
}

export function hasBody(headers: IncomingHttpHeaders): boolean {
  const { contentLength, chunked } = bodyFraming(headers);
  return chunked || (contentLength !== undefined && contentLength > 0);
}

/**
 * Checks, from headers only, that a body may be read: JSON, UTF-8, no content coding, a known length
 * within `maxBytes`. Throws the HttpError to answer with. Nothing is read here.
 */
export function checkJsonBodyHeaders(headers: IncomingHttpHeaders, maxBytes: number): void {
  const encoding = (headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  // A compressed body would be inflated by whoever reads it: a 200 KB gzip of zeros becomes 200 MB.
  if (encoding !== 'identity') throw new HttpError(415, 'UNSUPPORTED_CONTENT_ENCODING', 'request bodies must not be compressed (no Content-Encoding)');
  const type = headers['content-type'];
  if (type === undefined) throw new HttpError(415, 'UNSUPPORTED_MEDIA_TYPE', 'send the body as application/json');
  const [essence = '', ...params] = type.split(';');
  if (!JSON_TYPE.test(essence.trim().toLowerCase())) throw new HttpError(415, 'UNSUPPORTED_MEDIA_TYPE', 'send the body as application/json');
  for (const p of params) {
    const [name = '', value = ''] = p.split('=');
    if (name.trim().toLowerCase() === 'charset' && !/^"?utf-8"?$/i.test(value.trim())) {
      throw new HttpError(415, 'UNSUPPORTED_CHARSET', 'JSON bodies must be UTF-8');
    }
  }
  const { contentLength, chunked } = bodyFraming(headers);
  // Without a declared length the cap could only be enforced while reading; asking for it keeps the
  // refusal before the first byte, as for a declared length over the cap.
  if (contentLength === undefined && chunked) throw new HttpError(411, 'LENGTH_REQUIRED', 'send a Content-Length with the body');
  if (contentLength !== undefined && contentLength > maxBytes) {
    throw new HttpError(413, 'BODY_TOO_LARGE', `request bodies are limited to ${maxBytes} bytes`, { limit: maxBytes });
  }
}

/** Reads at most `maxBytes` of a request stream; 413 (and stops reading) past that. */
export async function readCapped(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) {
      // Unreachable with a declared length (checked before reading, and Node delivers no more than
      // it); kept so the cap holds whatever the framing. Leaving the loop stops reading.
      throw new HttpError(413, 'BODY_TOO_LARGE', `request bodies are limited to ${maxBytes} bytes`, { limit: maxBytes });
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/** Strict UTF-8 JSON; 400 with a stable code otherwise (the parser's message is not echoed). */
export function parseJson(body: Buffer): unknown {
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    throw new HttpError(400, 'MALFORMED_BODY', 'the request body is not valid UTF-8');
  }
  if (text.trim() === '') throw new HttpError(400, 'MALFORMED_BODY', 'the request body is empty; send a JSON object');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new HttpError(400, 'MALFORMED_JSON', 'the request body is not valid JSON');
  }
}

/** Header checks, capped read and strict parse, in that order. */
export async function readJsonBody(req: IncomingMessage, maxBytes: number, headers: IncomingHttpHeaders = req.headers): Promise<unknown> {
  checkJsonBodyHeaders(headers, maxBytes);
  return parseJson(await readCapped(req, maxBytes));
}
