/**
 * The `google` OCR engine with the real Document AI client library over real gRPC, against the
 * local server in scripts/fakes/fake-documentai.ts (no network, no credentials). The fake decodes
 * what the client sends with the service's own protos, so these tests see the request as Google
 * would: processor name, MIME type, bytes, options, routing header.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

import { status } from '@grpc/grpc-js';
import { PDFArray, PDFDict, PDFDocument, PDFName, PDFNull, StandardFonts } from 'pdf-lib';

import { ConfigError, parseConfig } from '../../shared/config/index.js';
import { PermanentError, TransientError, isRetryable } from '../../shared/errors/index.js';
import { createGoogleOcrEngine } from '../../shared/engines/ocr/google.js';
import type { GoogleOcrEngine, GoogleOcrEngineOptions } from '../../shared/engines/ocr/google.js';
import { createOcrEngine } from '../../shared/engines/ocr/index.js';
import type { OcrContentType, OcrEngine, OcrProgress } from '../../shared/engines/ocr/types.js';
import { FAKE_PROCESSOR, respondNever, respondWithError, respondWithPages, startFakeDocumentAi, textFromInput } from '../../scripts/fakes/fake-documentai.js';
import type { FakeDocumentAi, Responder } from '../../scripts/fakes/fake-documentai.js';
import { wordRecall } from '../helpers/text-metrics.js';
import { FIXTURES, REPO_ROOT as ROOT } from '../helpers/paths.js';
import { fastThrottle } from '../helpers/throttle.js';

const FOUR_PAGES = join(FIXTURES, 'pdf/pdflatex-4-pages.pdf');
const ONE_PAGE = join(FIXTURES, 'pdf/minimal-document.pdf');
const PHOTOTEST = join(FIXTURES, 'ocr/phototest.tif');
const GEOTOPO = join(FIXTURES, 'pdf/GeoTopo-komprimiert.pdf');

let fake: FakeDocumentAi;
let work: string;
const engines: GoogleOcrEngine[] = [];

before(async () => {
  fake = await startFakeDocumentAi({ pageLimit: 15 });
  work = await mkdtemp(join(tmpdir(), 'ocr-google-test-'));
});

after(async () => {
  await Promise.all(engines.map((e) => e.close()));
  await fake.close();
  await rm(work, { recursive: true, force: true });
});

/** Requests seen so far, to count those one test made. */
let seen = 0;
beforeEach(() => {
  seen = fake.requests.length;
  fake.respond = textFromInput;
});
const sent = (): typeof fake.requests => fake.requests.slice(seen);

function engine(options: Partial<GoogleOcrEngineOptions> = {}): GoogleOcrEngine {
  const e = createGoogleOcrEngine({ processor: FAKE_PROCESSOR, apiEndpoint: fake.endpoint, retryDelayMs: 5, throttle: fastThrottle(), ...options });
  engines.push(e);
  return e;
}

async function extract(e: OcrEngine, path: string, contentType: OcrContentType = 'application/pdf', languages?: string[]) {
  const progress: OcrProgress[] = [];
  const result = await e.extract({ path, contentType, ...(languages ? { languages } : {}) }, { onProgress: (p) => void progress.push(p) });
  return { result, progress };
}

/** Page `n` of a PDF as pdftotext reads it, the text the fake's default answer is made of. */
function pdfPageText(path: string, n: number): string {
  return execFileSync('pdftotext', ['-enc', 'UTF-8', '-f', String(n), '-l', String(n), path, '-'], { encoding: 'utf8' });
}

/** Every page of a PDF as pdftotext reads it, in one run. */
function pdfPageTexts(path: string): string[] {
  const pages = execFileSync('pdftotext', ['-enc', 'UTF-8', path, '-'], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }).split('\f');
  if (pages.at(-1)?.trim() === '') pages.pop();
  return pages;
}

/** Page count of a PDF the engine sent, read by poppler (not by the pdf-lib that wrote it). */
function pdfPageCount(bytes: Buffer, name: string): number {
  const file = join(work, name);
  writeFileSync(file, bytes);
  const pages = /^Pages:\s+(\d+)/m.exec(execFileSync('pdfinfo', [file], { encoding: 'utf8' }))?.[1];
  assert.ok(pages, `pdfinfo found no page count in ${name}`);
  return Number(pages);
}

const sameWords = (text: string): string => text.replace(/\s+/g, ' ').trim();

describe('request', () => {
  test('names the processor, declares the MIME type and sends the file byte for byte', async () => {
    const { result } = await extract(engine(), FOUR_PAGES);
    const [request, ...more] = sent();
    assert.ok(request);
    assert.equal(more.length, 0, 'a 4-page PDF is one request');
    assert.equal(request.name, FAKE_PROCESSOR);
    assert.equal(request.mimeType, 'application/pdf');
    assert.ok(request.content.equals(await readFile(FOUR_PAGES)), 'the bytes are the file, unchanged');
    assert.equal(request.pageSelection, undefined);
    assert.equal(request.nativePdfParsing, true);
    assert.deepEqual(request.languageHints, []);
    assert.deepEqual(request.fieldMask, ['text', 'pages.pageNumber', 'pages.layout', 'pages.detectedLanguages']);
    // The generated client's routing header, which Google's front ends route regional calls by.
    assert.equal(request.metadata['x-goog-request-params'], `name=${encodeURIComponent(FAKE_PROCESSOR)}`);
    assert.equal(request.metadata.authorization, undefined, 'no credentials go to a loopback endpoint');
    assert.equal(result.engine, 'google');
    assert.equal(result.pageCount, 4);
    assert.deepEqual(
      result.pages.map((p) => p.pageNumber),
      [1, 2, 3, 4],
    );
    for (const page of result.pages) {
      assert.equal(page.method, 'ocr');
      assert.equal(page.text, pdfPageText(FOUR_PAGES, page.pageNumber).trim());
    }
    assert.equal(result.language, 'eng');
    assert.ok(Number.isInteger(result.engineMs) && result.engineMs >= 0);
  });

  test('sends images as they are, with language hints in BCP-47', async () => {
    const expected = await readFile(join(FIXTURES, 'ocr/phototest.txt'), 'utf8');
    const { result, progress } = await extract(engine(), PHOTOTEST, 'image/tiff', ['deu', 'chi_sim', 'klingon']);
    const [request] = sent();
    assert.ok(request);
    assert.equal(request.mimeType, 'image/tiff');
    assert.ok(request.content.equals(await readFile(PHOTOTEST)));
    assert.deepEqual(request.languageHints, ['de', 'zh-Hans'], 'tesseract codes mapped, unknown ones dropped');
    assert.equal(request.nativePdfParsing, false, 'native PDF parsing is only asked for PDFs');
    assert.equal(result.pageCount, 1);
    assert.ok(wordRecall(expected, result.pages[0]?.text ?? '') > 0.9);
    assert.deepEqual(progress, [{ pagesDone: 1, pageCount: 1 }]);
  });
});

describe('response mapping', () => {
  const german = 'Die Würde des Menschen ist unantastbar. Sie zu achten und zu schützen ist Verpflichtung aller staatlichen Gewalt.';

  test('page text from text anchors; rotation, confidence and language from the layout', async () => {
    fake.respond = respondWithPages([
      { text: `${german}\n\nZweiter Absatz.`, orientation: 'PAGE_RIGHT', confidence: 0.873, languages: [{ code: 'de-DE', confidence: 0.98 }] },
      // Characters outside the BMP: Document AI counts code points, JavaScript UTF-16 units.
      { text: '𝔉𝔯𝔞𝔨𝔱𝔲𝔯 😀 and the rest', orientation: 'PAGE_DOWN', languages: [{ code: 'en', confidence: 0.6 }] },
      { text: 'Dritte Seite, Text nach den Emojis.', orientation: 'PAGE_LEFT', confidence: 0.5, languages: [{ code: 'de', confidence: 0.9 }] },
      { text: '' },
    ]);
    const { result } = await extract(engine(), FOUR_PAGES);
    assert.deepEqual(
      result.pages.map((p) => p.text),
      [`${german}\n\nZweiter Absatz.`, '𝔉𝔯𝔞𝔨𝔱𝔲𝔯 😀 and the rest', 'Dritte Seite, Text nach den Emojis.', ''],
    );
    assert.deepEqual(
      result.pages.map((p) => p.rotation),
      [90, 180, 270, 0],
    );
    assert.deepEqual(
      result.pages.map((p) => p.confidence),
      [0.87, 0.95, 0.5, 0.95],
    );
    assert.equal(result.language, 'deu', 'the language with the most text wins');
  });

  test('falls back to detecting the language when the service names none it knows', async () => {
    const english = 'This is a fairly ordinary English sentence, long enough for trigram statistics to work.';
    fake.respond = respondWithPages([{ text: english, languages: [{ code: 'x-unknown', confidence: 1 }] }]);
    const { result } = await extract(engine(), ONE_PAGE);
    assert.equal(result.language, 'eng');
  });

  test('a page the service leaves out comes back empty, keeping later page numbers', async () => {
    // A single-page answer for a 4-page document.
    fake.respond = respondWithPages([{ text: 'only one' }]);
    const { result } = await extract(engine(), FOUR_PAGES);
    assert.deepEqual(
      result.pages.map((p) => [p.pageNumber, p.text]),
      [
        [1, 'only one'],
        [2, ''],
        [3, ''],
        [4, ''],
      ],
    );
  });
});

describe('chunking', () => {
  test('splits a PDF into page ranges, one request each, with progress after each', async () => {
    const { result, progress } = await extract(engine({ maxPagesPerRequest: 2 }), FOUR_PAGES);
    const requests = sent();
    assert.equal(requests.length, 2);
    assert.deepEqual(
      requests.map((r, i) => pdfPageCount(r.content, `chunk-${i}.pdf`)),
      [2, 2],
    );
    assert.deepEqual(progress, [
      { pagesDone: 2, pageCount: 4 },
      { pagesDone: 4, pageCount: 4 },
    ]);
    // Page 3 is the first page of the second chunk: its text must be the original page 3's.
    for (const page of result.pages) assert.equal(page.text, pdfPageText(FOUR_PAGES, page.pageNumber).trim(), `page ${page.pageNumber}`);
  });

  test('an uneven split', async () => {
    const { progress } = await extract(engine({ maxPagesPerRequest: 3 }), FOUR_PAGES);
    assert.equal(sent().length, 2);
    assert.deepEqual(progress, [
      { pagesDone: 3, pageCount: 4 },
      { pagesDone: 4, pageCount: 4 },
    ]);
  });

  test('halves chunks that are over the byte limit', async () => {
    const limit = 22_000; // the file is ~24 kB, each page alone ~21 kB (fonts are embedded in every chunk)
    const { result, progress } = await extract(engine({ maxPagesPerRequest: 4, maxRequestBytes: limit }), FOUR_PAGES);
    const requests = sent();
    assert.ok(requests.length >= 3, `${requests.length} requests`);
    for (const r of requests) assert.ok(r.content.length <= limit, `a ${r.content.length}-byte request`);
    assert.equal(progress.at(-1)?.pagesDone, 4);
    for (const page of result.pages) assert.equal(page.text, pdfPageText(FOUR_PAGES, page.pageNumber).trim());
  });

  test('a page alone over the byte limit fails before any request', async () => {
    await assert.rejects(extract(engine({ maxRequestBytes: 10_000 }), FOUR_PAGES), (err) => err instanceof PermanentError && err.code === 'INPUT_TOO_LARGE');
    assert.equal(sent().length, 0);
  });

  test('more pages than maxPages fail before any request', async () => {
    await assert.rejects(extract(engine({ maxPages: 3 }), FOUR_PAGES), (err) => err instanceof PermanentError && err.code === 'TOO_MANY_PAGES');
    assert.equal(sent().length, 0);
  });
});

describe('fixture PDFs', () => {
  const manifest = (JSON.parse(readFileSync(join(FIXTURES, 'pdf/files.json'), 'utf8')) as { data: { path: string; pages: number; encrypted: boolean }[] }).data;
  const known = new Map(manifest.map((entry) => [entry.path.split('/').at(-1) ?? '', entry]));
  const files = readdirSync(join(FIXTURES, 'pdf')).filter((name) => name.endsWith('.pdf'));

  test('every fixture is listed in files.json', () => {
    assert.ok(files.length >= 10);
    for (const name of files) assert.ok(known.has(name), name);
  });

  for (const name of files) {
    const entry = known.get(name);
    const path = join(FIXTURES, 'pdf', name);
    if (entry?.encrypted) {
      test(`${name}: encrypted → PDF_ENCRYPTED, nothing sent`, async () => {
        await assert.rejects(extract(engine(), path), (err) => err instanceof PermanentError && err.code === 'PDF_ENCRYPTED' && /encrypted/.test(err.message));
        assert.equal(sent().length, 0);
      });
    } else if (name === 'unreadablemetadata.pdf') {
      // files.json says 4 pages, but the object the page tree hangs off is damaged (poppler reports
      // "Top-level pages object is wrong type (null)" and finds no page content; pdf-lib stops at it).
      test(`${name}: a clear INPUT_CORRUPT, nothing sent`, async () => {
        await assert.rejects(extract(engine(), path), (err) => err instanceof PermanentError && err.code === 'INPUT_CORRUPT' && /the PDF cannot be read: Failed to parse/.test(err.message));
        assert.equal(sent().length, 0);
      });
    } else {
      test(`${name}: ${entry?.pages ?? '?'} pages, as files.json says`, async () => {
        assert.ok(entry);
        const { result, progress } = await extract(engine(), path);
        assert.equal(result.pageCount, entry.pages);
        assert.deepEqual(
          result.pages.map((p) => p.pageNumber),
          Array.from({ length: entry.pages }, (_, i) => i + 1),
        );
        const requests = sent();
        assert.equal(requests.length, Math.ceil(entry.pages / 15));
        const counts = requests.map((r, i) => pdfPageCount(r.content, `${name}-${i}.pdf`));
        assert.equal(
          counts.reduce((a, b) => a + b, 0),
          entry.pages,
          'the service counts the same pages',
        );
        for (const count of counts) assert.ok(count <= 15);
        if (requests.length === 1) assert.ok(requests[0]?.content.equals(await readFile(path)), 'within the limits: the file byte for byte');
        assert.equal(progress.at(-1)?.pagesDone, entry.pages);
      });
    }
  }

  test('GeoTopo-komprimiert.pdf (117 pages): 8 chunks of at most 15 pages, each page with its own text', async () => {
    const { result, progress } = await extract(engine(), GEOTOPO);
    const requests = sent();
    assert.deepEqual(
      requests.map((r, i) => pdfPageCount(r.content, `geotopo-${i}.pdf`)),
      [15, 15, 15, 15, 15, 15, 15, 12],
    );
    assert.deepEqual(
      progress.map((p) => p.pagesDone),
      [15, 30, 45, 60, 75, 90, 105, 117],
    );
    assert.ok(progress.every((p) => p.pageCount === 117));
    const total = (await readFile(GEOTOPO)).length;
    const sizes = requests.map((r) => r.content.length);
    // Shared fonts go into every chunk, so the chunks add up to more than the file, but each one
    // carries its own pages, not the document.
    for (const size of sizes) assert.ok(size < total / 2, `a ${size}-byte chunk of a ${total}-byte file`);
    const expected = pdfPageTexts(GEOTOPO);
    assert.equal(expected.length, 117);
    assert.equal(result.pageCount, 117);
    for (const page of result.pages) assert.equal(sameWords(page.text), sameWords(expected[page.pageNumber - 1] ?? ''), `page ${page.pageNumber}`);
  });

  test('links between pages do not drag other pages into a chunk', async () => {
    // 30 pages of incompressible text, each linking to the next (and the last to the first):
    // copying the link targets along would put the whole document into every chunk.
    const doc = await PDFDocument.create();
    const font = await doc.embedFont(StandardFonts.Courier);
    const pages = Array.from({ length: 30 }, (_, i) => {
      const page = doc.addPage([595, 842]);
      const noise = Array.from({ length: 6000 }, (_, j) => String.fromCharCode(33 + ((i * 7919 + j * j * 31) % 89))).join('');
      page.drawText(`Page ${i + 1} ${noise}`, { x: 20, y: 800, size: 5, font, maxWidth: 555, lineHeight: 6 });
      return page;
    });
    pages.forEach((page, i) => {
      const next = pages[(i + 1) % pages.length];
      assert.ok(next);
      const link = doc.context.register(doc.context.obj({ Type: 'Annot', Subtype: 'Link', Rect: [0, 0, 100, 100], Border: [0, 0, 0], P: page.ref, Dest: [next.ref, 'Fit'] }));
      page.node.set(PDFName.of('Annots'), doc.context.obj([link]));
    });
    const file = join(work, 'linked.pdf');
    const bytes = await doc.save();
    await writeFile(file, bytes);
    fake.respond = respondWithPages([]);
    const { result } = await extract(engine({ maxPagesPerRequest: 5 }), file);
    assert.equal(result.pageCount, 30);
    const requests = sent();
    assert.equal(requests.length, 6);
    for (const r of requests) assert.ok(r.content.length < bytes.length / 4, `a ${r.content.length}-byte chunk of a ${bytes.length}-byte file`);
    // In a chunk, a link to a page of the chunk still leads there; one to a page outside is null.
    const chunk = await PDFDocument.load(requests[1]?.content ?? Buffer.alloc(0));
    const chunkPages = chunk.getPages();
    assert.equal(chunkPages.length, 5);
    chunkPages.forEach((page, i) => {
      const annots = page.node.lookup(PDFName.of('Annots'), PDFArray);
      const link = annots.lookup(0, PDFDict);
      assert.equal(link.get(PDFName.of('P')), page.ref, 'the link names its own page');
      const dest = link.lookup(PDFName.of('Dest'), PDFArray).get(0);
      assert.equal(dest, i < 4 ? chunkPages[i + 1]?.ref : PDFNull, `page ${i + 1} of the chunk`);
    });
  });
});

describe('no binaries', () => {
  test('the engine counts and splits PDFs with PATH pointing at an empty directory', async () => {
    const empty = join(work, 'empty-bin');
    await mkdir(empty, { recursive: true });
    const google = pathToFileURL(join(ROOT, 'shared/engines/ocr/google.ts')).href;
    // Runs in a child process: this process's fake needs pdftotext and pdfinfo on its own PATH.
    const script = `
      import { spawnSync } from 'node:child_process';
      import { createGoogleOcrEngine } from ${JSON.stringify(google)};
      const engine = createGoogleOcrEngine({ processor: ${JSON.stringify(FAKE_PROCESSOR)}, apiEndpoint: ${JSON.stringify(fake.endpoint)}, maxPagesPerRequest: 2 });
      try {
        const progress = [];
        const result = await engine.extract({ path: ${JSON.stringify(FOUR_PAGES)}, contentType: 'application/pdf' }, { onProgress: (p) => void progress.push(p.pagesDone) });
        const qpdf = spawnSync('qpdf', ['--version']).error?.code ?? 'found';
        console.log(JSON.stringify({ pageCount: result.pageCount, texts: result.pages.map((p) => p.text), progress, qpdf }));
      } finally {
        await engine.close();
      }
    `;
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '--eval', script], {
      cwd: ROOT,
      env: { ...process.env, PATH: empty },
      timeout: 60_000,
    });
    const out = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as { pageCount: number; texts: string[]; progress: number[]; qpdf: string };
    assert.equal(out.qpdf, 'ENOENT', 'the child really has no binaries on its PATH');
    assert.equal(out.pageCount, 4);
    assert.deepEqual(out.progress, [2, 4]);
    assert.deepEqual(
      sent().map((r, i) => pdfPageCount(r.content, `nobin-${i}.pdf`)),
      [2, 2],
    );
    out.texts.forEach((text, i) => assert.equal(text, pdfPageText(FOUR_PAGES, i + 1).trim()));
  });
});

describe('errors', () => {
  const cases: { name: string; code: status; message: string; permanent: boolean; expected: string; attempts: number }[] = [
    { name: 'INVALID_ARGUMENT (corrupt)', code: status.INVALID_ARGUMENT, message: 'Unable to process the document: the file is corrupted.', permanent: true, expected: 'INPUT_CORRUPT', attempts: 1 },
    { name: 'INVALID_ARGUMENT (password)', code: status.INVALID_ARGUMENT, message: 'Document is password protected.', permanent: true, expected: 'PDF_ENCRYPTED', attempts: 1 },
    { name: 'INVALID_ARGUMENT (unsupported)', code: status.INVALID_ARGUMENT, message: 'Unsupported input file format.', permanent: true, expected: 'UNSUPPORTED_CONTENT_TYPE', attempts: 1 },
    { name: 'INVALID_ARGUMENT (page limit)', code: status.INVALID_ARGUMENT, message: 'Document pages exceed the limit: 30 got 56', permanent: true, expected: 'TOO_MANY_PAGES', attempts: 1 },
    { name: 'INVALID_ARGUMENT (pixels)', code: status.INVALID_ARGUMENT, message: 'Image width or height exceeds the 10k pixel limit', permanent: true, expected: 'INPUT_TOO_LARGE', attempts: 1 },
    { name: 'NOT_FOUND', code: status.NOT_FOUND, message: 'Processor not found.', permanent: true, expected: 'ENGINE_MISCONFIGURED', attempts: 1 },
    { name: 'PERMISSION_DENIED', code: status.PERMISSION_DENIED, message: "Permission 'documentai.processors.processOnline' denied.", permanent: true, expected: 'ENGINE_MISCONFIGURED', attempts: 1 },
    { name: 'UNAVAILABLE (retried here)', code: status.UNAVAILABLE, message: 'The service is currently unavailable.', permanent: false, expected: 'ENGINE_UNAVAILABLE', attempts: 3 },
    { name: 'RESOURCE_EXHAUSTED (retried by the throttle, then not counted as a failed attempt)', code: status.RESOURCE_EXHAUSTED, message: 'Quota exceeded.', permanent: false, expected: 'ENGINE_THROTTLED', attempts: 3 },
    { name: 'DEADLINE_EXCEEDED (left to the pipeline)', code: status.DEADLINE_EXCEEDED, message: 'Deadline exceeded.', permanent: false, expected: 'ENGINE_UNAVAILABLE', attempts: 1 },
    { name: 'INTERNAL', code: status.INTERNAL, message: 'Internal error.', permanent: false, expected: 'ENGINE_FAILED', attempts: 1 },
  ];
  for (const c of cases) {
    test(`${c.name} → ${c.permanent ? 'permanent' : 'transient'} ${c.expected}`, async () => {
      fake.respond = respondWithError(c.code, c.message);
      await assert.rejects(extract(engine({ retries: 2 }), ONE_PAGE), (err) => {
        assert.ok(c.permanent ? err instanceof PermanentError : err instanceof TransientError, String(err));
        assert.equal((err as PermanentError).code, c.expected);
        assert.equal(isRetryable(err), !c.permanent);
        assert.match((err as Error).message, new RegExp(c.message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
        return true;
      });
      assert.equal(sent().length, c.attempts);
    });
  }

  test('a request refused as UNAVAILABLE once, then answered, succeeds', async () => {
    const flaky: Responder = (request, index) => (index === seen ? { error: { code: status.UNAVAILABLE, message: 'try again' } } : textFromInput(request, index));
    fake.respond = flaky;
    const { result } = await extract(engine(), ONE_PAGE);
    assert.equal(sent().length, 2);
    assert.equal(result.pageCount, 1);
  });

  test('the service refusing a chunk over its page limit → TOO_MANY_PAGES', async () => {
    const strict = await startFakeDocumentAi({ pageLimit: 2 });
    try {
      const e = createGoogleOcrEngine({ processor: FAKE_PROCESSOR, apiEndpoint: strict.endpoint, maxPagesPerRequest: 4 });
      engines.push(e);
      await assert.rejects(e.extract({ path: FOUR_PAGES, contentType: 'application/pdf' }), (err) => err instanceof PermanentError && err.code === 'TOO_MANY_PAGES' && /exceed the limit: 2 got 4/.test(err.message));
    } finally {
      await strict.close();
    }
  });

  test('the service refusing a request over its size limit → INPUT_TOO_LARGE', async () => {
    const strict = await startFakeDocumentAi({ maxBytes: 10_000 });
    try {
      const e = createGoogleOcrEngine({ processor: FAKE_PROCESSOR, apiEndpoint: strict.endpoint });
      engines.push(e);
      await assert.rejects(e.extract({ path: ONE_PAGE, contentType: 'application/pdf' }), (err) => err instanceof PermanentError && err.code === 'INPUT_TOO_LARGE');
    } finally {
      await strict.close();
    }
  });

  test('an unknown processor → ENGINE_MISCONFIGURED (the fake knows one processor)', async () => {
    const other = 'projects/demo-scriptorium/locations/eu/processors/doesnotexist';
    await assert.rejects(extract(engine({ processor: other }), ONE_PAGE), (err) => err instanceof PermanentError && err.code === 'ENGINE_MISCONFIGURED' && err.message.includes(other));
    assert.equal(sent()[0]?.name, other);
  });

  test('inputs refused locally cost no request', async () => {
    const empty = join(work, 'empty.pdf');
    await writeFile(empty, '');
    const truncated = join(work, 'truncated.pdf');
    await writeFile(truncated, (await readFile(FOUR_PAGES)).subarray(0, 5000));
    const garbage = join(work, 'garbage.pdf');
    await writeFile(garbage, '%PDF-1.7\n' + 'this is not a pdf body\n'.repeat(50));
    const expectations: [string, string, string][] = [
      [join(FIXTURES, 'pdf/libreoffice-writer-password.pdf'), 'application/pdf', 'PDF_ENCRYPTED'],
      [join(FIXTURES, 'pdf/unreadablemetadata.pdf'), 'application/pdf', 'INPUT_CORRUPT'],
      [PHOTOTEST, 'application/pdf', 'INPUT_CORRUPT'],
      [empty, 'application/pdf', 'INPUT_CORRUPT'],
      [truncated, 'application/pdf', 'INPUT_CORRUPT'],
      [garbage, 'application/pdf', 'INPUT_CORRUPT'],
      [ONE_PAGE, 'text/plain', 'UNSUPPORTED_CONTENT_TYPE'],
    ];
    const e = engine();
    for (const [path, contentType, code] of expectations) {
      await assert.rejects(
        e.extract({ path, contentType: contentType as OcrContentType }),
        (err) => err instanceof PermanentError && err.code === code,
        `${path} as ${contentType}`,
      );
    }
    await assert.rejects(e.extract({ path: join(work, 'missing.pdf'), contentType: 'application/pdf' }), (err) => err instanceof TransientError);
    assert.equal(sent().length, 0);
  });

  test("an error thrown by onProgress reaches the caller unchanged", async () => {
    const mine = new Error('the job record is gone');
    await assert.rejects(
      engine().extract(
        { path: ONE_PAGE, contentType: 'application/pdf' },
        {
          onProgress: () => {
            throw mine;
          },
        },
      ),
      (err) => err === mine,
    );
  });
});

describe('abort', () => {
  test('cancels the call in flight', async () => {
    fake.respond = respondNever;
    const controller = new AbortController();
    const cancelledBefore = fake.cancelled;
    const pending = engine().extract({ path: ONE_PAGE, contentType: 'application/pdf' }, { signal: controller.signal });
    await fake.waitForRequests(seen + 1);
    const started = performance.now();
    controller.abort(new Error('function timeout'));
    await assert.rejects(pending, (err) => err instanceof TransientError && err.code === 'ENGINE_FAILED' && /function timeout/.test(err.message));
    assert.ok(performance.now() - started < 1000);
    // The server sees the RPC cancelled (RST_STREAM), not just abandoned.
    for (let i = 0; i < 100 && fake.cancelled === cancelledBefore; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(fake.cancelled, cancelledBefore + 1);
  });

  test('abort between chunks sends no further chunk', async () => {
    const controller = new AbortController();
    const pending = engine({ maxPagesPerRequest: 1 }).extract(
      { path: FOUR_PAGES, contentType: 'application/pdf' },
      { signal: controller.signal, onProgress: () => controller.abort(new Error('shutting down')) },
    );
    await assert.rejects(pending, (err) => err instanceof TransientError && err.code === 'ENGINE_FAILED' && /shutting down/.test(err.message));
    assert.equal(sent().length, 1);
  });

  test('abort while a long PDF is parsed and split', async () => {
    const controller = new AbortController();
    const pending = engine().extract({ path: GEOTOPO, contentType: 'application/pdf' }, { signal: controller.signal });
    setTimeout(() => controller.abort(new Error('function timeout')), 5);
    const started = performance.now();
    await assert.rejects(pending, (err) => err instanceof TransientError && err.code === 'ENGINE_FAILED' && /function timeout/.test(err.message));
    assert.ok(performance.now() - started < 1000);
    assert.equal(sent().length, 0);
  });

  test('an aborted signal sends nothing', async () => {
    await assert.rejects(engine().extract({ path: ONE_PAGE, contentType: 'application/pdf' }, { signal: AbortSignal.abort() }), TransientError);
    assert.equal(sent().length, 0);
  });

  test('abort interrupts a retry backoff', async () => {
    fake.respond = respondWithError(status.UNAVAILABLE, 'busy');
    const controller = new AbortController();
    const pending = engine({ retryDelayMs: 60_000 }).extract({ path: ONE_PAGE, contentType: 'application/pdf' }, { signal: controller.signal });
    await fake.waitForRequests(seen + 1);
    await new Promise((r) => setTimeout(r, 50));
    const started = performance.now();
    controller.abort();
    await assert.rejects(pending, (err) => err instanceof TransientError && err.code === 'ENGINE_FAILED');
    assert.ok(performance.now() - started < 1000);
    assert.equal(sent().length, 1);
  });

  test('a request past its deadline → transient ENGINE_UNAVAILABLE, not retried here', async () => {
    fake.respond = respondNever;
    await assert.rejects(extract(engine({ requestTimeoutMs: 300 }), ONE_PAGE), (err) => err instanceof TransientError && err.code === 'ENGINE_UNAVAILABLE' && /DEADLINE_EXCEEDED/.test(err.message));
    assert.equal(sent().length, 1);
  });
});

describe('engine selection', () => {
  const base = { GOOGLE_CLOUD_PROJECT: 'demo-scriptorium', SCRIPTORIUM_BUCKET: 'demo-scriptorium-documents' };

  test('createOcrEngine returns the google engine, wired to the configured processor and endpoint', async () => {
    const cfg = parseConfig({ ...base, SCRIPTORIUM_OCR_ENGINE: 'google', SCRIPTORIUM_DOCUMENTAI_PROCESSOR: FAKE_PROCESSOR, SCRIPTORIUM_DOCUMENTAI_ENDPOINT: fake.endpoint });
    const e = createOcrEngine(cfg) as GoogleOcrEngine;
    engines.push(e);
    assert.equal(e.name, 'google');
    const result = await e.extract({ path: ONE_PAGE, contentType: 'application/pdf' });
    assert.equal(result.engine, 'google');
    assert.equal(sent()[0]?.name, FAKE_PROCESSOR);
  });

  test('local stays the default', () => {
    assert.equal(createOcrEngine(parseConfig(base)).name, 'local');
  });

  test('google without a processor is a configuration error', () => {
    assert.throws(() => createOcrEngine({ SCRIPTORIUM_OCR_ENGINE: 'google', SCRIPTORIUM_OCR_LANGUAGES: 'eng' }), ConfigError);
    assert.throws(() => createGoogleOcrEngine({ processor: 'my-processor' }), /projects\/\{project\}/);
  });
});
