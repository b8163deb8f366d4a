/**
 * PUTting a file to a signed URL: streamed from disk (never read whole into memory), counting bytes
 * as they leave so a progress bar can follow; and GETting one to a file, streamed the same way.
 */
import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { CliFailure } from './io.js';
import { describeFetchError } from './session.js';

/** Outcome of a successful PUT. */
export interface PutResult {
  readonly bytes: number;
  readonly elapsedMs: number;
  readonly httpStatus: number;
}

/** Everything {@link putFile} needs. */
export interface PutRequest {
  readonly url: string;
  /** Sent exactly as given: they are part of the URL's signature. */
  readonly headers: Readonly<Record<string, string>>;
  readonly file: string;
  /** The size declared when the URL was signed; sent as Content-Length. */
  readonly size: number;
  /** Called with the bytes handed to the connection so far. */
  readonly onProgress?: (sent: number) => void;
  readonly timeoutMs?: number;
}

/** Streams `file` to a signed URL; a non-2xx answer becomes a {@link CliFailure} with the storage's reason. */
export async function putFile(req: PutRequest): Promise<PutResult> {
  const started = performance.now();
  let sent = 0;
  const counter = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      sent += chunk.byteLength;
      req.onProgress?.(sent);
      controller.enqueue(chunk);
    },
  });
  // Readable.toWeb types its chunks as `any`; file streams without an encoding yield Buffers.
  const source = Readable.toWeb(createReadStream(req.file)) as WebReadableStream<Uint8Array>;
  const body = source.pipeThrough(counter);
  // An explicit Content-Length (rather than chunked encoding): the signed URL's
  // x-goog-content-length-range is checked against it, and some servers refuse chunked uploads.
  const headers = { ...req.headers, 'content-length': String(req.size) };
  let res: Response;
  try {
    res = await fetch(req.url, {
      method: 'PUT',
      headers,
      body,
      // Required by fetch for a streamed request body.
      duplex: 'half',
      signal: AbortSignal.timeout(req.timeoutMs ?? 30 * 60_000),
    });
  } catch (err) {
    throw new CliFailure(`upload to ${new URL(req.url).origin} failed: ${describeFetchError(err)}`);
  }
  const text = await res.text().catch(() => '');
  if (!res.ok) {
    throw new CliFailure(`the storage refused the upload (HTTP ${res.status}): ${summarizeStorageError(text) || res.statusText}`);
  }
  return { bytes: sent, elapsedMs: performance.now() - started, httpStatus: res.status };
}

/** The useful part of a storage error body: GCS answers XML (`<Code>`, `<Message>`) or JSON. */
export function summarizeStorageError(body: string): string {
  const code = /<Code>([^<]*)<\/Code>/.exec(body)?.[1];
  const message = /<Message>([^<]*)<\/Message>/.exec(body)?.[1];
  if (code || message) return [code, message].filter(Boolean).join(': ');
  try {
    const json: unknown = JSON.parse(body);
    if (json && typeof json === 'object' && 'error' in json) {
      const e: unknown = json.error;
      if (e && typeof e === 'object') {
        const c = 'code' in e ? String(e.code) : '';
        const m = 'message' in e ? String(e.message) : '';
        return [c, m].filter(Boolean).join(': ');
      }
      return String(e);
    }
  } catch {
    // Not JSON either: the raw text below.
  }
  return body.trim().slice(0, 300);
}

/**
 * GETs a signed URL into `out`, streamed to disk (a dubbed video may be large): written beside the
 * target and renamed, so no half-written file ever carries the target's name. Returns the bytes
 * written. Sent without credentials: the URL's signature is the authorisation.
 */
export async function getToFile(url: string, out: string, timeoutMs = 600_000): Promise<number> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    throw new CliFailure(`downloading ${out} failed: ${describeFetchError(err)}`);
  }
  if (!res.ok || !res.body) {
    const detail = (await res.text().catch(() => '')).slice(0, 200);
    throw new CliFailure(`downloading ${out} failed: HTTP ${res.status}${detail ? `: ${detail}` : ''}`);
  }
  const tmp = `${out}.${randomUUID().slice(0, 8)}.part`;
  let bytes = 0;
  try {
    const source = Readable.fromWeb(res.body as WebReadableStream<Uint8Array>);
    source.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
    });
    await pipeline(source, createWriteStream(tmp));
    const declared = Number(res.headers.get('content-length') ?? Number.NaN);
    if (Number.isFinite(declared) && declared !== bytes) throw new Error(`received ${bytes} bytes, the store announced ${declared}`);
    await rename(tmp, out);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err instanceof CliFailure ? err : new CliFailure(`downloading ${out} failed: ${err instanceof Error ? err.message : String(err)}`);
  }
  return bytes;
}
