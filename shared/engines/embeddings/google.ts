/**
 * The `google` embedding engine: Vertex AI text embeddings (`text-embedding-005` by default)
 * through `@google/genai` in Vertex mode. For these models the client sends
 * `POST {endpoint}/v1/projects/P/locations/L/publishers/google/models/M:predict` with
 * `{instances: [{content, task_type}], parameters: {autoTruncate, outputDimensionality}}` and reads
 * `predictions[].embeddings.{values, statistics}` (scripts/fakes/fake-vertex.ts speaks exactly that).
 *
 * Limits (https://cloud.google.com/vertex-ai/generative-ai/docs/embeddings/get-text-embeddings#api_limits,
 * and https://cloud.google.com/vertex-ai/docs/quotas#text-embedding-limits): at most 250 input
 * texts per request (1 for gemini-embedding-001), at most 20,000 input tokens per request (more is
 * a 400), and 2,048 tokens per text, beyond which the service silently truncates unless
 * `autoTruncate` is false. This engine always sends `autoTruncate: false`, so an over-long text is
 * refused (400 INVALID_ARGUMENT) and becomes a PermanentError INPUT_TOO_LARGE: truncation is the
 * chunker's decision, made with `maxInputTokens`, never a silent one here.
 *
 * Choices, and why:
 * - Requests are packed in order up to the text limit and a token budget estimated from UTF-8
 *   bytes (a token is ~4 bytes of English, ~3 of CJK; bytes/3 overestimates most text). An
 *   estimate can be wrong, so a request the service refuses as too big (tokens, instances) is split
 *   in half and both halves sent, down to the single text that is over the limit, which is named
 *   in the error. Other refusals of one text (INPUT_INVALID) are found the same way.
 * - Empty and whitespace-only texts are not sent (the service has nothing to embed); they get a
 *   fixed unit vector (the first basis vector), so they match nothing in particular.
 * - Every vector is L2-normalized here: the service's full-length vectors are unit vectors, but
 *   ones shortened by `outputDimensionality` are not.
 * - The client library does not retry unless told to. RESOURCE_EXHAUSTED (429) and UNAVAILABLE
 *   (503) are retried here a few times with short, abortable backoff; everything else goes to the
 *   pipeline's redelivery. A deadline is not retried here either.
 * - Each request has its own deadline, and the caller's signal cancels the request in flight
 *   (the service may still have done, and billed, the work).
 * - `@google/genai` (~220 ms to import) is imported on the first `embed`, never on import. The
 *   client is built then too, so a process that never embeds never resolves credentials.
 * - A loopback endpoint (`127.0.0.1:PORT`, `http://localhost:PORT`) is spoken to in plain HTTP
 *   without credentials: that is the test server.
 */
import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';

import type { EmbedContentResponse, GoogleGenAI, GoogleGenAIOptions } from '@google/genai';

import { ConfigError } from '../../config/index.js';
import { PermanentError, ScriptoriumError, TransientError } from '../../errors/index.js';
import { engineThrottle, type Throttle } from '../throttle.js';
import { abortable, abortError, checkAborted, errorText, lazyLoad, quietConsole, unitVector, wellFormed } from './common.js';
import { EMBEDDING_ERROR_CODES } from './types.js';
import type { EmbedOptions, EmbeddingEngine } from './types.js';

const require = createRequire(import.meta.url);

export const GOOGLE_EMBEDDING_DEFAULT_MODEL = 'text-embedding-005';
export const GOOGLE_EMBEDDING_DEFAULT_LOCATION = 'us-central1';

/** What this engine knows of Vertex's text embedding models. Others need `dimensions`. */
export const VERTEX_EMBEDDING_MODELS: Readonly<Record<string, { readonly dimensions: number; readonly maxTextsPerRequest: number }>> = {
  'text-embedding-005': { dimensions: 768, maxTextsPerRequest: 250 },
  'text-embedding-004': { dimensions: 768, maxTextsPerRequest: 250 },
  'text-multilingual-embedding-002': { dimensions: 768, maxTextsPerRequest: 250 },
  'gemini-embedding-001': { dimensions: 3072, maxTextsPerRequest: 1 },
};

/** Settings of {@link createGoogleEmbeddingEngine}. */
export interface GoogleEmbeddingEngineOptions {
  /** Google Cloud project billed for the calls. */
  readonly project: string;
  /** Vertex AI location (default `us-central1`). */
  readonly location?: string;
  /** Publisher model id (default `text-embedding-005`). */
  readonly model?: string;
  /**
   * Vector length; sent as `outputDimensionality` when it differs from the model's own. Required
   * for models not in {@link VERTEX_EMBEDDING_MODELS}.
   */
  readonly dimensions?: number;
  /**
   * Endpoint override: a base URL (`https://host`, `http://127.0.0.1:PORT`) or `host[:port]`
   * (https, or plain http for a loopback host). Default: the client's regional endpoint,
   * `https://{location}-aiplatform.googleapis.com`.
   */
  readonly endpoint?: string;
  /** API version in the path (default `v1`). */
  readonly apiVersion?: string;
  /** Texts per request (default 250, or the model's own limit when lower). */
  readonly maxTextsPerRequest?: number;
  /** Estimated tokens per request (default 20,000, the service's limit). */
  readonly maxTokensPerRequest?: number;
  /** Tokens one text may have (default 2,048); reported as `maxInputTokens`. */
  readonly maxInputTokens?: number;
  /** Deadline of one request (default 60,000 ms). */
  readonly requestTimeoutMs?: number;
  /** Extra attempts for a request refused with 429 or 503 (default 2). */
  readonly retries?: number;
  /** First backoff before such a retry; doubled each time, with jitter (default 1000 ms). */
  readonly retryDelayMs?: number;
  /** The limiter every request goes through (default the process's `vertex-embeddings` one: shared/engines/throttle.ts). */
  readonly throttle?: Throttle;
}

const DEFAULTS = {
  apiVersion: 'v1',
  maxTextsPerRequest: 250,
  maxTokensPerRequest: 20_000,
  maxInputTokens: 2048,
  requestTimeoutMs: 60_000,
  retries: 2,
  retryDelayMs: 1000,
} as const;

const { engineFailed, engineUnavailable, engineMisconfigured, inputTooLarge, inputInvalid } = EMBEDDING_ERROR_CODES;

interface Settings {
  readonly project: string;
  readonly location: string;
  readonly model: string;
  readonly dimensions: number;
  /** Sent only when it differs from the model's own length. */
  readonly outputDimensionality: number | undefined;
  readonly baseUrl: string | undefined;
  readonly apiVersion: string;
  readonly maxTextsPerRequest: number;
  readonly maxTokensPerRequest: number;
  readonly maxInputTokens: number;
  readonly requestTimeoutMs: number;
  readonly retries: number;
  readonly retryDelayMs: number;
  readonly throttle: Throttle | undefined;
}

/**
 * Creates the `google` engine. Failures: PermanentError INPUT_TOO_LARGE (a text over the model's
 * limit), INPUT_INVALID (a text the service refuses otherwise), ENGINE_MISCONFIGURED (unknown
 * model, project or location, no permission, no credentials, a parameter the model does not
 * take); TransientError ENGINE_UNAVAILABLE (throttled, unavailable, unreachable, deadline) and
 * ENGINE_FAILED (service errors, unusable answers, `signal` aborted). Throws a ConfigError at once
 * for settings that cannot work.
 */
export function createGoogleEmbeddingEngine(options: GoogleEmbeddingEngineOptions): EmbeddingEngine {
  const settings = resolveSettings(options);
  const client = lazyLoad(() => createClient(settings));
  const blank = Array.from({ length: settings.dimensions }, (_, i) => (i === 0 ? 1 : 0));

  return {
    name: 'google',
    model: settings.model,
    dimensions: settings.dimensions,
    maxInputTokens: settings.maxInputTokens,

    async embed(texts: readonly string[], callOptions: EmbedOptions = {}): Promise<number[][]> {
      const { signal } = callOptions;
      try {
        checkAborted(signal);
        const vectors = new Array<number[]>(texts.length);
        const send: number[] = [];
        texts.forEach((text, i) => {
          if (text.trim() === '') vectors[i] = [...blank];
          else send.push(i);
        });
        if (send.length === 0) return vectors;
        const job: Job = {
          settings,
          client: await abortable(client.get(), signal),
          texts: texts.map((t, i) => (vectors[i] ? '' : wellFormed(t))),
          taskType: callOptions.kind === 'query' ? 'RETRIEVAL_QUERY' : 'RETRIEVAL_DOCUMENT',
          signal,
          vectors,
        };
        for (const batch of packRequests(send, job.texts, settings)) await embedBatch(job, batch);
        return vectors;
      } catch (err) {
        throw toEngineError(err, signal, settings);
      }
    },
  };
}

function resolveSettings(options: GoogleEmbeddingEngineOptions): Settings {
  const project = options.project?.trim() ?? '';
  const location = options.location?.trim() || GOOGLE_EMBEDDING_DEFAULT_LOCATION;
  const model = options.model?.trim() || GOOGLE_EMBEDDING_DEFAULT_MODEL;
  if (!/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/.test(project)) throw new ConfigError(`the Vertex AI embedding engine needs a Google Cloud project id, got ${JSON.stringify(options.project)}`);
  if (!/^[a-z0-9-]+$/.test(location)) throw new ConfigError(`Vertex AI location must be a region such as us-central1 or europe-west1, got ${JSON.stringify(location)}`);
  if (!/^[A-Za-z0-9][A-Za-z0-9._@-]*$/.test(model)) throw new ConfigError(`Vertex AI embedding model must be a publisher model id such as text-embedding-005, got ${JSON.stringify(model)}`);
  const known = VERTEX_EMBEDDING_MODELS[model];
  const requested = options.dimensions;
  if (requested !== undefined && (!Number.isInteger(requested) || requested < 1 || (known && requested > known.dimensions))) {
    throw new ConfigError(`embedding dimensions for ${model} must be an integer from 1 to ${known?.dimensions ?? 'the model maximum'}, got ${requested}`);
  }
  const dimensions = requested ?? known?.dimensions;
  if (dimensions === undefined) throw new ConfigError(`the embedding dimensions of ${model} are not known here: set them explicitly`);
  return {
    project,
    location,
    model,
    dimensions,
    outputDimensionality: dimensions === known?.dimensions ? undefined : dimensions,
    baseUrl: baseUrlOf(options.endpoint),
    apiVersion: options.apiVersion ?? DEFAULTS.apiVersion,
    // Gemini embedding models other than gemini-embedding-001 go to :embedContent, one text a call
    // (the client refuses more): untested here, the fake speaks :predict only.
    maxTextsPerRequest: Math.min(positive(options.maxTextsPerRequest, DEFAULTS.maxTextsPerRequest), known?.maxTextsPerRequest ?? (/gemini/i.test(model) ? 1 : Number.POSITIVE_INFINITY)),
    maxTokensPerRequest: positive(options.maxTokensPerRequest, DEFAULTS.maxTokensPerRequest),
    maxInputTokens: positive(options.maxInputTokens, DEFAULTS.maxInputTokens),
    requestTimeoutMs: positive(options.requestTimeoutMs, DEFAULTS.requestTimeoutMs),
    retries: Math.max(0, Math.floor(options.retries ?? DEFAULTS.retries)),
    retryDelayMs: Math.max(0, options.retryDelayMs ?? DEFAULTS.retryDelayMs),
    throttle: options.throttle,
  };
}

// ---------------------------------------------------------------------------------------------
// Client

function baseUrlOf(endpoint: string | undefined): string | undefined {
  const value = endpoint?.trim();
  if (!value) return undefined;
  if (/^https?:\/\//i.test(value)) {
    try {
      return new URL(value).toString().replace(/\/+$/, '');
    } catch {
      throw new ConfigError(`Vertex AI endpoint is not a URL: ${JSON.stringify(value)}`);
    }
  }
  const match = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?$/.exec(value);
  if (!match?.[1]) throw new ConfigError(`Vertex AI endpoint must be a URL, host or host:port, got ${JSON.stringify(value)}`);
  return `${isLoopback(match[1]) ? 'http' : 'https'}://${value}`;
}

function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  return bare === 'localhost' || bare === '::1' || /^127(?:\.\d{1,3}){3}$/.test(bare);
}

async function createClient(settings: Settings): Promise<GoogleGenAI> {
  // The client prints (console.debug/warn) when API-key variables are also set; keep stdout JSON.
  return quietConsole('@google/genai', async () => {
    const { GoogleGenAI } = await import('@google/genai');
    const options: GoogleGenAIOptions = {
      vertexai: true,
      project: settings.project,
      location: settings.location,
      apiVersion: settings.apiVersion,
      ...(settings.baseUrl ? { httpOptions: { baseUrl: settings.baseUrl } } : {}),
    };
    if (settings.baseUrl && isLoopback(new URL(settings.baseUrl).hostname)) {
      // No Application Default Credentials (nor a metadata server) to look for: the test server.
      const { PassThroughClient } = require('google-auth-library') as typeof import('google-auth-library');
      options.googleAuthOptions = { authClient: new PassThroughClient() };
    }
    return new GoogleGenAI(options);
  });
}

// ---------------------------------------------------------------------------------------------
// Requests

/** One embed() call. */
interface Job {
  readonly settings: Settings;
  readonly client: GoogleGenAI;
  /** The caller's texts (well-formed UTF-16); '' for those not sent. */
  readonly texts: readonly string[];
  readonly taskType: 'RETRIEVAL_DOCUMENT' | 'RETRIEVAL_QUERY';
  readonly signal: AbortSignal | undefined;
  readonly vectors: number[][];
}

/** Tokens a text may take, erring high: UTF-8 bytes / 3. */
export function estimateTokens(text: string): number {
  return Math.ceil(Buffer.byteLength(text, 'utf8') / 3);
}

/** Text indices grouped into requests, in order, within the text limit and the estimated token budget. */
export function packRequests(indices: readonly number[], texts: readonly string[], limits: Pick<Settings, 'maxTextsPerRequest' | 'maxTokensPerRequest'>): number[][] {
  const out: number[][] = [];
  let current: number[] = [];
  let tokens = 0;
  for (const i of indices) {
    const estimate = estimateTokens(texts[i] ?? '');
    if (current.length > 0 && (current.length >= limits.maxTextsPerRequest || tokens + estimate > limits.maxTokensPerRequest)) {
      out.push(current);
      current = [];
      tokens = 0;
    }
    current.push(i);
    tokens += estimate;
  }
  if (current.length > 0) out.push(current);
  return out;
}

/**
 * Embeds `batch` (text indices) into `job.vectors`. A request refused for its size or for one of
 * its texts is split in half, so the texts that can be embedded are, and the one that cannot is
 * named.
 */
async function embedBatch(job: Job, batch: readonly number[]): Promise<void> {
  checkAborted(job.signal);
  let response: EmbedContentResponse;
  try {
    response = await requestWithRetries(job, batch.map((i) => job.texts[i] ?? ''));
  } catch (err) {
    const refusal = refusalOf(err);
    if (refusal === undefined || refusal.kind === 'config') throw err;
    if (batch.length > 1) {
      const middle = Math.ceil(batch.length / 2);
      await embedBatch(job, batch.slice(0, middle));
      await embedBatch(job, batch.slice(middle));
      return;
    }
    const index = batch[0] ?? 0;
    const text = job.texts[index] ?? '';
    const { model, maxInputTokens } = job.settings;
    if (refusal.kind === 'size') {
      throw new PermanentError(inputTooLarge, `text ${index} (${text.length} characters) is over ${model}'s input limit of ${maxInputTokens} tokens: ${refusal.message}`, err);
    }
    throw new PermanentError(inputInvalid, `Vertex AI refused text ${index} (${text.length} characters): ${refusal.message}`, err);
  }
  const embeddings = response.embeddings ?? [];
  if (embeddings.length !== batch.length) {
    throw new TransientError(engineFailed, `Vertex AI returned ${embeddings.length} embeddings for ${batch.length} texts`);
  }
  batch.forEach((textIndex, k) => {
    const embedding = embeddings[k];
    if (embedding?.statistics?.truncated === true) {
      throw new PermanentError(inputTooLarge, `Vertex AI truncated text ${textIndex} (${embedding.statistics.tokenCount ?? '?'} tokens) although autoTruncate is off`);
    }
    const values = embedding?.values ?? [];
    const vector = values.length === job.settings.dimensions ? unitVector(values) : undefined;
    if (!vector) {
      throw new TransientError(engineFailed, `Vertex AI returned an unusable embedding for text ${textIndex} (${values.length} values, expected ${job.settings.dimensions} finite, not all zero)`);
    }
    job.vectors[textIndex] = vector;
  });
}

async function requestWithRetries(job: Job, contents: string[]): Promise<EmbedContentResponse> {
  const { settings, signal } = job;
  const throttle = settings.throttle ?? engineThrottle('vertex-embeddings');
  for (let attempt = 0; ; attempt++) {
    checkAborted(signal);
    try {
      return await throttle.run(() => requestOnce(job, contents), signal);
    } catch (err) {
      const status = apiStatus(err);
      if (attempt >= settings.retries || (status !== 429 && status !== 503)) throw err;
      const backoff = settings.retryDelayMs * 2 ** attempt * (0.5 + Math.random() / 2);
      await sleep(backoff, undefined, { signal }).catch((sleepErr: unknown) => {
        throw signal?.aborted ? abortError(signal, sleepErr) : sleepErr;
      });
    }
  }
}

async function requestOnce(job: Job, contents: string[]): Promise<EmbedContentResponse> {
  const { settings, signal } = job;
  const deadline = AbortSignal.timeout(settings.requestTimeoutMs);
  try {
    return await job.client.models.embedContent({
      model: settings.model,
      contents,
      config: {
        taskType: job.taskType,
        autoTruncate: false,
        ...(settings.outputDimensionality !== undefined ? { outputDimensionality: settings.outputDimensionality } : {}),
        abortSignal: signal ? AbortSignal.any([signal, deadline]) : deadline,
      },
    });
  } catch (err) {
    if (signal?.aborted) throw abortError(signal, err);
    if (deadline.aborted) throw new TransientError(engineUnavailable, `Vertex AI embeddings: no answer within ${settings.requestTimeoutMs} ms (deadline exceeded)`, err);
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// Errors

interface ServiceError {
  readonly httpStatus: number;
  /** google.rpc status name, e.g. RESOURCE_EXHAUSTED, when the body says. */
  readonly status: string | undefined;
  readonly message: string;
}

/** The client's ApiError: HTTP status, and the JSON error body as its message. */
function serviceError(err: unknown): ServiceError | undefined {
  const httpStatus = apiStatus(err);
  if (httpStatus === undefined) return undefined;
  const raw = errorText(err);
  let status: string | undefined;
  let message = raw;
  try {
    const body = JSON.parse(raw) as unknown;
    const error = (typeof body === 'object' && body !== null && 'error' in body ? body.error : undefined) as { status?: unknown; message?: unknown } | undefined;
    if (typeof error?.status === 'string') status = error.status;
    if (typeof error?.message === 'string') message = error.message;
  } catch {
    // Not JSON (a proxy's HTML page): keep the text.
  }
  return { httpStatus, status, message: message.slice(0, 500) };
}

function apiStatus(err: unknown): number | undefined {
  if (!(err instanceof Error) || err.name !== 'ApiError') return undefined;
  const status = (err as Error & { status?: unknown }).status;
  return typeof status === 'number' ? status : undefined;
}

/**
 * What a 400/413 is about, from the service's words: a parameter of ours (config), the size of the
 * request or of one text (size), or something about a text (invalid).
 */
function refusalOf(err: unknown): { kind: 'config' | 'size' | 'invalid'; message: string } | undefined {
  const e = serviceError(err);
  if (!e || (e.httpStatus !== 400 && e.httpStatus !== 413)) return undefined;
  if (e.httpStatus === 413) return { kind: 'size', message: e.message };
  if (/dimensionality|task.?type|\bparameters?\b|api key/i.test(e.message)) return { kind: 'config', message: e.message };
  if (/tokens?\b|instances?\b|too (?:long|large|many)|exceed|length|limit/i.test(e.message)) return { kind: 'size', message: e.message };
  return { kind: 'invalid', message: e.message };
}

/** Maps client failures to the contract's errors; ours pass through unchanged. */
function toEngineError(err: unknown, signal: AbortSignal | undefined, settings: Settings): unknown {
  if (err instanceof ScriptoriumError) return err;
  if (signal?.aborted) return abortError(signal, err);
  const e = serviceError(err);
  const where = `${settings.model} in projects/${settings.project}/locations/${settings.location}`;
  if (!e) {
    const text = errorText(err);
    if (/could not load the default credentials/i.test(text)) {
      return new PermanentError(engineMisconfigured, `no Google credentials for Vertex AI (${where}): ${text}`, err);
    }
    // fetch failures (refused, reset, DNS) and credential refreshes that failed on the way.
    const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
    if (err instanceof TypeError || /fetch failed|ECONN|ETIMEDOUT|EAI_AGAIN|ENOTFOUND|socket/i.test(text)) {
      return new TransientError(engineUnavailable, `Vertex AI unreachable (${where}): ${text}${cause}`, err);
    }
    return new TransientError(engineFailed, `Vertex AI embedding failed (${where}): ${text}${cause}`, err);
  }
  const what = `Vertex AI ${e.httpStatus}${e.status ? ` ${e.status}` : ''}: ${e.message}`;
  switch (e.httpStatus) {
    case 400:
    case 413: {
      const refusal = refusalOf(err);
      if (refusal?.kind === 'size') return new PermanentError(inputTooLarge, `the texts are over ${settings.model}'s limits (${what})`, err);
      if (refusal?.kind === 'invalid') return new PermanentError(inputInvalid, `Vertex AI refused the texts (${what})`, err);
      return new PermanentError(engineMisconfigured, `Vertex AI refused the request's parameters for ${where} (${what})`, err);
    }
    case 401:
    case 403:
    case 404:
      return new PermanentError(engineMisconfigured, `${where} cannot be used: check the model, project and location, that the Vertex AI API is enabled, and the runtime service account's roles/aiplatform.user (${what})`, err);
    case 408:
    case 429:
    case 503:
    case 504:
      return new TransientError(engineUnavailable, what, err);
    default:
      return new TransientError(engineFailed, what, err);
  }
}

function positive(value: number | undefined, fallback: number): number {
  return value !== undefined && Number.isFinite(value) && value >= 1 ? Math.floor(value) : fallback;
}
