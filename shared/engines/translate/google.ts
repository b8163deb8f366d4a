/**
 * The `google` translation engine: Cloud Translation v3 `TranslateText` through
 * `@google-cloud/translate` (TranslationServiceClient).
 *
 * Choices, and why:
 * - One request per batch of segments, `mimeType: text/plain` (the default, text/html, would read
 *   `<` and `&` in speech as markup), at most 128 texts and 10,000 code points a request (the proto
 *   allows 1,024 texts and recommends under 30,000 code points in total: smaller batches keep
 *   progress moving and a retried batch cheap).
 * - `parent` is `projects/P/locations/L` (default `global`); the model is the general NMT one,
 *   named in full so the answer's `model` is reproducible.
 * - The source language is sent when known (the transcript's); without it the service detects one
 *   and says which (`detectedLanguageCode`).
 * - Failures: RESOURCE_EXHAUSTED (quota), UNAVAILABLE and DEADLINE_EXCEEDED are TransientError
 *   ENGINE_UNAVAILABLE (the stage is retried with backoff by Pub/Sub; there is no retry loop here:
 *   quota windows are a minute long). INVALID_ARGUMENT about a language (unsupported target or
 *   source) is PermanentError LANGUAGE_PAIR_NOT_SUPPORTED, any other INVALID_ARGUMENT
 *   INVALID_ARGUMENT; permissions, API disabled and authentication are ENGINE_MISCONFIGURED.
 *   An answer with another number of translations than texts sent is ENGINE_FAILED (transient).
 * - Aborting cancels the RPC (gRPC interceptor, as the other Google engines do).
 */
import { TranslationServiceClient } from '@google-cloud/translate';
import type { protos } from '@google-cloud/translate';
// The @grpc/grpc-js instance the client library uses (credentials are checked with `instanceof`).
import { grpc } from 'google-gax';

import { PermanentError, ScriptoriumError, TransientError } from '../../errors/index.js';
import { abortInterceptor } from '../grpc-abort.js';
import { TRANSLATE_ERROR_CODES } from './types.js';
import type { TranslateOptions, TranslateResult, TranslationEngine } from './types.js';

type ITranslateTextRequest = protos.google.cloud.translation.v3.ITranslateTextRequest;
// The package brings its own google-gax (6.x, beside the 5.x the other clients use): its option
// types are taken from the client itself. Both load the same @grpc/grpc-js, so credentials match.
type ClientOptions = NonNullable<ConstructorParameters<typeof TranslationServiceClient>[0]>;
/** The call options used here (gax's CallOptions, structurally). */
interface CallOptions {
  readonly timeout: number;
  readonly retry: null;
  readonly otherArgs?: { readonly options: { readonly interceptors: grpc.Interceptor[] } };
}

export const GOOGLE_TRANSLATE_ENDPOINT = 'translate.googleapis.com';

export interface GoogleTranslationOptions {
  readonly projectId: string;
  /** Default `global`. */
  readonly location?: string;
  /** `host` or `host:port`; a loopback host is spoken to in plaintext without credentials (the tests' server). */
  readonly apiEndpoint?: string;
  readonly client?: TranslationServiceClient;
  /** Deadline of one request (default 30,000 ms). */
  readonly requestTimeoutMs?: number;
}

const CODE = { CANCELLED: 1, INVALID_ARGUMENT: 3, DEADLINE_EXCEEDED: 4, NOT_FOUND: 5, PERMISSION_DENIED: 7, RESOURCE_EXHAUSTED: 8, FAILED_PRECONDITION: 9, UNAVAILABLE: 14, UNAUTHENTICATED: 16 } as const;

export function createGoogleTranslationEngine(options: GoogleTranslationOptions): TranslationEngine {
  const location = options.location ?? 'global';
  const parent = `projects/${options.projectId}/locations/${location}`;
  const model = `${parent}/models/general/nmt`;
  const timeout = options.requestTimeoutMs ?? 30_000;
  let client = options.client;
  let owned: TranslationServiceClient | undefined;
  const getClient = (): TranslationServiceClient => {
    if (!client) {
      owned = new TranslationServiceClient(clientOptions(options.apiEndpoint ?? GOOGLE_TRANSLATE_ENDPOINT));
      client = owned;
    }
    return client;
  };

  return {
    name: 'google',
    model: 'cloud-translation-v3 general/nmt',
    maxBatchItems: 128,
    maxBatchChars: 10_000,
    supports() {
      // Only the service knows (and its list changes): an unsupported pair is refused by the request.
      return Promise.resolve(undefined);
    },
    pairs() {
      return Promise.resolve(undefined);
    },
    async translate(texts: readonly string[], opts: TranslateOptions): Promise<TranslateResult> {
      const { signal } = opts;
      if (signal?.aborted) throw new TransientError(TRANSLATE_ERROR_CODES.engineFailed, 'translation aborted');
      if (texts.length === 0) return { texts: [], engineMs: 0 };
      const request: ITranslateTextRequest = {
        parent,
        contents: [...texts],
        mimeType: 'text/plain',
        targetLanguageCode: opts.to,
        model,
        ...(opts.from ? { sourceLanguageCode: opts.from } : {}),
      };
      const callOptions: CallOptions = {
        timeout,
        retry: null,
        ...(signal ? { otherArgs: { options: { interceptors: [abortInterceptor(signal)] } } } : {}),
      };
      const started = performance.now();
      let response: protos.google.cloud.translation.v3.ITranslateTextResponse;
      try {
        [response] = await getClient().translateText(request, callOptions);
      } catch (err) {
        throw toEngineError(err, signal, opts);
      }
      const translations = response.translations ?? [];
      if (translations.length !== texts.length) {
        throw new TransientError(TRANSLATE_ERROR_CODES.engineFailed, `Cloud Translation returned ${translations.length} translations for ${texts.length} texts`);
      }
      const detected = translations.find((t) => t.detectedLanguageCode)?.detectedLanguageCode;
      return { texts: translations.map((t) => t.translatedText ?? ''), ...(detected ? { detectedLanguage: detected } : {}), engineMs: Math.round(performance.now() - started) };
    },
    async close() {
      if (owned) await owned.close();
    },
  };
}

function clientOptions(endpoint: string): ClientOptions {
  const match = /^(\[[^\]]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(endpoint);
  if (!match?.[1]) throw new Error(`Cloud Translation endpoint must be host or host:port, got ${JSON.stringify(endpoint)}`);
  const host = match[1];
  const port = match[2] === undefined ? 443 : Number(match[2]);
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  const loopback = bare === 'localhost' || bare === '::1' || /^127(?:\.\d{1,3}){3}$/.test(bare);
  if (!loopback) return { apiEndpoint: host, port };
  // A local test server: plaintext, no credentials (the universe domain keeps ADC from being looked up).
  return { apiEndpoint: host, port, sslCreds: grpc.credentials.createInsecure(), universeDomain: 'googleapis.com' };
}

function grpcCode(err: unknown): number | undefined {
  const code = typeof err === 'object' && err !== null && 'code' in err ? err.code : undefined;
  return typeof code === 'number' && code >= 0 && code < 100 ? code : undefined;
}

function details(err: unknown): string {
  const d = typeof err === 'object' && err !== null && 'details' in err ? err.details : undefined;
  return typeof d === 'string' && d.length > 0 ? d : err instanceof Error ? err.message : String(err);
}

/** Classifies a failed TranslateText (see the module comment). */
export function toEngineError(err: unknown, signal: AbortSignal | undefined, opts: Pick<TranslateOptions, 'from' | 'to'>): ScriptoriumError {
  if (err instanceof ScriptoriumError) return err;
  const code = grpcCode(err);
  const words = details(err).slice(0, 500);
  if (signal?.aborted || code === CODE.CANCELLED) return new TransientError(TRANSLATE_ERROR_CODES.engineFailed, 'translation aborted', err);
  switch (code) {
    case CODE.RESOURCE_EXHAUSTED:
      return new TransientError(TRANSLATE_ERROR_CODES.engineUnavailable, `Cloud Translation quota exceeded: ${words}`, err);
    case CODE.UNAVAILABLE:
    case CODE.DEADLINE_EXCEEDED:
      return new TransientError(TRANSLATE_ERROR_CODES.engineUnavailable, `Cloud Translation unavailable: ${words}`, err);
    case CODE.INVALID_ARGUMENT:
      // The service names the language it refuses ("Target language is invalid.", "Unsupported language pair").
      if (/language/i.test(words)) return new PermanentError(TRANSLATE_ERROR_CODES.pairNotSupported, `Cloud Translation does not translate ${opts.from ?? '(detected)'} → ${opts.to}: ${words}`, err);
      return new PermanentError(TRANSLATE_ERROR_CODES.invalidArgument, `Cloud Translation refused the request: ${words}`, err);
    case CODE.PERMISSION_DENIED:
    case CODE.UNAUTHENTICATED:
    case CODE.FAILED_PRECONDITION:
    case CODE.NOT_FOUND:
      return new PermanentError(TRANSLATE_ERROR_CODES.engineMisconfigured, `Cloud Translation is not usable with this project or credentials: ${words}`, err);
    default:
      // Unknown and INTERNAL: worth retrying (bounded by the stage's attempt cap).
      return new TransientError(TRANSLATE_ERROR_CODES.engineFailed, `Cloud Translation failed: ${words}`, err);
  }
}
