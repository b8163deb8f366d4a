/**
 * The summarization engine contract. Engines are chosen by config (`SCRIPTORIUM_SUMMARY_ENGINE`):
 * `local` (extractive, offline: TextRank over the document's own sentences) or `google` (Gemini on
 * Vertex AI, abstractive). Both take the document's text and report progress as a fraction 0–1;
 * both throw PermanentError for inputs or configurations that can never succeed and TransientError
 * for failures worth retrying (throttling, outages, deadlines, the caller's abort).
 */

export interface SummaryInput {
  /** The document's text (as extracted: line breaks, form feeds between pages). */
  readonly text: string;
  /** Language of the text, ISO 639-3 as the contracts store it (`eng`, `ara`), or BCP-47; `und`/null: unknown. */
  readonly language?: string | null;
  /** At most this many sentences (default {@link SUMMARY_DEFAULTS}.maxSentences). */
  readonly maxSentences?: number;
  /** At most this many characters (default {@link SUMMARY_DEFAULTS}.maxChars). */
  readonly maxChars?: number;
  /**
   * Instructions for an abstractive engine (from project settings or an agent). The extractive
   * engine ignores it. Default: a faithful summary in the document's language.
   */
  readonly prompt?: string;
}

export interface SummaryOptions {
  readonly signal?: AbortSignal;
  /** Called with a fraction 0–1 (non-decreasing, ending with 1); awaited, so a slow writer slows the engine. */
  readonly onProgress?: (fraction: number) => void | Promise<void>;
}

/** A sentence of the document, verbatim: `text === input.text.slice(start, end)` (UTF-16 offsets). */
export interface SummarySentence {
  readonly text: string;
  readonly start: number;
  readonly end: number;
}

export interface SummaryUsage {
  /** Model requests made (map-reduce: one per part plus the combining ones). */
  readonly requests: number;
  readonly inputTokens: number;
  readonly outputTokens: number;
}

export interface SummaryResult {
  readonly summary: string;
  /** Extractive engines: the chosen sentences in document order, with offsets into the input. */
  readonly sentences?: SummarySentence[];
  readonly engine: string;
  readonly model: string;
  /** Abstractive engines: what the summary cost, for metering. */
  readonly usage?: SummaryUsage;
}

export interface SummaryEngine {
  /** `local` or `google`. */
  readonly name: string;
  /** `textrank-v1`, `gemini-3.5-flash-lite`, ... */
  readonly model: string;
  summarize(input: SummaryInput, options?: SummaryOptions): Promise<SummaryResult>;
}

export const SUMMARY_DEFAULTS = {
  maxSentences: 5,
  maxChars: 1200,
} as const;

/** Stable error codes engines use in PermanentError/TransientError. */
export const SUMMARY_ERROR_CODES = {
  /** Transient: the engine failed in a way worth retrying (server errors, the caller's abort). */
  engineFailed: 'ENGINE_FAILED',
  /** Transient: throttled (429), unavailable (503), unreachable, or past the request deadline. */
  engineUnavailable: 'ENGINE_UNAVAILABLE',
  /** Permanent: project, location, model, permissions or API enablement are wrong; no retry helps. */
  engineMisconfigured: 'ENGINE_MISCONFIGURED',
  /** Permanent: the input is over the model's limit even after splitting. */
  inputTooLarge: 'INPUT_TOO_LARGE',
  /** Permanent: the model's safety filters blocked the prompt or the answer. */
  contentBlocked: 'CONTENT_BLOCKED',
  /** Permanent: the model answered with no text (no candidate, or an empty one). */
  emptyResponse: 'EMPTY_RESPONSE',
} as const;

/** Effective bounds: positive integers, defaults where absent or invalid. */
export function summaryBounds(input: Pick<SummaryInput, 'maxSentences' | 'maxChars'>): { maxSentences: number; maxChars: number } {
  return {
    maxSentences: positiveInt(input.maxSentences, SUMMARY_DEFAULTS.maxSentences),
    maxChars: positiveInt(input.maxChars, SUMMARY_DEFAULTS.maxChars),
  };
}

function positiveInt(value: number | undefined, fallback: number): number {
  return value !== undefined && Number.isFinite(value) && value >= 1 ? Math.floor(value) : fallback;
}
