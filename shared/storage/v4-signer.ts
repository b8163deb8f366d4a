/**
 * Cloud Storage V4 signed URLs (GOOG4-RSA-SHA256) signed locally with a service-account key, per
 * https://cloud.google.com/storage/docs/authentication/canonical-requests and
 * https://cloud.google.com/storage/docs/authentication/signatures.
 *
 * Why not `@google-cloud/storage`'s `getSignedUrl`: it signs `new URL(endpoint).hostname`, i.e. the
 * host *without* its port, while the client then sends `Host: host:port`. Against storage.googleapis.com
 * (default port) that is the same thing; against an endpoint on another port (the local storage
 * emulator) the signed host is not the host the request carries, and a verifier that compares them
 * exactly (as it must, see the emulator's `verifyV4`) refuses it. The same bug class is known in
 * other SDKs (aws-sdk-js-v3#2726, google-cloud-go#9347). This signer signs `URL.host`, which keeps a
 * non-default port and drops a default one, exactly as an HTTP client will send it.
 */
import { createHash, createPrivateKey, createSign, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** The two fields of a service-account key file that signing needs. */
export interface SigningKey {
  readonly clientEmail: string;
  /** PEM private key (PKCS#8, as in Google key files). */
  readonly privateKey: string;
}

/** Reads `client_email` and `private_key` from a service-account JSON key file. */
export function readSigningKey(file: string): SigningKey {
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as { client_email?: unknown; private_key?: unknown };
  if (typeof parsed.client_email !== 'string' || typeof parsed.private_key !== 'string') {
    throw new Error(`${file}: not a service-account key (needs client_email and private_key)`);
  }
  return { clientEmail: parsed.client_email, privateKey: parsed.private_key };
}

export type SignedMethod = 'GET' | 'HEAD' | 'PUT' | 'POST' | 'DELETE';

export interface SignV4Options {
  readonly key: SigningKey;
  readonly method: SignedMethod;
  /** XML API base URL: `https://storage.googleapis.com`, or the emulator's `http://127.0.0.1:PORT`. Only its origin is used. */
  readonly endpoint: string;
  readonly bucket: string;
  /** Object name, unencoded; omitted for bucket-level URLs. */
  readonly object?: string;
  /** Headers the request must carry with exactly these values (`host` is added from the endpoint). */
  readonly headers?: Readonly<Record<string, string>>;
  /** Extra query parameters, signed too (e.g. `response-content-disposition`). */
  readonly queryParams?: Readonly<Record<string, string>>;
  /** 1 to 604800 (7 days), as GCS allows. */
  readonly expiresInSeconds: number;
  /** The signing time (X-Goog-Date); default now. */
  readonly now?: Date;
}

export interface SignedV4Url {
  readonly url: string;
  /** Every header the request must send, `host` included (lowercased names). */
  readonly headers: Readonly<Record<string, string>>;
  /** What was signed, for tests and diagnostics. */
  readonly canonicalRequest: string;
  readonly stringToSign: string;
}

const SEVEN_DAYS = 7 * 24 * 3600;

/** RFC 3986 percent-encoding of everything but the unreserved characters `A-Z a-z 0-9 - . _ ~`. */
export function encodeRfc3986(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

/** `YYYYMMDDTHHMMSSZ`. */
function googDate(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
}

/** Header value as the canonical request carries it: trimmed, runs of whitespace folded to one space. */
function canonicalHeaderValue(v: string): string {
  return v.trim().replace(/\s{2,}/g, ' ');
}

const byCodePoint = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Signs a V4 URL for one request. Throws on options GCS would refuse (expiry range, a `host` header given twice). */
export function signV4Url(opts: SignV4Options): SignedV4Url {
  const { key, method, bucket, object } = opts;
  if (!Number.isInteger(opts.expiresInSeconds) || opts.expiresInSeconds < 1 || opts.expiresInSeconds > SEVEN_DAYS) {
    throw new Error(`expiresInSeconds must be an integer from 1 to ${SEVEN_DAYS}; got ${opts.expiresInSeconds}`);
  }
  const base = new URL(opts.endpoint);
  // URL.host is what an HTTP client sends as Host: the port when it is not the scheme's default.
  const host = base.host.toLowerCase();
  const headers: Record<string, string> = { host };
  for (const [name, value] of Object.entries(opts.headers ?? {})) {
    const lower = name.toLowerCase();
    if (lower in headers) throw new Error(`header ${lower} given twice (host comes from the endpoint)`);
    headers[lower] = value;
  }
  const names = Object.keys(headers).sort(byCodePoint);
  const signedHeaders = names.join(';');
  const canonicalHeaders = names.map((n) => `${n}:${canonicalHeaderValue(headers[n] ?? '')}\n`).join('');

  const now = opts.now ?? new Date();
  const date = googDate(now);
  const scope = `${date.slice(0, 8)}/auto/storage/goog4_request`;
  // Insertion order is the URL's parameter order; the canonical query is sorted separately.
  const query: [string, string][] = [
    ['X-Goog-Algorithm', 'GOOG4-RSA-SHA256'],
    ['X-Goog-Credential', `${key.clientEmail}/${scope}`],
    ['X-Goog-Date', date],
    ['X-Goog-Expires', String(opts.expiresInSeconds)],
    ['X-Goog-SignedHeaders', signedHeaders],
    ...Object.entries(opts.queryParams ?? {}),
  ];
  const canonicalQuery = query
    .map(([k, v]) => [encodeRfc3986(k), encodeRfc3986(v)] as const)
    .sort((a, b) => byCodePoint(a[0], b[0]) || byCodePoint(a[1], b[1]))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const path = `/${encodeRfc3986(bucket)}` + (object ? `/${object.split('/').map(encodeRfc3986).join('/')}` : '');
  // A signed x-goog-content-sha256 is the payload hash GCS checks the body against; otherwise unsigned.
  const payload = headers['x-goog-content-sha256'] ?? 'UNSIGNED-PAYLOAD';
  const canonicalRequest = [method, path, canonicalQuery, canonicalHeaders, signedHeaders, payload].join('\n');
  const stringToSign = ['GOOG4-RSA-SHA256', date, scope, createHash('sha256').update(canonicalRequest).digest('hex')].join('\n');
  const signature = createSign('RSA-SHA256').update(stringToSign).sign(privateKeyOf(key.privateKey), 'hex');

  const url = new URL(base.origin);
  url.pathname = path;
  const withSignature: [string, string][] = [...query, ['X-Goog-Signature', signature]];
  url.search = withSignature.map(([k, v]) => `${encodeRfc3986(k)}=${encodeRfc3986(v)}`).join('&');
  return { url: url.href, headers, canonicalRequest, stringToSign };
}

/** Parsed signing keys by PEM: parsing a PKCS#8 PEM costs more than the RSA signature itself (~1 ms vs ~0.4 ms here). */
const parsedKeys = new Map<string, KeyObject>();

function privateKeyOf(pem: string): KeyObject {
  let key = parsedKeys.get(pem);
  if (!key) {
    key = createPrivateKey(pem);
    // A process signs with one key (two across a rotation): a handful at most are ever kept.
    if (parsedKeys.size >= 8) parsedKeys.clear();
    parsedKeys.set(pem, key);
  }
  return key;
}
