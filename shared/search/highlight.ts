/**
 * Snippets with highlights. A result carries `snippet` (a plain excerpt of the chunk's original
 * text, whitespace runs collapsed to one space) and `highlights` ([start, end) UTF-16 offsets into
 * `snippet`): clients render them as they like (the CLI with «…»), and the text itself is never
 * altered by markup. A word is highlighted when one of its terms (made as the index makes them:
 * normalized, stemmed) is a query term, so `jumping` lights up for `jumped`; the whole query, when it
 * occurs as a phrase, is found with {@link findMatches} (normalized → original offsets). Pure.
 */
import { findMatches } from '../text/normalize.js';
import { terms } from '../text/terms.js';

export interface Range {
  readonly start: number;
  readonly end: number;
}

/** A word as the keyword tokenizer sees one: letters/digits with marks, joined by reference connectors. */
const WORD = /(?:§\s?)?[\p{L}\p{N}][\p{L}\p{M}\p{N}]*(?:[-.:/_\u2010'\u2019\u02BC][\p{L}\p{N}][\p{L}\p{M}\p{N}]*)*/gu;

/** Merges overlapping or touching ranges, in order. */
export function mergeRanges(ranges: readonly Range[]): Range[] {
  const sorted = [...ranges].sort((a, b) => a.start - b.start || a.end - b.end);
  const out: Range[] = [];
  for (const r of sorted) {
    const last = out.at(-1);
    if (last && r.start <= last.end) out[out.length - 1] = { start: last.start, end: Math.max(last.end, r.end) };
    else out.push({ start: r.start, end: r.end });
  }
  return out;
}

/**
 * Ranges of `text` (original offsets) matching the query: every word whose terms meet `queryTerms`
 * (made with `language`, stopwords kept so a stopword-only query still lights up), and the query
 * as a whole phrase.
 */
export function matchRanges(text: string, query: string, queryTerms: readonly string[], language: string): Range[] {
  const wanted = new Set(queryTerms);
  const found: Range[] = [];
  if (wanted.size > 0) {
    for (const m of text.matchAll(WORD)) {
      const ts = terms(m[0], { language, stopwords: false });
      if (ts.some((t) => wanted.has(t))) found.push({ start: m.index, end: m.index + m[0].length });
    }
  }
  const phrase = query.trim();
  if (phrase.length > 0 && /\s/.test(phrase)) found.push(...findMatches(text, phrase, { foldDiacritics: true }));
  return mergeRanges(found);
}

/** Default snippet length in UTF-16 units (before whitespace is collapsed). */
export const SNIPPET_CHARS = 240;

/**
 * An excerpt of `text` of about `size` units around the densest cluster of `ranges` (the start of
 * the text when there are none), cut at spaces, whitespace collapsed, with `…` where it was cut,
 * and the ranges inside it translated to its offsets.
 */
export function snippet(text: string, ranges: readonly Range[], size = SNIPPET_CHARS): { snippet: string; highlights: Range[] } {
  let from = 0;
  if (ranges.length > 0 && text.length > size) {
    const lead = Math.floor(size / 4);
    let best = -1;
    for (const r of ranges) {
      const start = Math.max(0, r.start - lead);
      const n = ranges.filter((o) => o.start >= start && o.end <= start + size).length;
      if (n > best) {
        best = n;
        from = start;
      }
    }
  }
  let to = Math.min(text.length, from + size);
  from = Math.max(0, Math.min(from, text.length - size));
  // Cut at whitespace so no word is halved (unless the text has none nearby).
  if (from > 0) {
    const ws = text.slice(from, from + 40).search(/\s/);
    if (ws >= 0) from += ws + 1;
  }
  if (to < text.length) {
    const back = text.slice(Math.max(from, to - 40), to).search(/\s\S*$/);
    if (back >= 0) to = Math.max(from, to - 40) + back;
  }
  // Collapse whitespace, keeping a map from window offsets to snippet offsets.
  const map: number[] = [];
  let out = '';
  let inSpace = false;
  for (let i = from; i < to; i++) {
    const c = text[i] ?? '';
    map.push(out.length);
    if (/\s/.test(c)) {
      if (!inSpace && out.length > 0) out += ' ';
      inSpace = true;
    } else {
      out += c;
      inSpace = false;
    }
  }
  map.push(out.length);
  const body = out.trimEnd();
  const prefix = from > 0 ? '…' : '';
  const suffix = to < text.length ? '…' : '';
  const highlights: Range[] = [];
  for (const r of ranges) {
    if (r.end <= from || r.start >= to) continue;
    const s = (map[Math.max(r.start, from) - from] ?? 0) + prefix.length;
    const e = Math.min(map[Math.min(r.end, to) - from] ?? body.length, body.length) + prefix.length;
    if (e > s) highlights.push({ start: s, end: e });
  }
  return { snippet: prefix + body + suffix, highlights: mergeRanges(highlights) };
}

/** `snippet` with its highlights wrapped in «…» (for terminals and logs). */
export function markHighlights(text: string, highlights: readonly Range[], open = '«', close = '»'): string {
  let out = '';
  let at = 0;
  for (const h of mergeRanges(highlights)) {
    out += text.slice(at, h.start) + open + text.slice(h.start, h.end) + close;
    at = h.end;
  }
  return out + text.slice(at);
}
