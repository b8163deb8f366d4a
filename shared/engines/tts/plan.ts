/**
 * The planner: cuts a text or SSML document into chunks an engine takes in one request (at most
 * `maxBytes` UTF-8 bytes each, markup included), at the most natural places. Pure and
 * deterministic; no I/O.
 *
 * Text:
 * - Sentences come from shared/text/sentences.ts (ICU plus repairs for abbreviations, initials,
 *   ordinals; offsets into the source). Chunks are greedy runs of whole sentences, each chunk a
 *   verbatim slice of the input.
 * - A sentence alone over the limit is cut at the last clause mark (`,` `;` `:` `—` and their
 *   Arabic/CJK forms) in the second half of the room, else at the last space, else (a script
 *   without spaces, or one enormous token) at the last grapheme boundary: never inside a UTF-8
 *   sequence, a surrogate pair or a letter with its combining marks.
 * - Each chunk says what separates it from the next (`paragraph`, `sentence`, `clause`, `word`), so
 *   the joiner can put a pause of the right length there.
 *
 * SSML:
 * - Never cut inside a tag: a chunk is assembled from verbatim slices that are whole elements or
 *   text between them, and each chunk is wrapped in the original `<speak ...>` start tag (its
 *   attributes, e.g. `xml:lang`, kept) and in copies of the start tags of every element it lies
 *   inside (`<p>`, `<prosody rate="slow">`), closed again at its end. A chunk is well-formed SSML
 *   on its own and carries the prosody and language the source gave its content.
 * - Cuts fall between paragraphs, sentences (`<s>` elements, or sentences of the text inside a
 *   container, found the same way as for text), and at `<break>`s. A `<break>` at a cut is taken
 *   out of the chunks and becomes the chunk's `pauseAfterMs`, for the joiner to insert: an engine
 *   might drop silence at the very start or end of a request.
 * - Inline elements (`<say-as>`, `<sub>`, `<audio>`, `<mark>`, `<phoneme>`, comments, CDATA) are
 *   never cut. `<prosody>`, `<emphasis>`, `<lang>`, `<voice>`, `<p>` and `<s>` are cut inside only
 *   when they do not fit a chunk alone; an `<s>` that fits is never cut.
 * - An unsplittable element over the limit is an error (`INPUT_TOO_LARGE`): there is no correct
 *   way to send it.
 */
import { PermanentError } from '../../errors/index.js';
import { splitSentences } from '../../text/sentences.js';
import { breakMs, decodeEntities, endTag, parseSsml, startTag } from './ssml.js';
import type { SsmlDocument, SsmlElement, SsmlNode } from './ssml.js';
import { TTS_ERROR_CODES, utf8Bytes } from './types.js';
import type { SpeechInput } from './types.js';

/** What separates a chunk from the next one: it decides the pause the joiner puts there. */
export type ChunkBoundary = 'end' | 'paragraph' | 'sentence' | 'clause' | 'word' | 'break';

/** One request's worth of input. */
export interface SpeechChunk {
  /** `{ text }` for text input, `{ ssml }` (a complete `<speak>` document) for SSML input. */
  readonly input: SpeechInput;
  /** UTF-8 bytes of the text or SSML: at most the plan's `maxBytes`. */
  readonly bytes: number;
  /** What follows this chunk (`end` for the last one). */
  readonly boundary: ChunkBoundary;
  /** Silence the source asks for after this chunk (SSML `<break>`s at the cut), in ms. */
  readonly pauseAfterMs?: number;
  /**
   * Silence before this chunk, ms: only on the first chunk, for `<break>`s before the first words
   * that do not fit in one request with them.
   */
  readonly pauseBeforeMs?: number;
  /** The part of the source this chunk says, as UTF-16 offsets [start, end) into the text or SSML. */
  readonly sourceStart: number;
  readonly sourceEnd: number;
}

export interface PlanOptions {
  /** Largest chunk in UTF-8 bytes (an engine's `maxInputBytes`). */
  readonly maxBytes: number;
  /** Language of the text (BCP-47 or ISO 639), a hint for sentence splitting. */
  readonly language?: string | null;
}

/** Chunks for `input`; `[]` when there is nothing to say (only white space, or SSML without text). */
export function planSpeech(input: SpeechInput, options: PlanOptions): SpeechChunk[] {
  return 'ssml' in input ? planSsml(input.ssml, options) : planText(input.text, options);
}

/** The smallest `maxBytes` a plan accepts: room for a few words and the `<speak>` wrapping. */
export const MIN_PLAN_BYTES = 64;

function checkMax(maxBytes: number): number {
  if (!Number.isFinite(maxBytes) || maxBytes < MIN_PLAN_BYTES) throw new RangeError(`maxBytes must be at least ${MIN_PLAN_BYTES}, got ${maxBytes}`);
  return Math.floor(maxBytes);
}

// ---------------------------------------------------------------------------------------------
// Cutting a stretch of text that is too long

/** Clause marks a long sentence is preferably cut after: `, ; : — –` and Arabic, CJK and Devanagari forms. */
const CLAUSE_MARK = /[,;:،؛、，；：—–।]/u;
const SPACE = /\s/u;
const TERMINAL_END = /[.!?…。！？؟۔‼⁇⁈⁉][\]"'”’»)›}]*$/u;
const CLAUSE_END = /[,;:،؛、，；：—–।][\]"'”’»)›}]*$/u;

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/** A piece of a too-long stretch and what ends it. */
interface Cut {
  readonly start: number;
  readonly end: number;
  readonly boundary: ChunkBoundary;
}

/**
 * Cuts `text[start, end)` into pieces for which `fits(pieceStart, pieceEnd)` holds (`fits` must
 * be monotone: a prefix of a fitting piece fits). Pieces never start or end with white space. A
 * piece is cut after a clause mark in the second half of the room, else at a space, else at a
 * grapheme boundary. `maxUnits` bounds a piece's length in UTF-16 units (a piece of at most N
 * bytes has at most N: every unit is at least one byte), which keeps the search local.
 * Returns undefined when not even one grapheme fits.
 */
function cutToFit(text: string, start: number, end: number, fits: (s: number, e: number) => boolean, maxUnits: number): Cut[] | undefined {
  const out: Cut[] = [];
  let pos = skipSpace(text, start, end);
  while (pos < end) {
    const stop = trimEndSpace(text, pos, end);
    if (fits(pos, stop)) {
      out.push({ start: pos, end: stop, boundary: classify(text.slice(pos, stop)) });
      break;
    }
    // The longest fitting prefix, over grapheme boundaries (binary search: `fits` is monotone).
    const bounds = graphemeBoundaries(text, pos, Math.min(stop, pos + maxUnits + 1), stop);
    if (bounds.length === 0 || !fits(pos, bounds[0] ?? stop)) return undefined;
    let lo = 0;
    let hi = bounds.length - 1;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (fits(pos, bounds[mid] ?? stop)) lo = mid;
      else hi = mid - 1;
    }
    const limit = bounds[lo] ?? stop;
    const half = pos + Math.floor((limit - pos) / 2);
    let cut: number | undefined;
    let boundary: ChunkBoundary = 'word';
    for (let i = limit - 1; i >= half && cut === undefined; i--) {
      if (CLAUSE_MARK.test(text[i] ?? '') && SPACE.test(text[i + 1] ?? '')) {
        cut = i + 1;
        boundary = 'clause';
      }
    }
    for (let i = limit; i > pos && cut === undefined; i--) {
      if (SPACE.test(text[i] ?? '') && !SPACE.test(text[i - 1] ?? '')) cut = i;
    }
    cut ??= limit;
    out.push({ start: pos, end: trimEndSpace(text, pos, cut), boundary });
    pos = skipSpace(text, cut, end);
  }
  return out;
}

/**
 * Grapheme boundaries in (from, to]. When the window stops short of `stop`, its last boundary may
 * be an artefact of the window (a cluster cut in two) and is left out.
 */
function graphemeBoundaries(text: string, from: number, to: number, stop: number): number[] {
  const out: number[] = [];
  for (const { index, segment } of graphemes.segment(text.slice(from, to))) out.push(from + index + segment.length);
  if (to < stop) out.pop();
  return out;
}

function skipSpace(text: string, from: number, to: number): number {
  let i = from;
  while (i < to && SPACE.test(text[i] ?? '')) i++;
  return i;
}

function trimEndSpace(text: string, from: number, to: number): number {
  let i = to;
  while (i > from && SPACE.test(text[i - 1] ?? '')) i--;
  return i;
}

/** What the end of `piece` says about the pause after it. */
function classify(piece: string): ChunkBoundary {
  const t = piece.trimEnd();
  if (TERMINAL_END.test(t)) return 'sentence';
  if (CLAUSE_END.test(t)) return 'clause';
  return 'word';
}

/** The boundary between two sentences, from the text between them and the end of the first. */
function between(text: string, prevEnd: number, nextStart: number, prevText: string): ChunkBoundary {
  const gap = text.slice(prevEnd, nextStart);
  if (/\n[^\S\n]*\n|\f|\u2029/u.test(gap)) return 'paragraph';
  const end = classify(prevText);
  // A line break between pieces without punctuation: a heading or a list item, a sentence's worth of pause.
  if (end !== 'sentence' && /[\n\r\u2028]/u.test(gap)) return 'sentence';
  return end;
}

// ---------------------------------------------------------------------------------------------
// Text

/**
 * Chunks of plain text: verbatim slices of `text`, each within `maxBytes` UTF-8 bytes, cut between
 * sentences where possible (see the module comment).
 */
export function planText(text: string, options: PlanOptions): SpeechChunk[] {
  const maxBytes = checkMax(options.maxBytes);
  if (!/\S/u.test(text)) return [];
  // No length cap in the splitter: over-long sentences are cut here, by bytes, knowing where.
  const sentences = splitSentences(text, { language: options.language ?? null, maxChars: Number.MAX_SAFE_INTEGER });
  const pieces: Cut[] = [];
  for (const s of sentences) {
    if (utf8Bytes(s.text) <= maxBytes) {
      pieces.push({ start: s.start, end: s.end, boundary: 'sentence' });
      continue;
    }
    const cuts = cutToFit(text, s.start, s.end, (a, b) => utf8Bytes(text.slice(a, b)) <= maxBytes, maxBytes);
    // A single grapheme is never over 64 bytes in practice; one that is (a zalgo pile) is cut by code point.
    pieces.push(...(cuts ?? cutByCodePoints(text, s.start, s.end, maxBytes)));
  }
  // The boundary after each piece, from what lies between it and the next.
  const labelled = pieces.map((p, i) => {
    const next = pieces[i + 1];
    return { ...p, boundary: next ? (p.boundary === 'sentence' ? between(text, p.end, next.start, text.slice(p.start, p.end)) : betterOf(p.boundary, text.slice(p.end, next.start))) : ('end' as const) };
  });

  const chunks: SpeechChunk[] = [];
  let first = labelled[0];
  let last = first;
  let bytes = first ? utf8Bytes(text.slice(first.start, first.end)) : 0;
  for (const piece of labelled.slice(1)) {
    if (!first || !last) break;
    const added = utf8Bytes(text.slice(last.end, piece.end));
    if (bytes + added <= maxBytes) {
      bytes += added;
      last = piece;
      continue;
    }
    chunks.push({ input: { text: text.slice(first.start, last.end) }, bytes, boundary: last.boundary, sourceStart: first.start, sourceEnd: last.end });
    first = piece;
    last = piece;
    bytes = utf8Bytes(text.slice(piece.start, piece.end));
  }
  if (first && last) chunks.push({ input: { text: text.slice(first.start, last.end) }, bytes, boundary: 'end', sourceStart: first.start, sourceEnd: last.end });
  return chunks;
}

/** A cut inside a sentence that lands on a paragraph or line break is at least that strong. */
function betterOf(boundary: ChunkBoundary, gap: string): ChunkBoundary {
  if (/\n[^\S\n]*\n|\f|\u2029/u.test(gap)) return 'paragraph';
  return boundary;
}

function cutByCodePoints(text: string, start: number, end: number, maxBytes: number): Cut[] {
  const out: Cut[] = [];
  let pieceStart = start;
  let bytes = 0;
  for (let i = start; i < end; ) {
    const cp = text.codePointAt(i) ?? 0;
    const width = cp > 0xffff ? 2 : 1;
    const size = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    if (bytes + size > maxBytes && i > pieceStart) {
      out.push({ start: pieceStart, end: i, boundary: 'word' });
      pieceStart = i;
      bytes = 0;
    }
    bytes += size;
    i += width;
  }
  if (end > pieceStart) out.push({ start: pieceStart, end, boundary: 'word' });
  return out;
}

// ---------------------------------------------------------------------------------------------
// SSML

/** A piece of an SSML chunk: a verbatim slice of the source and the elements it lies inside. */
interface Unit {
  readonly start: number;
  readonly end: number;
  /** Elements between `<speak>` and this slice, outermost first (compared by identity). */
  readonly ancestors: readonly SsmlElement[];
  boundary: ChunkBoundary;
  /** Set for a `<break>` element: the pause it asks for. */
  readonly pauseMs?: number;
  /** A unit that says nothing (a lone `<mark>`): a chunk of only such units is not sent. */
  readonly silent?: boolean;
}

/** Containers a too-large unit may be cut inside; everything else inline is atomic. */
const SPLITTABLE = new Set(['p', 's', 'prosody', 'emphasis', 'lang', 'voice']);
/** Placeholder for an inline element in the text the sentence splitter reads. */
const OBJECT = '\uFFFC';

/**
 * Chunks of SSML, each a complete `<speak>` document within `maxBytes` UTF-8 bytes (see the
 * module comment). Throws PermanentError `INVALID_SSML` for markup that is not well-formed and
 * `INPUT_TOO_LARGE` for an element that cannot be cut and does not fit a chunk alone.
 */
export function planSsml(ssml: string, options: PlanOptions): SpeechChunk[] {
  const maxBytes = checkMax(options.maxBytes);
  const doc = parseSsml(ssml);
  const units: Unit[] = [];
  const collector = new UnitCollector(doc, maxBytes, options.language ?? null, units);
  collector.container(doc.root.children, []);
  return pack(doc, units, maxBytes);
}

class UnitCollector {
  constructor(
    private readonly doc: SsmlDocument,
    private readonly maxBytes: number,
    private readonly language: string | null,
    private readonly out: Unit[],
  ) {}

  /** Bytes of a chunk holding just `[start, end)` inside `ancestors`. */
  alone(start: number, end: number, ancestors: readonly SsmlElement[]): number {
    let bytes = utf8Bytes(startTag(this.doc, this.doc.root)) + utf8Bytes(endTag(this.doc, this.doc.root)) + utf8Bytes(this.doc.source.slice(start, end));
    for (const a of ancestors) bytes += utf8Bytes(startTag(this.doc, a)) + utf8Bytes(endTag(this.doc, a));
    return bytes;
  }

  /** Units of a container's children. */
  container(children: readonly SsmlNode[], ancestors: readonly SsmlElement[]): void {
    let run: SsmlNode[] = [];
    const flush = (): void => {
      if (run.length > 0) this.run(run, ancestors);
      run = [];
    };
    for (const node of children) {
      if (node.kind !== 'element') {
        run.push(node);
        continue;
      }
      if (node.name === 'break') {
        flush();
        this.out.push({ start: node.start, end: node.end, ancestors, boundary: 'break', pauseMs: breakMs(node) });
      } else if (node.name === 'p' || node.name === 's') {
        flush();
        // Whatever came before a paragraph or sentence element ends there.
        const previous = this.lastContent(0);
        if (previous) previous.boundary = strongest(previous.boundary, node.name === 'p' ? 'paragraph' : 'sentence');
        const before = this.out.length;
        if (!saysSomething(node)) {
          this.silent([node], ancestors);
        } else if (node.name === 's' && this.alone(node.start, node.end, ancestors) <= this.maxBytes) {
          this.out.push({ start: node.start, end: node.end, ancestors, boundary: 'sentence' });
        } else {
          this.container(node.children, [...ancestors, node]);
        }
        const last = this.lastContent(before);
        if (last) last.boundary = node.name === 'p' ? 'paragraph' : strongest(last.boundary, 'sentence');
      } else {
        run.push(node);
      }
    }
    flush();
  }

  /** The last non-break unit added since `from`. */
  lastContent(from: number): Unit | undefined {
    for (let i = this.out.length - 1; i >= from; i--) {
      const u = this.out[i];
      if (u && u.pauseMs === undefined) return u;
    }
    return undefined;
  }

  /**
   * Units of a run of text and inline elements: its sentences, found in a stand-in text where each
   * inline element is one placeholder character and entities are decoded, mapped back to source
   * offsets (so no sentence boundary can fall inside an element or an entity reference).
   */
  private run(nodes: readonly SsmlNode[], ancestors: readonly SsmlElement[]): void {
    let virtual = '';
    const at: number[] = [];
    /** Inline elements (and CDATA, comments) by their placeholder's index in `virtual`. */
    const inline = new Map<number, SsmlNode>();
    let speaks = false;
    for (const node of nodes) {
      if (node.kind === 'text') {
        for (const { char, starts } of decodedChars(this.doc.source, node.start, node.end)) {
          at.push(...starts);
          virtual += char;
          speaks ||= /\S/u.test(char);
        }
      } else {
        inline.set(virtual.length, node);
        at.push(node.start);
        virtual += OBJECT;
        speaks ||= saysSomething(node);
      }
    }
    const runEnd = nodes.at(-1)?.end ?? 0;
    at.push(runEnd);
    if (!speaks) {
      this.silent([...inline.values()], ancestors);
      return;
    }
    const src = (i: number): number => at[i] ?? runEnd;
    const sentences = splitSentences(virtual, { language: this.language, maxChars: Number.MAX_SAFE_INTEGER });
    const says = (from: number, to: number): boolean => speaksIn(virtual, inline, from, to);
    sentences.forEach((s, k) => {
      const next = sentences[k + 1];
      const boundary = next ? between(virtual, s.end, next.start, s.text) : classify(s.text);
      const start = src(s.start);
      const end = src(s.end);
      if (!says(s.start, s.end)) {
        // A "sentence" of marks or breaks alone (`Hello. <mark/>`) says nothing.
        this.silent(inlineIn(inline, s.start, s.end), ancestors);
        return;
      }
      if (this.alone(start, end, ancestors) <= this.maxBytes) {
        this.out.push({ start, end, ancestors, boundary });
        return;
      }
      this.tooLong(virtual, s.start, s.end, src, inline, ancestors, boundary);
    });
  }

  /**
   * Inline nodes that say nothing: marks, comments, containers holding only breaks and marks. A
   * <mark> is a timepoint the caller asked for, so it goes out as a unit of its own (never a
   * request alone); the breaks inside containers become breaks like any other; comments are dropped.
   */
  private silent(nodes: readonly SsmlNode[], ancestors: readonly SsmlElement[]): void {
    for (const node of nodes) {
      if (node.kind !== 'element') continue;
      if (node.children.length > 0) this.container(node.children, [...ancestors, node]);
      else this.out.push({ start: node.start, end: node.end, ancestors, boundary: 'word', silent: true });
    }
  }

  /** A sentence that does not fit a chunk alone: cut at clauses and words, or inside its containers. */
  private tooLong(
    virtual: string,
    from: number,
    to: number,
    src: (i: number) => number,
    inline: ReadonlyMap<number, SsmlNode>,
    ancestors: readonly SsmlElement[],
    boundary: ChunkBoundary,
  ): void {
    const fits = (a: number, b: number): boolean => this.alone(src(a), src(b), ancestors) <= this.maxBytes;
    const tooLarge = (what: string, at: number, bytes: number): PermanentError =>
      new PermanentError(TTS_ERROR_CODES.inputTooLarge, `${what} (offset ${at}, ${bytes} bytes with its enclosing tags) cannot be split and does not fit one request of ${this.maxBytes} bytes`);
    const before = this.out.length;
    let pos = from;
    while (pos < to) {
      // The first inline element from `pos` that does not fit a chunk alone, if any.
      let element = pos;
      while (element < to && !(inline.has(element) && !fits(element, element + 1))) element++;
      if (element > pos) {
        const cuts = cutToFit(virtual, pos, element, fits, this.maxBytes);
        if (!cuts) {
          // Only the enclosing tags can make a single character not fit: they alone are too long.
          throw tooLarge(`the text inside <${ancestors.map((a) => a.name).join('><')}>`, src(pos), this.alone(src(pos), src(pos + 1), ancestors));
        }
        for (const c of cuts) {
          if (speaksIn(virtual, inline, c.start, c.end)) this.out.push({ start: src(c.start), end: src(c.end), ancestors, boundary: c.boundary });
          else this.silent(inlineIn(inline, c.start, c.end), ancestors);
        }
      }
      const node = inline.get(element);
      if (element >= to || !node) break;
      if (node.kind === 'element' && SPLITTABLE.has(node.name)) {
        this.container(node.children, [...ancestors, node]);
      } else {
        throw tooLarge(node.kind === 'element' ? `an SSML <${node.name}> element` : `an SSML ${node.kind}`, node.start, this.alone(node.start, node.end, ancestors));
      }
      pos = element + 1;
    }
    const last = this.lastContent(before);
    if (last) last.boundary = boundary;
  }
}

/** Whether virtual[from, to) of a run says anything: a letter, or an inline element that speaks. */
function speaksIn(virtual: string, inline: ReadonlyMap<number, SsmlNode>, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const node = inline.get(i);
    if (node ? saysSomething(node) : /\S/u.test(virtual[i] ?? '')) return true;
  }
  return false;
}

/** The inline nodes whose placeholders lie in [from, to). */
function inlineIn(inline: ReadonlyMap<number, SsmlNode>, from: number, to: number): SsmlNode[] {
  return [...inline.entries()].filter(([i]) => i >= from && i < to).map(([, node]) => node);
}

/** Whether a node makes the voice say (or play) anything: text, a `<sub>`, an `<audio>`. */
function saysSomething(node: SsmlNode): boolean {
  switch (node.kind) {
    case 'text':
    case 'cdata':
      return /\S/u.test(node.text);
    case 'element':
      if (node.name === 'audio' || (node.name === 'sub' && /\S/u.test(node.attributes.alias ?? ''))) return true;
      if (node.name === 'break' || node.name === 'mark' || node.name === 'desc') return false;
      return node.children.some(saysSomething);
    default:
      return false;
  }
}

const STRENGTH: Readonly<Record<ChunkBoundary, number>> = { end: 6, paragraph: 5, break: 4, sentence: 3, clause: 2, word: 1 };

function strongest(a: ChunkBoundary, b: ChunkBoundary): ChunkBoundary {
  return STRENGTH[a] >= STRENGTH[b] ? a : b;
}

/**
 * The characters of a text node's source with entities decoded, each with the source offsets of
 * its UTF-16 units (an entity reference's character maps every unit to the reference's start).
 */
function* decodedChars(source: string, start: number, end: number): Generator<{ char: string; starts: number[] }> {
  const entity = /&(#x[0-9A-Fa-f]+|#[0-9]+|[A-Za-z]+);/y;
  let i = start;
  while (i < end) {
    if (source[i] === '&') {
      entity.lastIndex = i;
      const m = entity.exec(source);
      if (m && entity.lastIndex <= end) {
        const char = decodeEntities(m[0]);
        if (char !== m[0]) {
          yield { char, starts: char.length === 2 ? [i, i] : [i] };
          i = entity.lastIndex;
          continue;
        }
      }
    }
    const width = (source.codePointAt(i) ?? 0) > 0xffff ? 2 : 1;
    yield { char: source.slice(i, i + width), starts: width === 2 ? [i, i + 1] : [i] };
    i += width;
  }
}

/**
 * A chunk being assembled: the SSML written so far (without the end tags still owed), the elements
 * open at its end, and where its last unit ended in the source. Sizes are tracked incrementally:
 * serializing every candidate afresh would be quadratic in the units of a chunk.
 */
class ChunkBuilder {
  private text: string;
  private bytes: number;
  private stack: readonly SsmlElement[] = [];
  private prevEnd: number | undefined;
  readonly units: Unit[] = [];

  constructor(
    private readonly doc: SsmlDocument,
    speakOpen: string,
    private readonly speakClose: string,
  ) {
    this.text = speakOpen;
    this.bytes = utf8Bytes(speakOpen);
  }

  /** What appending `list` would write, and the elements open after it. */
  private append(list: readonly Unit[]): { text: string; stack: readonly SsmlElement[]; prevEnd: number | undefined } {
    let out = '';
    let stack = this.stack;
    let prevEnd = this.prevEnd;
    for (const u of list) {
      let common = 0;
      while (common < stack.length && common < u.ancestors.length && stack[common] === u.ancestors[common]) common++;
      for (let i = stack.length - 1; i >= common; i--) out += endTag(this.doc, stack[i] as SsmlElement);
      // White space between two units in the source becomes one space (never significant in SSML text).
      if (prevEnd !== undefined && /\s/u.test(this.doc.source.slice(prevEnd, u.start).replace(/<[^>]*>/gu, ''))) out += ' ';
      for (let i = common; i < u.ancestors.length; i++) out += startTag(this.doc, u.ancestors[i] as SsmlElement);
      out += this.doc.source.slice(u.start, u.end);
      stack = u.ancestors;
      prevEnd = u.end;
    }
    return { text: out, stack, prevEnd };
  }

  private closing(stack: readonly SsmlElement[]): string {
    let out = '';
    for (let i = stack.length - 1; i >= 0; i--) out += endTag(this.doc, stack[i] as SsmlElement);
    return out + this.speakClose;
  }

  get empty(): boolean {
    return this.units.length === 0;
  }

  /** Bytes of the finished chunk if `list` were added. */
  sizeWith(list: readonly Unit[]): number {
    const next = this.append(list);
    return this.bytes + utf8Bytes(next.text) + utf8Bytes(this.closing(next.stack));
  }

  add(list: readonly Unit[]): void {
    const next = this.append(list);
    this.text += next.text;
    this.bytes += utf8Bytes(next.text);
    this.stack = next.stack;
    this.prevEnd = next.prevEnd;
    this.units.push(...list);
  }

  finish(): string {
    return this.text + this.closing(this.stack);
  }
}

/**
 * Packs units into chunks greedily. A chunk re-opens the elements its first unit lies inside and
 * closes whatever is open at its end. `<break>`s at a cut leave the chunks and become `pauseAfterMs`.
 */
function pack(doc: SsmlDocument, units: readonly Unit[], maxBytes: number): SpeechChunk[] {
  const chunks: SpeechChunk[] = [];
  const speakOpen = startTag(doc, doc.root);
  const speakClose = endTag(doc, doc.root);
  const fresh = (): ChunkBuilder => new ChunkBuilder(doc, speakOpen, speakClose);
  let current = fresh();
  /** Breaks after the chunk's last words: they stay in it only if more words follow in it. */
  let pending: Unit[] = [];
  const pauseOf = (list: readonly Unit[]): number => list.reduce((sum, b) => sum + (b.pauseMs ?? 0), 0);

  /** Breaks before the first words that did not fit in the first chunk with them. */
  let leadingPause = 0;
  const emit = (builder: ChunkBuilder, boundary: ChunkBoundary, pauseAfterMs: number): void => {
    const first = builder.units[0];
    const last = builder.units.at(-1);
    if (!first || !last) return;
    if (builder.units.every((u) => u.silent === true || u.pauseMs !== undefined)) {
      // Nothing to say (marks and breaks only): no request; its breaks join the pause at the cut.
      const pause = pauseOf(builder.units) + pauseAfterMs;
      if (chunks.length > 0) addPauseToPrevious(pause);
      else leadingPause += pause;
      return;
    }
    const ssml = builder.finish();
    const pauseBeforeMs = chunks.length === 0 ? leadingPause : 0;
    chunks.push({
      input: { ssml },
      bytes: utf8Bytes(ssml),
      boundary,
      ...(pauseAfterMs > 0 ? { pauseAfterMs } : {}),
      ...(pauseBeforeMs > 0 ? { pauseBeforeMs } : {}),
      sourceStart: first.start,
      sourceEnd: last.end,
    });
  };
  const addPauseToPrevious = (ms: number): void => {
    const previous = chunks.at(-1);
    if (previous) chunks[chunks.length - 1] = { ...previous, boundary: 'break', pauseAfterMs: (previous.pauseAfterMs ?? 0) + ms };
  };

  for (const unit of units) {
    if (unit.pauseMs !== undefined) {
      // A break before any words of the chunk: it belongs to the cut before it (or, before the
      // first words of all, to the audio's start, where the engine says it).
      if (current.empty && chunks.length > 0) addPauseToPrevious(unit.pauseMs);
      else pending.push(unit);
      continue;
    }
    const candidate = [...pending, unit];
    if (current.empty || current.sizeWith(candidate) <= maxBytes) {
      if (current.empty && current.sizeWith(candidate) > maxBytes) {
        // Breaks before the very first words that do not fit in one request with them (only a
        // first unit that nearly fills a request alone can cause this): silence before the chunk.
        leadingPause += pauseOf(pending);
        current.add([unit]);
      } else {
        current.add(candidate);
      }
      pending = [];
      continue;
    }
    emit(current, pending.length > 0 ? 'break' : (current.units.at(-1)?.boundary ?? 'sentence'), pauseOf(pending));
    current = fresh();
    current.add([unit]);
    pending = [];
  }
  if (!current.empty) {
    // Breaks after the last words stay in the last chunk when they fit: they are the audio's end.
    if (pending.length > 0 && current.sizeWith(pending) <= maxBytes) {
      current.add(pending);
      pending = [];
    }
    emit(current, 'end', pauseOf(pending));
  } else if (pending.length > 0) {
    addPauseToPrevious(pauseOf(pending));
  }
  const lastChunk = chunks.at(-1);
  if (lastChunk) chunks[chunks.length - 1] = { ...lastChunk, boundary: 'end' };
  return chunks;
}
