/**
 * HTTP contracts of job control (listing, logs, cancel, retry) and of dead letters (listing,
 * replay): the api function validates with these, the CLI parses answers with them.
 */
import { z } from 'zod';
import { JOB_ID, ProjectIdSchema } from '../ids.js';

/** A Pub/Sub message id as a dead-letter record id (digits in production; the emulator's too). */
export const DEAD_LETTER_ID = /^[A-Za-z0-9_-]{1,128}$/;

export const JOB_STATUS_VALUES = ['PENDING', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED'] as const;
export const JOB_KIND_VALUES = ['document.process', 'document.embed', 'document.summarize', 'speech.transcribe', 'speech.synthesize', 'video.translate'] as const;

const Limit = (max: number, dflt: number) => z.coerce.number().int().min(1).max(max).default(dflt);
/** Query-string timestamps: RFC 3339 with an offset (`Z` or `+01:00`). */
const IsoTime = z.iso.datetime({ offset: true });
const PageToken = z.string().min(1).max(2048);

export const JobListQuerySchema = z.strictObject({
  projectId: ProjectIdSchema,
  status: z.enum(JOB_STATUS_VALUES).optional(),
  kind: z.enum(JOB_KIND_VALUES).optional(),
  /** Jobs created at or after this time. */
  createdAfter: IsoTime.optional(),
  /** Jobs created before this time. */
  createdBefore: IsoTime.optional(),
  limit: Limit(100, 20),
  pageToken: PageToken.optional(),
});
export type JobListQuery = z.infer<typeof JobListQuerySchema>;

/** A job as listed: the record's main fields (the whole record is `GET /v1/jobs/{id}`). Lenient: fields added later pass through. */
export const JobSummarySchema = z
  .object({
    id: z.string(),
    kind: z.string(),
    projectId: z.string(),
    documentId: z.string().nullable(),
    status: z.enum(JOB_STATUS_VALUES),
    stage: z.string(),
    progress: z.number(),
    createdAt: z.string(),
    updatedAt: z.string(),
    finishedAt: z.string().nullable(),
    error: z.object({ code: z.string(), message: z.string() }).loose().nullable(),
    cancelRequested: z.boolean(),
    retryOf: z.string().nullable(),
  })
  .loose();
export type JobSummary = z.infer<typeof JobSummarySchema>;

export const JobListResponseSchema = z.object({ jobs: z.array(JobSummarySchema), nextPageToken: z.string().optional() });
export type JobListResponse = z.infer<typeof JobListResponseSchema>;

export const JobLogsQuerySchema = z.strictObject({ limit: Limit(100, 50), pageToken: z.string().regex(/^\d{1,12}$/).optional() });

export const JobLogEntrySchema = z
  .object({
    seq: z.number().int(),
    at: z.string().nullable(),
    level: z.string(),
    message: z.string(),
    fields: z.record(z.string(), z.unknown()).optional(),
    status: z.string().optional(),
    stage: z.string().optional(),
    progress: z.number().optional(),
  })
  .loose();
export const JobLogsResponseSchema = z.object({
  jobId: z.string(),
  /** Oldest first; a job keeps its last LOG_CAPACITY entries (`logCount` says how many were ever written). */
  entries: z.array(JobLogEntrySchema),
  logCount: z.number().int(),
  nextPageToken: z.string().optional(),
});
export type JobLogsResponse = z.infer<typeof JobLogsResponseSchema>;

/** `POST /v1/jobs/{id}/cancel`: what happened. */
export const CancelResponseSchema = z.object({
  jobId: z.string(),
  /** `cancelled`: the job is CANCELLED now; `requested`: the running attempt stops at its next step. */
  outcome: z.enum(['cancelled', 'requested']),
  status: z.enum(JOB_STATUS_VALUES),
});
export type CancelResponse = z.infer<typeof CancelResponseSchema>;

/** `POST /v1/jobs/{id}/retry`: the new job (`retryOf` = the failed one); `created` false when it existed already (a repeated call). */
export const RetryResponseSchema = z.object({ jobId: z.string().regex(JOB_ID), retryOf: z.string(), created: z.boolean(), status: z.enum(JOB_STATUS_VALUES) });
export type RetryResponse = z.infer<typeof RetryResponseSchema>;

export const DeadLetterListQuerySchema = z.strictObject({
  projectId: ProjectIdSchema.optional(),
  jobId: z.string().regex(JOB_ID).optional(),
  status: z.enum(['DEAD_LETTERED', 'REPLAYING', 'REPLAYED']).optional(),
  limit: Limit(100, 20),
  pageToken: PageToken.optional(),
});

export const DeadLetterViewSchema = z
  .object({
    id: z.string(),
    sourceSubscription: z.string(),
    subscription: z.string(),
    topic: z.string().nullable(),
    projectId: z.string().nullable(),
    jobId: z.string().nullable(),
    documentId: z.string().nullable(),
    eventType: z.string().nullable(),
    deliveryAttempts: z.number().int().nullable(),
    publishedAt: z.string().nullable(),
    deadLetteredAt: z.string(),
    reason: z.object({ code: z.string(), message: z.string() }),
    action: z.string(),
    status: z.enum(['DEAD_LETTERED', 'REPLAYING', 'REPLAYED']),
    replay: z.object({ messageId: z.string().nullable(), replayedAt: z.string().nullable(), by: z.string(), jobId: z.string().nullable() }).loose().nullable(),
    replayCount: z.number().int(),
    /** Whether the record keeps the payload (replay needs it). */
    replayable: z.boolean(),
  })
  .loose();
export type DeadLetterView = z.infer<typeof DeadLetterViewSchema>;

export const DeadLetterListResponseSchema = z.object({ deadLetters: z.array(DeadLetterViewSchema), nextPageToken: z.string().optional() });
export type DeadLetterListResponse = z.infer<typeof DeadLetterListResponseSchema>;

export const ReplayResponseSchema = z.object({
  id: z.string(),
  status: z.literal('REPLAYED'),
  topic: z.string(),
  /** The id of the republished message. */
  messageId: z.string(),
  /** The job the republished message names (the retry of the original job, when it was retried). */
  jobId: z.string().nullable(),
});
export type ReplayResponse = z.infer<typeof ReplayResponseSchema>;

export const JOB_CONTROL_ROUTES = {
  jobs: '/v1/jobs',
  jobLogs: (jobId: string) => `/v1/jobs/${encodeURIComponent(jobId)}/logs`,
  cancel: (jobId: string) => `/v1/jobs/${encodeURIComponent(jobId)}/cancel`,
  retry: (jobId: string) => `/v1/jobs/${encodeURIComponent(jobId)}/retry`,
  deadLetters: '/v1/dead-letters',
  deadLetter: (id: string) => `/v1/dead-letters/${encodeURIComponent(id)}`,
  replay: (id: string) => `/v1/dead-letters/${encodeURIComponent(id)}/replay`,
} as const;
