/**
 * Unit tests of the CLI's pure parts: content types, progress rendering, job views, shell quoting.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { guessContentType, FALLBACK_CONTENT_TYPE } from '../../scripts/cli/content-type.js';
import { ellipsize, formatBytes, formatDuration, percent, renderBar, renderJobProgress, renderUploadDone, renderUploadProgress, LineDrawer } from '../../scripts/cli/progress.js';
import { firestorePlain, formatJob, isTerminalStatus, toDocumentView, toJobView } from '../../scripts/cli/job-view.js';
import { curlPutCommand, shellQuote, shellWord } from '../../scripts/cli/shell.js';
import { buildUploadResult } from '../../scripts/cli/commands/upload.js';
import { splitHostPort, hostUrl } from '../../scripts/cli/session.js';

void describe('guessContentType', () => {
  const cases: [string, string][] = [
    ['a.pdf', 'application/pdf'],
    ['scan.PNG', 'image/png'],
    ['photo.jpg', 'image/jpeg'],
    ['photo.JPEG', 'image/jpeg'],
    ['page.tif', 'image/tiff'],
    ['page.tiff', 'image/tiff'],
    ['anim.gif', 'image/gif'],
    ['old.bmp', 'image/bmp'],
    ['new.webp', 'image/webp'],
    ['speech.wav', 'audio/wav'],
    ['song.mp3', 'audio/mpeg'],
    ['lossless.flac', 'audio/flac'],
    ['vorbis.ogg', 'audio/ogg'],
    ['notes.txt', 'text/plain'],
    ['dir.with.dots/report.final.pdf', 'application/pdf'],
  ];
  for (const [name, type] of cases) void it(`${name} → ${type}`, () => assert.equal(guessContentType(name), type));

  void it('falls back to application/octet-stream', () => {
    assert.equal(FALLBACK_CONTENT_TYPE, 'application/octet-stream');
    for (const name of ['archive.zip', 'README', '.pdf', 'x.pdf.gz', 'noext.']) assert.equal(guessContentType(name), 'application/octet-stream', name);
  });
});

void describe('progress rendering', () => {
  void it('formats bytes in binary units', () => {
    assert.equal(formatBytes(0), '0 B');
    assert.equal(formatBytes(1023), '1023 B');
    assert.equal(formatBytes(1024), '1.0 KiB');
    assert.equal(formatBytes(16978), '16.6 KiB');
    assert.equal(formatBytes(1.5 * 1024 * 1024), '1.5 MiB');
    assert.equal(formatBytes(-5), '0 B');
  });

  void it('ellipsizes', () => {
    assert.equal(ellipsize('abcdef', 10), 'abcdef');
    assert.equal(ellipsize('abcdef', 4), 'abc…');
    assert.equal(ellipsize('abcdef', 1), 'a');
  });

  void it('formats durations', () => {
    assert.equal(formatDuration(850.4), '850 ms');
    assert.equal(formatDuration(2100), '2.1 s');
    assert.equal(formatDuration(185_000), '3 m 05 s');
  });

  void it('draws bars with the requested width, clamped', () => {
    assert.equal(renderBar(0, 10), '[----------]');
    assert.equal(renderBar(0.5, 10), '[#####-----]');
    assert.equal(renderBar(1, 10), '[##########]');
    assert.equal(renderBar(7, 4), '[####]');
    assert.equal(renderBar(-1, 4), '[----]');
    assert.equal(renderBar(Number.NaN, 4), '[----]');
  });

  void it('computes whole percents', () => {
    assert.equal(percent(0, 100), 0);
    assert.equal(percent(999, 1000), 99);
    assert.equal(percent(1000, 1000), 100);
    assert.equal(percent(5, 0), 100);
  });

  void it('renders an upload line that fits the terminal', () => {
    const line = renderUploadProgress({ label: 'a.pdf', sent: 8489, total: 16978, elapsedMs: 1000, columns: 80 });
    assert.match(line, /^upload a\.pdf \[#+-+\] {2}50% {4}8\.3 KiB \/ 16\.6 KiB {4}8\.3 KiB\/s$/);
    // Same width from start to end: the redraw never shifts the bar.
    const start = renderUploadProgress({ label: 'a.pdf', sent: 0, total: 5 * 1024 * 1024, elapsedMs: 1, columns: 80 });
    const end = renderUploadProgress({ label: 'a.pdf', sent: 5 * 1024 * 1024, total: 5 * 1024 * 1024, elapsedMs: 50, columns: 80 });
    assert.equal(start.length, end.length);
    assert.ok(line.length <= 80);
    const narrow = renderUploadProgress({ label: 'a-very-long-file-name-that-will-not-fit.pdf', sent: 1, total: 2, elapsedMs: 0, columns: 40 });
    assert.ok(narrow.length < 40, narrow);
    // A long name is shortened, the numbers are kept whole.
    const long = renderUploadProgress({ label: 'GeoTopo-komprimiert-und-noch-viel-laenger.pdf', sent: 65536, total: 1.7 * 1024 * 1024, elapsedMs: 16, columns: 80 });
    assert.ok(long.length < 80, long);
    assert.match(long, /^upload GeoTopo-\S*… \[#*-+\] {3}3% {3}64\.0 KiB \/ 1\.7 MiB {4}3\.9 MiB\/s$/);
  });

  void it('renders the final upload line', () => {
    assert.equal(renderUploadDone('a.pdf', 16978, 2000), 'uploaded a.pdf: 16.6 KiB in 2.0 s, 8.3 KiB/s');
  });

  void it('renders a job line', () => {
    const line = renderJobProgress({ jobId: 'j1', status: 'RUNNING', stage: 'ocr', progress: 45, columns: 80 });
    assert.match(line, /^job j1 RUNNING {3}ocr {4}\[#+-+\] {2}45%$/);
    assert.match(renderJobProgress({ jobId: 'j1', status: 'PENDING', stage: null, progress: null, columns: 80 }), /^job j1 PENDING {10}\[-+\] {3}0%$/);
    // The bar starts in the same column whatever the status and stage.
    const a = renderJobProgress({ jobId: 'j1', status: 'PENDING', stage: 'upload', progress: 0, columns: 80 });
    const b = renderJobProgress({ jobId: 'j1', status: 'COMPLETED', stage: 'done', progress: 100, columns: 80 });
    assert.equal(a.indexOf('['), b.indexOf('['));
    assert.equal(a.length, b.length);
  });

  void it('LineDrawer redraws in place, throttled, and ends the line', () => {
    const out: string[] = [];
    let now = 0;
    const drawer = new LineDrawer({ write: (s: string) => out.push(s), isTTY: true, columns: 50 }, 100, () => now);
    assert.equal(drawer.columns, 50);
    drawer.draw('a');
    now = 50;
    drawer.draw('b'); // throttled
    drawer.draw('c', true);
    now = 200;
    drawer.draw('d');
    drawer.finish();
    assert.deepEqual(out, ['\ra\x1b[K', '\rc\x1b[K', '\rd\x1b[K', '\n']);
    drawer.finish(); // nothing drawn since: no extra newline
    assert.equal(out.length, 4);
  });
});

void describe('job and document views', () => {
  const ts = (iso: string) => ({ seconds: Date.parse(iso) / 1000, nanoseconds: 0, toDate: () => new Date(iso) });

  void it('converts timestamps, nested', () => {
    assert.deepEqual(firestorePlain({ a: ts('2024-01-02T03:04:05.000Z'), b: [ts('2024-01-01T00:00:00.000Z')], c: { d: 1 }, e: null }), {
      a: '2024-01-02T03:04:05.000Z',
      b: ['2024-01-01T00:00:00.000Z'],
      c: { d: 1 },
      e: null,
    });
  });

  void it('reads a job leniently', () => {
    const job = toJobView('j1', {
      status: 'FAILED',
      stage: 'ocr',
      progress: 40,
      attempts: 2,
      error: { code: 'PDF_ENCRYPTED', message: 'the PDF is encrypted', retryable: false },
      createdAt: ts('2024-01-02T03:04:05.000Z'),
      input: { fileName: 'a.pdf', contentType: 'application/pdf' },
      somethingNew: 'kept',
    });
    assert.equal(job.status, 'FAILED');
    assert.equal(job.progress, 40);
    assert.deepEqual(job.error, { code: 'PDF_ENCRYPTED', message: 'the PDF is encrypted', retryable: false });
    assert.equal(job.createdAt, '2024-01-02T03:04:05.000Z');
    assert.equal(job.startedAt, null);
    assert.equal(job.raw.somethingNew, 'kept');
    assert.equal(job.raw.id, 'j1');
    const text = formatJob(job);
    assert.match(text, /^job +j1$/m);
    assert.match(text, /^error +PDF_ENCRYPTED: the PDF is encrypted \(not retryable\)$/m);
    assert.match(text, /^file +a\.pdf \(application\/pdf\)$/m);
    assert.doesNotMatch(text, /^started/m);

    const odd = toJobView('j2', { status: 42, progress: 'x' });
    assert.equal(odd.status, 'UNKNOWN');
    assert.equal(odd.progress, null);
  });

  void it('knows terminal statuses', () => {
    for (const s of ['COMPLETED', 'FAILED', 'CANCELLED']) assert.ok(isTerminalStatus(s), s);
    for (const s of ['PENDING', 'RUNNING', 'UNKNOWN', '']) assert.ok(!isTerminalStatus(s), s);
  });

  void it('reads a document', () => {
    const doc = toDocumentView('d1', { pageCount: 1, language: 'eng', status: 'READY' });
    assert.equal(doc.pageCount, 1);
    assert.equal(doc.language, 'eng');
    assert.equal(toDocumentView('d2', { pageCount: null }).pageCount, null);
  });
});

void describe('upload --json result', () => {
  void it('has the documented keys and omits the unknown', () => {
    assert.deepEqual(buildUploadResult({ documentId: 'd', jobId: 'j', status: 'COMPLETED', pages: 1, language: 'eng', elapsedMs: 12.7 }), {
      documentId: 'd',
      jobId: 'j',
      status: 'COMPLETED',
      pages: 1,
      language: 'eng',
      elapsedMs: 13,
    });
    const failed = buildUploadResult({ documentId: 'd', jobId: 'j', status: 'FAILED', error: { code: 'X', message: 'y', retryable: false }, pages: null, language: null, elapsedMs: 5 });
    assert.deepEqual(Object.keys(failed), ['documentId', 'jobId', 'status', 'error', 'elapsedMs']);
  });
});

void describe('shell quoting', () => {
  void it('quotes safely', () => {
    assert.equal(shellQuote("it's"), `'it'\\''s'`);
    assert.equal(shellWord('@a.pdf'), '@a.pdf');
    assert.equal(shellWord('@my file.pdf'), `'@my file.pdf'`);
  });

  void it('builds the curl command line', () => {
    const cmd = curlPutCommand('http://127.0.0.1:9199/b/o?X-Goog-Signature=ab&x=1', { 'content-type': 'application/pdf', 'x-goog-if-generation-match': '0' }, 'a.pdf');
    assert.equal(
      cmd,
      `curl -X PUT -H 'content-type: application/pdf' -H 'x-goog-if-generation-match: 0' --data-binary @a.pdf 'http://127.0.0.1:9199/b/o?X-Goog-Signature=ab&x=1'`,
    );
  });
});

void describe('host parsing', () => {
  void it('splits host and port', () => {
    assert.deepEqual(splitHostPort('127.0.0.1:8080'), { host: '127.0.0.1', port: 8080 });
    assert.deepEqual(splitHostPort('[::1]:9099'), { host: '::1', port: 9099 });
    assert.deepEqual(splitHostPort('http://localhost:8085'), { host: 'localhost', port: 8085 });
    assert.equal(hostUrl('127.0.0.1:9199'), 'http://127.0.0.1:9199');
    assert.equal(hostUrl('http://127.0.0.1:9199/'), 'http://127.0.0.1:9199');
  });
});

describe('text on a terminal', () => {
  it('neutralizes control characters a document could carry (ESC sequences), keeping layout characters', async () => {
    const { neutralizeControls } = await import('../../scripts/cli/commands/text.js');
    assert.equal(neutralizeControls('a\u001b]0;pwned\u0007b\tc\nd\fe\r\u009bf'), 'a\uFFFD]0;pwned\uFFFDb\tc\nd\fe\r\uFFFDf');
    assert.equal(neutralizeControls('حبيبي 2:255'), 'حبيبي 2:255');
  });
});

describe('ApiClient retries', () => {
  it('waits as long as a 429 Retry-After asks before retrying an idempotent request', async () => {
    const http = await import('node:http');
    const { ApiClient } = await import('../../scripts/cli/session.js');
    const { problemBody, PROBLEM_CONTENT_TYPE } = await import('../../shared/http/problem.js');
    const seen: number[] = [];
    const server = http.createServer((req, res) => {
      req.resume();
      seen.push(Date.now());
      if (seen.length === 1) {
        res.writeHead(429, { 'content-type': PROBLEM_CONTENT_TYPE, 'retry-after': '1' });
        res.end(JSON.stringify(problemBody(429, 'RATE_LIMITED', 'rate limit exceeded; retry after 1 s')));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ results: [], took: { ms: 1 }, modes: { keyword: true, vector: true } }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as { port: number }).port;
      // The client's own delay is 10 ms: the 1 s wait can only come from Retry-After.
      const api = new ApiClient(`http://127.0.0.1:${port}`, () => Promise.resolve('token'), 5000, [10]);
      await api.search({ projectId: 'demo', query: 'x' });
      assert.equal(seen.length, 2);
      assert.ok((seen[1] ?? 0) - (seen[0] ?? 0) >= 950, `waited ${(seen[1] ?? 0) - (seen[0] ?? 0)} ms`);
    } finally {
      server.close();
    }
  });
});
