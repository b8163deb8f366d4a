/**
 * The machine-translation engine contract. Engines are chosen by config
 * (`SCRIPTORIUM_TRANSLATE_ENGINE`): `local` (Apertium from Debian, offline, for the language pairs
 * whose packages are installed) or `google` (Cloud Translation v3 `translateText`).
 *
 * An engine translates a batch of short texts (transcript segments) keeping their order and count,
 * so a caller can put each translation back on its segment's timings. Both engines throw
 * PermanentError for what can never succeed (a pair they do not translate, invalid input) and
 * TransientError for failures worth retrying (quota, outage, deadline, a crashed translator, the
 * caller's abort).
 */

/** Stable error codes engines use in PermanentError/TransientError. */
export const TRANSLATE_ERROR_CODES = {
  /** Permanent: the engine does not translate from the source into the target language. */
  pairNotSupported: 'LANGUAGE_PAIR_NOT_SUPPORTED',
  /** Permanent: the request can never be accepted (bad language tag, too much text in one item). */
  invalidArgument: 'INVALID_ARGUMENT',
  /** Permanent: project, permissions, API enablement or the translator program are wrong or missing. */
  engineMisconfigured: 'ENGINE_MISCONFIGURED',
  /** Transient: throttled (quota), unreachable, or past the deadline. */
  engineUnavailable: 'ENGINE_UNAVAILABLE',
  /** Transient: the translator failed in a way worth retrying, or the caller aborted. */
  engineFailed: 'ENGINE_FAILED',
} as const;

export type TranslateErrorCode = (typeof TRANSLATE_ERROR_CODES)[keyof typeof TRANSLATE_ERROR_CODES];

/** A language pair as primary BCP-47 subtags (`en` → `es`). */
export interface LanguagePair {
  readonly from: string;
  readonly to: string;
}

export interface TranslateOptions {
  /** BCP-47 source language; `google` detects it when absent, `local` requires it. */
  readonly from?: string;
  /** BCP-47 target language. */
  readonly to: string;
  readonly signal?: AbortSignal;
}

export interface TranslateResult {
  /** One translation per input text, in the same order. */
  readonly texts: readonly string[];
  /** The source language the service detected, when it says (google without `from`). */
  readonly detectedLanguage?: string;
  /** Wall time spent in the engine, for metering. */
  readonly engineMs: number;
}

export interface TranslationEngine {
  /** `local` or `google`. */
  readonly name: string;
  /** What translates: `apertium 3.8` or `cloud-translation-v3 (nmt)`. */
  readonly model: string;
  /** Most texts per `translate` call. */
  readonly maxBatchItems: number;
  /** Most characters (code points) per `translate` call. */
  readonly maxBatchChars: number;
  /**
   * Whether the engine translates `from` → `to`: `true`/`false` when it knows without a request
   * (local: the installed modes), `undefined` when only a request can tell (google).
   */
  supports(pair: LanguagePair): Promise<boolean | undefined>;
  /** Pairs the engine knows it translates (local: installed modes; google: undefined). */
  pairs(): Promise<readonly LanguagePair[] | undefined>;
  translate(texts: readonly string[], options: TranslateOptions): Promise<TranslateResult>;
  /** Releases clients the engine opened. */
  close(): Promise<void>;
}

/** The primary language subtag, lowercased (`es-419` → `es`, `en_US` → `en`); undefined when not a tag. */
export function primarySubtag(tag: string): string | undefined {
  const m = /^([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]{1,8})*$/.exec(tag.trim());
  return m?.[1]?.toLowerCase();
}
