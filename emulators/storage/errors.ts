/**
 * Errors of the storage emulator, rendered the way Cloud Storage renders them: JSON API errors as
 * `{"error":{"code","message","errors":[{domain,reason,message}]}}`, XML API errors as
 * `<Error><Code/><Message/>...</Error>`. One class carries both shapes because several handlers
 * (resumable upload sessions, object reads) are shared by the two APIs.
 */

/** Extra fields some XML errors carry (signature failures show what the server signed). */
export interface XmlErrorExtras {
  readonly details?: string;
  readonly stringToSign?: string;
  readonly canonicalRequest?: string;
  /** The offending parameter or header (GCS names it on MalformedSecurityHeader). */
  readonly parameterName?: string;
}

/** An error with an HTTP status, a JSON API `reason` and an XML API `Code`. */
export class StorageApiError extends Error {
  readonly status: number;
  /** JSON API `errors[].reason`, e.g. `notFound`, `conditionNotMet`. */
  readonly reason: string;
  /** XML API `<Code>`, e.g. `NoSuchKey`, `PreconditionFailed`. */
  readonly xmlCode: string;
  readonly extras: XmlErrorExtras;
  /** Extra response headers (e.g. `Content-Range` on 416). */
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    status: number,
    reason: string,
    xmlCode: string,
    message: string,
    extras: XmlErrorExtras = {},
    headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'StorageApiError';
    this.status = status;
    this.reason = reason;
    this.xmlCode = xmlCode;
    this.extras = extras;
    this.headers = headers;
  }
}

/** JSON API error body, as `googleapis` clients parse it. */
export function jsonErrorBody(err: StorageApiError): string {
  return JSON.stringify({
    error: {
      code: err.status,
      message: err.message,
      errors: [{ domain: 'global', reason: err.reason, message: err.message }],
    },
  });
}

function xmlEscape(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c] ?? c);
}

/** XML API error body, byte-for-byte in GCS's layout (single-quoted XML declaration). */
export function xmlErrorBody(err: StorageApiError): string {
  let body = `<?xml version='1.0' encoding='UTF-8'?><Error><Code>${xmlEscape(err.xmlCode)}</Code><Message>${xmlEscape(err.message)}</Message>`;
  if (err.extras.stringToSign !== undefined) body += `<StringToSign>${xmlEscape(err.extras.stringToSign)}</StringToSign>`;
  if (err.extras.canonicalRequest !== undefined) body += `<CanonicalRequest>${xmlEscape(err.extras.canonicalRequest)}</CanonicalRequest>`;
  if (err.extras.details !== undefined) body += `<Details>${xmlEscape(err.extras.details)}</Details>`;
  // After Details, as in GCS's MalformedSecurityHeader answers.
  if (err.extras.parameterName !== undefined) body += `<ParameterName>${xmlEscape(err.extras.parameterName)}</ParameterName>`;
  return body + '</Error>';
}

// Factories for the errors used in more than one place, with GCS's own wording.

export const notFoundObject = (bucket: string, name: string): StorageApiError =>
  new StorageApiError(404, 'notFound', 'NoSuchKey', `No such object: ${bucket}/${name}`);

export const notFoundBucket = (bucket: string): StorageApiError =>
  new StorageApiError(404, 'notFound', 'NoSuchBucket', 'The specified bucket does not exist.', { details: `No such bucket: ${bucket}` });

export const preconditionFailed = (what: string): StorageApiError =>
  new StorageApiError(412, 'conditionNotMet', 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold.', {
    details: what,
  });

export const notModified = (): StorageApiError => new StorageApiError(304, 'notModified', 'NotModified', 'Not Modified');

export const badRequest = (message: string, reason = 'invalid', xmlCode = 'InvalidArgument'): StorageApiError =>
  new StorageApiError(400, reason, xmlCode, message);

export const notImplemented = (what: string): StorageApiError =>
  new StorageApiError(501, 'notImplemented', 'NotImplemented', `Not implemented by the storage emulator: ${what}`);
