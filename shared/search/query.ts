/**
 * The query side: which language its terms are made in, and whether the vector side can say
 * anything about it. Pure.
 */
import { normalizeForMatch } from '../text/normalize.js';
import { queryTerms, stopwordsFor, termLanguage, type TermLanguage } from '../text/terms.js';

const ARABIC = /\p{Script=Arabic}/gu;
const LATIN = /\p{Script=Latin}/gu;
const LETTER = /\p{L}/gu;

const count = (s: string, re: RegExp): number => s.match(re)?.length ?? 0;

/** Latin-script languages whose function words identify a query (English wins ties). */
const LATIN_LANGUAGES: readonly TermLanguage[] = ['en', 'de', 'fr', 'id'];

/**
 * The language a query's terms are made in: `ar` when most of its letters are Arabic script; for
 * Latin script, the language whose stopwords the query uses most (`die Rechte der Frau` is German,
 * `hukum waris dalam Islam` Indonesian), English when none does more than English. Statistical
 * detectors (franc) need far longer text than a query; function words are what short queries have.
 */
export function queryLanguage(query: string): TermLanguage {
  const arabic = count(query, ARABIC);
  if (arabic > 0 && arabic >= count(query, LATIN)) return 'ar';
  const words = (query.match(/[\p{L}\p{M}']+/gu) ?? []).map((w) => normalizeForMatch(w, { foldDiacritics: true }));
  let best: TermLanguage = 'en';
  let bestHits = words.filter((w) => stopwordsFor('en').has(w)).length;
  for (const lang of LATIN_LANGUAGES.slice(1)) {
    const hits = words.filter((w) => stopwordsFor(lang).has(w)).length;
    if (hits > bestHits) {
      best = lang;
      bestHits = hits;
    }
  }
  return best;
}

/**
 * The language a document's chunk terms are made in: its detected language when terms support it
 * (English, German, French, Indonesian, Arabic); otherwise (`und`, a misdetection on short text, a
 * language without an analyser) the same script rule as queries, so that an English abstract
 * detected as something else still gets English terms, as the queries that look for it do.
 */
export function documentTermsLanguage(language: string | null | undefined, text: string): string {
  const supported = termLanguage(language ?? undefined);
  return supported ?? queryLanguage(text.slice(0, 4000));
}

/**
 * The query's keyword terms, normalized exactly as chunks' terms are. A query taken for English also
 * keeps the unstemmed form of each word English stemming changed: chunks of German, French and
 * Indonesian documents hold their words unstemmed (`waris`, which English stemming would make
 * `wari`), so a query without function words to tell its language still matches them exactly. A
 * form no chunk holds has no document frequency and is never scored.
 */
export function searchTerms(query: string): string[] {
  const language = queryLanguage(query);
  const made = queryTerms(query, { language });
  if (language !== 'en') return made;
  return [...new Set([...made, ...queryTerms(query, { language, stem: false })])];
}

/**
 * Whether vectors of `engine` can rank this query. The local engine (USE-lite) knows English only:
 * its vectors for text with no Latin letters, or mostly other scripts, are close to noise, so the
 * vector side is skipped and the query is keyword only. Other engines are trusted with any script.
 */
export function vectorUseful(query: string, engineName: string): boolean {
  if (engineName !== 'local') return true;
  const letters = count(query, LETTER);
  const latin = count(query, LATIN);
  if (letters === 0) return false;
  return latin / letters >= 0.5;
}
