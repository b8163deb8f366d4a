/**
 * The text-extraction contract for documents that need no OCR: plain text, Markdown, HTML, DOCX.
 * Like the OCR engines, extraction throws PermanentError for inputs that can never succeed
 * (corrupt, too large, unsupported) and TransientError when reading the local file fails.
 */
/** Families {@link extractText} reads. */
export const EXTRACT_FAMILIES = ['text', 'markdown', 'html', 'docx'] as const;
export type ExtractFamily = (typeof EXTRACT_FAMILIES)[number];

/** Whether `family` (a sniffed ContentFamily, or any string) is one {@link extractText} reads. */
export function isExtractFamily(family: string): family is ExtractFamily {
  return (EXTRACT_FAMILIES as readonly string[]).includes(family);
}

export interface ExtractResult {
  readonly text: string;
  /** These formats have no pages: always 1. */
  readonly pageCount: 1;
  /** ISO 639-3 code detected from the text (`und` when unknown). */
  readonly language: string;
  /** What was repaired or skipped on the way (an encoding guessed, bytes replaced, a DOCX message). */
  readonly warnings: readonly string[];
}

export interface ExtractOptions {
  /**
   * Inputs (the file, and for DOCX the uncompressed parts and the extracted text) over this many
   * bytes fail with INPUT_TOO_LARGE before any parsing. Default {@link DEFAULT_MAX_TEXT_BYTES}.
   */
  readonly maxBytes?: number;
}

/** 50 MiB: far beyond any real text document, well below what a function's memory holds. */
export const DEFAULT_MAX_TEXT_BYTES = 50 * 1024 * 1024;

/** Stable error codes, the same strings the OCR engines use. */
export const EXTRACT_ERROR_CODES = {
  corrupt: 'INPUT_CORRUPT',
  unsupported: 'UNSUPPORTED_CONTENT_TYPE',
  tooLarge: 'INPUT_TOO_LARGE',
  engineFailed: 'ENGINE_FAILED',
} as const;
