/**
 * The job model: what a job document in Firestore (`jobs/{jobId}`) holds and how its status may move.
 * Pure: no I/O here, so the rules are unit-tested on their own and shared by every writer.
 *
 * A job belongs to a project and (for document pipelines) a document. `kind` names the pipeline,
 * `stage` where in it the job is. The fields for what comes later (agents, cancel requests, retries
 * of a job, cost metering) are part of the shape from the start, so readers never see them appear.
 */
import { z } from 'zod';
import { UsageRecordSchema } from '../cost/usage.js';
import { RawAudioDeclarationSchema, TranslateRequestSchema } from './media-input.js';

export const JOB_STATUSES = ['PENDING', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

export const TERMINAL_STATUSES: ReadonlySet<JobStatus> = new Set(['COMPLETED', 'FAILED', 'CANCELLED']);

export function isTerminal(status: JobStatus): boolean {
  return TERMINAL_STATUSES.has(status);
}

/**
 * Pipelines a job can run: `document.process` (a version's upload to READY), `document.embed`
 * (re-embedding), `speech.transcribe`, `speech.synthesize` (text to speech, a job without a
 * document); the others are reserved names. `voice.clone` and `video.talking-head` are known so the
 * API can name them, and refused ({@link UNSUPPORTED_JOB_KINDS}) until an engine exists.
 */
export const JOB_KINDS = ['document.process', 'document.embed', 'document.summarize', 'speech.transcribe', 'speech.synthesize', 'video.translate', 'voice.clone', 'video.talking-head'] as const;
export type JobKind = (typeof JOB_KINDS)[number];

/** Kinds the job model and the API know but no engine runs yet: creating one is refused with `NOT_SUPPORTED`. */
export const UNSUPPORTED_JOB_KINDS: ReadonlySet<JobKind> = new Set(['voice.clone', 'video.talking-head']);

/** Stages of `document.process`, in order. */
export const DOCUMENT_STAGES = ['upload', 'ingest', 'ocr', 'done'] as const;
export type DocumentStage = (typeof DOCUMENT_STAGES)[number];

const ALLOWED: Record<JobStatus, readonly JobStatus[]> = {
  PENDING: ['RUNNING', 'FAILED', 'CANCELLED'],
  // RUNNING → RUNNING is a stage change or progress step.
  RUNNING: ['RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED'],
  COMPLETED: [],
  FAILED: [],
  CANCELLED: [],
};

/** Whether a job in `from` may move to `to`. A terminal job never moves again. */
export function canTransition(from: JobStatus, to: JobStatus): boolean {
  return ALLOWED[from].includes(to);
}

export const JobErrorSchema = z.object({
  code: z.string(),
  message: z.string(),
  retryable: z.boolean(),
});

/**
 * The attempt working on a stage. Another copy of the stage's request (another message id) that
 * finds a live lease is acknowledged without work: the holder's own message still guarantees
 * progress, because if the holder dies that message is redelivered (same id) and takes over. The
 * holder clears the lease when it ends; it expires after the function's timeout plus a margin.
 */
export const LeaseSchema = z.object({ id: z.string(), messageId: z.string(), expiresAt: z.string() });
export type Lease = z.infer<typeof LeaseSchema>;

export const STAGE_STATUSES = ['PENDING', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED'] as const;
export type StageStatus = (typeof STAGE_STATUSES)[number];

export function isStageTerminal(status: StageStatus): boolean {
  return status === 'COMPLETED' || status === 'FAILED' || status === 'CANCELLED';
}

/**
 * One stage of a job (`jobs/{id}.stages.{name}`): its own status, progress, attempts, lease, error
 * and result, so stages that run in parallel never share a field. PENDING once dispatched.
 */
export const StageStateSchema = z.object({
  status: z.enum(STAGE_STATUSES),
  progress: z.number().min(0).max(100).default(0),
  /** Attempts of this stage (dispatch failures count too); capped by SCRIPTORIUM_MAX_ATTEMPTS. */
  attempts: z.number().int().min(0).default(0),
  lease: LeaseSchema.nullable().default(null),
  error: JobErrorSchema.nullable().default(null),
  startedAt: z.string().nullable().default(null),
  finishedAt: z.string().nullable().default(null),
  result: z.record(z.string(), z.unknown()).nullable().default(null),
  metrics: z.record(z.string(), z.number()).default({}),
  /** Whether the stage's own completion event (e.g. text ready) was published; repaired on redelivery. */
  announced: z.boolean().default(false),
  /** When the stale-job reaper last re-dispatched the stage (it waits before doing it again). */
  reapedAt: z.string().nullable().default(null),
  /** What the stage's attempts consumed in billed units, and its estimated cost (shared/cost); absent until an attempt ends. */
  usage: UsageRecordSchema.optional(),
});
export type StageState = z.infer<typeof StageStateSchema>;

/** Timestamps are stored as Firestore Timestamps; repositories convert them to ISO strings on read. */
export const JobSchema = z.object({
  id: z.string(),
  kind: z.enum(JOB_KINDS),
  projectId: z.string(),
  documentId: z.string().nullable(),
  ownerUid: z.string(),
  /** Processing profile the job runs with (agents come in a later issue). */
  agentId: z.string().nullable(),
  /** The version of that agent the job runs with (`projects/{p}/agents/{agentId}/versions/{n}`); absent on jobs without an agent. */
  agentVersion: z.number().int().min(1).nullable().optional(),
  status: z.enum(JOB_STATUSES),
  stage: z.string(),
  /** 0–100, never decreasing within a job. */
  progress: z.number().min(0).max(100),
  /** Handler attempts across the job's stages (each stage counts its own in `stages.{name}.attempts`; we count: Pub/Sub push bodies carry no delivery attempt locally). */
  attempts: z.number().int().min(0),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  updatedAt: z.string(),
  finishedAt: z.string().nullable(),
  error: JobErrorSchema.nullable(),
  input: z.object({
    bucket: z.string(),
    object: z.string(),
    fileName: z.string(),
    contentType: z.string(),
    declaredSize: z.number().int(),
    /** The object generation this job processes, set by ingest: the idempotency key is bucket/object#generation. */
    generation: z.string().nullable(),
    /** When the signed upload URL expires: a job still PENDING after it will never get its file (for the stale-job reaper). */
    uploadExpiresAt: z.string().nullable().default(null),
    /**
     * When the stale-job reaper next looks in the bucket for this PENDING job's upload (ISO, set at
     * creation, moved on by each look): an upload whose notification was lost is found there and
     * handed to ingest again instead of waiting for, and then being failed at, the URL's expiry.
     */
    uploadCheckAt: z.string().nullable().default(null),
    /** How many times the reaper handed a stored upload to ingest again (capped: see shared/jobs/reaper.ts). */
    uploadReingests: z.number().int().min(0).default(0),
    /** Checksums the uploader declared (base64, as Cloud Storage reports them); ingest compares them with the object's. */
    md5Hash: z.string().nullable().default(null),
    crc32c: z.string().nullable().default(null),
    /** What the bytes are (sniffed by ingest, not declared): routes the text stage (OCR or extraction). */
    detectedType: z.string().nullable().default(null),
    family: z.string().nullable().default(null),
    /** The document version this job processes (`documents/{id}/versions/{n}`). */
    version: z.number().int().min(1).default(1),
    /**
     * Whether that version is the document's current one while the job runs (a first version, a
     * re-embedding): its writes then show on the document record too. A later version's do not until
     * it completes and is promoted (the runner switches document and chunks in one transaction).
     */
    current: z.boolean().default(true),
    /** A `video.translate` job's target (declared at upload). */
    translate: TranslateRequestSchema.nullable().default(null),
    /** Headerless PCM's declared format (declared at upload); null for containers, which say it themselves. */
    audio: RawAudioDeclarationSchema.nullable().default(null),
  }),
  /** Set by ingest once the next stage's request is published (a redelivery then only acks). */
  dispatchedStage: z.string().nullable(),
  /** Each stage's own state, by stage name (see {@link StageStateSchema}). */
  stages: z.record(z.string(), StageStateSchema).default({}),
  /** Whether the terminal outcome was published on `document-events`; a redelivery repairs a lost announcement. */
  announced: z.boolean().default(false),
  result: z.record(z.string(), z.unknown()).nullable(),
  /** Set by a cancel request; handlers check it between pages. */
  cancelRequested: z.boolean(),
  /** Previous job this one retries (retries come in a later issue). */
  retryOf: z.string().nullable(),
  /** Per-job metering: engine milliseconds, pages, bytes. */
  metrics: z.record(z.string(), z.number()),
  /** Billed units and estimated cost over every stage attempt (shared/cost); absent until one ends. */
  usage: UsageRecordSchema.optional(),
  /** Number of log entries ever written (the subcollection keeps the last LOG_CAPACITY). */
  logCount: z.number().int().min(0),
});
export type Job = z.infer<typeof JobSchema>;

/** How many log entries a job keeps: entries are written to `logs/{seq % LOG_CAPACITY}` (a ring). */
export const LOG_CAPACITY = 50;

export function logSlot(seq: number): string {
  return String(seq % LOG_CAPACITY).padStart(3, '0');
}

/**
 * The stages a document job runs after ingest, in order, with their share of the job's progress:
 * ingest takes 0–10, the stages share 10–95 by weight, completion sets 100. One list for the runner,
 * the progress computation and the tests.
 */
export const DOCUMENT_PIPELINE: readonly { readonly name: string; readonly weight: number; readonly after: readonly string[] }[] = [
  { name: 'ocr', weight: 50, after: [] },
  // Both start from the text-ready event of OCR and run in parallel, in their own functions.
  { name: 'embed', weight: 25, after: ['ocr'] },
  { name: 'summarize', weight: 10, after: ['ocr'] },
];

export type Pipeline = typeof DOCUMENT_PIPELINE;

/** `speech.transcribe`: a recording's transcript is its text, then chunks and summary as for documents. */
export const SPEECH_PIPELINE: Pipeline = [
  { name: 'transcribe', weight: 50, after: [] },
  { name: 'embed', weight: 25, after: ['transcribe'] },
  { name: 'summarize', weight: 10, after: ['transcribe'] },
];

/**
 * `video.translate`: a recording (a video, or audio) is transcribed, its transcript translated
 * (subtitles), then dubbed: speech in the target language timed to the segments, muxed into an MP4.
 * No embedding or summary: the job is about the translation (the transcript is kept as for speech).
 */
export const VIDEO_PIPELINE: Pipeline = [
  { name: 'transcribe', weight: 40, after: [] },
  { name: 'translate', weight: 10, after: ['transcribe'] },
  { name: 'dub', weight: 50, after: ['translate'] },
];

/** `document.embed`: re-embedding a READY version's text (after a change of embedding model). */
export const EMBED_PIPELINE: Pipeline = [{ name: 'embed', weight: 100, after: [] }];

/** `speech.synthesize`: one stage, text (or SSML) to one audio file; the job has no document. */
export const SYNTHESIZE_PIPELINE: Pipeline = [{ name: 'synthesize', weight: 100, after: [] }];

/** The stages a job of `kind` runs (the runner completes the job when all of them are done). */
export function pipelineFor(kind: JobKind): Pipeline {
  if (kind === 'speech.synthesize') return SYNTHESIZE_PIPELINE;
  return kind === 'document.embed' ? EMBED_PIPELINE : kind === 'speech.transcribe' ? SPEECH_PIPELINE : kind === 'video.translate' ? VIDEO_PIPELINE : DOCUMENT_PIPELINE;
}

/** Stages whose prerequisites are all COMPLETED and that do not exist yet: the ones to create now. */
export function stagesReady(stages: Readonly<Record<string, Pick<StageState, 'status'>>>, pipeline: Pipeline = DOCUMENT_PIPELINE): string[] {
  return pipeline.filter((s) => stages[s.name] === undefined && s.after.every((a) => stages[a]?.status === 'COMPLETED')).map((s) => s.name);
}

/** The job's `stage` label while it runs: its unfinished stages in pipeline order (`embed+summarize`). */
export function activeStages(stages: Readonly<Record<string, Pick<StageState, 'status'>>>, pipeline: Pipeline = DOCUMENT_PIPELINE): string {
  const active = pipeline.filter((s) => stages[s.name] !== undefined && !isStageTerminal(stages[s.name]?.status ?? 'PENDING')).map((s) => s.name);
  return active.length > 0 ? active.join('+') : 'done';
}

/** The job's overall progress from its stages' own progress (stages not yet created count as 0). */
export function pipelineProgress(stages: Readonly<Record<string, Pick<StageState, 'status' | 'progress'>>>, pipeline: Pipeline = DOCUMENT_PIPELINE): number {
  const total = pipeline.reduce((sum, s) => sum + s.weight, 0);
  const done = pipeline.reduce((sum, s) => {
    const st = stages[s.name];
    const p = st ? (st.status === 'COMPLETED' ? 100 : st.progress) : 0;
    return sum + (s.weight * p) / 100;
  }, 0);
  return Math.round(10 + (85 * done) / total);
}

/** Progress of a stage mapped into the job's 0–100 (ingest 0–10, OCR 10–95, finishing 95–100). */
export function overallProgress(stage: DocumentStage, fraction: number): number {
  const clamp = Math.min(1, Math.max(0, fraction));
  switch (stage) {
    case 'upload':
      return 0;
    case 'ingest':
      return Math.round(10 * clamp);
    case 'ocr':
      return Math.round(10 + 85 * clamp);
    case 'done':
      return 100;
  }
}
