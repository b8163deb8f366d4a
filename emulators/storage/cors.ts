/**
 * CORS for the XML API, driven by the bucket's `cors` configuration as GCS applies it: a preflight
 * is answered from the first entry whose `origin` and `method` match and whose `responseHeader`
 * list covers the requested headers; actual responses carry `Access-Control-Allow-Origin` and
 * `Access-Control-Expose-Headers` when an entry matches. No match means no CORS headers (the
 * browser then blocks the request), not an error status.
 */
import type { CorsRule } from './store.js';

/** Headers a browser may send without them being listed (CORS-safelisted request headers). */
const SAFELISTED = new Set(['accept', 'accept-language', 'content-language', 'content-type', 'range']);

function originMatches(rule: CorsRule, origin: string): boolean {
  return (rule.origin ?? []).some((o) => o === '*' || o.toLowerCase() === origin.toLowerCase());
}

function methodMatches(rule: CorsRule, method: string): boolean {
  return (rule.method ?? []).some((m) => m === '*' || m.toUpperCase() === method.toUpperCase());
}

function headersCovered(rule: CorsRule, requested: readonly string[]): boolean {
  const allowed = new Set((rule.responseHeader ?? []).map((h) => h.toLowerCase()));
  if (allowed.has('*')) return true;
  // GCS checks requested headers against responseHeader; content-type needs listing there too
  // in practice (a non-simple value like application/pdf makes it non-safelisted).
  return requested.every((h) => allowed.has(h) || (SAFELISTED.has(h) && h !== 'content-type'));
}

/** Response headers for a preflight, or undefined when no rule allows the request. */
export function preflight(
  rules: readonly CorsRule[] | undefined,
  origin: string | undefined,
  requestMethod: string | undefined,
  requestHeaders: string | undefined,
): Record<string, string> | undefined {
  if (!rules || !origin || !requestMethod) return undefined;
  const requested = (requestHeaders ?? '')
    .split(',')
    .map((h) => h.trim().toLowerCase())
    .filter(Boolean);
  const rule = rules.find((r) => originMatches(r, origin) && methodMatches(r, requestMethod) && headersCovered(r, requested));
  if (!rule) return undefined;
  return {
    'access-control-allow-origin': origin,
    'access-control-allow-methods': (rule.method ?? []).join(', '),
    ...(requested.length > 0 ? { 'access-control-allow-headers': requested.join(', ') } : {}),
    ...(rule.maxAgeSeconds !== undefined ? { 'access-control-max-age': String(rule.maxAgeSeconds) } : {}),
    vary: 'Origin',
  };
}

/** CORS headers to add to an actual (non-preflight) XML API response. */
export function actualCorsHeaders(rules: readonly CorsRule[] | undefined, origin: string | undefined, method: string): Record<string, string> {
  if (!rules || !origin) return {};
  const rule = rules.find((r) => originMatches(r, origin) && methodMatches(r, method));
  if (!rule) return {};
  return {
    'access-control-allow-origin': origin,
    ...(rule.responseHeader && rule.responseHeader.length > 0 ? { 'access-control-expose-headers': rule.responseHeader.join(', ') } : {}),
    vary: 'Origin',
  };
}
