/**
 * Chunking of extracted document text for embeddings and retrieval. Chunks are *views* of the
 * original text — `text.slice(chunk.charStart, chunk.charEnd) === chunk.text` always — so a hit can
 * be shown, highlighted and cited (page numbers) without keeping a second copy of the document.
 *
 * Structure first, size second:
 * 1. Pages: `\f` separates pages (page N is the N-th `\f`-separated part, 1-based). A chunk stays on
 *    one page unless a paragraph runs across the page break (see {@link isContinuation}); then the
 *    chunk holding it has `pageStart < pageEnd`.
 * 2. Paragraphs (separated by blank lines) and headings (Markdown `#` lines; numbered section lines
 *    such as `2.1 Methods`; short Title Case or ALL-CAPS lines that open a paragraph and are followed
 *    by text). A heading starts a new section; chunks never mix sections, except that a chunk
 *    smaller than `minTokens` joins a neighbour on the same page when the two fit in `maxTokens`.
 * 3. Paragraphs are packed greedily into chunks of at most `maxTokens`, breaking at the strongest
 *    boundary (paragraph > sentence > line > word > character) in the second half of a full chunk.
 *    A paragraph larger than the budget is split at sentence ends (`.` `!` `?` `؟` `…` followed by
 *    white space, `。！？`), then lines, then words, then characters (never inside a surrogate pair,
 *    and inside a cluster of combining marks only when that cluster alone exceeds the budget).
 * 4. Consecutive chunks of the same section and page carry an overlap: the next chunk starts up to
 *    `overlapTokens` back in the previous one, at a sentence start when one is close, else at a word
 *    start. Overlap counts toward `maxTokens`.
 *
 * Deterministic: the output depends on the text and the options only.
 */

/** Size limits, in estimated tokens ({@link estimateTokens}). */
export interface ChunkOptions {
  /** Upper bound of every chunk's `tokenEstimate`. Integer ≥ 4. */
  maxTokens: number;
  /** Target overlap between consecutive chunks of a section; at most `maxTokens / 2`. 0 disables it. */
  overlapTokens: number;
  /**
   * Chunks estimated below this join a neighbour on the same page (across a section boundary)
   * when the result still fits `maxTokens`. Default `floor(maxTokens / 8)`; 0 disables merging.
   */
  minTokens?: number;
}

/** A contiguous span of the document text. */
export interface Chunk {
  /** 0-based position in the document's chunk list. */
  index: number;
  /** Exactly `documentText.slice(charStart, charEnd)`. */
  text: string;
  /** 1-based page of `charStart`. */
  pageStart: number;
  /** 1-based page of the last character; greater than `pageStart` only when a paragraph crosses a page break. */
  pageEnd: number;
  /** UTF-16 offset of the first character in the document text. */
  charStart: number;
  /** UTF-16 offset after the last character (exclusive). */
  charEnd: number;
  /** {@link estimateTokens} of `text`; never above `maxTokens`. */
  tokenEstimate: number;
  /** Heading path in effect where the chunk starts, outermost first; absent when the text has none. */
  headings?: string[];
}

// ---------------------------------------------------------------------------------------------
// Token estimate.
// ---------------------------------------------------------------------------------------------

/** Character classes of the estimator. */
const enum Cls {
  Unknown = 0,
  Space = 1,
  Digit = 2,
  Mark = 3,
  Cjk = 4,
  Latin = 5,
  Rtl = 6,
  Letter = 7,
  Other = 8,
}

const CLASS_TESTS: readonly [RegExp, Cls][] = [
  [/^\s$/u, Cls.Space],
  [/^\p{N}$/u, Cls.Digit],
  [/^\p{M}$/u, Cls.Mark],
  [/^[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}\p{Script=Bopomofo}]$/u, Cls.Cjk],
  [/^(?=\p{L})\p{Script=Latin}$/u, Cls.Latin],
  [/^(?=\p{L})[\p{Script=Arabic}\p{Script=Hebrew}\p{Script=Syriac}\p{Script=Thaana}]$/u, Cls.Rtl],
  [/^\p{L}$/u, Cls.Letter],
];

/** Class of each BMP code unit, filled on first sight; astral code points in a map. */
const BMP_CLASS = new Uint8Array(0x10000);
const ASTRAL_CLASS = new Map<number, Cls>();

function computeClass(cp: number): Cls {
  const ch = String.fromCodePoint(cp);
  for (const [re, cls] of CLASS_TESTS) if (re.test(ch)) return cls;
  return Cls.Other;
}

/** ASCII classes, precomputed (the common case). */
const ASCII_CLASS: readonly Cls[] = Array.from({ length: 0x80 }, (_, c) => computeClass(c));

function classOf(cp: number): Cls {
  if (cp < 0x10000) {
    let c = BMP_CLASS[cp] as Cls;
    if (c === Cls.Unknown) {
      c = computeClass(cp);
      BMP_CLASS[cp] = c;
    }
    return c;
  }
  let c = ASTRAL_CLASS.get(cp);
  if (c === undefined) {
    c = computeClass(cp);
    ASTRAL_CLASS.set(cp, c);
  }
  return c;
}

function runWeight(cls: Cls, len: number): number {
  switch (cls) {
    case Cls.Digit:
    case Cls.Cjk:
      return len;
    case Cls.Latin:
      return Math.max(4 / 3, len / 4);
    case Cls.Rtl:
    case Cls.Letter:
      return Math.max(1, len / 2);
    default:
      return 0;
  }
}

/**
 * Fractional token weight of `s.slice(start, end)`, computed over runs: white space; digits; Han,
 * kana, Hangul or Bopomofo characters; a Latin letter run; a right-to-left letter run (Arabic,
 * Hebrew, Syriac, Thaana); a run of letters of any other script. Combining marks extend the letter
 * run they follow. Heuristic, tuned to overestimate subword tokenizers (SentencePiece as in
 * Gemini/Vertex embeddings and USE, and GPT-style BPE):
 * - Latin letter run: max(4/3, length/4) — one word is ~1.33 tokens ("1 token per 0.75 words"),
 *   long words cost about one token per 4 letters;
 * - Arabic/Hebrew letter run (marks included, so vocalized text costs more): max(1, length/2);
 * - Han, kana, Hangul: 1 per character;
 * - other scripts' letter runs (Cyrillic, Greek, Devanagari, Thai, …): max(1, length/2);
 * - digits: 1 per digit (SentencePiece models split numbers into digits);
 * - punctuation and symbols: 1 each; white space: 0.
 * Lengths are in UTF-16 units. Each rule is subadditive, so a span never weighs more than the sum
 * of the pieces it is cut into: this is what lets the chunker guarantee `tokenEstimate ≤ maxTokens`
 * without re-measuring.
 */
function tokenWeight(s: string, start = 0, end = s.length): number {
  const meter = newMeter();
  meterAdd(meter, s, start, end);
  return meterTotal(meter);
}

/** Running state of {@link tokenWeight}: finished runs' weight and the open run. */
interface Meter {
  w: number;
  run: Cls;
  len: number;
}

function newMeter(): Meter {
  return { w: 0, run: Cls.Space, len: 0 };
}

/** Code point at `i` (a lone surrogate counts as itself) and its length in UTF-16 units. */
function codePointAt(s: string, i: number, end: number): [number, number] {
  const hi = s.charCodeAt(i);
  if (hi >= 0xd800 && hi <= 0xdbff && i + 1 < end) {
    const lo = s.charCodeAt(i + 1);
    if (lo >= 0xdc00 && lo <= 0xdfff) return [(hi - 0xd800) * 0x400 + (lo - 0xdc00) + 0x10000, 2];
  }
  return [hi, 1];
}

function classAt(cp: number): Cls {
  return cp < 0x80 ? (ASCII_CLASS[cp] ?? Cls.Other) : classOf(cp);
}

/** Feeds `s.slice(start, end)` to the meter. */
function meterAdd(m: Meter, s: string, start: number, end: number): void {
  for (let i = start; i < end; ) {
    // Decoded inline rather than with codePointAt(): this loop is the chunker's hot path.
    let cp = s.charCodeAt(i);
    let units = 1;
    if (cp >= 0xd800 && cp <= 0xdbff && i + 1 < end) {
      const lo = s.charCodeAt(i + 1);
      if (lo >= 0xdc00 && lo <= 0xdfff) {
        cp = (cp - 0xd800) * 0x400 + (lo - 0xdc00) + 0x10000;
        units = 2;
      }
    }
    i += units;
    let cls = classAt(cp);
    if (cls === Cls.Mark) {
      if (m.run === Cls.Latin || m.run === Cls.Rtl || m.run === Cls.Letter) {
        m.len += units;
        continue;
      }
      cls = Cls.Letter;
    }
    if (cls === m.run && cls !== Cls.Other && cls !== Cls.Space) {
      m.len += units;
      continue;
    }
    m.w += runWeight(m.run, m.len);
    m.run = cls;
    m.len = units;
    if (cls === Cls.Other) {
      m.w += 1;
      m.run = Cls.Space;
      m.len = 0;
    }
  }
}

function meterTotal(m: Meter): number {
  return m.w + runWeight(m.run, m.len);
}

/**
 * Estimated number of model tokens of `s`, rounded up: a deliberate overestimate (see the rules on
 * {@link tokenWeight}) so a chunk estimated to fit a model's input limit does fit. English prose
 * comes out around 1.4–1.6 tokens per word, Arabic about one token per two letters, CJK one per
 * character.
 */
export function estimateTokens(s: string): number {
  return roundTokens(tokenWeight(s));
}

/** A weight rounded up to whole tokens; the epsilon absorbs floating-point drift of the fractional sum, max() turns -0 into 0. */
function roundTokens(weight: number): number {
  return Math.max(0, Math.ceil(weight - 1e-9));
}

// ---------------------------------------------------------------------------------------------
// Ids.
// ---------------------------------------------------------------------------------------------

/**
 * A stable id for chunk `index` of version `version` of a document:
 * `${documentId}_v${version}_c${index padded to 5 digits}` (ids sort in chunk order up to 99,999
 * chunks). Valid as a Firestore document id when `documentId` is.
 */
export function chunkId(documentId: string, version: number, index: number): string {
  if (documentId.length === 0 || documentId.includes('/')) throw new RangeError(`invalid document id ${JSON.stringify(documentId)}`);
  if (!Number.isSafeInteger(version) || version < 0) throw new RangeError(`invalid version ${version}`);
  if (!Number.isSafeInteger(index) || index < 0) throw new RangeError(`invalid chunk index ${index}`);
  return `${documentId}_v${version}_c${String(index).padStart(5, '0')}`;
}

// ---------------------------------------------------------------------------------------------
// Structure: pages, lines, paragraphs, headings.
// ---------------------------------------------------------------------------------------------

/** Exactly the characters of JavaScript's `\s`. */
function isWs(c: number): boolean {
  return (
    c === 0x20 ||
    (c >= 0x09 && c <= 0x0d) ||
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000 ||
    c === 0xfeff
  );
}

interface Heading {
  readonly text: string;
  /** Markdown `#` count or numbering depth; undefined for Title Case / ALL-CAPS headings. */
  readonly level: number | undefined;
}

interface Block {
  start: number;
  end: number;
  pageStart: number;
  pageEnd: number;
  heading?: Heading;
}

const MARKDOWN_HEADING = /^(#{1,6})\s+(.*?)(?:\s+#+)?\s*$/u;
const NUMBERED_HEADING = /^(\d{1,3}(?:\.\d{1,3})*\.?|[IVXLC]{1,6}\.|[A-Z]\.)\s+(\p{L}.*)$/u;
const ENDS_LIKE_SENTENCE = /[.,;:!]$/u;
const WORDS = /\S+/gu;

/** Math symbols (`=`, `∈`, `→`, …): a line with one is a formula, not a heading. */
const MATH = /\p{Sm}/u;

/** Whether `s` has a word of at least three letters. */
function hasRealWord(s: string): boolean {
  return (s.match(WORDS) ?? []).some((w) => w.replace(/[^\p{L}]/gu, '').length >= 3);
}

function wordCount(s: string): number {
  return s.match(WORDS)?.length ?? 0;
}

function startsLowercase(s: string): boolean {
  return /^\p{Ll}/u.test(s);
}

/** A short numbered section line: `2.1 Methods`, `1 Topologische Grundbegriffe`, `IV. Results`. */
function numberedHeading(line: string): Heading | undefined {
  if (line.length > 100 || ENDS_LIKE_SENTENCE.test(line) || MATH.test(line) || wordCount(line) > 12) return undefined;
  const m = NUMBERED_HEADING.exec(line);
  if (!m) return undefined;
  const rest = m[2] ?? '';
  // "0. Auflage, 31. Dezember 2016" is a date line and "1 R" a formula, not sections: headings
  // have no commas and at least one real word.
  if (startsLowercase(rest) || rest.includes(',') || !hasRealWord(rest)) return undefined;
  const num = m[1] ?? '';
  const level = /^\d/.test(num) ? num.replace(/\.$/, '').split('.').length : 1;
  return { text: line, level };
}

/** A short Title Case or ALL-CAPS line (cased scripts only). */
function titleHeading(line: string): boolean {
  if (line.length > 80 || ENDS_LIKE_SENTENCE.test(line) || MATH.test(line)) return false;
  const words = line.match(WORDS) ?? [];
  if (words.length === 0 || words.length > 10) return false;
  const upper = line.match(/[\p{Lu}\p{Lt}]/gu)?.length ?? 0;
  const lower = line.match(/\p{Ll}/gu)?.length ?? 0;
  if (!/^[\p{Lu}\p{Lt}]/u.test(line)) return false;
  // Mostly letters, with at least one real word: "U ∈T" is a formula, "(b) Würfel" a label.
  const letters = line.match(/\p{L}/gu)?.length ?? 0;
  if (letters * 2 < line.replace(/\s/gu, '').length || !hasRealWord(line)) return false;
  if (lower === 0) return upper >= 2;
  return words.every((w) => {
    const letters = w.replace(/[^\p{L}]/gu, '');
    return letters.length < 4 || /^[\p{Lu}\p{Lt}]/u.test(letters);
  });
}

interface Line {
  /** Trimmed content range. */
  start: number;
  end: number;
}

/** Non-blank lines of `[from, to)`, trimmed; blank lines as `null`. */
function linesOf(text: string, from: number, to: number): (Line | null)[] {
  const out: (Line | null)[] = [];
  let ls = from;
  while (ls <= to) {
    let le = ls;
    while (le < to && text.charCodeAt(le) !== 10) le++;
    let s = ls;
    let e = le;
    while (s < e && isWs(text.charCodeAt(s))) s++;
    while (e > s && isWs(text.charCodeAt(e - 1))) e--;
    out.push(s < e ? { start: s, end: e } : null);
    if (le >= to) break;
    ls = le + 1;
  }
  return out;
}

/** Paragraph and heading blocks of one page. */
function pageBlocks(text: string, from: number, to: number, page: number): Block[] {
  const lines = linesOf(text, from, to);
  let last = lines.length - 1;
  while (last >= 0 && lines[last] === null) last--;
  const blocks: Block[] = [];
  let para: Block | undefined;
  const close = (): void => {
    if (para) blocks.push(para);
    para = undefined;
  };
  for (let i = 0; i <= last; i++) {
    const line = lines[i];
    if (!line) {
      close();
      continue;
    }
    const content = text.slice(line.start, line.end);
    let heading: Heading | undefined;
    const md = MARKDOWN_HEADING.exec(content);
    if (md) heading = { text: (md[2] ?? '').trim() || content, level: (md[1] ?? '#').length };
    else if (para === undefined && i < last) {
      const next = lines[i + 1];
      const nextText = next ? text.slice(next.start, Math.min(next.end, next.start + 8)) : '';
      if (!startsLowercase(nextText)) {
        heading = numberedHeading(content) ?? (titleHeading(content) ? { text: content, level: undefined } : undefined);
      }
    }
    if (heading) {
      close();
      blocks.push({ start: line.start, end: line.end, pageStart: page, pageEnd: page, heading });
      continue;
    }
    if (para) para.end = line.end;
    else para = { start: line.start, end: line.end, pageStart: page, pageEnd: page };
  }
  close();
  return blocks;
}

const TERMINAL = /[.!?؟。！？…]["'”’»)\]]*$/u;

/**
 * Whether paragraph `next` (first on its page) continues paragraph `prev` (last on the previous
 * page): no blank line between them (the `\f` counts as a line break), `prev` does not end a
 * sentence, and `next` does not start with a capital letter. Headings never continue.
 */
function isContinuation(text: string, prev: Block, next: Block): boolean {
  if (prev.heading || next.heading) return false;
  const gap = text.slice(prev.end, next.start);
  let breaks = 0;
  for (let i = 0; i < gap.length; i++) {
    const c = gap[i];
    if (c === '\n') breaks++;
    else if (c === '\f' && gap[i - 1] !== '\n' && gap[i + 1] !== '\n') breaks++;
    else if (c === '\r' && gap[i + 1] !== '\n') breaks++;
  }
  if (breaks > 1) return false;
  if (TERMINAL.test(text.slice(Math.max(prev.start, prev.end - 4), prev.end))) return false;
  return !/^[\p{Lu}\p{Lt}]/u.test(text.slice(next.start, next.start + 2));
}

// ---------------------------------------------------------------------------------------------
// Splitting oversize blocks.
// ---------------------------------------------------------------------------------------------

const STRENGTH = { char: 0, word: 1, line: 2, sentence: 3, paragraph: 4 } as const;

interface Piece {
  start: number;
  end: number;
  weight: number;
  /** Strength of the boundary before this piece. */
  strength: number;
}

/** Abbreviations after which a period does not end a sentence (lowercase, without the final dot). */
const ABBREVIATIONS = new Set(['dr', 'prof', 'mr', 'mrs', 'ms', 'st', 'sr', 'jr', 'vs', 'etc', 'e.g', 'i.e', 'z.b', 'bzw', 'ca', 'nr', 'no', 'fig', 'abb', 'vgl', 'u.a', 'd.h', 'bsp', 'resp', 'cf']);
const SENTENCE_END = /([.!?؟…]+["'”’»)\]]*)\s+|[。！？]+[」』”）]*/gu;

/** Sentence ranges (trimmed) of `[from, to)`. */
function sentenceRanges(text: string, from: number, to: number): [number, number][] {
  const slice = text.slice(from, to);
  const out: [number, number][] = [];
  let cur = 0;
  const re = new RegExp(SENTENCE_END.source, SENTENCE_END.flags);
  for (let m = re.exec(slice); m !== null; m = re.exec(slice)) {
    const punctEnd = m.index + (m[1] !== undefined ? m[1].length : m[0].length);
    const after = m.index + m[0].length;
    if (after >= slice.length) break;
    if (m[1] !== undefined) {
      if (startsLowercase(slice.slice(after, after + 2))) continue;
      if (m[1].startsWith('.')) {
        const word = /[\p{L}.]+$/u.exec(slice.slice(Math.max(0, m.index - 12), m.index))?.[0].toLowerCase() ?? '';
        if (word.length === 1 || ABBREVIATIONS.has(word)) continue;
      }
    }
    if (punctEnd > cur) out.push([from + cur, from + punctEnd]);
    cur = after;
  }
  if (cur < slice.length) out.push([from + cur, to]);
  return out.map(([s, e]) => trimRange(text, s, e)).filter(([s, e]) => e > s);
}

function trimRange(text: string, s: number, e: number): [number, number] {
  while (s < e && isWs(text.charCodeAt(s))) s++;
  while (e > s && isWs(text.charCodeAt(e - 1))) e--;
  return [s, e];
}

function lineRanges(text: string, from: number, to: number): [number, number][] {
  return linesOf(text, from, to).filter((l): l is Line => l !== null).map((l) => [l.start, l.end]);
}

function wordRanges(text: string, from: number, to: number): [number, number][] {
  const out: [number, number][] = [];
  for (const m of text.slice(from, to).matchAll(WORDS)) out.push([from + m.index, from + m.index + m[0].length]);
  return out;
}


/** End of the cluster starting at `i`: one code point and the combining marks after it. */
function clusterEnd(text: string, i: number, to: number): number {
  let j = i + codePointAt(text, i, to)[1];
  while (j < to) {
    const [cp, units] = codePointAt(text, j, to);
    if (classAt(cp) !== Cls.Mark) break;
    j += units;
  }
  return j;
}

/**
 * Cuts `[from, to)` (no white space inside) into the fewest pieces of weight ≤ budget, scanning
 * once with a running meter. Cuts fall between clusters; a cluster that alone exceeds the budget
 * (a letter with hundreds of combining marks) is cut between code points.
 */
function splitChars(text: string, from: number, to: number, budget: number, strength: number): Piece[] {
  const pieces: Piece[] = [];
  let start = from;
  let meter = newMeter();
  let codePointsUntil = -1; // inside [i, codePointsUntil), step by code point
  for (let i = from; i < to; ) {
    const unitEnd = i < codePointsUntil ? i + codePointAt(text, i, to)[1] : clusterEnd(text, i, to);
    const before = { ...meter };
    meterAdd(meter, text, i, unitEnd);
    if (meterTotal(meter) <= budget) {
      i = unitEnd;
    } else if (i > start) {
      pieces.push({ start, end: i, weight: meterTotal(before), strength: pieces.length === 0 ? strength : STRENGTH.char });
      start = i;
      meter = newMeter();
    } else if (i >= codePointsUntil) {
      codePointsUntil = unitEnd;
      meter = newMeter();
    } else {
      i = unitEnd; // one code point over the budget: cannot happen for budget ≥ 4/3, kept whole
    }
  }
  if (to > start) pieces.push({ start, end: to, weight: meterTotal(meter), strength: pieces.length === 0 ? strength : STRENGTH.char });
  return pieces;
}

type Level = 'sentence' | 'line' | 'word';
const NEXT_LEVEL: Record<Level, Level | 'char'> = { sentence: 'line', line: 'word', word: 'char' };

/** `[from, to)` as pieces of weight ≤ budget; the first piece gets `strength`. */
function splitBlock(text: string, from: number, to: number, budget: number, strength: number, level: Level | 'char' = 'sentence'): Piece[] {
  const weight = tokenWeight(text, from, to);
  if (weight <= budget) return [{ start: from, end: to, weight, strength }];
  if (level === 'char') return splitChars(text, from, to, budget, strength);
  const ranges = level === 'sentence' ? sentenceRanges(text, from, to) : level === 'line' ? lineRanges(text, from, to) : wordRanges(text, from, to);
  if (ranges.length <= 1) return splitBlock(text, from, to, budget, strength, NEXT_LEVEL[level]);
  const pieces: Piece[] = [];
  ranges.forEach(([s, e], i) => pieces.push(...splitBlock(text, s, e, budget, i === 0 ? strength : STRENGTH[level], NEXT_LEVEL[level])));
  return pieces;
}

// ---------------------------------------------------------------------------------------------
// Packing.
// ---------------------------------------------------------------------------------------------

interface Draft {
  start: number;
  end: number;
  run: number;
  headings: string[];
  /** tokenWeight of [start, end), once computed. */
  weight?: number;
}

/**
 * Where the next chunk starts so that it overlaps the end of `[start, end)` by at most `target`
 * tokens: a sentence start if one gives at least half the target, else the earliest word start
 * within the target. `end` when there is no room (no overlap). Never `start` itself.
 */
function overlapStart(text: string, start: number, end: number, target: number): { at: number; weight: number } {
  let best = { at: end, weight: 0 };
  let bestSentence: { at: number; weight: number } | undefined;
  let acc = 0;
  // Walk words backwards from the end: [ws, we) is the current word.
  let we = end;
  while (target > 0) {
    let ws = we;
    while (ws > start && !isWs(text.charCodeAt(ws - 1))) ws--;
    if (ws <= start) break; // the chunk's first word: the overlap must leave it
    acc += tokenWeight(text, ws, we);
    if (acc > target) break;
    best = { at: ws, weight: acc };
    let prevEnd = ws;
    while (prevEnd > start && isWs(text.charCodeAt(prevEnd - 1))) prevEnd--;
    const sentenceStart = TERMINAL.test(text.slice(Math.max(start, prevEnd - 4), prevEnd)) || /\n[^\S\n]*\n/.test(text.slice(prevEnd, ws));
    if (acc >= target / 2 && sentenceStart) bestSentence = best;
    if (prevEnd <= start) break;
    we = prevEnd;
  }
  return bestSentence ?? best;
}

/** Packs the pieces of one segment (one section on one run of pages) into drafts. */
function packSegment(text: string, pieces: Piece[], maxTokens: number, overlapTokens: number, run: number, headings: string[], out: Draft[]): void {
  let cur: Piece[] = [];
  let curWeight = 0;
  let overlap: { at: number; weight: number } | undefined;
  const emit = (count: number): void => {
    const taken = cur.slice(0, count);
    const first = taken[0];
    const lastPiece = taken[taken.length - 1];
    if (!first || !lastPiece) return;
    const start = overlap && overlap.at < first.start ? overlap.at : first.start;
    out.push({ start, end: lastPiece.end, run, headings });
    overlap = overlapStart(text, start, lastPiece.end, overlapTokens);
    if (overlap.at >= lastPiece.end) overlap = undefined;
    cur = cur.slice(count);
    curWeight = cur.reduce((a, p) => a + p.weight, 0);
  };
  for (const piece of pieces) {
    while (cur.length > 0 && (overlap?.weight ?? 0) + curWeight + piece.weight > maxTokens) {
      // Break at the strongest boundary whose chunk keeps at least half of the current content.
      let bestJ = cur.length;
      let bestStrength = piece.strength;
      let acc = 0;
      for (let j = 1; j < cur.length; j++) {
        acc += cur[j - 1]?.weight ?? 0;
        const strength = cur[j]?.strength ?? 0;
        if (acc >= curWeight / 2 && strength > bestStrength) {
          bestStrength = strength;
          bestJ = j;
        }
      }
      emit(bestJ);
    }
    cur.push(piece);
    curWeight += piece.weight;
  }
  emit(cur.length);
}

function validate(options: ChunkOptions): Required<ChunkOptions> {
  const { maxTokens, overlapTokens } = options;
  const minTokens = options.minTokens ?? Math.floor(maxTokens / 8);
  if (!Number.isSafeInteger(maxTokens) || maxTokens < 4) throw new RangeError(`maxTokens must be an integer ≥ 4, got ${maxTokens}`);
  if (!Number.isFinite(overlapTokens) || overlapTokens < 0 || overlapTokens > maxTokens / 2) {
    throw new RangeError(`overlapTokens must be between 0 and maxTokens / 2 (${maxTokens / 2}), got ${overlapTokens}`);
  }
  if (!Number.isFinite(minTokens) || minTokens < 0 || minTokens > maxTokens) throw new RangeError(`minTokens must be between 0 and maxTokens, got ${minTokens}`);
  return { maxTokens, overlapTokens, minTokens };
}

/**
 * Splits document text into chunks (see the module comment for the rules). Empty or
 * whitespace-only text gives `[]`. Every non-white-space character of `text` lies in at least one
 * chunk; chunks are in text order with strictly increasing `charStart` and `charEnd`.
 */
export function chunkDocument(text: string, options: ChunkOptions): Chunk[] {
  const { maxTokens, overlapTokens, minTokens } = validate(options);
  // Page starts: page p (1-based) begins at pageStarts[p - 1].
  const pageStarts = [0];
  for (let i = text.indexOf('\f'); i !== -1; i = text.indexOf('\f', i + 1)) pageStarts.push(i + 1);
  const pageOf = (offset: number): number => {
    let lo = 0;
    let hi = pageStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((pageStarts[mid] ?? 0) <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  };

  // Blocks of every page; a paragraph that runs across a page break becomes one block.
  const blocks: Block[] = [];
  pageStarts.forEach((from, i) => {
    const to = i + 1 < pageStarts.length ? (pageStarts[i + 1] ?? text.length) - 1 : text.length;
    const page = pageBlocks(text, from, to, i + 1);
    const prev = blocks[blocks.length - 1];
    const first = page[0];
    if (prev && first && prev.pageEnd === i && isContinuation(text, prev, first)) {
      prev.end = first.end;
      prev.pageEnd = i + 1;
      page.shift();
    }
    blocks.push(...page);
  });

  // Segments: a new one at every heading and every page break not bridged by a paragraph.
  const budget = maxTokens - overlapTokens;
  const drafts: Draft[] = [];
  const stack: Heading[] = [];
  let run = 0;
  let segment: Piece[] = [];
  let segmentRun = 0;
  let segmentHeadings: string[] = [];
  let lastPageEnd = 0;
  const flush = (): void => {
    if (segment.length > 0) packSegment(text, segment, maxTokens, overlapTokens, segmentRun, segmentHeadings, drafts);
    segment = [];
  };
  for (const block of blocks) {
    const newRun = block.pageStart !== lastPageEnd;
    if (newRun) run++;
    lastPageEnd = block.pageEnd;
    if (newRun || block.heading) {
      flush();
      if (block.heading) pushHeading(stack, block.heading);
      segmentRun = run;
      segmentHeadings = stack.map((h) => h.text);
    }
    segment.push(...splitBlock(text, block.start, block.end, budget, STRENGTH.paragraph));
  }
  flush();

  // Small chunks join a neighbour of the same run when the two fit.
  const weightOf = (d: Draft): number => (d.weight ??= tokenWeight(text, d.start, d.end));
  const merged: Draft[] = [];
  for (let i = 0; i < drafts.length; ) {
    let d = drafts[i++];
    if (!d) break;
    while (minTokens > 0 && weightOf(d) < minTokens) {
      const next = drafts[i];
      if (!next || next.run !== d.run) break;
      const weight = tokenWeight(text, d.start, next.end);
      if (weight > maxTokens) break;
      d = { ...d, end: next.end, weight };
      i++;
    }
    const prev = merged[merged.length - 1];
    if (minTokens > 0 && weightOf(d) < minTokens && prev && prev.run === d.run) {
      const weight = tokenWeight(text, prev.start, d.end);
      if (weight <= maxTokens) {
        prev.end = d.end;
        prev.weight = weight;
        continue;
      }
    }
    merged.push(d);
  }

  return merged.map((d, index) => {
    const chunk: Chunk = {
      index,
      text: text.slice(d.start, d.end),
      pageStart: pageOf(d.start),
      pageEnd: pageOf(d.end - 1),
      charStart: d.start,
      charEnd: d.end,
      tokenEstimate: roundTokens(weightOf(d)),
    };
    if (d.headings.length > 0) chunk.headings = [...d.headings];
    return chunk;
  });
}

/** Updates the heading path: a leveled heading closes headings of its level and deeper; a plain one replaces a plain one on top. */
function pushHeading(stack: Heading[], h: Heading): void {
  if (h.level === undefined) {
    const top = stack[stack.length - 1];
    if (top && top.level === undefined) stack.pop();
    stack.push(h);
    return;
  }
  const level = h.level;
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    const topLevel = top?.level ?? stack.length;
    if (topLevel >= level) stack.pop();
    else break;
  }
  stack.push(h);
}
