/**
 * A Cloud Storage emulator on `node:http`: the JSON API (both route shapes the Node client uses,
 * uploads of every type), the XML API with verified V4/V2 signed URLs and bucket CORS, bucket
 * notifications published to the Pub/Sub emulator, and optional on-disk persistence.
 *
 * Google ships no storage emulator and fake-gcs-server does not check signatures; this one does,
 * so tests of signed-URL flows (expiry, content-type, size range, preconditions) mean something.
 */
import { createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { StorageApiError } from './errors.js';
import { Ctx, sendEmpty, sendError, sendJson, type Emulator } from './http.js';
import { handleDownload, handleJsonApi, handleUpload } from './json-api.js';
import { Notifier } from './notifications.js';
import { trustedKeyMap } from './signing.js';
import { Store } from './store.js';
import { UploadSessions } from './uploads.js';
import { handleXmlApi } from './xml-api.js';
import { FaultInjector } from '../../shared/faults.js';

/** A service account whose V4 (and V2) signatures the emulator accepts. */
export interface TrustedServiceAccount {
  clientEmail: string;
  /** PEM public key (an RSA private key PEM also works: its public half is used). */
  publicKeyPem: string;
}

/** Options of {@link startStorageEmulator}. */
export interface StorageEmulatorOptions {
  /** Interface to listen on (default 127.0.0.1). */
  host?: string;
  /** Port; 0 picks a free one (see {@link StorageEmulator.port}). */
  port?: number;
  /** When set, buckets, objects, metadata and notification configs are kept here and reloaded at start; else in memory. */
  persistDir?: string;
  /** `host:port` of the Pub/Sub emulator that bucket notifications are published to. */
  pubsubEmulatorHost?: string;
  /** Keys whose V4 signatures are accepted; a signed request by anyone else gets 403 SignatureDoesNotMatch. */
  trustedServiceAccounts?: TrustedServiceAccount[];
  /** Receives structured log entries (`severity`, `message`, fields). Default: discarded. */
  log?: (entry: Record<string, unknown>) => void;
  /** Largest object accepted by any upload path, in bytes (default 2 GiB). */
  maxUploadBytes?: number;
  /** A fault spec file (shared/faults.ts) whose publish rules for service `storage-emulator` drop notifications (tests only). */
  faultsFile?: string;
}

/** A running emulator. */
export interface StorageEmulator {
  /** Base URL, e.g. `http://127.0.0.1:9199` — use as `apiEndpoint` or `STORAGE_EMULATOR_HOST`. */
  url: string;
  port: number;
  /** Stops accepting requests, lets in-flight ones finish (bounded), flushes state. */
  close(): Promise<void>;
}

/**
 * Reads a service-account JSON key file (`client_email`, `private_key`) and returns the trusted
 * account with only the public half of the key.
 */
export function loadTrustedServiceAccount(path: string): TrustedServiceAccount {
  const parsed = JSON.parse(readFileSync(path, 'utf8')) as { client_email?: unknown; private_key?: unknown };
  if (typeof parsed.client_email !== 'string' || typeof parsed.private_key !== 'string') {
    throw new Error(`${path}: not a service-account key (needs client_email and private_key)`);
  }
  const publicKeyPem = createPublicKey(parsed.private_key).export({ type: 'spki', format: 'pem' }).toString();
  return { clientEmail: parsed.client_email, publicKeyPem };
}

const DEFAULT_MAX_UPLOAD = 2 * 1024 * 1024 * 1024;
const JSON_CORS_EXPOSE = 'Location, Range, Content-Range, ETag, X-GUploader-UploadID, X-Goog-Generation, X-Goog-Metageneration, X-Goog-Hash';

async function route(emu: Emulator, ctx: Ctx): Promise<void> {
  if (ctx.queryError) throw ctx.queryError;
  const path = ctx.rawPath;
  if (path === '/_health') return sendJson(ctx, 200, { status: 'ok' });

  const upload = /^\/(?:resumable\/)?upload\/storage\/v1\/b\/([^/]+)\/o\/?$/.exec(path);
  const download = upload ? null : /^\/download\/storage\/v1\/b\/([^/]+)\/o\/(.+)$/.exec(path);
  const jsonRest = path.startsWith('/storage/v1/') ? path.slice('/storage/v1'.length) : path === '/b' || path.startsWith('/b/') ? path : undefined;
  if (upload || download || jsonRest !== undefined) {
    // The real JSON API answers browsers from any origin (access is by token, not by CORS).
    const origin = ctx.header('origin');
    if (origin) {
      ctx.res.setHeader('access-control-allow-origin', origin);
      ctx.res.setHeader('access-control-expose-headers', JSON_CORS_EXPOSE);
      ctx.res.setHeader('vary', 'Origin');
    }
    if (ctx.method === 'OPTIONS') {
      return sendEmpty(ctx, 200, {
        'access-control-allow-methods': 'GET, HEAD, POST, PUT, PATCH, DELETE',
        'access-control-allow-headers': ctx.header('access-control-request-headers') ?? '*',
        'access-control-max-age': '3600',
      });
    }
    if (upload) return handleUpload(emu, ctx, upload[1] ?? '');
    if (download) return handleDownload(emu, ctx, download[1] ?? '', download[2] ?? '');
    return handleJsonApi(emu, ctx, jsonRest ?? '');
  }
  return handleXmlApi(emu, ctx);
}

/** Starts the emulator; resolves once it listens. */
export async function startStorageEmulator(opts: StorageEmulatorOptions = {}): Promise<StorageEmulator> {
  const log = opts.log ?? ((): void => undefined);
  const store = await Store.open(opts.persistDir, log);
  const sessions = new UploadSessions();
  const emu: Emulator = {
    store,
    notifier: new Notifier(opts.pubsubEmulatorHost, log, undefined, opts.faultsFile ? new FaultInjector({ SCRIPTORIUM_FAULTS_FILE: opts.faultsFile }, 'storage-emulator') : null),
    trusted: trustedKeyMap(opts.trustedServiceAccounts ?? []),
    sessions,
    log,
    maxUploadBytes: opts.maxUploadBytes ?? DEFAULT_MAX_UPLOAD,
  };
  const host = opts.host ?? '127.0.0.1';
  let inFlight = 0;
  let idle: (() => void) | undefined;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = performance.now();
    inFlight++;
    const ctx = new Ctx(req, res, `${host}:${port}`);
    try {
      await route(emu, ctx);
    } catch (e) {
      if (e instanceof StorageApiError) {
        await sendError(ctx, e);
      } else {
        log({ severity: 'ERROR', message: 'internal error', method: ctx.method, path: ctx.rawPath, error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
        await sendError(ctx, new StorageApiError(500, 'backendError', 'InternalError', `Internal error in the storage emulator: ${e instanceof Error ? e.message : String(e)}`));
      }
    } finally {
      log({
        severity: res.statusCode >= 500 ? 'ERROR' : 'DEBUG',
        message: 'request',
        method: ctx.method,
        path: ctx.rawPath,
        query: ctx.rawQuery.replace(/(X-Goog-Signature|Signature)=[^&]*/gi, '$1=…').slice(0, 300),
        status: res.statusCode,
        ms: Math.round(performance.now() - started),
      });
      inFlight--;
      if (inFlight === 0) idle?.();
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      log({ severity: 'ERROR', message: 'unhandled request failure', error: e instanceof Error ? e.message : String(e) });
      res.destroy();
    });
  });
  // Uploads can be slow; do not let Node's default request timeout cut a large one off.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  const url = `http://${urlHost}:${port}`;
  log({ severity: 'INFO', message: 'storage emulator listening', url, persistDir: opts.persistDir ?? null, pubsubEmulatorHost: opts.pubsubEmulatorHost ?? null, trusted: [...emu.trusted.keys()] });

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      if (inFlight > 0) {
        // Let running requests (and the notifications they publish) finish, but not forever.
        await Promise.race([new Promise<void>((r) => (idle = r)), new Promise((r) => setTimeout(r, 5000).unref())]);
      }
      server.closeAllConnections();
      await closed;
      await emu.notifier.drain();
      await sessions.closeAll();
      await store.flush();
      log({ severity: 'INFO', message: 'storage emulator stopped', url });
    })();
    return closing;
  };
  return { url, port, close };
}
