/**
 * The one declaration of Scriptorium's infrastructure: buckets and their notification configs,
 * topics, push subscriptions (with retry and dead-letter policies) and functions.
 *
 * The local platform (`emulators/`) creates exactly this on the emulators, and a test parses
 * `terraform/` and checks it declares the same resources, so local and production cannot drift.
 * Names here are logical; {@link resourceNames} turns them into real names for a deployment.
 */

/**
 * A function's trigger: HTTP (public: it verifies callers itself), a Pub/Sub push subscription
 * (declared in `subscriptions`), or a schedule (an HTTP function only the scheduler may invoke:
 * Cloud Scheduler in production, a timer on the local platform).
 */
export type FunctionTrigger = 'http' | 'pubsub' | 'scheduled';

export interface FunctionDecl {
  /** Deployment name (kebab-case, also the folder under `functions/`). */
  readonly name: string;
  /** Registration name passed to functions-framework `--target`; same string as terraform `entry_point`. */
  readonly entryPoint: string;
  readonly trigger: FunctionTrigger;
  /** Memory and timeout for production; locally informative only. */
  readonly memoryMb: number;
  readonly timeoutSeconds: number;
  /**
   * Instances at most (terraform `max_instance_count`) and requests per instance at once
   * (`max_instance_request_concurrency`, 1 when absent). For the functions that call a Google engine
   * these bound the load on the project's quota: maxInstances × the engine's per-instance rate stays
   * under it (shared/engines/throttle.ts, checked by test/unit/throttle.test.ts).
   */
  readonly maxInstances?: number;
  readonly concurrency?: number;
  /** For `scheduled`: how often it runs, a cron expression (Cloud Scheduler's; the local timer takes every-minute and every-N-minutes forms). */
  readonly schedule?: string;
}

export interface TopicDecl {
  /** Also the key of the topic's message contract in `shared/events/contracts.ts`. */
  readonly name: string;
}

export interface SubscriptionDecl {
  readonly name: string;
  readonly topic: string;
  /** Function (by `name`) the subscription pushes to. Absent means a pull subscription. */
  readonly pushFunction?: string;
  readonly ackDeadlineSeconds: number;
  readonly retryPolicy: { readonly minimumBackoffSeconds: number; readonly maximumBackoffSeconds: number };
  readonly deadLetter?: { readonly topic: string; readonly maxDeliveryAttempts: number };
  readonly messageRetentionSeconds: number;
}

export interface NotificationDecl {
  readonly topic: string;
  readonly eventTypes: readonly ('OBJECT_FINALIZE' | 'OBJECT_DELETE' | 'OBJECT_METADATA_UPDATE' | 'OBJECT_ARCHIVE')[];
  readonly objectNamePrefix: string;
  readonly payloadFormat: 'JSON_API_V1';
}

export interface CorsDecl {
  readonly origin: readonly string[];
  readonly method: readonly string[];
  readonly responseHeader: readonly string[];
  readonly maxAgeSeconds: number;
}

export interface BucketDecl {
  /** Logical name; the real bucket is `${gcpProject}-${name}` (see {@link resourceNames}). */
  readonly name: string;
  readonly cors: readonly CorsDecl[];
  readonly notifications: readonly NotificationDecl[];
}

/** Object-name prefixes. Uploads live under `uploads/`, derived files under `derived/`. */
export const OBJECT_PREFIX = { uploads: 'uploads/', derived: 'derived/' } as const;

/** Metadata key set on every object Scriptorium writes itself: informative for operators, never trusted (anyone who writes an object can set metadata). */
export const DERIVED_METADATA_KEY = 'scriptorium-derived';

const retry = { minimumBackoffSeconds: 10, maximumBackoffSeconds: 600 } as const;
const week = 7 * 24 * 3600;

export const topology = {
  buckets: [
    {
      name: 'documents',
      cors: [
        {
          // Browsers PUT straight to signed URLs; the API function decides who gets one.
          origin: ['*'],
          method: ['PUT', 'GET', 'HEAD'],
          responseHeader: ['Content-Type', 'x-goog-content-length-range', 'x-goog-if-generation-match', 'ETag'],
          maxAgeSeconds: 3600,
        },
      ],
      notifications: [
        // Only uploads notify: derived files are under another prefix, which is what tells them apart
        // (their DERIVED_METADATA_KEY marker is informative only: metadata is set by whoever writes).
        { topic: 'object-events', eventTypes: ['OBJECT_FINALIZE', 'OBJECT_DELETE'], objectNamePrefix: OBJECT_PREFIX.uploads, payloadFormat: 'JSON_API_V1' },
      ],
    },
  ],
  topics: [
    { name: 'object-events' },
    { name: 'ocr-requests' },
    { name: 'transcribe-requests' },
    { name: 'synthesize-requests' },
    { name: 'document-events' },
    { name: 'dead-letter' },
    // Where the dead-letter subscription itself gives up (its bounded retry): kept, never processed.
    { name: 'dead-letter-unprocessed' },
  ],
  subscriptions: [
    {
      name: 'ingest-object-events',
      topic: 'object-events',
      pushFunction: 'ingest',
      ackDeadlineSeconds: 60,
      retryPolicy: retry,
      deadLetter: { topic: 'dead-letter', maxDeliveryAttempts: 5 },
      messageRetentionSeconds: week,
    },
    {
      name: 'ocr-ocr-requests',
      topic: 'ocr-requests',
      pushFunction: 'ocr',
      // OCR of a long document takes minutes; the ack deadline bounds one push attempt.
      ackDeadlineSeconds: 600,
      retryPolicy: retry,
      deadLetter: { topic: 'dead-letter', maxDeliveryAttempts: 5 },
      messageRetentionSeconds: week,
    },
    {
      name: 'transcribe-transcribe-requests',
      topic: 'transcribe-requests',
      pushFunction: 'transcribe',
      // Long recordings take minutes (segments are transcribed with progress); as OCR.
      ackDeadlineSeconds: 600,
      retryPolicy: retry,
      deadLetter: { topic: 'dead-letter', maxDeliveryAttempts: 5 },
      messageRetentionSeconds: week,
    },
    {
      name: 'synthesize-synthesize-requests',
      topic: 'synthesize-requests',
      pushFunction: 'synthesize',
      // A long text is synthesized chunk by chunk (festival: ~400 characters/s); as OCR.
      ackDeadlineSeconds: 600,
      retryPolicy: retry,
      deadLetter: { topic: 'dead-letter', maxDeliveryAttempts: 5 },
      messageRetentionSeconds: week,
    },
    {
      name: 'dead-letter-dead-letter',
      topic: 'dead-letter',
      pushFunction: 'dead-letter',
      ackDeadlineSeconds: 60,
      retryPolicy: retry,
      // Bounded: the dead-letter function only retries while a live attempt holds the job (minutes);
      // a message it still cannot handle after 10 deliveries goes to dead-letter-unprocessed, where
      // the backlog alert (terraform/alerts.tf) sees it, instead of being redelivered for a week.
      deadLetter: { topic: 'dead-letter-unprocessed', maxDeliveryAttempts: 10 },
      messageRetentionSeconds: week,
    },
    {
      // Messages the dead-letter function could not record: kept a week for an operator (pull).
      name: 'dead-letter-unprocessed-archive',
      topic: 'dead-letter-unprocessed',
      ackDeadlineSeconds: 60,
      retryPolicy: retry,
      messageRetentionSeconds: week,
    },
    {
      // Every dead-lettered message stays here for a week; the dead-letter function also records each
      // one in Firestore (`deadLetters/{messageId}`), which is what listing and replay read.
      name: 'dead-letter-archive',
      topic: 'dead-letter',
      ackDeadlineSeconds: 60,
      retryPolicy: retry,
      messageRetentionSeconds: week,
    },
    {
      // Fan-out: one text-ready event on document-events reaches the embedding and the summary
      // functions through their own subscriptions, so the two stages run in parallel, each retried
      // and dead-lettered on its own (other event types are acknowledged without work).
      name: 'embed-document-events',
      topic: 'document-events',
      pushFunction: 'embed',
      // Embedding a long document takes minutes; the ack deadline bounds one push attempt.
      ackDeadlineSeconds: 600,
      retryPolicy: retry,
      deadLetter: { topic: 'dead-letter', maxDeliveryAttempts: 5 },
      messageRetentionSeconds: week,
    },
    {
      name: 'summarize-document-events',
      topic: 'document-events',
      pushFunction: 'summarize',
      ackDeadlineSeconds: 600,
      retryPolicy: retry,
      deadLetter: { topic: 'dead-letter', maxDeliveryAttempts: 5 },
      messageRetentionSeconds: week,
    },
    {
      // Video translation: the transcript's text-ready event starts the translate stage of a
      // `video.translate` job (other jobs have no such stage: acknowledged without work).
      name: 'translate-document-events',
      topic: 'document-events',
      pushFunction: 'translate',
      ackDeadlineSeconds: 600,
      retryPolicy: retry,
      deadLetter: { topic: 'dead-letter', maxDeliveryAttempts: 5 },
      messageRetentionSeconds: week,
    },
    {
      // The translation-ready event starts the dub stage (speech synthesis and muxing take minutes).
      name: 'dub-document-events',
      topic: 'document-events',
      pushFunction: 'dub',
      ackDeadlineSeconds: 600,
      retryPolicy: retry,
      deadLetter: { topic: 'dead-letter', maxDeliveryAttempts: 5 },
      messageRetentionSeconds: week,
    },
    {
      // Every document event kept for a week (replay, audits); pulled by tests.
      name: 'document-events-archive',
      topic: 'document-events',
      ackDeadlineSeconds: 60,
      retryPolicy: retry,
      messageRetentionSeconds: week,
    },
  ],
  functions: [
    { name: 'api', entryPoint: 'api', trigger: 'http', memoryMb: 512, timeoutSeconds: 60, maxInstances: 10, concurrency: 40 },
    { name: 'ingest', entryPoint: 'ingest', trigger: 'pubsub', memoryMb: 512, timeoutSeconds: 60 },
    { name: 'ocr', entryPoint: 'ocr', trigger: 'pubsub', memoryMb: 2048, timeoutSeconds: 540, maxInstances: 10, concurrency: 1 },
    { name: 'dead-letter', entryPoint: 'deadLetter', trigger: 'pubsub', memoryMb: 256, timeoutSeconds: 60 },
    // The local embedding model takes ~140 MiB on top of the runtime; long documents take minutes.
    { name: 'embed', entryPoint: 'embed', trigger: 'pubsub', memoryMb: 1024, timeoutSeconds: 540, maxInstances: 10, concurrency: 1 },
    { name: 'summarize', entryPoint: 'summarize', trigger: 'pubsub', memoryMb: 512, timeoutSeconds: 540, maxInstances: 10, concurrency: 1 },
    // Normalized audio is ~115 MB per hour in the (memory-backed) temp directory.
    { name: 'transcribe', entryPoint: 'transcribe', trigger: 'pubsub', memoryMb: 2048, timeoutSeconds: 540, maxInstances: 10, concurrency: 1 },
    // Text to speech: chunk audio waits on disk (memory-backed temp), the joined file is read once to upload.
    // synthesize and dub share the project's TTS quota: 6 + 4 instances at the per-instance rate stay within it.
    { name: 'synthesize', entryPoint: 'synthesize', trigger: 'pubsub', memoryMb: 2048, timeoutSeconds: 540, maxInstances: 6, concurrency: 1 },
    // Video translation: translating a transcript is quick (batches of segments); dubbing synthesizes
    // every segment and muxes the video (ffmpeg; the video stream is usually copied).
    { name: 'translate', entryPoint: 'translate', trigger: 'pubsub', memoryMb: 512, timeoutSeconds: 540, maxInstances: 10, concurrency: 1 },
    { name: 'dub', entryPoint: 'dub', trigger: 'pubsub', memoryMb: 2048, timeoutSeconds: 540, maxInstances: 4, concurrency: 1 },
    // The stale-job reaper (shared/jobs/reaper.ts): every minute, so a dead attempt's job moves again
    // within about three minutes of its last heartbeat.
    { name: 'reaper', entryPoint: 'reaper', trigger: 'scheduled', schedule: '* * * * *', memoryMb: 256, timeoutSeconds: 120 },
  ],
} as const satisfies {
  buckets: readonly BucketDecl[];
  topics: readonly TopicDecl[];
  subscriptions: readonly SubscriptionDecl[];
  functions: readonly FunctionDecl[];
};

export type Topology = typeof topology;
export type TopicName = Topology['topics'][number]['name'];
export type FunctionName = Topology['functions'][number]['name'];
export type BucketName = Topology['buckets'][number]['name'];

/** Real bucket name for a logical bucket in a GCP project (bucket names are global). */
export function bucketName(gcpProject: string, bucket: BucketName): string {
  return `${gcpProject}-${bucket}`;
}

/**
 * Push endpoint path for a subscription. functions-framework derives the CloudEvent `source`
 * from the request path, so the path names the topic as production's Eventarc source would.
 */
export function pushPath(gcpProject: string, topic: string): string {
  return `/projects/${gcpProject}/topics/${topic}`;
}
