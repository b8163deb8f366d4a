/**
 * Runtime configuration: one zod schema over the environment, parsed once on first use, failing fast
 * with a message naming every bad variable. `redactedConfig()` is what may be logged.
 */
import { z } from 'zod';
import { parsePriceTable } from '../cost/prices.js';
import { parseEngineLimits } from '../engines/throttle.js';
import { isLocalPlatform, parseFaultSpec } from '../faults.js';

/** Full resource name of a Document AI processor (or processor version). */
export const DOCUMENTAI_PROCESSOR_NAME = /^projects\/[^/]+\/locations\/[^/]+\/processors\/[^/]+(?:\/processorVersions\/[^/]+)?$/;

const intFromEnv = (def: number) => z.coerce.number().int().positive().default(def);
/** An optional variable set to '' counts as unset: deploy tooling often cannot omit a key, only blank it. */
const emptyAsUnset = <T extends z.ZodType>(schema: T) => z.preprocess((v) => (v === '' ? undefined : v), schema);

/** Recordings at least this long go to batch recognition when the engine has it (SCRIPTORIUM_STT_BATCH_MIN_SECONDS). */
export const STT_BATCH_MIN_SECONDS_DEFAULT = 300;

/** API rate-limit defaults (also what the API applies when its deps leave them out). */
export const RATE_LIMIT_DEFAULTS = { perMinute: 600, burst: 120, authFailuresPerMinute: 30 } as const;

export const ConfigSchema = z.object({
  /** The Google Cloud project (locally a `demo-` project). */
  GOOGLE_CLOUD_PROJECT: z.string().min(1),
  /** Real name of the documents bucket (terraform output; locally `${project}-documents`). */
  SCRIPTORIUM_BUCKET: z.string().min(1),
  /** Requests per minute one principal (user or API key) may make to one API instance, sustained. */
  SCRIPTORIUM_RATE_LIMIT_PER_MINUTE: intFromEnv(RATE_LIMIT_DEFAULTS.perMinute),
  /** Requests one principal may make at once (the token bucket's size). */
  SCRIPTORIUM_RATE_LIMIT_BURST: intFromEnv(RATE_LIMIT_DEFAULTS.burst),
  /** Refused credentials one client address may present per minute before it gets 429 (guessing tokens or keys). */
  SCRIPTORIUM_AUTH_FAILURES_PER_MINUTE: intFromEnv(RATE_LIMIT_DEFAULTS.authFailuresPerMinute),
  /** Upper bound on a declared upload size, in bytes. */
  SCRIPTORIUM_MAX_UPLOAD_BYTES: intFromEnv(100 * 1024 * 1024),
  /** Lifetime of a signed upload URL. Short: it is a bearer credential. */
  SCRIPTORIUM_SIGNED_URL_TTL_SECONDS: intFromEnv(900).pipe(z.number().max(604800, 'V4 signed URLs last at most 7 days (604800 s)')),
  /** Attempts a job stage gets before it is failed for good (counted by us: push bodies carry no deliveryAttempt locally). */
  SCRIPTORIUM_MAX_ATTEMPTS: intFromEnv(5),
  /** `local` (poppler + tesseract child processes) or `google` (Document AI, online processing). */
  SCRIPTORIUM_OCR_ENGINE: z.enum(['local', 'google']).default('local'),
  /** OCR languages for the local engine (tesseract codes joined by +). */
  SCRIPTORIUM_OCR_LANGUAGES: z.string().default('eng'),
  /**
   * Document AI OCR processor for the `google` engine, as a full resource name
   * (`projects/P/locations/L/processors/ID`, optionally `/processorVersions/V`). Required when the
   * engine is `google` (checked below, on the whole object).
   */
  SCRIPTORIUM_DOCUMENTAI_PROCESSOR: emptyAsUnset(
    z.string().regex(DOCUMENTAI_PROCESSOR_NAME, 'expected projects/{project}/locations/{location}/processors/{processor}[/processorVersions/{version}]').optional(),
  ),
  /**
   * Document AI endpoint override, `host` or `host:port`. Default: the processor's regional
   * endpoint (`{location}-documentai.googleapis.com`). A loopback host (`127.0.0.1:PORT`,
   * `localhost:PORT`) is spoken to in plaintext without credentials: that is the test server.
   */
  SCRIPTORIUM_DOCUMENTAI_ENDPOINT: emptyAsUnset(z.string().regex(/^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::\d{1,5})?$/, 'expected host or host:port').optional()),
  /** `local` (Universal Sentence Encoder lite, offline, 512-d) or `google` (Vertex AI text embeddings). */
  SCRIPTORIUM_EMBEDDING_ENGINE: z.enum(['local', 'google']).default('local'),
  /** Embedding model: a Vertex publisher model for `google` (default text-embedding-005); `local` has one. */
  SCRIPTORIUM_EMBEDDING_MODEL: emptyAsUnset(z.string().optional()),
  /** Vector length for `google` (default the model's own); must match the Firestore vector index. */
  SCRIPTORIUM_EMBEDDING_DIMENSIONS: emptyAsUnset(z.coerce.number().int().positive().optional()),
  /** `local` (extractive, any language, offline) or `google` (Gemini on Vertex AI). */
  SCRIPTORIUM_SUMMARY_ENGINE: z.enum(['local', 'google']).default('local'),
  /** Gemini model for `google` summaries (default pinned in shared/engines/summary/google.ts). */
  SCRIPTORIUM_SUMMARY_MODEL: emptyAsUnset(z.string().optional()),
  /** Vertex AI location for embeddings and Gemini. */
  SCRIPTORIUM_VERTEX_LOCATION: z.string().default('us-central1'),
  /** Vertex AI endpoint override (`http(s)://host[:port]`): only the tests' local servers. */
  SCRIPTORIUM_VERTEX_ENDPOINT: emptyAsUnset(z.string().optional()),
  /** `local` (pocketsphinx, US English model, offline) or `google` (Speech-to-Text v2). */
  SCRIPTORIUM_STT_ENGINE: z.enum(['local', 'google']).default('local'),
  /** Language of recordings that declare none, as a BCP-47 tag. The local engine has English only. */
  SCRIPTORIUM_STT_LANGUAGE: z.string().regex(/^[A-Za-z]{2,8}(?:[-_][A-Za-z0-9]{1,8})*$/, 'expected a BCP-47 language tag such as en-US').default('en-US'),
  /** Speech-to-Text v2 model for `google` (default `long`, in shared/engines/stt/google.ts). */
  SCRIPTORIUM_STT_MODEL: emptyAsUnset(z.string().regex(/^[a-z0-9_]+$/, 'expected a model id such as long, short or chirp_2').optional()),
  /** Speech-to-Text v2 location for `google`: `global` (default), `us`, `eu` or a region. */
  SCRIPTORIUM_STT_LOCATION: z.string().regex(/^[a-z][a-z0-9-]*$/, 'expected global, us, eu or a region such as us-central1').default('global'),
  /** Speech-to-Text endpoint override, `host` or `host:port`; a loopback host is the tests' server (plaintext, no credentials). */
  SCRIPTORIUM_STT_ENDPOINT: emptyAsUnset(z.string().regex(/^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::\d{1,5})?$/, 'expected host or host:port').optional()),
  /** Longest audio segment sent to the engine in one request, in seconds (Google's synchronous limit is 60). */
  SCRIPTORIUM_STT_SEGMENT_SECONDS: intFromEnv(55).pipe(z.number().max(600, 'at most 600 s per segment')),
  /**
   * With `google`: recordings at least this long (seconds) go to batch recognition from Cloud
   * Storage (one long-running operation, polled across invocations) instead of segment-by-segment
   * synchronous requests; 0 never uses batch. The local engine has no batch mode and ignores it.
   */
  SCRIPTORIUM_STT_BATCH_MIN_SECONDS: z.coerce.number().int().min(0).max(8 * 3600).default(STT_BATCH_MIN_SECONDS_DEFAULT),
  /**
   * Service-account key file used to sign URLs. In production leave unset: the runtime service
   * account signs through IAM signBlob. Locally the platform generates a key the storage emulator trusts.
   */
  SCRIPTORIUM_SIGNING_KEY_FILE: z.string().optional(),
  /** Public base URL of Cloud Storage as clients see it (locally the storage emulator). */
  STORAGE_EMULATOR_HOST: z.string().optional(),
  FIRESTORE_EMULATOR_HOST: z.string().optional(),
  PUBSUB_EMULATOR_HOST: z.string().optional(),
  FIREBASE_AUTH_EMULATOR_HOST: z.string().optional(),
  /** `local` (flite/festival voices, espeak-ng for other languages, offline) or `google` (Cloud Text-to-Speech). */
  SCRIPTORIUM_TTS_ENGINE: z.enum(['local', 'google']).default('local'),
  /** Voice when a request names none: a local voice (`flite-kal16` default, `festival-slt-hts`) or a Google voice name. */
  SCRIPTORIUM_TTS_VOICE: emptyAsUnset(z.string().regex(/^[A-Za-z0-9_.-]+$/, 'expected a voice name such as flite-kal16 or en-US-Neural2-C').optional()),
  /** Language of speech requests that declare none, as a BCP-47 tag. */
  SCRIPTORIUM_TTS_LANGUAGE: z.string().regex(/^[A-Za-z]{2,8}(?:[-_][A-Za-z0-9]{1,8})*$/, 'expected a BCP-47 language tag such as en-US').default('en-US'),
  /** Text-to-Speech endpoint override, `host` or `host:port`; a loopback host is the tests' server (plaintext, no credentials). */
  SCRIPTORIUM_TTS_ENDPOINT: emptyAsUnset(z.string().regex(/^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::\d{1,5})?$/, 'expected host or host:port').optional()),
  /**
   * Price table for estimated job costs (shared/cost): a path to a JSON file or the JSON itself;
   * the lines it lists replace the bundled list prices (shared/cost/prices.json). Checked below.
   */
  SCRIPTORIUM_PRICE_TABLE: emptyAsUnset(z.string().optional()),
  /**
   * Per-engine limits within one instance (shared/engines/throttle.ts), JSON such as
   * `{"documentai":{"ratePerSecond":2,"concurrency":1}}`, for a project whose quota differs from
   * Google's defaults. Checked below so a bad value stops the function at start, not at its first call.
   */
  SCRIPTORIUM_ENGINE_LIMITS: emptyAsUnset(z.string().optional()),
  /**
   * Fault injection (shared/faults.ts), local platform only: a JSON spec, or a file holding one that is
   * read again when it changes. Refused unless every service is an emulator in a `demo-` project.
   */
  SCRIPTORIUM_FAULTS: emptyAsUnset(z.string().optional()),
  SCRIPTORIUM_FAULTS_FILE: emptyAsUnset(z.string().optional()),
  /**
   * Origins browsers may call the API from (CORS allow-list), comma-separated, exact
   * (`scheme://host[:port]`). Default: the local web console's dev origins.
   */
  SCRIPTORIUM_CORS_ORIGINS: z
    .string()
    .default('http://localhost:5173,http://127.0.0.1:5173')
    .transform((s) => s.split(',').map((o) => o.trim()).filter((o) => o !== ''))
    .pipe(z.array(z.string().regex(/^https?:\/\/[A-Za-z0-9.-]+(?::\d{1,5})?$/, 'expected origins such as https://console.example.com'))),
  /** Longest text-to-speech input (text or SSML) the API accepts, in characters (400 beyond). */
  SCRIPTORIUM_TTS_MAX_CHARS: intFromEnv(100_000),
  /** `local` (Apertium from Debian, offline, the installed pairs) or `google` (Cloud Translation v3). Video translation. */
  SCRIPTORIUM_TRANSLATE_ENGINE: z.enum(['local', 'google']).default('local'),
  /** Cloud Translation location for `google` (`global` default, or a region such as us-central1). */
  SCRIPTORIUM_TRANSLATE_LOCATION: z.string().regex(/^[a-z][a-z0-9-]*$/, 'expected global or a region such as us-central1').default('global'),
  /** Cloud Translation endpoint override, `host` or `host:port`; a loopback host is the tests' server (plaintext, no credentials). */
  SCRIPTORIUM_TRANSLATE_ENDPOINT: emptyAsUnset(z.string().regex(/^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::\d{1,5})?$/, 'expected host or host:port').optional()),
  /**
   * Working time of one invocation of a stage that runs in slices (transcription of long recordings;
   * shared/stages/runner.ts sliceMsFor). Unset: 70 % of the function's timeout. Tests set a few seconds.
   */
  SCRIPTORIUM_STAGE_SLICE_SECONDS: emptyAsUnset(z.coerce.number().int().min(1).max(3600).optional()),
  /** Log level floor. */
  SCRIPTORIUM_LOG_LEVEL: z.enum(['DEBUG', 'INFO', 'WARNING', 'ERROR']).default('INFO'),
}).superRefine(
  (c, ctx) => {
    if (c.SCRIPTORIUM_OCR_ENGINE === 'google' && !c.SCRIPTORIUM_DOCUMENTAI_PROCESSOR) {
      ctx.addIssue({ code: 'custom', path: ['SCRIPTORIUM_DOCUMENTAI_PROCESSOR'], message: 'required when SCRIPTORIUM_OCR_ENGINE is google' });
    }
    if (typeof c.SCRIPTORIUM_PRICE_TABLE === 'string') {
      try {
        parsePriceTable(c.SCRIPTORIUM_PRICE_TABLE);
      } catch (err) {
        ctx.addIssue({ code: 'custom', path: ['SCRIPTORIUM_PRICE_TABLE'], message: err instanceof Error ? err.message : String(err) });
      }
    }
    if (typeof c.SCRIPTORIUM_ENGINE_LIMITS === 'string') {
      try {
        parseEngineLimits(c.SCRIPTORIUM_ENGINE_LIMITS);
      } catch (err) {
        ctx.addIssue({ code: 'custom', path: ['SCRIPTORIUM_ENGINE_LIMITS'], message: err instanceof Error ? err.message : String(err) });
      }
    }
    if ((c.SCRIPTORIUM_FAULTS || c.SCRIPTORIUM_FAULTS_FILE) && !isLocalPlatform(c)) {
      ctx.addIssue({ code: 'custom', path: [c.SCRIPTORIUM_FAULTS ? 'SCRIPTORIUM_FAULTS' : 'SCRIPTORIUM_FAULTS_FILE'], message: 'fault injection is for the local platform only (emulator hosts set, a demo- project)' });
    }
    if (typeof c.SCRIPTORIUM_FAULTS === 'string' && c.SCRIPTORIUM_FAULTS !== '') {
      try {
        parseFaultSpec(c.SCRIPTORIUM_FAULTS);
      } catch (err) {
        ctx.addIssue({ code: 'custom', path: ['SCRIPTORIUM_FAULTS'], message: (err as Error).message });
      }
    }
  },
  // Run even when other variables are bad, so one parse names every problem. The callback then
  // sees partly unparsed input, hence only an equality test and a truthiness test on it.
  { when: () => true },
);

export type Config = z.infer<typeof ConfigSchema>;

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Parses an environment; throws a ConfigError listing every problem. */
export function parseConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const result = ConfigSchema.safeParse(env);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new ConfigError(`invalid configuration: ${problems}`);
  }
  return result.data;
}

let cached: Config | undefined;

/** The process configuration, parsed on first use (never at import time). */
export function config(): Config {
  cached ??= parseConfig();
  return cached;
}

/** For tests that change the environment between cases. */
export function resetConfigForTests(): void {
  cached = undefined;
}

/** A view safe to log: paths and hosts only, no secrets. */
export function redactedConfig(c: Config = config()): Record<string, unknown> {
  return { ...c, SCRIPTORIUM_SIGNING_KEY_FILE: c.SCRIPTORIUM_SIGNING_KEY_FILE ? '[set]' : undefined };
}
