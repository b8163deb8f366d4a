/**
 * Translate stage (`video.translate` jobs): when the recording's transcript is ready (the text-ready
 * event of its transcribe stage), translates it segment by segment (in batches, with progress;
 * cancelling stops between batches) into the job's target language, keeping every segment's
 * timings, and keeps the translated transcript as JSON, SRT and WebVTT, create-only under the
 * source generation's derived prefix. Its completion (translation-ready) starts the dub stage.
 * Other jobs' text-ready events find no translate stage and are acknowledged by the runner.
 */
import { translateTexts, type TranslationEngine } from '../../shared/engines/translate/index.js';
import { applyTranslation, sameLanguage, segmentTexts } from '../../shared/engines/translate/transcript.js';
import { TRANSLATE_ERROR_CODES } from '../../shared/engines/translate/types.js';
import { PermanentError } from '../../shared/errors/index.js';
import { formatTranscript, parseTranscriptJson, type TranscriptFormat } from '../../shared/media/transcript.js';
import { leaseFor, runStage, type StageDefinition, type StageDeps, type StageOutcome } from '../../shared/stages/runner.js';
import { decodeTextReady, transcriptRefsOf } from '../../shared/stages/text-ready.js';
import { translationReadyEvent } from '../../shared/stages/translation-ready.js';
import type { StorageGateway } from '../../shared/storage/index.js';
import { derivedPrefix } from '../../shared/storage/names.js';

export interface TranslateDeps extends StageDeps {
  readonly storage: StorageGateway;
  /** Created on first use by the function. */
  readonly engine: () => TranslationEngine;
}

export function translateStage(deps: Pick<TranslateDeps, 'storage' | 'engine'>): StageDefinition {
  return {
    name: 'translate',
    leaseMs: leaseFor('translate'),
    announce: (job) => ({ topic: 'document-events', data: translationReadyEvent(job) }),
    decode: (eventData) => decodeTextReady('translate', eventData),
    async work({ job, signal, progress }) {
      const target = job.input.translate;
      const generation = job.input.generation;
      const refs = transcriptRefsOf(job);
      if (!target || job.kind !== 'video.translate') throw new PermanentError('NOT_A_TRANSLATION', `job ${job.id} asks for no translation`);
      if (!refs || generation === null || job.documentId === null) throw new PermanentError('JOB_NOT_TRANSCRIBED', `job ${job.id} has no transcript`);
      const transcript = parseTranscriptJson((await deps.storage.read(refs.json)).toString('utf8'));
      const from = target.from ?? transcript.language;
      const to = target.to;
      if (sameLanguage(from, to)) throw new PermanentError(TRANSLATE_ERROR_CODES.pairNotSupported, `the recording is already in ${from}: nothing to translate into ${to}`);
      const engine = deps.engine();
      // Known before any request (the local engine's installed pairs): refused at once, never retried.
      if ((await engine.supports({ from, to })) === false) {
        const pairs = (await engine.pairs()) ?? [];
        throw new PermanentError(TRANSLATE_ERROR_CODES.pairNotSupported, `the ${engine.name} translation engine does not translate ${from} → ${to} (it has ${pairs.map((p) => `${p.from}→${p.to}`).join(', ') || 'none'})`);
      }
      const texts = segmentTexts(transcript);
      if (texts.every((t) => t === '')) throw new PermanentError('NO_SPEECH', 'nothing was recognised in the recording: there is nothing to translate');
      const out = await translateTexts(engine, texts, { from, to, signal, onProgress: (done, total) => progress((0.9 * done) / total, { segmentsTranslated: done, segmentCount: total }) });
      const translated = applyTranslation(transcript, out.texts, to, engine);
      const prefix = derivedPrefix({ projectId: job.projectId, documentId: job.documentId, sourceGeneration: generation });
      const write = async (format: TranscriptFormat) => {
        const { body, contentType } = formatTranscript(translated, format);
        const obj = await deps.storage.writeDerived({ bucket: job.input.bucket, object: `${prefix}translation.${to}.${format}`, contentType, body, metadata: { jobId: job.id } });
        return { bucket: obj.bucket, object: obj.object, generation: obj.generation };
      };
      const [json, srt, vtt] = await Promise.all([write('json'), write('srt'), write('vtt')]);
      const chars = out.texts.reduce((n, t) => n + t.length, 0);
      return {
        result: { translation: { language: to, from, engine: engine.name, model: engine.model, json, srt, vtt }, translatedSegments: texts.length, translatedChars: chars },
        metrics: { translateMs: out.engineMs, translateBatches: out.batches, translatedChars: chars },
        message: `translated ${texts.length} segment(s) ${from} → ${to} with ${engine.name} (${engine.model}) in ${out.batches} batch(es): ${chars} characters`,
      };
    },
  };
}

export function handleTranslate(eventData: unknown, deps: TranslateDeps): Promise<StageOutcome> {
  return runStage(translateStage(deps), eventData, deps);
}
