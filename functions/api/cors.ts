/** CORS for the API: an allow-list of exact origins from config (`SCRIPTORIUM_CORS_ORIGINS`). */

/** Methods and request headers a browser may use; response headers it may read. */
const ALLOW_METHODS = 'GET, POST, PUT, PATCH, DELETE, OPTIONS';
const ALLOW_HEADERS = 'Authorization, Content-Type, If-Match, X-Api-Key, X-Request-Id';
const EXPOSE_HEADERS = 'ETag, X-Request-Id, Location, Retry-After';

/**
 * The CORS headers for a request from `origin`: none when the origin is absent or not allowed
 * (the browser then refuses to hand the answer to the page), the allowed origin echoed otherwise
 * (never `*`), plus the preflight's methods, headers and max age.
 */
export function corsHeaders(allowed: readonly string[] | undefined, origin: string | undefined, preflight: boolean): Record<string, string> {
  if (!origin || !(allowed ?? []).includes(origin)) return {};
  const base: Record<string, string> = { 'Access-Control-Allow-Origin': origin, 'Access-Control-Expose-Headers': EXPOSE_HEADERS };
  if (!preflight) return base;
  return { ...base, 'Access-Control-Allow-Methods': ALLOW_METHODS, 'Access-Control-Allow-Headers': ALLOW_HEADERS, 'Access-Control-Max-Age': '3600' };
}
