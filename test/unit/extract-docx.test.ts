/**
 * DOCX text extraction (mammoth) on the corpus documents (mammoth.js test data, see SOURCES.md)
 * and on broken archives made here.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { PermanentError } from '../../shared/errors/index.js';
import { extractText } from '../../shared/engines/extract/index.js';
import { fixturePath } from '../helpers/paths.js';

let work: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'extract-docx-test-'));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

const docx = (name: string): string => fixturePath(`docx/${name}.docx`);

async function rejectsCorrupt(path: string, code: string, message: RegExp): Promise<void> {
  await assert.rejects(extractText(path, 'docx'), (err: unknown) => {
    assert.ok(err instanceof PermanentError, `expected PermanentError, got ${String(err)}`);
    assert.equal(err.code, code);
    assert.match(err.message, message);
    return true;
  });
}

describe('DOCX', () => {
  test('footnotes.docx: the body, then the footnotes, without back-links', async () => {
    const r = await extractText(docx('footnotes'), 'docx');
    assert.equal(r.text, 'Ouch[1].[2]\n\nA tachyon walks into a bar.\n\nFin.');
    assert.ok(!r.text.includes('↑'));
    assert.equal(r.pageCount, 1);
  });

  test('tables.docx: one line per row, cells separated by tabs', async () => {
    assert.equal((await extractText(docx('tables'), 'docx')).text, 'Above\n\nTop left\tTop right\nBottom left\tBottom right\n\nBelow');
  });

  test('simple-list.docx, strict-format.docx (ISO strict) and utf8-bom.docx', async () => {
    assert.equal((await extractText(docx('simple-list'), 'docx')).text, 'Apple\nBanana');
    assert.equal((await extractText(docx('strict-format'), 'docx')).text, 'Test');
    const bom = await extractText(docx('utf8-bom'), 'docx');
    assert.equal(bom.text, 'This XML has a byte order mark.');
    assert.equal(bom.language, 'eng');
  });

  test('empty.docx: empty text, not an error', async () => {
    assert.deepEqual(await extractText(docx('empty'), 'docx'), { text: '', pageCount: 1, language: 'und', warnings: [] });
  });

  test('a truncated DOCX, a PDF and a ZIP without a document part: PermanentError INPUT_CORRUPT', async () => {
    const bytes = await readFile(docx('tables'));
    const truncated = join(work, 'truncated.docx');
    await writeFile(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)));
    await rejectsCorrupt(truncated, 'INPUT_CORRUPT', /DOCX/);
    await rejectsCorrupt(fixturePath('pdf/minimal-document.pdf'), 'INPUT_CORRUPT', /not a readable ZIP/);
    // Damaged inside: the document part's bytes overwritten in place (sizes and directory intact).
    const damaged = Buffer.from(bytes);
    const at = damaged.indexOf('word/document.xml');
    damaged.fill(0x41, at + 40, at + 400);
    const damagedPath = join(work, 'damaged.docx');
    await writeFile(damagedPath, damaged);
    await rejectsCorrupt(damagedPath, 'INPUT_CORRUPT', /cannot be read/);
  });

  test('size guard: a DOCX that unpacks to more than maxBytes is refused before mammoth inflates it', async () => {
    await assert.rejects(extractText(docx('tables'), 'docx', { maxBytes: 16 * 1024 }), (err: unknown) => err instanceof PermanentError && err.code === 'INPUT_TOO_LARGE' && /unpacks to \d+ bytes/.test(err.message));
  });
});
