/**
 * Language detection for extracted text, shared by the OCR, extraction and speech engines.
 * franc-min knows the ~80 languages with 8M+ speakers (Standard Arabic `arb` and Indonesian `ind`
 * among them) and answers in ISO 639-3 (`eng`, `deu`, `arb`, `ind`, ...), the form the contracts
 * store.
 */
import { francAll } from 'franc-min';

/** Fewer letters than this and trigram statistics are noise: answer `und`. */
const MIN_LETTERS = 20;
/**
 * Detection reads at most this many characters: accuracy stops improving long before, and a
 * 500-page document should not cost more than a one-pager.
 */
const MAX_SAMPLE_CHARS = 20_000;
/** Indonesian and Malay scores closer than this (franc's scores are relative, 1 = best) are a tie. */
const MALAY_TIE = 0.1;

/**
 * Words that are common in one standard and rare or absent in the other (Indonesian karena/bisa/uang,
 * Malaysian kerana/boleh/wang...). Trigram statistics alone confuse the two on short texts.
 */
const INDONESIAN_MARKERS = new Set(['karena', 'bisa', 'uang', 'kantor', 'mau', 'saja', 'nggak', 'enggak', 'pemerintah', 'silakan', 'mobil', 'gratis']);
const MALAY_MARKERS = new Set(['kerana', 'boleh', 'wang', 'pejabat', 'mahu', 'sahaja', 'kerajaan', 'beliau', 'percuma', 'bagaimanapun', 'ialah', 'sentiasa', 'kereta', 'hendaklah', 'sila']);

/**
 * The ISO 639-3 code of the language `text` is most probably written in, or `und` when the text is
 * too short (fewer than 20 letters) or franc cannot tell. Indonesian and Malay, which franc's
 * trigrams confuse on short texts, are told apart by marker words when their scores tie; a tie
 * without markers goes to Indonesian, by far the more common written standard. Short Arabic-script
 * text that ties between Standard Arabic and Malay (franc-min also models Jawi) is Arabic.
 */
export function detectLanguage(text: string): string {
  const sample = text.replace(/\s+/gu, ' ').trim().slice(0, MAX_SAMPLE_CHARS);
  const letters = sample.match(/\p{L}/gu)?.length ?? 0;
  if (letters < MIN_LETTERS) return 'und';
  const ranked = francAll(sample, { minLength: MIN_LETTERS });
  const [best, second] = ranked;
  if (!best) return 'und';
  const pair = new Set([best[0], second?.[0]]);
  if (second && pair.has('ind') && pair.has('zlm') && best[1] - second[1] < MALAY_TIE) return indonesianOrMalay(sample);
  if (best[0] === 'zlm' && isMostlyArabicScript(sample)) {
    // franc-min models Malay in Jawi (Arabic script) too, and short Arabic text often lands there.
    const arabic = ranked.find(([code]) => code === 'arb');
    if (arabic && best[1] - arabic[1] < MALAY_TIE) return 'arb';
  }
  return best[0];
}

function isMostlyArabicScript(sample: string): boolean {
  const letters = sample.match(/\p{L}/gu) ?? [];
  return letters.filter((c) => /\p{Script=Arabic}/u.test(c)).length > letters.length / 2;
}

function indonesianOrMalay(sample: string): 'ind' | 'zlm' {
  let score = 0;
  for (const word of sample.toLowerCase().split(/[^\p{L}]+/u)) {
    if (INDONESIAN_MARKERS.has(word)) score++;
    else if (MALAY_MARKERS.has(word)) score--;
  }
  return score < 0 ? 'zlm' : 'ind';
}

/** ISO 639-1 codes (and the 639-2/3 spellings documents also use) mapped to franc's ISO 639-3 codes. */
const FROM_TAG: Readonly<Record<string, string>> = {
  ar: 'arb', ara: 'arb', arb: 'arb',
  id: 'ind', in: 'ind', ind: 'ind',
  ms: 'zlm', msa: 'zlm', may: 'zlm', zsm: 'zlm', zlm: 'zlm',
  en: 'eng', eng: 'eng',
  de: 'deu', deu: 'deu', ger: 'deu',
  fr: 'fra', fra: 'fra', fre: 'fra',
  es: 'spa', spa: 'spa',
  it: 'ita', ita: 'ita',
  pt: 'por', por: 'por',
  nl: 'nld', nld: 'nld', dut: 'nld',
  ru: 'rus', rus: 'rus',
  uk: 'ukr', ukr: 'ukr',
  pl: 'pol', pol: 'pol',
  tr: 'tur', tur: 'tur',
  fa: 'pes', fas: 'pes', per: 'pes', pes: 'pes',
  ur: 'urd', urd: 'urd',
  hi: 'hin', hin: 'hin',
  bn: 'ben', ben: 'ben',
  zh: 'cmn', zho: 'cmn', chi: 'cmn', cmn: 'cmn',
  ja: 'jpn', jpn: 'jpn',
  ko: 'kor', kor: 'kor',
  he: 'heb', iw: 'heb', heb: 'heb',
  sw: 'swh', swa: 'swh', swh: 'swh',
  vi: 'vie', vie: 'vie',
  th: 'tha', tha: 'tha',
};

/**
 * The ISO 639-3 code (franc's spelling) of a language tag as documents carry it (`lang="ar"`,
 * `en-US`, `id_ID`), or undefined for tags this table does not know.
 */
export function languageFromTag(tag: string | undefined): string | undefined {
  const primary = (tag ?? '').trim().toLowerCase().split(/[-_]/)[0] ?? '';
  return FROM_TAG[primary];
}
