/**
 * Sentence splitting for every language the platform serves (English, Indonesian, German, French,
 * Arabic, and anything else `Intl.Segmenter` knows), returning each sentence with its offsets into
 * the original text. The text of a sentence is always `text.slice(start, end)`: nothing is
 * rewritten, so a caller can quote, highlight or link back to the source.
 *
 * How it works, and why:
 * - Lines first. Extracted text (pdftotext, OCR, transcripts) wraps lines in the middle of
 *   sentences, while `Intl.Segmenter` ends a sentence at every line break. So the text is first cut
 *   into blocks at the breaks that really end something: blank lines (paragraphs; but not when the
 *   text visibly runs on, as across OCR columns), form feeds (pages, with the same exception), the
 *   start of a list item (bullet or enumerator), an indented first line, and a short line followed
 *   by a line that starts like a sentence (headings, the last line of a paragraph). Other line
 *   breaks are read as spaces. A block of three or more lines without any sentence punctuation (a
 *   transcript, a form, a table) has its lines for sentences.
 * - `Intl.Segmenter` (ICU, UAX #29) then finds the sentences. It knows the terminal punctuation of
 *   many scripts (`.` `!` `?`, Arabic `؟` and `۔`, CJK `。`), closing quotes and brackets after a
 *   terminator, decimals (3.14), references (2:255, §1.2) and dotted abbreviations followed by
 *   lower case (U.S. officials). Measured on Node 20 (ICU 78.2) it also ends a sentence after every
 *   `Mr.`, `Dr.`, `M.`, `e.g.` before a capital, after `ca.` and `pp.` before a digit, after the
 *   German ordinal in `am 3. Oktober`, before `and left` in `"Why?" and left`, and inside
 *   `« Bonjour ! »`; those are repaired here (abbreviation lists for the five languages, initials,
 *   spaced `z. B.`, ordinals, a lower-case continuation never starts a sentence, closing marks stay
 *   with their sentence). It does not end a sentence at `…` followed by a capital: that is added.
 * - ICU reads a working copy of the text, of the same length, in which the soft line breaks are
 *   spaces and every hard break is a line feed (after which ICU always breaks), in windows of a few
 *   thousand characters: V8's sentence iterator slows down per segment as its input grows (one
 *   call on the 144,941 characters pdftotext gives for the 117-page corpus PDF took 4.2 s).
 *   Windowed, the whole split of that text takes 50–100 ms.
 * - Runs of text without punctuation (OCR output, transcripts) would otherwise come back as one
 *   huge "sentence": a sentence longer than `maxChars` is cut at its line breaks, then at clause
 *   punctuation (; : , and the Arabic ؛ ،), then between words.
 *
 * Offsets are UTF-16 code unit indices (JavaScript string indices), `end` exclusive; sentences
 * never start or end with white space and never overlap, and they come in text order.
 */

/** One sentence: `text === source.slice(start, end)`. */
export interface Sentence {
  readonly text: string;
  readonly start: number;
  readonly end: number;
}

export interface SentenceOptions {
  /**
   * Language of the text, ISO 639-1/639-3 or BCP-47 (`en`, `deu`, `ar`). A hint for the segmenter
   * only: the abbreviation rules of all supported languages apply to every text. `und` or absent:
   * no hint.
   */
  readonly language?: string | null;
  /** Sentences longer than this many characters are cut (default 1000, at least 40). */
  readonly maxChars?: number;
}

export const DEFAULT_MAX_SENTENCE_CHARS = 1000;
const MIN_MAX_CHARS = 40;
/** Characters handed to Intl.Segmenter at once (see the module comment). */
const SEGMENT_WINDOW = 3000;

// ---------------------------------------------------------------------------------------------
// Abbreviations. Lower-cased, without the final period; internal periods kept (`z.b`, `e.g`).

/** Titles and name prefixes: a sentence never ends with one. Matched case-sensitively. */
const TITLES = new Set([
  // English
  'Mr', 'Mrs', 'Ms', 'Mx', 'Dr', 'Drs', 'Prof', 'Sr', 'Sra', 'Srta', 'St', 'Mt', 'Gen', 'Col', 'Capt', 'Lt', 'Sgt', 'Rev', 'Hon', 'Gov', 'Sen', 'Rep', 'Pres', 'Messrs',
  // German
  'Hr', 'Hrn', 'Fr', 'Frl', 'Dipl', 'Ing', 'Mag',
  // French
  'M', 'MM', 'Mme', 'Mmes', 'Mlle', 'Mlles', 'Mgr', 'Pr', 'Ste',
  // Indonesian
  'Bpk', 'Sdr', 'Sdri', 'Yth', 'Dra', 'Ir', 'Hj', 'KH', 'dr', 'drg',
]);

/** Abbreviations that live inside sentences (never at their end). Case-insensitive. */
const INLINE = new Set([
  'e.g', 'i.e', 'cf', 'vs', 'viz', 'approx', 'ca', 'resp', 'incl', 'esp',
  'z.b', 'd.h', 'u.u', 'z.t', 'i.d.r', 'o.ä', 'u.ä', 's.o', 's.u', 'v.a', 'm.e', 'vgl', 'bzw', 'bspw', 'sog', 'ggf', 'evtl', 'inkl', 'zzgl', 'allg',
  'env', 'c.-à-d', 'p.ex',
  'spt', 'yg', 'dgn', 'sbg', 'utk', 'kpd', 'a.n', 'u.p',
]);

/** Abbreviations that precede a number (No. 5, pp. 12, S. 3, Jan. 5): joined when a digit follows. */
const BEFORE_NUMBER = new Set([
  'no', 'nos', 'nr', 'vol', 'vols', 'pp', 'p', 'fig', 'figs', 'eq', 'eqs', 'art', 'arts', 'abs', 's', 'hlm', 'tgl', 'ch', 'chap', 'sec', 'ed', 'op', 'ref', 'tab', 'bd', 'jg', 'kap', 'anm', 'par', 'para', 'ziff', 'bl', 'ps',
  // months (English, German, French, Indonesian)
  'jan', 'feb', 'mar', 'apr', 'jun', 'jul', 'aug', 'sep', 'sept', 'oct', 'nov', 'dec', 'jän', 'febr', 'okt', 'dez', 'janv', 'févr', 'avr', 'juil', 'déc', 'agu', 'agt', 'des', 'mei',
]);

/** Month names after which a preceding `3.` is an ordinal date (German `am 3. Oktober`), lower-case. */
const MONTHS = new Set([
  'januar', 'jänner', 'februar', 'märz', 'april', 'mai', 'juni', 'juli', 'august', 'september', 'oktober', 'november', 'dezember',
  'janvier', 'février', 'mars', 'avril', 'juin', 'juillet', 'août', 'septembre', 'octobre', 'novembre', 'décembre',
  'jan', 'feb', 'febr', 'mär', 'apr', 'jun', 'jul', 'aug', 'sep', 'sept', 'okt', 'nov', 'dez',
]);

/** Words before a German ordinal number (`im 19. Jahrhundert`, `der 2. Weltkrieg`). */
const ORDINAL_CONTEXT = new Set(['am', 'im', 'vom', 'zum', 'zur', 'bis', 'ab', 'seit', 'der', 'die', 'das', 'den', 'dem', 'des', 'jeden', 'jedem', 'le', 'la', 'les', 'du', 'au']);

// ---------------------------------------------------------------------------------------------
// Character classes

/** Opening quotes and brackets that may precede a sentence's first letter. */
const OPENERS = '"\'“‘„‚«‹([{¿¡';
/** Closing quotes and brackets that belong to the sentence before them. */
const CLOSERS = '”’»›)]}';
/** Quotes that open or close: closing only when white space (or the end) follows. */
const AMBIGUOUS_QUOTES = '"\'';
/** A list item's marker at the start of a line: bullets, `1.` `2)` `a)` `(iv)` `-` `–`. */
const LIST_MARKER = /^[ \t]*(?:[•◦▪▫‣⁃∙·●○■□►▸▹➢➤✓✔☐☑*+\-–—](?=\s)|\(?(?:\d{1,3}|[a-z]|[ivx]{1,4})[.)](?=\s)|\((?:\d{1,3}|[a-zA-Z]|[ivxIVX]{1,4})\)(?=\s)|[A-Z]\)(?=\s))/u;
const NUMERIC_MARKER = /^[ \t]*\(?\d{1,3}[.)]/u;
/** Only an enumerator (`2.`, `b)`) left as a segment of its own. */
const ENUMERATOR_ONLY = /^\(?(?:\d{1,3}(?:\.\d{1,3})*|[a-zA-Z]|[ivxIVX]{1,4})[.)]$/u;
/** Line separators: CRLF, LF, CR, VT, FF, NEL, LS, PS. */
const LINE_BREAK = /\r\n|[\n\r\v\f\u0085\u2028\u2029]/gu;
const HARD_CHARS = /[\u2029]/u;
/** Sentence-ending punctuation, for telling punctuated text from unpunctuated. */
const TERMINAL = /[.!?؟۔。…‼⁇⁈⁉]/u;
const WS = /\s/u;
const EDGE = /[\s\p{Cc}]/u;

// ---------------------------------------------------------------------------------------------

interface Line {
  readonly start: number;
  /** Exclusive, before the line separator. */
  readonly end: number;
}

interface Range {
  start: number;
  end: number;
}

/**
 * Splits `text` into sentences (see the module comment). Empty or white-space-only text gives `[]`.
 * Deterministic; linear in the length of the text.
 */
export function splitSentences(text: string, options: SentenceOptions = {}): Sentence[] {
  if (!/\S/u.test(text)) return [];
  const maxChars = Math.max(MIN_MAX_CHARS, Math.floor(options.maxChars ?? DEFAULT_MAX_SENTENCE_CHARS));
  // A working copy of the same length in which soft line breaks are spaces (so ICU reads a wrapped
  // sentence as one) and every hard break is a line feed (which ICU always breaks after).
  // Offsets into it are offsets into `text`.
  const { work, blocks } = prepare(text);
  const segments = segment(segmenterFor(options.language), work, blocks);
  const out: Sentence[] = [];
  for (const ranges of segments) {
    for (const r of repair(work, ranges)) {
      for (const piece of cutLong(text, r, maxChars)) {
        const trimmed = trimRange(text, piece);
        if (trimmed) out.push({ text: text.slice(trimmed.start, trimmed.end), start: trimmed.start, end: trimmed.end });
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Lines and blocks

function lines(text: string): { lines: Line[]; separators: string[] } {
  const result: Line[] = [];
  const separators: string[] = [];
  let at = 0;
  for (const m of text.matchAll(LINE_BREAK)) {
    result.push({ start: at, end: m.index });
    separators.push(m[0]);
    at = m.index + m[0].length;
  }
  result.push({ start: at, end: text.length });
  return { lines: result, separators };
}

interface Block extends Range {
  readonly lines: Line[];
  /** White space between its lines, read as spaces unless the block is split into its lines. */
  readonly soft: Range[];
}

/** The working copy and the blocks (ranges between hard breaks) to segment, in text order. */
function prepare(text: string): { work: string; blocks: Range[] } {
  const { lines: all, separators } = lines(text);
  const blocks: Block[] = [];
  let block: Block | undefined;
  let previous: Line | undefined;
  // What separated the previous non-empty line from the current one.
  let gapBreaks = 0;
  let gapPage = false;
  let gapHard = false;
  // Trimmed lengths of the previous line and of the line before it in the same block.
  let previousLength = 0;
  let beforePrevious = 0;
  for (let i = 0; i < all.length; i++) {
    const line = all[i] as Line;
    const sep = separators[i];
    const content = text.slice(line.start, line.end);
    if (!/\S/u.test(content)) {
      if (sep !== undefined) {
        gapBreaks++;
        if (sep === '\f') gapPage = true;
        if (HARD_CHARS.test(sep)) gapHard = true;
      }
      continue;
    }
    const length = content.trim().length;
    if (previous && block) {
      let hard: boolean;
      if (gapHard) hard = true;
      // A page or column break (pdftotext ends every page with `\n\f`; OCR leaves blank lines
      // between columns) is soft only when the text visibly runs on.
      else if (gapPage || gapBreaks >= 2) hard = !runsOn(text, previous, line);
      else hard = endsLine(text, previous, line, Math.max(beforePrevious, length));
      if (hard) {
        blocks.push(block);
        block = undefined;
      } else {
        block.soft.push({ start: previous.end, end: line.start });
        block.end = line.end;
        block.lines.push(line);
      }
    }
    if (block) beforePrevious = previousLength;
    else {
      block = { start: line.start, end: line.end, lines: [line], soft: [] };
      beforePrevious = 0;
    }
    previous = line;
    previousLength = length;
    gapBreaks = sep === undefined ? 0 : 1;
    gapPage = sep === '\f';
    gapHard = sep !== undefined && HARD_CHARS.test(sep);
  }
  if (block) blocks.push(block);
  // A block of three lines or more without any sentence punctuation (a transcript, OCR of a form
  // or a table) has lines for sentences: one line each.
  const out: Range[] = [];
  const soft: Range[] = [];
  for (const b of blocks) {
    if (b.lines.length > 2 && !TERMINAL.test(text.slice(b.start, b.end))) {
      for (const l of b.lines) out.push({ start: l.start, end: l.end });
    } else {
      out.push({ start: b.start, end: b.end });
      soft.push(...b.soft);
    }
  }
  const pieces: string[] = [];
  let at = 0;
  for (const r of soft) {
    pieces.push(text.slice(at, r.start), ' '.repeat(r.end - r.start));
    at = r.end;
  }
  pieces.push(text.slice(at));
  // Form feeds and vertical tabs are spaces to ICU; the line breaks left are all hard.
  return { work: pieces.join('').replace(/[\f\v]/gu, '\n'), blocks: out };
}

/**
 * Whether a single line break after `a` ends what `a` was part of. `width` is the longer of the
 * line before `a` (in the same block) and `b`: the local line width, as columns differ.
 */
function endsLine(text: string, a: Line, b: Line, width: number): boolean {
  const aText = text.slice(a.start, a.end);
  const bText = text.slice(b.start, b.end);
  if (LIST_MARKER.test(bText)) {
    // `am\n12. Mai` is a wrapped date, not a numbered item.
    if (NUMERIC_MARKER.test(bText) && ORDINAL_CONTEXT.has(lastWord(aText).toLowerCase())) return false;
    return true;
  }
  const aTrim = aText.trim();
  const bTrim = bText.trimStart();
  const bFirst = firstLetterClass(bTrim);
  if (bFirst === 'lower') return false;
  // An indented line after a less indented one starts a paragraph (typewriter and OCR layout).
  const indentA = aText.length - aText.trimStart().length;
  const indentB = bText.length - bTrim.length;
  if (indentB >= indentA + 2 && bFirst !== 'none') return true;
  // A short line followed by a sentence-like start: a heading, or the last line of a paragraph.
  // Lines that end mid-phrase (hyphen, comma, open bracket) continue.
  if (/[-‐‑,;:([{«“„‚]$/u.test(aTrim)) return false;
  return aTrim.length < 0.6 * width && bFirst !== 'none';
}

/**
 * Text running on across a page or column break: the first part ends mid-phrase (no terminal
 * punctuation, no colon) and the next starts in lower case, not as a list item.
 */
function runsOn(text: string, a: Line, b: Line): boolean {
  const aTrim = text.slice(a.start, a.end).trim();
  const bText = text.slice(b.start, b.end);
  return !/[.!?؟۔。…:]["'”’»)\]]*$/u.test(aTrim) && !LIST_MARKER.test(bText) && firstLetterClass(bText.trimStart()) === 'lower';
}

// ---------------------------------------------------------------------------------------------
// Segmentation

const segmenters = new Map<string, Intl.Segmenter>();

function segmenterFor(language: string | null | undefined): Intl.Segmenter {
  const key = language && language !== 'und' ? language : '';
  let s = segmenters.get(key);
  if (!s) {
    try {
      s = new Intl.Segmenter(key || undefined, { granularity: 'sentence' });
    } catch {
      s = new Intl.Segmenter(undefined, { granularity: 'sentence' });
    }
    segmenters.set(key, s);
  }
  return s;
}

/**
 * ICU's segments of the working copy, window by window, grouped by block (trimmed; a segment never
 * crosses a block boundary, as every boundary is a line feed).
 */
function segment(segmenter: Intl.Segmenter, work: string, blocks: readonly Range[]): Range[][] {
  const out: Range[][] = blocks.map(() => []);
  let b = 0;
  const place = (r: Range): void => {
    let { start } = r;
    while (start < r.end) {
      while (b < blocks.length && (blocks[b] as Range).end <= start) b++;
      const block = blocks[b];
      if (!block) return;
      const from = Math.max(start, block.start);
      const to = Math.min(r.end, block.end);
      if (from >= r.end) return;
      const trimmed = trimRange(work, { start: from, end: to });
      if (trimmed) (out[b] as Range[]).push(trimmed);
      start = to;
    }
  };
  const first = blocks[0]?.start ?? 0;
  const last = blocks.at(-1)?.end ?? 0;
  let pos = first;
  while (pos < last) {
    const windowEnd = Math.min(last, pos + SEGMENT_WINDOW);
    const segments: Range[] = [];
    for (const s of segmenter.segment(work.slice(pos, windowEnd))) {
      segments.push({ start: pos + s.index, end: pos + s.index + s.segment.length });
    }
    if (windowEnd === last) {
      segments.forEach(place);
      break;
    }
    // The window's last segment may continue past the window: segment it again with what follows.
    if (segments.length > 1) {
      const tail = segments.pop() as Range;
      segments.forEach(place);
      pos = tail.start;
    } else {
      // One sentence longer than the window: cut it between words (cutLong splits it further).
      const cut = lastSpace(work, pos + 1, windowEnd) ?? windowEnd;
      place({ start: pos, end: cut });
      pos = cut;
    }
  }
  return out.filter((ranges) => ranges.length > 0);
}

/** Fixes ICU's boundaries (see the module comment). Input and output are in text order. */
function repair(work: string, segments: readonly Range[]): Range[] {
  // 1. Split after `…` followed by a capital (ICU does for `...`, not for U+2026).
  const split: Range[] = [];
  for (const s of segments) {
    let from = s.start;
    const piece = work.slice(s.start, s.end);
    for (const m of piece.matchAll(/…[”’"'»)\]]*\s+(?=[\p{Lu}\p{Lt}])/gu)) {
      const at = s.start + m.index + m[0].length;
      if (at > from && at < s.end) {
        split.push({ start: from, end: at });
        from = at;
      }
    }
    split.push({ start: from, end: s.end });
  }
  // 2. Merge where the boundary is not one; move closing marks back to their sentence.
  const out: Range[] = [];
  for (const s of split) {
    const prev = out.at(-1);
    if (!prev) {
      out.push({ ...s });
      continue;
    }
    // Closing quotes/brackets at the start of a segment belong to the previous one.
    let start = s.start;
    while (start < s.end && WS.test(work[start] ?? '')) start++;
    let moved = start;
    while (moved < s.end && isCloser(work, moved, s.end)) moved++;
    if (moved > start) {
      prev.end = moved;
      if (!/\S/u.test(work.slice(moved, s.end))) continue;
    }
    const rest = { start: moved, end: s.end };
    if (joins(work, prev, rest)) prev.end = s.end;
    else out.push(rest);
  }
  return out;
}

/** Whether the boundary between `a` and `b` is false. */
function joins(work: string, a: Range, b: Range): boolean {
  const aText = work.slice(a.start, a.end).trimEnd();
  const bText = work.slice(b.start, b.end).trimStart();
  if (!aText || !bText) return true;
  // An enumerator alone (`2.`) belongs to the item after it.
  if (ENUMERATOR_ONLY.test(aText)) return true;
  const next = firstLetterClass(bText);
  // A sentence never starts with a lower-case letter (`"Why?" and left`, `« Bonjour ! » puis`).
  if (next === 'lower') return true;
  if (!aText.endsWith('.')) return false;
  if (/\.\s*\.\s*\.$/u.test(aText)) return false;
  const tail = lastWord(aText.slice(0, -1));
  const word = stripOpeners(tail);
  if (!word) return false;
  const lower = word.toLowerCase();
  if (TITLES.has(word)) return true;
  if (INLINE.has(lower)) return true;
  // Initials (J. R. R. Tolkien) and dotted abbreviations (U.S., z.B.) before a capital are
  // names and phrases, not sentence ends, when a single letter: `J.`. Multi-letter dotted forms
  // fall through to the generic rules (they end sentences: `in the U.S. Then`).
  if (/^\p{Lu}$/u.test(word)) {
    // ... unless a formula precedes it (`für alle x ∈ X. Sei`): math ends sentences with letters.
    const before = lastWord(aText.slice(0, aText.length - 1 - tail.length));
    if (before === '' || /\p{L}/u.test(before)) return true;
  }
  // Spaced abbreviations: `z. B.`, `d. h.`, `u. a.`, `i. e.`, before or after their second letter.
  if (/^\p{Ll}$/u.test(word) && /^\p{L}\.(?:\s|$)/u.test(bText)) return true;
  if (/(?:^|\s)\p{Ll}\.\s?\p{L}\.$/u.test(aText)) return true;
  if (next === 'digit' && (BEFORE_NUMBER.has(lower) || /^(?:\p{L}\.)+\p{L}$/u.test(word))) return true;
  // German/French ordinal dates and centuries: `am 3. Oktober`, `im 19. Jahrhundert`.
  if (/^\d{1,2}$/u.test(word)) {
    const nextWord = stripOpeners(firstWord(bText)).replace(/[.,;:]$/u, '').toLowerCase();
    if (MONTHS.has(nextWord)) return true;
    const before = lastWord(aText.slice(0, aText.length - 1 - tail.length)).toLowerCase();
    if (ORDINAL_CONTEXT.has(before)) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Long sentences

/** Cuts `r` into pieces of at most `max` characters (see the module comment). */
function cutLong(text: string, r: Range, max: number): Range[] {
  const trimmed = trimRange(text, r);
  if (!trimmed) return [];
  if (trimmed.end - trimmed.start <= max) return [trimmed];
  const out: Range[] = [];
  let pos = trimmed.start;
  while (trimmed.end - pos > max) {
    const limit = pos + max;
    const floor = pos + Math.floor(max / 2);
    const cut =
      lastMatch(text, floor, limit, /[\n\r\f\u2028]/u, 1) ??
      lastMatch(text, floor, limit, /[;:؛]\s/u, 2) ??
      lastMatch(text, floor, limit, /[,،、]\s/u, 2) ??
      lastSpace(text, floor, limit) ??
      lastSpace(text, pos + 1, limit) ??
      safeCut(text, limit);
    out.push({ start: pos, end: cut });
    pos = cut;
    while (pos < trimmed.end && WS.test(text[pos] ?? '')) pos++;
  }
  if (pos < trimmed.end) out.push({ start: pos, end: trimmed.end });
  return out;
}

/**
 * Where to cut after the last match of `re` starting in [from, to): before a matched line break
 * (`width` 1), after the punctuation of a matched `punctuation + space` (`width` 2).
 */
function lastMatch(text: string, from: number, to: number, re: RegExp, width: 1 | 2): number | undefined {
  for (let i = to - 1; i >= from; i--) {
    if (re.test(text.slice(i, i + width))) return width === 2 ? i + 1 : i;
  }
  return undefined;
}

function lastSpace(text: string, from: number, to: number): number | undefined {
  for (let i = to - 1; i >= from; i--) if (WS.test(text[i] ?? '')) return i;
  return undefined;
}

/** `at`, moved back off the middle of a surrogate pair. */
function safeCut(text: string, at: number): number {
  const code = text.charCodeAt(at);
  return code >= 0xdc00 && code <= 0xdfff ? at - 1 : at;
}

// ---------------------------------------------------------------------------------------------
// Small helpers

/** `r` without white space and control characters (PDF extraction leaves some) at its ends. */
function trimRange(text: string, r: Range): Range | undefined {
  let { start, end } = r;
  while (start < end && EDGE.test(text[start] ?? '')) start++;
  while (end > start && EDGE.test(text[end - 1] ?? '')) end--;
  return end > start ? { start, end } : undefined;
}

type LetterClass = 'lower' | 'upper' | 'digit' | 'other' | 'none';

/** The class of the first letter or digit of `s`, after opening quotes and brackets. */
function firstLetterClass(s: string): LetterClass {
  for (const ch of s) {
    if (OPENERS.includes(ch) || WS.test(ch)) continue;
    if (/\p{Ll}/u.test(ch)) return 'lower';
    if (/[\p{Lu}\p{Lt}]/u.test(ch)) return 'upper';
    if (/\p{N}/u.test(ch)) return 'digit';
    if (/\p{L}/u.test(ch)) return 'other';
    return 'none';
  }
  return 'none';
}

function lastWord(s: string): string {
  let end = s.length;
  while (end > 0 && WS.test(s[end - 1] ?? '')) end--;
  let start = end;
  while (start > 0 && !WS.test(s[start - 1] ?? '')) start--;
  return s.slice(start, end);
}

function firstWord(s: string): string {
  const m = /^\s*(\S+)/u.exec(s);
  return m?.[1] ?? '';
}

/** Whether `work[at]` closes the sentence before it (see {@link CLOSERS}). */
function isCloser(work: string, at: number, end: number): boolean {
  const ch = work[at] ?? '';
  if (CLOSERS.includes(ch)) return true;
  return AMBIGUOUS_QUOTES.includes(ch) && (at + 1 >= end || WS.test(work[at + 1] ?? ''));
}

function stripOpeners(s: string): string {
  let i = 0;
  while (i < s.length && OPENERS.includes(s[i] ?? '')) i++;
  return s.slice(i);
}
