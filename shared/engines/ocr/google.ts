/**
 * The `google` OCR engine: Document AI online processing (`ProcessDocument`, v1) with an OCR
 * processor. The file goes inline in the request; nothing is staged in Cloud Storage.
 *
 * Choices, and why:
 * - PDFs are read in-process with pdf-lib (pure JavaScript), so the engine needs no binary (the
 *   Cloud Functions runtime is not known to have qpdf or poppler). pdf-lib counts the pages and
 *   refuses encrypted and unreadable PDFs before anything is billed. It finds objects by scanning
 *   the file rather than trusting the cross-reference table, so a damaged table does not matter;
 *   an object it cannot parse makes the whole file INPUT_CORRUPT, where qpdf might have repaired
 *   it. PDFs within both limits are then sent as they are, byte for byte.
 * - PDFs over `maxPagesPerRequest` pages (or over `maxRequestBytes`) are split locally into chunks,
 *   one request each, rather than sending the whole file with
 *   `processOptions.individualPageSelector`. Each request then carries only its own pages' bytes
 *   (a 100-page scan is uploaded once, not ⌈100/15⌉ times), a file over the 20 MB request limit
 *   still goes through in smaller chunks, and each request's document is within the page limit
 *   whether the service counts pages before or after page selection (not documented). The file is
 *   parsed once and every chunk copies its pages from that one parse. The copy stops at page
 *   boundaries (see {@link copyPageRange}): pdf-lib's own `copyPages` follows a link to another
 *   page into that page's content, so a document whose pages link to each other would put the
 *   whole file into every chunk.
 * - A field mask limits the response to the text, page numbers, page layouts and detected
 *   languages: by default every page comes back with its rendered image and every token's
 *   geometry, megabytes per chunk that this engine would only discard.
 * - The client library's own retry (RESOURCE_EXHAUSTED, UNAVAILABLE and DEADLINE_EXCEEDED for up to
 *   10 minutes, with sleeps it cannot interrupt) is switched off. RESOURCE_EXHAUSTED and UNAVAILABLE
 *   (the request was not processed) are retried here a few times with short, abortable backoff, so
 *   one blip does not redo a long document's finished chunks; everything else goes to the
 *   pipeline's redelivery. DEADLINE_EXCEEDED is not retried here: the service may have processed
 *   (and billed) the pages already.
 * - Aborting cancels the in-flight RPC with a gRPC interceptor: the generated client wraps gax's
 *   cancellable promise in a plain one, so its `cancel()` is out of reach.
 */
import { readFile, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

import { DocumentProcessorServiceClient } from '@google-cloud/documentai';
import type { protos } from '@google-cloud/documentai';
// The same @grpc/grpc-js instance the client library uses: channel credentials are checked with
// `instanceof`, so credentials from another copy would be rejected.
import { grpc } from 'google-gax';
import { raceAbort } from '../abort.js';
import { abortInterceptor } from '../grpc-abort.js';
import type { CallOptions, ClientOptions } from 'google-gax';
import { PDFArray, PDFCatalog, PDFDict, PDFDocument, PDFName, PDFNull, PDFPage, PDFPageLeaf, PDFPageTree, PDFRef, PDFStream, ParseSpeeds } from 'pdf-lib';
import type { PDFObject } from 'pdf-lib';

import { DOCUMENTAI_PROCESSOR_NAME } from '../../config/index.js';
import { PermanentError, ScriptoriumError, TransientError } from '../../errors/index.js';
import { detectLanguage } from '../language.js';
import { OCR_ERROR_CODES, isOcrContentType } from './types.js';
import { abortError, CallerError, checkAborted, checkpoint, donePagesIn, report } from './common.js';
import { engineThrottle, type Throttle } from '../throttle.js';
import type { DonePage, OcrEngine, OcrInput, OcrOptions, OcrPage, OcrResult } from './types.js';

type IDocument = protos.google.cloud.documentai.v1.IDocument;
type IPage = protos.google.cloud.documentai.v1.Document.IPage;
type IProcessRequest = protos.google.cloud.documentai.v1.IProcessRequest;
type IProcessOptions = protos.google.cloud.documentai.v1.IProcessOptions;

/**
 * Error codes this engine uses beyond {@link OCR_ERROR_CODES}: the processor name, permissions or
 * API enablement are wrong (no retry will help), or one page alone is over the request size limit.
 */
export const GOOGLE_OCR_ERROR_CODES = {
  misconfigured: OCR_ERROR_CODES.engineMisconfigured,
  tooLarge: OCR_ERROR_CODES.inputTooLarge,
} as const;

/** Settings of {@link createGoogleOcrEngine}. */
export interface GoogleOcrEngineOptions {
  /**
   * Processor resource name, `projects/P/locations/L/processors/ID` (or a processor version under
   * it). Use an OCR processor ("Enterprise Document OCR").
   */
  readonly processor: string;
  /**
   * Endpoint, `host` or `host:port` (default port 443). Default: the processor's regional endpoint,
   * `{location}-documentai.googleapis.com`. A loopback host is spoken to in plaintext without
   * credentials (a local test server). Ignored when `client` is given.
   */
  readonly apiEndpoint?: string;
  /** A ready client (shared, or pointed somewhere special). The engine does not close it. */
  readonly client?: DocumentProcessorServiceClient;
  /** Pages per request (default 15, the OCR processor's online limit). */
  readonly maxPagesPerRequest?: number;
  /** Bytes per request (default 20 MiB, the online limit the service has enforced). */
  readonly maxRequestBytes?: number;
  /** Inputs with more pages fail with TOO_MANY_PAGES before any request (default 500). */
  readonly maxPages?: number;
  /** Deadline of one request (default 120 000 ms). */
  readonly requestTimeoutMs?: number;
  /** Extra attempts for a request refused with RESOURCE_EXHAUSTED or UNAVAILABLE (default 2). */
  readonly retries?: number;
  /** First backoff before such a retry; doubled each time, with jitter (default 1000 ms). */
  readonly retryDelayMs?: number;
  /** Let the service use a PDF's text layer where it has one (`enableNativePdfParsing`, default true). */
  readonly nativePdfParsing?: boolean;
  /** The limiter every request goes through (default the process's `documentai` one: shared/engines/throttle.ts). */
  readonly throttle?: Throttle;
}

/** The `google` engine; `close()` releases the gRPC channel of a client the engine created. */
export interface GoogleOcrEngine extends OcrEngine {
  close(): Promise<void>;
}

const DEFAULTS = {
  maxPagesPerRequest: 15,
  maxRequestBytes: 20 * 1024 * 1024,
  maxPages: 500,
  requestTimeoutMs: 120_000,
  retries: 2,
  retryDelayMs: 1000,
} as const;

/** Response fields the engine reads (camelCase, as Google's own samples write field masks). */
const FIELD_MASK = ['text', 'pages.pageNumber', 'pages.layout', 'pages.detectedLanguages'];

/** gRPC status codes (google.rpc.Code). */
const CODE = {
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  UNIMPLEMENTED: 12,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;
const CODE_NAMES: Readonly<Record<number, string>> = Object.fromEntries(Object.entries(grpc.status).filter(([k]) => Number.isNaN(Number(k))).map(([k, v]) => [v, k]));
/** Refusals that say the request was not processed, so sending it again is free. */
const RETRY_HERE = new Set<number>([CODE.RESOURCE_EXHAUSTED, CODE.UNAVAILABLE]);

const { encrypted, corrupt, unsupported, tooManyPages, engineFailed, engineUnavailable } = OCR_ERROR_CODES;
const { misconfigured, tooLarge } = GOOGLE_OCR_ERROR_CODES;

/**
 * Creates the `google` OCR engine. Every page comes back with `method: 'ocr'`, the rotation the
 * service detected (from the page layout's orientation) and the page's layout confidence.
 * Progress is reported after each request (a chunk of pages). Failures: PermanentError
 * PDF_ENCRYPTED / INPUT_CORRUPT / UNSUPPORTED_CONTENT_TYPE / TOO_MANY_PAGES / INPUT_TOO_LARGE /
 * ENGINE_MISCONFIGURED (unknown processor, no permission); TransientError ENGINE_UNAVAILABLE
 * (throttled, unreachable, deadline) and ENGINE_FAILED (service errors, `signal` aborted).
 * Throws a plain Error at once when `processor` is not a processor resource name.
 */
export function createGoogleOcrEngine(options: GoogleOcrEngineOptions): GoogleOcrEngine {
  if (!DOCUMENTAI_PROCESSOR_NAME.test(options.processor)) {
    throw new Error(`Document AI processor must be projects/{project}/locations/{location}/processors/{id}, got ${JSON.stringify(options.processor)}`);
  }
  const settings: Settings = {
    processor: options.processor,
    maxPagesPerRequest: positive(options.maxPagesPerRequest, DEFAULTS.maxPagesPerRequest),
    maxRequestBytes: positive(options.maxRequestBytes, DEFAULTS.maxRequestBytes),
    maxPages: positive(options.maxPages, DEFAULTS.maxPages),
    requestTimeoutMs: positive(options.requestTimeoutMs, DEFAULTS.requestTimeoutMs),
    retries: Math.max(0, Math.floor(options.retries ?? DEFAULTS.retries)),
    retryDelayMs: Math.max(0, options.retryDelayMs ?? DEFAULTS.retryDelayMs),
    nativePdfParsing: options.nativePdfParsing ?? true,
    throttle: options.throttle,
  };
  // Built on first use: constructing a client is cheap, but a process whose engine never runs
  // (another stage's function) should not even resolve credentials.
  let client = options.client;
  let owned: DocumentProcessorServiceClient | undefined;
  const getClient = (): DocumentProcessorServiceClient => {
    if (!client) {
      owned = new DocumentProcessorServiceClient(clientOptions(settings.processor, options.apiEndpoint));
      client = owned;
    }
    return client;
  };

  return {
    name: 'google',
    async extract(input: OcrInput, callOptions: OcrOptions = {}): Promise<OcrResult> {
      const started = performance.now();
      const { signal } = callOptions;
      try {
        checkAborted(signal);
        if (!isOcrContentType(input.contentType)) {
          throw new PermanentError(unsupported, `content type ${String(input.contentType)} is not supported by OCR`);
        }
        const size = await fileSize(input.path);
        const job: Job = {
          settings,
          client: getClient(),
          path: input.path,
          contentType: input.contentType,
          signal,
          onProgress: callOptions.onProgress,
          onPages: callOptions.onPages,
          donePages: callOptions.donePages,
          languageHints: languageHints(input.languages),
        };
        const { pages, votes } = input.contentType === 'application/pdf' ? await extractPdf(job, size) : await extractImage(job, size);
        const text = pages.map((p) => p.text).join('\n\n');
        return {
          engine: 'google',
          pageCount: pages.length,
          pages,
          language: documentLanguage(votes) ?? detectLanguage(text),
          engineMs: Math.round(performance.now() - started),
        };
      } catch (err) {
        throw toEngineError(err, signal, settings.processor);
      }
    },
    async close(): Promise<void> {
      if (owned) {
        const closing = owned;
        owned = undefined;
        client = options.client;
        await closing.close();
      }
    },
  };
}

interface Settings {
  readonly processor: string;
  readonly maxPagesPerRequest: number;
  readonly maxRequestBytes: number;
  readonly maxPages: number;
  readonly requestTimeoutMs: number;
  readonly retries: number;
  readonly retryDelayMs: number;
  readonly nativePdfParsing: boolean;
  readonly throttle: Throttle | undefined;
}

/** One extract() call. */
interface Job {
  readonly settings: Settings;
  readonly client: DocumentProcessorServiceClient;
  readonly path: string;
  readonly contentType: string;
  readonly signal: AbortSignal | undefined;
  readonly onProgress: OcrOptions['onProgress'];
  readonly onPages: OcrOptions['onPages'];
  readonly donePages: OcrOptions['donePages'];
  readonly languageHints: readonly string[];
}

/** A weighted vote for a page's language (BCP-47 primary subtag). */
interface LanguageVote {
  readonly code: string;
  readonly weight: number;
  /** The page (in the whole document) the vote comes from, so checkpoints keep each page's votes. */
  readonly page: number;
}

interface Extracted {
  readonly pages: OcrPage[];
  readonly votes: LanguageVote[];
}

// ---------------------------------------------------------------------------------------------
// Client

function clientOptions(processor: string, apiEndpoint: string | undefined): ClientOptions {
  const location = /\/locations\/([^/]+)\//.exec(processor)?.[1] ?? 'us';
  const endpoint = apiEndpoint ?? `${location}-documentai.googleapis.com`;
  const match = /^(\[[^\]]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(endpoint);
  if (!match?.[1]) throw new Error(`Document AI endpoint must be host or host:port, got ${JSON.stringify(endpoint)}`);
  const host = match[1];
  const port = match[2] === undefined ? 443 : Number(match[2]);
  if (!isLoopback(host)) return { apiEndpoint: host, port };
  // A local test server: plaintext, no credentials. Naming the universe domain keeps the auth
  // library from looking for Application Default Credentials (and a metadata server) offline.
  return { apiEndpoint: host, port, sslCreds: grpc.credentials.createInsecure(), universeDomain: 'googleapis.com' };
}

function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  return bare === 'localhost' || bare === '::1' || /^127(?:\.\d{1,3}){3}$/.test(bare);
}

// ---------------------------------------------------------------------------------------------
// Inputs

async function fileSize(path: string): Promise<number> {
  let info;
  try {
    info = await stat(path);
  } catch (err) {
    // The handler put the file there; its absence is our problem, not the document's.
    throw new TransientError(engineFailed, `input file cannot be read: ${errorText(err)}`, err);
  }
  if (!info.isFile()) throw new PermanentError(corrupt, `input ${path} is not a regular file`);
  if (info.size === 0) throw new PermanentError(corrupt, 'input file is empty');
  return info.size;
}

async function readInput(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new TransientError(engineFailed, `input file cannot be read: ${errorText(err)}`, err);
  }
}

/** Images go as they are, in one request; the response says how many pages (a TIFF may have several). */
async function extractImage(job: Job, size: number): Promise<Extracted> {
  if (size > job.settings.maxRequestBytes) {
    throw new PermanentError(tooLarge, `the image is ${mb(size)}; Document AI online processing takes at most ${mb(job.settings.maxRequestBytes)}`);
  }
  // One request for the whole image: its pages were checkpointed together, so any done page means all are.
  const resumed = job.donePages && job.donePages.size > 0 ? donePagesIn(job.donePages, 1, job.donePages.size) : undefined;
  if (resumed) {
    await report(job, { pagesDone: resumed.length, pageCount: resumed.length });
    return fromDone(resumed);
  }
  const document = await processDocument(job, await readInput(job.path));
  const mapped = mapDocument(document, 0, undefined);
  if (mapped.pages.length > job.settings.maxPages) {
    throw new PermanentError(tooManyPages, `the image has ${mapped.pages.length} pages; the limit is ${job.settings.maxPages}`);
  }
  await checkpoint(job, toDone(mapped), mapped.pages.length);
  await report(job, { pagesDone: mapped.pages.length, pageCount: mapped.pages.length });
  return mapped;
}

/** A run of pages of the source PDF, 1-based and inclusive. */
interface PageRange {
  readonly first: number;
  readonly last: number;
}

async function extractPdf(job: Job, size: number): Promise<Extracted> {
  const { settings } = job;
  const bytes = await readInput(job.path);
  const pdf = await loadPdf(job, bytes);
  const pageCount = pdf.pages.length;
  if (pageCount > settings.maxPages) {
    throw new PermanentError(tooManyPages, `the PDF has ${pageCount} pages; the limit is ${settings.maxPages}`);
  }
  const pages: OcrPage[] = [];
  const votes: LanguageVote[] = [];
  if (pageCount <= settings.maxPagesPerRequest && size <= settings.maxRequestBytes) {
    const resumed = donePagesIn(job.donePages, 1, pageCount);
    if (resumed) {
      await report(job, { pagesDone: pageCount, pageCount });
      return fromDone(resumed);
    }
    const mapped = mapDocument(await processDocument(job, bytes), 0, pageCount);
    await checkpoint(job, toDone(mapped), pageCount);
    await report(job, { pagesDone: pageCount, pageCount });
    return mapped;
  }
  const queue: PageRange[] = [];
  for (let first = 1; first <= pageCount; first += settings.maxPagesPerRequest) {
    queue.push({ first, last: Math.min(pageCount, first + settings.maxPagesPerRequest - 1) });
  }
  for (let range = queue.shift(); range !== undefined; range = queue.shift()) {
    checkAborted(job.signal);
    // Pages an earlier attempt recognised are not sent again. The ranges are the ones an
    // uninterrupted run sends (the same split, halved the same way), so the text is the same.
    const resumed = donePagesIn(job.donePages, range.first, range.last);
    if (resumed) {
      const r = fromDone(resumed);
      pages.push(...r.pages);
      votes.push(...r.votes);
      await report(job, { pagesDone: range.last, pageCount });
      continue;
    }
    const content = await pdfChunk(job, pdf, range);
    if (content.length > settings.maxRequestBytes) {
      const count = range.last - range.first + 1;
      if (count === 1) {
        throw new PermanentError(tooLarge, `page ${range.first} alone is ${mb(content.length)}; Document AI online processing takes at most ${mb(settings.maxRequestBytes)}`);
      }
      // Heavy pages (scans): halve the range until each request fits.
      const middle = range.first + Math.floor(count / 2) - 1;
      queue.unshift({ first: range.first, last: middle }, { first: middle + 1, last: range.last });
      continue;
    }
    checkAborted(job.signal);
    const mapped = mapDocument(await processDocument(job, content), range.first - 1, range.last - range.first + 1);
    pages.push(...mapped.pages);
    votes.push(...mapped.votes);
    await checkpoint(job, toDone(mapped), pageCount);
    await report(job, { pagesDone: range.last, pageCount });
  }
  return { pages, votes };
}

/** A PDF as pdf-lib parsed it, with its pages in order. */
interface LoadedPdf {
  readonly doc: PDFDocument;
  readonly pages: readonly PDFPage[];
}

/**
 * Parses the PDF and lists its pages, which also tells encrypted and unreadable PDFs apart.
 * pdf-lib works in slices of objects between event-loop turns, so an abort is noticed while it
 * parses (the parse itself runs on in the background until its next slice; its result is dropped).
 */
async function loadPdf(job: Job, bytes: Buffer): Promise<LoadedPdf> {
  let doc: PDFDocument;
  try {
    // `ignoreEncryption`: without it pdf-lib throws an EncryptedPDFError that is not `instanceof`
    // EncryptedPDFError (its ES5 build loses the subclass); `isEncrypted` below is reliable.
    doc = await abortable(PDFDocument.load(bytes, { ignoreEncryption: true, updateMetadata: false, parseSpeed: ParseSpeeds.Fast }), job.signal);
  } catch (err) {
    if (err instanceof ScriptoriumError) throw err;
    // Encrypted objects can be what broke the parse: say what the user can fix.
    if (bytes.includes('/Encrypt')) throw encryptedError(err);
    throw new PermanentError(corrupt, `the PDF cannot be read: ${pdfLibMessage(err)}`, err);
  }
  if (doc.isEncrypted) throw encryptedError();
  let pages: PDFPage[];
  try {
    pages = doc.getPages();
  } catch (err) {
    throw new PermanentError(corrupt, `the PDF's page tree cannot be read: ${pdfLibMessage(err)}`, err);
  }
  if (pages.length === 0) throw new PermanentError(corrupt, 'the PDF has no pages');
  return { doc, pages };
}

/**
 * Any encryption, including PDFs that open without a password but restrict printing or copying
 * (an owner password only): pdf-lib cannot decrypt, so such a file could be neither checked nor
 * split.
 */
function encryptedError(cause?: unknown): PermanentError {
  return new PermanentError(encrypted, 'the PDF is encrypted (password-protected, or restricted with an owner password); upload an unprotected copy', cause);
}

/** pdf-lib's messages carry a file position: "Failed to parse PDF document (line:… offset=…): why". */
function pdfLibMessage(err: unknown): string {
  return errorText(err).split('\n')[0]?.slice(0, 300) ?? '';
}

/** Pages `range` of the PDF as a new PDF: the pages and everything they use, nothing else. */
async function pdfChunk(job: Job, pdf: LoadedPdf, range: PageRange): Promise<Buffer> {
  let saved: Uint8Array;
  try {
    const out = await PDFDocument.create({ updateMetadata: false });
    copyPageRange(pdf, out, range);
    // pdf-lib's default object streams compress the small objects too; streams are copied as they are.
    saved = await abortable(out.save({ addDefaultPage: false, updateFieldAppearances: false }), job.signal);
  } catch (err) {
    if (err instanceof ScriptoriumError) throw err;
    throw new PermanentError(corrupt, `pages ${range.first}-${range.last} of the PDF cannot be extracted: ${pdfLibMessage(err)}`, err);
  }
  return Buffer.from(saved.buffer, saved.byteOffset, saved.byteLength);
}

/**
 * Copies pages `range` of `pdf` into `out` with everything they use (content streams, fonts,
 * images, annotations), like pdf-lib's `copyPages`, but stopping at page boundaries: a reference
 * to a page of this chunk (a link's destination, an annotation's /P) points at that page's copy,
 * and a reference to any other page, a page-tree node or the catalog becomes null (qpdf's
 * `--pages` nulls them all, even those within the chunk). `copyPages` would follow such a
 * reference into the other page, its content, and its links to further pages.
 * Inherited attributes (resources, media box, crop box, rotation) are written into each page.
 */
function copyPageRange(pdf: LoadedPdf, out: PDFDocument, range: PageRange): void {
  const source = pdf.doc.context;
  const target = out.context;
  /** Source object (or reference) → its copy. */
  const copies = new Map<PDFObject, PDFObject>();
  const chunk = pdf.pages.slice(range.first - 1, range.last);
  const refs = chunk.map((page) => {
    const ref = target.nextRef();
    copies.set(page.ref, ref);
    return ref;
  });

  const copyRef = (ref: PDFRef): PDFObject => {
    const known = copies.get(ref);
    if (known) return known;
    const object = source.lookup(ref);
    if (object === undefined || object instanceof PDFPageLeaf || object instanceof PDFPageTree || object instanceof PDFCatalog) {
      copies.set(ref, PDFNull);
      return PDFNull;
    }
    const copied = target.nextRef();
    copies.set(ref, copied);
    target.assign(copied, copy(object));
    return copied;
  };
  const copy = (object: PDFObject): PDFObject => {
    if (object instanceof PDFRef) return copyRef(object);
    const known = copies.get(object);
    if (known) return known;
    if (object instanceof PDFDict) {
      const clone = object.clone(target);
      copies.set(object, clone);
      for (const [key, value] of object.entries()) clone.set(key, copy(value));
      return clone;
    }
    if (object instanceof PDFArray) {
      const clone = object.clone(target);
      copies.set(object, clone);
      for (let i = 0; i < object.size(); i++) clone.set(i, copy(object.get(i)));
      return clone;
    }
    if (object instanceof PDFStream) {
      const clone = object.clone(target);
      copies.set(object, clone);
      for (const [key, value] of object.dict.entries()) clone.dict.set(key, copy(value));
      return clone;
    }
    return object.clone();
  };

  chunk.forEach((page, i) => {
    const leaf = page.node.clone();
    for (const key of PDFPageLeaf.InheritableEntries) {
      const name = PDFName.of(key);
      const value = leaf.getInheritableAttribute(name);
      if (!leaf.get(name) && value) leaf.set(name, value);
    }
    leaf.delete(PDFName.of('Parent'));
    const node = copy(leaf);
    const ref = refs[i];
    if (!(node instanceof PDFPageLeaf) || !ref) throw new Error(`page ${range.first + i} is not a page object`);
    target.assign(ref, node);
    out.addPage(PDFPage.of(node, ref, out));
  });
}

// ---------------------------------------------------------------------------------------------
// The request

async function processDocument(job: Job, content: Buffer): Promise<IDocument | null | undefined> {
  const { settings, signal } = job;
  const processOptions: IProcessOptions = {};
  const pdf = job.contentType === 'application/pdf';
  if (job.languageHints.length > 0 || (pdf && settings.nativePdfParsing)) {
    processOptions.ocrConfig = {
      ...(job.languageHints.length > 0 ? { hints: { languageHints: [...job.languageHints] } } : {}),
      ...(pdf && settings.nativePdfParsing ? { enableNativePdfParsing: true } : {}),
    };
  }
  const request: IProcessRequest = {
    name: settings.processor,
    rawDocument: { content, mimeType: job.contentType },
    // Human review, if anyone ever enables it on the processor, must not hold up a pipeline stage.
    skipHumanReview: true,
    fieldMask: { paths: FIELD_MASK },
    ...(Object.keys(processOptions).length > 0 ? { processOptions } : {}),
  };
  const throttle = settings.throttle ?? engineThrottle('documentai');
  for (let attempt = 0; ; attempt++) {
    checkAborted(signal);
    try {
      // Quota refusals are the limiter's (backoff with jitter, then ENGINE_THROTTLED); UNAVAILABLE is retried here.
      return await throttle.run(() => processOnce(job, request), signal);
    } catch (err) {
      const code = grpcCode(err);
      if (attempt >= settings.retries || code === undefined || !RETRY_HERE.has(code)) throw err;
      const backoff = settings.retryDelayMs * 2 ** attempt * (0.5 + Math.random() / 2);
      await sleep(backoff, undefined, { signal }).catch((sleepErr: unknown) => {
        throw signal?.aborted ? abortError(signal, sleepErr) : sleepErr;
      });
    }
  }
}

async function processOnce(job: Job, request: IProcessRequest): Promise<IDocument | null | undefined> {
  const { signal } = job;
  const callOptions: CallOptions = {
    timeout: job.settings.requestTimeoutMs,
    // Off: see the module comment. `null` makes gax send the call once, with the timeout above.
    retry: null,
    // gax hands `otherArgs.options` to grpc-js as call options.
    ...(signal ? { otherArgs: { options: { interceptors: [abortInterceptor(signal)] } } } : {}),
  };
  const [response] = await abortable(job.client.processDocument(request, callOptions), signal);
  return response.document;
}



// ---------------------------------------------------------------------------------------------
// Checkpoints: a page with its language votes (the document's language is voted over every page).

/** A response's pages as checkpoints: each page with the votes its text carried. */
function toDone(mapped: Extracted): DonePage[] {
  const byPage = new Map<number, { code: string; weight: number }[]>();
  for (const v of mapped.votes) {
    const list = byPage.get(v.page) ?? [];
    list.push({ code: v.code, weight: v.weight });
    byPage.set(v.page, list);
  }
  return mapped.pages.map((page) => ({ page, ...(byPage.has(page.pageNumber) ? { languageVotes: byPage.get(page.pageNumber) } : {}) }));
}

function fromDone(done: readonly DonePage[]): Extracted {
  return {
    pages: done.map((d) => d.page),
    votes: done.flatMap((d) => (d.languageVotes ?? []).map((v) => ({ code: v.code, weight: v.weight, page: d.page.pageNumber }))),
  };
}

// ---------------------------------------------------------------------------------------------
// The response

/**
 * Pages of one response, numbered from `offset + 1`. With `expected` set, exactly pages
 * 1..expected of the chunk are returned: a page the service left out comes back empty rather than
 * shifting every later page number.
 */
function mapDocument(document: IDocument | null | undefined, offset: number, expected: number | undefined): Extracted {
  const text = document?.text ?? '';
  const slice = codePointSlicer(text);
  const byNumber = new Map<number, OcrPage>();
  const votes: LanguageVote[] = [];
  (document?.pages ?? []).forEach((page, index) => {
    const number = toInt(page.pageNumber) || index + 1;
    const pageText = tidy(pageSegments(page).map(([start, end]) => slice(start, end)).join(''));
    const confidence = page.layout?.confidence;
    byNumber.set(number, {
      pageNumber: offset + number,
      text: pageText,
      method: 'ocr',
      rotation: rotationOf(page.layout?.orientation),
      // 0 is what an absent value decodes to (proto3 defaults), not a measurement.
      ...(typeof confidence === 'number' && confidence > 0 ? { confidence: Math.round(confidence * 100) / 100 } : {}),
    });
    const letters = countNonSpace(pageText);
    for (const language of page.detectedLanguages ?? []) {
      const code = language.languageCode?.split(/[-_]/)[0]?.toLowerCase();
      if (code) votes.push({ code, weight: letters * (language.confidence || 1), page: offset + number });
    }
  });
  // An image always has a page, even one the service found nothing on.
  const count = expected ?? Math.max(1, ...byNumber.keys());
  const pages: OcrPage[] = [];
  for (let n = 1; n <= count; n++) {
    pages.push(byNumber.get(n) ?? { pageNumber: offset + n, text: '', method: 'ocr', rotation: 0 });
  }
  return { pages, votes };
}

/** The page's text segments as [start, end) code-point offsets into Document.text. */
function pageSegments(page: IPage): [number, number][] {
  return (page.layout?.textAnchor?.textSegments ?? []).map((s) => [toInt(s.startIndex), toInt(s.endIndex)]);
}

/**
 * Slices `text` by code-point offsets, which is how Document AI counts ("UTF-8 char index"; the
 * Python samples index `str`). JavaScript strings count UTF-16 units, so the two differ after any
 * character outside the Basic Multilingual Plane (an emoji, a math letter, rarer CJK).
 */
function codePointSlicer(text: string): (start: number, end: number) => string {
  if (!/[\uD800-\uDFFF]/.test(text)) return (start, end) => text.slice(start, end);
  const units: number[] = [0];
  let at = 0;
  for (const ch of text) {
    at += ch.length;
    units.push(at);
  }
  const unit = (cp: number): number => units[Math.min(Math.max(cp, 0), units.length - 1)] ?? text.length;
  return (start, end) => text.slice(unit(start), unit(end));
}

/** int64 fields decode as decimal strings (gax loads protos with `longs: String`); accept numbers and Longs too. */
function toInt(value: number | string | { toString(): string } | null | undefined): number {
  if (value === null || value === undefined) return 0;
  const n = typeof value === 'number' ? value : Number(value.toString());
  return Number.isFinite(n) ? Math.trunc(n) : 0;
}

/** Clockwise rotation to read the page upright, from the layout's detected reading orientation. */
function rotationOf(orientation: number | string | null | undefined): number {
  switch (orientation) {
    case 'PAGE_RIGHT':
    case 2:
      return 90;
    case 'PAGE_DOWN':
    case 3:
      return 180;
    case 'PAGE_LEFT':
    case 4:
      return 270;
    default:
      return 0;
  }
}

/** Same clean-up as the local engine, so the two engines' texts compare. */
function tidy(text: string): string {
  return text
    .replace(/\f/g, '\n')
    .replace(/[ \t]+$/gm, '')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

// ---------------------------------------------------------------------------------------------
// Languages: the contract stores ISO 639-3 (`eng`), Document AI speaks BCP-47 (`en`, `sr-Latn`).

/** ISO 639-3 ↔ BCP-47 primary subtag, for the languages OCR users commonly have. */
const ISO3_BCP47: readonly (readonly [string, string])[] = [
  ['afr', 'af'], ['ara', 'ar'], ['aze', 'az'], ['bel', 'be'], ['ben', 'bn'], ['bul', 'bg'], ['cat', 'ca'],
  ['ces', 'cs'], ['cmn', 'zh'], ['cym', 'cy'], ['dan', 'da'], ['deu', 'de'], ['ell', 'el'], ['eng', 'en'],
  ['est', 'et'], ['eus', 'eu'], ['fas', 'fa'], ['fin', 'fi'], ['fra', 'fr'], ['gle', 'ga'], ['glg', 'gl'],
  ['guj', 'gu'], ['hau', 'ha'], ['heb', 'he'], ['hin', 'hi'], ['hrv', 'hr'], ['hun', 'hu'], ['hye', 'hy'],
  ['ind', 'id'], ['isl', 'is'], ['ita', 'it'], ['jpn', 'ja'], ['kan', 'kn'], ['kat', 'ka'], ['kaz', 'kk'],
  ['kor', 'ko'], ['lat', 'la'], ['lav', 'lv'], ['lit', 'lt'], ['mal', 'ml'], ['mar', 'mr'], ['mkd', 'mk'],
  ['nld', 'nl'], ['nob', 'nb'], ['pan', 'pa'], ['pol', 'pl'], ['por', 'pt'], ['ron', 'ro'], ['rus', 'ru'],
  ['slk', 'sk'], ['slv', 'sl'], ['spa', 'es'], ['srp', 'sr'], ['swa', 'sw'], ['swe', 'sv'], ['tam', 'ta'],
  ['tel', 'te'], ['tgl', 'tl'], ['tha', 'th'], ['tur', 'tr'], ['ukr', 'uk'], ['urd', 'ur'], ['uzb', 'uz'],
  ['vie', 'vi'], ['yor', 'yo'], ['zsm', 'ms'],
];
const TO_ISO3 = new Map<string, string>([...ISO3_BCP47.map(([iso3, bcp]) => [bcp, iso3] as const), ['no', 'nob'], ['fil', 'tgl'], ['iw', 'heb'], ['in', 'ind']]);
/** Tesseract names some languages by other ISO 639-2 codes (`chi_sim`, `fil`, `msa`, `nor`). */
const TO_BCP47 = new Map<string, string>([...ISO3_BCP47, ['chi', 'zh'], ['fil', 'fil'], ['msa', 'ms'], ['nor', 'no'], ['zho', 'zh']]);

/** BCP-47 hints from the input's tesseract-style codes (`deu`, `chi_sim`, `deu_frak`); unknown ones are dropped. */
function languageHints(languages: readonly string[] | undefined): string[] {
  const hints = new Set<string>();
  for (const code of languages ?? []) {
    const base = code.toLowerCase().split('_')[0] ?? '';
    const bcp = TO_BCP47.get(base);
    if (bcp) hints.add(code.toLowerCase() === 'chi_tra' ? 'zh-Hant' : code.toLowerCase() === 'chi_sim' ? 'zh-Hans' : bcp);
  }
  return [...hints];
}

/** The ISO 639-3 code of the language with the most text, or undefined when the service named none we know. */
function documentLanguage(votes: readonly LanguageVote[]): string | undefined {
  const totals = new Map<string, number>();
  for (const v of votes) totals.set(v.code, (totals.get(v.code) ?? 0) + v.weight);
  let best: string | undefined;
  let bestWeight = 0;
  for (const [code, weight] of totals) {
    if (weight > bestWeight && TO_ISO3.has(code)) [best, bestWeight] = [code, weight];
  }
  return best === undefined ? undefined : TO_ISO3.get(best);
}

// ---------------------------------------------------------------------------------------------
// Errors and small helpers

function grpcCode(err: unknown): number | undefined {
  const code = typeof err === 'object' && err !== null && 'code' in err ? err.code : undefined;
  return typeof code === 'number' && code >= 0 && code < 100 ? code : undefined;
}

/** The server's own words: gax puts them in `details`, and prefixes `message` with the code. */
function grpcDetails(err: unknown): string {
  const details = typeof err === 'object' && err !== null && 'details' in err ? err.details : undefined;
  return typeof details === 'string' && details.length > 0 ? details : errorText(err);
}

/** Maps gRPC failures to the contract's errors; ours pass through unchanged. */
function toEngineError(err: unknown, signal: AbortSignal | undefined, processor: string): unknown {
  if (err instanceof ScriptoriumError) return err;
  if (err instanceof CallerError) return err.error;
  const code = grpcCode(err);
  if (code === undefined) return new TransientError(engineFailed, `Document AI OCR failed: ${errorText(err)}`, err);
  const details = grpcDetails(err);
  const what = `Document AI ${CODE_NAMES[code] ?? `code ${code}`}: ${details}`;
  switch (code) {
    case CODE.CANCELLED:
      return signal?.aborted ? abortError(signal, err) : new TransientError(engineFailed, what, err);
    case CODE.INVALID_ARGUMENT:
      // The service's words decide which document problem this is (see the fake server for examples).
      if (/password|encrypt/i.test(details)) return new PermanentError(encrypted, `the PDF is encrypted (${what})`, err);
      if (/pages?\b.*exceed|exceed.*\bpages?\b/i.test(details)) return new PermanentError(tooManyPages, `too many pages for one request (${what})`, err);
      if (/exceed|too large/i.test(details)) return new PermanentError(tooLarge, `the input is too large (${what})`, err);
      if (/unsupported|mime.?type|file format/i.test(details)) return new PermanentError(unsupported, `the input type is not supported (${what})`, err);
      if (/field.?mask|resource name|processor name/i.test(details)) return new PermanentError(misconfigured, `the request was refused; check ${processor} (${what})`, err);
      return new PermanentError(corrupt, `the document cannot be processed (${what})`, err);
    case CODE.NOT_FOUND:
    case CODE.PERMISSION_DENIED:
    case CODE.UNAUTHENTICATED:
    case CODE.FAILED_PRECONDITION:
    case CODE.UNIMPLEMENTED:
      return new PermanentError(misconfigured, `processor ${processor} cannot be used: check its name, that it is enabled, and the runtime service account's roles/documentai.apiUser (${what})`, err);
    case CODE.RESOURCE_EXHAUSTED:
    case CODE.UNAVAILABLE:
    case CODE.DEADLINE_EXCEEDED:
      return new TransientError(engineUnavailable, what, err);
    default:
      return new TransientError(engineFailed, what, err);
  }
}

function positive(value: number | undefined, fallback: number): number {
  return value !== undefined && Number.isFinite(value) && value >= 1 ? Math.floor(value) : fallback;
}

function mb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function countNonSpace(text: string): number {
  return text.replace(/\s+/g, '').length;
}

/** `promise`, or this engine's abort error as soon as `signal` aborts. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  return raceAbort(promise, signal, abortError);
}
