/** `GET /v1/documents/:id/translation`: a translated recording's subtitles and dubbed video. */
import { z } from 'zod';
import { LanguageTagSchema } from '../jobs/media-input.js';

export const TRANSLATION_FORMATS = ['vtt', 'srt', 'json', 'mp4'] as const;
export type TranslationFormat = (typeof TRANSLATION_FORMATS)[number];

export const TRANSLATION_CONTENT_TYPES: Readonly<Record<TranslationFormat, string>> = {
  vtt: 'text/vtt; charset=utf-8',
  srt: 'application/x-subrip; charset=utf-8',
  json: 'application/json; charset=utf-8',
  mp4: 'video/mp4',
};

export const TranslationQuerySchema = z
  .object({
    /** The target language the upload asked for; default that one. */
    lang: LanguageTagSchema.optional(),
    /** `vtt` (default), `srt`, `json` (segments with timings) or `mp4` (the dubbed video). */
    format: z.enum(TRANSLATION_FORMATS).optional(),
  })
  .strict();
export type TranslationQuery = z.infer<typeof TranslationQuerySchema>;

/** The body of the 303 that `format=mp4` answers (its `Location` is the same URL). */
export const TranslationRedirectSchema = z.object({ url: z.string(), method: z.literal('GET'), expiresAt: z.string(), fileName: z.string() });
