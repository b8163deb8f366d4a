/**
 * Cloud Storage access for the functions: signed upload URLs, object metadata, downloads to a temp
 * file and derived-object writes. Created on first use. With STORAGE_EMULATOR_HOST set the client
 * library talks to the local storage emulator (unauthenticated, as it does for custom endpoints).
 */
import { Storage, type File } from '@google-cloud/storage';
import { PermanentError, TransientError } from '../errors/index.js';
import { DERIVED_METADATA_KEY } from '../topology.js';

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
  signUpload(args: { bucket: string; object: string; contentType: string; size: number; ttlSeconds: number; now?: Date }): Promise<SignedUpload>;
  /** Downloads one generation of an object to `destination`. PermanentError SOURCE_MISSING if gone. */
  download(ref: { bucket: string; object: string; generation: string }, destination: string): Promise<void>;
  /** Reads a (small) object fully, e.g. extracted text for the API. */
  read(ref: { bucket: string; object: string; generation?: string | null }): Promise<Buffer>;
  /** Writes a derived object once (marked so no trigger reacts to it); if it exists, returns the existing one. */
  writeDerived(args: { bucket: string; object: string; contentType: string; body: Buffer | string; metadata?: Record<string, string> }): Promise<ObjectInfo>;
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

export function createStorageGateway(options: { projectId: string; signingKeyFile?: string | undefined }): StorageGateway {
  let client: Storage | undefined;
  // In production no key file: the library signs through IAM signBlob as the runtime service account.
  const storage = (): Storage => (client ??= new Storage({ projectId: options.projectId, ...(options.signingKeyFile ? { keyFilename: options.signingKeyFile } : {}) }));
  return {
    async signUpload({ bucket, object, contentType, size, ttlSeconds, now = new Date() }) {
      const expiresAt = new Date(now.getTime() + ttlSeconds * 1000);
      // The storage side enforces all three: exact length, content type, and create-only (a replayed URL gets 412).
      const headers = {
        'content-type': contentType,
        'x-goog-content-length-range': `${size},${size}`,
        'x-goog-if-generation-match': '0',
      };
      const [url] = await storage()
        .bucket(bucket)
        .file(object)
        .getSignedUrl({ version: 'v4', action: 'write', expires: expiresAt, contentType, extensionHeaders: { 'x-goog-content-length-range': headers['x-goog-content-length-range'], 'x-goog-if-generation-match': '0' } });
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
