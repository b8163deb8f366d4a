/**
 * Long recordings with the google engine: Speech-to-Text v2 batch recognition from Cloud Storage.
 *
 * The recording is normalized (16 kHz mono) and written next to the source as FLAC (create-only,
 * under the source generation's derived prefix), one `BatchRecognize` operation is started on it,
 * and its name is checkpointed on the job. Every invocation after that only polls the operation:
 * while it runs, progress follows the service's percentage and the invocation ends at its slice
 * with ContinueLater, so no function is held open for the whole recording and the next invocation
 * (the continuation, or the reaper's re-dispatch) polls the same operation instead of starting
 * another. An operation that ended in failure has its checkpoint cleared, so a retry starts anew; a
 * cancelled job asks the service to cancel the operation.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { TransientError } from '../../shared/errors/index.js';
import { runProcess } from '../../shared/engines/exec.js';
import { isEndedBatchError, type GoogleSttEngine, type SttResult } from '../../shared/engines/stt/index.js';
import { normalizeAudio } from '../../shared/media/normalize.js';
import { MEDIA_ERROR_CODES } from '../../shared/media/types.js';
import type { RawPcmFormat } from '../../shared/media/types.js';
import type { CheckpointStore } from '../../shared/stages/checkpoints.js';
import type { BatchOperationCheckpoint } from '../../shared/stages/resume.js';
import { abortedByCancel, ContinueLater, type StageContext } from '../../shared/stages/runner.js';
import type { StorageGateway } from '../../shared/storage/index.js';

/** Default time between two polls of a running operation. */
export const BATCH_POLL_MS = 10_000;

export interface BatchRun {
  readonly engine: GoogleSttEngine;
  readonly storage: StorageGateway;
  readonly store: CheckpointStore<BatchOperationCheckpoint>;
  /** Downloads the source once and returns its local path. */
  readonly source: () => Promise<string>;
  readonly raw?: RawPcmFormat;
  /** Where the normalized FLAC goes: `gs://{bucket}/{object}`. */
  readonly target: { readonly bucket: string; readonly object: string };
  readonly jobId: string;
  readonly pollMs: number;
}

/** What a batch transcription gave: the engine's result and its operation. */
export interface BatchOutcome {
  readonly result: SttResult;
  readonly operation: string;
}

/**
 * Starts (or finds) the operation and polls it until it is done or the slice ends. Returns the
 * result, or throws ContinueLater / the engine's error (PermanentError or TransientError).
 */
export async function batchTranscription(run: BatchRun, ctx: Pick<StageContext, 'signal' | 'workDir' | 'progress' | 'log' | 'timeLeftMs'>, existing?: BatchOperationCheckpoint): Promise<BatchOutcome> {
  const { engine, store } = run;
  const { signal } = ctx;
  const handle = existing ?? (await start(run, ctx));
  if (existing) ctx.log.info(`transcribe: polling batch recognition ${handle.operation} started at ${handle.startedAt}`, { operation: handle.operation });
  try {
    for (;;) {
      let status;
      try {
        status = await engine.checkBatch(handle, { signal, durationSeconds: handle.durationSeconds });
      } catch (err) {
        if (isEndedBatchError(err)) {
          // The operation failed for good: a retry must not poll it again.
          const removed = await store.clear();
          ctx.log.warn(`transcribe: batch recognition ${handle.operation} failed; ${removed} checkpoint(s) cleared so a retry starts anew`, { err });
        }
        throw err;
      }
      if (status.done) return { result: status.result, operation: handle.operation };
      const percent = status.progressPercent ?? 0;
      await ctx.progress(Math.min(0.99, percent / 100), { batchPercent: percent, durationSeconds: Math.round(handle.durationSeconds) });
      if (ctx.timeLeftMs() <= run.pollMs) throw new ContinueLater(`batch recognition ${handle.operation} is ${percent}% done`);
      await sleep(run.pollMs, undefined, { signal });
    }
  } finally {
    // A cancelled job asks the service to stop the operation (its audio is billed as processed);
    // an attempt that lost its lease leaves it to the attempt that took over, which polls it.
    if (abortedByCancel(signal)) {
      const ok = await engine.cancelBatch(handle);
      ctx.log.info(`transcribe: batch recognition ${handle.operation} ${ok ? 'cancel requested' : 'could not be cancelled'}`);
    }
  }
}

async function start(run: BatchRun, ctx: Pick<StageContext, 'signal' | 'workDir' | 'log'>): Promise<BatchOperationCheckpoint> {
  const { signal, workDir } = ctx;
  const source = await run.source();
  const wav = path.join(workDir, 'batch.wav');
  const normalized = await normalizeAudio(source, wav, { ...(run.raw ? { raw: run.raw } : {}), signal });
  const flac = path.join(workDir, 'batch.flac');
  // FLAC: lossless and about half the size of the WAV; a format batch recognition detects by itself.
  const r = await runProcess('ffmpeg', ['-nostdin', '-hide_banner', '-loglevel', 'error', '-i', `file:${normalized.path}`, '-c:a', 'flac', '-compression_level', '5', '-y', `file:${flac}`], {
    signal,
    timeoutMs: 60_000 + Math.round(normalized.durationSeconds * 200),
  });
  if (r.code !== 0) throw new TransientError(MEDIA_ERROR_CODES.toolFailed, `ffmpeg could not encode FLAC: ${r.stderr.slice(0, 300)}`);
  const obj = await run.storage.writeDerived({ bucket: run.target.bucket, object: run.target.object, contentType: 'audio/flac', body: await readFile(flac), metadata: { jobId: run.jobId } });
  const uri = `gs://${obj.bucket}/${obj.object}`;
  const started = await run.engine.startBatch({ uri, durationSeconds: normalized.durationSeconds }, { signal });
  const checkpoint: BatchOperationCheckpoint = { operation: started.operation, uri, language: started.language, durationSeconds: normalized.durationSeconds, startedAt: new Date().toISOString() };
  await run.store.save(0, checkpoint);
  // A duplicate attempt may have saved its own operation first: the stored one is the one polled.
  const stored = (await run.store.load()).get(0);
  if (!stored) throw new TransientError('CHECKPOINT_LOST', `batch recognition ${started.operation} started, but its checkpoint could not be written`);
  if (stored.operation !== started.operation) {
    ctx.log.warn(`transcribe: another attempt started batch recognition ${stored.operation} first; cancelling ours`, { ours: started.operation });
    await run.engine.cancelBatch(started);
  }
  ctx.log.info(`transcribe: batch recognition ${stored.operation} started on ${uri} (${Math.round(normalized.durationSeconds)} s)`, { operation: stored.operation });
  return stored;
}
