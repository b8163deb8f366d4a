/**
 * The Cloud Storage JSON API (v1) subset clients use: buckets, objects (all upload types,
 * download, list, patch, delete, copy/rewrite/compose) and notification configs. Routes are
 * matched on the path after `/storage/v1` (client with `apiEndpoint`) or as-is (client with
 * `STORAGE_EMULATOR_HOST`, which drops the prefix), plus `/upload/...` and `/download/...`.
 */
import type { BucketRecord, CorsRule, NotificationRecord, ObjectRecord } from './store.js';
import type { Ctx, Emulator } from './http.js';
import { StorageApiError, badRequest, notFoundObject, notImplemented } from './errors.js';
import { intParam, readJsonBody, sendEmpty, sendJson } from './http.js';
import { EVENT_TYPES, normaliseTopic, renderNotification, type EventType } from './notifications.js';
import { readMultipartRelated } from './multipart.js';
import {
  checkPreconditions,
  commitNewObject,
  deleteObject,
  metadataFromJson,
  preconditionsFromQuery,
  renderObject,
  requireBucket,
  serveMedia,
  validateObjectName,
  verifyDeclaredHashes,
  type ObjectMetadataInput,
} from './objects.js';
import { earlyPreconditionCheck, handleSessionPut, overEmulatorCap, receiveBody, writeBlob } from './uploads.js';
import { cappedBody } from './http.js';

// ---------------------------------------------------------------- buckets

/** Bucket names GCS accepts (the dotted, domain-named form aside): 3–63 of [a-z0-9-_.], alphanumeric ends. */
function validateBucketName(name: unknown): string {
  if (typeof name !== 'string' || !/^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$/.test(name) || name.includes('..') || name.startsWith('goog')) {
    throw badRequest(`Invalid bucket name: ${JSON.stringify(name)}`);
  }
  return name;
}

function renderBucket(b: BucketRecord, baseUrl: string): Record<string, unknown> {
  return {
    kind: 'storage#bucket',
    selfLink: `${baseUrl}/storage/v1/b/${b.name}`,
    id: b.name,
    name: b.name,
    projectNumber: b.projectNumber,
    metageneration: String(b.metageneration),
    location: b.location,
    locationType: 'multi-region',
    storageClass: b.storageClass,
    etag: Buffer.from(`bucket/${b.metageneration}`).toString('base64'),
    timeCreated: b.timeCreated,
    updated: b.updated,
    iamConfiguration: { uniformBucketLevelAccess: { enabled: true }, publicAccessPrevention: 'inherited' },
    ...(b.cors ? { cors: b.cors } : {}),
    ...(b.labels ? { labels: b.labels } : {}),
    ...(b.versioning ? { versioning: b.versioning } : {}),
  };
}

function parseCors(v: unknown): CorsRule[] {
  if (!Array.isArray(v)) throw badRequest('Invalid value for cors: expected a list.');
  const strings = (x: unknown, field: string): string[] | undefined => {
    if (x === undefined || x === null) return undefined;
    if (!Array.isArray(x) || !x.every((s) => typeof s === 'string')) throw badRequest(`Invalid value for cors[].${field}: expected a list of strings.`);
    return x;
  };
  return v.map((r: unknown) => {
    if (typeof r !== 'object' || r === null) throw badRequest('Invalid cors entry.');
    const o = r as Record<string, unknown>;
    const origin = strings(o.origin, 'origin');
    const method = strings(o.method, 'method');
    const responseHeader = strings(o.responseHeader, 'responseHeader');
    const maxAge = o.maxAgeSeconds;
    if (maxAge !== undefined && maxAge !== null && typeof maxAge !== 'number') throw badRequest('Invalid value for cors[].maxAgeSeconds.');
    return {
      ...(origin ? { origin } : {}),
      ...(method ? { method } : {}),
      ...(responseHeader ? { responseHeader } : {}),
      ...(typeof maxAge === 'number' ? { maxAgeSeconds: maxAge } : {}),
    };
  });
}

/** Stringifies a JSON scalar (objects are JSON-encoded rather than becoming "[object Object]"). */
function scalarString(v: unknown): string {
  return typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : JSON.stringify(v);
}

function parseLabels(v: unknown, existing: Record<string, string> | undefined, merge: boolean): Record<string, string> | undefined {
  if (v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw badRequest('Invalid value for labels.');
  const out: Record<string, string> = merge ? { ...(existing ?? {}) } : {};
  for (const [k, val] of Object.entries(v as Record<string, unknown>)) {
    if (val === null) delete out[k];
    else out[k] = scalarString(val);
  }
  return out;
}

async function insertBucket(emu: Emulator, ctx: Ctx): Promise<void> {
  const body = await readJsonBody(ctx);
  const name = validateBucketName(body.name);
  if (emu.store.getBucket(name)) {
    throw new StorageApiError(409, 'conflict', 'BucketAlreadyOwnedByYou', 'Your previous request to create the named bucket succeeded and you already own it.');
  }
  const now = new Date().toISOString();
  const b: BucketRecord = {
    name,
    projectNumber: '0',
    timeCreated: now,
    updated: now,
    metageneration: 1,
    location: typeof body.location === 'string' ? body.location.toUpperCase() : 'US',
    storageClass: typeof body.storageClass === 'string' ? body.storageClass : 'STANDARD',
    notifications: [],
    nextNotificationId: 1,
    ...(body.cors !== undefined ? { cors: parseCors(body.cors) } : {}),
    ...(body.labels !== undefined && body.labels !== null ? { labels: parseLabels(body.labels, undefined, false) ?? {} } : {}),
    ...(isVersioning(body.versioning) ? { versioning: { enabled: body.versioning.enabled } } : {}),
  };
  await emu.store.saveBucket(b);
  emu.log({ severity: 'INFO', message: 'bucket created', bucket: name });
  sendJson(ctx, 200, renderBucket(b, ctx.baseUrl));
}

function isVersioning(v: unknown): v is { enabled: boolean } {
  return typeof v === 'object' && v !== null && typeof (v as { enabled?: unknown }).enabled === 'boolean';
}

async function patchBucket(emu: Emulator, ctx: Ctx, name: string, replace: boolean): Promise<void> {
  requireBucket(emu, name);
  const body = await readJsonBody(ctx);
  // Read the record after the body: another request may have changed it meanwhile.
  const current = requireBucket(emu, name);
  const mg = intParam(ctx.q('ifMetagenerationMatch'), 'ifMetagenerationMatch');
  if (mg !== undefined && mg !== current.metageneration) throw new StorageApiError(412, 'conditionNotMet', 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold.');
  const next: BucketRecord = { ...current, metageneration: current.metageneration + 1, updated: new Date().toISOString() };
  if ('cors' in body || replace) {
    if (body.cors === null || body.cors === undefined) delete next.cors;
    else next.cors = parseCors(body.cors);
  }
  if ('labels' in body || replace) {
    const labels = body.labels === undefined ? undefined : parseLabels(body.labels, current.labels, !replace);
    if (labels) next.labels = labels;
    else delete next.labels;
  }
  if (isVersioning(body.versioning)) next.versioning = { enabled: body.versioning.enabled };
  if (typeof body.storageClass === 'string') next.storageClass = body.storageClass;
  await emu.store.saveBucket(next);
  sendJson(ctx, 200, renderBucket(next, ctx.baseUrl));
}

// ---------------------------------------------------------------- listing

interface PageToken {
  after: string;
  prefix: boolean;
}

export function encodeToken(t: PageToken): string {
  return Buffer.from(JSON.stringify(t)).toString('base64url');
}

export function decodeToken(s: string): PageToken {
  try {
    const v = JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as Partial<PageToken>;
    if (typeof v.after === 'string' && typeof v.prefix === 'boolean') return { after: v.after, prefix: v.prefix };
  } catch {
    // 400 below
  }
  throw badRequest('Invalid pageToken.');
}

/** Translates a `matchGlob` pattern (`**`, `*`, `?`, `[...]`, `{a,b}`) into a RegExp. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] ?? '';
    if (c === '*') {
      if (glob[i + 1] === '*') {
        re += '.*';
        i++;
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const close = glob.indexOf(']', i + 1);
      if (close < 0) re += '\\[';
      else {
        re += '[' + glob.slice(i + 1, close).replace(/^!/, '^').replace(/\\/g, '\\\\') + ']';
        i = close;
      }
    } else if (c === '{') {
      const close = glob.indexOf('}', i + 1);
      if (close < 0) re += '\\{';
      else {
        re += '(?:' + glob.slice(i + 1, close).split(',').map((a) => a.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')).join('|') + ')';
        i = close;
      }
    } else re += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, 's');
}

/** First index in sorted `names` whose value is >= `key`. */
function lowerBound(names: readonly string[], key: string): number {
  let lo = 0;
  let hi = names.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((names[mid] ?? '') < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Lists one page: object names and (with a delimiter) prefixes, in GCS's lexicographic order. */
export function listPage(
  names: readonly string[],
  o: { prefix: string; delimiter?: string; startOffset?: string; endOffset?: string; maxResults: number; pageToken?: string; includeTrailingDelimiter?: boolean; matchGlob?: string },
): { items: string[]; prefixes: string[]; nextPageToken?: string } {
  const token = o.pageToken ? decodeToken(o.pageToken) : undefined;
  const glob = o.matchGlob ? globToRegExp(o.matchGlob) : undefined;
  const items: string[] = [];
  const prefixes: string[] = [];
  let count = 0;
  let last: PageToken | undefined;
  let lastPrefix: string | undefined;
  const from = [o.prefix, o.startOffset ?? '', token?.after ?? ''].reduce((a, b) => (a > b ? a : b));
  for (let i = lowerBound(names, from); i < names.length; i++) {
    const name = names[i] ?? '';
    if (!name.startsWith(o.prefix)) break;
    if (o.endOffset !== undefined && o.endOffset !== '' && name >= o.endOffset) break;
    if (token && (name <= token.after || (token.prefix && name.startsWith(token.after)))) continue;
    if (glob && !glob.test(name)) continue;
    if (o.delimiter) {
      const rest = name.slice(o.prefix.length);
      const d = rest.indexOf(o.delimiter);
      if (d >= 0) {
        const p = o.prefix + rest.slice(0, d + o.delimiter.length);
        if (p === lastPrefix) continue;
        if (count >= o.maxResults) return { items, prefixes, ...(last ? { nextPageToken: encodeToken(last) } : {}) };
        prefixes.push(p);
        if (o.includeTrailingDelimiter && name === p) items.push(name);
        lastPrefix = p;
        last = { after: p, prefix: true };
        count++;
        continue;
      }
    }
    if (count >= o.maxResults) return { items, prefixes, ...(last ? { nextPageToken: encodeToken(last) } : {}) };
    items.push(name);
    last = { after: name, prefix: false };
    count++;
  }
  return { items, prefixes };
}

function listObjects(emu: Emulator, ctx: Ctx, bucketName: string): void {
  requireBucket(emu, bucketName);
  const maxRaw = intParam(ctx.q('maxResults'), 'maxResults');
  const maxResults = Math.min(Math.max(maxRaw ?? 1000, 1), 1000);
  const delimiter = ctx.q('delimiter');
  const startOffset = ctx.q('startOffset');
  const endOffset = ctx.q('endOffset');
  const pageToken = ctx.q('pageToken');
  const matchGlob = ctx.q('matchGlob');
  const page = listPage(emu.store.sortedObjectNames(bucketName), {
    prefix: ctx.q('prefix') ?? '',
    maxResults,
    includeTrailingDelimiter: ctx.q('includeTrailingDelimiter') === 'true',
    ...(delimiter ? { delimiter } : {}),
    ...(startOffset ? { startOffset } : {}),
    ...(endOffset ? { endOffset } : {}),
    ...(pageToken ? { pageToken } : {}),
    ...(matchGlob ? { matchGlob } : {}),
  });
  const items = page.items.map((n) => emu.store.getObject(bucketName, n)).filter((o): o is ObjectRecord => o !== undefined);
  sendJson(ctx, 200, {
    kind: 'storage#objects',
    ...(page.nextPageToken ? { nextPageToken: page.nextPageToken } : {}),
    ...(page.prefixes.length ? { prefixes: page.prefixes } : {}),
    ...(items.length ? { items: items.map((o) => renderObject(o, ctx.baseUrl)) } : {}),
  });
}

// ---------------------------------------------------------------- objects

function liveObject(emu: Emulator, ctx: Ctx, bucket: string, name: string): ObjectRecord {
  const o = emu.store.getObject(bucket, name);
  const gen = ctx.q('generation');
  if (!o || (gen !== undefined && gen !== '' && gen !== o.generation)) throw notFoundObject(bucket, name);
  return o;
}

async function getObject(emu: Emulator, ctx: Ctx, bucket: string, name: string, forceMedia: boolean): Promise<void> {
  requireBucket(emu, bucket);
  const o = liveObject(emu, ctx, bucket, name);
  checkPreconditions(preconditionsFromQuery(ctx), o, 'read');
  if (forceMedia || ctx.q('alt') === 'media') return serveMedia(emu, ctx, o);
  sendJson(ctx, 200, renderObject(o, ctx.baseUrl));
}

/** Applies a JSON patch (or full update) of writable metadata; metageneration++. */
async function patchObject(emu: Emulator, ctx: Ctx, bucket: string, name: string, replace: boolean): Promise<void> {
  const b = requireBucket(emu, bucket);
  const body = await readJsonBody(ctx);
  const input = metadataFromJson(body);
  const current = liveObject(emu, ctx, bucket, name);
  checkPreconditions(preconditionsFromQuery(ctx), current, 'write');
  const next: ObjectRecord = { ...current, metageneration: current.metageneration + 1, updated: new Date().toISOString() };
  const fields = ['contentType', 'contentEncoding', 'contentDisposition', 'contentLanguage', 'cacheControl', 'customTime'] as const;
  for (const f of fields) {
    if (replace || f in body) {
      const v = input[f];
      if (v === undefined) {
        if (f === 'contentType') next.contentType = 'application/octet-stream';
        else delete next[f];
      } else next[f] = v;
    }
  }
  for (const f of ['temporaryHold', 'eventBasedHold'] as const) {
    if (replace || f in body) {
      const v = input[f];
      if (v === undefined) delete next[f];
      else next[f] = v;
    }
  }
  if (replace) {
    if (input.metadata) next.metadata = input.metadata;
    else delete next.metadata;
  } else if ('metadata' in body) {
    if (body.metadata === null) delete next.metadata;
    else {
      // Patch semantics: keys set to null are removed, others merged.
      const merged = { ...(current.metadata ?? {}) };
      for (const [k, v] of Object.entries(body.metadata as Record<string, unknown>)) {
        if (v === null) delete merged[k];
        else merged[k] = typeof v === 'string' ? v : JSON.stringify(v);
      }
      next.metadata = merged;
    }
  }
  // Re-check atomically: nothing may have replaced the generation while the body was read.
  const live = emu.store.getObject(bucket, name);
  if (!live || live.generation !== current.generation || live.metageneration !== current.metageneration) {
    throw new StorageApiError(412, 'conditionNotMet', 'PreconditionFailed', 'The object changed while it was being updated; retry.');
  }
  await emu.store.updateObjectMetadata(next);
  await emu.notifier.notify(emu.store.getBucket(bucket) ?? b, {
    eventType: 'OBJECT_METADATA_UPDATE',
    objectName: name,
    generation: next.generation,
    resource: renderObject(next, ctx.baseUrl),
  });
  sendJson(ctx, 200, renderObject(next, ctx.baseUrl));
}

/** `POST /upload/storage/v1/b/B/o?uploadType=media|multipart|resumable`. */
async function insertObject(emu: Emulator, ctx: Ctx, bucketName: string): Promise<void> {
  const bucket = requireBucket(emu, bucketName);
  const uploadType = ctx.q('uploadType') ?? 'media';
  const preconditions = preconditionsFromQuery(ctx);
  const fromQuery = (): ObjectMetadataInput => {
    const ce = ctx.q('contentEncoding');
    return ce ? { contentEncoding: ce } : {};
  };

  if (uploadType === 'media') {
    const name = validateObjectName(ctx.q('name'));
    earlyPreconditionCheck(emu, bucketName, name, preconditions);
    const meta: ObjectMetadataInput = { ...fromQuery(), contentType: ctx.header('content-type') ?? 'application/octet-stream' };
    const blob = await receiveBody(emu, ctx);
    const o = await commitWithHashCheck(emu, ctx, bucket, name, meta, blob, preconditions);
    return sendJson(ctx, 200, renderObject(o, ctx.baseUrl));
  }

  if (uploadType === 'multipart') {
    const contentType = ctx.header('content-type') ?? '';
    if (!/^multipart\//i.test(contentType)) throw badRequest(`uploadType=multipart needs a multipart/related body, got Content-Type "${contentType}".`);
    const { blob, value: head } = await writeBlob(emu, (write) =>
      readMultipartRelated(cappedBody(ctx.req, emu.maxUploadBytes + 16 * 1024 * 1024, () => overEmulatorCap(emu.maxUploadBytes)), contentType, write),
    );
    try {
      const meta: ObjectMetadataInput = { ...fromQuery(), ...metadataFromJson(head.metadata) };
      if (!meta.contentType) meta.contentType = head.mediaContentType ?? 'application/octet-stream';
      const name = validateObjectName(ctx.q('name') ?? (typeof head.metadata.name === 'string' ? head.metadata.name : undefined));
      verifyDeclaredHashes(blob.digests, meta, 'object metadata');
      const o = await commitNewObject(emu, bucket, name, meta, blob, preconditions, ctx.baseUrl);
      return sendJson(ctx, 200, renderObject(o, ctx.baseUrl));
    } catch (e) {
      if (!(e instanceof StorageApiError && e.status === 412)) await emu.store.blobs.remove(blob.ref);
      throw e;
    }
  }

  if (uploadType === 'resumable') {
    const body = await readJsonBody(ctx);
    const name = validateObjectName(ctx.q('name') ?? (typeof body.name === 'string' ? body.name : undefined));
    earlyPreconditionCheck(emu, bucketName, name, preconditions);
    const meta: ObjectMetadataInput = { ...fromQuery(), ...metadataFromJson(body) };
    if (!meta.contentType) meta.contentType = ctx.header('x-upload-content-type') ?? 'application/octet-stream';
    const total = intParam(ctx.header('x-upload-content-length'), 'X-Upload-Content-Length');
    if (total !== undefined && total > emu.maxUploadBytes) throw overEmulatorCap(emu.maxUploadBytes);
    const s = await emu.sessions.open(emu, { bucket: bucketName, name, meta, preconditions, api: 'json', ...(total !== undefined ? { total } : {}) });
    const location = `${ctx.baseUrl}/upload/storage/v1/b/${encodeURIComponent(bucketName)}/o?uploadType=resumable&name=${encodeURIComponent(name)}&upload_id=${s.id}`;
    return sendEmpty(ctx, 200, { location, 'x-guploader-uploadid': s.id });
  }

  throw badRequest(`Unsupported uploadType: ${uploadType}`);
}

async function commitWithHashCheck(
  emu: Emulator,
  ctx: Ctx,
  bucket: BucketRecord,
  name: string,
  meta: ObjectMetadataInput,
  blob: Awaited<ReturnType<typeof receiveBody>>,
  preconditions: ReturnType<typeof preconditionsFromQuery>,
): Promise<ObjectRecord> {
  try {
    verifyDeclaredHashes(blob.digests, meta, 'object metadata');
  } catch (e) {
    await emu.store.blobs.remove(blob.ref);
    throw e;
  }
  return commitNewObject(emu, bucket, name, meta, blob, preconditions, ctx.baseUrl);
}

/** copyTo / rewriteTo: same bytes, new generation at the destination, metadata from the body or the source. */
async function copyObject(emu: Emulator, ctx: Ctx, srcBucket: string, srcName: string, dstBucket: string, dstName: string, rewrite: boolean): Promise<void> {
  requireBucket(emu, srcBucket);
  const dst = requireBucket(emu, dstBucket);
  validateObjectName(dstName);
  const body = await readJsonBody(ctx);
  const src = emu.store.getObject(srcBucket, srcName);
  const srcGen = ctx.q('sourceGeneration');
  if (!src || (srcGen !== undefined && srcGen !== '' && srcGen !== src.generation)) throw notFoundObject(srcBucket, srcName);
  checkPreconditions(preconditionsFromQuery(ctx, 'ifSource'), src, 'write');
  const preconditions = preconditionsFromQuery(ctx);
  earlyPreconditionCheck(emu, dstBucket, dstName, preconditions);

  const override = metadataFromJson(body);
  const hasOverride = Object.keys(override).length > 0;
  const meta: ObjectMetadataInput = hasOverride
    ? { contentType: src.contentType, ...override }
    : {
        contentType: src.contentType,
        ...(src.contentEncoding !== undefined ? { contentEncoding: src.contentEncoding } : {}),
        ...(src.contentDisposition !== undefined ? { contentDisposition: src.contentDisposition } : {}),
        ...(src.contentLanguage !== undefined ? { contentLanguage: src.contentLanguage } : {}),
        ...(src.cacheControl !== undefined ? { cacheControl: src.cacheControl } : {}),
        ...(src.customTime !== undefined ? { customTime: src.customTime } : {}),
        ...(src.metadata !== undefined ? { metadata: { ...src.metadata } } : {}),
      };
  delete meta.md5Hash;
  delete meta.crc32c;
  const ref = await emu.store.blobs.duplicate(src.blob);
  const o = await commitNewObject(emu, dst, dstName, meta, { ref, digests: { size: src.size, md5Hash: src.md5Hash, crc32c: src.crc32c } }, preconditions, ctx.baseUrl, {
    ...(src.componentCount !== undefined ? { componentCount: src.componentCount } : {}),
  });
  const resource = renderObject(o, ctx.baseUrl);
  if (!rewrite) return sendJson(ctx, 200, resource);
  sendJson(ctx, 200, { kind: 'storage#rewriteResponse', totalBytesRewritten: String(o.size), objectSize: String(o.size), done: true, resource });
}

/** compose: concatenates up to 32 source objects of the bucket into the destination. */
async function composeObject(emu: Emulator, ctx: Ctx, bucketName: string, dstName: string): Promise<void> {
  const bucket = requireBucket(emu, bucketName);
  validateObjectName(dstName);
  const body = await readJsonBody(ctx);
  const sources = body.sourceObjects;
  if (!Array.isArray(sources) || sources.length === 0) throw new StorageApiError(400, 'required', 'InvalidArgument', 'Required: sourceObjects.');
  if (sources.length > 32) throw badRequest('The number of source components provided (more than 32) exceeds the maximum.');
  const records: ObjectRecord[] = sources.map((s: unknown) => {
    const so = (typeof s === 'object' && s !== null ? s : {}) as { name?: unknown; generation?: unknown; objectPreconditions?: { ifGenerationMatch?: unknown } };
    if (typeof so.name !== 'string') throw new StorageApiError(400, 'required', 'InvalidArgument', 'Required: sourceObjects[].name.');
    const o = emu.store.getObject(bucketName, so.name);
    if (!o || (so.generation !== undefined && scalarString(so.generation) !== o.generation)) throw notFoundObject(bucketName, so.name);
    const pre = so.objectPreconditions?.ifGenerationMatch;
    if (pre !== undefined && scalarString(pre) !== o.generation) throw new StorageApiError(412, 'conditionNotMet', 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold.');
    return o;
  });
  const preconditions = preconditionsFromQuery(ctx);
  earlyPreconditionCheck(emu, bucketName, dstName, preconditions);
  const destination = (typeof body.destination === 'object' && body.destination !== null ? body.destination : {}) as Record<string, unknown>;
  const meta = metadataFromJson(destination);
  if (!meta.contentType) meta.contentType = records[0]?.contentType ?? 'application/octet-stream';
  const { blob } = await writeBlob(emu, async (write) => {
    for (const r of records) {
      for await (const chunk of emu.store.blobs.read(r.blob) as AsyncIterable<Buffer>) await write(chunk);
    }
  });
  const componentCount = records.reduce((n, r) => n + (r.componentCount ?? 1), 0);
  const o = await commitNewObject(emu, bucket, dstName, meta, blob, preconditions, ctx.baseUrl, { componentCount });
  sendJson(ctx, 200, renderObject(o, ctx.baseUrl));
}

// ---------------------------------------------------------------- notifications

async function createNotification(emu: Emulator, ctx: Ctx, bucketName: string): Promise<void> {
  requireBucket(emu, bucketName);
  const body = await readJsonBody(ctx);
  // The Node client converts keys to snake_case; the REST reference documents both spellings.
  const pick = (snake: string, camel: string): unknown => body[snake] ?? body[camel];
  if (typeof body.topic !== 'string') throw new StorageApiError(400, 'required', 'InvalidArgument', 'Required: topic.');
  const topic = normaliseTopic(body.topic);
  const eventTypes = pick('event_types', 'eventTypes');
  if (eventTypes !== undefined && (!Array.isArray(eventTypes) || !eventTypes.every((e) => EVENT_TYPES.includes(e as EventType)))) {
    throw badRequest(`Invalid event_types: ${JSON.stringify(eventTypes)}; allowed: ${EVENT_TYPES.join(', ')}`);
  }
  const payloadFormat = pick('payload_format', 'payloadFormat') ?? 'JSON_API_V1';
  if (payloadFormat !== 'JSON_API_V1' && payloadFormat !== 'NONE') throw badRequest(`Invalid payload_format: ${scalarString(payloadFormat)}`);
  const prefix = pick('object_name_prefix', 'objectNamePrefix');
  if (prefix !== undefined && typeof prefix !== 'string') throw badRequest('Invalid object_name_prefix.');
  const custom = pick('custom_attributes', 'customAttributes');
  if (custom !== undefined && (typeof custom !== 'object' || custom === null || Array.isArray(custom))) throw badRequest('Invalid custom_attributes.');

  // GCS refuses a config whose topic does not exist; check when the Pub/Sub emulator answers.
  if ((await emu.notifier.topicStatus(topic)) === 'missing') {
    throw badRequest(`The Cloud Pub/Sub topic ${topic} does not exist (create it in the Pub/Sub emulator first).`);
  }
  const bucket = requireBucket(emu, bucketName); // re-read: the check above awaited
  const n: NotificationRecord = {
    id: String(bucket.nextNotificationId),
    topic,
    payloadFormat,
    etag: String(bucket.nextNotificationId),
    ...(Array.isArray(eventTypes) && eventTypes.length > 0 ? { eventTypes: eventTypes as string[] } : {}),
    ...(typeof prefix === 'string' && prefix !== '' ? { objectNamePrefix: prefix } : {}),
    ...(custom ? { customAttributes: Object.fromEntries(Object.entries(custom as Record<string, unknown>).map(([k, v]) => [k, scalarString(v)])) } : {}),
  };
  await emu.store.saveBucket({ ...bucket, notifications: [...bucket.notifications, n], nextNotificationId: bucket.nextNotificationId + 1 });
  emu.log({ severity: 'INFO', message: 'notification config created', bucket: bucketName, id: n.id, topic, eventTypes: n.eventTypes, objectNamePrefix: n.objectNamePrefix });
  sendJson(ctx, 200, renderNotification(bucketName, n, ctx.baseUrl));
}

function findNotification(bucket: BucketRecord, id: string): NotificationRecord {
  const n = bucket.notifications.find((x) => x.id === id);
  if (!n) throw new StorageApiError(404, 'notFound', 'NoSuchNotification', `No such notification config: ${id}`);
  return n;
}

// ---------------------------------------------------------------- routing

const decodeSeg = (s: string): string => {
  try {
    return decodeURIComponent(s);
  } catch {
    throw badRequest('Invalid percent-encoding in the request path.');
  }
};

/**
 * Routes a JSON API request. `rest` is the path after `/storage/v1` (or the whole path for
 * STORAGE_EMULATOR_HOST-style requests), still percent-encoded.
 */
export async function handleJsonApi(emu: Emulator, ctx: Ctx, rest: string): Promise<void> {
  const segs = rest.split('/').slice(1); // rest starts with '/'
  const m = ctx.method;
  if (segs[0] !== 'b') throw notImplemented(`${m} ${ctx.rawPath}`);
  if (segs.length === 1 || (segs.length === 2 && segs[1] === '')) {
    if (m === 'GET') {
      const prefix = ctx.q('prefix') ?? '';
      return sendJson(ctx, 200, {
        kind: 'storage#buckets',
        items: emu.store
          .listBuckets()
          .filter((b) => b.name.startsWith(prefix))
          .map((b) => renderBucket(b, ctx.baseUrl)),
      });
    }
    if (m === 'POST') return insertBucket(emu, ctx);
    throw notImplemented(`${m} ${ctx.rawPath}`);
  }
  const bucket = decodeSeg(segs[1] ?? '');
  if (segs.length === 2) {
    if (m === 'GET') return sendJson(ctx, 200, renderBucket(requireBucket(emu, bucket), ctx.baseUrl));
    if (m === 'PATCH' || m === 'PUT') return patchBucket(emu, ctx, bucket, m === 'PUT');
    if (m === 'DELETE') {
      requireBucket(emu, bucket);
      if (emu.store.objectCount(bucket) > 0) throw new StorageApiError(409, 'conflict', 'BucketNotEmpty', 'The bucket you tried to delete is not empty.');
      await emu.store.deleteBucket(bucket);
      return sendEmpty(ctx, 204);
    }
    throw notImplemented(`${m} ${ctx.rawPath}`);
  }
  const kind = segs[2];
  if (segs.length === 3 && m === 'GET' && kind === 'storageLayout') {
    // gcloud asks before recursive operations; buckets here are flat (no hierarchical namespace).
    const b = requireBucket(emu, bucket);
    return sendJson(ctx, 200, { kind: 'storage#storageLayout', bucket, location: b.location, locationType: 'multi-region', hierarchicalNamespace: { enabled: false } });
  }
  if (segs.length === 3 && m === 'GET' && (kind === 'managedFolders' || kind === 'folders')) {
    requireBucket(emu, bucket);
    return sendJson(ctx, 200, { kind: kind === 'folders' ? 'storage#folders' : 'storage#managedFolders' });
  }
  if (kind === 'notificationConfigs') {
    const b = requireBucket(emu, bucket);
    if (segs.length === 3) {
      if (m === 'GET') return sendJson(ctx, 200, { kind: 'storage#notifications', items: b.notifications.map((n) => renderNotification(bucket, n, ctx.baseUrl)) });
      if (m === 'POST') return createNotification(emu, ctx, bucket);
    } else if (segs.length === 4) {
      const id = decodeSeg(segs[3] ?? '');
      const n = findNotification(b, id);
      if (m === 'GET') return sendJson(ctx, 200, renderNotification(bucket, n, ctx.baseUrl));
      if (m === 'DELETE') {
        await emu.store.saveBucket({ ...b, notifications: b.notifications.filter((x) => x.id !== id) });
        return sendEmpty(ctx, 204);
      }
    }
    throw notImplemented(`${m} ${ctx.rawPath}`);
  }
  if (kind !== 'o') throw notImplemented(`${m} ${ctx.rawPath}`);
  if (segs.length === 3 || (segs.length === 4 && segs[3] === '')) {
    if (m === 'GET') return listObjects(emu, ctx, bucket);
    if (m === 'POST') return insertObject(emu, ctx, bucket);
    throw notImplemented(`${m} ${ctx.rawPath}`);
  }
  const objSegs = segs.slice(3);
  if (m === 'POST') {
    // .../o/SRC/copyTo/b/DB/o/DST, .../o/SRC/rewriteTo/b/DB/o/DST, .../o/DST/compose
    const k = objSegs.findIndex((s, i) => (s === 'copyTo' || s === 'rewriteTo') && objSegs[i + 1] === 'b' && objSegs[i + 3] === 'o' && i + 4 < objSegs.length);
    if (k > 0) {
      const src = objSegs.slice(0, k).map(decodeSeg).join('/');
      const dstBucket = decodeSeg(objSegs[k + 2] ?? '');
      const dst = objSegs.slice(k + 4).map(decodeSeg).join('/');
      return copyObject(emu, ctx, bucket, src, dstBucket, dst, objSegs[k] === 'rewriteTo');
    }
    if (objSegs.length > 1 && objSegs[objSegs.length - 1] === 'compose') {
      return composeObject(emu, ctx, bucket, objSegs.slice(0, -1).map(decodeSeg).join('/'));
    }
    throw notImplemented(`${m} ${ctx.rawPath}`);
  }
  const name = objSegs.map(decodeSeg).join('/');
  if (m === 'GET' || m === 'HEAD') return getObject(emu, ctx, bucket, name, false);
  if (m === 'PATCH' || m === 'PUT') return patchObject(emu, ctx, bucket, name, m === 'PUT');
  if (m === 'DELETE') {
    const b = requireBucket(emu, bucket);
    const gen = ctx.q('generation');
    const p = preconditionsFromQuery(ctx);
    if (gen) p.ifGenerationMatch ??= gen; // deleting a specific generation = deleting it only if it is live
    await deleteObject(emu, b, name, p, ctx.baseUrl, () => notFoundObject(bucket, name));
    return sendEmpty(ctx, 204);
  }
  throw notImplemented(`${m} ${ctx.rawPath}`);
}

/** `/upload/storage/v1/b/B/o`: POST starts/does an upload; PUT/DELETE act on a resumable session. */
export async function handleUpload(emu: Emulator, ctx: Ctx, bucketRaw: string): Promise<void> {
  const bucket = decodeSeg(bucketRaw);
  const uploadId = ctx.q('upload_id');
  if (ctx.method === 'POST' && !uploadId) return insertObject(emu, ctx, bucket);
  if (!uploadId) throw badRequest('Missing upload_id.');
  const s = emu.sessions.get(uploadId);
  if (!s || s.bucket !== bucket) throw new StorageApiError(404, 'notFound', 'NoSuchUpload', `No such upload session: ${uploadId}`);
  if (ctx.method === 'PUT' || ctx.method === 'POST') return handleSessionPut(emu, ctx, s);
  if (ctx.method === 'DELETE') {
    await emu.sessions.cancel(uploadId);
    return sendEmpty(ctx, 499);
  }
  throw notImplemented(`${ctx.method} ${ctx.rawPath}`);
}

/** `/download/storage/v1/b/B/o/O`: media download (gcloud and `mediaLink` use this path). */
export async function handleDownload(emu: Emulator, ctx: Ctx, bucketRaw: string, objectRaw: string): Promise<void> {
  if (ctx.method !== 'GET' && ctx.method !== 'HEAD') throw notImplemented(`${ctx.method} ${ctx.rawPath}`);
  return getObject(emu, ctx, decodeSeg(bucketRaw), objectRaw.split('/').map(decodeSeg).join('/'), true);
}
