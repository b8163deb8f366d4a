/**
 * Text extraction for documents that carry their text (no OCR): plain text, Markdown, HTML, DOCX.
 * The family comes from content sniffing (`shared/content/sniff.ts`), never from the declared type.
 */
import { open } from 'node:fs/promises';

import { PermanentError, TransientError } from '../../errors/index.js';
import { detectLanguage, languageFromTag } from '../language.js';
import { docxToText } from './docx.js';
import { htmlToText } from './html.js';
import { decodeText, markdownToText } from './text.js';
import { DEFAULT_MAX_TEXT_BYTES, EXTRACT_ERROR_CODES, isExtractFamily } from './types.js';
import type { ExtractFamily, ExtractOptions, ExtractResult } from './types.js';

export * from './types.js';
export { decodeText, markdownToText } from './text.js';
export { htmlToText } from './html.js';

/**
 * Extracts the text of the file at `path`, read as `family`. The file is refused before it is
 * parsed when it is over `options.maxBytes` (default 50 MiB), and so is a DOCX whose parts unpack
 * to more. Empty documents give empty text (not an error). The language is detected from the text;
 * for HTML too short to tell, the document's `lang` attribute answers.
 *
 * Failures: PermanentError INPUT_CORRUPT (undecodable text, a damaged DOCX), INPUT_TOO_LARGE,
 * UNSUPPORTED_CONTENT_TYPE (a family this does not read); TransientError ENGINE_FAILED when the
 * local file cannot be read (the caller put it there: not the document's fault).
 */
export async function extractText(path: string, family: ExtractFamily, options: ExtractOptions = {}): Promise<ExtractResult> {
  if (!isExtractFamily(family)) {
    throw new PermanentError(EXTRACT_ERROR_CODES.unsupported, `text extraction does not read ${String(family)} documents`);
  }
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_TEXT_BYTES;
  const bytes = await readLimited(path, maxBytes);
  const warnings: string[] = [];
  let text: string;
  let declaredLanguage: string | undefined;
  switch (family) {
    case 'text':
    case 'markdown': {
      const decoded = decodeText(bytes);
      warnings.push(...decoded.warnings);
      text = family === 'markdown' ? markdownToText(decoded.text) : decoded.text.replace(/[ \t]+$/gm, '').trim();
      break;
    }
    case 'html': {
      const decoded = decodeHtml(bytes);
      warnings.push(...decoded.warnings);
      const html = htmlToText(decoded.text);
      text = html.text;
      declaredLanguage = languageFromTag(html.lang);
      break;
    }
    case 'docx': {
      const docx = await docxToText(bytes, maxBytes);
      warnings.push(...docx.warnings);
      text = docx.text;
      break;
    }
  }
  if (Buffer.byteLength(text, 'utf8') > maxBytes) {
    throw new PermanentError(EXTRACT_ERROR_CODES.tooLarge, `the extracted text is over the limit of ${maxBytes} bytes`);
  }
  const detected = detectLanguage(text);
  const language = detected === 'und' && declaredLanguage && text.trim().length > 0 ? declaredLanguage : detected;
  return { text, pageCount: 1, language, warnings };
}

/**
 * HTML bytes as text: UTF-8 or a BOM's UTF-16 as for plain text; a page that is not UTF-8 and
 * declares its charset (`<meta charset>` or `http-equiv` in the first KiB, e.g. windows-1252,
 * windows-1256, iso-8859-6) is decoded with that charset instead of being refused.
 */
function decodeHtml(bytes: Buffer): { text: string; warnings: string[] } {
  try {
    return decodeText(bytes);
  } catch (err) {
    const head = bytes.subarray(0, 1024).toString('latin1');
    const label = /<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_:.-]+)/i.exec(head)?.[1];
    if (!(err instanceof PermanentError) || !label || /^utf-?8$/i.test(label)) throw err;
    let decoder: InstanceType<typeof TextDecoder>;
    try {
      decoder = new TextDecoder(label);
    } catch {
      throw err;
    }
    let text = decoder.decode(bytes).replace(/\r\n?/g, '\n');
    // Node 20 decodes windows-1252 as Latin-1, leaving 0x80–0x9F as C1 controls: map them as WHATWG does.
    if (decoder.encoding === 'windows-1252') text = text.replace(/[\u0080-\u009F]/g, (c) => WINDOWS_1252_C1[c.charCodeAt(0) - 0x80] ?? c);
    return { text, warnings: [`decoded as ${decoder.encoding}, the charset the page declares`] };
  }
}

/** windows-1252 bytes 0x80–0x9F (WHATWG Encoding); the five unassigned ones stay as they are. */
const WINDOWS_1252_C1 = [...'€\u0081‚ƒ„…†‡ˆ‰Š‹Œ\u008DŽ\u008F\u0090‘’“”•–—˜™š›œ\u009DžŸ'];

/** The whole file, refused with INPUT_TOO_LARGE before reading when it is over `maxBytes`. */
async function readLimited(path: string, maxBytes: number): Promise<Buffer> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    throw new TransientError(EXTRACT_ERROR_CODES.engineFailed, `input file cannot be read: ${err instanceof Error ? err.message : String(err)}`, err);
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new PermanentError(EXTRACT_ERROR_CODES.corrupt, `input ${path} is not a regular file`);
    if (info.size > maxBytes) {
      throw new PermanentError(EXTRACT_ERROR_CODES.tooLarge, `the document is ${info.size} bytes; text documents are limited to ${maxBytes} bytes`);
    }
    return await handle.readFile();
  } catch (err) {
    if (err instanceof PermanentError) throw err;
    throw new TransientError(EXTRACT_ERROR_CODES.engineFailed, `input file cannot be read: ${err instanceof Error ? err.message : String(err)}`, err);
  } finally {
    await handle.close();
  }
}
