/**
 * Dub stage (`video.translate` jobs): when the transcript's translation is ready, speaks each
 * translated segment with the text-to-speech engine in the target language, fits each clip to its
 * segment's place in the recording (as it is, into the pause after it, sped up to 1.5×, or cut:
 * shared/media/dub.ts), assembles one track as long as the recording and muxes it with the video
 * (in place of the original audio, or over it lowered by 18 dB) into an MP4 kept create-only under
 * the source generation's derived prefix. Cancelling stops between segments.
 */
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';

import { synthesizeLong, type TextToSpeechEngine } from '../../shared/engines/tts/index.js';
import { PermanentError, TransientError } from '../../shared/errors/index.js';
import { assembleTrack, clipLimits, fitClip, MAX_TEMPO, muxDub, renderClip } from '../../shared/media/dub.js';
import { probeMedia } from '../../shared/media/probe.js';
import { parseTranscriptJson } from '../../shared/media/transcript.js';
import { leaseFor, runStage, type StageDefinition, type StageDeps, type StageOutcome } from '../../shared/stages/runner.js';
import { decodeTranslationReady, translationRefsOf } from '../../shared/stages/translation-ready.js';
import type { StorageGateway } from '../../shared/storage/index.js';
import { derivedPrefix } from '../../shared/storage/names.js';

export interface DubDeps extends StageDeps {
  readonly storage: StorageGateway;
  /** Created on first use by the function. */
  readonly engine: () => TextToSpeechEngine;
}

export function dubStage(deps: Pick<DubDeps, 'storage' | 'engine'>): StageDefinition {
  return {
    name: 'dub',
    leaseMs: leaseFor('dub'),
    decode: (eventData) => decodeTranslationReady('dub', eventData),
    async work({ job, signal, workDir, progress }) {
      const refs = translationRefsOf(job);
      const generation = job.input.generation;
      if (!refs || generation === null || job.documentId === null) throw new PermanentError('JOB_NOT_TRANSLATED', `job ${job.id} has no translation`);
      const mix = job.input.translate?.mix ?? 'replace';
      const source = path.join(workDir, 'source');
      await deps.storage.download({ bucket: job.input.bucket, object: job.input.object, generation }, source);
      const translation = parseTranscriptJson((await deps.storage.read(refs.json)).toString('utf8'));
      const probed = await probeMedia(source, { signal });
      // The track lasts as long as the recording (the container's duration; the transcript's when it declares none).
      const duration = Math.max(probed.durationSeconds ?? 0, translation.durationSeconds);
      const segments = translation.segments.map((s) => ({ start: s.start, end: s.end, text: s.text.trim() }));
      const limits = clipLimits(segments, duration);
      const engine = deps.engine();
      const clipsDir = path.join(workDir, 'clips');
      await mkdir(clipsDir);
      const clips: { start: number; pcmPath: string }[] = [];
      let ttsMs = 0;
      let spedUp = 0;
      let trimmed = 0;
      let maxTempo = 1;
      let voice = '';
      const spoken = segments.filter((s) => s.text !== '').length;
      let done = 0;
      for (const [i, seg] of segments.entries()) {
        // Between segments: a cancelled job stops here (the runner's progress write aborts the signal).
        if (signal.aborted) throw new TransientError('ABORTED', 'dubbing stopped');
        if (seg.text === '' || seg.start >= duration) continue;
        const wav = path.join(clipsDir, `${i}.wav`);
        const said = await synthesizeLong(engine, { input: { text: seg.text }, languageCode: refs.language, format: 'wav' }, { outputPath: wav, signal, workDir: clipsDir });
        ttsMs += said.synthesisMs;
        voice = said.voice;
        const fit = fitClip(said.durationSeconds, seg.start, limits[i] ?? duration);
        if (fit.tempo > 1) spedUp++;
        if (fit.trimmed) trimmed++;
        maxTempo = Math.max(maxTempo, fit.tempo);
        const pcmPath = path.join(clipsDir, `${i}.pcm`);
        await renderClip(wav, fit, pcmPath, signal);
        clips.push({ start: fit.start, pcmPath });
        done++;
        await progress((0.85 * done) / Math.max(1, spoken), { segmentsDubbed: done, segmentCount: spoken });
      }
      if (clips.length === 0) throw new PermanentError('NO_SPEECH', 'the translation has no text to speak');
      const track = path.join(workDir, 'track.wav');
      await assembleTrack(clips, duration, track);
      await progress(0.9);
      const output = path.join(workDir, 'dubbed.mp4');
      const muxed = await muxDub({ sourcePath: source, trackPath: track, outputPath: output, mix, signal });
      const prefix = derivedPrefix({ projectId: job.projectId, documentId: job.documentId, sourceGeneration: generation });
      const obj = await deps.storage.writeDerived({ bucket: job.input.bucket, object: `${prefix}dub.${refs.language}.mp4`, contentType: 'video/mp4', body: await readFile(output), metadata: { jobId: job.id } });
      const mp4 = { bucket: obj.bucket, object: obj.object, generation: obj.generation };
      return {
        result: {
          dub: { language: refs.language, mp4, mix, durationSeconds: Number(duration.toFixed(3)) },
          dubbedSegments: clips.length,
          voice,
          ttsEngine: engine.name,
          spedUpSegments: spedUp,
          trimmedSegments: trimmed,
          maxTempo: Number(maxTempo.toFixed(3)),
          hasVideo: muxed.hasVideo,
          videoCopied: muxed.videoCopied,
        },
        metrics: { ttsMs: Math.round(ttsMs), muxMs: muxed.ffmpegMs, dubbedSegments: clips.length, mp4Bytes: obj.size },
        message: `dubbed ${clips.length} segment(s) in ${refs.language} with ${engine.name} (${voice}); ${spedUp} sped up (max ${maxTempo.toFixed(2)}×, limit ${MAX_TEMPO}×), ${trimmed} cut; ${mix === 'duck' ? 'mixed over the lowered original' : 'original audio replaced'}; ${obj.size} bytes of MP4`,
      };
    },
  };
}

export function handleDub(eventData: unknown, deps: DubDeps): Promise<StageOutcome> {
  return runStage(dubStage(deps), eventData, deps);
}
