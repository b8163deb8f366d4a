/**
 * Transcription stage (`speech.transcribe` jobs): the recording is normalized (16 kHz mono), split on
 * silence, transcribed segment by segment with live progress, and assembled with segment (and word)
 * timings. The transcript is the document's text (so the recording is chunked, embedded and
 * summarized like any document, from the same text-ready event) and is also kept as JSON with
 * timings, SRT and WebVTT, create-only under the source generation's derived prefix. Claim, lease,
 * heartbeat, attempts, cancel and completion are the stage runner's.
 */
import path from 'node:path';
import { parseMessage } from '../../shared/events/envelope.js';
import { supportsBatch, transcribeAudio, TranscriptionPaused, type SpeechToTextEngine } from '../../shared/engines/stt/index.js';
import { firstStageRequest } from '../../shared/stages/requests.js';
import { assembleTranscript, formatTranscript, toPlainText, type Transcript, type TranscriptFormat } from '../../shared/media/transcript.js';
import { probeMedia } from '../../shared/media/probe.js';
import { PermanentError } from '../../shared/errors/index.js';
import { languageFromTag } from '../../shared/engines/language.js';
import { textReadyEvent } from '../../shared/stages/text-ready.js';
import { ContinueLater, leaseFor, runStage, type StageDefinition, type StageDeps, type StageOutcome } from '../../shared/stages/runner.js';
import type { StorageGateway } from '../../shared/storage/index.js';
import { derivedPrefix } from '../../shared/storage/names.js';
import { transcribeBatchCheckpoint, transcribeCheckpoints } from '../../shared/stages/resume.js';
import { BATCH_POLL_MS, batchTranscription } from './batch.js';
import { chargeStt, meteredStorage, meteredStt } from '../../shared/cost/meter.js';
import { rawPcmFormatOf } from '../../shared/jobs/media-input.js';
import { STT_BATCH_MIN_SECONDS_DEFAULT } from '../../shared/config/index.js';

/** The bytes were recognised as a recording container (then any PCM declaration is moot). */
function isMediaFamily(family: string | null): boolean {
  return family === 'audio' || family === 'video';
}

export interface TranscribeDeps extends StageDeps {
  readonly storage: StorageGateway;
  /** Created on first use by the function. */
  readonly engine: () => SpeechToTextEngine;
  /** Segments transcribed at once (default 2: the local engine is single-threaded per process). */
  readonly concurrency?: number;
  /**
   * An engine with batch recognition (google) takes recordings at least this long (seconds) as one
   * long-running operation from Cloud Storage (default 300; 0: never). See ./batch.ts.
   */
  readonly batchMinSeconds?: number;
  /** Time between two polls of a batch operation (default {@link BATCH_POLL_MS}). */
  readonly batchPollMs?: number;
}

/** What either way of transcribing gave the stage. */
interface Transcribed {
  readonly transcript: Transcript;
  readonly durationSeconds: number;
  readonly segmentCount: number;
  readonly engineMs: number;
  readonly resumedSegments: number;
  /** The batch operation's name, when it was one. */
  readonly batchOperation?: string;
}

export type TranscribeOutcome = StageOutcome;

export function transcribeStage(deps: Pick<TranscribeDeps, 'storage' | 'engine' | 'concurrency' | 'jobs' | 'batchMinSeconds' | 'batchPollMs'>): StageDefinition {
  return {
    name: 'transcribe',
    leaseMs: leaseFor('transcribe'),
    announce(job) {
      return { topic: 'document-events', data: textReadyEvent(job) };
    },
    async afterComplete(job, log) {
      if (job.input.generation === null) return;
      const removed = await transcribeCheckpoints(deps.jobs.ref(job.id), job.input.generation, deps.engine(), log).clear();
      const batch = await transcribeBatchCheckpoint(deps.jobs.ref(job.id), job.input.generation, deps.engine(), log).clear();
      if (removed + batch > 0) log.info(`transcribe: ${removed} segment and ${batch} batch checkpoint(s) removed`);
    },
    decode(eventData) {
      const { data: req, messageId } = parseMessage('transcribe-requests', eventData);
      return {
        request: { jobId: req.jobId, projectId: req.projectId, documentId: req.documentId, generation: req.source.generation, messageId },
        // The request names the job's own source object, or it is not this job's request.
        matches: (job) => (job.kind === 'speech.transcribe' || job.kind === 'video.translate') && job.input.bucket === req.source.bucket && job.input.object === req.source.object,
      };
    },
    // A long recording is transcribed in slices that each end well inside the function's timeout:
    // the work pauses between segments when its slice is used up (segments are checkpointed), and
    // the runner publishes this request again, so the next invocation resumes after them.
    continuation: (job, now) => {
      if (job.documentId === null || job.input.generation === null) throw new PermanentError('JOB_NOT_INGESTED', `job ${job.id} has no source generation or document`);
      return firstStageRequest({ ...job, documentId: job.documentId }, job.input.generation, now.toISOString());
    },
    async work({ job, signal, workDir, progress, log, usage, timeLeftMs }) {
      const storage = meteredStorage(deps.storage, usage);
      const generation = job.input.generation;
      const documentId = job.documentId;
      if (generation === null || documentId === null) throw new PermanentError('JOB_NOT_INGESTED', `job ${job.id} has no source generation or document`);
      const sourceRef = { bucket: job.input.bucket, object: job.input.object, generation };
      const source = path.join(workDir, 'source');
      let downloaded = false;
      const fetchSource = async (): Promise<string> => {
        if (!downloaded) await storage.download(sourceRef, source);
        downloaded = true;
        return source;
      };
      // Headerless PCM is read as declared at upload (the bytes are no container ingest recognised).
      const raw = job.input.audio && !isMediaFamily(job.input.family) ? rawPcmFormatOf(job.input.audio) : undefined;
      const prefix = derivedPrefix({ projectId: job.projectId, documentId, sourceGeneration: generation });

      /**
       * A long recording with an engine that has batch recognition: one operation from Cloud
       * Storage, polled across invocations (./batch.ts). Null when this recording goes segment by segment.
       */
      const viaBatch = async (): Promise<Transcribed | null> => {
        const base = deps.engine();
        const min = deps.batchMinSeconds ?? STT_BATCH_MIN_SECONDS_DEFAULT;
        if (!supportsBatch(base) || min <= 0) return null;
        const store = transcribeBatchCheckpoint(deps.jobs.ref(job.id), generation, base, log);
        const existing = (await store.load()).get(0);
        if (!existing) {
          // The container's own duration decides (a probe, not a decode); one that declares none is batched.
          const probed = await probeMedia(await fetchSource(), { ...(raw ? { raw } : {}), signal });
          if (probed.durationSeconds !== undefined && probed.durationSeconds < min) return null;
        }
        const done = await batchTranscription(
          { engine: base, storage, store, source: fetchSource, ...(raw ? { raw } : {}), target: { bucket: sourceRef.bucket, object: `${prefix}audio.flac` }, jobId: job.id, pollMs: deps.batchPollMs ?? BATCH_POLL_MS },
          { signal, workDir, progress, log, timeLeftMs },
          existing,
        );
        // The audio the service processed is billed once, when its result is taken.
        chargeStt(usage, done.result);
        const transcript = assembleTranscript([{ offsetSeconds: 0, segments: done.result.segments }], { language: done.result.language, durationSeconds: done.result.durationSeconds, engine: base.name, model: done.result.model });
        return { transcript, durationSeconds: done.result.durationSeconds, segmentCount: 1, engineMs: done.result.engineMs, resumedSegments: 0, batchOperation: done.operation };
      };

      /** Segment by segment (normalized, split on silence), checkpointed, paused at the slice's end. */
      const viaSegments = async (): Promise<Transcribed> => {
        // Each segment the engine transcribed is billed, also when a later one fails the attempt.
        const engine = meteredStt(deps.engine(), usage);
        // Segments an earlier attempt transcribed (same generation, engine and model) are not sent again.
        const checkpoints = transcribeCheckpoints(deps.jobs.ref(job.id), generation, engine, log);
        const doneSegments = await checkpoints.load();
        if (doneSegments.size > 0) log.info(`transcribe: resuming with ${doneSegments.size} segment(s) done by an earlier attempt`, { resumedFrom: doneSegments.size });
        try {
          const out = await transcribeAudio(
            engine,
            { path: await fetchSource(), ...(raw ? { raw } : {}) },
            {
              signal,
              workDir,
              concurrency: deps.concurrency ?? 2,
              doneSegments,
              shouldPause: () => timeLeftMs() <= 0,
              onSegment: (index, segment, result) => checkpoints.save(index, { start: segment.start, end: segment.end, result: { ...result, segments: result.segments.map(({ words, ...rest }) => ({ ...rest, ...(words ? { words: words.map((w) => ({ ...w })) } : {}) })) } }),
              // Progress in audio seconds: what a listener to the job sees move.
              onProgress: (p) => progress(p.durationSeconds > 0 ? p.secondsDone / p.durationSeconds : 0, { segmentsDone: p.segmentsDone, segmentCount: p.segmentCount, secondsDone: Math.round(p.secondsDone), durationSeconds: Math.round(p.durationSeconds) }),
            },
          );
          return { transcript: out.transcript, durationSeconds: out.durationSeconds, segmentCount: out.segmentCount, engineMs: out.engineMs, resumedSegments: out.resumedSegments };
        } catch (err) {
          if (err instanceof TranscriptionPaused) throw new ContinueLater(err.message);
          throw err;
        }
      };

      const out = (await viaBatch()) ?? (await viaSegments());
      const engine = deps.engine();
      const write = async (name: string, format: TranscriptFormat) => {
        const { body, contentType } = formatTranscript(out.transcript, format);
        const obj = await storage.writeDerived({ bucket: sourceRef.bucket, object: `${prefix}${name}`, contentType, body, metadata: { jobId: job.id } });
        return { bucket: obj.bucket, object: obj.object, generation: obj.generation, size: obj.size, md5Hash: obj.md5Hash, crc32c: obj.crc32c };
      };
      // The plain transcript is the document's text (one line per segment), as OCR's text is.
      const plain = toPlainText(out.transcript);
      const textObj = await storage.writeDerived({ bucket: sourceRef.bucket, object: `${prefix}text.txt`, contentType: 'text/plain; charset=utf-8', body: plain, metadata: { jobId: job.id } });
      const [json, srt, vtt] = await Promise.all([write('transcript.json', 'json'), write('transcript.srt', 'srt'), write('transcript.vtt', 'vtt')]);
      const ref = (o: { bucket: string; object: string; generation: string }) => ({ bucket: o.bucket, object: o.object, generation: o.generation });
      // ISO 639-3 on the document record, as OCR reports languages.
      const language = languageFromTag(out.transcript.language) ?? 'und';
      const how = out.batchOperation ? `batch recognition (operation ${out.batchOperation})` : `${out.segmentCount} segment(s)`;
      return {
        result: {
          text: ref(textObj),
          language,
          languageTag: out.transcript.language,
          pageCount: 1,
          durationSeconds: Number(out.durationSeconds.toFixed(3)),
          segments: out.transcript.segments.length,
          engine: engine.name,
          model: engine.model,
          transcript: { json: ref(json), srt: ref(srt), vtt: ref(vtt) },
          chars: plain.length,
          // Segments taken from an earlier attempt's checkpoints rather than transcribed again.
          resumedFrom: out.resumedSegments,
          ...(out.batchOperation ? { batchOperation: out.batchOperation } : {}),
        },
        metrics: { engineMs: Math.round(out.engineMs), audioSeconds: Math.round(out.durationSeconds), segments: out.segmentCount, textBytes: Buffer.byteLength(plain), resumedSegments: out.resumedSegments, batch: out.batchOperation ? 1 : 0 },
        document: { pageCount: 1, language, text: { bucket: textObj.bucket, object: textObj.object, generation: textObj.generation, size: textObj.size, md5Hash: textObj.md5Hash, crc32c: textObj.crc32c } },
        message: `transcribed ${out.durationSeconds.toFixed(1)} s of audio with ${how} with ${engine.name} (${engine.model}): ${out.transcript.segments.length} utterance(s), ${plain.length} characters`,
      };
    },
  };
}

export function handleTranscribe(eventData: unknown, deps: TranscribeDeps): Promise<TranscribeOutcome> {
  return runStage(transcribeStage(deps), eventData, deps);
}
