/**
 * Text normalization for matching only: keyword search, term extraction, "is this the same word".
 * Stored and displayed text is never normalized; instead {@link normalizeWithMap} keeps, for every
 * UTF-16 unit of the normalized string, the range of the original string it came from, so a match
 * found in normalized text can be highlighted in the original.
 *
 * All offsets are UTF-16 code-unit offsets, the unit of `String.prototype.slice`.
 *
 * The input is processed one cluster at a time (a code point with the combining marks that follow
 * it), which is what makes the offset map exact: NFKC composes only inside such a cluster (plus
 * Hangul conjoining jamo, which are kept in the cluster too), and every later step maps a cluster to
 * a string without looking at its neighbours. Every output unit of a cluster maps to the whole
 * cluster, so highlighting `a` in `á` highlights the accent too.
 */

/** Choices for {@link normalizeForMatch} and {@link normalizeWithMap}. */
export interface NormalizeOptions {
  /**
   * Fold diacritics of Latin letters (NFD, then drop the combining marks; also ł→l, ø→o, đ→d, ħ→h,
   * ŧ→t, which do not decompose). Only letters of the Latin script are folded: dropping marks from
   * Devanagari, Cyrillic й or Greek would change letters, not accents. Default `false`; keyword
   * terms ({@link ../text/terms.js}) turn it on.
   */
  foldDiacritics?: boolean;
  /**
   * Map taa marbuta ة to heh ه. Default `true`. Word-final ة and ه are written interchangeably in
   * much real Arabic text (مدرسة / مدرسه), and both the Larkey–Ballesteros–Connell light-stemming
   * normalizer and Lucene's `ArabicNormalizer` fold it for that reason. The price is that a few word
   * pairs that differ only there become equal, which keyword search tolerates.
   */
  taaMarbutaToHeh?: boolean;
}

/** A normalized string and where each of its UTF-16 units came from in the original. */
export interface NormalizedText {
  /** The normalized string. */
  readonly text: string;
  /** For each unit `i` of `text`, the original offset where its source cluster starts. */
  readonly starts: readonly number[];
  /** For each unit `i` of `text`, the original offset where its source cluster ends (exclusive). */
  readonly ends: readonly number[];
  /** Length of the original string. */
  readonly originalLength: number;
}

/** Directional formatting characters: LRM, RLM, ALM, LRE…RLO (U+202A–E), LRI…PDI (U+2066–9). */
const BIDI_CONTROLS = /[\u200E\u200F\u061C\u202A-\u202E\u2066-\u2069]/g;

/**
 * Removes bidirectional formatting characters (LRM U+200E, RLM U+200F, ALM U+061C, the embeddings
 * and overrides U+202A–U+202E and the isolates U+2066–U+2069). They carry no letters but break
 * equality: `pdftotext` wraps visually-ordered Arabic in U+202B…U+202C.
 */
export function stripBidiControls(s: string): string {
  return s.replace(BIDI_CONTROLS, '');
}

/**
 * Invisible characters dropped for matching: the bidi controls above, zero-width space / non-joiner
 * / joiner (U+200B–U+200D), BOM / zero-width no-break space (U+FEFF), and also soft hyphen (U+00AD),
 * word joiner (U+2060) and Mongolian vowel separator (U+180E), which OCR and PDF text layers leave
 * inside words.
 */
const INVISIBLE = /^[\u200B-\u200F\u061C\u202A-\u202E\u2066-\u2069\uFEFF\u00AD\u2060\u180E]+$/;

/** Arabic harakat/tanween/shadda/sukun and Quranic marks (U+064B–U+065F, U+0670, U+06D6–U+06ED) and tatweel U+0640. */
const ARABIC_REMOVE = /[\u064B-\u065F\u0670\u06D6-\u06ED\u0640]/g;

/** Letter unification for Arabic-script matching (applied after NFKC). */
const ARABIC_LETTERS: Readonly<Record<string, string>> = {
  '\u0623': '\u0627', // أ alef with hamza above → ا
  '\u0625': '\u0627', // إ alef with hamza below → ا
  '\u0622': '\u0627', // آ alef with madda → ا
  '\u0671': '\u0627', // ٱ alef wasla → ا
  '\u0672': '\u0627', // ٲ alef with wavy hamza above → ا
  '\u0673': '\u0627', // ٳ alef with wavy hamza below → ا
  '\u0649': '\u064A', // ى alef maksura → ي
  '\u06CC': '\u064A', // ی Farsi yeh → ي
  '\u06A9': '\u0643', // ک keheh (Farsi kaf) → ك, as Lucene's PersianNormalizer does
  '\u0624': '\u0648', // ؤ waw with hamza → و
  '\u0626': '\u064A', // ئ yeh with hamza → ي
  '\u066B': '.', // ٫ Arabic decimal separator, so ٣٫١٤ matches 3.14
  '\u066C': ',', // ٬ Arabic thousands separator
};
const ARABIC_LETTER_CLASS = /[\u0622\u0623\u0624\u0625\u0626\u0649\u0671\u0672\u0673\u06A9\u06CC\u066B\u066C]/g;

/** Latin letters that carry a "diacritic" NFD does not separate. */
const LATIN_EXTRA_FOLDS: Readonly<Record<string, string>> = { ł: 'l', ø: 'o', đ: 'd', ħ: 'h', ŧ: 't' };
const LATIN_EXTRA_CLASS = /[łøđħŧ]/g;
const COMBINING = /\p{M}/gu;
const LATIN_BASE = /^\p{Script=Latin}/u;

/** Arabic-Indic (U+0660–9) and Eastern Arabic-Indic (U+06F0–9) digits → ASCII. */
const ARABIC_DIGITS = /[\u0660-\u0669\u06F0-\u06F9]/g;

/**
 * One cluster: a run of ASCII that is not followed by a combining mark (fast path, only lowercased),
 * or one code point with its combining marks (and Hangul conjoining vowels/finals), or stray marks.
 */
const CLUSTER = /([\0-\x7F]+(?![\p{M}\u1160-\u11FF\uD7B0-\uD7FF]))|[^\p{M}\u1160-\u11FF\uD7B0-\uD7FF][\p{M}\u1160-\u11FF\uD7B0-\uD7FF]*|[\p{M}\u1160-\u11FF\uD7B0-\uD7FF]+/suy;

interface Settings {
  readonly foldDiacritics: boolean;
  readonly taaMarbutaToHeh: boolean;
}

function settings(options: NormalizeOptions | undefined): Settings {
  return { foldDiacritics: options?.foldDiacritics ?? false, taaMarbutaToHeh: options?.taaMarbutaToHeh ?? true };
}

/** Normalizes one non-ASCII cluster. Pure: the same cluster always gives the same string. */
function normalizeCluster(cluster: string, o: Settings): string {
  if (INVISIBLE.test(cluster)) return '';
  // NFKC, then a full case fold approximated by upper-then-lower (ß→ss, ς→σ), then NFKC again
  // because case mapping can leave a string unnormalized.
  let s = cluster.normalize('NFKC').toUpperCase().toLowerCase().normalize('NFKC');
  if (o.foldDiacritics && LATIN_BASE.test(s)) {
    s = s.normalize('NFD').replace(COMBINING, '').replace(LATIN_EXTRA_CLASS, (c) => LATIN_EXTRA_FOLDS[c] ?? c).normalize('NFC');
  }
  s = s.replace(ARABIC_REMOVE, '').replace(ARABIC_LETTER_CLASS, (c) => ARABIC_LETTERS[c] ?? c);
  if (o.taaMarbutaToHeh) s = s.replace(/\u0629/g, '\u0647');
  s = s.replace(ARABIC_DIGITS, (d) => {
    const code = d.charCodeAt(0);
    return String(code - (code >= 0x06f0 ? 0x06f0 : 0x0660));
  });
  // Invisible characters can also come out of NFKC (e.g. inside compatibility sequences).
  return s.replace(/[\u200B-\u200F\u061C\u202A-\u202E\u2066-\u2069\uFEFF\u00AD\u2060\u180E]/g, '');
}

/** Shared core: the normalized string, and the offset map when `map` is true. */
function run(s: string, options: NormalizeOptions | undefined, map: boolean): { text: string; starts: number[]; ends: number[] } {
  const o = settings(options);
  const cache = new Map<string, string>();
  const parts: string[] = [];
  const starts: number[] = [];
  const ends: number[] = [];
  const re = new RegExp(CLUSTER.source, CLUSTER.flags);
  let pos = 0;
  while (pos < s.length) {
    re.lastIndex = pos;
    const m = re.exec(s);
    // Every position matches one alternative, so `m` is never null; keep a guard for safety.
    const piece = m ? m[0] : s.slice(pos, pos + 1);
    const end = pos + piece.length;
    let out: string;
    if (m?.[1] !== undefined) {
      out = piece.toLowerCase();
      if (map) {
        for (let i = pos; i < end; i++) {
          starts.push(i);
          ends.push(i + 1);
        }
      }
    } else {
      let cached = cache.get(piece);
      if (cached === undefined) {
        cached = normalizeCluster(piece, o);
        if (cache.size < 50_000) cache.set(piece, cached);
      }
      out = cached;
      if (map) {
        for (let i = 0; i < out.length; i++) {
          starts.push(pos);
          ends.push(end);
        }
      }
    }
    parts.push(out);
    pos = end;
  }
  return { text: parts.join(''), starts, ends };
}

/**
 * The form of `s` used to compare text: NFKC; case-folded; bidi controls and zero-width characters
 * removed; Arabic diacritics (tashkeel, Quranic marks) and tatweel removed; alef variants (أ إ آ ٱ)
 * → ا; ى and Farsi ی → ي; ة → ه (see {@link NormalizeOptions.taaMarbutaToHeh}); ؤ → و, ئ → ي;
 * Arabic-Indic and Eastern Arabic-Indic digits → ASCII; Latin diacritics folded when asked.
 * The result can be shorter or longer than `s`: use {@link normalizeWithMap} to map back.
 */
export function normalizeForMatch(s: string, options?: NormalizeOptions): string {
  return run(s, options, false).text;
}

/**
 * {@link normalizeForMatch} with an offset map back to the original: `starts[i]`/`ends[i]` is the
 * range of `s` that produced unit `i` of the normalized text. `text` is always exactly
 * `normalizeForMatch(s, options)`.
 */
export function normalizeWithMap(s: string, options?: NormalizeOptions): NormalizedText {
  const { text, starts, ends } = run(s, options, true);
  return { text, starts, ends, originalLength: s.length };
}

/**
 * The range of the original string that produced `normalized.text.slice(start, end)`. The range
 * always covers whole source clusters (an accent or ligature is never cut). An empty range maps to
 * an empty range at the corresponding original position.
 */
export function toOriginalRange(normalized: NormalizedText, start: number, end: number): { start: number; end: number } {
  const n = normalized.text.length;
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > n || start > end) {
    throw new RangeError(`range [${start}, ${end}) is outside the normalized text of length ${n}`);
  }
  const at = (i: number): number => (i < n ? (normalized.starts[i] ?? normalized.originalLength) : normalized.originalLength);
  if (start === end) {
    const p = at(start);
    return { start: p, end: p };
  }
  return { start: at(start), end: normalized.ends[end - 1] ?? normalized.originalLength };
}

/**
 * Every place `query` occurs in `text` after both are normalized, as ranges of the original `text`
 * (non-overlapping, in order): what a client highlights in a snippet. An empty normalized query
 * matches nothing.
 */
export function findMatches(text: string, query: string, options?: NormalizeOptions): { start: number; end: number }[] {
  const needle = normalizeForMatch(query, options);
  if (needle.length === 0) return [];
  const hay = normalizeWithMap(text, options);
  const out: { start: number; end: number }[] = [];
  for (let i = hay.text.indexOf(needle); i !== -1; i = hay.text.indexOf(needle, i + needle.length)) {
    out.push(toOriginalRange(hay, i, i + needle.length));
  }
  return out;
}
