/**
 * Content types of uploads, guessed from the file extension (the API decides what it accepts; this
 * only saves typing `--type` for the usual formats).
 */
import path from 'node:path';

/** Extension (lowercase, no dot) → content type. */
export const CONTENT_TYPES: Readonly<Record<string, string>> = {
  pdf: 'application/pdf',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  tif: 'image/tiff',
  tiff: 'image/tiff',
  gif: 'image/gif',
  bmp: 'image/bmp',
  webp: 'image/webp',
  wav: 'audio/wav',
  mp3: 'audio/mpeg',
  flac: 'audio/flac',
  ogg: 'audio/ogg',
  txt: 'text/plain',
};

/** What is sent when the extension is unknown. */
export const FALLBACK_CONTENT_TYPE = 'application/octet-stream';

/** The content type for a file name or path, from its extension (case-insensitive). */
export function guessContentType(fileName: string): string {
  const ext = path.extname(fileName).slice(1).toLowerCase();
  return CONTENT_TYPES[ext] ?? FALLBACK_CONTENT_TYPE;
}
