/**
 * Chooses the summary engine from a plain options object: the environment (`process.env`), or the
 * parsed config once the lead adds these keys to it. Every key is optional; values may be strings
 * (as the environment has them) or numbers.
 */
import { ConfigError } from '../../config/index.js';
import { createGoogleSummaryEngine, DEFAULT_GEMINI_LOCATION, DEFAULT_GEMINI_MODEL } from './google.js';
import type { GoogleSummaryEngineOptions } from './google.js';
import { createLocalSummaryEngine } from './local.js';
import type { SummaryEngine } from './types.js';

export * from './types.js';
export { createLocalSummaryEngine, LOCAL_SUMMARY_MODEL } from './local.js';
export { createGoogleSummaryEngine, DEFAULT_GEMINI_LOCATION, DEFAULT_GEMINI_MODEL, DEFAULT_SUMMARY_PROMPT } from './google.js';

/** The keys engine selection reads. */
export interface SummaryEngineConfig {
  /** `local` (default: extractive, offline) or `google` (Gemini on Vertex AI). */
  readonly SCRIPTORIUM_SUMMARY_ENGINE?: string | undefined;
  /** The project billed for Gemini (required for `google`). */
  readonly GOOGLE_CLOUD_PROJECT?: string | undefined;
  /** Gemini model id (default {@link DEFAULT_GEMINI_MODEL}). */
  readonly SCRIPTORIUM_SUMMARY_MODEL?: string | undefined;
  /** Vertex AI location (default {@link DEFAULT_GEMINI_LOCATION}). */
  readonly SCRIPTORIUM_SUMMARY_LOCATION?: string | undefined;
  /** Endpoint override, `http(s)://host[:port]` (a local test server). Default: Google's. */
  readonly SCRIPTORIUM_SUMMARY_ENDPOINT?: string | undefined;
  /** Characters of text per Gemini request before map-reduce (default 400000). */
  readonly SCRIPTORIUM_SUMMARY_INPUT_BUDGET_CHARS?: string | number | undefined;
  /** Deadline of one Gemini request in ms (default 120000). */
  readonly SCRIPTORIUM_SUMMARY_TIMEOUT_MS?: string | number | undefined;
}

/** Test and wiring hooks that are not configuration (credentials, a shared client). */
export type SummaryEngineOverrides = Partial<Pick<GoogleSummaryEngineOptions, 'googleAuthOptions' | 'client' | 'retryDelayMs' | 'retries' | 'concurrency'>>;

/**
 * The engine `SCRIPTORIUM_SUMMARY_ENGINE` names (default `local`). Throws ConfigError for an
 * unknown engine, `google` without `GOOGLE_CLOUD_PROJECT`, an endpoint that is not an http(s) URL
 * or a number that is not a positive integer.
 */
export function createSummaryEngine(cfg: SummaryEngineConfig, overrides: SummaryEngineOverrides = {}): SummaryEngine {
  const engine = blank(cfg.SCRIPTORIUM_SUMMARY_ENGINE) ?? 'local';
  switch (engine) {
    case 'local':
      return createLocalSummaryEngine();
    case 'google': {
      const project = blank(cfg.GOOGLE_CLOUD_PROJECT);
      if (!project) throw new ConfigError('GOOGLE_CLOUD_PROJECT is required when SCRIPTORIUM_SUMMARY_ENGINE is google');
      const endpoint = blank(cfg.SCRIPTORIUM_SUMMARY_ENDPOINT);
      if (endpoint !== undefined && !/^https?:\/\/[^/\s]+\/?$/u.test(endpoint)) {
        throw new ConfigError(`SCRIPTORIUM_SUMMARY_ENDPOINT: expected http(s)://host[:port], got ${JSON.stringify(endpoint)}`);
      }
      const budget = positiveInt(cfg.SCRIPTORIUM_SUMMARY_INPUT_BUDGET_CHARS, 'SCRIPTORIUM_SUMMARY_INPUT_BUDGET_CHARS');
      const timeout = positiveInt(cfg.SCRIPTORIUM_SUMMARY_TIMEOUT_MS, 'SCRIPTORIUM_SUMMARY_TIMEOUT_MS');
      return createGoogleSummaryEngine({
        ...overrides,
        project,
        location: blank(cfg.SCRIPTORIUM_SUMMARY_LOCATION) ?? DEFAULT_GEMINI_LOCATION,
        model: blank(cfg.SCRIPTORIUM_SUMMARY_MODEL) ?? DEFAULT_GEMINI_MODEL,
        ...(endpoint ? { baseUrl: endpoint.replace(/\/$/u, '') } : {}),
        ...(budget !== undefined ? { inputBudgetChars: budget } : {}),
        ...(timeout !== undefined ? { requestTimeoutMs: timeout } : {}),
      });
    }
    default:
      throw new ConfigError(`SCRIPTORIUM_SUMMARY_ENGINE: expected local or google, got ${JSON.stringify(engine)}`);
  }
}

/** An optional variable set to '' counts as unset (deploy tooling often cannot omit a key). */
function blank(value: string | undefined): string | undefined {
  const v = value?.trim();
  return v ? v : undefined;
}

function positiveInt(value: string | number | undefined, key: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = typeof value === 'number' ? value : Number(value.trim());
  if (!Number.isInteger(n) || n < 1) throw new ConfigError(`${key}: expected a positive integer, got ${JSON.stringify(value)}`);
  return n;
}
