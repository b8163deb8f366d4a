/**
 * Language detection for extracted text, shared by the OCR and speech engines. franc-min knows the
 * ~80 languages with 8M+ speakers and answers in ISO 639-3 (`eng`, `deu`, ...), the form the
 * contracts store.
 */
import { franc } from 'franc-min';

/** Fewer letters than this and trigram statistics are noise: answer `und`. */
const MIN_LETTERS = 20;
/**
 * Detection reads at most this many characters: accuracy stops improving long before, and a
 * 500-page document should not cost more than a one-pager.
 */
const MAX_SAMPLE_CHARS = 20_000;

/**
 * The ISO 639-3 code of the language `text` is most probably written in, or `und` when the text is
 * too short (fewer than 20 letters) or franc cannot tell.
 */
export function detectLanguage(text: string): string {
  const sample = text.replace(/\s+/gu, ' ').trim().slice(0, MAX_SAMPLE_CHARS);
  const letters = sample.match(/\p{L}/gu)?.length ?? 0;
  if (letters < MIN_LETTERS) return 'und';
  return franc(sample, { minLength: MIN_LETTERS });
}
