/**
 * The offline OCR engine: poppler for PDFs (text layer first, rendering only pages that need OCR)
 * and tesseract for pixels. Everything runs as child processes with per-page timeouts, inside one
 * temp directory that is always removed.
 *
 * Measured choices (2 cores, tesseract 5.3, poppler 22.12):
 * - `tesseract --psm 1` does orientation detection and recognition in one process: ~0.2 s more
 *   than plain recognition, where a separate `--psm 0` pass costs ~0.65 s on a 300-dpi page. The
 *   applied orientation is read back from the hOCR `textangle`, and word confidences from `x_wconf`.
 * - `OMP_THREAD_LIMIT=1`: tesseract's OpenMP threading is 4–6× slower on 2 cores.
 * - Pages are rendered as LZW grey TIFF: ~0.05 s, where PNG encoding costs ~0.5 s per page.
 * - Text layers: plain `pdftotext` (not `-layout`, which interleaves two columns line by line),
 *   with its flows re-sequenced by a recursive XY-cut over `-bbox-layout` geometry, because plain
 *   mode prints a column-continuation block before the left column (multicolumn.pdf). Read 16
 *   pages per poppler run: each run re-parses the file (117 pages: ~1.1 s in chunks, ~2 s singly).
 * - Right-to-left text layers: poppler prints lines through its bidi reordering (RLE/LRE … PDF
 *   marks); the visual line is recovered exactly and reordered per line (see restoreLogicalOrder).
 *   `-raw` (content-stream order: habibi's Latin word came out one letter per line) and `-layout`
 *   (the same marks, columns interleaved) are worse bases; `-bbox` words are in poppler's visual
 *   order (a one-glyph-per-letter Arabic word comes out reversed) and lose its spacing, so they
 *   only serve as evidence of multi-character glyph mappings.
 * - OCR languages, per page: hints win; with other scripts' data installed, `eng+ara` reads every
 *   page (as good as `eng` on Latin scans and `ara` on Arabic, +3–19 % time), or tesseract's OSD
 *   picks the script first (`scriptDetection: 'osd'`, +0.9–1.2 s a page; see pageLanguages). `eng+ind+deu+fra` for Latin was measured against `eng` and not
 *   adopted: word recall 1.000/0.937 vs 1.000/0.940 on phototest/8087 and 0.836/0.672 vs
 *   0.836/0.692 on two rendered German GeoTopo pages, for 35–170 % more time.
 */
import { copyFile, mkdtemp, open, readFile, rm, stat } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { PermanentError, ScriptoriumError, TransientError } from '../../errors/index.js';
import { RunError, runProcess } from '../exec.js';
import type { RunResult } from '../exec.js';
import { detectLanguage } from '../language.js';
import { OCR_ERROR_CODES, isOcrContentType } from './types.js';
import { abortError, CallerError, checkAborted, checkpoint, report } from './common.js';
import type { OcrEngine, OcrInput, OcrOptions, OcrPage, OcrResult } from './types.js';

/** Settings of {@link createLocalOcrEngine}. */
export interface LocalOcrEngineOptions {
  /**
   * Tesseract languages for Latin-script pages when the input gives no hints (default `['eng']`).
   * When language data for other scripts is installed (e.g. `ara`), each page's script is detected
   * first (see {@link createLocalOcrEngine}).
   */
  readonly languages?: readonly string[];
  /**
   * How pages without language hints are read when other scripts' language data is installed:
   * `mixed` reads every page with the defaults plus those languages (`eng+ara`); `osd` detects each
   * page's script first with tesseract's OSD and reads with that script's languages; `auto`
   * (default) is `mixed` while at most two other-script languages are installed, else `osd`.
   * Measured (2 cores, loaded): OSD costs 0.9–1.2 s a page (+35–110 %), `eng+ara` instead of `eng`
   * 3–19 %, with the same word recall on every corpus page (Latin and Arabic).
   */
  readonly scriptDetection?: 'auto' | 'osd' | 'mixed';
  /** Told which `-l` value each OCRed page was read with, and why (diagnostics, tests, benchmarks). */
  readonly onPageLanguages?: (choice: PageLanguageChoice) => void;
  /** Resolution PDF pages are rendered at for OCR (default 300; lowered for huge pages). */
  readonly dpi?: number;
  /** Inputs with more pages fail with TOO_MANY_PAGES before any work (default 500). */
  readonly maxPages?: number;
  /** Limit for each child process working on one page (default 120 000 ms). */
  readonly pageTimeoutMs?: number;
  /** Parent of the per-call temp directory (default the OS temp dir). */
  readonly tmpDir?: string;
}

const DEFAULTS = { languages: ['eng'], dpi: 300, maxPages: 500, pageTimeoutMs: 120_000 } as const;

/** How a page's OCR languages were chosen. */
export interface PageLanguageChoice {
  readonly pageNumber: number;
  /** The `-l` value, e.g. `eng`, `ara+eng`. */
  readonly languages: string;
  /**
   * `hint`: the input's languages; `default`: no other script's data installed, so no detection;
   * `script`: tesseract's orientation-and-script detection named the script; `mixed`: the defaults
   * and the installed other-script languages read together, because that is the configured
   * strategy or detection failed or was unsure (too little text, several scripts).
   */
  readonly reason: 'hint' | 'default' | 'script' | 'mixed';
  /** The script detection reported (`Latin`, `Arabic`, ...), when it reported one. */
  readonly script?: string;
  readonly scriptConfidence?: number;
}

/**
 * Tesseract language data per script as tesseract's OSD names scripts. Latin-script pages use the
 * engine's default languages; for the others, the installed languages listed here are read first
 * and the defaults after them (a Latin word or number in an Arabic document is still read:
 * habibi-scan.png, one Arabic and one Latin word, has word recall 0.5 with `ara` and 1.0 with
 * `ara+eng`, while a full Arabic page reads the same with both).
 */
const SCRIPT_LANGUAGES: Readonly<Record<string, readonly string[]>> = {
  Arabic: ['ara', 'fas', 'urd', 'pus', 'snd', 'uig', 'kur_ara'],
  Cyrillic: ['rus', 'ukr', 'bul', 'srp', 'bel', 'mkd', 'kaz', 'kir', 'tgk', 'mon'],
  Greek: ['ell', 'grc'],
  Hebrew: ['heb', 'yid'],
  Han: ['chi_sim', 'chi_tra'],
  HanS: ['chi_sim'],
  HanT: ['chi_tra'],
  Japanese: ['jpn'],
  Katakana: ['jpn'],
  Hiragana: ['jpn'],
  Hangul: ['kor'],
  Devanagari: ['hin', 'mar', 'nep', 'san'],
  Bengali: ['ben', 'asm'],
  Thai: ['tha'],
  Tamil: ['tam'],
  Telugu: ['tel'],
  Kannada: ['kan'],
  Malayalam: ['mal'],
  Gujarati: ['guj'],
  Gurmukhi: ['pan'],
  Armenian: ['hye'],
  Georgian: ['kat'],
  Ethiopic: ['amh', 'tir'],
  Khmer: ['khm'],
  Lao: ['lao'],
  Myanmar: ['mya'],
  Sinhala: ['sin'],
  Tibetan: ['bod'],
};
/** Scripts read with the default languages. */
const DEFAULT_SCRIPTS = new Set(['Latin', 'Fraktur', 'Common']);
/**
 * OSD script confidence below which detection is not trusted. Measured: Latin pages 3.4–10.6,
 * an Arabic page 85.8; the one-line habibi-scan.png is refused ("Too few characters") or, forced
 * to answer, says Latin at 1.7 for a line that is half Arabic.
 */
const MIN_SCRIPT_CONFIDENCE = 2;
/** Other-script languages read together when detection fails: each one costs recognition time. */
const MAX_MIXED_EXTRA = 2;

/** A text layer this rich is used as is. */
const RICH_TEXT_LAYER_CHARS = 200;
/** Below this, a text layer is at best a page number or a stamp: the page is OCRed as well. */
const MIN_TEXT_LAYER_CHARS = 32;
/** Between the two thresholds, a page mostly covered by images is a scan with a stamp: OCR it. */
const SCAN_IMAGE_COVERAGE = 0.5;
/** Render budget per page (A4 at 300 dpi is 8.7 Mpx): keeps a poster-sized page from exhausting memory. */
const MAX_RENDER_PIXELS = 40_000_000;
/** Pages whose text layers one poppler run extracts. */
const TEXT_CHUNK_PAGES = 16;
/** Metadata tools (pdfinfo, pdfimages, --list-langs) get this long. */
const META_TIMEOUT_MS = 60_000;
const TESSERACT_ENV = { OMP_THREAD_LIMIT: '1' } as const;

const { encrypted, corrupt, unsupported, tooManyPages, engineFailed, engineUnavailable } = OCR_ERROR_CODES;

type ImageFormat = 'png' | 'jpeg' | 'tiff' | 'gif' | 'bmp' | 'webp';
/** ffmpeg demuxer per format: forcing it keeps ffmpeg from probing untrusted bytes as a playlist. */
const FFMPEG_DEMUXER: Record<ImageFormat, string> = {
  png: 'png_pipe',
  jpeg: 'jpeg_pipe',
  tiff: 'tiff_pipe',
  gif: 'gif',
  bmp: 'bmp_pipe',
  webp: 'webp_pipe',
};

/**
 * Creates the `local` OCR engine. PDFs: per page, a meaningful text layer is used directly
 * (`text-layer`), otherwise the page is rendered and OCRed (`ocr`), with its orientation detected
 * and corrected. Images (PNG, JPEG, TIFF including multi-page, GIF, BMP, WebP) are OCRed, one
 * progress call per page. Text layers are stored in logical order without bidi controls (Arabic,
 * Hebrew); OCR languages are chosen per page (hints, else the defaults plus installed other-script
 * languages, or OSD script detection: `scriptDetection`). Failures: PermanentError PDF_ENCRYPTED / INPUT_CORRUPT /
 * UNSUPPORTED_CONTENT_TYPE / TOO_MANY_PAGES; TransientError ENGINE_UNAVAILABLE (a tool is missing)
 * and ENGINE_FAILED (a tool crashed, a page timed out, or `signal` aborted the call).
 */
export function createLocalOcrEngine(options: LocalOcrEngineOptions = {}): OcrEngine {
  const settings: Settings = {
    languages: options.languages ?? DEFAULTS.languages,
    onPageLanguages: options.onPageLanguages,
    scriptDetection: options.scriptDetection ?? 'auto',
    dpi: options.dpi ?? DEFAULTS.dpi,
    maxPages: options.maxPages ?? DEFAULTS.maxPages,
    pageTimeoutMs: options.pageTimeoutMs ?? DEFAULTS.pageTimeoutMs,
    tmpDir: options.tmpDir ?? tmpdir(),
  };
  let installedLanguages: Promise<ReadonlySet<string>> | undefined;
  const listLanguages = (signal?: AbortSignal): Promise<ReadonlySet<string>> => {
    installedLanguages ??= tesseractLanguages(signal).catch((err: unknown) => {
      installedLanguages = undefined; // a failed probe is retried by the next call
      throw err;
    });
    return installedLanguages;
  };

  return {
    name: 'local',
    async extract(input: OcrInput, callOptions: OcrOptions = {}): Promise<OcrResult> {
      const started = performance.now();
      const { signal } = callOptions;
      checkAborted(signal);
      if (!isOcrContentType(input.contentType)) {
        throw new PermanentError(unsupported, `content type ${String(input.contentType)} is not supported by OCR`);
      }
      const kind = await sniff(input.path, input.contentType);
      const dir = await mkdtemp(join(settings.tmpDir, 'scriptorium-ocr-')).catch((err: unknown) => {
        throw new TransientError(engineFailed, `cannot create a temp directory in ${settings.tmpDir}: ${errorText(err)}`, err);
      });
      try {
        const job: Job = {
          settings,
          dir,
          path: input.path,
          signal,
          onProgress: callOptions.onProgress,
          onPages: callOptions.onPages,
          donePages: callOptions.donePages,
          languages: pageLanguages(input.languages, settings, listLanguages, signal),
        };
        const pages = kind === 'pdf' ? await extractPdf(job) : await extractImage(job, kind);
        return {
          engine: 'local',
          pageCount: pages.length,
          pages,
          language: detectLanguage(pages.map((p) => p.text).join('\n\n')),
          engineMs: Math.round(performance.now() - started),
        };
      } catch (err) {
        throw toEngineError(err, signal);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
}

interface Settings {
  readonly languages: readonly string[];
  readonly scriptDetection: 'auto' | 'osd' | 'mixed';
  readonly onPageLanguages: ((choice: PageLanguageChoice) => void) | undefined;
  readonly dpi: number;
  readonly maxPages: number;
  readonly pageTimeoutMs: number;
  readonly tmpDir: string;
}

/** One extract() call. */
interface Job {
  readonly settings: Settings;
  readonly dir: string;
  readonly path: string;
  readonly signal: AbortSignal | undefined;
  readonly onProgress: OcrOptions['onProgress'];
  readonly onPages: OcrOptions['onPages'];
  /** Pages an earlier attempt recognised: returned as they are, not recognised again. */
  readonly donePages: OcrOptions['donePages'];
  /** The `-l` value for one page image; resolved lazily: a PDF with text layers never needs tesseract. */
  readonly languages: (image: string, pageNumber: number, dpi?: number) => Promise<string>;
}

// ---------------------------------------------------------------------------------------------
// Input sniffing: the declared type only picks the default; the bytes decide. This also keeps a
// non-image from reaching tesseract, which reads a file it cannot decode as a *list of image
// paths* and would OCR whatever local files such a list names.

async function sniff(path: string, declared: string): Promise<'pdf' | ImageFormat> {
  let head: Buffer;
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new PermanentError(corrupt, `input ${path} is not a regular file`);
    if (info.size === 0) throw new PermanentError(corrupt, 'input file is empty');
    const handle = await open(path, 'r');
    try {
      head = Buffer.alloc(Math.min(1024, info.size));
      await handle.read(head, 0, head.length, 0);
    } finally {
      await handle.close();
    }
  } catch (err) {
    if (err instanceof ScriptoriumError) throw err;
    // The handler put the file there; its absence is our problem, not the document's.
    throw new TransientError(engineFailed, `input file cannot be read: ${errorText(err)}`, err);
  }
  const image = imageFormat(head);
  if (image) return image;
  // PDF allows bytes before the header; poppler searches the first 1 KiB as well.
  if (declared === 'application/pdf' || head.includes('%PDF-')) return 'pdf';
  throw new PermanentError(corrupt, `input declared as ${declared} is not a PNG, JPEG, TIFF, GIF, BMP or WebP image (${describeMagic(head)})`);
}

function imageFormat(b: Buffer): ImageFormat | undefined {
  const ascii = (start: number, end: number): string => b.subarray(start, end).toString('latin1');
  if (b.length >= 8 && b.readUInt32BE(0) === 0x89504e47 && b.readUInt32BE(4) === 0x0d0a1a0a) return 'png';
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (b.length >= 4 && ['II*\0', 'MM\0*', 'II+\0', 'MM\0+'].includes(ascii(0, 4))) return 'tiff';
  if (b.length >= 6 && ['GIF87a', 'GIF89a'].includes(ascii(0, 6))) return 'gif';
  if (b.length >= 12 && ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'webp';
  if (b.length >= 14 && ascii(0, 2) === 'BM') return 'bmp';
  return undefined;
}

function describeMagic(b: Buffer): string {
  if (b.subarray(0, 4).toString('latin1') === 'RIFF') return `it is a RIFF/${b.subarray(8, 12).toString('latin1').trim()} file`;
  return `it starts with bytes ${b.subarray(0, 8).toString('hex')}`;
}

// ---------------------------------------------------------------------------------------------
// PDF

interface PdfPageInfo {
  readonly widthPt: number;
  readonly heightPt: number;
}

async function extractPdf(job: Job): Promise<OcrPage[]> {
  const { settings, signal } = job;
  const pageCount = await pdfPageCount(job);
  if (pageCount > settings.maxPages) {
    throw new PermanentError(tooManyPages, `the PDF has ${pageCount} pages; the limit is ${settings.maxPages}`);
  }
  const sizes = await pdfPageSizes(job, pageCount);
  if (sizes.every((s) => s.widthPt <= 0 || s.heightPt <= 0)) {
    // unreadablemetadata.pdf: poppler counts the pages but the page tree is gone; nothing can be read.
    throw new PermanentError(corrupt, 'the PDF is damaged: its page tree cannot be read (no page has a size)');
  }
  let coverage: Promise<Map<number, number>> | undefined;
  let layers: string[] = [];
  const pages: OcrPage[] = [];
  for (let n = 1; n <= pageCount; n++) {
    checkAborted(signal);
    const resumed = job.donePages?.get(n);
    if (resumed) {
      // Done by an earlier attempt. A text-layer chunk already read covers this page too: keep the
      // chunk aligned with the page numbers.
      layers.shift();
      pages.push(resumed.page);
      await report(job, { pagesDone: n, pageCount });
      continue;
    }
    const size = sizes[n - 1] ?? { widthPt: 0, heightPt: 0 };
    if (layers.length === 0) layers = await pdfTextLayers(job, n, Math.min(pageCount, n + TEXT_CHUNK_PAGES - 1));
    const layer = layers.shift() ?? '';
    const chars = countNonSpace(layer);
    let page: OcrPage = { pageNumber: n, text: layer, method: 'text-layer', rotation: 0 };
    const renderable = size.widthPt > 0 && size.heightPt > 0;
    let needsOcr = renderable && chars < RICH_TEXT_LAYER_CHARS;
    if (needsOcr && chars >= MIN_TEXT_LAYER_CHARS) {
      coverage ??= pdfImageCoverage(job, pageCount, sizes);
      needsOcr = ((await coverage).get(n) ?? 0) >= SCAN_IMAGE_COVERAGE;
    }
    if (needsOcr) {
      const ocr = await ocrPdfPage(job, n, size);
      // Keep a non-empty text layer unless OCR clearly found more: a form page's few labels are
      // exact in the layer, while OCR may find nothing or noise.
      if (chars === 0 || countNonSpace(ocr.text) > Math.max(chars * 1.5, chars + 16)) page = ocrPage(n, ocr);
    }
    pages.push(page);
    await checkpoint(job, [{ page }], pageCount);
    await report(job, { pagesDone: n, pageCount });
  }
  return pages;
}

async function pdfPageCount(job: Job): Promise<number> {
  const r = await runProcess('pdfinfo', [job.path], { timeoutMs: META_TIMEOUT_MS, signal: job.signal });
  if (r.code !== 0) {
    if (/incorrect password/i.test(r.stderr)) {
      throw new PermanentError(encrypted, 'the PDF is encrypted with a password; upload an unprotected copy');
    }
    if (r.code === 1 && /couldn't open file/i.test(r.stderr)) {
      throw new TransientError(engineFailed, `pdfinfo cannot open the input: ${lastLine(r.stderr)}`);
    }
    throw new PermanentError(corrupt, `the PDF cannot be read: ${lastLine(r.stderr) || `pdfinfo exit ${String(r.code)}`}`);
  }
  const match = /^Pages:\s+(\d+)/m.exec(r.stdout);
  const count = match?.[1] === undefined ? 0 : Number.parseInt(match[1], 10);
  if (count <= 0) throw new PermanentError(corrupt, `the PDF has no readable pages${r.stderr ? `: ${lastLine(r.stderr)}` : ''}`);
  return count;
}

async function pdfPageSizes(job: Job, pageCount: number): Promise<PdfPageInfo[]> {
  const r = await runProcess('pdfinfo', ['-f', '1', '-l', String(pageCount), job.path], { timeoutMs: META_TIMEOUT_MS, signal: job.signal });
  const sizes: PdfPageInfo[] = Array.from({ length: pageCount }, () => ({ widthPt: 0, heightPt: 0 }));
  if (r.code !== 0) return sizes.map(() => ({ widthPt: 612, heightPt: 792 })); // sizes are only a render budget
  for (const m of r.stdout.matchAll(/^Page\s+(\d+) size:\s+([\d.]+) x ([\d.]+) pts/gm)) {
    const index = Number(m[1]) - 1;
    if (index >= 0 && index < pageCount) sizes[index] = { widthPt: Number(m[2]), heightPt: Number(m[3]) };
  }
  return sizes;
}

/** Fraction of each page's area covered by images (from `pdfimages -list`); empty on failure. */
async function pdfImageCoverage(job: Job, pageCount: number, sizes: readonly PdfPageInfo[]): Promise<Map<number, number>> {
  const coverage = new Map<number, number>();
  let r: RunResult;
  try {
    r = await runProcess('pdfimages', ['-list', '-f', '1', '-l', String(pageCount), job.path], { timeoutMs: META_TIMEOUT_MS, signal: job.signal });
  } catch (err) {
    if (err instanceof RunError && (err.kind === 'aborted' || err.kind === 'not-found')) throw err;
    return coverage;
  }
  if (r.code !== 0) return coverage;
  // page num type width height color comp bpc enc interp object ID x-ppi y-ppi size ratio
  for (const line of r.stdout.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 14 || !/^\d+$/.test(f[0] ?? '') || (f[2] !== 'image' && f[2] !== 'stencil')) continue;
    const page = Number(f[0]);
    const [w, h, xppi, yppi] = [Number(f[3]), Number(f[4]), Number(f[12]), Number(f[13])];
    const size = sizes[page - 1];
    if (!size || !(xppi > 0) || !(yppi > 0) || size.widthPt <= 0 || size.heightPt <= 0) continue;
    const area = ((w / xppi) * 72 * (h / yppi) * 72) / (size.widthPt * size.heightPt);
    coverage.set(page, Math.min(1, (coverage.get(page) ?? 0) + area));
  }
  return coverage;
}

/**
 * Text layers of pages `first`..`last`, each in reading order; '' where a page has none or poppler
 * cannot read it. Pages are read in chunks because every poppler run re-parses the file: on the
 * 117-page GeoTopo PDF that is ~0.5 s per full pass, ~10 ms per single page.
 */
async function pdfTextLayers(job: Job, first: number, last: number): Promise<string[]> {
  const count = last - first + 1;
  const range = ['-f', String(first), '-l', String(last)];
  const opts = { timeoutMs: job.settings.pageTimeoutMs, signal: job.signal };
  const plain = await runProcess('pdftotext', [...range, job.path, '-'], opts);
  // pdftotext ends every page with a form feed.
  const texts = plain.stdout.split('\f').slice(0, count);
  if (plain.code !== 0 || plain.stdoutTruncated || texts.length !== count) {
    // A page poppler cannot extract text from may still render (and be OCRed): isolate it.
    if (count === 1) return [''];
    const pages: string[] = [];
    for (let n = first; n <= last; n++) pages.push(...(await pdfTextLayers(job, n, n)));
    return pages;
  }
  if (texts.every((t) => countNonSpace(t) === 0)) return texts.map(() => '');
  const boxes = await runProcess('pdftotext', ['-bbox-layout', ...range, job.path, '-'], opts);
  const layouts = boxes.code === 0 && !boxes.stdoutTruncated ? boxes.stdout.split(/<page\b/).slice(1) : [];
  return texts.map((t, i) => {
    if (countNonSpace(t) === 0) return '';
    const layout = layouts[i] ?? '';
    return restoreLogicalOrder(orderTextLayer(t, layout), mappedClusters(layout));
  });
}

async function ocrPdfPage(job: Job, page: number, size: PdfPageInfo): Promise<Recognised> {
  const { settings } = job;
  const squareInches = (size.widthPt / 72) * (size.heightPt / 72);
  const dpi = Math.max(1, Math.min(settings.dpi, Math.floor(Math.sqrt(MAX_RENDER_PIXELS / squareInches))));
  const base = join(job.dir, `page-${page}`);
  const r = await runProcess(
    'pdftoppm',
    ['-r', String(dpi), '-f', String(page), '-l', String(page), '-gray', '-tiff', '-tiffcompression', 'lzw', '-singlefile', job.path, base],
    { timeoutMs: settings.pageTimeoutMs, signal: job.signal },
  );
  const image = `${base}.tif`;
  try {
    if (r.code !== 0 || !(await exists(image))) {
      // poppler: 2 = cannot write the output (our disk), anything else = the page itself.
      if (r.code === 2) throw new TransientError(engineFailed, `pdftoppm cannot write page ${page}: ${lastLine(r.stderr)}`);
      throw new PermanentError(corrupt, `page ${page} of the PDF cannot be rendered: ${lastLine(r.stderr) || `pdftoppm exit ${String(r.code)}`}`);
    }
    const result = await tesseract(job, image, `${base}-ocr`, page, dpi);
    if (result.ok) return result;
    // We made this image ourselves, so a failure is tesseract's, not the document's.
    throw new TransientError(engineFailed, `tesseract failed on page ${page}: ${result.reason}`);
  } finally {
    await rm(image, { force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Text layer: poppler's text, with its flows put in reading order.

/** A poppler flow: a run of blocks it reads as one stream of text. */
interface Region {
  readonly index: number;
  readonly x0: number;
  readonly y0: number;
  readonly x1: number;
  readonly y1: number;
  readonly lines: number;
}

/**
 * Reorders plain `pdftotext` output for one page by the geometry `pdftotext -bbox-layout` gives.
 * The plain output is kept as the text (its word spacing, sub/superscripts and de-hyphenation are
 * poppler's, and better than rebuilding words from boxes), but its *flows* — separated by exactly
 * one blank line, one per `<flow>` element — are re-sequenced by a recursive XY-cut: on
 * multicolumn.pdf poppler prints the right column's first block before the left column. When the
 * two outputs do not line up, the plain output is returned unchanged.
 */
export function orderTextLayer(plain: string, bboxXhtml: string): string {
  const text = plain.replace(/\f/g, '').replace(/\s+$/, '');
  if (text.length === 0) return '';
  const parts = text.split('\n\n');
  const regions: Region[] = [];
  const num = '([-\\d.e+]+)';
  const blockRe = new RegExp(`<block xMin="${num}" yMin="${num}" xMax="${num}" yMax="${num}">([\\s\\S]*?)</block>`, 'g');
  for (const flow of bboxXhtml.split('<flow>').slice(1)) {
    let x0 = Infinity;
    let y0 = Infinity;
    let x1 = -Infinity;
    let y1 = -Infinity;
    let lines = 0;
    for (const b of flow.matchAll(blockRe)) {
      x0 = Math.min(x0, Number(b[1]));
      y0 = Math.min(y0, Number(b[2]));
      x1 = Math.max(x1, Number(b[3]));
      y1 = Math.max(y1, Number(b[4]));
      lines += (b[5] ?? '').split('<line').length - 1;
    }
    if (lines > 0) regions.push({ index: regions.length, x0, y0, x1, y1, lines });
  }
  if (regions.length !== parts.length || regions.some((r) => ![r.x0, r.y0, r.x1, r.y1].every(Number.isFinite))) return text;
  const lineHeights = regions.map((r) => (r.y1 - r.y0) / r.lines).sort((a, b) => a - b);
  const lineHeight = lineHeights[Math.floor(lineHeights.length / 2)] ?? 12;
  return readingOrder(regions, 3 * lineHeight)
    .map((r) => parts[r.index] ?? '')
    .join('\n\n');
}

/**
 * Recursive XY-cut. First, wide horizontal gaps (over `wideGap`: a footer, footnotes, a new
 * section) cut the region into bands. Then side-by-side columns (several lines each, starting at
 * the same height) are read one after the other, left to right; otherwise the region is cut into
 * horizontal bands, top to bottom, and only then into columns. Trying columns first only when they
 * really are side by side keeps a right-aligned date above the body from being read after it.
 */
function readingOrder(regions: readonly Region[], wideGap: number): Region[] {
  if (regions.length <= 1) return [...regions];
  const next = (group: readonly Region[]): Region[] => readingOrder(group, wideGap);
  const sections = splitAlong(regions, (r) => r.y0, (r) => r.y1, wideGap);
  if (sections.length > 1) return sections.flatMap(next);
  const columns = splitAlong(regions, (r) => r.x0, (r) => r.x1, 2);
  if (columns.length > 1 && sideBySide(columns)) return columns.flatMap(next);
  const bands = splitAlong(regions, (r) => r.y0, (r) => r.y1, 0);
  if (bands.length > 1) return bands.flatMap(next);
  if (columns.length > 1) return columns.flatMap(next);
  // Overlapping in both directions: poppler's own order is the best evidence left.
  return [...regions].sort((a, b) => a.index - b.index);
}

/** Groups regions separated by a gap wider than `minGap` along one axis, in axis order. */
function splitAlong(regions: readonly Region[], start: (r: Region) => number, end: (r: Region) => number, minGap: number): Region[][] {
  const sorted = [...regions].sort((a, b) => start(a) - start(b) || a.index - b.index);
  const groups: Region[][] = [];
  let reach = Number.NEGATIVE_INFINITY;
  for (const r of sorted) {
    const current = groups.at(-1);
    if (current && start(r) <= reach + minGap) current.push(r);
    else groups.push([r]);
    reach = Math.max(reach, end(r));
  }
  return groups;
}

function sideBySide(columns: readonly Region[][]): boolean {
  const extent = (g: readonly Region[]): { y0: number; y1: number; lines: number } => ({
    y0: Math.min(...g.map((r) => r.y0)),
    y1: Math.max(...g.map((r) => r.y1)),
    lines: g.reduce((n, r) => n + r.lines, 0),
  });
  const e = columns.map(extent);
  for (let i = 1; i < e.length; i++) {
    const a = e[i - 1];
    const b = e[i];
    if (!a || !b || a.lines < 2 || b.lines < 2) continue;
    const shorter = Math.min(a.y1 - a.y0, b.y1 - b.y0);
    const overlap = Math.min(a.y1, b.y1) - Math.max(a.y0, b.y0);
    // Columns start together; a narrow group in the middle of a page (a table's last column
    // beside the body text above and the footnotes below) is not a column.
    if (overlap >= 0.5 * shorter && Math.abs(a.y0 - b.y0) <= 0.25 * shorter) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Right-to-left text layers.
//
// poppler keeps each line's characters in visual order (sorted by x) and prints them through its
// `reorderText`, which reverses right-to-left sections inside RLE … PDF (U+202B … U+202C) and, on a
// page where right-to-left characters dominate, wraps each line in RLE and its left-to-right
// sections (Latin, numbers) in LRE … PDF. That is exact only for the common one-glyph-one-character
// PDF, and it goes wrong in three measured ways: a glyph whose ToUnicode entry is several
// characters in logical order (habibi-rotated.pdf maps one glyph to the whole word حَبيبي) comes
// out reversed; the space beside a number lands on the wrong side of it (`الطالب  25درسا`); and a
// line's direction is the page's majority, so an English sentence on an Arabic page is reordered
// as right-to-left. So the visual line is recovered exactly (the inverse of reorderText), and put
// in logical order again here with each line's own direction, combining marks kept after their
// base letters, and multi-character glyph mappings (known from `-bbox-layout` words that contain a
// space, which poppler otherwise never puts inside a word) kept as they are.

const BIDI_CONTROLS = /[\u202A-\u202E\u2066-\u2069]/g;
const RTL_LETTER = /[\u0590-\u05FF\u0600-\u065F\u066A-\u06EF\u06FA-\u08FF\uFB1D-\uFDFF\uFE70-\uFEFF]/u;
const COMBINING = /\p{M}/u;

type BidiClass = 'R' | 'L' | 'EN' | 'N';
interface BidiUnit {
  readonly text: string;
  readonly cls: BidiClass;
  level: number;
}
interface BidiGroup {
  readonly rtl: boolean;
  readonly items: (string | BidiGroup)[];
}

/**
 * The words of a `-bbox-layout` page whose text came from multi-character glyph mappings and
 * holds right-to-left letters: those already are in logical order and must not be reversed.
 */
export function mappedClusters(bboxXhtml: string): string[] {
  const clusters = new Set<string>();
  for (const m of bboxXhtml.matchAll(/<word\b[^>]*>([^<]*)<\/word>/g)) {
    const text = decodeXml(m[1] ?? '');
    if (/\s/.test(text) && RTL_LETTER.test(text)) clusters.add(text.trim());
  }
  return [...clusters].filter((c) => c.length > 0).sort((a, b) => b.length - a.length);
}

function decodeXml(text: string): string {
  return text.replace(/&(lt|gt|quot|apos|amp|#\d+|#x[0-9a-f]+);/gi, (entity, name: string) => {
    const named: Record<string, string> = { lt: '<', gt: '>', quot: '"', apos: "'", amp: '&' };
    if (name.startsWith('#x') || name.startsWith('#X')) return String.fromCodePoint(Number.parseInt(name.slice(2), 16));
    if (name.startsWith('#')) return String.fromCodePoint(Number.parseInt(name.slice(1), 10));
    return named[name.toLowerCase()] ?? entity;
  });
}

/**
 * Puts the right-to-left lines of poppler's plain text in logical order and removes the bidi
 * controls (U+202A–U+202E, U+2066–U+2069). Lines without controls are returned unchanged.
 * `clusters` are texts poppler took from one glyph (see {@link mappedClusters}): kept as they are.
 */
export function restoreLogicalOrder(text: string, clusters: readonly string[] = []): string {
  if (!/[\u202A-\u202E\u2066-\u2069]/.test(text)) return text;
  const letters = text.match(/\p{L}/gu) ?? [];
  const rtl = letters.filter((c) => RTL_LETTER.test(c)).length;
  const pageRtl = rtl > letters.length - rtl;
  return text
    .split('\n')
    .map((line) => {
      if (!/[\u202A-\u202E\u2066-\u2069]/.test(line)) return line;
      const visual = popplerVisual(line);
      return visualToLogical(visual, pageRtl, clusters).replace(BIDI_CONTROLS, '').trim();
    })
    .join('\n');
}

/**
 * The exact inverse of poppler's reorderText for one line: its characters in visual order (left
 * to right), as poppler held them before printing. Inside a right-to-left embedding the items
 * (characters, and nested left-to-right embeddings kept whole) are read backwards.
 */
export function popplerVisual(line: string): string {
  const root: BidiGroup = { rtl: false, items: [] };
  const stack: BidiGroup[] = [root];
  for (const ch of line) {
    const top = stack.at(-1) ?? root;
    if (ch === '\u202B' || ch === '\u202E' || ch === '\u2067') {
      const group: BidiGroup = { rtl: true, items: [] };
      top.items.push(group);
      stack.push(group);
    } else if (ch === '\u202A' || ch === '\u202D' || ch === '\u2066' || ch === '\u2068') {
      const group: BidiGroup = { rtl: false, items: [] };
      top.items.push(group);
      stack.push(group);
    } else if (ch === '\u202C' || ch === '\u2069') {
      if (stack.length > 1) stack.pop();
    } else {
      top.items.push(ch);
    }
  }
  const render = (group: BidiGroup): string => {
    const items = group.rtl ? [...group.items].reverse() : group.items;
    return items.map((item) => (typeof item === 'string' ? item : render(item))).join('');
  };
  return render(root);
}

function bidiClass(ch: string): BidiClass {
  if (RTL_LETTER.test(ch)) return /[\u0660-\u0669\u06F0-\u06F9]/.test(ch) ? 'EN' : 'R';
  if (/\p{Nd}/u.test(ch)) return 'EN';
  if (/\p{L}/u.test(ch)) return 'L';
  return 'N';
}

/**
 * Logical order of one line given in visual order, by the Unicode bidi algorithm's reordering
 * (rule L2) run on resolved levels: in a right-to-left line letters are level 1 and left-to-right
 * runs (Latin letters, numbers, and what lies between them) level 2; in a left-to-right line
 * right-to-left letters are level 1 and numbers amid them level 2. Neutrals between units of the
 * same level take that level, others the line's. Reversing runs from the highest level down is its
 * own inverse, so it turns visual order back into logical order. A base letter and the combining
 * marks after it, and each cluster, move as one unit.
 */
function visualToLogical(visual: string, pageRtl: boolean, clusters: readonly string[]): string {
  const units: BidiUnit[] = [];
  let i = 0;
  const chars = [...visual];
  const joined = chars.join('');
  let offset = 0; // UTF-16 offset of chars[i] in `joined`
  while (i < chars.length) {
    const cluster = clusters.find((c) => joined.startsWith(c, offset));
    if (cluster) {
      const rtlLetters = [...cluster].filter((c) => RTL_LETTER.test(c)).length;
      const ltrLetters = [...cluster].filter((c) => /\p{L}/u.test(c) && !RTL_LETTER.test(c)).length;
      units.push({ text: cluster, cls: rtlLetters >= ltrLetters ? 'R' : 'L', level: 0 });
      const n = [...cluster].length;
      offset += cluster.length;
      i += n;
      continue;
    }
    let text = chars[i] ?? '';
    offset += text.length;
    i++;
    while (i < chars.length && COMBINING.test(chars[i] ?? '') && bidiClass(text[0] ?? ' ') !== 'N') {
      text += chars[i] ?? '';
      offset += (chars[i] ?? '').length;
      i++;
    }
    units.push({ text, cls: COMBINING.test(text) && text.length === 1 ? 'N' : bidiClass(text[0] ?? ' '), level: 0 });
  }
  const strongR = units.filter((u) => u.cls === 'R').reduce((n, u) => n + [...u.text].length, 0);
  const strongL = units.filter((u) => u.cls === 'L').reduce((n, u) => n + [...u.text].length, 0);
  const rtl = strongR === strongL ? pageRtl : strongR > strongL;
  if (strongR === 0) return visual;

  // Number separators between digits (1,000.5  12:30) and signs next to them are part of the number.
  units.forEach((u, k) => {
    const prev = units[k - 1];
    const next = units[k + 1];
    if (u.cls === 'N' && u.text.length === 1 && /[.,:/\-+\u066B\u066C]/.test(u.text) && prev?.cls === 'EN' && next?.cls === 'EN') (u as { cls: BidiClass }).cls = 'EN';
  });
  const base = rtl ? 1 : 0;
  for (const u of units) {
    if (u.cls === 'R') u.level = 1;
    else if (u.cls === 'L') u.level = rtl ? 2 : 0;
    else if (u.cls === 'EN') u.level = 2; // refined below for left-to-right lines
  }
  if (!rtl) {
    // A number is right-to-left context only between right-to-left letters; elsewhere it is plain text.
    units.forEach((u, k) => {
      if (u.cls !== 'EN') return;
      const left = nearestStrong(units, k, -1);
      const right = nearestStrong(units, k, 1);
      u.level = left === 'R' || right === 'R' ? (left !== 'L' && right !== 'L' ? 2 : 0) : 0;
    });
  }
  // Neutrals: the level of their neighbours when both agree, else the line's.
  units.forEach((u, k) => {
    if (u.cls !== 'N') return;
    let a = k - 1;
    while (a >= 0 && units[a]?.cls === 'N') a--;
    let b = k + 1;
    while (b < units.length && units[b]?.cls === 'N') b++;
    const left = units[a];
    const right = units[b];
    if (!left || !right) {
      u.level = base;
      return;
    }
    const side = (x: BidiUnit): number => (rtl ? (x.level >= 2 ? 2 : 1) : x.level >= 1 ? 1 : 0);
    u.level = side(left) === side(right) ? side(left) : base;
  });
  const maxLevel = Math.max(...units.map((u) => u.level));
  let order = units;
  for (let level = maxLevel; level >= 1; level--) {
    const next: BidiUnit[] = [];
    let run: BidiUnit[] = [];
    for (const u of order) {
      if (u.level >= level) run.push(u);
      else {
        next.push(...run.reverse(), u);
        run = [];
      }
    }
    next.push(...run.reverse());
    order = next;
  }
  return order.map((u) => u.text).join('');
}

function nearestStrong(units: readonly BidiUnit[], from: number, step: 1 | -1): 'R' | 'L' | undefined {
  for (let k = from + step; k >= 0 && k < units.length; k += step) {
    const cls = units[k]?.cls;
    if (cls === 'R' || cls === 'L') return cls;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Images

async function extractImage(job: Job, format: ImageFormat): Promise<OcrPage[]> {
  const ifds = format === 'tiff' ? await tiffPages(job.path, job.settings.maxPages + 1) : undefined;
  const pageCount = ifds?.offsets.length ?? 1;
  if (pageCount === 0) throw new PermanentError(corrupt, 'the TIFF has no readable pages');
  if (pageCount > job.settings.maxPages) {
    throw new PermanentError(tooManyPages, `the TIFF has more pages than the limit of ${job.settings.maxPages}`);
  }
  if (!ifds || pageCount === 1) {
    const resumed = job.donePages?.get(1);
    const page = resumed?.page ?? (await ocrImage(job, job.path, format, 1));
    if (!resumed) await checkpoint(job, [{ page }], 1);
    await report(job, { pagesDone: 1, pageCount: 1 });
    return [page];
  }
  // Multi-page TIFF: one working copy whose header is pointed at one page at a time (and that
  // page's next-IFD link cut), so tesseract sees a single page and progress is per page.
  const copy = join(job.dir, 'pages.tif');
  await copyFile(job.path, copy);
  const handle = await open(copy, 'r+');
  const pages: OcrPage[] = [];
  try {
    for (let i = 0; i < pageCount; i++) {
      checkAborted(job.signal);
      const resumed = job.donePages?.get(i + 1);
      if (resumed) {
        pages.push(resumed.page);
        await report(job, { pagesDone: i + 1, pageCount });
        continue;
      }
      const offset = ifds.offsets[i] ?? 0;
      const linkPos = ifds.nextLinkPositions[i] ?? 0;
      await writeOffset(handle, ifds, ifds.firstLinkPosition, offset);
      await writeOffset(handle, ifds, linkPos, 0);
      let page: OcrPage;
      try {
        page = await ocrImage(job, copy, 'tiff', i + 1);
      } finally {
        await writeOffset(handle, ifds, linkPos, ifds.offsets[i + 1] ?? 0);
      }
      pages.push(page);
      await checkpoint(job, [{ page }], pageCount);
      await report(job, { pagesDone: i + 1, pageCount });
    }
  } finally {
    await handle.close();
  }
  return pages;
}

async function ocrImage(job: Job, path: string, format: ImageFormat, pageNumber: number): Promise<OcrPage> {
  const base = join(job.dir, `img-${pageNumber}`);
  const first = await tesseract(job, path, base, pageNumber);
  if (first.ok) return ocrPage(pageNumber, first);
  // tesseract could not read it: let ffmpeg decode it (covers formats a leptonica build lacks).
  // If ffmpeg cannot either, the file is broken; if it can and tesseract still fails, that is ours.
  const png = `${base}.png`;
  const r = await runProcess('ffmpeg', ['-nostdin', '-v', 'error', '-f', FFMPEG_DEMUXER[format], '-i', path, '-frames:v', '1', '-pix_fmt', 'gray', '-y', png], {
    timeoutMs: job.settings.pageTimeoutMs,
    signal: job.signal,
  });
  try {
    if (r.code !== 0 || !(await exists(png))) {
      throw new PermanentError(corrupt, `the ${format.toUpperCase()} image${pageNumber > 1 ? ` (page ${pageNumber})` : ''} cannot be decoded: ${first.reason}`);
    }
    const second = await tesseract(job, png, `${base}-ff`, pageNumber);
    if (second.ok) return ocrPage(pageNumber, second);
    throw new TransientError(engineFailed, `tesseract failed on page ${pageNumber}: ${second.reason}`);
  } finally {
    await rm(png, { force: true });
  }
}

/** Built field by field: no stray keys, and no `undefined` values (Firestore rejects them). */
function ocrPage(pageNumber: number, r: Recognised): OcrPage {
  return { pageNumber, text: r.text, method: 'ocr', rotation: r.rotation, ...(r.confidence === undefined ? {} : { confidence: r.confidence }) };
}

// ---------------------------------------------------------------------------------------------
// Tesseract

interface Recognised {
  readonly text: string;
  readonly rotation: number;
  readonly confidence?: number;
}
type TesseractOutcome = ({ ok: true } & Recognised) | { ok: false; reason: string };

/** leptonica's messages when it cannot decode the input (tesseract may still exit 0). */
const READ_FAILURE = /Error in (?:pixRead|fopenReadStream|findFileFormat)|cannot be read|pix not read|Unsupported image type/i;

/** Recognises one image with orientation detection (`--psm 1`), writing txt and hOCR beside `outBase`. */
async function tesseract(job: Job, image: string, outBase: string, pageNumber: number, dpi?: number): Promise<TesseractOutcome> {
  const languages = await job.languages(image, pageNumber, dpi);
  const args = [image, outBase, '--psm', '1', '-l', languages, ...(dpi === undefined ? [] : ['--dpi', String(dpi)]), 'txt', 'hocr'];
  const r = await runProcess('tesseract', args, { timeoutMs: job.settings.pageTimeoutMs, signal: job.signal, env: TESSERACT_ENV });
  try {
    if (r.signal !== null) return { ok: false, reason: `tesseract killed by ${r.signal}` };
    if (r.code !== 0 || READ_FAILURE.test(r.stderr)) return { ok: false, reason: lastLine(r.stderr.replace(/^Error during processing\.?\s*$/m, '')) || `tesseract exit ${String(r.code)}` };
    const [text, hocr] = await Promise.all([readFile(`${outBase}.txt`, 'utf8'), readFile(`${outBase}.hocr`, 'utf8')]).catch(() => [undefined, undefined]);
    if (text === undefined || hocr === undefined) return { ok: false, reason: 'tesseract wrote no output' };
    return { ok: true, text: tidyOcrText(text), ...readHocr(hocr) };
  } finally {
    await Promise.all([rm(`${outBase}.txt`, { force: true }), rm(`${outBase}.hocr`, { force: true })]);
  }
}

/** The orientation tesseract applied (clockwise, the most common line `textangle`) and the mean word confidence. */
function readHocr(hocr: string): { rotation: number; confidence?: number } {
  const votes = new Map<number, number>();
  for (const m of hocr.matchAll(/class='ocr_(?:line|caption|header|textfloat)'[^>]*title="([^"]*)"/g)) {
    const angle = /textangle (\d+)/.exec(m[1] ?? '')?.[1];
    const rotation = (Math.round(Number(angle ?? 0) / 90) * 90) % 360;
    votes.set(rotation, (votes.get(rotation) ?? 0) + 1);
  }
  let rotation = 0;
  let best = 0;
  for (const [angle, count] of votes) {
    if (count > best) [rotation, best] = [angle, count];
  }
  const confidences = [...hocr.matchAll(/x_wconf (\d+)/g)].map((m) => Number(m[1]));
  if (confidences.length === 0) return { rotation };
  const mean = confidences.reduce((a, b) => a + b, 0) / confidences.length;
  return { rotation, confidence: Math.round(mean) / 100 };
}

function tidyOcrText(text: string): string {
  return text
    .replace(/\f/g, '\n')
    // Tesseract marks direction changes in mixed-script lines with LRM/RLM; the text is in logical order.
    .replace(/[\u200E\u200F\u202A-\u202E\u2066-\u2069]/g, '')
    .replace(/[ \t]+$/gm, '')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

async function tesseractLanguages(signal?: AbortSignal): Promise<ReadonlySet<string>> {
  const r = await runProcess('tesseract', ['--list-langs'], { timeoutMs: META_TIMEOUT_MS, signal, env: TESSERACT_ENV });
  if (r.code !== 0) throw new TransientError(engineUnavailable, `tesseract --list-langs failed: ${lastLine(r.stderr)}`);
  // First line is 'List of available languages in "…" (N):'.
  return new Set(r.stdout.split('\n').slice(1).map((l) => l.trim()).filter((l) => l.length > 0));
}

/** What page-by-page language choice starts from, resolved once per call. */
interface LanguagePlan {
  /** Set when no per-page choice is needed: usable hints, or no other script's data installed. */
  readonly fixed?: { readonly languages: string; readonly reason: 'hint' | 'default' | 'mixed' };
  /** Installed default languages (Latin script). */
  readonly defaults: readonly string[];
  readonly installed: ReadonlySet<string>;
  /** Installed languages of other scripts, in {@link SCRIPT_LANGUAGES} order. */
  readonly others: readonly string[];
}

/**
 * The per-page language chooser of one extract() call. The input's hints win (those installed);
 * without hints, when no other script's language data is installed, the defaults (as before: no
 * detection, no extra cost). Otherwise, by `scriptDetection`: `mixed` reads with the defaults plus
 * the other installed scripts (`eng+ara`: as good as `eng` on Latin scans, as `ara` on an Arabic
 * page, and the only choice that reads habibi-scan's mixed Arabic/Latin line fully); `osd` detects
 * each page's script with tesseract's OSD (`--psm 0`): a confident non-Latin script reads with its
 * installed languages then the defaults (`ara+eng`), a confident Latin with the defaults, anything
 * unsure mixed as above.
 */
function pageLanguages(
  hints: readonly string[] | undefined,
  settings: Settings,
  list: (signal?: AbortSignal) => Promise<ReadonlySet<string>>,
  signal: AbortSignal | undefined,
): (image: string, pageNumber: number, dpi?: number) => Promise<string> {
  let plan: Promise<LanguagePlan> | undefined;
  return async (image, pageNumber, dpi) => {
    plan ??= languagePlan(hints, settings.languages, settings.scriptDetection, list, signal);
    const p = await plan;
    let choice: PageLanguageChoice;
    if (p.fixed) {
      choice = { pageNumber, ...p.fixed };
    } else {
      const osd = await detectScript(image, dpi, settings.pageTimeoutMs, signal);
      choice = { pageNumber, ...chooseForScript(p, osd), ...(osd ? { script: osd.script, scriptConfidence: osd.confidence } : {}) };
    }
    settings.onPageLanguages?.(choice);
    return choice.languages;
  };
}

async function languagePlan(
  hints: readonly string[] | undefined,
  defaults: readonly string[],
  mode: Settings['scriptDetection'],
  list: (signal?: AbortSignal) => Promise<ReadonlySet<string>>,
  signal?: AbortSignal,
): Promise<LanguagePlan> {
  const installed = await list(signal);
  const usable = (codes: readonly string[] = []): string[] => [...new Set(codes.filter((c) => /^[A-Za-z0-9_]+$/.test(c) && installed.has(c)))];
  const hinted = usable(hints);
  const usableDefaults = usable(defaults);
  if (hinted.length > 0) return { fixed: { languages: hinted.join('+'), reason: 'hint' }, defaults: usableDefaults, installed, others: [] };
  if (usableDefaults.length === 0) {
    throw new TransientError(engineUnavailable, `no tesseract language data for ${[...(hints ?? []), ...defaults].join('+')} (installed: ${[...installed].join(', ') || 'none'})`);
  }
  const others = [...new Set(Object.values(SCRIPT_LANGUAGES).flat())].filter((l) => installed.has(l) && !usableDefaults.includes(l));
  if (others.length === 0) return { fixed: { languages: usableDefaults.join('+'), reason: 'default' }, defaults: usableDefaults, installed, others };
  if (mode === 'mixed' || (mode === 'auto' && others.length <= MAX_MIXED_EXTRA)) {
    const languages = [...usableDefaults, ...others.slice(0, MAX_MIXED_EXTRA)].join('+');
    return { fixed: { languages, reason: 'mixed' }, defaults: usableDefaults, installed, others };
  }
  return { defaults: usableDefaults, installed, others };
}

/** The languages for a page whose script detection said `osd` (undefined: it could not tell). */
export function chooseForScript(
  plan: Pick<LanguagePlan, 'defaults' | 'installed' | 'others'>,
  osd: ScriptDetection | undefined,
): { languages: string; reason: 'script' | 'mixed' } {
  const join = (codes: readonly string[]): string => [...new Set(codes)].join('+');
  if (osd && osd.confidence >= MIN_SCRIPT_CONFIDENCE) {
    if (DEFAULT_SCRIPTS.has(osd.script)) return { languages: join(plan.defaults), reason: 'script' };
    const own = (SCRIPT_LANGUAGES[osd.script] ?? []).filter((l) => plan.installed.has(l)).slice(0, 2);
    if (own.length > 0) return { languages: join([...own, ...plan.defaults]), reason: 'script' };
  }
  return { languages: join([...plan.defaults, ...plan.others.slice(0, MAX_MIXED_EXTRA)]), reason: 'mixed' };
}

export interface ScriptDetection {
  readonly script: string;
  readonly confidence: number;
}

/**
 * Tesseract's orientation and script detection (`--psm 0`) on one page image; undefined when it
 * cannot tell (it refuses pages with too few characters). Aborts and timeouts propagate.
 */
async function detectScript(image: string, dpi: number | undefined, timeoutMs: number, signal: AbortSignal | undefined): Promise<ScriptDetection | undefined> {
  const r = await runProcess('tesseract', [image, '-', '--psm', '0', ...(dpi === undefined ? [] : ['--dpi', String(dpi)])], { timeoutMs, signal, env: TESSERACT_ENV });
  return r.code === 0 ? parseOsd(r.stdout) : undefined;
}

/** `Script: Arabic` and `Script confidence: 85.83` from tesseract's OSD report. */
export function parseOsd(report: string): ScriptDetection | undefined {
  const script = /^Script:\s*(\S+)/m.exec(report)?.[1];
  const confidence = Number(/^Script confidence:\s*([\d.]+)/m.exec(report)?.[1]);
  if (!script || !Number.isFinite(confidence)) return undefined;
  return { script, confidence };
}

// ---------------------------------------------------------------------------------------------
// TIFF page directory (classic and BigTIFF), read without loading the file.

interface TiffPages {
  readonly littleEndian: boolean;
  readonly big: boolean;
  /** Where the header stores the first IFD offset. */
  readonly firstLinkPosition: number;
  /** Offset of each page's IFD. */
  readonly offsets: number[];
  /** Where each IFD stores the offset of the next. */
  readonly nextLinkPositions: number[];
}

async function tiffPages(path: string, limit: number): Promise<TiffPages> {
  const handle = await open(path, 'r');
  try {
    const size = (await handle.stat()).size;
    const read = async (pos: number, len: number): Promise<Buffer> => {
      if (pos < 0 || pos + len > size) throw new PermanentError(corrupt, 'the TIFF is truncated: a page directory points past the end of the file');
      const buf = Buffer.alloc(len);
      await handle.read(buf, 0, len, pos);
      return buf;
    };
    const header = await read(0, 16 <= size ? 16 : 8);
    const littleEndian = header.toString('latin1', 0, 2) === 'II';
    const big = (littleEndian ? header.readUInt16LE(2) : header.readUInt16BE(2)) === 43;
    const u16 = (b: Buffer, o = 0): number => (littleEndian ? b.readUInt16LE(o) : b.readUInt16BE(o));
    const uOff = (b: Buffer, o = 0): number => {
      if (!big) return littleEndian ? b.readUInt32LE(o) : b.readUInt32BE(o);
      return Number(littleEndian ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o));
    };
    const firstLinkPosition = big ? 8 : 4;
    const offsets: number[] = [];
    const nextLinkPositions: number[] = [];
    const seen = new Set<number>();
    let next = uOff(header, firstLinkPosition);
    while (next !== 0 && offsets.length < limit) {
      if (seen.has(next)) throw new PermanentError(corrupt, 'the TIFF is damaged: its page directories form a loop');
      seen.add(next);
      const entries = big ? uOff(await read(next, 8)) : u16(await read(next, 2));
      const linkPos = next + (big ? 8 + entries * 20 : 2 + entries * 12);
      offsets.push(next);
      nextLinkPositions.push(linkPos);
      next = uOff(await read(linkPos, big ? 8 : 4));
    }
    return { littleEndian, big, firstLinkPosition, offsets, nextLinkPositions };
  } finally {
    await handle.close();
  }
}

async function writeOffset(handle: FileHandle, tiff: TiffPages, position: number, value: number): Promise<void> {
  const buf = Buffer.alloc(tiff.big ? 8 : 4);
  if (tiff.big) {
    if (tiff.littleEndian) buf.writeBigUInt64LE(BigInt(value));
    else buf.writeBigUInt64BE(BigInt(value));
  } else if (tiff.littleEndian) buf.writeUInt32LE(value);
  else buf.writeUInt32BE(value);
  await handle.write(buf, 0, buf.length, position);
}

// ---------------------------------------------------------------------------------------------
// Errors and small helpers

/** Maps child-process failures to the contract's errors; ours pass through unchanged. */
function toEngineError(err: unknown, signal: AbortSignal | undefined): unknown {
  if (err instanceof ScriptoriumError) return err;
  if (err instanceof CallerError) return err.error;
  if (err instanceof RunError) {
    switch (err.kind) {
      case 'not-found':
        return new TransientError(engineUnavailable, `${err.command} is not installed; run scripts/ensure-system-deps.sh`, err);
      case 'spawn-failed':
        return new TransientError(engineUnavailable, err.message, err);
      case 'timeout':
        return new TransientError(engineFailed, `${err.message} (one page)`, err);
      case 'aborted':
        return abortError(signal, err);
    }
  }
  return new TransientError(engineFailed, `local OCR failed: ${errorText(err)}`, err);
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function countNonSpace(text: string): number {
  return text.replace(/\s+/g, '').length;
}

function lastLine(text: string): string {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l.length > 0);
  return (lines.at(-1) ?? '').slice(0, 300);
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
