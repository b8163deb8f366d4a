/**
 * A small SSML reader: enough XML to split SSML between elements without ever cutting a tag, and
 * to turn SSML into what the local voices can say. Pure (no I/O).
 *
 * Why not an XML library: the planner needs every node's exact offsets in the source so a chunk is
 * made of verbatim slices of the input (attributes, entities and spacing untouched), and the
 * project has no XML parser dependency that reports them. The grammar SSML needs is small:
 * elements with quoted attributes, text with entity references, comments, CDATA sections,
 * processing instructions and a DOCTYPE before the root.
 *
 * Well-formedness is checked (names, quoting, nesting, entity syntax is not: Google judges that);
 * what an element means is not (an unknown element is kept and passed on).
 */
import { PermanentError } from '../../errors/index.js';
import { TTS_ERROR_CODES } from './types.js';

export interface SsmlText {
  readonly kind: 'text';
  readonly start: number;
  readonly end: number;
  /** The text with entity references decoded (`&amp;` → `&`). */
  readonly text: string;
}

/** A comment, CDATA section or processing instruction inside the document, kept verbatim. */
export interface SsmlOther {
  readonly kind: 'comment' | 'cdata' | 'pi';
  readonly start: number;
  readonly end: number;
  /** CDATA: its content; comments and processing instructions: ''. */
  readonly text: string;
}

export interface SsmlElement {
  readonly kind: 'element';
  /** As written (SSML is case-sensitive XML; the names it defines are lower case). */
  readonly name: string;
  readonly attributes: Readonly<Record<string, string>>;
  readonly start: number;
  /** Offset just past the start tag (`<p>`); equals `end` for an empty-element tag (`<break/>`). */
  readonly openEnd: number;
  /** Offset of the end tag (`</p>`); equals `end` for an empty-element tag. */
  readonly closeStart: number;
  readonly end: number;
  readonly selfClosing: boolean;
  readonly children: readonly SsmlNode[];
}

export type SsmlNode = SsmlText | SsmlOther | SsmlElement;

export interface SsmlDocument {
  readonly source: string;
  /** The `<speak>` root; for a fragment without one, a synthetic root spanning the whole input. */
  readonly root: SsmlElement;
  /** Whether `root` was written in the source (false: the fragment is to be wrapped in `<speak>`). */
  readonly hasSpeakRoot: boolean;
}

const NAME = /[A-Za-z_:][-A-Za-z0-9_:.]*/y;
const SPACE = /\s*/y;
const ATTRIBUTE = /([A-Za-z_:][-A-Za-z0-9_:.]*)\s*=\s*("[^"<]*"|'[^'<]*')/y;

function invalid(message: string, at: number, source: string): PermanentError {
  const line = source.slice(0, at).split('\n').length;
  return new PermanentError(TTS_ERROR_CODES.invalidSsml, `invalid SSML at line ${line} (offset ${at}): ${message}`);
}

/**
 * Parses SSML. Throws a PermanentError `INVALID_SSML` for markup that is not well-formed XML
 * (unclosed or mismatched tags, unquoted attributes, a `<` that starts no tag, text beside a
 * `<speak>` root). Input without a `<speak>` root is read as the content of one.
 */
export function parseSsml(source: string): SsmlDocument {
  interface Open {
    name: string;
    attributes: Record<string, string>;
    start: number;
    openEnd: number;
    children: SsmlNode[];
  }
  const top: SsmlNode[] = [];
  const stack: Open[] = [];
  const children = (): SsmlNode[] => stack.at(-1)?.children ?? top;
  let pos = 0;
  let textStart = 0;
  const flushText = (end: number): void => {
    if (end > textStart) children().push({ kind: 'text', start: textStart, end, text: decodeEntities(source.slice(textStart, end)) });
  };
  while (pos < source.length) {
    const lt = source.indexOf('<', pos);
    if (lt < 0) break;
    flushText(lt);
    if (source.startsWith('<!--', lt)) {
      const close = source.indexOf('-->', lt + 4);
      if (close < 0) throw invalid('unclosed comment', lt, source);
      children().push({ kind: 'comment', start: lt, end: close + 3, text: '' });
      pos = close + 3;
    } else if (source.startsWith('<![CDATA[', lt)) {
      const close = source.indexOf(']]>', lt + 9);
      if (close < 0) throw invalid('unclosed CDATA section', lt, source);
      children().push({ kind: 'cdata', start: lt, end: close + 3, text: source.slice(lt + 9, close) });
      pos = close + 3;
    } else if (source.startsWith('<?', lt)) {
      const close = source.indexOf('?>', lt + 2);
      if (close < 0) throw invalid('unclosed processing instruction', lt, source);
      children().push({ kind: 'pi', start: lt, end: close + 2, text: '' });
      pos = close + 2;
    } else if (source.startsWith('<!DOCTYPE', lt) || source.startsWith('<!doctype', lt)) {
      if (stack.length > 0) throw invalid('DOCTYPE inside an element', lt, source);
      // An internal subset ([...]) may hold '>': skip it whole.
      const bracket = source.indexOf('[', lt);
      const gt = source.indexOf('>', lt);
      const end = bracket >= 0 && bracket < gt ? source.indexOf('>', source.indexOf(']', bracket)) : gt;
      if (end < 0) throw invalid('unclosed DOCTYPE', lt, source);
      children().push({ kind: 'pi', start: lt, end: end + 1, text: '' });
      pos = end + 1;
    } else if (source[lt + 1] === '/') {
      NAME.lastIndex = lt + 2;
      const name = NAME.exec(source)?.[0];
      if (!name) throw invalid('an end tag without a name', lt, source);
      SPACE.lastIndex = lt + 2 + name.length;
      SPACE.exec(source);
      const gt = SPACE.lastIndex;
      if (source[gt] !== '>') throw invalid(`a broken end tag </${name}`, lt, source);
      const open = stack.pop();
      if (!open) throw invalid(`</${name}> closes nothing`, lt, source);
      if (open.name !== name) throw invalid(`</${name}> closes <${open.name}> (opened at offset ${open.start})`, lt, source);
      const element: SsmlElement = {
        kind: 'element',
        name,
        attributes: open.attributes,
        start: open.start,
        openEnd: open.openEnd,
        closeStart: lt,
        end: gt + 1,
        selfClosing: false,
        children: open.children,
      };
      children().push(element);
      pos = gt + 1;
    } else {
      NAME.lastIndex = lt + 1;
      const name = NAME.exec(source)?.[0];
      if (!name) throw invalid("'<' that starts no tag (write &lt; in text)", lt, source);
      let at = lt + 1 + name.length;
      const attributes: Record<string, string> = {};
      for (;;) {
        SPACE.lastIndex = at;
        SPACE.exec(source);
        const spaced = SPACE.lastIndex > at;
        at = SPACE.lastIndex;
        if (source[at] === '>' || source.startsWith('/>', at)) break;
        ATTRIBUTE.lastIndex = at;
        const m = spaced ? ATTRIBUTE.exec(source) : null;
        if (!m?.[1] || m[2] === undefined) throw invalid(`a broken start tag <${name} (attributes are name="value")`, lt, source);
        if (m[1] in attributes) throw invalid(`attribute ${m[1]} repeated in <${name}>`, lt, source);
        attributes[m[1]] = decodeEntities(m[2].slice(1, -1));
        at = ATTRIBUTE.lastIndex;
      }
      if (source[at] === '/') {
        children().push({ kind: 'element', name, attributes, start: lt, openEnd: at + 2, closeStart: at + 2, end: at + 2, selfClosing: true, children: [] });
        pos = at + 2;
      } else {
        stack.push({ name, attributes, start: lt, openEnd: at + 1, children: [] });
        pos = at + 1;
      }
    }
    textStart = pos;
  }
  if (pos < source.length || textStart < source.length) flushText(source.length);
  const unclosed = stack.at(-1);
  if (unclosed) throw invalid(`<${unclosed.name}> is never closed`, unclosed.start, source);

  const elements = top.filter((n): n is SsmlElement => n.kind === 'element');
  const speak = elements.length === 1 && elements[0]?.name === 'speak' ? elements[0] : undefined;
  if (speak) {
    const stray = top.find((n) => n.kind === 'text' && /\S/u.test(n.text));
    if (stray) throw invalid('text outside the <speak> element', stray.start, source);
    return { source, root: speak, hasSpeakRoot: true };
  }
  if (elements.some((e) => e.name === 'speak')) throw invalid('<speak> must be the only root element', elements.find((e) => e.name === 'speak')?.start ?? 0, source);
  const root: SsmlElement = {
    kind: 'element',
    name: 'speak',
    attributes: {},
    start: 0,
    openEnd: 0,
    closeStart: source.length,
    end: source.length,
    selfClosing: false,
    children: top.filter((n) => n.kind !== 'pi'),
  };
  return { source, root, hasSpeakRoot: false };
}

const NAMED_ENTITIES: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** Decodes XML entity references; anything that is not one is left as written. */
export function decodeEntities(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(/&(#x[0-9A-Fa-f]+|#[0-9]+|[A-Za-z]+);/g, (whole, ref: string) => {
    if (ref.startsWith('#')) {
      const code = ref[1] === 'x' ? Number.parseInt(ref.slice(2), 16) : Number.parseInt(ref.slice(1), 10);
      return Number.isFinite(code) && code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
    }
    return NAMED_ENTITIES[ref] ?? whole;
  });
}

/** Escapes text for SSML content or a double-quoted attribute. */
export function escapeXml(s: string): string {
  return s.replace(/[&<>"]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : '&quot;'));
}

/** The start tag of `element` as written (`<speak xml:lang="en-US">`), or `<speak>` for a synthetic root. */
export function startTag(doc: SsmlDocument, element: SsmlElement): string {
  if (element === doc.root && !doc.hasSpeakRoot) return '<speak>';
  return doc.source.slice(element.start, element.openEnd);
}

/** The end tag of `element` as written, '' for an empty-element tag, `</speak>` for a synthetic root. */
export function endTag(doc: SsmlDocument, element: SsmlElement): string {
  if (element === doc.root && !doc.hasSpeakRoot) return '</speak>';
  return doc.source.slice(element.closeStart, element.end);
}

// ---------------------------------------------------------------------------------------------
// Breaks

/**
 * Pauses of `<break strength>` in ms. SSML 1.1 leaves the durations to the processor; these are
 * ours, chosen around the local voices' own pauses (a comma ~230 ms, a sentence end ~350 ms in
 * flite kal16). `medium` is also what a bare `<break/>` means.
 */
export const BREAK_STRENGTH_MS: Readonly<Record<string, number>> = {
  none: 0,
  'x-weak': 100,
  weak: 200,
  medium: 400,
  strong: 700,
  'x-strong': 1000,
};

/** Longest pause a single `<break>` gives locally: a safety cap of ours, not a documented Google limit. */
export const MAX_BREAK_MS = 10_000;

/** The pause a `<break>` asks for, in ms (`time` wins over `strength`; unreadable values: medium). */
export function breakMs(element: SsmlElement): number {
  const time = element.attributes.time?.trim();
  if (time) {
    const m = /^(\d+(?:\.\d+)?|\.\d+)\s*(ms|s)$/i.exec(time);
    if (m?.[1] && m[2]) {
      const value = Number(m[1]) * (m[2].toLowerCase() === 's' ? 1000 : 1);
      return Math.min(MAX_BREAK_MS, Math.round(value));
    }
  }
  return BREAK_STRENGTH_MS[element.attributes.strength?.trim() ?? 'medium'] ?? BREAK_STRENGTH_MS.medium ?? 400;
}

// ---------------------------------------------------------------------------------------------
// SSML → what a voice without SSML support can say

/** A stretch of text to synthesize, or a pause. */
export type SpeechPart = { readonly text: string } | { readonly pauseMs: number };

/**
 * What the local voices say for an SSML document: its text in order, with `<break>` turned into
 * pauses. The local voices read plain text, so most markup is reduced to its content, following
 * what the SSML spec asks of a processor that cannot honour an element:
 * - `<sub alias>` says the alias; `<say-as interpret-as="characters|spell-out|verbatim">` spells
 *   the letters out; other `say-as` kinds leave the voice's own text normalization to read the
 *   content (it reads numbers, dates, currency in its own way).
 * - `<audio>` cannot be fetched offline: its fallback content is said instead, `<desc>` is not.
 * - `<p>` and `<s>` end a sentence: a full stop is added when their text has none, so the voice
 *   pauses as it would between sentences.
 * - `<prosody>`, `<emphasis>`, `<phoneme>` (the alphabet is not understood), `<lang>`, `<voice>`,
 *   `<mark>` and unknown elements: only their content is said; their effect is lost locally.
 * Comments and processing instructions say nothing; CDATA content is text.
 */
export function ssmlToSpeechParts(doc: SsmlDocument): SpeechPart[] {
  const parts: SpeechPart[] = [];
  let text = '';
  const flush = (): void => {
    if (/\S/u.test(text)) parts.push({ text: text.replace(/\s+/gu, ' ').trim() });
    text = '';
  };
  const endSentence = (): void => {
    const trimmed = text.trimEnd();
    if (/\S/u.test(trimmed) && !/[.!?…。؟;:]["'”’»)\]]*$/u.test(trimmed)) text = `${trimmed}.`;
    text += '\n';
  };
  const visit = (node: SsmlNode): void => {
    if (node.kind === 'text' || node.kind === 'cdata') {
      text += node.text;
      return;
    }
    if (node.kind !== 'element') return;
    switch (node.name) {
      case 'break': {
        const ms = breakMs(node);
        flush();
        const last = parts.at(-1);
        if (last && 'pauseMs' in last) parts[parts.length - 1] = { pauseMs: last.pauseMs + ms };
        else if (ms > 0) parts.push({ pauseMs: ms });
        return;
      }
      case 'sub':
        text += ` ${node.attributes.alias ?? contentText(node)} `;
        return;
      case 'say-as': {
        const how = (node.attributes['interpret-as'] ?? '').toLowerCase();
        const content = contentText(node);
        text += how === 'characters' || how === 'spell-out' || how === 'verbatim' ? ` ${[...content.replace(/\s+/gu, '')].join(' ')} ` : content;
        return;
      }
      case 'desc':
      case 'mark':
        return;
      case 'p':
      case 's':
        endSentence();
        node.children.forEach(visit);
        endSentence();
        return;
      default:
        node.children.forEach(visit);
    }
  };
  doc.root.children.forEach(visit);
  flush();
  // Pauses at the very start or end are kept: the caller decides whether silence there matters.
  return parts;
}

/** The decoded text content of an element (CDATA included, `<desc>` excluded). */
export function contentText(element: SsmlElement): string {
  let out = '';
  const visit = (node: SsmlNode): void => {
    if (node.kind === 'text' || node.kind === 'cdata') out += node.text;
    else if (node.kind === 'element' && node.name !== 'desc') node.children.forEach(visit);
  };
  element.children.forEach(visit);
  return out;
}
