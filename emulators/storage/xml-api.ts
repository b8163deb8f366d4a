/**
 * The XML API on path-style URLs (`/BUCKET/OBJECT`), which is what V4 signed URLs address:
 * object PUT (simple and resumable), GET/HEAD with ranges, DELETE, bucket listing, CORS
 * preflights. Requests carrying a signature must verify; unsigned requests are allowed because
 * the emulator has no ACLs to enforce.
 */
import type { Ctx, Emulator } from './http.js';
import type { ObjectRecord } from './store.js';
import { StorageApiError, badRequest, notFoundBucket, notFoundObject, notImplemented } from './errors.js';
import { sendEmpty, sendXml } from './http.js';
import { actualCorsHeaders, preflight } from './cors.js';
import { decodeToken, encodeToken, listPage } from './json-api.js';
import {
  checkPreconditions,
  commitNewObject,
  deleteObject,
  headerSafe,
  mediaHeaders,
  parseGoogHash,
  preconditionsFromHeaders,
  requireBucket,
  serveMedia,
  validateObjectName,
  verifyDeclaredHashes,
  type ObjectMetadataInput,
} from './objects.js';
import { signedUrlVersion, verifyV2, verifyV4, type VerifiedSignature } from './signing.js';
import { earlyPreconditionCheck, entityTooLarge, entityTooSmall, handleSessionPut, parseLengthRange, receiveBody } from './uploads.js';

function xmlEscape(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c] ?? c);
}

/** Object metadata from XML API request headers (Content-*, x-goog-meta-*). */
function metadataFromHeaders(ctx: Ctx): ObjectMetadataInput {
  const meta: ObjectMetadataInput = { contentType: ctx.header('content-type') ?? 'application/octet-stream' };
  const map = [
    ['content-encoding', 'contentEncoding'],
    ['content-disposition', 'contentDisposition'],
    ['content-language', 'contentLanguage'],
    ['cache-control', 'cacheControl'],
    ['x-goog-custom-time', 'customTime'],
    ['x-goog-storage-class', 'storageClass'],
  ] as const;
  for (const [h, f] of map) {
    const v = ctx.header(h);
    if (v !== undefined) meta[f] = v;
  }
  const custom: Record<string, string> = {};
  for (const [k, v] of ctx.headers) if (k.startsWith('x-goog-meta-') && k.length > 12) custom[k.slice(12)] = v;
  if (Object.keys(custom).length > 0) meta.metadata = custom;
  return meta;
}

function uploadAnswerHeaders(o: ObjectRecord): Record<string, string> {
  const h = mediaHeaders(o);
  return {
    etag: h.etag ?? '',
    'x-goog-generation': o.generation,
    'x-goog-metageneration': String(o.metageneration),
    'x-goog-hash': h['x-goog-hash'] ?? '',
    'x-goog-stored-content-length': String(o.size),
    'x-goog-stored-content-encoding': o.contentEncoding ?? 'identity',
  };
}

/**
 * Verifies the request's signature if it carries one; returns it (undefined for unsigned requests).
 * A signed request gets past here only if every header that shapes it (x-goog-*, content-type,
 * content-md5) is signed, so the handlers below may read those headers as the signer's intent.
 */
function authenticate(emu: Emulator, ctx: Ctx): VerifiedSignature | undefined {
  const version = signedUrlVersion(ctx.queryPairs);
  if (!version) return undefined;
  // The emulator serves plain HTTP only: port 80 is the default a Host header may omit.
  const req = { method: ctx.method, rawPath: ctx.rawPath, rawQuery: ctx.rawQuery, headers: ctx.headers, scheme: 'http' as const };
  const sig = version === 'v4' ? verifyV4(req, emu.trusted) : verifyV2(req, emu.trusted);
  emu.log({ severity: 'DEBUG', message: 'signed request verified', version, clientEmail: sig.clientEmail, method: ctx.method, path: ctx.rawPath });
  return sig;
}

async function putObject(emu: Emulator, ctx: Ctx, bucketName: string, name: string, sig: VerifiedSignature | undefined): Promise<void> {
  const bucket = requireBucket(emu, bucketName);
  validateObjectName(name);
  const preconditions = preconditionsFromHeaders(ctx);
  const lengthRange = parseLengthRange(ctx.header('x-goog-content-length-range'));
  const declared = ctx.contentLength;
  // Refuse on the declared length before reading anything, as GCS does.
  if (lengthRange && declared !== undefined) {
    if (declared > lengthRange.max) throw entityTooLarge(lengthRange.max);
    if (declared < lengthRange.min) throw entityTooSmall(lengthRange.min);
  }
  const copySource = ctx.header('x-goog-copy-source');
  if (copySource) return copyFromSource(emu, ctx, bucket.name, name, copySource);
  earlyPreconditionCheck(emu, bucketName, name, preconditions);
  const wantSha = sig?.contentSha256 !== undefined && sig.contentSha256 !== 'UNSIGNED-PAYLOAD';
  const blob = await receiveBody(emu, ctx, { sha256: wantSha, lengthRange });
  const meta = metadataFromHeaders(ctx);
  try {
    const contentMd5 = ctx.header('content-md5');
    verifyDeclaredHashes(blob.digests, { ...parseGoogHash(ctx.header('x-goog-hash')), ...(contentMd5 ? { md5Hash: contentMd5 } : {}) }, 'request headers');
    if (wantSha && blob.digests.sha256Hex !== sig.contentSha256?.toLowerCase()) {
      throw new StorageApiError(400, 'invalid', 'BadDigest', 'The SHA-256 you specified in x-goog-content-sha256 did not match what we received.');
    }
  } catch (e) {
    await emu.store.blobs.remove(blob.ref);
    throw e;
  }
  const o = await commitNewObject(emu, bucket, name, meta, blob, preconditions, ctx.baseUrl);
  sendEmpty(ctx, 200, uploadAnswerHeaders(o));
}

/** `PUT` with `x-goog-copy-source: /bucket/object` (XML API copy). */
async function copyFromSource(emu: Emulator, ctx: Ctx, dstBucket: string, dstName: string, source: string): Promise<void> {
  const m = /^\/?([^/]+)\/(.+)$/.exec(source);
  if (!m) throw badRequest(`Invalid x-goog-copy-source: ${source}`);
  const srcBucket = decodeURIComponent(m[1] ?? '');
  const srcName = decodeURIComponent(m[2] ?? '');
  requireBucket(emu, srcBucket);
  const src = emu.store.getObject(srcBucket, srcName);
  if (!src) throw notFoundObject(srcBucket, srcName);
  const replace = ctx.header('x-goog-metadata-directive')?.toUpperCase() === 'REPLACE';
  const meta: ObjectMetadataInput = replace
    ? metadataFromHeaders(ctx)
    : { contentType: src.contentType, ...(src.metadata ? { metadata: { ...src.metadata } } : {}), ...(src.contentEncoding ? { contentEncoding: src.contentEncoding } : {}) };
  const ref = await emu.store.blobs.duplicate(src.blob);
  const o = await commitNewObject(
    emu,
    requireBucket(emu, dstBucket),
    dstName,
    meta,
    { ref, digests: { size: src.size, md5Hash: src.md5Hash, crc32c: src.crc32c } },
    preconditionsFromHeaders(ctx),
    ctx.baseUrl,
  );
  const xml = `<?xml version='1.0' encoding='UTF-8'?><CopyObjectResult><LastModified>${o.updated}</LastModified><ETag>${uploadAnswerHeaders(o).etag}</ETag></CopyObjectResult>`;
  sendXml(ctx, 200, xml, uploadAnswerHeaders(o));
}

function listBucketXml(emu: Emulator, ctx: Ctx, bucket: string): void {
  requireBucket(emu, bucket);
  const prefix = ctx.q('prefix') ?? '';
  const delimiter = ctx.q('delimiter');
  const marker = ctx.q('marker') ?? '';
  const maxKeys = Math.min(Math.max(Number(ctx.q('max-keys') ?? 1000) || 1000, 1), 1000);
  const page = listPage(emu.store.sortedObjectNames(bucket), {
    prefix,
    maxResults: maxKeys,
    ...(delimiter ? { delimiter } : {}),
    ...(marker ? { pageToken: encodeToken({ after: marker, prefix: false }) } : {}),
  });
  let xml = `<?xml version='1.0' encoding='UTF-8'?><ListBucketResult xmlns='http://doc.s3.amazonaws.com/2006-03-01'><Name>${xmlEscape(bucket)}</Name><Prefix>${xmlEscape(prefix)}</Prefix><Marker>${xmlEscape(marker)}</Marker>`;
  if (page.nextPageToken) xml += `<NextMarker>${xmlEscape(decodeToken(page.nextPageToken).after)}</NextMarker>`;
  xml += `<IsTruncated>${page.nextPageToken ? 'true' : 'false'}</IsTruncated>`;
  for (const n of page.items) {
    const o = emu.store.getObject(bucket, n);
    if (!o) continue;
    xml += `<Contents><Key>${xmlEscape(o.name)}</Key><Generation>${o.generation}</Generation><MetaGeneration>${o.metageneration}</MetaGeneration><LastModified>${o.updated}</LastModified><ETag>${xmlEscape(mediaHeaders(o).etag ?? '')}</ETag><Size>${o.size}</Size></Contents>`;
  }
  for (const p of page.prefixes) xml += `<CommonPrefixes><Prefix>${xmlEscape(p)}</Prefix></CommonPrefixes>`;
  sendXml(ctx, 200, xml + '</ListBucketResult>');
}

/** Routes an XML API request (any path that is not a JSON API route). */
export async function handleXmlApi(emu: Emulator, ctx: Ctx): Promise<void> {
  ctx.api = 'xml';
  const path = ctx.rawPath;
  const slash = path.indexOf('/', 1);
  let bucketName: string;
  let objectName: string | undefined;
  try {
    bucketName = decodeURIComponent(slash < 0 ? path.slice(1) : path.slice(1, slash));
    const rest = slash < 0 ? '' : path.slice(slash + 1);
    objectName = rest === '' ? undefined : decodeURIComponent(rest);
  } catch {
    throw badRequest('Invalid percent-encoding in the request path.');
  }
  if (!bucketName) {
    if (ctx.method !== 'GET') throw notImplemented(`${ctx.method} /`);
    const buckets = emu.store
      .listBuckets()
      .map((b) => `<Bucket><Name>${xmlEscape(b.name)}</Name><CreationDate>${b.timeCreated}</CreationDate></Bucket>`)
      .join('');
    return sendXml(ctx, 200, `<?xml version='1.0' encoding='UTF-8'?><ListAllMyBucketsResult xmlns='http://doc.s3.amazonaws.com/2006-03-01'><Buckets>${buckets}</Buckets></ListAllMyBucketsResult>`);
  }

  const bucket = emu.store.getBucket(bucketName);
  const origin = ctx.header('origin');
  if (ctx.method === 'OPTIONS') {
    if (!bucket) throw notFoundBucket(bucketName);
    const headers = preflight(bucket.cors, origin, ctx.header('access-control-request-method'), ctx.header('access-control-request-headers'));
    emu.log({ severity: 'DEBUG', message: 'CORS preflight', bucket: bucketName, origin, allowed: headers !== undefined });
    return sendEmpty(ctx, 200, headers ?? {});
  }
  // CORS headers go on every answer, errors included, so a browser can read why it failed.
  for (const [k, v] of Object.entries(actualCorsHeaders(bucket?.cors, origin, ctx.method))) ctx.res.setHeader(k, v);

  const sig = authenticate(emu, ctx);
  // Session requests are authorised by the upload_id, as in GCS: what the upload creates (name,
  // metadata, preconditions, length range) was fixed by the POST that opened the session, which a
  // signed URL can only do with signed headers; chunks add bytes and at most an X-Goog-Hash the
  // final bytes must match.
  const uploadId = ctx.q('upload_id');
  if (uploadId) {
    const s = emu.sessions.get(uploadId);
    if (!s || s.bucket !== bucketName || (objectName !== undefined && s.name !== objectName)) {
      throw new StorageApiError(404, 'notFound', 'NoSuchUpload', 'The requested upload was not found.');
    }
    if (ctx.method === 'PUT' || ctx.method === 'POST') return handleSessionPut(emu, ctx, s);
    if (ctx.method === 'DELETE') {
      await emu.sessions.cancel(uploadId);
      return sendEmpty(ctx, 499);
    }
    throw notImplemented(`${ctx.method} on an upload session`);
  }

  if (objectName === undefined) {
    if (!bucket) throw notFoundBucket(bucketName);
    if (ctx.method === 'GET') return listBucketXml(emu, ctx, bucketName);
    if (ctx.method === 'HEAD') return sendEmpty(ctx, 200);
    throw notImplemented(`${ctx.method} on a bucket via the XML API`);
  }

  switch (ctx.method) {
    case 'GET':
    case 'HEAD': {
      if (!bucket) throw notFoundBucket(bucketName);
      const o = emu.store.getObject(bucketName, objectName);
      const gen = ctx.q('generation');
      if (!o || (gen !== undefined && gen !== o.generation)) {
        throw new StorageApiError(404, 'notFound', 'NoSuchKey', 'The specified key does not exist.', { details: `No such object: ${bucketName}/${objectName}` });
      }
      checkPreconditions(preconditionsFromHeaders(ctx), o, 'read');
      // Signed-URL response overrides (e.g. promptSaveAs / responseType in the Node client).
      const overrides: Record<string, string> = {};
      const disposition = ctx.q('response-content-disposition');
      const type = ctx.q('response-content-type');
      if (disposition) overrides['content-disposition'] = headerSafe(disposition);
      if (type) overrides['content-type'] = headerSafe(type);
      return serveMedia(emu, ctx, o, overrides);
    }
    case 'PUT':
      return putObject(emu, ctx, bucketName, objectName, sig);
    case 'POST': {
      if (ctx.header('x-goog-resumable')?.toLowerCase() !== 'start') throw notImplemented('XML POST without x-goog-resumable: start');
      const b = requireBucket(emu, bucketName);
      validateObjectName(objectName);
      const preconditions = preconditionsFromHeaders(ctx);
      earlyPreconditionCheck(emu, bucketName, objectName, preconditions);
      ctx.req.resume();
      const lengthRange = parseLengthRange(ctx.header('x-goog-content-length-range'));
      const s = await emu.sessions.open(emu, {
        bucket: b.name,
        name: objectName,
        meta: metadataFromHeaders(ctx),
        preconditions,
        api: 'xml',
        ...(lengthRange ? { lengthRange } : {}),
      });
      const location = `${ctx.baseUrl}/${encodeURIComponent(bucketName)}/${objectName.split('/').map(encodeURIComponent).join('/')}?upload_id=${s.id}`;
      return sendEmpty(ctx, 201, { location, 'x-guploader-uploadid': s.id });
    }
    case 'DELETE': {
      if (!bucket) throw notFoundBucket(bucketName);
      const name = objectName;
      await deleteObject(emu, bucket, name, preconditionsFromHeaders(ctx), ctx.baseUrl, () =>
        new StorageApiError(404, 'notFound', 'NoSuchKey', 'The specified key does not exist.', { details: `No such object: ${bucketName}/${name}` }),
      );
      return sendEmpty(ctx, 204);
    }
    default:
      throw notImplemented(`${ctx.method} via the XML API`);
  }
}
