/**
 * The local OCR engine against real files and the real tools (poppler, tesseract, ffmpeg): no
 * mocks. Fixtures are copies of the shared corpus (see test/fixtures/SOURCES.md); rotated pages,
 * a multi-page TIFF, an image-only PDF and broken inputs are made here from them.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import { deflateSync } from 'node:zlib';

import { PermanentError, TransientError } from '../../shared/errors/index.js';
import { detectLanguage } from '../../shared/engines/language.js';
import { chooseForScript, createLocalOcrEngine, orderTextLayer, parseOsd, popplerVisual, restoreLogicalOrder } from '../../shared/engines/ocr/local.js';
import type { LocalOcrEngineOptions, PageLanguageChoice } from '../../shared/engines/ocr/local.js';
import type { OcrContentType, OcrProgress, OcrResult } from '../../shared/engines/ocr/types.js';
import { wordRecall, words } from '../helpers/text-metrics.js';
import { FIXTURES } from '../helpers/paths.js';

const fixture = (rel: string): string => join(FIXTURES, rel);

let work: string;
let engineTmp: string;
let phototestText: string;
/** Page counts from py-pdf/sample-files' metadata, by file name. */
let expectedPages: Map<string, number>;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'ocr-local-test-'));
  engineTmp = join(work, 'engine-tmp');
  await mkdir(engineTmp);
  phototestText = await readFile(fixture('ocr/phototest.txt'), 'utf8');
  const meta = JSON.parse(await readFile(fixture('pdf/files.json'), 'utf8')) as { data: { path: string; pages: number }[] };
  expectedPages = new Map(meta.data.map((d) => [d.path.split('/').at(-1) ?? d.path, d.pages]));
});

after(async () => {
  await rm(work, { recursive: true, force: true });
});

function engine(options: LocalOcrEngineOptions = {}): ReturnType<typeof createLocalOcrEngine> {
  return createLocalOcrEngine({ tmpDir: engineTmp, ...options });
}

interface Run {
  readonly result: OcrResult;
  readonly progress: OcrProgress[];
  readonly ms: number;
}

/** Extracts, records progress and timing, and checks the engine left no temp files behind. */
async function run(t: TestContext, path: string, contentType: OcrContentType, options: LocalOcrEngineOptions = {}): Promise<Run> {
  const progress: OcrProgress[] = [];
  const started = performance.now();
  const result = await engine(options).extract({ path, contentType }, { onProgress: (p) => void progress.push(p) });
  const ms = performance.now() - started;
  const perPage = result.pageCount > 0 ? ms / result.pageCount : ms;
  const methods = ['text-layer', 'ocr'].map((m) => `${result.pages.filter((p) => p.method === m).length} ${m}`).join(', ');
  t.diagnostic(`${path.split('/').at(-1)}: ${result.pageCount} page(s) (${methods}) in ${ms.toFixed(0)} ms, ${perPage.toFixed(0)} ms/page, engineMs ${result.engineMs}`);
  assert.deepEqual(await readdir(engineTmp), [], 'temp files left behind');
  // Results are stored as is: no stray keys, no undefined values (Firestore rejects them).
  for (const page of result.pages) {
    for (const [key, value] of Object.entries(page)) {
      assert.ok(['pageNumber', 'text', 'method', 'rotation', 'confidence'].includes(key), `unexpected page key ${key}`);
      assert.notEqual(value, undefined, `page.${key} is undefined`);
    }
  }
  return { result, progress, ms };
}

async function rejectsWith(t: TestContext, promise: Promise<unknown>, type: typeof PermanentError | typeof TransientError, code: string, message?: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof type, `expected ${type.name}, got ${String(err)}`);
    assert.equal(err.code, code);
    if (message) assert.match(err.message, message);
    t.diagnostic(`${err.name} ${err.code}: ${err.message}`);
    return true;
  });
  assert.deepEqual(await readdir(engineTmp), [], 'temp files left behind');
}

const text = (r: OcrResult): string => r.pages.map((p) => p.text).join('\n');

/** Runs ffmpeg on a fixture and returns the output file's path. */
function ffmpeg(input: string, filter: string, output: string): string {
  const out = join(work, output);
  execFileSync('ffmpeg', ['-nostdin', '-v', 'error', '-y', '-i', input, '-vf', filter, out]);
  return out;
}

/** Raw 8-bit grey pixels of an image, through ffmpeg. */
function grayPixels(input: string, filter = 'null'): Buffer {
  return execFileSync('ffmpeg', ['-nostdin', '-v', 'error', '-i', input, '-vf', filter, '-f', 'rawvideo', '-pix_fmt', 'gray', '-'], { maxBuffer: 64 * 1024 * 1024 });
}

/** A minimal PDF whose pages are only images (no text layer), one Flate-compressed grey image per page. */
function imageOnlyPdf(pages: readonly { gray: Buffer; width: number; height: number; dpi: number }[]): Buffer {
  const bodies: Buffer[] = [Buffer.from('<< /Type /Catalog /Pages 2 0 R >>')];
  const kids = pages.map((_, i) => `${3 + i * 3} 0 R`).join(' ');
  bodies.push(Buffer.from(`<< /Type /Pages /Kids [${kids}] /Count ${pages.length} >>`));
  pages.forEach((p, i) => {
    const [w, h] = [(p.width * 72) / p.dpi, (p.height * 72) / p.dpi];
    const id = 3 + i * 3;
    bodies.push(Buffer.from(`<< /Type /Page /Parent 2 0 R /MediaBox [0 0 ${w} ${h}] /Resources << /XObject << /Im0 ${id + 1} 0 R >> >> /Contents ${id + 2} 0 R >>`));
    const data = deflateSync(p.gray);
    const head = `<< /Type /XObject /Subtype /Image /Width ${p.width} /Height ${p.height} /ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /FlateDecode /Length ${data.length} >>\nstream\n`;
    bodies.push(Buffer.concat([Buffer.from(head), data, Buffer.from('\nendstream')]));
    const content = `q ${w} 0 0 ${h} 0 0 cm /Im0 Do Q`;
    bodies.push(Buffer.from(`<< /Length ${content.length} >>\nstream\n${content}\nendstream`));
  });
  const chunks: Buffer[] = [Buffer.from('%PDF-1.4\n')];
  let position = chunks[0]?.length ?? 0;
  const offsets: number[] = [];
  bodies.forEach((body, i) => {
    const obj = Buffer.concat([Buffer.from(`${i + 1} 0 obj\n`), body, Buffer.from('\nendobj\n')]);
    offsets.push(position);
    chunks.push(obj);
    position += obj.length;
  });
  const xref = offsets.map((o) => `${String(o).padStart(10, '0')} 00000 n \n`).join('');
  chunks.push(Buffer.from(`xref\n0 ${bodies.length + 1}\n0000000000 65535 f \n${xref}trailer\n<< /Size ${bodies.length + 1} /Root 1 0 R >>\nstartxref\n${position}\n%%EOF\n`));
  return Buffer.concat(chunks);
}

/** A two-page TIFF made from a single-page little-endian one: a copy of its IFD appended and linked. */
function twoPageTiff(tiff: Buffer): Buffer {
  assert.equal(tiff.toString('latin1', 0, 4), 'II*\0');
  const first = tiff.readUInt32LE(4);
  const entries = tiff.readUInt16LE(first);
  const link = first + 2 + entries * 12;
  assert.equal(tiff.readUInt32LE(link), 0, 'fixture is already multi-page');
  const pad = tiff.length % 2; // IFDs start on a word boundary
  const second = tiff.length + pad;
  const out = Buffer.concat([tiff, Buffer.alloc(pad), tiff.subarray(first, link + 4)]);
  out.writeUInt32LE(second, link);
  out.writeUInt32LE(0, second + 2 + entries * 12);
  return out;
}

describe('images', () => {
  test('phototest.tif: word recall ≥ 0.95, upright, one progress call', async (t) => {
    const { result, progress } = await run(t, fixture('ocr/phototest.tif'), 'image/tiff');
    const recall = wordRecall(phototestText, text(result));
    t.diagnostic(`recall ${recall.toFixed(3)}, confidence ${String(result.pages[0]?.confidence)}`);
    assert.ok(recall >= 0.95, `recall ${recall}`);
    assert.equal(result.engine, 'local');
    assert.equal(result.pageCount, 1);
    assert.deepEqual(progress, [{ pagesDone: 1, pageCount: 1 }]);
    const [page] = result.pages;
    assert.ok(page);
    assert.equal(page.pageNumber, 1);
    assert.equal(page.method, 'ocr');
    assert.equal(page.rotation, 0);
    assert.ok(page.confidence !== undefined && page.confidence > 0.8 && page.confidence <= 1);
    assert.equal(result.language, 'eng');
    assert.ok(result.engineMs > 0);
  });

  test('phototest-rotated-180.png: read upright, rotation 180 reported', async (t) => {
    const { result } = await run(t, fixture('ocr/phototest-rotated-180.png'), 'image/png');
    const recall = wordRecall(phototestText, text(result));
    t.diagnostic(`recall ${recall.toFixed(3)}`);
    assert.ok(recall >= 0.95, `recall ${recall}`);
    assert.equal(result.pages[0]?.rotation, 180);
  });

  test('a page turned 90° either way is read upright; the corrective rotation is reported', async (t) => {
    // transpose=1 turns the page 90° clockwise, so 270° more (clockwise) puts it upright.
    for (const [transpose, expected] of [
      [1, 270],
      [2, 90],
    ] as const) {
      const png = ffmpeg(fixture('ocr/phototest.tif'), `transpose=${transpose}`, `phototest-transpose-${transpose}.png`);
      const { result } = await run(t, png, 'image/png');
      const recall = wordRecall(phototestText, text(result));
      t.diagnostic(`transpose=${transpose}: recall ${recall.toFixed(3)}, rotation ${String(result.pages[0]?.rotation)}`);
      assert.ok(recall >= 0.95, `recall ${recall}`);
      assert.equal(result.pages[0]?.rotation, expected);
    }
  });

  test('8087_054.3B.tif: a dense scanned page', async (t) => {
    const expected = await readFile(fixture('ocr/8087_054.3B.txt'), 'utf8');
    const { result } = await run(t, fixture('ocr/8087_054.3B.tif'), 'image/tiff');
    const recall = wordRecall(expected, text(result));
    t.diagnostic(`recall ${recall.toFixed(3)}`);
    assert.ok(recall >= 0.9, `recall ${recall}`);
  });

  test('other formats tesseract reads: JPEG, GIF, BMP, WebP', async (t) => {
    for (const [ext, type] of [
      ['jpg', 'image/jpeg'],
      ['gif', 'image/gif'],
      ['bmp', 'image/bmp'],
      ['webp', 'image/webp'],
    ] as const) {
      const file = ffmpeg(fixture('ocr/phototest.tif'), 'null', `phototest.${ext}`);
      const { result } = await run(t, file, type);
      const recall = wordRecall(phototestText, text(result));
      t.diagnostic(`${ext}: recall ${recall.toFixed(3)}`);
      assert.ok(recall >= 0.95, `${ext}: recall ${recall}`);
    }
  });

  test('multi-page TIFF: one page and one progress call per page', async (t) => {
    const path = join(work, 'two-pages.tif');
    await writeFile(path, twoPageTiff(await readFile(fixture('ocr/phototest.tif'))));
    const { result, progress } = await run(t, path, 'image/tiff');
    assert.equal(result.pageCount, 2);
    assert.deepEqual(progress, [
      { pagesDone: 1, pageCount: 2 },
      { pagesDone: 2, pageCount: 2 },
    ]);
    assert.deepEqual(
      result.pages.map((p) => p.pageNumber),
      [1, 2],
    );
    for (const page of result.pages) assert.ok(wordRecall(phototestText, page.text) >= 0.95);
    await rejectsWith(t, engine({ maxPages: 1 }).extract({ path, contentType: 'image/tiff' }), PermanentError, 'TOO_MANY_PAGES');
  });

  test('a WAV file declared as an image is refused before tesseract sees it', async (t) => {
    const wav = fixture('audio/sense_and_sensibility_01_austen_64kb-0880.wav');
    await rejectsWith(t, engine().extract({ path: wav, contentType: 'image/png' }), PermanentError, 'INPUT_CORRUPT', /RIFF\/WAVE/);
  });

  test('truncated PNG and TIFF: PermanentError INPUT_CORRUPT', async (t) => {
    const png = join(work, 'truncated.png');
    await writeFile(png, (await readFile(fixture('ocr/phototest-rotated-180.png'))).subarray(0, 2000));
    await rejectsWith(t, engine().extract({ path: png, contentType: 'image/png' }), PermanentError, 'INPUT_CORRUPT');
    // tesseract exits 0 on this one, only complaining on stderr.
    const tif = join(work, 'truncated.tif');
    await writeFile(tif, (await readFile(fixture('ocr/phototest.tif'))).subarray(0, 30_000));
    await rejectsWith(t, engine().extract({ path: tif, contentType: 'image/tiff' }), PermanentError, 'INPUT_CORRUPT');
  });

  test('language hints that are not installed or not names fall back to the defaults', async (t) => {
    const result = await engine().extract({ path: fixture('ocr/phototest.tif'), contentType: 'image/tiff', languages: ['xyz', 'eng; rm -rf /'] });
    const recall = wordRecall(phototestText, text(result));
    t.diagnostic(`recall ${recall.toFixed(3)}`);
    assert.ok(recall >= 0.95);
  });
});

describe('PDFs', () => {
  test('pdflatex-4-pages.pdf: 4 pages from the text layer, progress awaited 4 times', async () => {
    const calls: number[] = [];
    let inFlight = false;
    const result = await engine().extract(
      { path: fixture('pdf/pdflatex-4-pages.pdf'), contentType: 'application/pdf' },
      {
        onProgress: async ({ pagesDone, pageCount }) => {
          assert.equal(inFlight, false, 'progress callbacks overlap: not awaited');
          inFlight = true;
          assert.equal(pageCount, 4);
          await new Promise((resolve) => setTimeout(resolve, 5));
          calls.push(pagesDone);
          inFlight = false;
        },
      },
    );
    assert.deepEqual(calls, [1, 2, 3, 4]);
    assert.equal(result.pageCount, expectedPages.get('pdflatex-4-pages.pdf'));
    assert.deepEqual(
      result.pages.map((p) => [p.pageNumber, p.method, p.rotation]),
      [1, 2, 3, 4].map((n) => [n, 'text-layer', 0]),
    );
    for (const page of result.pages) assert.ok(words(page.text).length > 300, `page ${page.pageNumber} is short`);
    assert.equal(result.language, 'eng');
    assert.deepEqual(await readdir(engineTmp), []);
  });

  test('multicolumn.pdf: columns in reading order, no word lost', async (t) => {
    const path = fixture('pdf/multicolumn.pdf');
    const { result } = await run(t, path, 'application/pdf');
    assert.equal(result.pageCount, expectedPages.get('multicolumn.pdf'));
    assert.ok(result.pages.every((p) => p.method === 'text-layer'));
    const page1 = result.pages[0]?.text ?? '';
    // Left column top to bottom, then the right column, whose first block continues the left's
    // last sentence ("Donec nonummy pellentesque ante."); plain pdftotext puts that block first.
    const landmarks = ['Two-Column Document', 'Abstract', 'This is a sample document', 'Vivamus viverra fermentum felis. Donec nonummy', 'pellentesque ante. Phasellus', 'Quisque ullamcorper placerat ipsum'];
    const positions = landmarks.map((l) => page1.indexOf(l));
    assert.ok(
      positions.every((p, i) => p >= 0 && (i === 0 || p > (positions[i - 1] ?? -1))),
      `reading order: ${JSON.stringify(positions)}`,
    );
    for (const page of result.pages) {
      const plain = execFileSync('pdftotext', ['-f', String(page.pageNumber), '-l', String(page.pageNumber), path, '-'], { encoding: 'utf8' });
      assert.equal(wordRecall(plain, page.text), 1, `page ${page.pageNumber} lost words`);
      assert.equal(wordRecall(page.text, plain), 1, `page ${page.pageNumber} gained words`);
    }
  });

  test('orderTextLayer keeps poppler\u2019s text when the layout does not line up', () => {
    assert.equal(orderTextLayer('one\n\ntwo\n\f', ''), 'one\n\ntwo');
    assert.equal(orderTextLayer('\f', '<flow></flow>'), '');
  });

  test('image-only PDFs go through OCR: a scan made here, read upright, and sideways', async (t) => {
    const upright = grayPixels(fixture('ocr/phototest.tif'));
    const sideways = grayPixels(fixture('ocr/phototest.tif'), 'transpose=1');
    const path = join(work, 'scanned.pdf');
    await writeFile(
      path,
      imageOnlyPdf([
        { gray: upright, width: 640, height: 480, dpi: 200 },
        { gray: sideways, width: 480, height: 640, dpi: 200 },
      ]),
    );
    const { result, progress } = await run(t, path, 'application/pdf');
    assert.equal(result.pageCount, 2);
    assert.equal(progress.length, 2);
    assert.deepEqual(
      result.pages.map((p) => [p.method, p.rotation]),
      [
        ['ocr', 0],
        ['ocr', 270],
      ],
    );
    for (const page of result.pages) {
      const recall = wordRecall(phototestText, page.text);
      t.diagnostic(`page ${page.pageNumber}: recall ${recall.toFixed(3)}`);
      assert.ok(recall >= 0.95, `page ${page.pageNumber}: recall ${recall}`);
    }
  });

  test('imagemagick-images.pdf and imagemagick-CCITTFaxDecode.pdf (16-pixel images) go through OCR without failing', async (t) => {
    for (const name of ['imagemagick-images.pdf', 'imagemagick-CCITTFaxDecode.pdf']) {
      const { result, progress } = await run(t, fixture(`pdf/${name}`), 'application/pdf');
      assert.equal(result.pageCount, expectedPages.get(name));
      assert.equal(progress.length, result.pageCount);
      assert.ok(result.pages.every((p) => p.method === 'ocr'));
      assert.equal(result.language, 'und');
    }
  });

  test('born-digital odds and ends: a form and a table page keep their text layer', async (t) => {
    for (const name of ['pdflatex-forms.pdf', 'google-doc-document.pdf']) {
      const { result } = await run(t, fixture(`pdf/${name}`), 'application/pdf');
      assert.equal(result.pageCount, expectedPages.get(name));
      assert.ok(result.pages.every((p) => p.method === 'text-layer'));
    }
    const { result } = await run(t, fixture('pdf/google-doc-document.pdf'), 'application/pdf');
    const page = result.pages[0]?.text ?? '';
    // The footnotes at the foot of the page come after the table, not in the middle of it.
    assert.ok(page.indexOf('2021 estimate') > page.indexOf('Vatican City'));
  });

  test('GeoTopo-komprimiert.pdf: 117 German pages, progress per page', async (t) => {
    const { result, progress } = await run(t, fixture('pdf/GeoTopo-komprimiert.pdf'), 'application/pdf');
    assert.equal(result.pageCount, expectedPages.get('GeoTopo-komprimiert.pdf'));
    assert.deepEqual(
      progress.map((p) => p.pagesDone),
      Array.from({ length: 117 }, (_, i) => i + 1),
    );
    assert.equal(result.language, 'deu');
    const ocrPages = result.pages.filter((p) => p.method === 'ocr').map((p) => p.pageNumber);
    t.diagnostic(`pages OCRed: [${ocrPages.join(',')}]`);
    assert.ok(ocrPages.length <= 5);
  });

  test('a PDF declared as an image is still read as a PDF', async (t) => {
    const { result } = await run(t, fixture('pdf/pdflatex-4-pages.pdf'), 'image/png');
    assert.equal(result.pageCount, 4);
  });

  test('libreoffice-writer-password.pdf: PermanentError PDF_ENCRYPTED', async (t) => {
    await rejectsWith(t, engine().extract({ path: fixture('pdf/libreoffice-writer-password.pdf'), contentType: 'application/pdf' }), PermanentError, 'PDF_ENCRYPTED', /password/);
  });

  test('unreadablemetadata.pdf: a clear INPUT_CORRUPT (its page tree is gone: poppler and qpdf find no page content)', async (t) => {
    await rejectsWith(t, engine().extract({ path: fixture('pdf/unreadablemetadata.pdf'), contentType: 'application/pdf' }), PermanentError, 'INPUT_CORRUPT', /damaged/);
  });

  test('truncated and garbage PDFs: PermanentError INPUT_CORRUPT', async (t) => {
    const truncated = join(work, 'truncated.pdf');
    await writeFile(truncated, (await readFile(fixture('pdf/pdflatex-4-pages.pdf'))).subarray(0, 5000));
    await rejectsWith(t, engine().extract({ path: truncated, contentType: 'application/pdf' }), PermanentError, 'INPUT_CORRUPT');
    const garbage = join(work, 'garbage.pdf');
    await writeFile(garbage, Buffer.from('%PDF-1.7\n' + 'this is not a pdf body\n'.repeat(50)));
    await rejectsWith(t, engine().extract({ path: garbage, contentType: 'application/pdf' }), PermanentError, 'INPUT_CORRUPT');
    const empty = join(work, 'empty.pdf');
    await writeFile(empty, '');
    await rejectsWith(t, engine().extract({ path: empty, contentType: 'application/pdf' }), PermanentError, 'INPUT_CORRUPT', /empty/);
  });

  test('maxPages: PermanentError TOO_MANY_PAGES before any page is read', async (t) => {
    let progressed = false;
    const promise = engine({ maxPages: 3 }).extract({ path: fixture('pdf/pdflatex-4-pages.pdf'), contentType: 'application/pdf' }, { onProgress: () => void (progressed = true) });
    await rejectsWith(t, promise, PermanentError, 'TOO_MANY_PAGES');
    assert.equal(progressed, false);
  });
});

describe('failures worth retrying', () => {
  test('abort mid-document: TransientError, the running child is killed, temp files removed', async (t) => {
    const controller = new AbortController();
    const started = performance.now();
    const promise = engine().extract(
      { path: fixture('pdf/imagemagick-images.pdf'), contentType: 'application/pdf' },
      { signal: controller.signal, onProgress: ({ pagesDone }) => void (pagesDone === 1 && controller.abort(new Error('deadline'))) },
    );
    await rejectsWith(t, promise, TransientError, 'ENGINE_FAILED', /aborted: deadline/);
    t.diagnostic(`aborted after ${(performance.now() - started).toFixed(0)} ms`);
    const already = AbortSignal.abort();
    await rejectsWith(t, engine().extract({ path: fixture('ocr/phototest.tif'), contentType: 'image/tiff' }, { signal: already }), TransientError, 'ENGINE_FAILED', /aborted/);
  });

  test('abort while tesseract runs kills it promptly', async (t) => {
    const controller = new AbortController();
    const started = performance.now();
    setTimeout(() => controller.abort(), 150);
    await rejectsWith(t, engine().extract({ path: fixture('ocr/8087_054.3B.tif'), contentType: 'image/tiff' }, { signal: controller.signal }), TransientError, 'ENGINE_FAILED');
    const ms = performance.now() - started;
    t.diagnostic(`settled ${ms.toFixed(0)} ms after start (abort at 150 ms; the page takes ~2 s)`);
    assert.ok(ms < 1500);
  });

  test('an error thrown by onProgress reaches the caller unchanged', async () => {
    const mine = new Error('progress write failed');
    await assert.rejects(
      engine().extract({ path: fixture('pdf/pdflatex-4-pages.pdf'), contentType: 'application/pdf' }, { onProgress: () => Promise.reject(mine) }),
      (err: unknown) => err === mine,
    );
    assert.deepEqual(await readdir(engineTmp), []);
  });

  test('a page over pageTimeoutMs: TransientError', async (t) => {
    await rejectsWith(t, engine({ pageTimeoutMs: 1 }).extract({ path: fixture('ocr/phototest.tif'), contentType: 'image/tiff' }), TransientError, 'ENGINE_FAILED', /timed out/);
  });

  test('a missing binary: TransientError ENGINE_UNAVAILABLE', async (t) => {
    const path = process.env.PATH;
    process.env.PATH = join(work, 'no-such-dir');
    try {
      await rejectsWith(t, engine().extract({ path: fixture('pdf/pdflatex-4-pages.pdf'), contentType: 'application/pdf' }), TransientError, 'ENGINE_UNAVAILABLE', /pdfinfo/);
    } finally {
      process.env.PATH = path;
    }
  });

  test('an unsupported content type: PermanentError UNSUPPORTED_CONTENT_TYPE', async (t) => {
    const input = { path: fixture('ocr/phototest.tif'), contentType: 'text/plain' as OcrContentType };
    await rejectsWith(t, engine().extract(input), PermanentError, 'UNSUPPORTED_CONTENT_TYPE');
  });
});

/**
 * A one-page PDF whose lines are drawn glyph by glyph, left to right, as a shaping engine places
 * them: `visual` is each line in visual order. The font is Helvetica with a ToUnicode map sending
 * each byte to one character (so Arabic comes out of poppler as Arabic). A combining mark is drawn
 * at the position of the letter after it (HarfBuzz puts a right-to-left mark before its base).
 */
function visualPdf(lines: readonly string[]): Buffer {
  const chars = [...new Set(lines.flatMap((l) => [...l]))];
  assert.ok(chars.length < 200);
  const code = new Map(chars.map((c, i) => [c, 0x21 + i]));
  const hex = (n: number): string => n.toString(16).toUpperCase().padStart(2, '0');
  const utf16 = (c: string): string => Buffer.from(c, 'utf16le').swap16().toString('hex').toUpperCase();
  const cmap = `/CIDInit /ProcSet findresource begin 12 dict begin begincmap /CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def /CMapName /Visual def /CMapType 2 def 1 begincodespacerange <00> <FF> endcodespacerange ${chars.length} beginbfchar\n${chars.map((c) => `<${hex(code.get(c) ?? 0)}> <${utf16(c)}>`).join('\n')}\nendbfchar endcmap CMapName currentdict /CMap defineresource pop end end`;
  let content = 'BT /F1 12 Tf\n';
  lines.forEach((line, n) => {
    let x = 72;
    for (const c of line) {
      content += `1 0 0 1 ${x} ${700 - n * 20} Tm <${hex(code.get(c) ?? 0)}> Tj\n`;
      if (!/\p{M}/u.test(c)) x += c === ' ' ? 4 : 7;
    }
  });
  content += 'ET';
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>',
    `<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /FirstChar 33 /LastChar ${0x21 + chars.length - 1} /Widths [${chars.map((c) => (/\p{M}/u.test(c) ? 0 : 600)).join(' ')}] /ToUnicode 6 0 R >>`,
    `<< /Length ${Buffer.byteLength(content, 'latin1')} >>\nstream\n${content}\nendstream`,
    `<< /Length ${cmap.length} >>\nstream\n${cmap}\nendstream`,
  ];
  let out = '%PDF-1.4\n';
  const offsets: number[] = [];
  objects.forEach((o, i) => {
    offsets.push(out.length);
    out += `${i + 1} 0 obj\n${o}\nendobj\n`;
  });
  const xref = out.length;
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n${offsets.map((o) => `${String(o).padStart(10, '0')} 00000 n \n`).join('')}`;
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, 'latin1');
}

/** Code points reversed, except that a combining mark is put before its base (HarfBuzz's right-to-left order). */
const reversed = (s: string): string => [...s.replace(/(\P{M})(\p{M}+)/gu, '$2$1')].reverse().join('');
/** Diacritics and letter variants folded (hamza forms, alef maqsura, ta marbuta): what Arabic search folds too. */
const foldArabic = (s: string): string =>
  s
    .normalize('NFKC')
    .replace(/[\u064B-\u065F\u0670\u0640]/g, '')
    .replace(/[أإآٱ]/g, 'ا')
    .replace(/ى/g, 'ي')
    .replace(/ة/g, 'ه')
    .replace(/ؤ/g, 'و')
    .replace(/ئ/g, 'ي');
const HABIBI = '\u062D\u064E\u0628\u064A\u0628\u064A'; // حَبيبي: ح, fatha, ب, ي, ب, ي

describe('right-to-left text layers', () => {
  test('habibi-rotated.pdf: pdftotext gives the word reversed inside bidi marks; the engine stores it in logical order', async (t) => {
    const raw = execFileSync('pdftotext', ['-f', '1', '-l', '1', fixture('pdf/habibi-rotated.pdf'), '-'], { encoding: 'utf8' });
    assert.ok(raw.includes('\u202B'), 'poppler marks the right-to-left run');
    assert.ok(raw.includes('\u064A\u0628\u064A\u0628\u064E\u062D'), 'the letters come out reversed (ي ب ي ب, fatha, ح)');
    const { result } = await run(t, fixture('pdf/habibi-rotated.pdf'), 'application/pdf');
    assert.equal(result.pageCount, 4);
    assert.equal(result.language, 'arb');
    for (const page of result.pages) {
      t.diagnostic(`page ${page.pageNumber}: ${JSON.stringify(page.text)}`);
      assert.equal(page.method, 'text-layer');
      assert.ok(!/[\u202A-\u202E]/.test(page.text), 'no bidi controls stored');
      assert.ok(page.text.includes(HABIBI), `logical حَبيبي on page ${page.pageNumber}`);
      assert.ok(page.text.includes(`${HABIBI} habibi`), 'the Latin word after it, as in habibi.html');
      assert.ok(foldArabic(page.text).includes('حبيبي'));
      assert.ok(!page.text.includes('يبيب'), 'nothing reversed left');
    }
  });

  test('a born-digital Arabic page (one glyph per letter, drawn in visual order): logical lines, the space beside a number on the right side, marks after their letters', async (t) => {
    const logical = ['كتب الطالب 25 درسًا.', 'The word حَبيبي means darling.', 'مرحبا بالعالم', 'رقم الهاتف 1,250.75 في ISO 9001 الآن'];
    // Visual order of each line as a renderer draws it: right-to-left runs reversed, left-to-right runs kept.
    const visual = [
      `.${reversed('درسًا')} 25 ${reversed('الطالب')} ${reversed('كتب')}`,
      `The word ${reversed('حَبيبي')} means darling.`,
      `${reversed('بالعالم')} ${reversed('مرحبا')}`,
      `${reversed('الآن')} ISO 9001 ${reversed('في')} 1,250.75 ${reversed('الهاتف')} ${reversed('رقم')}`,
    ];
    const path = join(work, 'visual-arabic.pdf');
    await writeFile(path, visualPdf(visual));
    const raw = execFileSync('pdftotext', [path, '-'], { encoding: 'utf8' });
    t.diagnostic(`pdftotext: ${JSON.stringify(raw)}`);
    const { result } = await run(t, path, 'application/pdf');
    const lines = (result.pages[0]?.text ?? '').split('\n').filter((l) => l.trim().length > 0);
    t.diagnostic(`stored: ${JSON.stringify(lines)}`);
    assert.deepEqual(lines, logical);
    assert.equal(result.language, 'arb');
  });

  test('an English page with an Arabic phrase keeps its English order and reads the phrase in logical order', async (t) => {
    const path = join(work, 'visual-mixed.pdf');
    await writeFile(path, visualPdf([`One Arabic phrase: ${reversed('مرحبا بالعالم')} and more.`, 'Another English line, long enough to be the page majority.']));
    const { result } = await run(t, path, 'application/pdf');
    assert.equal(result.pages[0]?.text, 'One Arabic phrase: مرحبا بالعالم and more.\nAnother English line, long enough to be the page majority.');
  });

  test('restoreLogicalOrder and popplerVisual on poppler output strings', () => {
    // The exact inverse of poppler's reorderText.
    assert.equal(popplerVisual('\u202B\u202A habibi\u202Cيبيبَح\u202C'), `${[...'يبيبَح'].reverse().join('')} habibi`);
    assert.equal(popplerVisual('abc \u202Bدج\u202C def'), 'abc جد def');
    // Multi-character glyph mappings (habibi-rotated.pdf) stay as they are.
    assert.equal(restoreLogicalOrder('\u202B يبيبَح\u202C\n\n\u202B\u202A habibi\u202Cيبيبَح\u202C', [`${HABIBI} habibi`, HABIBI]), `${HABIBI}\n\n${HABIBI} habibi`);
    // Without that evidence, poppler's own order is trusted (it is right for one glyph per letter).
    assert.equal(restoreLogicalOrder('\u202Bكتب\u202C'), 'كتب');
    // A mark poppler printed before its letter goes back after it.
    assert.equal(restoreLogicalOrder('\u202Bدرًسا\u202C'), 'درسًا');
    // Text without bidi controls is left alone, and so are lines without them.
    assert.equal(restoreLogicalOrder('plain\ntext  '), 'plain\ntext  ');
  });
});

describe('OCR languages', () => {
  const choices = (): { list: PageLanguageChoice[]; onPageLanguages: (c: PageLanguageChoice) => void } => {
    const list: PageLanguageChoice[] = [];
    return { list, onPageLanguages: (c) => void list.push(c) };
  };
  const arabicRecall = (expected: string, actual: string): number => wordRecall(foldArabic(expected), foldArabic(actual));

  test('habibi-scan.png (one line, Arabic and Latin): read with eng+ara by default, and by OSD, which cannot classify it', async (t) => {
    const expected = await readFile(fixture('ocr/habibi-scan.txt'), 'utf8');
    for (const scriptDetection of ['auto', 'osd'] as const) {
      const seen = choices();
      const { result } = await run(t, fixture('ocr/habibi-scan.png'), 'image/png', { scriptDetection, onPageLanguages: seen.onPageLanguages });
      const recall = arabicRecall(expected, text(result));
      t.diagnostic(`${scriptDetection}: ${JSON.stringify(seen.list)}; text ${JSON.stringify(text(result))}; recall after folding ${recall.toFixed(3)}`);
      assert.deepEqual(seen.list.map((c) => [c.languages, c.reason, c.script]), [['eng+ara', 'mixed', undefined]]);
      assert.equal(recall, 1);
      assert.ok(!/[\u200E\u200F]/.test(text(result)), 'no direction marks stored');
    }
    // English alone reads only the Latin word, Arabic alone only the Arabic one.
    for (const [hint, want] of [
      ['eng', 0.5],
      ['ara', 0.5],
    ] as const) {
      const r = await engine().extract({ path: fixture('ocr/habibi-scan.png'), contentType: 'image/png', languages: [hint] });
      const recall = arabicRecall(expected, text(r));
      t.diagnostic(`${hint} only: recall ${recall.toFixed(3)}`);
      assert.equal(recall, want);
    }
  });

  test('a full Arabic page: read as Arabic by default (eng+ara) and with OSD (script Arabic: ara+eng)', async (t) => {
    const expected = await readFile(fixture('ocr/arabic-library-page.txt'), 'utf8');
    for (const [scriptDetection, languages, reason] of [
      ['auto', 'eng+ara', 'mixed'],
      ['osd', 'ara+eng', 'script'],
    ] as const) {
      const seen = choices();
      const { result } = await run(t, fixture('ocr/arabic-library-page.png'), 'image/png', { scriptDetection, onPageLanguages: seen.onPageLanguages });
      const recall = arabicRecall(expected, text(result));
      t.diagnostic(`${scriptDetection}: ${JSON.stringify(seen.list)}; recall ${wordRecall(expected, text(result)).toFixed(3)} exact, ${recall.toFixed(3)} after folding`);
      assert.equal(seen.list[0]?.languages, languages);
      assert.equal(seen.list[0]?.reason, reason);
      if (scriptDetection === 'osd') assert.equal(seen.list[0]?.script, 'Arabic');
      assert.ok(recall >= 0.8, `recall ${recall}`);
      assert.equal(result.language, 'arb');
      assert.ok(text(result).startsWith('تقع المكتبة'), 'first words in logical order');
    }
  });

  test('a Latin page: eng+ara by default, eng after OSD; hints win without detection', async (t) => {
    for (const [scriptDetection, want] of [
      ['auto', ['eng+ara', 'mixed', undefined]],
      ['osd', ['eng', 'script', 'Latin']],
    ] as const) {
      const seen = choices();
      const { result } = await run(t, fixture('ocr/phototest.tif'), 'image/tiff', { scriptDetection, onPageLanguages: seen.onPageLanguages });
      assert.deepEqual(seen.list.map((c) => [c.languages, c.reason, c.script]), [want]);
      assert.ok(wordRecall(phototestText, text(result)) >= 0.95);
    }
    const hinted = choices();
    const result = await engine({ scriptDetection: 'osd', onPageLanguages: hinted.onPageLanguages }).extract({ path: fixture('ocr/phototest.tif'), contentType: 'image/tiff', languages: ['eng', 'deu'] });
    assert.deepEqual(hinted.list, [{ pageNumber: 1, languages: 'eng+deu', reason: 'hint' }]);
    assert.ok(wordRecall(phototestText, text(result)) >= 0.95);
  });

  test('chooseForScript and parseOsd', () => {
    const plan = { defaults: ['eng'], installed: new Set(['eng', 'osd', 'ara', 'deu', 'rus']), others: ['ara', 'rus'] };
    assert.deepEqual(chooseForScript(plan, { script: 'Arabic', confidence: 85.8 }), { languages: 'ara+eng', reason: 'script' });
    assert.deepEqual(chooseForScript(plan, { script: 'Latin', confidence: 3.4 }), { languages: 'eng', reason: 'script' });
    assert.deepEqual(chooseForScript(plan, { script: 'Cyrillic', confidence: 20 }), { languages: 'rus+eng', reason: 'script' });
    assert.deepEqual(chooseForScript(plan, { script: 'Han', confidence: 20 }), { languages: 'eng+ara+rus', reason: 'mixed' });
    assert.deepEqual(chooseForScript(plan, { script: 'Latin', confidence: 1.67 }), { languages: 'eng+ara+rus', reason: 'mixed' });
    assert.deepEqual(chooseForScript(plan, undefined), { languages: 'eng+ara+rus', reason: 'mixed' });
    assert.deepEqual(parseOsd('Page number: 0\nOrientation in degrees: 0\nRotate: 0\nOrientation confidence: 16.37\nScript: Arabic\nScript confidence: 85.83\n'), { script: 'Arabic', confidence: 85.83 });
    assert.equal(parseOsd('Too few characters. Skipping this page\n'), undefined);
  });
});

describe('detectLanguage', () => {
  test('English, German, and too little to tell', async () => {
    assert.equal(detectLanguage(phototestText), 'eng');
    assert.equal(detectLanguage('Die Kugeloberfläche lässt sich durch Strecken, Stauchen und Verbiegen in die Oberfläche eines Würfels verwandeln.'), 'deu');
    const geo = execFileSync('pdftotext', ['-f', '2', '-l', '2', fixture('pdf/GeoTopo-komprimiert.pdf'), '-'], { encoding: 'utf8' });
    assert.equal(detectLanguage(geo), 'deu');
    assert.equal(detectLanguage(await readFile(fixture('ocr/8087_054.3B.txt'), 'utf8')), 'eng');
    assert.equal(detectLanguage(''), 'und');
    assert.equal(detectLanguage('Hello world'), 'und');
    assert.equal(detectLanguage('12345 67890 12345 67890 12345 67890'), 'und');
  });
});

describe('wordRecall', () => {
  test('multiset recall, ignoring case, punctuation and layout', () => {
    assert.equal(wordRecall('The quick fox.', 'the\nQUICK, fox'), 1);
    assert.equal(wordRecall('a a b', 'a b'), 2 / 3);
    assert.equal(wordRecall('a b', 'b a a a'), 1);
    assert.equal(wordRecall('', 'anything'), 1);
    assert.equal(wordRecall('word', ''), 0);
  });
});
