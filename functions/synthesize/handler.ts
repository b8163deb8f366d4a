/**
 * Speech synthesis stage (`speech.synthesize` jobs, which have no document): reads the stored request
 * (text or SSML, voice, language, rate, format; shared/api/speech.ts), synthesizes it chunk by chunk
 * with progress (shared/engines/tts: planned on sentence boundaries, SSML never cut inside a tag),
 * joins the chunks into one file and writes it create-only as a derived object keyed on the
 * request's generation. Claim, lease, heartbeat, attempts, cancel and completion are the stage
 * runner's; between chunks and before the upload the work checks for a cancel, so a cancelled job
 * writes nothing more.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { SpeechParamsSchema, type SpeechResult } from '../../shared/api/speech.js';
import { parseMessage } from '../../shared/events/envelope.js';
import { PermanentError } from '../../shared/errors/index.js';
import { synthesizeLong, TTS_ERROR_CODES, type SpeechInput, type TextToSpeechEngine } from '../../shared/engines/tts/index.js';
import { leaseFor, runStage, type DocumentlessStageDefinition, type StageDeps, type StageOutcome } from '../../shared/stages/runner.js';
import type { StorageGateway } from '../../shared/storage/index.js';
import { speechAudioObjectName } from '../../shared/storage/names.js';

export interface SynthesizeDeps extends StageDeps {
  readonly storage: StorageGateway;
  /** Created on first use by the function. */
  readonly engine: () => TextToSpeechEngine;
  /** Plans of more chunks than this are refused before any synthesis (default 500: 2.5 MB of text with Google's limit). */
  readonly maxChunks?: number;
}

/** The stored request is not what the API writes: the job fails (a redelivery reads the same bytes). */
export const BAD_REQUEST_OBJECT = 'INVALID_SPEECH_REQUEST';

export function synthesizeStage(deps: Pick<SynthesizeDeps, 'storage' | 'engine' | 'maxChunks'>): DocumentlessStageDefinition {
  return {
    name: 'synthesize',
    documentless: true,
    leaseMs: leaseFor('synthesize'),
    decode(eventData) {
      const { data: req, messageId } = parseMessage('synthesize-requests', eventData);
      return {
        request: { jobId: req.jobId, projectId: req.projectId, documentId: null, generation: req.source.generation, messageId },
        // The request names the job's own stored request, or it is not this job's request.
        matches: (job) => job.kind === 'speech.synthesize' && job.input.bucket === req.source.bucket && job.input.object === req.source.object,
      };
    },
    async work({ job, signal, workDir, progress, checkpoint, log }) {
      const generation = job.input.generation;
      if (generation === null) throw new PermanentError(BAD_REQUEST_OBJECT, `job ${job.id} names no request generation`);
      const raw = await deps.storage.read({ bucket: job.input.bucket, object: job.input.object, generation });
      let params;
      try {
        params = SpeechParamsSchema.parse(JSON.parse(raw.toString('utf8')));
      } catch (err) {
        throw new PermanentError(BAD_REQUEST_OBJECT, 'the stored speech request is not valid JSON of the expected shape', err);
      }
      const input: SpeechInput | null = params.ssml !== undefined ? { ssml: params.ssml } : params.text !== undefined ? { text: params.text } : null;
      if (input === null) throw new PermanentError(TTS_ERROR_CODES.inputEmpty, 'nothing to say: the request has neither text nor ssml');
      const inputChars = 'ssml' in input ? input.ssml.length : input.text.length;
      const engine = deps.engine();
      const outputPath = path.join(workDir, `speech.${params.format}`);
      const started = performance.now();
      const out = await synthesizeLong(
        engine,
        {
          input,
          ...(params.voice ? { voice: params.voice } : {}),
          ...(params.language ? { languageCode: params.language } : {}),
          ...(params.speakingRate !== undefined ? { speakingRate: params.speakingRate } : {}),
          format: params.format,
        },
        {
          outputPath,
          signal,
          workDir,
          maxChunks: deps.maxChunks ?? 500,
          onProgress: async (p) => {
            if (p.fraction < 1) await progress(p.fraction, { chunksDone: p.chunksDone, chunkCount: p.chunkCount });
            // Between chunks: a cancelled job synthesizes nothing more.
            if (p.chunksDone < p.chunkCount) await checkpoint();
          },
        },
      );
      const wallMs = performance.now() - started;
      // The last look before writing: once cancelled, nothing is written.
      await checkpoint();
      const body = await readFile(out.path);
      const object = speechAudioObjectName({ projectId: job.projectId, jobId: job.id, requestGeneration: generation }, out.format);
      const written = await deps.storage.writeDerived({ bucket: job.input.bucket, object, contentType: out.contentType, body, metadata: { jobId: job.id } });
      const result: SpeechResult = {
        bucket: written.bucket,
        object: written.object,
        generation: written.generation,
        format: out.format,
        contentType: out.contentType,
        durationSeconds: Number(out.durationSeconds.toFixed(3)),
        sizeBytes: written.size,
        voice: out.voice,
        languageCode: out.languageCode,
        engine: out.engine,
        chunks: out.chunks.length,
        inputChars,
      };
      log.info('speech synthesized', { chunks: out.chunks.length, inputChars, durationSeconds: result.durationSeconds, wallMs: Math.round(wallMs) });
      return {
        result,
        metrics: {
          engineMs: Math.round(out.synthesisMs),
          joinMs: Math.round(out.joinMs),
          audioSeconds: Math.round(out.durationSeconds),
          chunks: out.chunks.length,
          inputChars,
          // Characters per second of wall time (synthesis and join), the benchmark figure.
          charsPerSecond: Math.round(inputChars / Math.max(0.001, wallMs / 1000)),
        },
        message: `synthesized ${inputChars} characters in ${out.chunks.length} chunk(s) with ${out.engine} (${out.voice}): ${out.durationSeconds.toFixed(1)} s of ${out.format}, ${written.size} bytes`,
      };
    },
  };
}

export function handleSynthesize(eventData: unknown, deps: SynthesizeDeps): Promise<StageOutcome> {
  return runStage(synthesizeStage(deps), eventData, deps);
}
