/**
 * Cloud Storage access for the functions: signed upload URLs, object metadata, downloads to a temp
 * file and derived-object writes. Created on first use. With STORAGE_EMULATOR_HOST set the client
 * library talks to the local storage emulator (unauthenticated, as it does for custom endpoints).
 */
import { Storage, type File } from '@google-cloud/storage';
import { PermanentError, TransientError } from '../errors/index.js';
import { DERIVED_METADATA_KEY } from '../topology.js';
import { GcsObjectSchema, type GcsObject } from '../events/contracts.js';
import { readSigningKey, signV4Url, type SigningKey } from './v4-signer.js';

export interface SignedUpload {
  readonly url: string;
  /** Headers the uploader must send verbatim: they are part of the signature. */
  readonly headers: Record<string, string>;
  readonly expiresAt: Date;
}

export interface ObjectInfo {
  readonly bucket: string;
  readonly object: string;
  readonly generation: string;
  readonly size: number;
  readonly contentType: string | null;
  readonly md5Hash: string | null;
  readonly crc32c: string | null;
  readonly metadata: Record<string, string>;
}

export interface StorageGateway {
  /**
   * A V4 signed PUT that can only create `object` (exact size and type, create-only). With `md5Hash`
   * (base64 MD5) and/or `crc32c` (base64 big-endian CRC32C) the URL also binds the bytes: storage
   * refuses a body that does not hash to them (400 BadDigest) and stores nothing.
   */
  signUpload(args: { bucket: string; object: string; contentType: string; size: number; ttlSeconds: number; now?: Date; md5Hash?: string; crc32c?: string }): Promise<SignedUpload>;
  /** Downloads one generation of an object to `destination`. PermanentError SOURCE_MISSING if gone. */
  download(ref: { bucket: string; object: string; generation: string }, destination: string): Promise<void>;
  /** Reads the first `bytes` bytes of one generation (fewer if the object is shorter): content sniffing. PermanentError SOURCE_MISSING if gone. */
  readHead(ref: { bucket: string; object: string; generation: string }, bytes: number): Promise<Buffer>;
  /** Reads a (small) object fully, e.g. extracted text for the API. */
  read(ref: { bucket: string; object: string; generation?: string | null }): Promise<Buffer>;
  /** Writes a derived object once (marked so no trigger reacts to it); if it exists, returns the existing one. */
  writeDerived(args: { bucket: string; object: string; contentType: string; body: Buffer | string; metadata?: Record<string, string> }): Promise<ObjectInfo>;
  /**
   * A short-lived V4 signed GET of one object (optionally one generation of it), with an optional
   * `response-content-disposition` the store answers with (signed, so it cannot be changed).
   */
  signDownload(args: { bucket: string; object: string; ttlSeconds: number; now?: Date; generation?: string | null; responseContentDisposition?: string }): Promise<SignedDownload>;
  /** Deletes every object (live generation) under `prefix`; objects already gone are skipped. Returns how many were deleted. */
  deletePrefix(args: { bucket: string; prefix: string }): Promise<number>;
  /**
   * The live generation's JSON API resource (what a JSON_API_V1 notification carries), or null when
   * there is none: the reaper looks for an upload whose notification never reached ingest.
   */
  objectResource(ref: { bucket: string; object: string }): Promise<GcsObject | null>;
}

export interface SignedDownload {
  readonly url: string;
  readonly expiresAt: Date;
}

function statusOf(err: unknown): number | undefined {
  const code = typeof err === 'object' && err !== null && 'code' in err ? err.code : undefined;
  return typeof code === 'number' ? code : undefined;
}

function toInfo(bucket: string, object: string, md: File['metadata']): ObjectInfo {
  const custom: Record<string, string> = {};
  for (const [k, v] of Object.entries(md.metadata ?? {})) if (v !== null && v !== undefined) custom[k] = String(v);
  return {
    bucket,
    object,
    generation: String(md.generation ?? ''),
    size: Number(md.size ?? 0),
    contentType: md.contentType ?? null,
    md5Hash: md.md5Hash ?? null,
    crc32c: md.crc32c ?? null,
    metadata: custom,
  };
}

/** The XML API origin signed URLs address: the storage emulator's when one is configured, else GCS. */
export function storageEndpoint(emulatorHost: string | undefined = process.env.STORAGE_EMULATOR_HOST): string {
  if (!emulatorHost) return 'https://storage.googleapis.com';
  // As @google-cloud/storage reads STORAGE_EMULATOR_HOST: https unless a scheme is given.
  return new URL(/^https?:\/\//.test(emulatorHost) ? emulatorHost : `https://${emulatorHost}`).origin;
}

export function createStorageGateway(options: { projectId: string; signingKeyFile?: string | undefined; storageEmulatorHost?: string | undefined }): StorageGateway {
  let client: Storage | undefined;
  let signingKey: SigningKey | undefined;
  // In production no key file: the library signs through IAM signBlob as the runtime service account.
  const storage = (): Storage => (client ??= new Storage({ projectId: options.projectId, ...(options.signingKeyFile ? { keyFilename: options.signingKeyFile } : {}) }));
  return {
    async signUpload({ bucket, object, contentType, size, ttlSeconds, now = new Date(), md5Hash, crc32c }) {
      const expiresAt = new Date(now.getTime() + ttlSeconds * 1000);
      // The storage side enforces all of these: exact length, content type, create-only (a replayed
      // URL gets 412) and, when given, the checksums of the bytes (400 BadDigest). Each is signed, so
      // the uploader must send them verbatim and cannot drop or change one.
      const extensionHeaders: Record<string, string> = {
        'x-goog-content-length-range': `${size},${size}`,
        'x-goog-if-generation-match': '0',
        ...(crc32c !== undefined ? { 'x-goog-hash': `crc32c=${crc32c}` } : {}),
      };
      const headers: Record<string, string> = {
        'content-type': contentType,
        ...(md5Hash !== undefined ? { 'content-md5': md5Hash } : {}),
        ...extensionHeaders,
      };
      if (options.signingKeyFile) {
        // Local platform: sign ourselves for the endpoint's real host:port. The library would sign
        // the emulator's host without its port, which the emulator (rightly) refuses.
        signingKey ??= readSigningKey(options.signingKeyFile);
        const signed = signV4Url({
          key: signingKey,
          method: 'PUT',
          endpoint: storageEndpoint(options.storageEmulatorHost),
          bucket,
          object,
          headers,
          expiresInSeconds: ttlSeconds,
          now,
        });
        return { url: signed.url, headers, expiresAt };
      }
      // Production: storage.googleapis.com on the default port, where the library's portless host is
      // right. Dated `now` (as above), so X-Goog-Expires is exactly ttlSeconds.
      const [url] = await storage()
        .bucket(bucket)
        .file(object)
        .getSignedUrl({
          version: 'v4',
          action: 'write',
          accessibleAt: now,
          expires: expiresAt,
          contentType,
          ...(md5Hash !== undefined ? { contentMd5: md5Hash } : {}),
          extensionHeaders,
        });
      return { url, headers, expiresAt };
    },
    async download({ bucket, object, generation }, destination) {
      try {
        await storage().bucket(bucket).file(object, { generation }).download({ destination, validation: 'crc32c' });
      } catch (err) {
        if (statusOf(err) === 404) throw new PermanentError('SOURCE_MISSING', `gs://${bucket}/${object}#${generation} no longer exists`, err);
        throw err;
      }
    },
    async readHead({ bucket, object, generation }, bytes) {
      try {
        const [buf] = await storage().bucket(bucket).file(object, { generation }).download({ start: 0, end: Math.max(0, bytes - 1), validation: false, decompress: false });
        return buf;
      } catch (err) {
        if (statusOf(err) === 404) throw new PermanentError('SOURCE_MISSING', `gs://${bucket}/${object}#${generation} no longer exists`, err);
        // 416: an empty object has no byte 0.
        if (statusOf(err) === 416) return Buffer.alloc(0);
        throw err;
      }
    },
    async read({ bucket, object, generation }) {
      try {
        const [buf] = await storage()
          .bucket(bucket)
          .file(object, generation ? { generation } : {})
          .download();
        return buf;
      } catch (err) {
        if (statusOf(err) === 404) throw new PermanentError('OBJECT_MISSING', `gs://${bucket}/${object} does not exist`, err);
        throw err;
      }
    },
    async signDownload({ bucket, object, ttlSeconds, now = new Date(), generation, responseContentDisposition }) {
      const expiresAt = new Date(now.getTime() + ttlSeconds * 1000);
      const queryParams: Record<string, string> = {
        ...(generation ? { generation } : {}),
        ...(responseContentDisposition ? { 'response-content-disposition': responseContentDisposition } : {}),
      };
      if (options.signingKeyFile) {
        // Local platform: signed for the emulator's host:port (see signUpload).
        signingKey ??= readSigningKey(options.signingKeyFile);
        const signed = signV4Url({ key: signingKey, method: 'GET', endpoint: storageEndpoint(options.storageEmulatorHost), bucket, object, queryParams, expiresInSeconds: ttlSeconds, now });
        return { url: signed.url, expiresAt };
      }
      const [url] = await storage()
        .bucket(bucket)
        .file(object, generation ? { generation } : {})
        .getSignedUrl({
          version: 'v4',
          action: 'read',
          accessibleAt: now,
          expires: expiresAt,
          ...(responseContentDisposition ? { responseDisposition: responseContentDisposition } : {}),
        });
      return { url, expiresAt };
    },
    async objectResource({ bucket, object }) {
      try {
        const [md] = await storage().bucket(bucket).file(object).getMetadata();
        return GcsObjectSchema.parse(md);
      } catch (err) {
        if (statusOf(err) === 404) return null;
        throw err;
      }
    },
    async deletePrefix({ bucket, prefix }) {
      let deleted = 0;
      let pageToken: string | undefined;
      do {
        const [files, next] = await storage().bucket(bucket).getFiles({ prefix, maxResults: 500, autoPaginate: false, ...(pageToken ? { pageToken } : {}) });
        for (const f of files) {
          try {
            await f.delete();
            deleted++;
          } catch (err) {
            // Already gone (a resumed deletion, a concurrent one): the goal is reached.
            if (statusOf(err) !== 404) throw err;
          }
        }
        pageToken = (next as { pageToken?: string } | null)?.pageToken;
      } while (pageToken);
      return deleted;
    },
    async writeDerived({ bucket, object, contentType, body, metadata = {} }) {
      const file = storage().bucket(bucket).file(object);
      try {
        // Create-only: a derived object, once written, is the result for its source generation. A
        // retried or duplicated attempt finds it (412) and uses it, so every reference to it stays valid.
        // Small files: a single-request upload (resumable sessions cost two round trips).
        await file.save(typeof body === 'string' ? Buffer.from(body, 'utf8') : body, {
          resumable: false,
          contentType,
          metadata: { metadata: { ...metadata, [DERIVED_METADATA_KEY]: 'true' } },
          preconditionOpts: { ifGenerationMatch: 0 },
        });
        return toInfo(bucket, object, file.metadata);
      } catch (err) {
        const status = statusOf(err);
        if (status === 412) {
          const [md] = await file.getMetadata();
          return toInfo(bucket, object, md);
        }
        if (status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429) {
          throw new PermanentError('DERIVED_WRITE_REFUSED', `writing gs://${bucket}/${object} was refused (${status})`, err);
        }
        throw new TransientError('DERIVED_WRITE_FAILED', `writing gs://${bucket}/${object} failed`, err);
      }
    },
  };
}
