/**
 * Object semantics shared by the JSON and XML APIs: resource rendering, preconditions, metadata
 * input, committing a new generation (with its notifications) and serving bytes with ranges.
 */
import { pipeline } from 'node:stream/promises';
import type { BlobRef, Digests } from './blobs.js';
import type { BucketRecord, ObjectRecord, WritableObjectFields } from './store.js';
import type { Ctx, Emulator } from './http.js';
import { StorageApiError, badRequest, notFoundBucket, notModified, preconditionFailed } from './errors.js';
import { intParam } from './http.js';

/** JSON API object resource. */
export function renderObject(o: ObjectRecord, baseUrl: string): Record<string, unknown> {
  const b = encodeURIComponent(o.bucket);
  const n = encodeURIComponent(o.name);
  return {
    kind: 'storage#object',
    id: `${o.bucket}/${o.name}/${o.generation}`,
    selfLink: `${baseUrl}/storage/v1/b/${b}/o/${n}`,
    mediaLink: `${baseUrl}/download/storage/v1/b/${b}/o/${n}?generation=${o.generation}&alt=media`,
    name: o.name,
    bucket: o.bucket,
    generation: o.generation,
    metageneration: String(o.metageneration),
    contentType: o.contentType,
    storageClass: o.storageClass,
    size: String(o.size),
    md5Hash: o.md5Hash,
    crc32c: o.crc32c,
    etag: objectEtag(o),
    timeCreated: o.timeCreated,
    updated: o.updated,
    timeStorageClassUpdated: o.timeCreated,
    timeFinalized: o.timeCreated,
    ...(o.contentEncoding !== undefined ? { contentEncoding: o.contentEncoding } : {}),
    ...(o.contentDisposition !== undefined ? { contentDisposition: o.contentDisposition } : {}),
    ...(o.contentLanguage !== undefined ? { contentLanguage: o.contentLanguage } : {}),
    ...(o.cacheControl !== undefined ? { cacheControl: o.cacheControl } : {}),
    ...(o.customTime !== undefined ? { customTime: o.customTime } : {}),
    ...(o.metadata !== undefined && Object.keys(o.metadata).length > 0 ? { metadata: o.metadata } : {}),
    ...(o.temporaryHold !== undefined ? { temporaryHold: o.temporaryHold } : {}),
    ...(o.eventBasedHold !== undefined ? { eventBasedHold: o.eventBasedHold } : {}),
    ...(o.componentCount !== undefined ? { componentCount: o.componentCount } : {}),
  };
}

/** JSON API etag: opaque, changes with generation and metageneration (like GCS's). */
export function objectEtag(o: ObjectRecord): string {
  return Buffer.from(`${o.generation}/${o.metageneration}`).toString('base64');
}

/** XML API ETag: the quoted hex MD5, as GCS returns for non-composite objects. */
export function xmlEtag(o: ObjectRecord): string {
  return `"${Buffer.from(o.md5Hash, 'base64').toString('hex')}"`;
}

/** The four generation/metageneration preconditions (already integer-validated strings). */
export interface Preconditions {
  ifGenerationMatch?: string;
  ifGenerationNotMatch?: string;
  ifMetagenerationMatch?: string;
  ifMetagenerationNotMatch?: string;
}

/** Reads preconditions from JSON API query parameters (optionally with a prefix like `ifSource`). */
export function preconditionsFromQuery(ctx: Ctx, prefix = 'if'): Preconditions {
  const get = (suffix: string): string | undefined => {
    const name = `${prefix}${suffix}`;
    const v = intParam(ctx.q(name), name);
    return v === undefined ? undefined : String(v);
  };
  return strip({
    ifGenerationMatch: get('GenerationMatch'),
    ifGenerationNotMatch: get('GenerationNotMatch'),
    ifMetagenerationMatch: get('MetagenerationMatch'),
    ifMetagenerationNotMatch: get('MetagenerationNotMatch'),
  });
}

/** Reads preconditions from XML API headers (`x-goog-if-generation-match`...). */
export function preconditionsFromHeaders(ctx: Ctx): Preconditions {
  const get = (name: string): string | undefined => {
    const v = intParam(ctx.header(name), name);
    return v === undefined ? undefined : String(v);
  };
  return strip({
    ifGenerationMatch: get('x-goog-if-generation-match'),
    ifMetagenerationMatch: get('x-goog-if-metageneration-match'),
  });
}

function strip<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/**
 * Throws 412 (writes) or 304 (reads, for the NotMatch conditions) when `existing` fails `p`.
 * `ifGenerationMatch=0` means "only if no live object exists".
 */
export function checkPreconditions(p: Preconditions, existing: ObjectRecord | undefined, mode: 'read' | 'write'): void {
  if (p.ifGenerationMatch !== undefined) {
    const ok = p.ifGenerationMatch === '0' ? existing === undefined : existing?.generation === p.ifGenerationMatch;
    if (!ok) throw preconditionFailed(`ifGenerationMatch=${p.ifGenerationMatch}; live generation ${existing?.generation ?? 'none'}`);
  }
  if (p.ifMetagenerationMatch !== undefined && String(existing?.metageneration) !== p.ifMetagenerationMatch) {
    throw preconditionFailed(`ifMetagenerationMatch=${p.ifMetagenerationMatch}; live metageneration ${existing?.metageneration ?? 'none'}`);
  }
  const failNot = (what: string): never => {
    throw mode === 'read' ? notModified() : preconditionFailed(what);
  };
  if (p.ifGenerationNotMatch !== undefined) {
    const same = p.ifGenerationNotMatch === '0' ? existing === undefined : existing?.generation === p.ifGenerationNotMatch;
    if (same) failNot(`ifGenerationNotMatch=${p.ifGenerationNotMatch}`);
  }
  if (p.ifMetagenerationNotMatch !== undefined && String(existing?.metageneration) === p.ifMetagenerationNotMatch) {
    failNot(`ifMetagenerationNotMatch=${p.ifMetagenerationNotMatch}`);
  }
}

/** Writable object metadata, as the JSON API accepts it in insert/patch bodies. */
export interface ObjectMetadataInput extends WritableObjectFields {
  contentType?: string;
  storageClass?: string;
  /** Client-declared hashes; an upload whose bytes do not match is refused (like GCS). */
  md5Hash?: string;
  crc32c?: string;
}

const STRING_FIELDS = ['contentType', 'contentEncoding', 'contentDisposition', 'contentLanguage', 'cacheControl', 'customTime', 'storageClass', 'md5Hash', 'crc32c'] as const;

/** Picks and type-checks the writable fields of a JSON object resource. */
export function metadataFromJson(body: Record<string, unknown>): ObjectMetadataInput {
  const out: ObjectMetadataInput = {};
  for (const f of STRING_FIELDS) {
    const v = body[f];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'string') throw badRequest(`Invalid value for ${f}: expected a string.`);
    out[f] = v;
  }
  for (const f of ['temporaryHold', 'eventBasedHold'] as const) {
    const v = body[f];
    if (typeof v === 'boolean') out[f] = v;
  }
  const md = body.metadata;
  if (md !== undefined && md !== null) {
    if (typeof md !== 'object' || Array.isArray(md)) throw badRequest('Invalid value for metadata: expected an object.');
    out.metadata = {};
    for (const [k, v] of Object.entries(md as Record<string, unknown>)) {
      if (v === null || v === undefined) continue;
      out.metadata[k] = typeof v === 'string' ? v : JSON.stringify(v);
    }
  }
  return out;
}

/** Object names GCS accepts: 1–1024 bytes of UTF-8, no CR/LF, not `.` or `..`. */
export function validateObjectName(name: string | undefined): string {
  if (name === undefined || name === '') throw new StorageApiError(400, 'required', 'InvalidArgument', 'Required parameter: name (object name).');
  if (Buffer.byteLength(name) > 1024) throw badRequest('The object name is longer than 1024 bytes.');
  if (/[\r\n]/.test(name) || name === '.' || name === '..' || name.startsWith('.well-known/acme-challenge/')) {
    throw badRequest(`Invalid object name: ${JSON.stringify(name)}`);
  }
  return name;
}

export function requireBucket(emu: Emulator, name: string): BucketRecord {
  const b = emu.store.getBucket(name);
  if (!b) throw notFoundBucket(name);
  return b;
}

/** Compares client-declared hashes with the received bytes. */
export function verifyDeclaredHashes(digests: Digests, declared: { md5Hash?: string; crc32c?: string }, where: string): void {
  if (declared.md5Hash !== undefined && declared.md5Hash !== digests.md5Hash) {
    throw new StorageApiError(400, 'invalid', 'BadDigest', `Provided MD5 hash "${declared.md5Hash}" doesn't match calculated MD5 hash "${digests.md5Hash}" (${where}).`);
  }
  if (declared.crc32c !== undefined && declared.crc32c !== digests.crc32c) {
    throw new StorageApiError(400, 'invalid', 'BadDigest', `Provided CRC32C "${declared.crc32c}" doesn't match calculated CRC32C "${digests.crc32c}" (${where}).`);
  }
}

/** Parses an `X-Goog-Hash: crc32c=...,md5=...` header. */
export function parseGoogHash(header: string | undefined): { md5Hash?: string; crc32c?: string } {
  const out: { md5Hash?: string; crc32c?: string } = {};
  if (!header) return out;
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const k = part.slice(0, eq).trim().toLowerCase();
    const v = part.slice(eq + 1).trim();
    if (k === 'md5') out.md5Hash = v;
    else if (k === 'crc32c') out.crc32c = v;
  }
  return out;
}

/**
 * Commits freshly uploaded bytes as the new live generation (if the preconditions still hold),
 * then publishes OBJECT_FINALIZE — and OBJECT_DELETE for an overwritten generation, as GCS does
 * for buckets without versioning — before returning, so the caller answers only after the
 * notification left. On a failed precondition the bytes are discarded.
 */
export async function commitNewObject(
  emu: Emulator,
  bucket: BucketRecord,
  name: string,
  meta: ObjectMetadataInput,
  blob: { ref: BlobRef; digests: Digests },
  preconditions: Preconditions,
  baseUrl: string,
  extra: { componentCount?: number } = {},
): Promise<ObjectRecord> {
  const now = new Date().toISOString();
  const rec: ObjectRecord = {
    bucket: bucket.name,
    name,
    generation: emu.store.nextGeneration(),
    metageneration: 1,
    contentType: meta.contentType || 'application/octet-stream',
    storageClass: meta.storageClass ?? bucket.storageClass,
    size: blob.digests.size,
    md5Hash: blob.digests.md5Hash,
    crc32c: blob.digests.crc32c,
    timeCreated: now,
    updated: now,
    blob: blob.ref,
    ...(meta.contentEncoding !== undefined ? { contentEncoding: meta.contentEncoding } : {}),
    ...(meta.contentDisposition !== undefined ? { contentDisposition: meta.contentDisposition } : {}),
    ...(meta.contentLanguage !== undefined ? { contentLanguage: meta.contentLanguage } : {}),
    ...(meta.cacheControl !== undefined ? { cacheControl: meta.cacheControl } : {}),
    ...(meta.customTime !== undefined ? { customTime: meta.customTime } : {}),
    ...(meta.metadata !== undefined ? { metadata: meta.metadata } : {}),
    ...(meta.temporaryHold !== undefined ? { temporaryHold: meta.temporaryHold } : {}),
    ...(meta.eventBasedHold !== undefined ? { eventBasedHold: meta.eventBasedHold } : {}),
    ...(extra.componentCount !== undefined ? { componentCount: extra.componentCount } : {}),
  };
  let previous: ObjectRecord | undefined;
  try {
    previous = await emu.store.commitObject(rec, (existing) => checkPreconditions(preconditions, existing, 'write'));
  } catch (e) {
    await emu.store.blobs.remove(blob.ref);
    throw e;
  }
  emu.log({ severity: 'INFO', message: 'object finalized', bucket: bucket.name, object: name, generation: rec.generation, size: rec.size });
  const live = emu.store.getBucket(bucket.name) ?? bucket;
  await Promise.all([
    emu.notifier.notify(live, {
      eventType: 'OBJECT_FINALIZE',
      objectName: name,
      generation: rec.generation,
      resource: renderObject(rec, baseUrl),
      ...(previous ? { extraAttributes: { overwroteGeneration: previous.generation } } : {}),
    }),
    previous
      ? emu.notifier.notify(live, {
          eventType: 'OBJECT_DELETE',
          objectName: name,
          generation: previous.generation,
          resource: renderObject(previous, baseUrl),
          extraAttributes: { overwrittenByGeneration: rec.generation },
        })
      : Promise.resolve(),
  ]);
  return rec;
}

/** Deletes the live generation (preconditions checked atomically) and publishes OBJECT_DELETE. */
export async function deleteObject(emu: Emulator, bucket: BucketRecord, name: string, p: Preconditions, baseUrl: string, onMissing: () => StorageApiError): Promise<ObjectRecord> {
  const removed = await emu.store.deleteObject(bucket.name, name, (existing) => {
    if (!existing) throw onMissing();
    checkPreconditions(p, existing, 'write');
  });
  if (!removed) throw onMissing();
  emu.log({ severity: 'INFO', message: 'object deleted', bucket: bucket.name, object: name, generation: removed.generation });
  await emu.notifier.notify(emu.store.getBucket(bucket.name) ?? bucket, {
    eventType: 'OBJECT_DELETE',
    objectName: name,
    generation: removed.generation,
    resource: renderObject(removed, baseUrl),
  });
  return removed;
}

/**
 * A value Node will put in a header: control characters dropped, characters beyond Latin-1
 * percent-encoded (a stored `contentDisposition` may hold any Unicode; a throw here would turn a
 * download into a 500).
 */
export function headerSafe(v: string): string {
  let out = '';
  for (const ch of v) {
    const c = ch.codePointAt(0) ?? 0;
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) continue;
    out += c > 0xff ? encodeURIComponent(ch) : ch;
  }
  return out;
}

/** Headers describing an object on media responses (both APIs send these `x-goog-*` headers). */
export function mediaHeaders(o: ObjectRecord): Record<string, string> {
  const h: Record<string, string> = {
    'content-type': headerSafe(o.contentType),
    etag: xmlEtag(o),
    'last-modified': new Date(o.updated).toUTCString(),
    'x-goog-generation': o.generation,
    'x-goog-metageneration': String(o.metageneration),
    'x-goog-hash': `crc32c=${o.crc32c},md5=${o.md5Hash}`,
    'x-goog-stored-content-length': String(o.size),
    'x-goog-stored-content-encoding': headerSafe(o.contentEncoding ?? 'identity'),
    'x-goog-storage-class': o.storageClass,
    'accept-ranges': 'bytes',
  };
  if (o.contentEncoding) h['content-encoding'] = headerSafe(o.contentEncoding);
  if (o.contentDisposition) h['content-disposition'] = headerSafe(o.contentDisposition);
  if (o.contentLanguage) h['content-language'] = headerSafe(o.contentLanguage);
  if (o.cacheControl) h['cache-control'] = headerSafe(o.cacheControl);
  for (const [k, v] of Object.entries(o.metadata ?? {})) {
    // Header values cannot carry CR/LF or non-Latin-1 characters; skip what HTTP cannot express.
    if (/^[\x20-\x7e]*$/.test(v) && /^[A-Za-z0-9-_.]+$/.test(k)) h[`x-goog-meta-${k}`] = v;
  }
  return h;
}

/** Parses a single `Range: bytes=` spec against `size`; undefined = serve everything. */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined; // unparseable or multi-range: ignore, like GCS
  // An empty object has no satisfiable range; serve it whole rather than 416 (what clients expect).
  if (size === 0) return undefined;
  let start: number;
  let end: number;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) throw rangeNotSatisfiable(size);
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start >= size || start > end) throw rangeNotSatisfiable(size);
  return { start, end };
}

const rangeNotSatisfiable = (size: number): StorageApiError =>
  new StorageApiError(416, 'requestedRangeNotSatisfiable', 'InvalidRange', 'The requested range cannot be satisfied.', {}, { 'content-range': `bytes */${size}` });

/** Streams an object's bytes (honouring `Range`), or only headers for HEAD. */
export async function serveMedia(emu: Emulator, ctx: Ctx, o: ObjectRecord, extraHeaders: Record<string, string> = {}): Promise<void> {
  const range = parseRange(ctx.header('range'), o.size);
  const headers: Record<string, string | number> = { ...mediaHeaders(o), ...extraHeaders };
  let status = 200;
  if (range) {
    status = 206;
    headers['content-range'] = `bytes ${range.start}-${range.end}/${o.size}`;
    headers['content-length'] = range.end - range.start + 1;
  } else {
    headers['content-length'] = o.size;
  }
  ctx.res.writeHead(status, headers);
  if (ctx.method === 'HEAD' || o.size === 0) {
    ctx.res.end();
    return;
  }
  const stream = emu.store.blobs.read(o.blob, range?.start ?? 0, range?.end);
  try {
    await pipeline(stream, ctx.res);
  } catch (e) {
    // Client hung up mid-download, or the bytes vanished under a concurrent delete: nothing to answer.
    emu.log({ severity: 'DEBUG', message: 'download interrupted', object: o.name, error: e instanceof Error ? e.message : String(e) });
  }
}
