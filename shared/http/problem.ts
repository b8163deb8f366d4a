/**
 * Errors as `application/problem+json` (RFC 9457). `code` is the stable machine-readable code
 * (the same codes as before, e.g. `PERMISSION_DENIED`); `type` names it as a URI; `detail` is the
 * human-readable message; `details` carries field errors where there are some. Nothing internal
 * (stacks, paths, causes) ever goes into one: the message is ours, written for the caller.
 */
import { STATUS_CODES } from 'node:http';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8';

export interface Problem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly code: string;
  readonly details?: unknown;
  readonly requestId?: string;
}

/** The problem type URI of a code. */
function problemType(code: string): string {
  return `urn:scriptorium:problem:${code}`;
}

export function problemBody(status: number, code: string, message: string, details?: unknown, requestId?: string): Problem {
  return {
    type: problemType(code),
    title: STATUS_CODES[status] ?? 'Error',
    status,
    detail: message,
    code,
    ...(details === undefined ? {} : { details }),
    ...(requestId === undefined ? {} : { requestId }),
  };
}
