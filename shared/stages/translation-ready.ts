/**
 * The hand-over between the `translate` and `dub` stages of a `video.translate` job: the translate
 * stage's result (the translated transcript and its subtitles), the translation-ready event built
 * from it (never from a message), and the dub stage's decoding of that event.
 */
import { z } from 'zod';
import { parseMessage } from '../events/envelope.js';
import type { DocumentEvent } from '../events/contracts.js';
import { PermanentError } from '../errors/index.js';
import type { Job } from '../jobs/model.js';
import type { Decoded } from './runner.js';

const ObjectRefSchema = z.object({ bucket: z.string(), object: z.string(), generation: z.string() });

/** What the translate stage records under `result.translation`. */
export const TranslationRefsSchema = z.object({
  /** Target language as asked (`es`). */
  language: z.string(),
  /** Source language translated from (`en-US`). */
  from: z.string(),
  engine: z.string(),
  model: z.string(),
  json: ObjectRefSchema,
  srt: ObjectRefSchema,
  vtt: ObjectRefSchema,
});
export type TranslationRefs = z.infer<typeof TranslationRefsSchema>;

/** What the dub stage records under `result.dub`. */
export const DubRefsSchema = z.object({ language: z.string(), mp4: ObjectRefSchema, mix: z.string(), durationSeconds: z.number() });
export type DubRefs = z.infer<typeof DubRefsSchema>;

/** A translation job's translated transcript and subtitles; null before the translate stage completed. */
export function translationRefsOf(job: Job): TranslationRefs | null {
  const parsed = TranslationRefsSchema.safeParse((job.stages.translate?.result as { translation?: unknown } | null | undefined)?.translation);
  return parsed.success ? parsed.data : null;
}

/** A translation job's dubbed MP4; null before the dub stage completed. */
export function dubRefsOf(job: Job): DubRefs | null {
  const parsed = DubRefsSchema.safeParse((job.stages.dub?.result as { dub?: unknown } | null | undefined)?.dub);
  return parsed.success ? parsed.data : null;
}

/** The translation-ready event of a job whose translate stage completed (what it announces and the reaper publishes again). */
export function translationReadyEvent(job: Job, occurredAt?: string): DocumentEvent {
  const refs = translationRefsOf(job);
  if (!refs || job.documentId === null || job.input.generation === null) throw new PermanentError('JOB_NOT_TRANSLATED', `job ${job.id} has no translation, document or source generation`);
  return {
    type: 'scriptorium.media.translation.ready.v1',
    jobId: job.id,
    projectId: job.projectId,
    documentId: job.documentId,
    generation: job.input.generation,
    translation: refs.json,
    language: refs.language,
    occurredAt: occurredAt ?? job.stages.translate?.finishedAt ?? new Date().toISOString(),
  };
}

/** Decodes `document-events` for the dub stage: translation-ready events only, others acknowledged without work. */
export function decodeTranslationReady(stage: string, eventData: unknown): Decoded {
  const { data, messageId } = parseMessage('document-events', eventData);
  if (data.type !== 'scriptorium.media.translation.ready.v1') return { ignore: `${data.type} is not for the ${stage} stage` };
  return {
    request: { jobId: data.jobId, projectId: data.projectId, documentId: data.documentId, generation: data.generation, messageId },
    // The event names the job's own translation, or it is not this job's.
    matches: (job) => {
      const refs = translationRefsOf(job);
      return job.kind === 'video.translate' && refs?.json.object === data.translation.object && refs.json.generation === data.translation.generation;
    },
  };
}
