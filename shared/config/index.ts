/**
 * Runtime configuration: one zod schema over the environment, parsed once on first use, failing fast
 * with a message naming every bad variable. `redactedConfig()` is what may be logged.
 */
import { z } from 'zod';

const intFromEnv = (def: number) => z.coerce.number().int().positive().default(def);

export const ConfigSchema = z.object({
  /** The Google Cloud project (locally a `demo-` project). */
  GOOGLE_CLOUD_PROJECT: z.string().min(1),
  /** Real name of the documents bucket (terraform output; locally `${project}-documents`). */
  SCRIPTORIUM_BUCKET: z.string().min(1),
  /** Upper bound on a declared upload size, in bytes. */
  SCRIPTORIUM_MAX_UPLOAD_BYTES: intFromEnv(100 * 1024 * 1024),
  /** Lifetime of a signed upload URL. Short: it is a bearer credential. */
  SCRIPTORIUM_SIGNED_URL_TTL_SECONDS: intFromEnv(900),
  /** Attempts a job stage gets before it is failed for good (counted by us: push bodies carry no deliveryAttempt locally). */
  SCRIPTORIUM_MAX_ATTEMPTS: intFromEnv(5),
  SCRIPTORIUM_OCR_ENGINE: z.enum(['local']).default('local'),
  /** OCR languages for the local engine (tesseract codes joined by +). */
  SCRIPTORIUM_OCR_LANGUAGES: z.string().default('eng'),
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
  /** Log level floor. */
  SCRIPTORIUM_LOG_LEVEL: z.enum(['DEBUG', 'INFO', 'WARNING', 'ERROR']).default('INFO'),
});

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
