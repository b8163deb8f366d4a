/**
 * Opaque cursor tokens for list endpoints: base64url JSON of the last item's sort values and id,
 * bound to the query they came from (a hash of its filters and sort), so a token replayed against
 * another query is refused rather than silently skipping or repeating items.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { HttpError } from '../errors/index.js';

/** Default and maximum page sizes of every list endpoint. */
export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

export const LimitSchema = z.coerce.number().int().min(1).max(MAX_PAGE_SIZE).default(DEFAULT_PAGE_SIZE);
export const PageTokenSchema = z.string().max(2048).regex(/^[A-Za-z0-9_-]+$/, 'page token: as returned in nextPageToken');

const CursorSchema = z.object({ q: z.string(), v: z.array(z.union([z.string(), z.number(), z.null()])) });

/** What a query is, for binding its tokens: the filters and sort (not the limit: pages may vary in size). */
export function queryKey(parts: Readonly<Record<string, string | number | null | undefined>>): string {
  const canonical = Object.keys(parts)
    .sort()
    .map((k) => `${k}=${parts[k] ?? ''}`)
    .join('&');
  return createHash('sha256').update(canonical).digest('base64url').slice(0, 16);
}

export function encodeCursor(key: string, values: readonly (string | number | null)[]): string {
  return Buffer.from(JSON.stringify({ q: key, v: values }), 'utf8').toString('base64url');
}

/** The values a token carries, or 400 INVALID_PAGE_TOKEN when it is malformed or from another query. */
export function decodeCursor(token: string, key: string, arity: number): (string | number | null)[] {
  let parsed: z.infer<typeof CursorSchema> | undefined;
  try {
    const r = CursorSchema.safeParse(JSON.parse(Buffer.from(token, 'base64url').toString('utf8')));
    parsed = r.success ? r.data : undefined;
  } catch {
    parsed = undefined;
  }
  if (!parsed || parsed.v.length !== arity) throw new HttpError(400, 'INVALID_PAGE_TOKEN', 'pageToken is not one this endpoint returned', { pageToken: ['malformed'] });
  if (parsed.q !== key) throw new HttpError(400, 'INVALID_PAGE_TOKEN', 'pageToken belongs to a different query (filters or sort changed): start again without it', { pageToken: ['different query'] });
  return parsed.v;
}
