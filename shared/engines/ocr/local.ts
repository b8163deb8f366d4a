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
import { abortError, CallerError, checkAborted, report } from './common.js';
import type { OcrEngine, OcrInput, OcrOptions, OcrPage, OcrResult } from './types.js';

/** Settings of {@link createLocalOcrEngine}. */
export interface LocalOcrEngineOptions {
  /** Tesseract languages used when the input gives no hints (default `['eng']`). */
  readonly languages?: readonly string[];
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
 * progress call per page. Failures: PermanentError PDF_ENCRYPTED / INPUT_CORRUPT /
 * UNSUPPORTED_CONTENT_TYPE / TOO_MANY_PAGES; TransientError ENGINE_UNAVAILABLE (a tool is missing)
 * and ENGINE_FAILED (a tool crashed, a page timed out, or `signal` aborted the call).
 */
export function createLocalOcrEngine(options: LocalOcrEngineOptions = {}): OcrEngine {
  const settings: Settings = {
    languages: options.languages ?? DEFAULTS.languages,
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
          languages: () => resolveLanguages(input.languages, settings.languages, listLanguages, signal),
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
  /** Resolved lazily: a PDF with text layers never needs tesseract. */
  readonly languages: () => Promise<string>;
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
  return texts.map((t, i) => (countNonSpace(t) === 0 ? '' : orderTextLayer(t, layouts[i] ?? '')));
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
    const result = await tesseract(job, image, `${base}-ocr`, dpi);
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
// Images

async function extractImage(job: Job, format: ImageFormat): Promise<OcrPage[]> {
  const ifds = format === 'tiff' ? await tiffPages(job.path, job.settings.maxPages + 1) : undefined;
  const pageCount = ifds?.offsets.length ?? 1;
  if (pageCount === 0) throw new PermanentError(corrupt, 'the TIFF has no readable pages');
  if (pageCount > job.settings.maxPages) {
    throw new PermanentError(tooManyPages, `the TIFF has more pages than the limit of ${job.settings.maxPages}`);
  }
  if (!ifds || pageCount === 1) {
    const page = await ocrImage(job, job.path, format, 1);
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
      const offset = ifds.offsets[i] ?? 0;
      const linkPos = ifds.nextLinkPositions[i] ?? 0;
      await writeOffset(handle, ifds, ifds.firstLinkPosition, offset);
      await writeOffset(handle, ifds, linkPos, 0);
      try {
        pages.push(await ocrImage(job, copy, 'tiff', i + 1));
      } finally {
        await writeOffset(handle, ifds, linkPos, ifds.offsets[i + 1] ?? 0);
      }
      await report(job, { pagesDone: i + 1, pageCount });
    }
  } finally {
    await handle.close();
  }
  return pages;
}

async function ocrImage(job: Job, path: string, format: ImageFormat, pageNumber: number): Promise<OcrPage> {
  const base = join(job.dir, `img-${pageNumber}`);
  const first = await tesseract(job, path, base);
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
    const second = await tesseract(job, png, `${base}-ff`);
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
async function tesseract(job: Job, image: string, outBase: string, dpi?: number): Promise<TesseractOutcome> {
  const languages = await job.languages();
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

/**
 * The `-l` argument: the input's hints that are installed, else the engine defaults that are.
 * Hints are only hints, so an uninstalled one is dropped rather than failing the document.
 */
async function resolveLanguages(
  hints: readonly string[] | undefined,
  defaults: readonly string[],
  list: (signal?: AbortSignal) => Promise<ReadonlySet<string>>,
  signal?: AbortSignal,
): Promise<string> {
  const installed = await list(signal);
  const usable = (codes: readonly string[] = []): string[] => codes.filter((c) => /^[A-Za-z0-9_]+$/.test(c) && installed.has(c));
  const chosen = usable(hints).length > 0 ? usable(hints) : usable(defaults);
  if (chosen.length === 0) {
    throw new TransientError(engineUnavailable, `no tesseract language data for ${[...(hints ?? []), ...defaults].join('+')} (installed: ${[...installed].join(', ') || 'none'})`);
  }
  return chosen.join('+');
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
