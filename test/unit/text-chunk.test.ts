/**
 * Chunking: invariants checked on real text (OCR ground truths, LibriVox transcripts, the text
 * layers of pdflatex-4-pages.pdf and the 117-page GeoTopo-komprimiert.pdf via `pdftotext`, the
 * Arabic habibi sample) and on synthetic edge cases (empty pages, one giant line, page-crossing
 * paragraphs, headings, Arabic).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { isDeepStrictEqual } from 'node:util';

import { chunkDocument, chunkId, estimateTokens } from '../../shared/text/chunk.js';
import type { Chunk, ChunkOptions } from '../../shared/text/chunk.js';
import { fixturePath } from '../helpers/paths.js';

const HAS_PDFTOTEXT = spawnSync('pdftotext', ['-v']).error === undefined;
const NO_PDFTOTEXT = HAS_PDFTOTEXT ? false : 'pdftotext (poppler-utils) is not installed';

function pdfText(rel: string, pages?: { first: number; last: number }): string {
  const range = pages ? ['-f', String(pages.first), '-l', String(pages.last)] : [];
  return execFileSync('pdftotext', ['-enc', 'UTF-8', ...range, fixturePath(rel), '-'], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
}

/** Transcripts of the LibriVox recordings in cmusphinx/pocketsphinx test/data/librivox (public domain), one page each. */
const AUSTEN = [
  'and mister john dashwood had then leisure to consider how much there might be prudently in his power to do for them',
  'he was not an ill disposed young man',
  'unless to be rather cold hearted and rather selfish is to be ill disposed',
].join('\f');
/** py-pdf/sample-files 015-arabic/habibi.html text (CC-BY-SA-4.0). */
const HABIBI = 'حَبيبي habibi';
const ARABIC_PARAGRAPH =
  'ذهب أحمد إلى المدرسة في الصباح الباكر. كان الجو جميلاً والشمس مشرقة! هل تعلم لماذا تأخر صديقه؟ لأنه نام متأخراً بعد أن قرأ كتاباً طويلاً عن تاريخ المدينة القديمة وأسواقها.';

/** 1-based page of `offset`: one more than the number of form feeds before it. */
function pageIndex(text: string): (offset: number) => number {
  const feeds: number[] = [];
  for (let i = text.indexOf('\f'); i !== -1; i = text.indexOf('\f', i + 1)) feeds.push(i);
  return (offset) => {
    let n = 0;
    while (n < feeds.length && (feeds[n] ?? Infinity) < offset) n++;
    return n + 1;
  };
}

/** Checks every documented invariant of `chunkDocument(text, options)` and returns the chunks. */
function checked(text: string, options: ChunkOptions): Chunk[] {
  const chunks = chunkDocument(text, options);
  const pageOf = pageIndex(text);
  let covered = 0; // every non-white-space character before this offset is in some chunk
  chunks.forEach((c, i) => {
    const where = `chunk ${i} [${c.charStart}, ${c.charEnd})`;
    assert.equal(c.index, i);
    assert.equal(text.slice(c.charStart, c.charEnd), c.text, where);
    assert.ok(c.charStart < c.charEnd, where);
    assert.ok(/^\S/u.test(c.text) && /\S$/u.test(c.text), `${where} is trimmed`);
    assert.equal(c.tokenEstimate, estimateTokens(c.text), where);
    assert.ok(c.tokenEstimate <= options.maxTokens, `${where}: ${c.tokenEstimate} > ${options.maxTokens}`);
    assert.equal(c.pageStart, pageOf(c.charStart), where);
    assert.equal(c.pageEnd, pageOf(c.charEnd - 1), where);
    assert.ok(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.exec(c.text) === null, `${where} splits a surrogate pair`);
    // A page break inside a chunk is one a paragraph runs across: no blank line around it.
    for (const m of c.text.matchAll(/\s*\f\s*/g)) assert.ok((m[0].match(/\n/g)?.length ?? 0) <= 1, `${where} crosses a page break at ${m.index}`);
    assert.ok(/^\s*$/u.test(text.slice(covered, c.charStart)), `${where}: text before it is not covered`);
    covered = Math.max(covered, c.charEnd);
    const prev = chunks[i - 1];
    if (prev) {
      assert.ok(c.charStart > prev.charStart && c.charEnd > prev.charEnd, `${where} is not after chunk ${i - 1}`);
      if (c.charStart < prev.charEnd) {
        const overlap = text.slice(c.charStart, prev.charEnd);
        assert.ok(estimateTokens(overlap) <= options.overlapTokens, `${where}: overlap of ${estimateTokens(overlap)} tokens`);
        // Same section: either both have the same heading path, or the section of `c` began in
        // `prev` (a small chunk merged into it) before the overlap.
        const heading = c.headings?.at(-1);
        if (!isDeepStrictEqual(c.headings, prev.headings)) {
          assert.ok(heading !== undefined && prev.text.slice(0, c.charStart - prev.charStart).includes(heading), `${where}: overlap across sections`);
        }
      }
    }
  });
  assert.ok(/^\s*$/u.test(text.slice(covered)), 'the end of the text is not covered');
  assert.deepEqual(chunkDocument(text, options), chunks, 'not deterministic');
  return chunks;
}

const SIZES: ChunkOptions[] = [
  { maxTokens: 512, overlapTokens: 64 },
  { maxTokens: 128, overlapTokens: 16 },
  { maxTokens: 40, overlapTokens: 10, minTokens: 0 },
  { maxTokens: 8, overlapTokens: 4 },
  { maxTokens: 300, overlapTokens: 0 },
];

describe('chunkDocument on the corpus', () => {
  const texts: Record<string, () => string> = {
    phototest: () => readFileSync(fixturePath('ocr/phototest.txt'), 'utf8'),
    '8087_054.3B': () => readFileSync(fixturePath('ocr/8087_054.3B.txt'), 'utf8'),
    'austen transcripts': () => AUSTEN,
    habibi: () => HABIBI,
  };
  for (const [name, load] of Object.entries(texts)) {
    for (const size of SIZES) {
      it(`keeps every invariant on ${name} (max ${size.maxTokens}, overlap ${size.overlapTokens})`, () => {
        const chunks = checked(load(), size);
        assert.ok(chunks.length > 0);
      });
    }
  }

  it('treats transcripts that run on without punctuation across page breaks as one paragraph', () => {
    const chunks = checked(AUSTEN, { maxTokens: 512, overlapTokens: 64 });
    assert.deepEqual(
      chunks.map((c) => [c.pageStart, c.pageEnd]),
      [[1, 3]],
    );
    // Once a page ends a sentence, the next starts its own chunk.
    const punctuated = AUSTEN.replace('for them', 'for them.').replace('young man', 'young man.');
    assert.deepEqual(
      checked(punctuated, { maxTokens: 512, overlapTokens: 64, minTokens: 0 }).map((c) => [c.pageStart, c.pageEnd]),
      [
        [1, 1],
        [2, 2],
        [3, 3],
      ],
    );
  });

  it('finds no headings in the phototest page', () => {
    for (const c of checked(readFileSync(fixturePath('ocr/phototest.txt'), 'utf8'), { maxTokens: 40, overlapTokens: 8 })) assert.equal(c.headings, undefined);
  });

  it('keeps every invariant on pdflatex-4-pages.pdf and numbers its pages', { skip: NO_PDFTOTEXT }, () => {
    const text = pdfText('pdf/pdflatex-4-pages.pdf');
    for (const size of SIZES) checked(text, size);
    const chunks = checked(text, { maxTokens: 256, overlapTokens: 32 });
    assert.deepEqual([...new Set(chunks.map((c) => c.pageStart))], [1, 2, 3, 4]);
    assert.ok(chunks.every((c) => c.pageStart === c.pageEnd));
  });

  it('chunks the 117-page GeoTopo text in tens of milliseconds, pages matching pdftotext per page', { skip: NO_PDFTOTEXT }, (t) => {
    const text = pdfText('pdf/GeoTopo-komprimiert.pdf');
    assert.equal(text.split('\f').length - 1, 117);
    const options = { maxTokens: 512, overlapTokens: 64 };
    const chunks = checked(text, options);
    checked(text, { maxTokens: 64, overlapTokens: 16 });
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      chunkDocument(text, options);
      times.push(performance.now() - t0);
    }
    const best = Math.min(...times);
    t.diagnostic(`117 pages, ${text.length} characters: ${chunks.length} chunks; chunkDocument ${times.map((x) => x.toFixed(1)).join(', ')} ms (best ${best.toFixed(1)})`);
    assert.ok(best < 1000, `${best} ms`); // a guard against quadratic behaviour, not a benchmark
    // Page numbers against an independent source: the chunk's text is on that page alone.
    for (const c of [chunks[3], chunks[Math.floor(chunks.length / 2)], chunks[chunks.length - 2]]) {
      assert.ok(c);
      const page = pdfText('pdf/GeoTopo-komprimiert.pdf', { first: c.pageStart, last: c.pageEnd });
      assert.ok(page.includes(c.text), `chunk ${c.index} not on page ${c.pageStart}`);
    }
    assert.ok(chunks.some((c) => c.headings?.some((h) => /^1\.2\.? Metrische Räume$/i.test(h))));
  });
});

describe('chunkDocument edge cases', () => {
  const opts = { maxTokens: 64, overlapTokens: 8 };

  it('gives no chunks for empty or white-space-only text', () => {
    assert.deepEqual(chunkDocument('', opts), []);
    assert.deepEqual(chunkDocument(' \n\t\f\f \r\n\f', opts), []);
  });

  it('skips white-space-only pages and keeps page numbers', () => {
    const chunks = checked('first page\f  \n \f\fFourth page.\f', opts);
    assert.deepEqual(
      chunks.map((c) => [c.text, c.pageStart]),
      [
        ['first page', 1],
        ['Fourth page.', 4],
      ],
    );
  });

  it('splits one giant line without spaces by characters, quickly', () => {
    const line = 'x'.repeat(200_000);
    const t0 = performance.now();
    const chunks = checked(line, opts);
    assert.ok(performance.now() - t0 < 2000);
    assert.ok(chunks.length > 1);
    assert.equal(chunks.map((c) => c.text).join(''), line);
  });

  it('never splits surrogate pairs or a letter from its accents when cutting characters', () => {
    const line = '😀𝐀e\u0301'.repeat(500);
    const chunks = checked(line, { maxTokens: 10, overlapTokens: 0 });
    for (const c of chunks) assert.ok(!/^\p{M}/u.test(c.text), `chunk ${c.index} starts with a combining mark`);
  });

  it('cuts a cluster of combining marks only when it alone is over the budget', () => {
    checked(`a${'\u0301'.repeat(400)} b`, { maxTokens: 10, overlapTokens: 2 });
  });

  it('splits an oversize paragraph at sentence ends', () => {
    const sentence = 'The quick brown dog jumped over the lazy fox again and again. ';
    const text = sentence.repeat(40).trim();
    const chunks = checked(text, { maxTokens: 60, overlapTokens: 0 });
    assert.ok(chunks.length > 5);
    for (const c of chunks) assert.ok(c.text.endsWith('.'), `chunk ${c.index} ends mid-sentence: ${c.text.slice(-20)}`);
  });

  it('does not end a sentence at an abbreviation or before a lowercase word', () => {
    const text = 'Prof. Dr. Herrlich gave the lecture. It was e.g. about spaces. Then it ended. '.repeat(20).trim();
    const chunks = checked(text, { maxTokens: 30, overlapTokens: 0 });
    for (const c of chunks) assert.ok(!/^(Dr|Herrlich|about)\b/.test(c.text), c.text);
  });

  it('chunks an Arabic page by its sentences', { skip: !existsSync(fixturePath('ocr/arabic-library-page.txt')) && 'fixture not present' }, () => {
    // Written for this project's OCR tests (see test/fixtures/SOURCES.md): ten lines, one sentence each.
    const page = readFileSync(fixturePath('ocr/arabic-library-page.txt'), 'utf8');
    for (const size of SIZES) checked(page, size);
    const chunks = checked(page, { maxTokens: 64, overlapTokens: 0 });
    assert.ok(chunks.length > 1);
    for (const c of chunks) assert.ok(c.text.endsWith('.'), c.text.slice(-10));
  });

  it('splits Arabic on ؟ ! and . and estimates it', () => {
    const text = Array.from({ length: 12 }, () => ARABIC_PARAGRAPH).join('\n\n');
    const chunks = checked(text, { maxTokens: 60, overlapTokens: 10 });
    assert.ok(chunks.length > 3);
    for (const c of chunks) assert.ok(/[.!؟]$/u.test(c.text), c.text.slice(-10));
    assert.equal(estimateTokens('حبيبي'), 3);
  });

  it('starts an overlap at a sentence start when one is near', () => {
    const text = Array.from({ length: 30 }, (_, i) => `Sentence number ${i} is here.`).join(' ');
    const chunks = checked(text, { maxTokens: 40, overlapTokens: 12 });
    let overlaps = 0;
    for (let i = 1; i < chunks.length; i++) {
      const [prev, c] = [chunks[i - 1], chunks[i]];
      if (prev && c && c.charStart < prev.charEnd) {
        overlaps++;
        assert.match(c.text, /^Sentence/);
      }
    }
    assert.ok(overlaps > 0);
  });

  it('lets a chunk cross a page only inside a paragraph that runs across the break', () => {
    const crossing = 'First paragraph ends here.\n\nThis sentence runs across the page\nbreak because the PDF put a form feed\fin the middle of it and goes on.\n\nA new paragraph.';
    const chunks = checked(crossing, { maxTokens: 512, overlapTokens: 0, minTokens: 0 });
    const across = chunks.filter((c) => c.pageStart < c.pageEnd);
    assert.equal(across.length, 1);
    assert.ok(across[0]?.text.includes('runs across the page'));
    for (const text of ['A sentence ends here.\n\fA new page starts.', 'Heading words\n\n\fnext page', 'no blank\n\nline\f\n\nhere']) {
      for (const c of checked(text, { maxTokens: 512, overlapTokens: 0 })) assert.equal(c.pageStart, c.pageEnd, JSON.stringify(text));
    }
  });

  it('follows Markdown, numbered and ALL-CAPS headings', () => {
    const body = (n: number): string => Array.from({ length: n }, (_, i) => `This is line ${i} of the section text, long enough.`).join('\n');
    const text = [`# Report`, body(2), `## Methods`, body(2), `### Sampling`, body(2), `RESULTS`, body(2), `## Discussion`, body(2)].join('\n\n');
    const chunks = checked(text, { maxTokens: 512, overlapTokens: 0, minTokens: 0 });
    assert.deepEqual(
      chunks.map((c) => c.headings),
      [['Report'], ['Report', 'Methods'], ['Report', 'Methods', 'Sampling'], ['Report', 'Methods', 'Sampling', 'RESULTS'], ['Report', 'Discussion']],
    );
    assert.ok(chunks[1]?.text.startsWith('## Methods'));
  });

  it('recognizes section lines of extracted text without Markdown', () => {
    const text = '1 Introduction\nWe study spaces in this first part.\n\n1.1 Background\nSome background follows here.\n\nInhaltsverzeichnis\nSee the contents.';
    const chunks = checked(text, { maxTokens: 512, overlapTokens: 0, minTokens: 0 });
    assert.deepEqual(
      chunks.map((c) => c.headings),
      [['1 Introduction'], ['1 Introduction', '1.1 Background'], ['1 Introduction', '1.1 Background', 'Inhaltsverzeichnis']],
    );
  });

  it('merges small sections into a neighbour on the same page unless minTokens is 0', () => {
    const text = '# A\n\nShort.\n\n# B\n\nAlso short.\n\n# C\n\nShort too.';
    assert.equal(checked(text, { maxTokens: 512, overlapTokens: 0 }).length, 1);
    assert.equal(checked(text, { maxTokens: 512, overlapTokens: 0, minTokens: 0 }).length, 3);
    assert.equal(checked(text.replace(/\n\n# B/, '\f# B'), { maxTokens: 512, overlapTokens: 0 }).length, 2);
  });

  it('rejects impossible options', () => {
    assert.throws(() => chunkDocument('x', { maxTokens: 3, overlapTokens: 0 }), RangeError);
    assert.throws(() => chunkDocument('x', { maxTokens: 100, overlapTokens: 51 }), RangeError);
    assert.throws(() => chunkDocument('x', { maxTokens: 100, overlapTokens: -1 }), RangeError);
    assert.throws(() => chunkDocument('x', { maxTokens: 100.5, overlapTokens: 0 }), RangeError);
    assert.throws(() => chunkDocument('x', { maxTokens: 100, overlapTokens: 0, minTokens: 101 }), RangeError);
  });
});

describe('estimateTokens', () => {
  const table: [string, number][] = [
    ['', 0],
    ['   \n', 0],
    ['the', 2],
    ['information', 3],
    ['2016', 4],
    ['東京都', 3],
    ['حبيبي', 3],
    ['ISO-9001', 7],
    ['a, b.', 5],
  ];
  for (const [s, n] of table) it(`estimates ${JSON.stringify(s)} as ${n}`, () => assert.equal(estimateTokens(s), n));

  it('overestimates English prose at 1.3–2 tokens per word', () => {
    for (const rel of ['ocr/phototest.txt', 'ocr/8087_054.3B.txt']) {
      const text = readFileSync(fixturePath(rel), 'utf8');
      const words = text.split(/\s+/).filter((w) => w.length > 0).length;
      const ratio = estimateTokens(text) / words;
      assert.ok(ratio >= 1.3 && ratio <= 2, `${rel}: ${ratio}`);
    }
  });

  it('never weighs a text more than the sum of its parts', () => {
    const text = `${readFileSync(fixturePath('ocr/8087_054.3B.txt'), 'utf8')} ${ARABIC_PARAGRAPH} 東京都 😀e\u0301`;
    for (let cut = 0; cut < text.length; cut += 7) assert.ok(estimateTokens(text) <= estimateTokens(text.slice(0, cut)) + estimateTokens(text.slice(cut)));
  });
});

describe('chunkId', () => {
  it('is stable, padded and sorts in chunk order', () => {
    assert.equal(chunkId('doc_0123456789abcdef0123', 2, 7), 'doc_0123456789abcdef0123_v2_c00007');
    const ids = [10, 9, 100, 0].map((i) => chunkId('doc_x', 1, i));
    assert.deepEqual([...ids].sort(), ['doc_x_v1_c00000', 'doc_x_v1_c00009', 'doc_x_v1_c00010', 'doc_x_v1_c00100']);
  });
  it('rejects ids that would not be Firestore document ids', () => {
    assert.throws(() => chunkId('a/b', 1, 0), RangeError);
    assert.throws(() => chunkId('', 1, 0), RangeError);
    assert.throws(() => chunkId('doc', -1, 0), RangeError);
    assert.throws(() => chunkId('doc', 1, 1.5), RangeError);
  });
});
