/**
 * Listing cursors for queries ordered by a timestamp field then the document id (newest first):
 * the page's last document's exact Timestamp (seconds and nanoseconds: an ISO string keeps only
 * milliseconds, and a cursor rounded down could skip documents written in the same millisecond) and
 * its id, as base64url JSON. Opaque to clients; anything malformed decodes to null (a 400).
 */
import { Timestamp, type DocumentSnapshot } from '@google-cloud/firestore';
import { z } from 'zod';

const CursorSchema = z.object({ s: z.number().int(), n: z.number().int().min(0).max(999_999_999), id: z.string().min(1).max(1500) });

/** The cursor after `snap`, ordered by `field` (a Timestamp); null when the field is not a Timestamp. */
export function cursorAfter(snap: DocumentSnapshot, field: string): string | null {
  const t: unknown = snap.get(field);
  if (!(t instanceof Timestamp)) return null;
  return Buffer.from(JSON.stringify({ s: t.seconds, n: t.nanoseconds, id: snap.id })).toString('base64url');
}

/** The values to `startAfter(...)` for a cursor, or null when it is not one of ours. */
export function decodeCursor(token: string): [Timestamp, string] | null {
  try {
    const parsed = CursorSchema.safeParse(JSON.parse(Buffer.from(token, 'base64url').toString('utf8')));
    return parsed.success ? [new Timestamp(parsed.data.s, parsed.data.n), parsed.data.id] : null;
  } catch {
    return null;
  }
}
