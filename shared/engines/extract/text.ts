/**
 * Plain text and Markdown: decoding bytes to text, and Markdown to readable, searchable text.
 */
import { PermanentError } from '../../errors/index.js';
import { EXTRACT_ERROR_CODES } from './types.js';

/** The text of `bytes` and what had to be repaired on the way. */
export interface Decoded {
  readonly text: string;
  readonly charset: 'utf-8' | 'utf-16le' | 'utf-16be';
  readonly warnings: string[];
}

/**
 * Invalid UTF-8 is repaired (U+FFFD) with a warning while it stays this rare: a stray byte (a
 * concatenated log, a bad copy) should not lose a document. Above it the file is not UTF-8 at all
 * (Latin-1, Windows-1252/1256...), and guessing a legacy code page would silently store mojibake:
 * that is refused with INPUT_CORRUPT and a message saying to re-save as UTF-8.
 */
export const MAX_INVALID_RATIO = 0.001;
/** ... and never more than this many repaired sequences, whatever the size. */
export const MAX_INVALID_SEQUENCES = 100;

/**
 * Decodes text bytes: UTF-8 (a BOM is dropped), or UTF-16 LE/BE when a BOM says so (transcoded).
 * UTF-16 without a BOM is recognised by its NUL pattern (with a warning). CRLF and CR become LF;
 * NULs and other C0 controls except tab, line feed and form feed are dropped.
 */
export function decodeText(bytes: Buffer): Decoded {
  const warnings: string[] = [];
  let charset: Decoded['charset'] = 'utf-8';
  let body = bytes;
  if (bytes[0] === 0xff && bytes[1] === 0xfe && !(bytes[2] === 0 && bytes[3] === 0)) {
    charset = 'utf-16le';
    body = bytes.subarray(2);
  } else if (bytes[0] === 0xfe && bytes[1] === 0xff) {
    charset = 'utf-16be';
    body = bytes.subarray(2);
  } else if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) {
    body = bytes.subarray(3);
  } else {
    const guess = utf16WithoutBom(bytes);
    if (guess) {
      charset = guess;
      warnings.push(`no byte order mark: decoded as ${guess.toUpperCase()} from the pattern of zero bytes`);
    }
  }
  let text: string;
  if (charset === 'utf-8') {
    text = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true }).decode(body);
    // U+FFFD genuinely encoded in the input is not a repair.
    const repaired = countReplacements(text) - countValidReplacementChars(body);
    if (repaired > 0) {
      const ratio = repaired / Math.max(1, text.length);
      if (repaired > MAX_INVALID_SEQUENCES || ratio > MAX_INVALID_RATIO) {
        throw new PermanentError(
          EXTRACT_ERROR_CODES.corrupt,
          `the text is not valid UTF-8 (${repaired} invalid byte sequence${repaired === 1 ? '' : 's'}): it is probably in a legacy encoding such as Latin-1 or Windows-1252; re-save it as UTF-8`,
        );
      }
      warnings.push(`${repaired} invalid UTF-8 byte sequence${repaired === 1 ? '' : 's'} replaced with U+FFFD`);
    }
  } else {
    const even = body.subarray(0, body.length - (body.length % 2));
    if (even.length !== body.length) warnings.push(`odd number of bytes in ${charset.toUpperCase()} text: the last byte was dropped`);
    text = new TextDecoder(charset, { fatal: false, ignoreBOM: true }).decode(even);
    const repaired = countReplacements(text) - countValidUtf16Replacements(even, charset);
    if (repaired > 0) warnings.push(`${repaired} unpaired UTF-16 surrogate${repaired === 1 ? '' : 's'} replaced with U+FFFD`);
  }
  return { text: cleanControls(text), charset, warnings };
}

function countReplacements(text: string): number {
  let n = 0;
  for (let i = text.indexOf('\uFFFD'); i >= 0; i = text.indexOf('\uFFFD', i + 1)) n++;
  return n;
}

/** U+FFFD characters genuinely encoded in the input (EF BF BD), which are not repairs. */
function countValidReplacementChars(bytes: Buffer): number {
  let n = 0;
  for (let i = bytes.indexOf('\uFFFD', 0, 'utf8'); i >= 0; i = bytes.indexOf('\uFFFD', i + 3, 'utf8')) n++;
  return n;
}

function countValidUtf16Replacements(bytes: Buffer, charset: 'utf-16le' | 'utf-16be'): number {
  const pattern = charset === 'utf-16le' ? Buffer.from([0xfd, 0xff]) : Buffer.from([0xff, 0xfd]);
  let n = 0;
  for (let i = bytes.indexOf(pattern); i >= 0; i = bytes.indexOf(pattern, i + 1)) if (i % 2 === 0) n++;
  return n;
}

/** UTF-16 without a BOM: most even (BE) or odd (LE) bytes are zero, as in mostly-ASCII text. */
function utf16WithoutBom(bytes: Buffer): 'utf-16le' | 'utf-16be' | undefined {
  const sample = bytes.subarray(0, 4096);
  if (sample.length < 4) return undefined;
  let evenZeros = 0;
  let oddZeros = 0;
  for (let i = 0; i + 1 < sample.length; i += 2) {
    if (sample[i] === 0) evenZeros++;
    if (sample[i + 1] === 0) oddZeros++;
  }
  const pairs = Math.floor(sample.length / 2);
  if (oddZeros > 0.4 * pairs && evenZeros < 0.05 * pairs) return 'utf-16le';
  if (evenZeros > 0.4 * pairs && oddZeros < 0.05 * pairs) return 'utf-16be';
  return undefined;
}

/** Line ends to LF; C0 controls other than tab, LF and form feed (and DEL) dropped; BOMs inside removed. */
function cleanControls(text: string): string {
  return text
    .replace(/\r\n?/g, '\n')
    .replace(/^\uFEFF/, '')
    .replace(/[\u0000-\u0008\u000B\u000E-\u001F\u007F]/g, ''); // eslint-disable-line no-control-regex
}

// ---------------------------------------------------------------------------------------------
// Markdown

/**
 * Markdown as readable text for search and display: headings stay as their own lines (without
 * `#`), emphasis and code markers go, links and images keep their text (URLs and reference
 * definitions go), list and quote markers go, table rows become tab-separated lines, fenced and
 * indented code is kept verbatim as text, HTML comments and tags go (their text stays), front
 * matter fences go (its lines stay). Backslash escapes are resolved.
 */
export function markdownToText(markdown: string): string {
  const lines = markdown.replace(/\r\n?/g, '\n').split('\n');
  const out: string[] = [];
  let fence: string | undefined;
  let i = 0;
  // YAML front matter: keep its lines (a title is worth finding), drop the fences.
  if (lines[0]?.trim() === '---') {
    const end = lines.findIndex((l, n) => n > 0 && (l.trim() === '---' || l.trim() === '...'));
    if (end > 0) {
      out.push(...lines.slice(1, end), '');
      i = end + 1;
    }
  }
  let inComment = false;
  for (; i < lines.length; i++) {
    let line = lines[i] ?? '';
    if (fence !== undefined) {
      if (new RegExp(`^\\s{0,3}${fence[0] === '`' ? '`' : '~'}{${fence.length},}\\s*$`).test(line)) fence = undefined;
      else out.push(line);
      continue;
    }
    const open = /^\s{0,3}(`{3,}|~{3,})/.exec(line);
    if (open?.[1]) {
      fence = open[1];
      continue;
    }
    // HTML comments, possibly over several lines.
    if (inComment) {
      const end = line.indexOf('-->');
      if (end < 0) continue;
      line = line.slice(end + 3);
      inComment = false;
    }
    line = line.replace(/<!--[\s\S]*?-->/g, '');
    const start = line.indexOf('<!--');
    if (start >= 0) {
      line = line.slice(0, start);
      inComment = true;
    }
    // Setext underlines and thematic breaks carry no text.
    if (/^\s{0,3}(=+|-+)\s*$/.test(line) && out.length > 0 && (out.at(-1) ?? '').trim() !== '') continue;
    if (/^\s{0,3}([-*_])(\s*\1){2,}\s*$/.test(line)) continue;
    // Reference definitions ([id]: url "title") and table separator rows.
    if (/^\s{0,3}\[[^\]]+\]:\s*\S+(\s+("[^"]*"|'[^']*'|\([^)]*\)))?\s*$/.test(line) && !/^\s{0,3}\[\^/.test(line)) continue;
    if (/^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$/.test(line) && line.includes('-') && (line.includes('|') || /:?-{3,}:?\s+:?-{3,}/.test(line))) continue;
    // Indented code (4 spaces or a tab) after a blank line is kept verbatim.
    if (/^( {4}|\t)/.test(line) && (out.length === 0 || (out.at(-1) ?? '') === '' || /^( {4}|\t)/.test(lines[i - 1] ?? ''))) {
      out.push(line.replace(/^( {4}|\t)/, ''));
      continue;
    }
    out.push(markdownLine(line));
  }
  return out
    .join('\n')
    .replace(/[ \t]+$/gm, '')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

/** One line of Markdown prose, block markers and inline syntax removed. */
function markdownLine(raw: string): string {
  let line = raw;
  // Block prefixes: quotes (nested), ATX headings, list markers, task boxes, footnote definitions.
  line = line.replace(/^\s{0,3}(>\s?)+/, '');
  line = line.replace(/^\s{0,3}#{1,6}(\s+|$)/, '').replace(/\s+#+\s*$/, '');
  line = line.replace(/^\s*([-*+]|\d{1,9}[.)])\s+/, '');
  line = line.replace(/^\[[ xX]\]\s+/, '');
  line = line.replace(/^\s{0,3}\[\^[^\]]+\]:\s*/, '');
  // Tables: pipes between cells become tabs.
  if (/^\s*\|.*\|\s*$/.test(line)) {
    line = line
      .trim()
      .replace(/^\||\|$/g, '')
      .split(/(?<!\\)\|/)
      .map((c) => c.trim())
      .join('\t');
  }
  return markdownInline(line);
}

/** Inline syntax: code spans, images, links, autolinks, emphasis, tags, escapes. */
export function markdownInline(text: string): string {
  const codes: string[] = [];
  // Code spans first: their content is literal. Kept in a side table so later rules leave it alone.
  let s = text.replace(/(`+)(.+?)\1/g, (_m, _ticks: string, code: string) => {
    codes.push(code.trim());
    return `\u0000${codes.length - 1}\u0000`;
  });
  s = s.replace(/\\([\\`*_{}[\]()#+\-.!|<>~])/g, (_m, ch: string) => `\u0001${ch.charCodeAt(0)}\u0001`);
  s = s.replace(/!\[([^\]]*)\]\([^)]*\)/g, '$1'); // images: alt text
  s = s.replace(/!\[([^\]]*)\]\[[^\]]*\]/g, '$1');
  s = s.replace(/\[\^[^\]]+\]/g, ''); // footnote references
  s = s.replace(/\[([^\]]+)\]\((?:[^()\s]|\([^()]*\))*(?:\s+("[^"]*"|'[^']*'|\([^)]*\)))?\s*\)/g, '$1'); // inline links
  s = s.replace(/\[([^\]]+)\]\[[^\]]*\]/g, '$1'); // reference links
  s = s.replace(/<((?:https?|ftp|mailto):[^>\s]+)>/gi, '$1'); // autolinks: the URL is the visible text
  s = s.replace(/<([^>\s@]+@[^>\s@]+\.[^>\s@]+)>/g, '$1');
  s = s.replace(/<\/?[A-Za-z][A-Za-z0-9-]*(\s[^<>]*)?\/?>/g, (tag) => (/^<br\b/i.test(tag) ? ' ' : '')); // inline HTML tags
  // Emphasis: ** __ * _ ~~ around non-space text; _ only at word boundaries (snake_case stays).
  for (let round = 0; round < 3; round++) {
    s = s.replace(/(\*\*|__)(?=\S)(.+?)(?<=\S)\1/g, '$2');
    s = s.replace(/~~(?=\S)(.+?)(?<=\S)~~/g, '$1');
    s = s.replace(/\*(?=[^\s*])(.+?)(?<=[^\s*])\*/g, '$1');
    s = s.replace(/(?<![\p{L}\p{N}_])_(?=[^\s_])(.+?)(?<=[^\s_])_(?![\p{L}\p{N}_])/gu, '$1');
  }
  s = s.replace(/\u0001(\d+)\u0001/g, (_m, code: string) => String.fromCharCode(Number(code))); // eslint-disable-line no-control-regex
  return s.replace(/\u0000(\d+)\u0000/g, (_m, n: string) => codes[Number(n)] ?? ''); // eslint-disable-line no-control-regex
}
