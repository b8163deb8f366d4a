/**
 * Speech for a text of any length: plan it into request-sized chunks, synthesize them one after
 * another with progress, join them into one file. What a TTS job does between reading its input
 * and uploading the result.
 *
 * - Chunks are synthesized as WAV whatever the output format, so the joiner decodes nothing lossy
 *   and the file is encoded once (see join.ts).
 * - Chunk audio waits on disk, not in memory: an hour of 24 kHz speech is ~170 MB of PCM.
 * - The signal is checked before every chunk and passed into each synthesis and the join:
 *   cancelling stops between chunks (or kills the synthesizer mid-chunk) and nothing is written to
 *   `outputPath` after that.
 * - Progress: the share of input bytes synthesized, scaled to 0.95; the join is the last 0.05.
 */
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { PermanentError } from '../../errors/index.js';
import { CallerError, checkAborted, speakingRateOf, withTempDir } from './common.js';
import { joinAudio } from './join.js';
import type { JoinOptions, JoinPiece, JoinResult } from './join.js';
import { planSpeech } from './plan.js';
import type { SpeechChunk } from './plan.js';
import { TTS_ERROR_CODES } from './types.js';
import type { AudioFormat, SpeechInput, TextToSpeechEngine } from './types.js';

export interface LongSynthesisRequest {
  readonly input: SpeechInput;
  readonly voice?: string;
  readonly languageCode?: string;
  readonly speakingRate?: number;
  readonly format: AudioFormat;
  readonly sampleRateHertz?: number;
}

export interface LongSynthesisProgress {
  readonly chunksDone: number;
  readonly chunkCount: number;
  /** 0–1, never decreasing; 1 once the file is written. */
  readonly fraction: number;
}

export interface LongSynthesisOptions extends Pick<JoinOptions, 'pausesMs' | 'bitrateKbps' | 'ffmpegPath'> {
  /** Where the joined file goes (overwritten; removed again if the synthesis fails or is aborted). */
  readonly outputPath: string;
  readonly signal?: AbortSignal;
  /** Awaited after each chunk and at the end; a throw stops the synthesis and is passed on as it is. */
  readonly onProgress?: (progress: LongSynthesisProgress) => void | Promise<void>;
  /** Refuse plans of more chunks than this before any synthesis (default: no limit). */
  readonly maxChunks?: number;
  /** Directory for temporary files (default the OS's). */
  readonly workDir?: string;
}

export interface LongSynthesisResult extends JoinResult {
  readonly engine: string;
  readonly voice: string;
  readonly languageCode: string;
  readonly chunks: readonly Pick<SpeechChunk, 'bytes' | 'boundary' | 'sourceStart' | 'sourceEnd'>[];
  /** Wall time spent in the engine, ms. */
  readonly synthesisMs: number;
}

/**
 * Plans, synthesizes and joins (see the module comment). Throws PermanentError `INPUT_EMPTY` when
 * there is nothing to say, the engine's and the joiner's errors otherwise.
 */
export async function synthesizeLong(engine: TextToSpeechEngine, request: LongSynthesisRequest, options: LongSynthesisOptions): Promise<LongSynthesisResult> {
  const { signal } = options;
  checkAborted(signal);
  const speakingRate = speakingRateOf(request.speakingRate);
  const chunks = planSpeech(request.input, { maxBytes: engine.maxInputBytes, language: request.languageCode ?? null });
  if (chunks.length === 0) throw new PermanentError(TTS_ERROR_CODES.inputEmpty, 'nothing to say: the input is empty');
  if (options.maxChunks !== undefined && chunks.length > options.maxChunks) {
    throw new PermanentError(TTS_ERROR_CODES.inputTooLarge, `the input needs ${chunks.length} requests; the limit is ${options.maxChunks}`);
  }
  const totalBytes = chunks.reduce((n, c) => n + c.bytes, 0);
  const report = async (chunksDone: number, fraction: number): Promise<void> => {
    try {
      await options.onProgress?.({ chunksDone, chunkCount: chunks.length, fraction });
    } catch (err) {
      throw new CallerError(err);
    }
  };

  try {
    return await withTempDir(
      'tts-long-',
      async (dir) => {
        const pieces: JoinPiece[] = [];
        let voice = request.voice ?? '';
        let languageCode = request.languageCode ?? '';
        let synthesisMs = 0;
        let doneBytes = 0;
        for (const [i, chunk] of chunks.entries()) {
          checkAborted(signal);
          const result = await engine.synthesize(
            {
              input: chunk.input,
              ...(request.voice ? { voice: request.voice } : {}),
              ...(request.languageCode ? { languageCode: request.languageCode } : {}),
              speakingRate,
              format: 'wav',
              ...(request.sampleRateHertz ? { sampleRateHertz: request.sampleRateHertz } : {}),
            },
            signal ? { signal } : {},
          );
          const path = join(dir, `chunk-${String(i).padStart(5, '0')}.wav`);
          await writeFile(path, result.audio);
          pieces.push({
            audio: { path },
            boundary: chunk.boundary,
            ...(chunk.pauseAfterMs ? { pauseAfterMs: chunk.pauseAfterMs } : {}),
            ...(chunk.pauseBeforeMs ? { pauseBeforeMs: chunk.pauseBeforeMs } : {}),
          });
          voice = result.voice;
          languageCode = result.languageCode;
          synthesisMs += result.engineMs;
          doneBytes += chunk.bytes;
          await report(i + 1, (0.95 * doneBytes) / totalBytes);
        }
        checkAborted(signal);
        const joined = await joinAudio(pieces, {
          format: request.format,
          outputPath: options.outputPath,
          speakingRate,
          ...(request.sampleRateHertz ? { sampleRateHertz: request.sampleRateHertz } : {}),
          ...(options.pausesMs ? { pausesMs: options.pausesMs } : {}),
          ...(options.bitrateKbps ? { bitrateKbps: options.bitrateKbps } : {}),
          ...(options.ffmpegPath ? { ffmpegPath: options.ffmpegPath } : {}),
          ...(signal ? { signal } : {}),
          workDir: dir,
        });
        checkAborted(signal);
        await report(chunks.length, 1);
        return {
          ...joined,
          engine: engine.name,
          voice,
          languageCode,
          chunks: chunks.map(({ bytes, boundary, sourceStart, sourceEnd }) => ({ bytes, boundary, sourceStart, sourceEnd })),
          synthesisMs,
        };
      },
      options.workDir,
    );
  } catch (err) {
    // No half-written or stale file is left behind for a caller to upload by mistake.
    await rm(options.outputPath, { force: true });
    throw err instanceof CallerError ? err.error : err;
  }
}
