/**
 * Formats besides PDFs and images through the whole stack: text, Markdown, HTML and DOCX are routed
 * by their bytes, their text is extracted without OCR, and they go on to chunks and a summary.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { localConfigForTests } from '../helpers/platform.js';
import { api, fixture, signIn, uploadAndWait } from '../helpers/client.js';
import { normalizeForMatch } from '../../shared/text/normalize.js';
import type { LocalConfig } from '../../emulators/local-config.js';

let cfg: LocalConfig;
let token: string;

before(async () => {
  cfg = localConfigForTests();
  token = await signIn(cfg);
});

async function text(documentId: string): Promise<string> {
  const res = await api(cfg, token, 'GET', `/v1/documents/${documentId}/text`);
  assert.equal(res.status, 200, res.text);
  return res.text;
}

/** Arabic folded for comparison: no diacritics, no tatweel, no bidi controls. */
const fold = (s: string): string => s.normalize('NFC').replace(/[\u064B-\u065F\u0670\u0640\u200E\u200F\u202A-\u202E\u2066-\u2069]/g, '');

describe('formats: text is extracted, not recognised', () => {
  it('plain text (UTF-8) → its text, then chunks and a summary', async () => {
    const body = Buffer.from('Minutes of the meeting.\n\nThe board approved the budget for 2027. The next meeting is on 12 March.\n', 'utf8');
    const { job, document, upload } = await uploadAndWait(cfg, token, 'minutes.txt', body, 'text/plain');
    assert.equal(job.status, 'COMPLETED', JSON.stringify(job.error));
    assert.equal(job.input.family, 'text');
    assert.deepEqual(job.stages.ocr?.result?.pagesByMethod, { textLayer: 0, ocr: 0, extract: 1 });
    assert.match(await text(upload.documentId), /The board approved the budget for 2027\./);
    assert.ok((document.chunkCount ?? 0) >= 1);
    assert.ok(document.summary?.text.includes('budget'));
  });

  it('plain text in UTF-16 with a BOM is read as text', async () => {
    const body = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('Grüße aus Köln. Das Archiv ist geöffnet.', 'utf16le')]);
    const { job, upload } = await uploadAndWait(cfg, token, 'gruesse.txt', body, 'text/plain');
    assert.equal(job.status, 'COMPLETED', JSON.stringify(job.error));
    assert.match(await text(upload.documentId), /Grüße aus Köln/);
  });

  it('Markdown → readable text without its syntax', async () => {
    const md = '# Field notes\n\nWe walked **north** along the [river](https://example.org/river) for two days.\n\n- birch\n- alder\n';
    const { job, upload } = await uploadAndWait(cfg, token, 'notes.md', Buffer.from(md), 'text/markdown');
    assert.equal(job.status, 'COMPLETED', JSON.stringify(job.error));
    const t = await text(upload.documentId);
    assert.match(t, /Field notes/);
    assert.match(t, /We walked north along the river for two days/);
    assert.doesNotMatch(t, /\*\*|https:\/\/example\.org/);
  });

  it('HTML → visible text, Arabic in logical order', async () => {
    const { job, upload, document } = await uploadAndWait(cfg, token, 'habibi.html', await fixture('html/habibi.html'), 'text/html');
    assert.equal(job.status, 'COMPLETED', JSON.stringify(job.error));
    assert.equal(job.input.family, 'html');
    const t = await text(upload.documentId);
    assert.ok(fold(t).includes('حبيبي'), `no حبيبي in ${JSON.stringify(t.slice(0, 200))}`);
    assert.doesNotMatch(t, /<[a-z]+/i, 'no markup');
    assert.ok(document.chunkCount !== null);
  });

  it('DOCX → its paragraphs and table cells', async () => {
    const { job, upload } = await uploadAndWait(cfg, token, 'tables.docx', await fixture('docx/tables.docx'), 'application/vnd.openxmlformats-officedocument.wordprocessingml.document');
    assert.equal(job.status, 'COMPLETED', JSON.stringify(job.error));
    assert.equal(job.input.family, 'docx');
    const t = await text(upload.documentId);
    for (const w of ['Above', 'Top left', 'Bottom right', 'Below']) assert.ok(t.includes(w), `${w} in ${JSON.stringify(t)}`);
  });

  it('an empty DOCX completes with no text and no chunks, not an error', async () => {
    const { job, document } = await uploadAndWait(cfg, token, 'empty.docx', await fixture('docx/empty.docx'), 'application/vnd.openxmlformats-officedocument.wordprocessingml.document');
    assert.equal(job.status, 'COMPLETED', JSON.stringify(job.error));
    assert.equal(document.chunkCount, 0);
  });

  it('a DOCX declared as a PDF fails at ingest with CONTENT_TYPE_MISMATCH', async () => {
    const { job } = await uploadAndWait(cfg, token, 'tables.pdf', await fixture('docx/tables.docx'), 'application/pdf');
    assert.equal(job.status, 'FAILED');
    assert.equal(job.error?.code, 'CONTENT_TYPE_MISMATCH');
    assert.equal(job.stage, 'ingest');
  });

  it('an Arabic scan is read as Arabic and goes on to chunks and a summary', async () => {
    const { job, upload, document } = await uploadAndWait(cfg, token, 'arabic-page.png', await fixture('ocr/arabic-library-page.png'), 'image/png');
    assert.equal(job.status, 'COMPLETED', JSON.stringify(job.error));
    assert.equal(document.language, 'arb');
    const reference = (await fixture('ocr/arabic-library-page.txt')).toString('utf8');
    const wordsOf = (t: string): string[] => normalizeForMatch(t).split(/[^\p{L}\p{M}\p{N}]+/u).filter((w) => w.length > 2);
    const words = new Set(wordsOf(await text(upload.documentId)));
    const expected = wordsOf(reference);
    const recall = expected.filter((w) => words.has(w)).length / expected.length;
    assert.ok(recall >= 0.7, `word recall ${recall.toFixed(2)}`);
    assert.ok((document.chunkCount ?? 0) >= 1);
    assert.ok(document.summary?.text);
  });
});
