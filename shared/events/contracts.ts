/**
 * Event contracts: one zod schema per topic, imported by publisher and consumer alike. Messages carry
 * references (bucket, object, generation, ids), never file contents. Our own event types carry a
 * version in their `type`; a consumer that meets an unknown type fails it permanently (it is recorded
 * and acknowledged), so producers can only add new types deliberately.
 */
import { z } from 'zod';
import type { TopicName } from '../topology.js';
import { JobErrorSchema } from '../jobs/model.js';
import { DocumentIdSchema, JobIdSchema, ProjectIdSchema } from '../ids.js';

/** The object resource a JSON_API_V1 notification carries (fields we rely on; others pass through). */
export const GcsObjectSchema = z.looseObject({
  bucket: z.string(),
  name: z.string(),
  generation: z.string(),
  metageneration: z.string().optional(),
  contentType: z.string().optional(),
  /** Set from the uploader's Content-Encoding header, which a signed URL cannot bind: ingest refuses encoded uploads. */
  contentEncoding: z.string().optional(),
  size: z.string(),
  md5Hash: z.string().optional(),
  crc32c: z.string().optional(),
  metadata: z.record(z.string(), z.string()).optional(),
  timeCreated: z.string().optional(),
});
export type GcsObject = z.infer<typeof GcsObjectSchema>;

export const GCS_EVENT_TYPES = ['OBJECT_FINALIZE', 'OBJECT_DELETE', 'OBJECT_METADATA_UPDATE', 'OBJECT_ARCHIVE'] as const;

/** Attributes Cloud Storage sets on every notification. */
export const GcsNotificationAttributesSchema = z.looseObject({
  eventType: z.enum(GCS_EVENT_TYPES),
  bucketId: z.string(),
  objectId: z.string(),
  objectGeneration: z.string(),
  payloadFormat: z.literal('JSON_API_V1'),
  notificationConfig: z.string().optional(),
});

const ObjectRefSchema = z.object({ bucket: z.string(), object: z.string(), generation: z.string() });
export type ObjectRef = z.infer<typeof ObjectRefSchema>;

export const OcrRequestedV1 = z.object({
  type: z.literal('scriptorium.document.ocr.requested.v1'),
  jobId: JobIdSchema,
  projectId: ProjectIdSchema,
  documentId: DocumentIdSchema,
  source: ObjectRefSchema,
  contentType: z.string(),
  requestedAt: z.string(),
});
export type OcrRequested = z.infer<typeof OcrRequestedV1>;

/** Ingest → transcribe: a recording (audio or video) to turn into a transcript. Names the work only; the job record says the rest. */
export const TranscribeRequestedV1 = z.object({
  type: z.literal('scriptorium.media.transcribe.requested.v1'),
  jobId: JobIdSchema,
  projectId: ProjectIdSchema,
  documentId: DocumentIdSchema,
  source: ObjectRefSchema,
  contentType: z.string(),
  requestedAt: z.string(),
});
export type TranscribeRequested = z.infer<typeof TranscribeRequestedV1>;

/**
 * API → synthesize: a text-to-speech job (`speech.synthesize`, no document). `source` is the stored
 * request (text or SSML and the voice, language, rate and format asked for, see
 * shared/api/speech.ts); its generation is the job's idempotency key. Names the work only.
 */
export const SynthesizeRequestedV1 = z.object({
  type: z.literal('scriptorium.speech.synthesize.requested.v1'),
  jobId: JobIdSchema,
  projectId: ProjectIdSchema,
  source: ObjectRefSchema,
  requestedAt: z.string(),
});
export type SynthesizeRequested = z.infer<typeof SynthesizeRequestedV1>;

/**
 * A document's text is ready (OCR or extraction done): the fan-out point. The embedding and the
 * summary functions each take it from their own subscription and run in parallel. Like every
 * request, it only names the work; the stages read the text from the document record.
 */
export const TextReadyV1 = z.object({
  type: z.literal('scriptorium.document.text.ready.v1'),
  jobId: JobIdSchema,
  projectId: ProjectIdSchema,
  documentId: DocumentIdSchema,
  /** The source generation the text was made from (the job's idempotency key). */
  generation: z.string(),
  text: ObjectRefSchema,
  pageCount: z.number().int(),
  language: z.string(),
  occurredAt: z.string(),
});
export type TextReady = z.infer<typeof TextReadyV1>;

/** Every stage of a document's job is done: text, chunks with vectors, summary. */
export const DocumentReadyV1 = z.object({
  type: z.literal('scriptorium.document.ready.v1'),
  jobId: JobIdSchema,
  projectId: ProjectIdSchema,
  documentId: DocumentIdSchema,
  text: ObjectRefSchema,
  pageCount: z.number().int(),
  language: z.string(),
  chunkCount: z.number().int(),
  occurredAt: z.string(),
});

export const DocumentFailedV1 = z.object({
  type: z.literal('scriptorium.document.failed.v1'),
  jobId: JobIdSchema,
  projectId: ProjectIdSchema,
  documentId: DocumentIdSchema,
  error: JobErrorSchema,
  occurredAt: z.string(),
});

/**
 * A recording's transcript was translated (`video.translate` jobs): the dub stage starts from it.
 * Names the work only; the dub stage reads the translation from the job's translate result.
 */
export const TranslationReadyV1 = z.object({
  type: z.literal('scriptorium.media.translation.ready.v1'),
  jobId: JobIdSchema,
  projectId: ProjectIdSchema,
  documentId: DocumentIdSchema,
  /** The source generation (the job's idempotency key). */
  generation: z.string(),
  /** The translated transcript (JSON with timings). */
  translation: ObjectRefSchema,
  language: z.string(),
  occurredAt: z.string(),
});
export type TranslationReady = z.infer<typeof TranslationReadyV1>;

/** Everything published on `document-events`: the fan-out point for later stages. */
export const DocumentEventV1 = z.discriminatedUnion('type', [TextReadyV1, DocumentReadyV1, DocumentFailedV1, TranslationReadyV1]);
export type DocumentEvent = z.infer<typeof DocumentEventV1>;

/** Dead-lettered messages are whatever the source topic carried; the dead-letter handler inspects them. */
export const DeadLetteredMessage = z.unknown();

/** The registry: topic → schema of its message data (and attributes where the producer fixes them). */
export const contracts = {
  'object-events': { data: GcsObjectSchema, attributes: GcsNotificationAttributesSchema },
  'ocr-requests': { data: OcrRequestedV1, attributes: z.record(z.string(), z.string()) },
  'transcribe-requests': { data: TranscribeRequestedV1, attributes: z.record(z.string(), z.string()) },
  'synthesize-requests': { data: SynthesizeRequestedV1, attributes: z.record(z.string(), z.string()) },
  'document-events': { data: DocumentEventV1, attributes: z.record(z.string(), z.string()) },
  'dead-letter': { data: DeadLetteredMessage, attributes: z.record(z.string(), z.string()) },
  'dead-letter-unprocessed': { data: DeadLetteredMessage, attributes: z.record(z.string(), z.string()) },
} as const satisfies Record<TopicName, { data: z.ZodType; attributes: z.ZodType }>;

export type Contracts = typeof contracts;
export type MessageOf<T extends TopicName> = z.infer<Contracts[T]['data']>;
export type AttributesOf<T extends TopicName> = z.infer<Contracts[T]['attributes']>;
