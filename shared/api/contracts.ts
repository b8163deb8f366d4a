/**
 * HTTP contracts of the `api` function, shared by the function, the CLI and (later) the client SDK
 * and the OpenAPI generator.
 */
import { z } from 'zod';
import { DocumentIdSchema, ProjectIdSchema } from '../ids.js';
import { RawAudioDeclarationSchema, TranslateRequestSchema } from '../jobs/media-input.js';

export { ProjectIdSchema };

/** Largest JSON body the API reads (requests are small: an upload declaration is a few hundred bytes). */
export const MAX_API_BODY_BYTES = 64 * 1024;

/** A file name as the user sees it: no path separators, no control characters. */
export const FileNameSchema = z
  .string()
  .min(1)
  .max(255)
  .refine((s) => !/[/\\]/.test(s), 'file name must not contain / or \\')
  .refine((s) => !/\p{Cc}/u.test(s), 'file name must not contain control characters')
  // Bidi overrides and isolates disguise names (`cod\u202Efdp.exe`); lone surrogates are not text.
  .refine((s) => !/[\u202A-\u202E\u2066-\u2069]|\p{Cs}/u.test(s), 'file name must not contain bidi controls or lone surrogates')
  .refine((s) => s !== '.' && s !== '..', 'file name must not be . or ..');

/**
 * RFC 9110 §8.3.1 media type: `type "/" subtype *( OWS ";" OWS [ parameter ] )`, parameters
 * `token "=" ( token / quoted-string )`. Only visible ASCII (no obs-text): the value becomes a signed
 * header the uploader must send, and an HTTP header value outside Latin-1 cannot be sent at all.
 */
const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+";
const QUOTED = '"(?:[\\t !#-\\[\\]-~]|\\\\[\\t -~])*"';
export const MEDIA_TYPE = new RegExp(`^${TOKEN}/${TOKEN}(?:[ \\t]*;[ \\t]*(?:${TOKEN}=(?:${TOKEN}|${QUOTED}))?)*$`);

/** `type/subtype` with optional parameters, RFC 9110 syntax; lowercased on parse. */
export const ContentTypeSchema = z
  .string()
  .max(255)
  .regex(MEDIA_TYPE, 'content type must be an RFC 9110 media type (type/subtype; name=value), ASCII only')
  .transform((s) => s.toLowerCase());

/** Base64 of a 16-byte MD5 digest (what Cloud Storage reports as md5Hash). */
export const Md5Base64Schema = z.string().regex(/^[A-Za-z0-9+/]{22}==$/, 'md5Hash: base64 of the 16-byte MD5 digest');
/** Base64 of the 4-byte big-endian CRC32C (what Cloud Storage reports as crc32c). */
export const Crc32cBase64Schema = z.string().regex(/^[A-Za-z0-9+/]{6}==$/, 'crc32c: base64 of the 4-byte big-endian CRC32C');

export const CreateUploadRequestSchema = z.object({
  projectId: ProjectIdSchema,
  fileName: FileNameSchema,
  contentType: ContentTypeSchema,
  /** Declared size in bytes; the signed URL only accepts exactly this many. */
  size: z.number().int().positive(),
  /** Makes the request idempotent: the same caller, project and id return the same upload. */
  clientRequestId: z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/).optional(),
  /**
   * Checksums of the file, optional. When given they are signed into the upload URL (the store
   * refuses other bytes) and checked again when the upload arrives.
   */
  /** The agent (processing profile) to run with: an active agent of the project. Default: the project's default agent, if any. */
  agentId: z.string().regex(/^agt_[0-9a-f]{16}$/, 'agent id: agt_ and 16 hex digits').optional(),
  md5Hash: Md5Base64Schema.optional(),
  crc32c: Crc32cBase64Schema.optional(),
  /**
   * Uploads the file as the next version of this document (same project). The document keeps showing
   * its current version until the new one is READY; one version is processed at a time (409
   * VERSION_IN_PROGRESS otherwise).
   */
  documentId: DocumentIdSchema.optional(),
  /**
   * Translate the recording (a video, or audio): transcript, translated subtitles (SRT, WebVTT) and
   * a dubbed MP4 in `to` (a `video.translate` job). See README "Video translation".
   */
  translate: TranslateRequestSchema.optional(),
  /**
   * Headerless PCM only: its encoding, sample rate and channels (the bytes cannot say). Without it
   * such an upload fails UNSUPPORTED_CONTENT_TYPE; containers (WAV, FLAC, MP3…) need none.
   */
  audio: RawAudioDeclarationSchema.optional(),
}).strict();
export type CreateUploadRequest = z.input<typeof CreateUploadRequestSchema>;

export const CreateUploadResponseSchema = z.object({
  documentId: z.string(),
  /** The version this upload becomes (1 for a new document; absent from servers before versions). */
  version: z.number().int().min(1).default(1),
  jobId: z.string(),
  uploadUrl: z.string().url(),
  method: z.literal('PUT'),
  /** Headers the uploader must send exactly as given (they are part of the signature). */
  headers: z.record(z.string(), z.string()),
  expiresAt: z.string(),
  bucket: z.string(),
  object: z.string(),
});
export type CreateUploadResponse = z.infer<typeof CreateUploadResponseSchema>;

/** `POST /v1/search`: hybrid (keyword + vector) search over a project's current chunks. */
export const SearchRequestSchema = z
  .object({
    projectId: ProjectIdSchema,
    /** 1–500 characters, not only whitespace, no control characters other than tab and line breaks. */
    query: z
      .string()
      .min(1)
      .max(500)
      .refine((s) => s.trim().length > 0, 'query must not be blank')
      .refine((s) => !/[^\P{Cc}\t\n\r]|\p{Cs}/u.test(s), 'query must not contain control characters or lone surrogates'),
    /** Results wanted: 1–50, default 10. */
    limit: z.number().int().min(1).max(50).optional(),
    documentId: DocumentIdSchema.optional(),
    contentType: ContentTypeSchema.optional(),
  })
  .strict();
export type SearchRequest = z.input<typeof SearchRequestSchema>;

export const SearchHitSchema = z.object({
  documentId: z.string(),
  fileName: z.string(),
  chunkId: z.string(),
  /** First page of the chunk (1-based); `pageEnd` its last. */
  page: z.number().int(),
  pageEnd: z.number().int(),
  /** Fused score: higher is better, comparable within one answer only. */
  score: z.number(),
  /** Plain excerpt of the chunk's text (whitespace collapsed). */
  snippet: z.string(),
  /** Matched words: [start, end) UTF-16 offsets into `snippet`. */
  highlights: z.array(z.object({ start: z.number().int(), end: z.number().int() })),
  /** A recording's hit: where in it (seconds) the passage was said. */
  timeStart: z.number().optional(),
  timeEnd: z.number().optional(),
  keywordRank: z.number().int().optional(),
  vectorRank: z.number().int().optional(),
});
export type SearchHit = z.infer<typeof SearchHitSchema>;

export const SearchResponseSchema = z.object({
  results: z.array(SearchHitSchema),
  took: z.object({ ms: z.number() }),
  /** Which sides ranked: keyword false when the query has no usable terms, vector false when the engine cannot read its script. */
  modes: z.object({ keyword: z.boolean(), vector: z.boolean() }),
});
export type SearchResponse = z.infer<typeof SearchResponseSchema>;

/** `POST /v1/reembed`: re-embeds a project's documents whose chunks were embedded by another model than the configured one. */
export const ReembedRequestSchema = z
  .object({
    projectId: ProjectIdSchema,
    /** Only these documents (default: every READY document of the project, a page at a time). */
    documentIds: z.array(DocumentIdSchema).min(1).max(100).optional(),
    /** Re-embed even documents already embedded by the configured model. */
    force: z.boolean().optional(),
    /** From a previous answer's `nextPageToken`. */
    pageToken: DocumentIdSchema.optional(),
  })
  .strict();
export type ReembedRequest = z.input<typeof ReembedRequestSchema>;

export const ReembedResponseSchema = z.object({
  /** The model the chunks will have. */
  model: z.string(),
  jobs: z.array(z.object({ documentId: z.string(), jobId: z.string(), version: z.number().int() })),
  skipped: z.array(z.object({ documentId: z.string(), reason: z.string() })),
  /** More documents remain: call again with this token. */
  nextPageToken: z.string().optional(),
});
export type ReembedResponse = z.infer<typeof ReembedResponseSchema>;

/** Every error answer: `application/problem+json` (RFC 9457) with our stable `code`. */
export const ApiErrorSchema = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number().int(),
  detail: z.string(),
  code: z.string(),
  details: z.unknown().optional(),
  requestId: z.string().optional(),
});
export type ApiError = z.infer<typeof ApiErrorSchema>;

/** Routes of the api function (relative to its URL). */
export const API_ROUTES = {
  health: '/health',
  createUpload: '/v1/uploads',
  search: '/v1/search',
  job: (jobId: string) => `/v1/jobs/${encodeURIComponent(jobId)}`,
  document: (documentId: string) => `/v1/documents/${encodeURIComponent(documentId)}`,
  documentText: (documentId: string) => `/v1/documents/${encodeURIComponent(documentId)}/text`,
  documentVersions: (documentId: string) => `/v1/documents/${encodeURIComponent(documentId)}/versions`,
  documentVersion: (documentId: string, version: number) => `/v1/documents/${encodeURIComponent(documentId)}/versions/${version}`,
  documentVersionText: (documentId: string, version: number) => `/v1/documents/${encodeURIComponent(documentId)}/versions/${version}/text`,
  reembed: '/v1/reembed',
  transcript: (documentId: string, format: 'txt' | 'json' | 'srt' | 'vtt') => `/v1/documents/${encodeURIComponent(documentId)}/transcript?format=${format}`,
  translation: (documentId: string, lang: string, format: 'srt' | 'vtt' | 'json' | 'mp4') => `/v1/documents/${encodeURIComponent(documentId)}/translation?lang=${encodeURIComponent(lang)}&format=${format}`,
} as const;
