/** HTTP contracts of listing, downloading and deleting documents (`/v1/documents…`). */
import { z } from 'zod';
import { ProjectIdSchema } from '../ids.js';
import { DocumentSchema, DOCUMENT_STATUSES } from '../firestore/documents.js';
import { LimitSchema, PageTokenSchema } from './pagination.js';

export const DOCUMENT_SORTS = ['createdAt', '-createdAt', 'fileName'] as const;

export const ListDocumentsQuerySchema = z.object({
  projectId: ProjectIdSchema,
  status: z.enum(DOCUMENT_STATUSES).optional(),
  /** Exact content type (lowercase), e.g. `application/pdf`. */
  contentType: z.string().max(255).transform((s) => s.toLowerCase()).optional(),
  /** File-name prefix (case-sensitive); needs `sort=fileName` (the default when given). */
  q: z.string().min(1).max(255).optional(),
  sort: z.enum(DOCUMENT_SORTS).optional(),
  limit: LimitSchema,
  pageToken: PageTokenSchema.optional(),
});

export const ListDocumentsResponseSchema = z.object({ documents: z.array(DocumentSchema), nextPageToken: z.string().nullable() });

/**
 * What a download may be of: the original upload, the extracted text, a transcript format, and for
 * a translated recording its translated subtitles and transcript and the dubbed video (a file too
 * big to pass through a function's response: only ever a signed URL).
 */
export const DOWNLOADABLES = ['original', 'text', 'transcript.txt', 'transcript.json', 'transcript.srt', 'transcript.vtt', 'translation.vtt', 'translation.srt', 'translation.json', 'dub.mp4'] as const;
export type Downloadable = (typeof DOWNLOADABLES)[number];

export const DownloadQuerySchema = z.object({
  what: z.enum(DOWNLOADABLES).default('original'),
  /** A version other than the current one. */
  version: z.coerce.number().int().min(1).max(999999).optional(),
});

export const DownloadResponseSchema = z.object({
  url: z.string(),
  method: z.literal('GET'),
  expiresAt: z.string(),
  fileName: z.string(),
  what: z.enum(DOWNLOADABLES),
  version: z.number().int(),
});

export const DeleteDocumentResponseSchema = z.object({
  documentId: z.string(),
  /** True when the document was already deleted (a repeated DELETE). */
  alreadyDeleted: z.boolean(),
  deleted: z.object({ objects: z.number().int(), chunks: z.number().int(), versions: z.number().int(), jobsCancelled: z.number().int() }).nullable(),
});
