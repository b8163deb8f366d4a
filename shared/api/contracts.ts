/**
 * HTTP contracts of the `api` function, shared by the function, the CLI and (later) the client SDK
 * and the OpenAPI generator.
 */
import { z } from 'zod';

/** Project ids: lowercase, digits and dashes; they appear in object names and document paths. */
export const ProjectIdSchema = z.string().regex(/^[a-z0-9][a-z0-9-]{1,62}$/, 'project id: 2–63 chars of a-z, 0-9 and -');

/** A file name as the user sees it: no path separators, no control characters. */
export const FileNameSchema = z
  .string()
  .min(1)
  .max(255)
  .refine((s) => !/[/\\]/.test(s), 'file name must not contain / or \\')
  .refine((s) => !/\p{Cc}/u.test(s), 'file name must not contain control characters')
  .refine((s) => s !== '.' && s !== '..', 'file name must not be . or ..');

/** `type/subtype` with optional parameters; lowercased on parse. */
export const ContentTypeSchema = z
  .string()
  .max(255)
  .regex(/^[a-zA-Z0-9][a-zA-Z0-9!#$&^_.+-]*\/[a-zA-Z0-9][a-zA-Z0-9!#$&^_.+-]*(\s*;.*)?$/, 'content type must look like type/subtype')
  .transform((s) => s.toLowerCase());

export const CreateUploadRequestSchema = z.object({
  projectId: ProjectIdSchema,
  fileName: FileNameSchema,
  contentType: ContentTypeSchema,
  /** Declared size in bytes; the signed URL only accepts exactly this many. */
  size: z.number().int().positive(),
  /** Makes the request idempotent: the same caller, project and id return the same upload. */
  clientRequestId: z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/).optional(),
});
export type CreateUploadRequest = z.input<typeof CreateUploadRequestSchema>;

export const CreateUploadResponseSchema = z.object({
  documentId: z.string(),
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

export const ApiErrorSchema = z.object({
  error: z.object({ code: z.string(), message: z.string(), details: z.unknown().optional() }),
});
export type ApiError = z.infer<typeof ApiErrorSchema>;

/** Routes of the api function (relative to its URL). */
export const API_ROUTES = {
  health: '/health',
  createUpload: '/v1/uploads',
  job: (jobId: string) => `/v1/jobs/${encodeURIComponent(jobId)}`,
  document: (documentId: string) => `/v1/documents/${encodeURIComponent(documentId)}`,
  documentText: (documentId: string) => `/v1/documents/${encodeURIComponent(documentId)}/text`,
} as const;
