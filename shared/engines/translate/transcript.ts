/**
 * A transcript in another language: the same segments and timings, each segment's text replaced by
 * its translation. Word timings are dropped (they belong to the original words); captions are then
 * cut from the segment text alone. Pure.
 */
import { PermanentError } from '../../errors/index.js';
import type { Transcript } from '../../media/transcript.js';
import { primarySubtag } from './types.js';

/** The texts to translate, one per segment (whitespace collapsed; an empty segment stays empty). */
export function segmentTexts(transcript: Transcript): string[] {
  return transcript.segments.map((s) => s.text.replace(/\s+/g, ' ').trim());
}

/** `transcript` with segment `i`'s text replaced by `texts[i]`, in `language`. */
export function applyTranslation(transcript: Transcript, texts: readonly string[], language: string, engine: { readonly name: string; readonly model: string }): Transcript {
  if (texts.length !== transcript.segments.length) throw new PermanentError('TRANSLATION_MISMATCH', `${texts.length} translations for ${transcript.segments.length} segments`);
  return {
    language,
    durationSeconds: transcript.durationSeconds,
    engine: engine.name,
    model: engine.model,
    segments: transcript.segments.map((s, i) => ({ start: s.start, end: s.end, text: texts[i] ?? '' })),
  };
}

/** Whether two tags name the same language (`en-US` and `en`). */
export function sameLanguage(a: string, b: string): boolean {
  const x = primarySubtag(a);
  return x !== undefined && x === primarySubtag(b);
}
