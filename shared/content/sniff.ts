/**
 * Content sniffing: what a file is, from its bytes. The declared content type (what the uploader
 * said) and the file name only settle what bytes cannot tell (Markdown looks like any other text);
 * everything else is decided by signatures, so a mislabelled upload is routed by what it really is.
 *
 * `sniffContentType` works on the first bytes of a file (4 KiB is plenty for everything but
 * DOCX-in-a-large-ZIP); `sniffFile` reads what it needs from disk, including a ZIP's central
 * directory at the end of the file, so DOCX detection does not depend on the order of entries.
 */
import { open } from 'node:fs/promises';

/** What a document is, for routing: which extractor (or stage) reads it. */
export type ContentFamily = 'pdf' | 'image' | 'docx' | 'html' | 'markdown' | 'text' | 'audio' | 'video' | 'unknown';

/** Text encodings the extractors transcode from. */
export type TextCharset = 'utf-8' | 'utf-16le' | 'utf-16be';

export interface SniffResult {
  /** The detected media type, lower case without parameters (`application/octet-stream` when unknown). */
  readonly type: string;
  readonly family: ContentFamily;
  /** For text families: the encoding the bytes are in (from a BOM, else UTF-8). */
  readonly charset?: TextCharset;
}

export interface SniffOptions {
  /** The file name, when known: `.md`/`.markdown` marks text as Markdown. */
  readonly name?: string;
  /**
   * True when `head` is the whole file. Then an incomplete UTF-8 sequence at the end is an error
   * (not a cut), and a ZIP's central directory is read from the end of the buffer.
   */
  readonly complete?: boolean;
}

export const DOCX_TYPE = 'application/vnd.openxmlformats-officedocument.wordprocessingml.document';
export const OCTET_STREAM = 'application/octet-stream';

/** How many bytes {@link sniffFile} reads from the start of a file. */
export const SNIFF_HEAD_BYTES = 64 * 1024;

const result = (type: string, family: ContentFamily, charset?: TextCharset): SniffResult => (charset ? { type, family, charset } : { type, family });

/**
 * The type of the file that starts with `head`. `declared` (the uploader's content type) and
 * `options.name` only decide between plain text and Markdown; they never override a signature.
 */
export function sniffContentType(head: Buffer, declared?: string, options: SniffOptions = {}): SniffResult {
  const ascii = (start: number, end: number): string => head.toString('latin1', start, Math.min(end, head.length));
  const at = (offset: number, bytes: readonly number[]): boolean => bytes.every((b, i) => head[offset + i] === b);

  // PDF: poppler accepts the header anywhere in the first KiB (some generators prepend junk).
  if (ascii(0, 5) === '%PDF-' || head.subarray(0, 1024).includes('%PDF-')) return result('application/pdf', 'pdf');

  // Images tesseract reads.
  if (at(0, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return result('image/png', 'image');
  if (at(0, [0xff, 0xd8, 0xff])) return result('image/jpeg', 'image');
  if (['II*\0', 'MM\0*', 'II+\0', 'MM\0+'].includes(ascii(0, 4))) return result('image/tiff', 'image');
  if (['GIF87a', 'GIF89a'].includes(ascii(0, 6))) return result('image/gif', 'image');
  // BMP: 'BM' alone is too weak (a text may start "BMW"): the DIB header size must be a known one.
  if (ascii(0, 2) === 'BM' && head.length >= 18 && [12, 40, 52, 56, 64, 108, 124].includes(head.readUInt32LE(14))) return result('image/bmp', 'image');

  // RIFF containers: WebP, WAVE, AVI.
  if ((ascii(0, 4) === 'RIFF' || ascii(0, 4) === 'RF64') && head.length >= 12) {
    const form = ascii(8, 12);
    if (form === 'WEBP') return result('image/webp', 'image');
    if (form === 'WAVE') return result('audio/wav', 'audio');
    if (form === 'AVI ') return result('video/x-msvideo', 'video');
  }

  // ZIP: DOCX when the entries name word/document.xml; other ZIPs (XLSX, ODT, EPUB, JAR...) are unsupported.
  if (ascii(0, 4) === 'PK\x03\x04' || (ascii(0, 4) === 'PK\x05\x06' && head.length >= 22)) return sniffZip(head, options.complete === true);

  // Text with a BOM, before the media signatures: FF FE also starts an MPEG audio frame header.
  const markdown = isMarkdownDeclared(declared, options.name);
  if (at(0, [0xff, 0xfe, 0x00, 0x00]) || at(0, [0x00, 0x00, 0xfe, 0xff])) return result(OCTET_STREAM, 'unknown'); // UTF-32: not supported
  if (at(0, [0xff, 0xfe]) || at(0, [0xfe, 0xff])) {
    const charset: TextCharset = head[0] === 0xff ? 'utf-16le' : 'utf-16be';
    const text = new TextDecoder(charset).decode(head.subarray(2, head.length - (head.length % 2)));
    return textResult(text, markdown, charset);
  }

  const media = sniffMedia(head);
  if (media) return media;
  const other = sniffOtherBinary(head);
  if (other) return other;

  // Otherwise text must be UTF-8 without NULs.
  if (!looksLikeUtf8Text(head, options.complete === true)) return result(OCTET_STREAM, 'unknown');
  return textResult(head.toString('utf8'), markdown, 'utf-8');
}

function textResult(text: string, markdown: boolean, charset: TextCharset): SniffResult {
  if (isHtml(text)) return result('text/html', 'html', charset);
  return markdown ? result('text/markdown', 'markdown', charset) : result('text/plain', 'text', charset);
}

/** Markdown cannot be told from text by its bytes: only the declaration or the name say so. */
function isMarkdownDeclared(declared: string | undefined, name: string | undefined): boolean {
  const type = normalizeType(declared ?? '');
  if (type === 'text/markdown') return true;
  return name !== undefined && /\.(md|markdown|mdown|mkd)$/i.test(name);
}

/**
 * HTML by its start, as browsers sniff it: after a BOM, whitespace, comments and an XML
 * declaration, a doctype html or one of the usual top-level tags.
 */
function isHtml(text: string): boolean {
  let s = text.replace(/^\uFEFF/, '');
  for (;;) {
    const before = s;
    s = s.replace(/^\s+/, '');
    if (s.startsWith('<!--')) {
      const end = s.indexOf('-->');
      if (end < 0) return false;
      s = s.slice(end + 3);
    } else if (/^<\?xml\b/i.test(s)) {
      const end = s.indexOf('?>');
      if (end < 0) return false;
      s = s.slice(end + 2);
    }
    if (s === before) break;
  }
  if (/^<!doctype\s+html\b/i.test(s)) return true;
  return /^<(html|head|body|title|script|style|iframe|h1|div|font|table|a|b|br|p)(?=[\s/>])/i.test(s);
}

/**
 * UTF-8 text: no NUL bytes, hardly any other control characters (form feeds, tabs and escape
 * sequences of logs are fine), and no invalid sequences, except one cut short at the end of a
 * `head` that is only the start of the file.
 */
function looksLikeUtf8Text(head: Buffer, complete: boolean): boolean {
  if (head.length === 0) return complete; // an empty file is (empty) text; an empty head says nothing
  if (head.includes(0)) return false;
  let controls = 0;
  for (const b of head) {
    if (b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d && b !== 0x0c && b !== 0x1b) controls++;
    else if (b === 0x7f) controls++;
  }
  if (controls > Math.max(1, head.length / 1000)) return false;
  let end = head.length;
  if (!complete) {
    // Drop an incomplete sequence at the cut: up to 3 continuation bytes after a lead byte.
    for (let i = head.length - 1; i >= Math.max(0, head.length - 4); i--) {
      const b = head[i] ?? 0;
      if ((b & 0xc0) === 0x80) continue;
      if (b >= 0xc0) {
        const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : 2;
        if (head.length - i < need) end = i;
      }
      break;
    }
  }
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(head.subarray(0, end));
    return true;
  } catch {
    return false;
  }
}

/** Audio and video containers: routed to the speech stage later, refused as documents today. */
function sniffMedia(head: Buffer): SniffResult | undefined {
  const ascii = (start: number, end: number): string => head.toString('latin1', start, Math.min(end, head.length));
  if (ascii(0, 3) === 'ID3') return result('audio/mpeg', 'audio');
  if (ascii(0, 4) === 'fLaC') return result('audio/flac', 'audio');
  if (ascii(0, 4) === 'OggS') {
    const page = ascii(0, 128);
    if (page.includes('theora') || page.includes('\x80theora') || page.includes('fishead')) return result('video/ogg', 'video');
    return result('audio/ogg', 'audio');
  }
  if (ascii(0, 4) === 'FORM' && ['AIFF', 'AIFC'].includes(ascii(8, 12))) return result('audio/aiff', 'audio');
  if (ascii(0, 5) === '#!AMR') return result('audio/amr', 'audio');
  if (ascii(0, 4) === 'MThd') return result('audio/midi', 'audio');
  if (ascii(0, 4) === '.snd') return result('audio/basic', 'audio');
  if (head.length >= 12 && ascii(4, 8) === 'ftyp') return sniffIsoMedia(ascii(8, 12), ascii(16, Math.min(head.length, 64)));
  if (head.length >= 4 && head.readUInt32BE(0) === 0x1a45dfa3) {
    // EBML: the DocType element names the flavour.
    return ascii(0, 64).includes('webm') ? result('video/webm', 'video') : result('video/x-matroska', 'video');
  }
  if (head.length >= 4 && head[0] === 0xff && ((head[1] ?? 0) & 0xf6) === 0xf0) return result('audio/aac', 'audio'); // ADTS
  // A bare MPEG audio stream (no ID3 tag): two consecutive valid frame headers, as file(1) checks.
  const frame = isMpegAudioFrame(head, 0) ? mpegFrameLength(head, 0) : 0;
  if (frame > 0 && isMpegAudioFrame(head, frame)) return result('audio/mpeg', 'audio');
  if (head.length >= 4 && head.readUInt32BE(0) === 0x000001ba) return result('video/mpeg', 'video');
  return undefined;
}

/** ISO base media (MP4, QuickTime, 3GP, HEIF/AVIF) by major and compatible brands. */
function sniffIsoMedia(major: string, compatible: string): SniffResult {
  const brands = [major, ...(compatible.match(/.{4}/gs) ?? [])];
  if (brands.some((b) => ['heic', 'heix', 'heim', 'heis', 'mif1', 'msf1'].includes(b))) return result('image/heic', 'unknown');
  if (brands.includes('avif') || brands.includes('avis')) return result('image/avif', 'unknown');
  if (['M4A ', 'M4B ', 'M4P ', 'F4A ', 'F4B '].includes(major)) return result('audio/mp4', 'audio');
  if (major === 'qt  ') return result('video/quicktime', 'video');
  if (major.startsWith('3g')) return result('video/3gpp', 'video');
  return result('video/mp4', 'video');
}

/** An MPEG-1/2/2.5 audio frame header (layers I–III) at `offset`, with valid bitrate and rate. */
function isMpegAudioFrame(b: Buffer, offset: number): boolean {
  if (offset < 0 || offset + 4 > b.length) return false;
  const [b0, b1, b2] = [b[offset] ?? 0, b[offset + 1] ?? 0, b[offset + 2] ?? 0];
  if (b0 !== 0xff || (b1 & 0xe0) !== 0xe0) return false;
  const version = (b1 >> 3) & 3;
  const layer = (b1 >> 1) & 3;
  const bitrate = b2 >> 4;
  const rate = (b2 >> 2) & 3;
  return version !== 1 && layer !== 0 && bitrate !== 0 && bitrate !== 15 && rate !== 3;
}

/** Length of the MPEG audio frame at `offset` (0 when it cannot be computed). */
function mpegFrameLength(b: Buffer, offset: number): number {
  const b1 = b[offset + 1] ?? 0;
  const b2 = b[offset + 2] ?? 0;
  const version = (b1 >> 3) & 3; // 3 = MPEG-1, 2 = MPEG-2, 0 = MPEG-2.5
  const layer = (b1 >> 1) & 3; // 3 = I, 2 = II, 1 = III
  const rates = version === 3 ? [44100, 48000, 32000] : version === 2 ? [22050, 24000, 16000] : [11025, 12000, 8000];
  const v1 = version === 3;
  const table: Record<number, readonly number[]> = {
    3: v1 ? [0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448] : [0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256],
    2: v1 ? [0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384] : [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
    1: v1 ? [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320] : [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
  };
  const kbps = table[layer]?.[b2 >> 4] ?? 0;
  const rate = rates[(b2 >> 2) & 3] ?? 0;
  const padding = (b2 >> 1) & 1;
  if (kbps === 0 || rate === 0) return 0;
  if (layer === 3) return (Math.floor((12 * kbps * 1000) / rate) + padding) * 4;
  const perFrame = layer === 1 && !v1 ? 72 : 144;
  return Math.floor((perFrame * kbps * 1000) / rate) + padding;
}

/** Binary formats worth naming in an error message, none of them supported. */
function sniffOtherBinary(head: Buffer): SniffResult | undefined {
  const ascii = (start: number, end: number): string => head.toString('latin1', start, Math.min(end, head.length));
  if (head.length >= 8 && head.readUInt32BE(0) === 0xd0cf11e0 && head.readUInt32BE(4) === 0xa1b11ae1) return result('application/x-ole-storage', 'unknown'); // .doc, .xls, .msg
  if (ascii(0, 5) === '{\\rtf') return result('application/rtf', 'unknown');
  if (head[0] === 0x1f && head[1] === 0x8b) return result('application/gzip', 'unknown');
  if (ascii(0, 6) === '7z\xbc\xaf\x27\x1c') return result('application/x-7z-compressed', 'unknown');
  if (ascii(0, 4) === 'Rar!') return result('application/vnd.rar', 'unknown');
  if (ascii(0, 4) === '\x7fELF') return result(OCTET_STREAM, 'unknown');
  if (ascii(0, 4) === '8BPS') return result('image/vnd.adobe.photoshop', 'unknown');
  if (head.length >= 12 && ascii(0, 12) === '\0\0\0\x0cjP  \r\n\x87\n') return result('image/jp2', 'unknown');
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// ZIP

export interface ZipEntry {
  readonly name: string;
  /** Uncompressed size as recorded (0 when a local header defers it to a data descriptor). */
  readonly size: number;
  readonly compressedSize: number;
}

/**
 * Entry names and sizes of the ZIP in `bytes`: from the central directory when `bytes` holds the
 * end of the archive (a whole file, or the tail {@link sniffFile} reads), else by walking the local
 * headers from the start. Stops quietly at anything malformed: callers decide from what was found.
 */
export function zipEntries(bytes: Buffer): ZipEntry[] {
  const central = centralDirectoryEntries(bytes);
  if (central) return central;
  return localHeaderEntries(bytes);
}

function localHeaderEntries(bytes: Buffer): ZipEntry[] {
  const entries: ZipEntry[] = [];
  let pos = 0;
  while (pos + 30 <= bytes.length && bytes.readUInt32LE(pos) === 0x04034b50 && entries.length < 10_000) {
    const flags = bytes.readUInt16LE(pos + 6);
    const compressedSize = bytes.readUInt32LE(pos + 18);
    const size = bytes.readUInt32LE(pos + 22);
    const nameLength = bytes.readUInt16LE(pos + 26);
    const extraLength = bytes.readUInt16LE(pos + 28);
    if (pos + 30 + nameLength > bytes.length) break;
    const name = bytes.toString(flags & 0x800 ? 'utf8' : 'latin1', pos + 30, pos + 30 + nameLength);
    entries.push({ name, size, compressedSize });
    const dataStart = pos + 30 + nameLength + extraLength;
    if (flags & 0x08 && compressedSize === 0) {
      // Sizes follow the data: find the next local header by its signature.
      const next = bytes.indexOf('PK\x03\x04', dataStart, 'latin1');
      if (next < 0) break;
      pos = next;
    } else {
      pos = dataStart + compressedSize;
    }
  }
  return entries;
}

/** Entries from the end-of-central-directory record when it and the directory are inside `bytes`. */
function centralDirectoryEntries(bytes: Buffer, baseOffset = 0): ZipEntry[] | undefined {
  const eocd = findEndOfCentralDirectory(bytes);
  if (eocd < 0) return undefined;
  const count = bytes.readUInt16LE(eocd + 10);
  const dirSize = bytes.readUInt32LE(eocd + 12);
  const dirOffset = bytes.readUInt32LE(eocd + 16);
  // In a tail buffer, the directory sits just before the EOCD record.
  let pos = baseOffset === 0 && dirOffset + dirSize <= eocd ? dirOffset : eocd - dirSize;
  if (pos < 0) return undefined;
  const entries: ZipEntry[] = [];
  for (let i = 0; i < count && pos + 46 <= bytes.length; i++) {
    if (bytes.readUInt32LE(pos) !== 0x02014b50) return entries.length > 0 ? entries : undefined;
    const flags = bytes.readUInt16LE(pos + 8);
    const compressedSize = bytes.readUInt32LE(pos + 20);
    const size = bytes.readUInt32LE(pos + 24);
    const nameLength = bytes.readUInt16LE(pos + 28);
    const extraLength = bytes.readUInt16LE(pos + 30);
    const commentLength = bytes.readUInt16LE(pos + 32);
    if (pos + 46 + nameLength > bytes.length) break;
    entries.push({ name: bytes.toString(flags & 0x800 ? 'utf8' : 'latin1', pos + 46, pos + 46 + nameLength), size, compressedSize });
    pos += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

function findEndOfCentralDirectory(bytes: Buffer): number {
  // The record is 22 bytes plus a comment of up to 64 KiB.
  const from = Math.max(0, bytes.length - 22 - 0xffff);
  for (let i = bytes.length - 22; i >= from; i--) {
    if (bytes[i] === 0x50 && bytes.readUInt32LE(i) === 0x06054b50) return i;
  }
  return -1;
}

function sniffZip(bytes: Buffer, complete: boolean): SniffResult {
  const names = new Set((complete ? zipEntries(bytes) : localHeaderEntries(bytes)).map((e) => e.name));
  return zipKind(names);
}

function zipKind(names: ReadonlySet<string>): SniffResult {
  if (names.has('word/document.xml')) return result(DOCX_TYPE, 'docx');
  if (names.has('xl/workbook.xml')) return result('application/vnd.openxmlformats-officedocument.spreadsheetml.sheet', 'unknown');
  if (names.has('ppt/presentation.xml')) return result('application/vnd.openxmlformats-officedocument.presentationml.presentation', 'unknown');
  if (names.has('content.xml') && names.has('mimetype')) return result('application/vnd.oasis.opendocument', 'unknown');
  if (names.has('META-INF/container.xml')) return result('application/epub+zip', 'unknown');
  return result('application/zip', 'unknown');
}

/**
 * Sniffs a file on disk: its first {@link SNIFF_HEAD_BYTES}, and for a ZIP also its central
 * directory (read from the end), so a DOCX is recognised whatever the order of its entries.
 */
export async function sniffFile(path: string, declared?: string, options: Pick<SniffOptions, 'name'> = {}): Promise<SniffResult> {
  const handle = await open(path, 'r');
  try {
    const size = (await handle.stat()).size;
    const head = Buffer.alloc(Math.min(SNIFF_HEAD_BYTES, size));
    await handle.read(head, 0, head.length, 0);
    const complete = head.length === size;
    const sniffed = sniffContentType(head, declared, { ...options, complete });
    if (complete || head.toString('latin1', 0, 4) !== 'PK\x03\x04') return sniffed;
    if (sniffed.family === 'docx') return sniffed;
    const tailLength = Math.min(size, 22 + 0xffff + 1024 * 1024);
    const tail = Buffer.alloc(tailLength);
    await handle.read(tail, 0, tailLength, size - tailLength);
    const central = centralDirectoryEntries(tail, size - tailLength);
    return central ? zipKind(new Set(central.map((e) => e.name))) : sniffed;
  } finally {
    await handle.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Declared vs detected

/** Aliases uploaders and old software use, mapped to the names sniffing reports. */
const ALIASES: Readonly<Record<string, string>> = {
  'image/jpg': 'image/jpeg',
  'image/pjpeg': 'image/jpeg',
  'image/x-png': 'image/png',
  'image/x-ms-bmp': 'image/bmp',
  'image/x-bmp': 'image/bmp',
  'image/tif': 'image/tiff',
  'image/x-tiff': 'image/tiff',
  'application/x-pdf': 'application/pdf',
  'application/acrobat': 'application/pdf',
  'text/x-markdown': 'text/markdown',
  'application/xhtml+xml': 'text/html',
  'audio/x-wav': 'audio/wav',
  'audio/wave': 'audio/wav',
  'audio/vnd.wave': 'audio/wav',
  'audio/mp3': 'audio/mpeg',
  'audio/x-mp3': 'audio/mpeg',
  'audio/mpeg3': 'audio/mpeg',
  'audio/x-mpeg': 'audio/mpeg',
  'audio/x-flac': 'audio/flac',
  'audio/x-aiff': 'audio/aiff',
  'audio/x-m4a': 'audio/mp4',
  'audio/m4a': 'audio/mp4',
  'audio/aacp': 'audio/aac',
  'video/x-m4v': 'video/mp4',
  'video/avi': 'video/x-msvideo',
  'video/msvideo': 'video/x-msvideo',
  'video/mkv': 'video/x-matroska',
  'application/msword': 'application/x-ole-storage',
  'application/vnd.ms-excel': 'application/x-ole-storage',
  'text/rtf': 'application/rtf',
  'application/x-zip-compressed': 'application/zip',
};

/** A content type without parameters, lower-cased, with aliases resolved (`image/jpg` → `image/jpeg`). */
export function normalizeType(contentType: string): string {
  const bare = (contentType.split(';')[0] ?? '').trim().toLowerCase();
  return ALIASES[bare] ?? bare;
}

/**
 * Whether the type an uploader declared agrees with the one detected: equal after aliases, or
 * different names for what the bytes cannot tell apart (plain text vs Markdown or any other
 * `text/*` except HTML; audio vs video in the same container). A declared
 * `application/octet-stream` (or nothing) claims nothing, so it agrees with anything.
 */
export function contentTypesAgree(declared: string | undefined, detected: SniffResult | string): boolean {
  const want = normalizeType(declared ?? '');
  const have = normalizeType(typeof detected === 'string' ? detected : detected.type);
  if (want === '' || want === OCTET_STREAM || want === have) return true;
  const textual = (t: string): boolean => t.startsWith('text/') && t !== 'text/html';
  if (textual(want) && textual(have)) return true;
  const container = (t: string): string => t.replace(/^(audio|video)\//, 'av/');
  if (/^(audio|video)\//.test(want) && container(want) === container(have)) return true;
  return false;
}
