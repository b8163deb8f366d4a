/**
 * HTTP contracts of speech synthesis: `POST /v1/jobs` (a text-to-speech job, or one of the job types
 * the API knows but refuses until an engine exists), `GET /v1/voices`, `GET /v1/jobs/{id}/audio`.
 * Shared by the api function, the synthesize function (the stored request), the CLI and the
 * OpenAPI document.
 */
import { z } from 'zod';
import { ProjectIdSchema } from '../ids.js';
import type { JobKind } from '../jobs/model.js';
import { AUDIO_FORMATS, SPEAKING_RATE_RANGE } from '../engines/tts/types.js';

/** Job types as the API names them, and the job kind each one is. */
export const API_JOB_TYPES = {
  TTS: 'speech.synthesize',
  VOICE_CLONING: 'voice.clone',
  ANIMATED_TALKING_HEADS: 'video.talking-head',
} as const satisfies Record<string, JobKind>;
export type ApiJobType = keyof typeof API_JOB_TYPES;

/** Why each refused type is refused (the 422 `NOT_SUPPORTED` answer says it). */
export const NOT_SUPPORTED_REASONS: Readonly<Record<Exclude<ApiJobType, 'TTS'>, string>> = {
  VOICE_CLONING: 'voice cloning is not supported: no voice-cloning engine is available on this platform (neither Google Cloud Text-to-Speech custom voices nor an offline engine is wired in)',
  ANIMATED_TALKING_HEADS: 'animated talking heads are not supported: no talking-head video engine is available on this platform',
};

/** BCP-47 tag (`en`, `en-US`, `de-DE`). */
export const LanguageTagSchema = z.string().regex(/^[A-Za-z]{2,8}(?:[-_][A-Za-z0-9]{1,8})*$/, 'expected a BCP-47 language tag such as en-US');
/** A voice name from `GET /v1/voices` (`flite-kal16`, `festival-slt-hts`, `en-US-Neural2-C`). */
export const VoiceNameSchema = z.string().regex(/^[A-Za-z0-9_.-]{1,100}$/, 'expected a voice name such as flite-kal16 or en-US-Neural2-C');
export const AudioFormatSchema = z.enum(AUDIO_FORMATS);

/**
 * What to say and how: stored as the job's input object (the text is never in the job record) and
 * read back by the synthesize function.
 */
export const SpeechParamsSchema = z.object({
  /** Plain text; or `ssml`, never both. Lengths are checked against `SCRIPTORIUM_TTS_MAX_CHARS` by the route. */
  text: z.string().optional(),
  /** SSML: a `<speak>` document (a fragment without one is wrapped). */
  ssml: z.string().optional(),
  voice: VoiceNameSchema.optional(),
  language: LanguageTagSchema.optional(),
  /** 1 is the voice's normal speed; 0.25–2. */
  speakingRate: z.number().min(SPEAKING_RATE_RANGE.min).max(SPEAKING_RATE_RANGE.max).optional(),
  /** Default mp3. */
  format: AudioFormatSchema.default('mp3'),
});
export type SpeechParams = z.output<typeof SpeechParamsSchema>;

export const CreateJobRequestSchema = SpeechParamsSchema.extend({
  projectId: ProjectIdSchema,
  /** `TTS` (or its kind `speech.synthesize`); `VOICE_CLONING` and `ANIMATED_TALKING_HEADS` are refused (422 NOT_SUPPORTED). */
  type: z.enum([...Object.keys(API_JOB_TYPES), ...Object.values(API_JOB_TYPES)] as [string, ...string[]]),
  /** Makes the request idempotent: the same caller, project and id return the same job. */
  clientRequestId: z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/).optional(),
}).strict();
export type CreateJobRequest = z.input<typeof CreateJobRequestSchema>;

/** The API type a request names (either spelling). */
export function apiJobType(type: string): ApiJobType | null {
  for (const [name, kind] of Object.entries(API_JOB_TYPES)) if (type === name || type === kind) return name as ApiJobType;
  return null;
}

export const CreateJobResponseSchema = z.object({
  jobId: z.string(),
  kind: z.string(),
  status: z.string(),
  /** False when a retried request (same clientRequestId) found the job it made before. */
  created: z.boolean(),
});
export type CreateJobResponse = z.infer<typeof CreateJobResponseSchema>;

export const VoicesQuerySchema = z.object({ language: LanguageTagSchema.optional() }).strict();

export const VoiceSchema = z.object({
  name: z.string(),
  languageCodes: z.array(z.string()),
  gender: z.enum(['male', 'female', 'neutral']).optional(),
  engine: z.string(),
  synthesizer: z.string().optional(),
  naturalSampleRateHertz: z.number().optional(),
  available: z.boolean(),
  unavailableReason: z.string().optional(),
  description: z.string().optional(),
});
export const VoicesResponseSchema = z.object({ engine: z.string(), voices: z.array(VoiceSchema) });
export type VoicesResponse = z.infer<typeof VoicesResponseSchema>;

export const AudioLinkResponseSchema = z.object({
  /** A signed GET for the audio object (expires at `expiresAt`). */
  url: z.string().url(),
  expiresAt: z.string(),
  format: AudioFormatSchema,
  contentType: z.string(),
  sizeBytes: z.number().int(),
  durationSeconds: z.number(),
});
export type AudioLinkResponse = z.infer<typeof AudioLinkResponseSchema>;

/** A completed `speech.synthesize` job's result (`job.result`). */
export const SpeechResultSchema = z.object({
  bucket: z.string(),
  object: z.string(),
  generation: z.string(),
  format: AudioFormatSchema,
  contentType: z.string(),
  durationSeconds: z.number(),
  sizeBytes: z.number().int(),
  voice: z.string(),
  languageCode: z.string(),
  engine: z.string(),
  chunks: z.number().int(),
  inputChars: z.number().int(),
});
export type SpeechResult = z.infer<typeof SpeechResultSchema>;

export const SPEECH_ROUTES = {
  jobs: '/v1/jobs',
  voices: (language?: string) => `/v1/voices${language ? `?language=${encodeURIComponent(language)}` : ''}`,
  audio: (jobId: string) => `/v1/jobs/${encodeURIComponent(jobId)}/audio`,
} as const;
