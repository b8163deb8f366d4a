/**
 * The OCR engine contract. Engines are chosen by config (`SCRIPTORIUM_OCR_ENGINE`): `local`
 * (poppler + tesseract, offline) or `google` (Document AI). Both take a local file and report
 * progress page by page; both throw PermanentError for inputs that can never succeed (encrypted,
 * corrupt, unsupported) and TransientError for failures worth retrying.
 */

/** Content types the OCR stage accepts. Anything else is refused by ingest before it gets here. */
export const OCR_CONTENT_TYPES = ['application/pdf', 'image/png', 'image/jpeg', 'image/tiff', 'image/gif', 'image/bmp', 'image/webp'] as const;
export type OcrContentType = (typeof OCR_CONTENT_TYPES)[number];

export function isOcrContentType(value: string): value is OcrContentType {
  return (OCR_CONTENT_TYPES as readonly string[]).includes(value);
}

export interface OcrInput {
  /** Path of the source file on local disk (the handler downloads the object first). */
  readonly path: string;
  readonly contentType: OcrContentType;
  /** Language hints (tesseract codes, e.g. `eng`, `deu`); the engine's default when absent. */
  readonly languages?: readonly string[];
}

/** How a page's text was obtained (`extract`: read from a text format, no OCR). */
export type PageMethod = 'text-layer' | 'ocr' | 'extract';

export interface OcrPage {
  /** 1-based. */
  readonly pageNumber: number;
  readonly text: string;
  readonly method: PageMethod;
  /** Clockwise rotation (0, 90, 180, 270) the engine applied to read the page upright. */
  readonly rotation: number;
  /** Mean word confidence 0–1 when the engine reports one. */
  readonly confidence?: number;
}

export interface OcrProgress {
  readonly pagesDone: number;
  readonly pageCount: number;
}

/** A recognised page as a checkpoint keeps it: the page, and what the engine needs of it for the whole document (language votes). */
export interface DonePage {
  readonly page: OcrPage;
  /** The engine's language votes for this page (BCP-47 primary subtag, weight), when it has any. */
  readonly languageVotes?: readonly { readonly code: string; readonly weight: number }[];
}

export interface OcrOptions {
  /** Called after each page; awaited, so a slow writer slows the engine rather than piling up. */
  readonly onProgress?: (progress: OcrProgress) => Promise<void> | void;
  readonly signal?: AbortSignal;
  /**
   * Pages an earlier attempt recognised (by page number): the engine does not recognise them again
   * but returns them as they are, so the result is the one an uninterrupted run gives.
   */
  readonly donePages?: ReadonlyMap<number, DonePage>;
  /**
   * Called with the pages of each newly recognised unit (one page, or one request's pages) before
   * its progress; awaited (the caller checkpoints them). A throw stops the work and is rethrown as is.
   */
  readonly onPages?: (pages: readonly DonePage[], pageCount: number) => Promise<void> | void;
}

export interface OcrResult {
  readonly engine: string;
  readonly pageCount: number;
  readonly pages: readonly OcrPage[];
  /** ISO 639-3 code detected from the text (`und` when unknown). */
  readonly language: string;
  /** Wall time spent inside the engine, for metering and benchmarks. */
  readonly engineMs: number;
}

export interface OcrEngine {
  readonly name: string;
  extract(input: OcrInput, options?: OcrOptions): Promise<OcrResult>;
}

/** Stable error codes engines use in PermanentError/TransientError. */
export const OCR_ERROR_CODES = {
  encrypted: 'PDF_ENCRYPTED',
  corrupt: 'INPUT_CORRUPT',
  unsupported: 'UNSUPPORTED_CONTENT_TYPE',
  tooManyPages: 'TOO_MANY_PAGES',
  engineFailed: 'ENGINE_FAILED',
  engineUnavailable: 'ENGINE_UNAVAILABLE',
  /** The engine's configuration (processor, permissions, API enablement) is wrong: no retry helps. */
  engineMisconfigured: 'ENGINE_MISCONFIGURED',
  /** A single page alone is over the engine's request size limit. */
  inputTooLarge: 'INPUT_TOO_LARGE',
} as const;
