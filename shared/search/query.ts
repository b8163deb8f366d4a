/**
 * The query side: which language its terms are made in, and whether the vector side can say
 * anything about it. Pure.
 */
import { queryTerms, termLanguage } from '../text/terms.js';

const ARABIC = /\p{Script=Arabic}/gu;
const LATIN = /\p{Script=Latin}/gu;
const LETTER = /\p{L}/gu;

const count = (s: string, re: RegExp): number => s.match(re)?.length ?? 0;

/**
 * The language a query's terms are made in: `ar` when most of its letters are Arabic script, else
 * `en` (English stopwords and stemming). Chunks' terms use the document's detected language, so a
 * non-English Latin-script query (German, Indonesian) may miss stemmed forms; exact words still match.
 */
export function queryLanguage(query: string): 'ar' | 'en' {
  const arabic = count(query, ARABIC);
  return arabic > 0 && arabic >= count(query, LATIN) ? 'ar' : 'en';
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

/** The query's keyword terms, normalized exactly as chunks' terms are. */
export function searchTerms(query: string): string[] {
  return queryTerms(query, { language: queryLanguage(query) });
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
