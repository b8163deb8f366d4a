/**
 * Receiving object bytes: single-request bodies and resumable upload sessions (JSON API
 * `uploadType=resumable` and XML API `x-goog-resumable: start`), with GCS's chunk protocol:
 * `Content-Range: bytes S-E/N` (or total `*`) chunks answered `308` + `Range: bytes=0-X` until
 * the last one, `bytes *` + `/N` status queries, and `bytes S-*` + `/*` single-request streaming
 * (the Node client's default).
 */
import { randomUUID } from 'node:crypto';
import type { BlobRef, BlobWriter, Digests } from './blobs.js';
import type { ObjectRecord } from './store.js';
import type { Ctx, Emulator } from './http.js';
import { StorageApiError, badRequest } from './errors.js';
import { cappedBody, sendEmpty, sendJson } from './http.js';
import {
  checkPreconditions,
  commitNewObject,
  mediaHeaders,
  parseGoogHash,
  renderObject,
  requireBucket,
  verifyDeclaredHashes,
  type ObjectMetadataInput,
  type Preconditions,
} from './objects.js';

/** Inclusive byte bounds from a signed `x-goog-content-length-range: MIN,MAX`. */
export interface LengthRange {
  readonly min: number;
  readonly max: number;
}

export const entityTooLarge = (limit: number, what = 'the maximum object size specified in your Policy Document'): StorageApiError =>
  new StorageApiError(400, 'invalid', 'EntityTooLarge', `Your proposed upload is larger than ${what}.`, { details: `Content-length exceeds upper bound on range (${limit} bytes).` });

export const entityTooSmall = (limit: number): StorageApiError =>
  new StorageApiError(400, 'invalid', 'EntityTooSmall', 'Your proposed upload is smaller than the minimum object size specified in your Policy Document.', {
    details: `Content-length is smaller than lower bound on range (${limit} bytes).`,
  });

/** The emulator's own cap (not a GCS limit): 413 so it cannot be confused with a policy failure. */
export const overEmulatorCap = (cap: number): StorageApiError =>
  new StorageApiError(413, 'uploadTooLarge', 'EntityTooLarge', `Upload exceeds the storage emulator's cap of ${cap} bytes per object.`);

/** Parses `x-goog-content-length-range: MIN,MAX`. */
export function parseLengthRange(v: string | undefined): LengthRange | undefined {
  if (v === undefined) return undefined;
  const m = /^\s*(\d+)\s*,\s*(\d+)\s*$/.exec(v);
  if (!m) throw badRequest(`Invalid x-goog-content-length-range: "${v}" (expected MIN,MAX).`);
  return { min: Number(m[1]), max: Number(m[2]) };
}

/**
 * Writes a new blob through `fill`, which gets a `write` that counts every chunk against the emulator
 * cap; if filling fails the partial blob is discarded. Returns the blob and whatever `fill` returned.
 */
export async function writeBlob<T>(emu: Emulator, fill: (write: (chunk: Buffer) => Promise<void>) => Promise<T>, opts: { sha256?: boolean } = {}): Promise<{ blob: { ref: BlobRef; digests: Digests }; value: T }> {
  const writer = await emu.store.blobs.createWriter({ sha256: opts.sha256 ?? false });
  try {
    const value = await fill(async (chunk) => {
      if (writer.size + chunk.length > emu.maxUploadBytes) throw overEmulatorCap(emu.maxUploadBytes);
      await writer.write(chunk);
    });
    return { blob: await writer.finish(), value };
  } catch (e) {
    await writer.abort();
    throw e;
  }
}

/**
 * Streams the request body into a new blob, enforcing the emulator cap and an optional length
 * range as bytes arrive (a too-large body is refused without storing it).
 */
export async function receiveBody(
  emu: Emulator,
  ctx: Ctx,
  opts: { sha256?: boolean; lengthRange?: LengthRange | undefined } = {},
): Promise<{ ref: BlobRef; digests: Digests }> {
  const max = Math.min(emu.maxUploadBytes, opts.lengthRange?.max ?? Infinity);
  const tooLarge = (): StorageApiError => (opts.lengthRange && opts.lengthRange.max < emu.maxUploadBytes ? entityTooLarge(opts.lengthRange.max) : overEmulatorCap(emu.maxUploadBytes));
  const { blob } = await writeBlob(
    emu,
    async (write) => {
      let size = 0;
      for await (const chunk of cappedBody(ctx.req, max, tooLarge)) {
        size += chunk.length;
        await write(chunk);
      }
      if (opts.lengthRange && size < opts.lengthRange.min) throw entityTooSmall(opts.lengthRange.min);
    },
    { sha256: opts.sha256 ?? false },
  );
  return blob;
}

/** One resumable upload in progress (or finished: `result` set). */
export interface UploadSession {
  readonly id: string;
  readonly bucket: string;
  readonly name: string;
  readonly meta: ObjectMetadataInput;
  readonly preconditions: Preconditions;
  /** Dialect of the API that opened it (errors and the final answer follow it). */
  readonly api: 'json' | 'xml';
  readonly writer: BlobWriter;
  readonly lengthRange?: LengthRange | undefined;
  /** Total size once the client has declared it. */
  total?: number;
  result?: ObjectRecord;
  busy: boolean;
  lastActivity: number;
}

/** Sessions live a week in GCS; here they are dropped after a day of inactivity (memory, temp files). */
const SESSION_IDLE_MS = 24 * 3600 * 1000;

/** Registry of resumable upload sessions. */
export class UploadSessions {
  private readonly sessions = new Map<string, UploadSession>();
  private readonly timer: NodeJS.Timeout;

  constructor() {
    this.timer = setInterval(() => void this.sweep(), 10 * 60 * 1000);
    this.timer.unref();
  }

  async open(
    emu: Emulator,
    init: { bucket: string; name: string; meta: ObjectMetadataInput; preconditions: Preconditions; api: 'json' | 'xml'; total?: number; lengthRange?: LengthRange },
  ): Promise<UploadSession> {
    const writer = await emu.store.blobs.createWriter();
    const s: UploadSession = { id: randomUUID().replace(/-/g, ''), ...init, writer, busy: false, lastActivity: Date.now() };
    this.sessions.set(s.id, s);
    return s;
  }

  get(id: string): UploadSession | undefined {
    return this.sessions.get(id);
  }

  async cancel(id: string): Promise<void> {
    const s = this.sessions.get(id);
    this.sessions.delete(id);
    if (s && !s.result) await s.writer.abort();
  }

  /** Drops a session whose writer is already finished or aborted. */
  forget(id: string): void {
    this.sessions.delete(id);
  }

  private async sweep(): Promise<void> {
    const now = Date.now();
    for (const [id, s] of this.sessions) if (!s.busy && now - s.lastActivity > SESSION_IDLE_MS) await this.cancel(id);
  }

  async closeAll(): Promise<void> {
    clearInterval(this.timer);
    for (const id of [...this.sessions.keys()]) await this.cancel(id);
  }
}

type ContentRange =
  | { kind: 'none' }
  | { kind: 'status'; total?: number }
  | { kind: 'chunk'; start: number; end?: number; total?: number };

function parseContentRange(v: string | undefined): ContentRange {
  if (v === undefined) return { kind: 'none' };
  const status = /^bytes \*\/(\d+|\*)$/.exec(v.trim());
  if (status) return status[1] === '*' ? { kind: 'status' } : { kind: 'status', total: Number(status[1]) };
  const chunk = /^bytes (\d+)-(\d+|\*)\/(\d+|\*)$/.exec(v.trim());
  if (!chunk) throw badRequest(`Invalid Content-Range header: ${v}`);
  return {
    kind: 'chunk',
    start: Number(chunk[1]),
    ...(chunk[2] === '*' ? {} : { end: Number(chunk[2]) }),
    ...(chunk[3] === '*' ? {} : { total: Number(chunk[3]) }),
  };
}

function incomplete(ctx: Ctx, s: UploadSession): void {
  const received = s.writer.size;
  sendEmpty(ctx, 308, {
    ...(received > 0 ? { range: `bytes=0-${received - 1}` } : {}),
    'x-guploader-uploadid': s.id,
  });
}

function answerFinished(ctx: Ctx, s: UploadSession, o: ObjectRecord): void {
  if (s.api === 'json') {
    sendJson(ctx, 200, renderObject(o, ctx.baseUrl), { 'x-guploader-uploadid': s.id, etag: renderObject(o, ctx.baseUrl).etag as string });
  } else {
    const h = mediaHeaders(o);
    sendEmpty(ctx, 200, { etag: h.etag ?? '', 'x-goog-generation': o.generation, 'x-goog-metageneration': String(o.metageneration), 'x-goog-hash': h['x-goog-hash'] ?? '', 'x-guploader-uploadid': s.id });
  }
}

/** Handles `PUT <session URI>`: a chunk, the final chunk, or a status query. */
export async function handleSessionPut(emu: Emulator, ctx: Ctx, s: UploadSession): Promise<void> {
  if (s.result) {
    ctx.req.resume();
    answerFinished(ctx, s, s.result);
    return;
  }
  if (s.busy) throw new StorageApiError(503, 'backendError', 'ServiceUnavailable', 'Another request is writing to this upload session; query its status and resume.');
  const range = parseContentRange(ctx.header('content-range'));
  s.busy = true;
  s.lastActivity = Date.now();
  try {
    const received = s.writer.size;
    const declare = (total: number | undefined): void => {
      if (total === undefined) return;
      if (s.total !== undefined && s.total !== total) throw badRequest(`Content-Range total ${total} conflicts with the declared size ${s.total}.`);
      if (total < received) throw badRequest(`Content-Range total ${total} is smaller than the ${received} bytes already received.`);
      if (total > emu.maxUploadBytes) throw overEmulatorCap(emu.maxUploadBytes);
      if (s.lengthRange && total > s.lengthRange.max) throw entityTooLarge(s.lengthRange.max);
      s.total = total;
    };

    if (range.kind === 'status') {
      declare(range.total);
      if (s.total !== undefined && s.total === received) return await finalize(emu, ctx, s);
      return incomplete(ctx, s);
    }
    if (range.kind === 'none' && received > 0) throw badRequest('Missing Content-Range for a session that already holds data.');
    const start = range.kind === 'chunk' ? range.start : 0;
    if (range.kind === 'chunk') declare(range.total);
    if (start > received) throw badRequest(`Chunk starts at byte ${start} but only ${received} bytes were received; query the upload status and resume.`);

    // Bytes the client resends that we already hold are skipped (GCS keeps what it persisted).
    let skip = received - start;
    const limit = Math.min(emu.maxUploadBytes, s.total ?? Infinity, s.lengthRange?.max ?? Infinity);
    const over = (): StorageApiError =>
      s.total !== undefined && limit === s.total
        ? badRequest(`More bytes than the declared object size ${s.total}.`)
        : s.lengthRange && limit === s.lengthRange.max
          ? entityTooLarge(s.lengthRange.max)
          : overEmulatorCap(emu.maxUploadBytes);
    try {
      for await (let chunk of ctx.req as AsyncIterable<Buffer>) {
        if (skip > 0) {
          if (chunk.length <= skip) {
            skip -= chunk.length;
            continue;
          }
          chunk = chunk.subarray(skip);
          skip = 0;
        }
        if (s.writer.size + chunk.length > limit) throw over();
        await s.writer.write(chunk);
      }
    } catch (e) {
      if (e instanceof StorageApiError) {
        await sessionFailed(emu, s);
        throw e;
      }
      // The client went away mid-chunk: keep what arrived; it will ask for the status and resume.
      emu.log({ severity: 'INFO', message: 'upload chunk interrupted', uploadId: s.id, received: s.writer.size, error: e instanceof Error ? e.message : String(e) });
      return;
    }
    const isLast = range.kind === 'none' || (s.total !== undefined ? s.writer.size === s.total : range.end === undefined);
    if (isLast) {
      if (s.total === undefined) s.total = s.writer.size;
      if (s.writer.size !== s.total) {
        await sessionFailed(emu, s);
        throw badRequest(`Upload ended with ${s.writer.size} bytes but ${s.total} were declared.`);
      }
      return await finalize(emu, ctx, s);
    }
    incomplete(ctx, s);
  } finally {
    s.busy = false;
    s.lastActivity = Date.now();
  }
}

async function sessionFailed(emu: Emulator, s: UploadSession): Promise<void> {
  await emu.sessions.cancel(s.id);
}

async function finalize(emu: Emulator, ctx: Ctx, s: UploadSession): Promise<void> {
  if (s.lengthRange && s.writer.size < s.lengthRange.min) {
    await sessionFailed(emu, s);
    throw entityTooSmall(s.lengthRange.min);
  }
  const blob = await s.writer.finish();
  try {
    verifyDeclaredHashes(blob.digests, parseGoogHash(ctx.header('x-goog-hash')), 'X-Goog-Hash');
    verifyDeclaredHashes(blob.digests, s.meta, 'object metadata');
    const bucket = requireBucket(emu, s.bucket);
    s.result = await commitNewObject(emu, bucket, s.name, s.meta, blob, s.preconditions, ctx.baseUrl);
  } catch (e) {
    // commitNewObject already freed the bytes on a precondition failure; free them otherwise.
    if (!(e instanceof StorageApiError && e.status === 412)) await emu.store.blobs.remove(blob.ref);
    emu.sessions.forget(s.id);
    throw e;
  }
  answerFinished(ctx, s, s.result);
}

/** Validates an upload's preconditions before any byte is received (they are checked again at commit). */
export function earlyPreconditionCheck(emu: Emulator, bucket: string, name: string, p: Preconditions): void {
  checkPreconditions(p, emu.store.getObject(bucket, name), 'write');
}
