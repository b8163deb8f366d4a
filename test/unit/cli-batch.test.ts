/**
 * Unit tests of the pure parts of `upload FILE...` and `summary`: file expansion (on a real
 * directory tree, and on a fake file system for what root cannot see: EACCES), the concurrency
 * limiter, the summary of results, the JSON shape and the progress/summary lines.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expandUploadPaths, type ExpandFs, type StatLike } from '../../scripts/cli/files.js';
import { mapLimit } from '../../scripts/cli/limit.js';
import {
  buildUploadResult,
  formatBatchTable,
  formatFinishedLine,
  formatSummary,
  parseUploadArgs,
  summarizeResults,
  toBatchEntry,
  DEFAULT_CONCURRENCY,
} from '../../scripts/cli/commands/upload.js';
import { describeSummarySource, noSummaryMessage } from '../../scripts/cli/commands/summary.js';
import { LineDrawer, renderBatchProgress } from '../../scripts/cli/progress.js';
import { UsageError } from '../../scripts/cli/io.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'scriptorium-cli-batch-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Builds a tree under tmp/name from `{ 'a/b.pdf': 'content' }`; returns its root. */
function tree(name: string, files: Record<string, string>): string {
  const root = path.join(tmp, name);
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    writeFileSync(path.join(root, rel), content);
  }
  return root;
}

const rel = (root: string, p: string) => path.relative(root, p);

void describe('expandUploadPaths', () => {
  void it('walks directories recursively in name order, skipping dotfiles', async () => {
    const root = tree('walk', { 'b.pdf': 'b', 'a.png': 'a', 'sub/c.txt': 'c', 'sub/deeper/d.tif': 'd', '.hidden.pdf': 'h', '.git/config': 'x', 'Z.pdf': 'z' });
    const out = await expandUploadPaths([root]);
    assert.deepEqual(
      out.entries.map((e) => [e.kind, rel(root, e.path)]),
      [
        ['file', 'Z.pdf'],
        ['file', 'a.png'],
        ['file', 'b.pdf'],
        ['file', 'sub/c.txt'],
        ['file', 'sub/deeper/d.tif'],
      ],
    );
    assert.equal(out.dotfiles, 2, '.hidden.pdf and .git');
    assert.deepEqual(out.skipped, []);
    assert.equal(out.single, false);
    const first = out.entries[0];
    assert.ok(first?.kind === 'file');
    assert.equal(first.name, 'Z.pdf');
    assert.equal(first.size, 1);
  });

  void it('keeps operand order, dedupes a file reached twice, and marks a lone file operand as single', async () => {
    const root = tree('order', { 'x.pdf': 'xx', 'dir/y.pdf': 'yyy' });
    symlinkSync(path.join(root, 'x.pdf'), path.join(root, 'dir', 'link-to-x.pdf'));
    const x = path.join(root, 'x.pdf');
    const out = await expandUploadPaths([x, path.join(root, 'dir'), x]);
    assert.deepEqual(
      out.entries.map((e) => rel(root, e.path)),
      ['x.pdf', 'dir/y.pdf'],
    );
    assert.deepEqual(
      out.skipped.map((s) => [rel(root, s.path), s.reason]),
      [
        ['dir/link-to-x.pdf', `the same file as ${x}`],
        ['x.pdf', 'listed more than once'],
      ],
    );
    const single = await expandUploadPaths([x]);
    assert.equal(single.single, true);
    assert.equal(single.entries.length, 1);
    const dirWithOne = await expandUploadPaths([path.join(tmp, 'walk', 'sub', 'deeper')]);
    assert.equal(dirWithOne.entries.length, 1);
    assert.equal(dirWithOne.single, false, 'a directory is never the single-file form, even with one file in it');
  });

  void it('skips symbolic-link loops, FIFOs and reports dangling links, empty files and bad names as errors', async () => {
    const root = tree('odd', { 'ok.pdf': 'ok', 'sub/inner.pdf': 'in', 'empty.txt': '', 'bad\u0001name.pdf': 'x' });
    symlinkSync('..', path.join(root, 'sub', 'up'));
    symlinkSync('self', path.join(root, 'self'));
    symlinkSync('nowhere.pdf', path.join(root, 'dangling.pdf'));
    const fifo = spawnSync('mkfifo', [path.join(root, 'pipe')]).status === 0;
    const out = await expandUploadPaths([root]);
    assert.deepEqual(
      out.entries.map((e) => [rel(root, e.path), e.kind === 'error' ? e.code : 'file']),
      [
        ['bad\u0001name.pdf', 'INVALID_FILE_NAME'],
        ['dangling.pdf', 'UNREADABLE'],
        ['empty.txt', 'EMPTY_FILE'],
        ['ok.pdf', 'file'],
        ['sub/inner.pdf', 'file'],
      ],
    );
    const dangling = out.entries[1];
    assert.ok(dangling?.kind === 'error');
    assert.match(dangling.message, /dangling symbolic link/);
    const skipped = Object.fromEntries(out.skipped.map((s) => [rel(root, s.path), s.reason]));
    assert.equal(skipped.self, 'symbolic link loop');
    assert.equal(skipped['sub/up'], 'symbolic link loop');
    if (fifo) assert.equal(skipped.pipe, 'not a regular file');
  });

  void it('command-line mistakes are usage errors before anything is uploaded', async () => {
    const root = tree('usage', { 'ok.pdf': 'ok', 'empty.pdf': '' });
    mkdirSync(path.join(root, 'nothing'));
    await assert.rejects(expandUploadPaths([path.join(root, 'ok.pdf'), path.join(root, 'missing.pdf')]), (e) => e instanceof UsageError && /missing\.pdf: no such file/.test(e.message));
    await assert.rejects(expandUploadPaths([path.join(root, 'empty.pdf')]), (e) => e instanceof UsageError && /is empty/.test(e.message));
    if (spawnSync('mkfifo', [path.join(root, 'fifo')]).status === 0) {
      await assert.rejects(expandUploadPaths([path.join(root, 'fifo')]), (e) => e instanceof UsageError && /not a regular file or a directory/.test(e.message));
    }
    // An empty directory is not an error by itself: it is reported, and the command decides.
    const empty = await expandUploadPaths([path.join(root, 'nothing')]);
    assert.deepEqual(empty.entries, []);
    assert.deepEqual(empty.skipped, [{ path: path.join(root, 'nothing'), reason: 'no files to upload in this directory' }]);
  });

  void it('an unreadable file or directory is an error entry of its own (fake file system)', async () => {
    const eacces = (p: string) => Object.assign(new Error(`EACCES: permission denied, open '${p}'`), { code: 'EACCES' });
    let ino = 0;
    const file = (size: number): StatLike => ({ isFile: () => true, isDirectory: () => false, size, dev: 1, ino: ++ino });
    const dir = (): StatLike => ({ isFile: () => false, isDirectory: () => true, size: 0, dev: 1, ino: ++ino });
    const nodes: Record<string, StatLike> = { top: dir(), 'top/a.pdf': file(3), 'top/locked.pdf': file(4), 'top/closed': dir(), 'top/z.pdf': file(5) };
    const fs: ExpandFs = {
      stat: (p) => (nodes[p] ? Promise.resolve(nodes[p]) : Promise.reject(Object.assign(new Error('ENOENT'), { code: 'ENOENT' }))),
      readdir: (p) => (p === 'top' ? Promise.resolve(['z.pdf', 'locked.pdf', 'closed', 'a.pdf']) : Promise.reject(eacces(p))),
      canRead: (p) => (p === 'top/locked.pdf' ? Promise.reject(eacces(p)) : Promise.resolve()),
    };
    const out = await expandUploadPaths(['top'], fs);
    assert.deepEqual(
      out.entries.map((e) => (e.kind === 'file' ? [e.path, 'file'] : [e.path, e.code, e.message])),
      [
        ['top/a.pdf', 'file'],
        ['top/closed', 'UNREADABLE', 'cannot read the directory: permission denied (EACCES)'],
        ['top/locked.pdf', 'UNREADABLE', 'cannot read the file: permission denied (EACCES)'],
        ['top/z.pdf', 'file'],
      ],
    );
  });
});

void describe('mapLimit', () => {
  const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

  void it('never runs more than the limit at once, and keeps the order of results', async () => {
    let active = 0;
    let peak = 0;
    const started: number[] = [];
    const out = await mapLimit([30, 5, 20, 1, 10, 2, 8], 3, async (ms, i) => {
      started.push(i);
      active += 1;
      peak = Math.max(peak, active);
      await tick(ms);
      active -= 1;
      return i * 10;
    });
    assert.deepEqual(out, [0, 10, 20, 30, 40, 50, 60]);
    assert.equal(peak, 3);
    assert.deepEqual(started, [0, 1, 2, 3, 4, 5, 6], 'started in item order');
  });

  void it('handles fewer items than the limit, and none', async () => {
    assert.deepEqual(await mapLimit([1, 2], 8, (n) => Promise.resolve(n + 1)), [2, 3]);
    assert.deepEqual(await mapLimit([], 4, () => Promise.resolve(1)), []);
    await assert.rejects(mapLimit([1], 0, () => Promise.resolve(1)), RangeError);
  });

  void it('after a rejection starts nothing new, waits for what runs, then rethrows the first', async () => {
    const started: number[] = [];
    const finished: number[] = [];
    await assert.rejects(
      mapLimit([0, 1, 2, 3, 4, 5], 2, async (i) => {
        started.push(i);
        await tick(i === 0 ? 30 : 5);
        if (i === 1) throw new Error('boom 1');
        finished.push(i);
        return i;
      }),
      /boom 1/,
    );
    assert.deepEqual(started, [0, 1]);
    assert.deepEqual(finished, [0], 'the call in flight ran to its end');
  });
});

void describe('upload results', () => {
  const completed = buildUploadResult({ documentId: 'd1', jobId: 'j1', status: 'COMPLETED', pages: 2, language: 'eng', elapsedMs: 2100.4 });
  const failed = buildUploadResult({ documentId: 'd2', jobId: 'j2', status: 'FAILED', error: { code: 'PDF_ENCRYPTED', message: 'the PDF is encrypted', retryable: false }, elapsedMs: 900 });
  const refused = buildUploadResult({ documentId: null, jobId: null, status: 'ERROR', error: { code: 'UNREADABLE', message: 'x.pdf: cannot read the file: permission denied (EACCES)' }, elapsedMs: 0 });

  void it('the batch JSON entry: file first, error always present, pages/language when known', () => {
    const a = toBatchEntry('scans/a.pdf', completed);
    assert.deepEqual(Object.keys(a), ['file', 'documentId', 'jobId', 'status', 'error', 'pages', 'language', 'elapsedMs']);
    assert.deepEqual(a, { file: 'scans/a.pdf', documentId: 'd1', jobId: 'j1', status: 'COMPLETED', error: null, pages: 2, language: 'eng', elapsedMs: 2100 });
    const b = toBatchEntry('b.pdf', failed);
    assert.deepEqual(Object.keys(b), ['file', 'documentId', 'jobId', 'status', 'error', 'elapsedMs']);
    assert.deepEqual(b.error, { code: 'PDF_ENCRYPTED', message: 'the PDF is encrypted', retryable: false });
    // Round trip: what --json prints parses back to the same objects.
    assert.deepEqual(JSON.parse(JSON.stringify([a, b])), [a, b]);
  });

  void it('summarizes: exit 0 only when every file reached the success status', () => {
    const all = summarizeResults([completed, completed], true);
    assert.deepEqual(all, { total: 2, succeeded: 2, failed: 0, byStatus: [['COMPLETED', 2]], exitCode: 0 });
    const mixed = summarizeResults([refused, failed, completed, failed], true);
    assert.equal(mixed.exitCode, 1);
    assert.equal(mixed.failed, 3);
    assert.deepEqual(mixed.byStatus, [
      ['COMPLETED', 1],
      ['ERROR', 1],
      ['FAILED', 2],
    ]);
    assert.equal(formatSummary(mixed), '4 files: 1 COMPLETED, 1 ERROR, 2 FAILED');
    const noWait = summarizeResults([{ status: 'UPLOADED' }], false);
    assert.equal(noWait.exitCode, 0);
    assert.equal(formatSummary(noWait), '1 file: 1 UPLOADED');
    assert.equal(summarizeResults([completed], false).exitCode, 1, 'without waiting, success is UPLOADED');
  });

  void it('formats a line per finished file, and the table', () => {
    assert.equal(formatFinishedLine(3, 10, toBatchEntry('scans/a.pdf', completed)), '[ 3/10] scans/a.pdf: COMPLETED (document d1, job j1, 2 pages, eng, 2.1 s)');
    assert.equal(formatFinishedLine(4, 10, toBatchEntry('b.pdf', failed)), '[ 4/10] b.pdf: FAILED (document d2, job j2, 900 ms): PDF_ENCRYPTED: the PDF is encrypted (not retryable)');
    assert.equal(formatFinishedLine(1, 1, toBatchEntry('x.pdf', refused)), '[1/1] x.pdf: ERROR: x.pdf: cannot read the file: permission denied (EACCES)');
    // A control character in a file name is not sent to the terminal.
    assert.match(formatFinishedLine(1, 1, toBatchEntry('evil\u001b[2Jname.pdf', completed)), /^\[1\/1\] evil\uFFFD\[2Jname\.pdf: /);
    const table = formatBatchTable([toBatchEntry('scans/a.pdf', completed), toBatchEntry('b.pdf', failed)]).split('\n');
    assert.match(table[0] ?? '', /^FILE +STATUS +DOCUMENT +JOB +PAGES +LANGUAGE +ELAPSED +ERROR$/);
    assert.match(table[1] ?? '', /^scans\/a\.pdf +COMPLETED +d1 +j1 +2 +eng +2\.1 s$/);
    assert.match(table[2] ?? '', /^b\.pdf +FAILED +d2 +j2 +- +- +900 ms +PDF_ENCRYPTED: the PDF is encrypted \(not retryable\)$/);
    assert.equal(table[1]?.indexOf('COMPLETED'), table[2]?.indexOf('FAILED'), 'columns line up');
  });

  void it('parses --concurrency', () => {
    assert.equal(parseUploadArgs(['a.pdf'])?.concurrency, DEFAULT_CONCURRENCY);
    assert.equal(DEFAULT_CONCURRENCY, 4);
    assert.equal(parseUploadArgs(['a.pdf', 'b', '--concurrency', '8'])?.concurrency, 8);
    assert.deepEqual(parseUploadArgs(['a.pdf', 'dir', '--no-wait'])?.operands, ['a.pdf', 'dir']);
    assert.throws(() => parseUploadArgs(['a.pdf', '--concurrency', '0']), /--concurrency must be a positive integer/);
    assert.throws(() => parseUploadArgs(['a.pdf', '--concurrency', '65']), /--concurrency must be at most 64/);
  });
});

void describe('batch progress', () => {
  const base = { files: 10, bytes: 4 * 1024 * 1024, filesDone: 0, sentBytes: 0, finished: 0, failed: 0, wait: true, columns: 100 };

  void it('shows files, bytes and jobs finished, with a bar of finished files, at a constant width', () => {
    const start = renderBatchProgress(base);
    assert.match(start, /^upload \[-+\] {2}0\/10 files {8}0 B \/ 4\.0 MiB {2}jobs {2}0\/10 done$/);
    const mid = renderBatchProgress({ ...base, filesDone: 6, sentBytes: 2.5 * 1024 * 1024, finished: 5, failed: 1 });
    assert.match(mid, /^upload \[#{5,}-+\] {2}6\/10 files {4}2\.5 MiB \/ 4\.0 MiB {2}jobs {2}5\/10 done, 1 failed$/);
    const end = renderBatchProgress({ ...base, filesDone: 10, sentBytes: base.bytes, finished: 10 });
    assert.match(end, /\[#+\]/);
    assert.equal(start.length, end.length);
    assert.ok(mid.length <= 100);
    assert.match(renderBatchProgress({ ...base, wait: false, filesDone: 3, finished: 3 }), /files {2}\s*0 B \/ 4\.0 MiB$/);
    assert.ok(renderBatchProgress({ ...base, columns: 50 }).length < 50);
  });

  void it('LineDrawer prints a line above the progress line', () => {
    const out: string[] = [];
    const drawer = new LineDrawer({ write: (s: string) => out.push(s), isTTY: true, columns: 50 }, 100, () => 0);
    drawer.printAbove('first');
    drawer.draw('bar');
    drawer.printAbove('failed x');
    drawer.draw('bar 2');
    drawer.finish();
    assert.deepEqual(out, ['first\n', '\rbar\x1b[K', '\r\x1b[Kfailed x\n', '\rbar 2\x1b[K', '\n']);
  });
});

void describe('summary messages', () => {
  void it('explains a missing summary by the document status', () => {
    assert.equal(noSummaryMessage({ id: 'd1', status: 'PROCESSING', jobId: 'j1' }), 'document d1 has no summary yet (status PROCESSING); follow it with: scriptorium job j1');
    assert.equal(noSummaryMessage({ id: 'd1', status: 'AWAITING_UPLOAD' }), 'document d1 has no summary yet (status AWAITING_UPLOAD)');
    assert.equal(noSummaryMessage({ id: 'd1', status: 'FAILED', jobId: 'j1' }), 'document d1 has no summary: its processing ended FAILED (see: scriptorium job j1)');
    assert.equal(noSummaryMessage({ id: 'd1', status: 'READY', jobId: 'j1' }), 'document d1 has no summary (status READY)');
  });

  void it('describes the engines', () => {
    assert.equal(
      describeSummarySource({ summary: { text: 't', engine: 'local', model: 'extractive-v1' }, chunkCount: 12, embedding: { engine: 'local', model: 'use-lite', dimensions: 512 } }),
      'summary by local (extractive-v1); 12 chunks embedded with local (use-lite, 512 dimensions)',
    );
    assert.equal(describeSummarySource({ summary: { text: 't', engine: 'google', model: 'gemini' }, chunkCount: null, embedding: null }), 'summary by google (gemini)');
  });
});
