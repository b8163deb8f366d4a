/**
 * What an upload may declare about a recording beyond its type, kept on the job's input:
 * - `translate`: the recording (a video, or audio) is to be translated: transcribed, its transcript
 *   translated into `to`, subtitles written and a dubbed track made (a `video.translate` job);
 * - `audio`: the format of headerless PCM, which the bytes alone cannot say (any byte sequence is
 *   valid PCM in every encoding): without it such an upload is refused.
 * Shared by the API contract (`POST /v1/uploads`) and the job model, so both read the same shapes.
 */
import { z } from 'zod';
import type { RawPcmFormat } from '../media/types.js';

/** A BCP-47 tag (`es`, `pt-BR`), as the translation engines take it. */
export const LanguageTagSchema = z.string().regex(/^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$/, 'expected a BCP-47 language tag such as es or pt-BR');

/** How the dubbed track goes into the video: in place of the original, or over it lowered by 18 dB. */
export const DUB_MIXES = ['replace', 'duck'] as const;
export type DubMix = (typeof DUB_MIXES)[number];

export const TranslateRequestSchema = z
  .object({
    /** Target language. */
    to: LanguageTagSchema,
    /** Source language; default the transcript's (the speech engine's language). */
    from: LanguageTagSchema.optional(),
    /** Default `replace`. */
    mix: z.enum(DUB_MIXES).optional(),
  })
  .strict();
export type TranslateRequest = z.infer<typeof TranslateRequestSchema>;

/** Encodings of headerless PCM, named as Cloud Speech names them. */
export const PCM_ENCODINGS = ['LINEAR16', 'MULAW', 'ALAW'] as const;

export const RawAudioDeclarationSchema = z
  .object({
    encoding: z.enum(PCM_ENCODINGS),
    sampleRateHertz: z.number().int().min(8000).max(192_000),
    channels: z.number().int().min(1).max(8).default(1),
  })
  .strict();
export type RawAudioDeclaration = z.output<typeof RawAudioDeclarationSchema>;

/** The declaration as ffmpeg's raw demuxer reads it (`-f s16le -ar … -ac …`). */
export function rawPcmFormatOf(audio: RawAudioDeclaration): RawPcmFormat {
  const encoding = audio.encoding === 'LINEAR16' ? 's16le' : audio.encoding === 'MULAW' ? 'mulaw' : 'alaw';
  return { encoding, sampleRate: audio.sampleRateHertz, channels: audio.channels };
}
