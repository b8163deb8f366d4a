/**
 * Streaming parser for JSON API `uploadType=multipart` bodies (`multipart/related`: a JSON
 * metadata part, then the media part). The media part is passed on chunk by chunk instead of
 * being buffered, holding back only a small tail in which the closing delimiter must lie.
 *
 * Clients differ in shape: the Node client sends `boundary=x` and CRLF line breaks; gcloud
 * (Python's email generator) sends `boundary='===...=='` in single quotes, LF line breaks and extra
 * MIME headers. Both are accepted.
 */
import { badRequest } from './errors.js';

/** What precedes the media bytes. */
export interface MultipartHead {
  readonly metadata: Record<string, unknown>;
  readonly mediaContentType?: string;
}

/** Largest metadata part + headers accepted before the media starts. */
const MAX_HEAD_BYTES = 4 * 1024 * 1024;
/** Bytes held back at the end of the stream: the closing delimiter plus any epilogue must fit. */
const TAIL_BYTES = 8192;

/** Extracts the boundary from a `multipart/related; boundary=...` content type (quoted, single-quoted or bare). */
export function parseBoundary(contentType: string): string {
  const m = /boundary\s*=\s*(?:"([^"]+)"|'([^']+)'|([^;\s]+))/i.exec(contentType);
  const b = m?.[1] ?? m?.[2] ?? m?.[3];
  if (!b) throw badRequest('Multipart upload without a boundary in Content-Type.');
  return b;
}

function parseHeaders(block: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of block.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0) out.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return out;
}

/** Index just after the line break that ends the line containing `from`, or -1. */
function afterLineBreak(buf: Buffer, from: number): number {
  const nl = buf.indexOf(0x0a, from);
  return nl < 0 ? -1 : nl + 1;
}

/** Start of a part's headers → { headers, bodyStart } once the blank line is in `buf`. */
function readPartHeaders(buf: Buffer, start: number): { headers: Map<string, string>; bodyStart: number } | undefined {
  // No headers at all: the blank line follows the delimiter line directly.
  if (buf[start] === 0x0a) return { headers: new Map(), bodyStart: start + 1 };
  if (buf[start] === 0x0d && buf[start + 1] === 0x0a) return { headers: new Map(), bodyStart: start + 2 };
  const crlf = buf.indexOf('\r\n\r\n', start);
  const lf = buf.indexOf('\n\n', start);
  const candidates = [crlf < 0 ? -1 : crlf, lf < 0 ? -1 : lf].filter((i) => i >= 0);
  if (candidates.length === 0) return undefined;
  const end = Math.min(...candidates);
  const sepLen = end === crlf ? 4 : 2;
  return { headers: parseHeaders(buf.subarray(start, end).toString('utf8')), bodyStart: end + sepLen };
}

/** Strips the line break that precedes a delimiter found at `idx`. */
function endBeforeDelimiter(buf: Buffer, idx: number): number {
  let end = idx;
  if (end > 0 && buf[end - 1] === 0x0a) end--;
  if (end > 0 && buf[end - 1] === 0x0d) end--;
  return end;
}

function tryParseHead(buf: Buffer, delim: Buffer): { head: MultipartHead; mediaStart: number } | undefined {
  const first = buf.indexOf(delim);
  if (first < 0) return undefined;
  const h1Start = afterLineBreak(buf, first + delim.length);
  if (h1Start < 0) return undefined;
  const part1 = readPartHeaders(buf, h1Start);
  if (!part1) return undefined;
  const second = buf.indexOf(delim, part1.bodyStart);
  if (second < 0) return undefined;
  const metaText = buf.subarray(part1.bodyStart, endBeforeDelimiter(buf, second)).toString('utf8').trim();
  const h2Start = afterLineBreak(buf, second + delim.length);
  if (h2Start < 0) return undefined;
  const part2 = readPartHeaders(buf, h2Start);
  if (!part2) return undefined;

  let metadata: Record<string, unknown> = {};
  if (metaText) {
    try {
      const parsed: unknown = JSON.parse(metaText);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
      metadata = parsed as Record<string, unknown>;
    } catch {
      throw badRequest('The metadata part of the multipart upload is not a JSON object.');
    }
  }
  const encoding = part2.headers.get('content-transfer-encoding')?.toLowerCase();
  if (encoding && !['binary', '8bit', '7bit'].includes(encoding)) {
    throw badRequest(`Unsupported Content-Transfer-Encoding "${encoding}" in multipart upload.`);
  }
  const mediaContentType = part2.headers.get('content-type');
  return { head: { metadata, ...(mediaContentType ? { mediaContentType } : {}) }, mediaStart: part2.bodyStart };
}

/**
 * Reads a multipart/related upload body, calling `onMedia` with the media bytes in order.
 * Resolves with the metadata once the closing delimiter has been seen.
 */
export async function readMultipartRelated(
  body: AsyncIterable<Buffer>,
  contentType: string,
  onMedia: (chunk: Buffer) => Promise<void>,
): Promise<MultipartHead> {
  const delim = Buffer.from(`--${parseBoundary(contentType)}`);
  let pending: Buffer = Buffer.alloc(0);
  let head: MultipartHead | undefined;
  let held: Buffer = Buffer.alloc(0);
  for await (const chunk of body) {
    if (!head) {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      const parsed = tryParseHead(pending, delim);
      if (!parsed) {
        if (pending.length > MAX_HEAD_BYTES) throw badRequest('Multipart upload: metadata part too large or malformed.');
        continue;
      }
      head = parsed.head;
      held = pending.subarray(parsed.mediaStart);
      pending = Buffer.alloc(0);
    } else {
      held = held.length ? Buffer.concat([held, chunk]) : chunk;
    }
    if (held.length > TAIL_BYTES) {
      await onMedia(held.subarray(0, held.length - TAIL_BYTES));
      held = Buffer.from(held.subarray(held.length - TAIL_BYTES));
    }
  }
  if (!head) {
    const parsed = tryParseHead(pending, delim);
    if (!parsed) throw badRequest('Malformed multipart upload body.');
    head = parsed.head;
    held = pending.subarray(parsed.mediaStart);
  }
  const closing = held.lastIndexOf(delim);
  if (closing < 0) throw badRequest('Multipart upload body has no closing delimiter.');
  const end = endBeforeDelimiter(held, closing);
  if (end > 0) await onMedia(held.subarray(0, end));
  return head;
}
