/**
 * DOCX to text with mammoth. `extractRawText` drops footnotes and endnotes, so the document is
 * converted to HTML (which carries them as a list at the end) and read by the HTML extractor:
 * paragraphs, list items and table rows become lines, notes follow the body, the `↑` back-links go.
 */
import mammoth from 'mammoth';

import { PermanentError } from '../../errors/index.js';
import { zipEntries } from '../../content/sniff.js';
import { htmlToText } from './html.js';
import { EXTRACT_ERROR_CODES } from './types.js';

export interface DocxText {
  readonly text: string;
  readonly warnings: string[];
}

/**
 * The text of a DOCX held in `bytes` (the whole file). Before mammoth unzips anything, the central
 * directory is checked: the parts must name `word/document.xml`, and their declared uncompressed
 * sizes must stay under `maxBytes` (a zip bomb would otherwise be inflated in memory).
 * Failures: PermanentError INPUT_CORRUPT (not a ZIP, no document part, damaged XML) and
 * INPUT_TOO_LARGE.
 */
export async function docxToText(bytes: Buffer, maxBytes: number): Promise<DocxText> {
  const entries = zipEntries(bytes);
  if (entries.length === 0) throw new PermanentError(EXTRACT_ERROR_CODES.corrupt, 'the DOCX is not a readable ZIP archive (no central directory or local headers)');
  if (!entries.some((e) => e.name === 'word/document.xml')) {
    throw new PermanentError(EXTRACT_ERROR_CODES.corrupt, 'the ZIP archive has no word/document.xml: it is not a Word document');
  }
  const inflated = entries.reduce((sum, e) => sum + e.size, 0);
  if (inflated > maxBytes) {
    throw new PermanentError(EXTRACT_ERROR_CODES.tooLarge, `the DOCX unpacks to ${inflated} bytes; the limit is ${maxBytes}`);
  }
  let html: string;
  let messages: { type: string; message: string }[];
  try {
    const converted = await mammoth.convertToHtml({ buffer: bytes }, { ignoreEmptyParagraphs: true, externalFileAccess: false });
    html = converted.value;
    messages = converted.messages;
  } catch (err) {
    // mammoth works on the bytes we hand it: any failure is the document's.
    throw new PermanentError(EXTRACT_ERROR_CODES.corrupt, `the DOCX cannot be read: ${err instanceof Error ? err.message : String(err)}`, err);
  }
  const { text } = htmlToText(html, { dropLinks: /^#(footnote|endnote)-ref-/ });
  const warnings = messages
    .filter((m) => m.type === 'error' || !/^Unrecognised (paragraph|run) style/.test(m.message))
    .map((m) => `mammoth ${m.type}: ${m.message}`)
    .slice(0, 20);
  return { text, warnings };
}
