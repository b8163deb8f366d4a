/**
 * Ingest: reacts to the bucket's object notifications. A finalized upload is checked against what was
 * declared, routed by what its bytes are (documents → the text stage `ocr`; audio and video → the
 * `transcribe` stage of a `speech.transcribe` job; anything else → FAILED with the reason) and
 * handed to the next stage. Idempotent on `bucket/object#generation`: the job records the generation
 * it took and whether the next stage was dispatched, so a duplicated notification changes nothing.
 */
import type { Transaction } from '@google-cloud/firestore';
import type { GcsObject } from '../../shared/events/contracts.js';
import { parseMessage } from '../../shared/events/envelope.js';
import type { Publisher } from '../../shared/events/publisher.js';
import { contentTypesAgree, DOCX_TYPE, OCTET_STREAM, SNIFF_HEAD_BYTES, sniffContentType, type ContentFamily, type SniffResult } from '../../shared/content/sniff.js';
import { isOcrContentType, OCR_CONTENT_TYPES } from '../../shared/engines/ocr/types.js';
import type { StorageGateway } from '../../shared/storage/index.js';
import { isRetryable, type JobError, PermanentError, toJobError, TransientError } from '../../shared/errors/index.js';
import { announceOutcome, failJob } from '../../shared/jobs/outcomes.js';
import type { DocumentRepository, DocumentRecord } from '../../shared/firestore/documents.js';
import { countedWrite, type JobChange, type JobRepository } from '../../shared/firestore/jobs.js';
import { overallProgress, type Job } from '../../shared/jobs/model.js';
import type { Logger } from '../../shared/logger/index.js';
import { parseUploadObjectName } from '../../shared/storage/names.js';
import { firstStage, firstStageRequest } from '../../shared/stages/requests.js';

export interface IngestDeps {
  readonly jobs: JobRepository;
  /** Reads the first bytes of an upload to tell what it is (routing is by the bytes, not the declaration). */
  readonly storage: Pick<StorageGateway, 'readHead'>;
  readonly documents: DocumentRepository;
  readonly publisher: Publisher;
  readonly config: { readonly SCRIPTORIUM_MAX_ATTEMPTS: number };
  readonly log: Logger;
  readonly now?: () => Date;
}

/** What happened to one notification (returned for tests and logged). */
export type IngestOutcome =
  | { readonly action: 'ignored'; readonly reason: string }
  | { readonly action: 'duplicate'; readonly jobId: string }
  | { readonly action: 'dispatched'; readonly jobId: string; readonly stage: 'ocr' | 'transcribe' }
  | { readonly action: 'failed'; readonly jobId: string; readonly error: JobError }
  | { readonly action: 'source-deleted'; readonly jobId: string };

/** Content type without parameters (`application/pdf; x=y` → `application/pdf`). */
function baseType(contentType: string): string {
  return contentType.split(';')[0]?.trim().toLowerCase() ?? '';
}

/** Checks an uploaded object against its declaration; the error to fail the job with, or null. */
export function checkUpload(job: Job, object: GcsObject, sniffed?: SniffResult): JobError | null {
  const size = Number(object.size);
  if (size !== job.input.declaredSize) {
    return { code: 'SIZE_MISMATCH', message: `uploaded ${size} bytes but ${job.input.declaredSize} were declared`, retryable: false };
  }
  // Content-Encoding is not part of a signed URL: an uploader can add it. A stored encoding would make
  // every reader transcode (or fail to) the bytes the checks below describe; refuse it once, here.
  const encoding = (object.contentEncoding ?? '').trim().toLowerCase();
  if (encoding !== '' && encoding !== 'identity') {
    return { code: 'CONTENT_ENCODING_NOT_SUPPORTED', message: `uploaded with Content-Encoding ${encoding.slice(0, 40)}; upload the file itself, uncompressed, without a Content-Encoding header`, retryable: false };
  }
  // Declared checksums: the store checked them against the bytes (they are signed); this holds even
  // where it did not, because the object's hashes are computed by the store from what it kept.
  if (job.input.md5Hash !== null && object.md5Hash !== job.input.md5Hash) {
    return { code: 'CHECKSUM_MISMATCH', message: 'the uploaded file does not have the MD5 that was declared', retryable: false };
  }
  if (job.input.crc32c !== null && object.crc32c !== job.input.crc32c) {
    return { code: 'CHECKSUM_MISMATCH', message: 'the uploaded file does not have the CRC32C that was declared', retryable: false };
  }
  const actual = baseType(object.contentType ?? '');
  const declared = baseType(job.input.contentType);
  if (actual !== declared) {
    return { code: 'CONTENT_TYPE_MISMATCH', message: `uploaded as ${actual || 'no content type'} but declared ${declared}`, retryable: false };
  }
  // Routed by the bytes: the declared type must agree with what they are, and that must be a document.
  if (sniffed) {
    // A translation is of a recording: a document has no speech to translate.
    if (job.kind === 'video.translate' && isDocumentFamily(sniffed.family)) {
      return { code: 'TRANSLATE_NEEDS_RECORDING', message: `the file is ${sniffed.type}: only audio or video recordings can be translated`, retryable: false };
    }
    // Headerless PCM declared at upload: no container to recognise, the declaration says how to read it.
    if (isDeclaredPcm(job, declared, sniffed)) return null;
    if (!isDocumentFamily(sniffed.family) && !isMediaFamily(sniffed.family)) {
      const what = sniffed.type === OCTET_STREAM ? 'not a format Scriptorium recognises' : sniffed.type;
      return { code: 'UNSUPPORTED_CONTENT_TYPE', message: `the file is ${what}: supported documents are ${SUPPORTED_DOCUMENTS}`, retryable: false };
    }
    if (!contentTypesAgree(declared, sniffed)) {
      return { code: 'CONTENT_TYPE_MISMATCH', message: `declared ${declared} but the file is ${sniffed.type}`, retryable: false };
    }
    return null;
  }
  if (!isOcrContentType(declared) && !DECLARED_TEXT_TYPES.has(declared) && !/^(audio|video)\//.test(declared)) {
    return { code: 'UNSUPPORTED_CONTENT_TYPE', message: `${declared} is not a document type Scriptorium processes: supported documents are ${SUPPORTED_DOCUMENTS}`, retryable: false };
  }
  return null;
}

/** What the text stage reads: PDFs and images (OCR or text layer), text, Markdown, HTML, DOCX. */
const DOCUMENT_FAMILIES: ReadonlySet<string> = new Set(['pdf', 'image', 'text', 'markdown', 'html', 'docx']);
function isDocumentFamily(family: ContentFamily): boolean {
  return DOCUMENT_FAMILIES.has(family);
}
const DECLARED_TEXT_TYPES: ReadonlySet<string> = new Set(['text/plain', 'text/markdown', 'text/html', DOCX_TYPE]);
const SUPPORTED_DOCUMENTS = `PDF, images (${OCR_CONTENT_TYPES.filter((t) => t.startsWith('image/')).join(', ')}), plain text, Markdown, HTML, DOCX, and audio or video recordings (WAV, FLAC, MP3, OGG/Opus, M4A/AAC, WebM, MP4) to transcribe`;

/**
 * Bytes no sniffer recognises, uploaded with a PCM declaration (`audio` on the upload) under an
 * audio or generic type: read as that PCM by the transcribe stage (ffmpeg `-f s16le -ar … -ac …`).
 */
function isDeclaredPcm(job: Job, declared: string, sniffed: SniffResult | undefined): boolean {
  if (job.input.audio === null) return false;
  if (sniffed && sniffed.family !== 'unknown') return false;
  return declared === OCTET_STREAM || declared.startsWith('audio/');
}

/** Recordings: their text is a transcript (the `transcribe` stage), not OCR. */
function isMediaFamily(family: string | null | undefined): boolean {
  return family === 'audio' || family === 'video';
}

function sourceOf(object: GcsObject): DocumentRecord['source'] {
  return {
    bucket: object.bucket,
    object: object.name,
    generation: object.generation,
    size: Number(object.size),
    md5Hash: object.md5Hash ?? null,
    crc32c: object.crc32c ?? null,
  };
}

export async function handleIngest(eventData: unknown, deps: IngestDeps): Promise<IngestOutcome> {
  const { data: object, attributes } = parseMessage('object-events', eventData);
  const key = `${object.bucket}/${object.name}#${object.generation}`;
  const log = deps.log.child({ object: key, eventType: attributes.eventType });
  const now = (deps.now ?? (() => new Date()))();

  // The attributes and the object resource describe the same object, or the message is not Cloud Storage's.
  if (attributes.bucketId !== object.bucket || attributes.objectId !== object.name || attributes.objectGeneration !== object.generation) {
    log.warn('notification attributes disagree with its object: ignored');
    return { action: 'ignored', reason: 'attributes disagree with the object' };
  }
  if (attributes.eventType !== 'OBJECT_FINALIZE' && attributes.eventType !== 'OBJECT_DELETE') return { action: 'ignored', reason: `event ${attributes.eventType}` };
  // Only objects at an upload name the API handed out are ours to process. Derived objects live
  // under `derived/` and are recognised by that alone: object metadata is set by whoever writes the
  // object (an uploader too), so it decides nothing here.
  const ids = parseUploadObjectName(object.name);
  if (!ids) {
    log.warn('object not created through the API: nothing to attach it to');
    return { action: 'ignored', reason: 'not an API upload' };
  }
  // The upload's version record says which job takes it (the document record shows the current version only).
  const doc = await deps.documents.getVersion(ids.documentId, ids.version);
  if (!doc || doc.projectId !== ids.projectId || doc.source.object !== object.name) {
    log.warn('no document record for this upload', { documentId: ids.documentId, version: ids.version });
    return { action: 'ignored', reason: 'no document record' };
  }
  // The document names the bucket its upload goes to: the same name in another bucket is not it.
  if (doc.source.bucket !== object.bucket) {
    log.warn('notification for another bucket than the document\'s: ignored', { documentId: ids.documentId, expected: doc.source.bucket });
    return { action: 'ignored', reason: 'not the document\'s bucket' };
  }
  const jobId = doc.jobId;

  if (attributes.eventType === 'OBJECT_DELETE') {
    // Deleting a source mid-flight must not leave the job hanging; after completion it changes nothing.
    const error: JobError = { code: 'SOURCE_DELETED', message: `the uploaded file was deleted before processing finished`, retryable: false };
    const out = await failJob(deps, jobId, ids.documentId, error, (job) => job.input.generation === null || job.input.generation === object.generation);
    await announceOutcome(deps, out.job);
    return out.applied ? { action: 'source-deleted', jobId } : { action: 'ignored', reason: 'job already finished' };
  }

  // What the bytes are, read once while the upload is still awaited (duplicates after the claim skip it).
  // An encoded upload is refused by checkUpload without reading it.
  let sniffed: SniffResult | undefined;
  let unreadable: JobError | null = null;
  const encoded = (object.contentEncoding ?? 'identity').trim().toLowerCase() !== 'identity' && (object.contentEncoding ?? '') !== '';
  if (doc.status === 'AWAITING_UPLOAD' && !encoded) {
    try {
      const head = await deps.storage.readHead({ bucket: object.bucket, object: object.name, generation: object.generation }, SNIFF_HEAD_BYTES);
      sniffed = sniffContentType(head, doc.contentType, { name: doc.fileName, complete: head.length >= Number(object.size) });
    } catch (err) {
      if (isRetryable(err)) throw err;
      // The upload cannot be read (gone already): the job ends here rather than wait for nothing,
      // unless the checks that need no bytes already fail it (they name the first problem).
      unreadable = toJobError(err);
    }
  }

  const outcome = await deps.jobs.update(jobId, (job): JobChange | null => {
    if (job.input.generation !== null) {
      // Already took a generation: this one (a duplicate) or another (create-only URLs make that impossible through the API).
      return null;
    }
    const also = (status: DocumentRecord['status']) => (tx: Transaction) => deps.documents.updateForJob(tx, job, { status, source: sourceOf(object) });
    const detected = sniffed ? { detectedType: sniffed.type, family: sniffed.family } : {};
    const failure = checkUpload(job, object, sniffed) ?? unreadable;
    if (failure) {
      return { status: 'FAILED', stage: 'ingest', error: failure, input: { generation: object.generation, ...detected }, log: { level: 'ERROR', message: `${failure.code}: ${failure.message}` }, also: also('FAILED') };
    }
    // What the bytes are decides the pipeline: a recording is transcribed, anything else read (OCR or extraction).
    const speech = isDeclaredPcm(job, baseType(job.input.contentType), sniffed) || isMediaFamily(sniffed?.family ?? (/^(audio|video)\//.test(baseType(job.input.contentType)) ? 'audio' : null));
    const first = speech ? 'transcribe' : 'ocr';
    return {
      // A translation (decided at upload) stays one: its pipeline starts with transcription too.
      ...(speech && job.kind !== 'video.translate' ? { kind: 'speech.transcribe' as const } : {}),
      status: 'RUNNING',
      stage: first,
      progress: overallProgress('ocr', 0),
      // The first stage exists (PENDING) from the moment ingest takes the upload: the runner claims it.
      stages: [{ name: first, status: 'PENDING' }],
      input: { generation: object.generation, ...detected },
      log: { level: 'INFO', message: `upload received (${object.size} bytes${sniffed ? `, ${sniffed.type}` : ''}), queued for ${speech ? 'transcription' : 'text extraction'}`, fields: { generation: object.generation } },
      also: also('PROCESSING'),
    };
  });

  const job = outcome.job;
  if (!outcome.applied) {
    // A redelivery after we took this generation but before the dispatch was recorded: dispatch again
    // (the OCR stage is idempotent per job and generation). Otherwise it is a pure duplicate.
    const first = firstStage(job);
    if (job.status === 'RUNNING' && job.stage === first && job.input.generation === object.generation && job.dispatchedStage !== first) {
      return dispatchFirst(deps, job, object, now);
    }
    // A terminal job whose announcement was lost gets it now.
    await announceOutcome(deps, job);
    log.info('duplicate or stale notification: nothing to do', { jobId, status: job.status });
    return { action: 'duplicate', jobId };
  }
  if (job.status === 'FAILED' && job.error) {
    await announceOutcome(deps, job);
    log.warn('upload refused', { jobId, error: job.error });
    return { action: 'failed', jobId, error: job.error };
  }
  const dispatched = await dispatchFirst(deps, job, object, now);
  log.info(`dispatched to ${firstStage(job)}`, { jobId });
  return dispatched;
}

/**
 * Publishes the first stage's request (OCR or transcription) for a job ingest has taken. Dispatch
 * failures count as attempts of that stage: a transient one is recorded and rethrown (Pub/Sub
 * redelivers the notification, which dispatches again) until the attempt cap; a permanent one fails
 * the job. A job is never left RUNNING with nothing on its way.
 */
async function dispatchFirst(deps: IngestDeps, job: Job, object: GcsObject, now: Date): Promise<IngestOutcome> {
  const documentId = job.documentId;
  const stage = firstStage(job);
  const ourGeneration = (j: Job): boolean => j.status === 'RUNNING' && j.stage === stage && j.input.generation === object.generation;
  // Once the stage has claimed the job (it marks the dispatch itself), a failing re-dispatch must not touch it.
  const undispatched = (j: Job): boolean => ourGeneration(j) && j.dispatchedStage !== stage && (j.stages[stage]?.status ?? 'PENDING') === 'PENDING' && !j.stages[stage]?.lease;
  const attempts = job.stages[stage]?.attempts ?? 0;
  try {
    if (!documentId) throw new PermanentError('JOB_WITHOUT_DOCUMENT', `job ${job.id} has no document`);
    const { topic, data } = firstStageRequest({ ...job, documentId }, object.generation, now.toISOString());
    await deps.publisher.publish(topic, data, { jobId: job.id });
  } catch (err) {
    const error = toJobError(err);
    const max = deps.config.SCRIPTORIUM_MAX_ATTEMPTS;
    if (!isRetryable(err) || attempts + 1 >= max) {
      const final: JobError = isRetryable(err) ? { code: error.code, message: `could not hand the ${stage === 'ocr' ? 'document to OCR' : 'recording to transcription'}: ${error.message} (gave up after ${attempts + 1} attempts)`, retryable: false } : error;
      const out = await failJob(deps, job.id, documentId, final, undispatched, stage);
      await announceOutcome(deps, out.job);
      return { action: 'failed', jobId: job.id, error: final };
    }
    await deps.jobs.update(job.id, (j) => (undispatched(j) ? { stages: [{ name: stage, attempts: 'increment', error }], log: { level: 'WARNING', message: `dispatch to ${stage} failed, will retry: ${error.code}: ${error.message}` } } : null));
    throw err instanceof TransientError ? err : new TransientError(error.code, error.message, err);
  }
  // A plain field write, not a transition: it only tells a redelivery that the publish happened.
  await deps.jobs.ref(job.id).update({ dispatchedStage: stage, 'metrics.firestoreWrites': countedWrite() });
  return { action: 'dispatched', jobId: job.id, stage };
}
