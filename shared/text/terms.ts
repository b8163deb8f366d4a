/**
 * Keyword terms for BM25-style search: the same function turns a document and a query into terms,
 * so whatever it decides (case, accents, Arabic letter variants, stopwords, stemming) it decides the
 * same way on both sides.
 *
 * A term is a normalized word: a run of letters (with their marks) and digits, after
 * {@link normalizeForMatch} with Latin diacritics folded. References written without spaces — `2:255`,
 * `3.14`, `§12`, `ISO-9001`, `e-mail`, `l'homme` — give the whole reference as one term *and* its
 * parts, so a query for `iso-9001` and one for `9001` both find it. Han and kana runs, which have no
 * spaces between words, give overlapping character bigrams (the usual CJK strategy, as Lucene's
 * CJKBigramFilter).
 */
import { normalizeForMatch } from './normalize.js';

/** Languages with a stopword list (and, for English, a stemmer). */
export const TERM_LANGUAGES = ['en', 'de', 'fr', 'id', 'ar'] as const;
export type TermLanguage = (typeof TERM_LANGUAGES)[number];

/** Choices for {@link terms}, {@link termFrequencies} and {@link queryTerms}. */
export interface TermsOptions {
  /**
   * Language of the text: ISO 639-1 (`en`) or 639-3 (`eng`, as {@link ../engines/language.js}
   * stores), a BCP 47 tag (`en-GB`) works too. Unknown or absent: no stopwords and no stemming.
   */
  language?: string;
  /** Drop the language's stopwords. Default `true`. */
  stopwords?: boolean;
  /** Stem English words with {@link stemEnglish}. Default `true` when the language is English; ignored otherwise. */
  stem?: boolean;
}

/** Terms longer than this (UTF-16 units) are dropped: base64, hashes and run-together garbage are not words anyone searches. */
export const MAX_TERM_LENGTH = 64;

const ISO_639: Readonly<Record<string, TermLanguage>> = {
  en: 'en',
  eng: 'en',
  de: 'de',
  deu: 'de',
  ger: 'de',
  fr: 'fr',
  fra: 'fr',
  fre: 'fr',
  id: 'id',
  ind: 'id',
  ar: 'ar',
  ara: 'ar',
  arb: 'ar',
};

/** The supported language a code names, or `undefined`. */
export function termLanguage(code: string | undefined): TermLanguage | undefined {
  if (code === undefined) return undefined;
  const primary = code.trim().toLowerCase().split(/[-_]/)[0] ?? '';
  return ISO_639[primary];
}

/**
 * Short stopword lists: only function words so frequent that they carry no search value. Sources:
 * - en: Lucene's `EnglishAnalyzer.ENGLISH_STOP_WORDS_SET` (the classic 33 words), complete.
 * - de, fr: hand-picked subsets of the Snowball stop lists (snowballstem.org/algorithms/german/stop.txt,
 *   .../french/stop.txt): articles, pronouns, the commonest prepositions, conjunctions and auxiliaries.
 * - id: a subset of Tala's list (F. Z. Tala, "A Study of Stemming Effects on Information Retrieval in
 *   Bahasa Indonesia", 2003), the default of Lucene's `IndonesianAnalyzer`.
 * - ar: a subset of Lucene's `ArabicAnalyzer` stopwords.txt. على is left out on purpose: after
 *   normalization (ى → ي) it equals the name علي (Ali), which must stay searchable.
 * Lists are normalized with the same function as the text, so variants (daß/dass, إلى/الى) match.
 */
const STOPWORD_SOURCES: Readonly<Record<TermLanguage, readonly string[]>> = {
  en: ['a', 'an', 'and', 'are', 'as', 'at', 'be', 'but', 'by', 'for', 'if', 'in', 'into', 'is', 'it', 'no', 'not', 'of', 'on', 'or', 'such', 'that', 'the', 'their', 'then', 'there', 'these', 'they', 'this', 'to', 'was', 'will', 'with'],
  de: ['aber', 'als', 'am', 'an', 'auch', 'auf', 'aus', 'bei', 'bis', 'das', 'dass', 'daß', 'dem', 'den', 'der', 'des', 'die', 'du', 'ein', 'eine', 'einem', 'einen', 'einer', 'eines', 'er', 'es', 'für', 'hat', 'ich', 'ihr', 'im', 'in', 'ist', 'mit', 'nach', 'nicht', 'noch', 'oder', 'sich', 'sie', 'sind', 'so', 'über', 'und', 'vom', 'von', 'war', 'wie', 'wir', 'wird', 'zu', 'zum', 'zur'],
  fr: ['à', 'au', 'aux', 'avec', 'ce', 'ces', 'dans', 'de', 'des', 'du', 'elle', 'en', 'est', 'et', 'été', 'être', 'il', 'ils', 'je', 'la', 'le', 'les', 'leur', 'lui', 'mais', 'me', 'ne', 'nous', 'on', 'ou', 'par', 'pas', 'pour', 'qu', 'que', 'qui', 'sa', 'se', 'ses', 'son', 'sur', 'un', 'une', 'vous'],
  id: ['ada', 'adalah', 'akan', 'atau', 'bahwa', 'dalam', 'dan', 'dari', 'dengan', 'di', 'dia', 'ini', 'itu', 'juga', 'ke', 'karena', 'kami', 'kita', 'mereka', 'oleh', 'pada', 'saya', 'sebagai', 'sudah', 'telah', 'tersebut', 'tidak', 'untuk', 'yang'],
  ar: ['في', 'من', 'إلى', 'الى', 'عن', 'مع', 'هذا', 'هذه', 'ذلك', 'تلك', 'التي', 'الذي', 'الذين', 'ثم', 'أو', 'أن', 'إن', 'لا', 'ما', 'لم', 'لن', 'قد', 'كان', 'كانت', 'هو', 'هي', 'هم', 'كل', 'بين', 'عند', 'حتى', 'إذا'],
};

const MATCH_OPTIONS = { foldDiacritics: true } as const;

let stopwordSets: Map<TermLanguage, ReadonlySet<string>> | undefined;

/** The normalized stopword set of a language (empty for an unsupported one). */
export function stopwordsFor(language: string | undefined): ReadonlySet<string> {
  const lang = termLanguage(language);
  if (lang === undefined) return new Set();
  stopwordSets ??= new Map(TERM_LANGUAGES.map((l) => [l, new Set(STOPWORD_SOURCES[l].map((w) => normalizeForMatch(w, MATCH_OPTIONS)))]));
  return stopwordSets.get(lang) ?? new Set();
}

// ---------------------------------------------------------------------------------------------
// English stemming: Porter2 ("English" Snowball stemmer) steps 0, 1a, 1b and 1c only — the
// inflectional suffixes (plural -s/-es/-ies, -ed, -ing, possessive 's, final -y). The derivational
// steps 2–5 are left out: they conflate words of different meaning (university/universe,
// general/generic) and a measured test shows the inflectional steps carry the recall gain.
// ---------------------------------------------------------------------------------------------

const PORTER2_EXCEPTIONS: Readonly<Record<string, string>> = {
  skis: 'ski',
  skies: 'sky',
  dying: 'die',
  lying: 'lie',
  tying: 'tie',
  idly: 'idl',
  gently: 'gentl',
  ugly: 'ugli',
  early: 'earli',
  only: 'onli',
  singly: 'singl',
  sky: 'sky',
  news: 'news',
  howe: 'howe',
  atlas: 'atlas',
  cosmos: 'cosmos',
  bias: 'bias',
  andes: 'andes',
};
const AFTER_1A_INVARIANT = new Set(['inning', 'outing', 'canning', 'herring', 'earring', 'proceed', 'exceed', 'succeed']);

const isVowel = (c: string | undefined): boolean => c === 'a' || c === 'e' || c === 'i' || c === 'o' || c === 'u' || c === 'y';

/** Porter2 R1: the region after the first non-vowel that follows a vowel (with its three exceptions). */
function r1Start(w: string): number {
  for (const prefix of ['gener', 'commun', 'arsen']) if (w.startsWith(prefix)) return prefix.length;
  for (let i = 1; i < w.length; i++) if (!isVowel(w[i]) && isVowel(w[i - 1])) return i + 1;
  return w.length;
}

/** Porter2 short syllable ending at the end of `w` (Y is the consonant y). */
function endsWithShortSyllable(w: string): boolean {
  const n = w.length;
  if (n === 2) return isVowel(w[0]) && !isVowel(w[1]);
  if (n < 3) return false;
  const [a, b, c] = [w[n - 3], w[n - 2], w[n - 1]];
  return !isVowel(a) && isVowel(b) && !isVowel(c) && c !== 'w' && c !== 'x' && c !== 'Y';
}

const hasVowel = (s: string): boolean => /[aeiouy]/.test(s);

/**
 * A light English stemmer: Porter2 steps 0, 1a, 1b and 1c (inflections only), with Porter2's
 * exceptional forms. Deterministic and idempotent on its own output for ordinary words
 * (`jumped`, `jumping`, `jumps` → `jump`; `cities` → `citi`, `city` → `citi`). Words that are not
 * lowercase a–z (and apostrophes) are returned unchanged.
 */
export function stemEnglish(word: string): string {
  if (!/^[a-z']+$/.test(word) || word.length <= 2) return word;
  const exception = PORTER2_EXCEPTIONS[word];
  if (exception !== undefined) return exception;
  // Consonant y: initial, or after a vowel.
  let w = word.replace(/^y/, 'Y').replace(/([aeiouy])y/g, '$1Y');
  // Step 0: possessives.
  w = w.replace(/'(s'?)?$/, '');
  const r1 = r1Start(w);
  // Step 1a.
  if (w.endsWith('sses')) w = w.slice(0, -2);
  else if (w.endsWith('ied') || w.endsWith('ies')) w = w.length > 4 ? w.slice(0, -2) : w.slice(0, -1);
  else if (w.endsWith('us') || w.endsWith('ss')) {
    /* unchanged */
  } else if (w.endsWith('s') && hasVowel(w.slice(0, -2))) w = w.slice(0, -1);
  if (AFTER_1A_INVARIANT.has(w)) return w;
  // Step 1b.
  const eed = /(eed|eedly)$/.exec(w);
  if (eed) {
    if (eed.index >= r1) w = w.slice(0, eed.index) + 'ee';
  } else {
    const ed = /(ed|edly|ing|ingly)$/.exec(w);
    if (ed && hasVowel(w.slice(0, ed.index).replace(/Y/g, ''))) {
      w = w.slice(0, ed.index);
      if (/(at|bl|iz)$/.test(w)) w += 'e';
      else if (/(bb|dd|ff|gg|mm|nn|pp|rr|tt)$/.test(w)) w = w.slice(0, -1);
      else if (r1Start(w) >= w.length && endsWithShortSyllable(w)) w += 'e';
    }
  }
  // Step 1c: y/Y → i after a non-vowel that is not the first letter.
  if (w.length > 2 && /[yY]$/.test(w) && !isVowel(w[w.length - 2])) w = w.slice(0, -1) + 'i';
  return w.replace(/Y/g, 'y');
}

// ---------------------------------------------------------------------------------------------
// Tokenizing.
// ---------------------------------------------------------------------------------------------

/** A word: a letter or digit, then letters (with marks) and digits. */
const WORD = String.raw`[\p{L}\p{N}][\p{L}\p{M}\p{N}]*`;
/** Characters that join words into one reference without a space. */
const CONNECTOR = String.raw`[\-.:/_\u2010'\u2019\u02BC]`;
const TERM = new RegExp(String.raw`(§\s?)?${WORD}(?:${CONNECTOR}${WORD})*`, 'gu');
const CONNECTOR_SPLIT = new RegExp(CONNECTOR, 'gu');
const APOSTROPHES = /[\u2019\u02BC]/g;
/** A word broken across lines by a hyphen (`weath-\nered`): letter, hyphen, line break, lowercase letter. */
const LINE_BREAK_HYPHEN = /(\p{L})-[ \t]*\r?\n[ \t]*(?=\p{Ll})/gu;
const CJK = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}]/u;
const CJK_RUNS = /([\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\u30FC]+)|([^\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\u30FC]+)/gu;
const NUMERIC = /^\p{N}+$/u;
/** Cheap pre-checks (no Unicode property lookups) for the common plain word. */
const MAYBE_CJK = /[\u2E80-\uFFFF\uD800-\uDBFF]/;
const HAS_CONNECTOR = /[-.:/_\u2010'\u2019\u02BC]/;

/** A word as index terms: itself, or overlapping bigrams for its Han/kana runs. */
function expandWord(word: string): string[] {
  if (!MAYBE_CJK.test(word) || !CJK.test(word)) return [word];
  const out: string[] = [];
  for (const m of word.matchAll(CJK_RUNS)) {
    const run = m[0];
    if (m[1] === undefined) {
      out.push(run);
      continue;
    }
    const chars = Array.from(run);
    if (chars.length === 1) out.push(run);
    for (let i = 0; i + 1 < chars.length; i++) out.push(`${chars[i] ?? ''}${chars[i + 1] ?? ''}`);
  }
  return out;
}

interface Resolved {
  readonly language: TermLanguage | undefined;
  readonly stopwords: ReadonlySet<string>;
  readonly stem: boolean;
}

function resolve(options: TermsOptions | undefined): Resolved {
  const language = termLanguage(options?.language);
  return {
    language,
    stopwords: options?.stopwords === false ? new Set() : stopwordsFor(language),
    stem: language === 'en' && (options?.stem ?? true),
  };
}

/** All terms of `text`, in order, with stopwords marked so a query can fall back on them. */
function tokenize(text: string, r: Resolved): { term: string; stop: boolean }[] {
  const normalized = normalizeForMatch(text.replace(LINE_BREAK_HYPHEN, '$1'), MATCH_OPTIONS);
  const out: { term: string; stop: boolean }[] = [];
  const emitWord = (word: string): void => {
    for (const w of expandWord(word)) {
      if (w.length > MAX_TERM_LENGTH) continue;
      const stop = r.stopwords.has(w);
      out.push({ term: r.stem ? stemEnglish(w) : w, stop });
    }
  };
  for (const m of normalized.matchAll(TERM)) {
    const section = m[1] !== undefined;
    if (!section && !HAS_CONNECTOR.test(m[0])) {
      emitWord(m[0]);
      continue;
    }
    let body = (section ? m[0].slice(m[1]?.length ?? 0) : m[0]).replace(APOSTROPHES, "'");
    if (r.language === 'en') body = body.replace(/'s$/, '');
    const parts = body.split(CONNECTOR_SPLIT);
    const compound = section || parts.length > 1;
    if (!compound) {
      emitWord(body);
      continue;
    }
    const whole = section ? `§${body}` : body;
    if (whole.length <= MAX_TERM_LENGTH) out.push({ term: whole, stop: false });
    for (const part of parts) if (part.length >= 2 || NUMERIC.test(part)) emitWord(part);
  }
  return out;
}

/**
 * The keyword terms of `text`, in text order, repeated as often as they occur: normalized (NFKC,
 * case-folded, Latin accents and Arabic variants folded), stopwords of `options.language` dropped,
 * English words stemmed. References give the whole and the parts (`ISO-9001` → `iso-9001`, `iso`,
 * `9001`; `§12` → `§12`, `12`); single-letter parts of a reference are dropped (`e-mail` →
 * `e-mail`, `mail`). A word hyphenated across a line break (`weath-\nered`) is rejoined.
 */
export function terms(text: string, options?: TermsOptions): string[] {
  const r = resolve(options);
  return tokenize(text, r)
    .filter((t) => !t.stop)
    .map((t) => t.term);
}

/** Term counts of a text and its length in terms (the document length of BM25). */
export interface TermFrequencies {
  /** term → number of occurrences. */
  readonly counts: Map<string, number>;
  /** Number of terms, i.e. the sum of `counts`. */
  readonly tokenCount: number;
}

/** {@link terms}, counted. */
export function termFrequencies(text: string, options?: TermsOptions): TermFrequencies {
  const counts = new Map<string, number>();
  const list = terms(text, options);
  for (const t of list) counts.set(t, (counts.get(t) ?? 0) + 1);
  return { counts, tokenCount: list.length };
}

/**
 * The distinct terms of a search query, in order of first occurrence, made exactly as
 * {@link terms} makes them for documents. A query of stopwords only (`"the who"`) keeps them rather
 * than becoming empty.
 */
export function queryTerms(query: string, options?: TermsOptions): string[] {
  const all = tokenize(query, resolve(options));
  const kept = all.filter((t) => !t.stop);
  return [...new Set((kept.length > 0 ? kept : all).map((t) => t.term))];
}
