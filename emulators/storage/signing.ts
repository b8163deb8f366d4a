/**
 * Verification of Cloud Storage signed URLs (query-string authentication), the way GCS does it:
 * V4 (`GOOG4-RSA-SHA256`) rebuilds the canonical request and string-to-sign and checks the RSA
 * signature with the public key of the service account named in `X-Goog-Credential`; V2
 * (`GoogleAccessId`/`Expires`/`Signature`) is checked too, since a signature that is not verified
 * would make every signed-URL test pass vacuously.
 */
import { createHash, createPublicKey, createVerify, type KeyObject } from 'node:crypto';
import { StorageApiError } from './errors.js';

/** A service account whose signatures the emulator accepts. */
export interface TrustedKey {
  readonly clientEmail: string;
  readonly publicKey: KeyObject;
}

/** What a verifier needs from an HTTP request. */
export interface SignedRequest {
  readonly method: string;
  /** Path exactly as received (percent-encoded), without the query. */
  readonly rawPath: string;
  /** Query string as received, without `?`. */
  readonly rawQuery: string;
  /** Header values by lowercased name (multiple values joined with `,`). */
  readonly headers: ReadonlyMap<string, string>;
  /** Scheme the request arrived on, for the default-port equivalence of the signed host (default `http`). */
  readonly scheme?: 'http' | 'https';
}

/** Result of a successful verification. */
export interface VerifiedSignature {
  readonly version: 'v4' | 'v2';
  readonly clientEmail: string;
  readonly signedHeaders: readonly string[];
  /** The signed `x-goog-content-sha256` the body must hash to, if any. */
  readonly contentSha256?: string;
}

const SEVEN_DAYS = 7 * 24 * 3600;
/** Tolerated clock skew for X-Goog-Date in the future (signer and emulator run on one machine). */
const MAX_FUTURE_SKEW_S = 15 * 60;

/** RFC 3986 percent-encoding of everything but unreserved characters (what GCS canonicalises to). */
export function encodeRfc3986(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

function decodeQueryComponent(s: string): string {
  return decodeURIComponent(s.replace(/\+/g, ' '));
}

/** Parses a query string into ordered [name, value] pairs, decoded. */
export function parseQuery(rawQuery: string): [string, string][] {
  if (!rawQuery) return [];
  const out: [string, string][] = [];
  for (const part of rawQuery.split('&')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    const k = eq < 0 ? part : part.slice(0, eq);
    const v = eq < 0 ? '' : part.slice(eq + 1);
    try {
      out.push([decodeQueryComponent(k), decodeQueryComponent(v)]);
    } catch {
      throw new StorageApiError(400, 'invalid', 'InvalidArgument', 'Invalid query string encoding.');
    }
  }
  return out;
}

/** Which signed-URL scheme the query uses, if any (any V4 auth parameter means V4). */
export function signedUrlVersion(query: readonly [string, string][]): 'v4' | 'v2' | undefined {
  const names = new Set(query.map(([k]) => k.toLowerCase()));
  if (['x-goog-signature', 'x-goog-algorithm', 'x-goog-credential'].some((n) => names.has(n))) return 'v4';
  if (names.has('googleaccessid') || (names.has('signature') && names.has('expires'))) return 'v2';
  return undefined;
}

/** The canonical path: each segment percent-decoded then RFC 3986 re-encoded, slashes kept. */
export function canonicalPath(rawPath: string): string {
  try {
    return rawPath
      .split('/')
      .map((seg) => encodeRfc3986(decodeURIComponent(seg)))
      .join('/');
  } catch {
    throw new StorageApiError(400, 'invalid', 'InvalidArgument', 'Invalid path encoding.');
  }
}

function canonicalHeaderValue(v: string): string {
  return v.trim().replace(/\s+/g, ' ');
}

const malformed = (details: string): StorageApiError =>
  new StorageApiError(400, 'invalid', 'MalformedSecurityHeader', 'Your request has a malformed header.', { details });

/**
 * A header named in X-Goog-SignedHeaders that the request does not carry (google-cloud-go's
 * TestIntegration_SignedURL expects "MD5 not sent", a signed Content-MD5 left out, to fail). The
 * shape is GCS's own, as captured in https://github.com/nocodb/nocodb/pull/9858: 400,
 * `MalformedSecurityHeader`, "Invalid argument.", the details below and the header as `ParameterName`.
 */
export const signedHeaderMissing = (header: string): StorageApiError =>
  new StorageApiError(400, 'invalid', 'MalformedSecurityHeader', 'Invalid argument.', {
    details: 'Your request has a malformed header. Header was included in signedheaders, but not in the request.',
    parameterName: header,
  });

/**
 * A header that must be signed (see {@link mustBeSigned}) sent without being in X-Goog-SignedHeaders.
 * We found no capture of GCS's exact answer for this case, so it mirrors the one above (same code,
 * status and layout, the header as `ParameterName`): it is the same header/SignedHeaders
 * inconsistency, and a 403 SignatureDoesNotMatch would mislead, since the canonical request the
 * emulator would show does match the signature (an unsigned header is not part of it).
 */
export const headerNotSigned = (header: string): StorageApiError =>
  new StorageApiError(400, 'invalid', 'MalformedSecurityHeader', 'Invalid argument.', {
    details: 'Your request has a malformed header. Header was included in the request, but not in signedheaders.',
    parameterName: header,
  });

/**
 * Headers a V4-signed request may carry only when they are signed: every `x-goog-*` extension
 * header, `content-md5` and `content-type`. Otherwise whoever holds a URL signed for one request
 * could change what it does: `x-goog-copy-source` turns an upload into a copy of another object,
 * `x-goog-meta-*` sets custom metadata, an unsigned `content-type` picks the stored type.
 * Sources: the .NET client's `UrlSigner.RequestTemplate` ("requests made with the created URL must
 * not contain Content-MD5, Content-Type, or any header starting with x-goog-" unless they are
 * signed, https://cloud.google.com/dotnet/docs/reference/Google.Cloud.Storage.V1/latest/Google.Cloud.Storage.V1.UrlSigner.RequestTemplate),
 * `@google-cloud/storage`'s GetSignedUrlConfig (contentMd5/contentType: "If omitted, the client
 * request must not include this header"), and the canonical-request rules
 * (https://cloud.google.com/storage/docs/authentication/canonical-requests).
 */
export function mustBeSigned(header: string): boolean {
  return header.startsWith('x-goog-') || header === 'content-md5' || header === 'content-type';
}

/** The port a scheme implies when the Host header names none. */
const DEFAULT_PORT = { http: '80', https: '443' } as const;

/** Parses `YYYYMMDDTHHMMSSZ`. */
function parseGoogDate(s: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, se] = m.map(Number) as [number, number, number, number, number, number, number];
  const t = Date.UTC(y, mo - 1, d, h, mi, se);
  return Number.isNaN(t) ? undefined : new Date(t);
}

function rsaVerify(key: KeyObject, data: string, signature: Buffer): boolean {
  try {
    return createVerify('RSA-SHA256').update(data).verify(key, signature);
  } catch {
    return false;
  }
}

/**
 * Verifies a V4 signed request. Throws a StorageApiError shaped like GCS's on any failure:
 * 400 MalformedSecurityHeader (missing/bad parameters; a signed header missing from the request;
 * an x-goog-*, content-md5 or content-type header sent unsigned), 400 ExpiredToken, 403
 * AccessDenied (not yet valid), 403 SignatureDoesNotMatch (with StringToSign and CanonicalRequest;
 * also for a Host other than the signed one).
 */
export function verifyV4(req: SignedRequest, trusted: ReadonlyMap<string, TrustedKey>, now: Date = new Date()): VerifiedSignature {
  const query = parseQuery(req.rawQuery);
  // GCS treats the X-Goog-* parameter names case-insensitively.
  const param = (name: string): string | undefined => query.find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1];
  const required = ['X-Goog-Algorithm', 'X-Goog-Credential', 'X-Goog-Date', 'X-Goog-Expires', 'X-Goog-SignedHeaders', 'X-Goog-Signature'];
  for (const p of required) if (param(p) === undefined) throw malformed(`Missing required parameter: ${p}`);
  const algorithm = param('X-Goog-Algorithm') ?? '';
  const credential = param('X-Goog-Credential') ?? '';
  const dateStr = param('X-Goog-Date') ?? '';
  const expiresStr = param('X-Goog-Expires') ?? '';
  const signedHeadersStr = param('X-Goog-SignedHeaders') ?? '';
  const signatureHex = param('X-Goog-Signature') ?? '';

  if (algorithm !== 'GOOG4-RSA-SHA256') {
    if (algorithm === 'GOOG4-HMAC-SHA256') {
      throw new StorageApiError(403, 'forbidden', 'SignatureDoesNotMatch', 'HMAC-signed URLs are not supported by the storage emulator (it holds no HMAC secrets); sign with a service-account key.');
    }
    throw malformed(`Unsupported X-Goog-Algorithm: ${algorithm}`);
  }
  const date = parseGoogDate(dateStr);
  if (!date) throw malformed(`Invalid X-Goog-Date: ${dateStr}`);
  if (!/^\d+$/.test(expiresStr)) throw malformed(`Invalid X-Goog-Expires: ${expiresStr}`);
  const expires = Number(expiresStr);
  if (expires < 1 || expires > SEVEN_DAYS) {
    throw malformed(`X-Goog-Expires must be between 1 and ${SEVEN_DAYS} seconds (7 days); got ${expiresStr}`);
  }
  const slash = credential.indexOf('/');
  const clientEmail = slash < 0 ? '' : credential.slice(0, slash);
  const scope = slash < 0 ? '' : credential.slice(slash + 1);
  const scopeParts = scope.split('/');
  if (!clientEmail || scopeParts.length !== 4 || scopeParts[2] !== 'storage' || scopeParts[3] !== 'goog4_request') {
    throw malformed(`Invalid X-Goog-Credential: ${credential}`);
  }
  if (scopeParts[0] !== dateStr.slice(0, 8)) throw malformed('The credential scope date does not match X-Goog-Date.');

  const expiresAt = new Date(date.getTime() + expires * 1000);
  if (now.getTime() > expiresAt.getTime()) {
    throw new StorageApiError(400, 'expired', 'ExpiredToken', 'Invalid argument.', {
      details: `Request signature expired at: ${expiresAt.toISOString().replace('.000Z', '+00:00')}`,
    });
  }
  if (date.getTime() - now.getTime() > MAX_FUTURE_SKEW_S * 1000) {
    throw new StorageApiError(403, 'forbidden', 'AccessDenied', 'Access denied.', {
      details: `Request is not valid until ${date.toISOString()} (X-Goog-Date is in the future).`,
    });
  }

  const signedHeaders = signedHeadersStr.split(';').map((h) => h.trim().toLowerCase());
  if (!signedHeaders.includes('host')) throw malformed('X-Goog-SignedHeaders must include host.');

  const canonicalQuery = query
    .filter(([k]) => k.toLowerCase() !== 'x-goog-signature')
    .map(([k, v]) => [encodeRfc3986(k), encodeRfc3986(v)] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const path = canonicalPath(req.rawPath);
  const contentSha256 = signedHeaders.includes('x-goog-content-sha256') ? req.headers.get('x-goog-content-sha256') : undefined;

  // Every signed header must be present, and every header that changes what the request does
  // (mustBeSigned) must be signed: the signature covers only what SignedHeaders lists.
  for (const h of signedHeaders) if (!req.headers.has(h)) throw signedHeaderMissing(h);
  for (const h of req.headers.keys()) if (mustBeSigned(h) && !signedHeaders.includes(h)) throw headerNotSigned(h);

  // The signed host must be the Host header as received. The one equivalence is the scheme's default
  // port, present or not (`h:80` and `h` name the same origin over http). Anything looser lets a URL
  // signed for one origin be used on another: `@google-cloud/storage` signs the host without its port
  // (aws-sdk-js-v3#2726 and google-cloud-go#9347 are the same bug class), so such a URL for
  // 127.0.0.1:9199 would also open 127.0.0.1:19199. URLs for a non-default port must be signed with the
  // port (shared/storage/v4-signer.ts does).
  const sentHost = (req.headers.get('host') ?? '').toLowerCase();
  const defaultPort = DEFAULT_PORT[req.scheme ?? 'http'];
  const hostCandidates = [sentHost];
  if (sentHost.endsWith(`:${defaultPort}`)) hostCandidates.push(sentHost.slice(0, -defaultPort.length - 1));
  else if (sentHost !== '' && !/:\d+$/.test(sentHost)) hostCandidates.push(`${sentHost}:${defaultPort}`);
  const buildCanonical = (host: string): string => {
    const headerLines = [...signedHeaders]
      .sort()
      .map((h) => `${h}:${canonicalHeaderValue(h === 'host' ? host : (req.headers.get(h) ?? ''))}\n`)
      .join('');
    return [req.method, path, canonicalQuery, headerLines, signedHeaders.join(';'), contentSha256 ?? 'UNSIGNED-PAYLOAD'].join('\n');
  };
  const stringToSignFor = (canonical: string): string =>
    ['GOOG4-RSA-SHA256', dateStr, scope, createHash('sha256').update(canonical).digest('hex')].join('\n');

  const key = trusted.get(clientEmail);
  const signature = /^[0-9a-fA-F]+$/.test(signatureHex) && signatureHex.length % 2 === 0 ? Buffer.from(signatureHex, 'hex') : undefined;
  if (key && signature) {
    for (const host of hostCandidates) {
      if (rsaVerify(key.publicKey, stringToSignFor(buildCanonical(host)), signature)) {
        return { version: 'v4', clientEmail, signedHeaders, ...(contentSha256 !== undefined ? { contentSha256 } : {}) };
      }
    }
  }
  const canonicalRequest = buildCanonical(sentHost);
  throw new StorageApiError(
    403,
    'forbidden',
    'SignatureDoesNotMatch',
    'The request signature we calculated does not match the signature you provided. Check your Google secret key and signing method.',
    {
      stringToSign: stringToSignFor(canonicalRequest),
      canonicalRequest,
      ...(key
        ? {}
        : { details: `The storage emulator has no trusted key for ${clientEmail}; start it with --trust-key-file <service-account.json>.` }),
    },
  );
}

/**
 * Verifies a V2 signed request (`GoogleAccessId`, `Expires`, `Signature` = base64 RSA-SHA256 of
 * `METHOD\nContent-MD5\nContent-Type\nExpires\n<canonical x-goog-* headers><resource>`).
 */
export function verifyV2(req: SignedRequest, trusted: ReadonlyMap<string, TrustedKey>, now: Date = new Date()): VerifiedSignature {
  const query = parseQuery(req.rawQuery);
  const param = (name: string): string | undefined => query.find(([k]) => k === name)?.[1];
  const clientEmail = param('GoogleAccessId');
  const expiresStr = param('Expires');
  const signatureB64 = param('Signature');
  if (!clientEmail || !expiresStr || !signatureB64) throw malformed('V2 signed URLs need GoogleAccessId, Expires and Signature.');
  if (!/^\d+$/.test(expiresStr)) throw malformed(`Invalid Expires: ${expiresStr}`);
  if (now.getTime() / 1000 > Number(expiresStr)) {
    throw new StorageApiError(400, 'expired', 'ExpiredToken', 'The provided token has expired.', { details: `Request has expired: ${expiresStr}` });
  }
  const extension = [...req.headers.entries()]
    .filter(([k]) => k.startsWith('x-goog-'))
    .sort((a, b) => (a[0] < b[0] ? -1 : 1))
    .map(([k, v]) => `${k}:${canonicalHeaderValue(v)}\n`)
    .join('');
  const resource = req.rawPath;
  const stringToSign = [req.method, req.headers.get('content-md5') ?? '', req.headers.get('content-type') ?? '', expiresStr, extension + resource].join('\n');
  const key = trusted.get(clientEmail);
  if (key && rsaVerify(key.publicKey, stringToSign, Buffer.from(signatureB64, 'base64'))) {
    return { version: 'v2', clientEmail, signedHeaders: [] };
  }
  throw new StorageApiError(
    403,
    'forbidden',
    'SignatureDoesNotMatch',
    'The request signature we calculated does not match the signature you provided. Check your Google secret key and signing method.',
    { stringToSign, ...(key ? {} : { details: `The storage emulator has no trusted key for ${clientEmail}.` }) },
  );
}

/** Builds the trusted-key map from PEM public keys (or private keys, from which the public half is derived). */
export function trustedKeyMap(accounts: readonly { clientEmail: string; publicKeyPem: string }[]): Map<string, TrustedKey> {
  return new Map(accounts.map((a) => [a.clientEmail, { clientEmail: a.clientEmail, publicKey: createPublicKey(a.publicKeyPem) }]));
}
