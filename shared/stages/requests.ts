/**
 * The request that starts a job's first stage, built from the job record: OCR (text extraction) for
 * documents, transcription for recordings. Ingest dispatches it; the reaper publishes it again.
 */
import type { OcrRequested, SynthesizeRequested, TranscribeRequested } from '../events/contracts.js';
import type { Job } from '../jobs/model.js';

export type FirstStageRequest = { readonly topic: 'ocr-requests'; readonly data: OcrRequested } | { readonly topic: 'transcribe-requests'; readonly data: TranscribeRequested };

/** The stage a taken upload starts with: transcription for recordings, text extraction (OCR) otherwise. */
export function firstStage(job: Pick<Job, 'kind'>): 'ocr' | 'transcribe' {
  return job.kind === 'speech.transcribe' || job.kind === 'video.translate' ? 'transcribe' : 'ocr';
}

/** The first stage's request for `job` (which must have its document and source generation). */
export function firstStageRequest(job: Job & { readonly documentId: string }, generation: string, requestedAt: string): FirstStageRequest {
  const common = {
    jobId: job.id,
    projectId: job.projectId,
    documentId: job.documentId,
    source: { bucket: job.input.bucket, object: job.input.object, generation },
    // Without parameters (`application/pdf; x=y` → `application/pdf`).
    contentType: job.input.contentType.split(';')[0]?.trim().toLowerCase() ?? '',
    requestedAt,
  };
  return firstStage(job) === 'transcribe'
    ? { topic: 'transcribe-requests', data: { type: 'scriptorium.media.transcribe.requested.v1', ...common } }
    : { topic: 'ocr-requests', data: { type: 'scriptorium.document.ocr.requested.v1', ...common } };
}

/** The synthesize stage's request for a `speech.synthesize` job (its stored request's generation): the API dispatches it, the reaper publishes it again. */
export function synthesizeRequest(job: Pick<Job, 'id' | 'projectId' | 'input'>, generation: string, requestedAt: string): { readonly topic: 'synthesize-requests'; readonly data: SynthesizeRequested } {
  return { topic: 'synthesize-requests', data: { type: 'scriptorium.speech.synthesize.requested.v1', jobId: job.id, projectId: job.projectId, source: { bucket: job.input.bucket, object: job.input.object, generation }, requestedAt } };
}
