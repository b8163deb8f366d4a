/**
 * Text extraction of plain text and Markdown (crafted files: encodings, syntax), the size guard,
 * and language detection for the languages this issue adds (Arabic, Indonesian).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { PermanentError, TransientError } from '../../shared/errors/index.js';
import { decodeText, extractText, markdownToText } from '../../shared/engines/extract/index.js';
import type { ExtractFamily } from '../../shared/engines/extract/index.js';
import { detectLanguage, languageFromTag } from '../../shared/engines/language.js';

let work: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'extract-text-test-'));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

async function file(name: string, bytes: Buffer | string): Promise<string> {
  const path = join(work, name);
  await writeFile(path, bytes);
  return path;
}

const ENGLISH = 'The public library stands in the middle of the old town, near the great market, and students visit it every morning.';
const ARABIC = 'تقع المكتبة العامة في وسط المدينة القديمة قرب السوق الكبير. يزورها الطلاب كل صباح لقراءة الكتب والمجلات والصحف اليومية.';
const INDONESIAN = 'Perpustakaan umum kota ini terletak di dekat pasar besar. Setiap pagi banyak mahasiswa datang untuk membaca buku, majalah, dan surat kabar.';

describe('plain text', () => {
  test('UTF-8 with and without a BOM; CRLF becomes LF; language detected', async () => {
    const plain = await extractText(await file('a.txt', `${ENGLISH}\r\nSecond line.\r\n`), 'text');
    assert.deepEqual(plain, { text: `${ENGLISH}\nSecond line.`, pageCount: 1, language: 'eng', warnings: [] });
    const bom = await extractText(await file('b.txt', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(ARABIC)])), 'text');
    assert.equal(bom.text, ARABIC);
    assert.equal(bom.language, 'arb');
  });

  test('UTF-16 LE and BE with a BOM are transcoded; without a BOM, recognised by the zero bytes with a warning', async () => {
    const le = await extractText(await file('le.txt', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(INDONESIAN, 'utf16le')])), 'text');
    assert.equal(le.text, INDONESIAN);
    assert.equal(le.language, 'ind');
    assert.deepEqual(le.warnings, []);
    const be = await extractText(await file('be.txt', Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from(ARABIC, 'utf16le').swap16()])), 'text');
    assert.equal(be.text, ARABIC);
    const noBom = decodeText(Buffer.from(ENGLISH, 'utf16le'));
    assert.equal(noBom.text, ENGLISH);
    assert.equal(noBom.charset, 'utf-16le');
    assert.match(noBom.warnings.join(), /no byte order mark/);
  });

  test('a stray invalid byte is replaced with a warning; a Latin-1 file is refused (INPUT_CORRUPT)', async () => {
    const stray = Buffer.concat([Buffer.from(`${ENGLISH.repeat(20)} `), Buffer.from([0xff]), Buffer.from(' end')]);
    const repaired = await extractText(await file('stray.txt', stray), 'text');
    assert.ok(repaired.text.includes('\uFFFD end'));
    assert.deepEqual(repaired.warnings, ['1 invalid UTF-8 byte sequence replaced with U+FFFD']);
    // A genuine U+FFFD in valid UTF-8 is not a repair.
    assert.deepEqual((await extractText(await file('fffd.txt', `${ENGLISH} \uFFFD`), 'text')).warnings, []);
    const latin1 = Buffer.from('Grüße aus Köln. Die Straße ist schön, die Bäume sind grün und die Brücke über den Fluss ist alt.', 'latin1');
    await assert.rejects(extractText(await file('latin1.txt', latin1), 'text'), (err: unknown) => {
      assert.ok(err instanceof PermanentError);
      assert.equal(err.code, 'INPUT_CORRUPT');
      assert.match(err.message, /not valid UTF-8.*re-save it as UTF-8/);
      return true;
    });
  });

  test('empty and whitespace-only files give empty text, not an error', async () => {
    assert.deepEqual(await extractText(await file('empty.txt', ''), 'text'), { text: '', pageCount: 1, language: 'und', warnings: [] });
    assert.equal((await extractText(await file('blank.md', '\n \n\t\n'), 'markdown')).text, '');
  });

  test('size guard: over maxBytes is PermanentError INPUT_TOO_LARGE before reading', async () => {
    const path = await file('big.txt', 'x'.repeat(2048));
    await assert.rejects(extractText(path, 'text', { maxBytes: 1024 }), (err: unknown) => err instanceof PermanentError && err.code === 'INPUT_TOO_LARGE' && /2048 bytes.*1024/.test(err.message));
    assert.equal((await extractText(path, 'text', { maxBytes: 4096 })).text.length, 2048);
  });

  test('a missing file is transient (the caller put it there); an unknown family is permanent', async () => {
    await assert.rejects(extractText(join(work, 'nope.txt'), 'text'), (err: unknown) => err instanceof TransientError && err.code === 'ENGINE_FAILED');
    await assert.rejects(extractText(await file('x.bin', 'x'), 'pdf' as ExtractFamily), (err: unknown) => err instanceof PermanentError && err.code === 'UNSUPPORTED_CONTENT_TYPE');
  });
});

describe('Markdown', () => {
  test('headings stay as lines; emphasis, link URLs, list and quote markers go; code is kept as text', () => {
    const md = [
      '---',
      'title: Field notes',
      '---',
      '# The *library* project',
      '',
      'Read the **full** report at [our site](https://example.org/report "Report") or ![the chart](chart.png).',
      'Keep snake_case_names and 2 * 3 * 4 intact; _emphasis_ and __strong__ and ~~struck~~ go.',
      '',
      'Setext heading',
      '==============',
      '',
      '> A quoted [reference link][ref] with `inline code`.',
      '',
      '- first item',
      '* second item',
      '1. numbered item',
      '- [x] done task',
      '',
      '| name | count |',
      '|------|------:|',
      '| maps | 12 |',
      '',
      '```python',
      'print("**not emphasis**", [1](2))',
      '```',
      '',
      '    indented code stays',
      '',
      '<!-- a comment that',
      'spans lines -->',
      'Visit <https://example.org/plain> or write to <team@example.org>.',
      'A footnote.[^1]',
      '',
      '[^1]: The note text.',
      '[ref]: https://example.org/ref',
      '***',
      'Escaped \\*stars\\* stay.',
    ].join('\n');
    assert.equal(
      markdownToText(md),
      [
        'title: Field notes',
        '',
        'The library project',
        '',
        'Read the full report at our site or the chart.',
        'Keep snake_case_names and 2 * 3 * 4 intact; emphasis and strong and struck go.',
        '',
        'Setext heading',
        '',
        'A quoted reference link with inline code.',
        '',
        'first item',
        'second item',
        'numbered item',
        'done task',
        '',
        'name\tcount',
        'maps\t12',
        '',
        'print("**not emphasis**", [1](2))',
        '',
        'indented code stays',
        '',
        'Visit https://example.org/plain or write to team@example.org.',
        'A footnote.',
        '',
        'The note text.',
        'Escaped *stars* stay.',
      ].join('\n'),
    );
  });

  test('extractText reads Markdown through the decoder (UTF-16 too)', async () => {
    const md = `# Perpustakaan\n\n${INDONESIAN} Lihat [situs kami](https://example.id).`;
    const r = await extractText(await file('doc.md', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(md, 'utf16le')])), 'markdown');
    assert.equal(r.text, `Perpustakaan\n\n${INDONESIAN} Lihat situs kami.`);
    assert.equal(r.language, 'ind');
    assert.ok(!r.text.includes('https://'));
  });
});

describe('language detection (franc-min, ISO 639-3)', () => {
  test('Arabic is arb and Indonesian is ind; an Indonesian/Malay tie goes by marker words', () => {
    assert.equal(detectLanguage(ARABIC), 'arb');
    assert.equal(detectLanguage(INDONESIAN), 'ind');
    assert.equal(detectLanguage(ENGLISH), 'eng');
    assert.equal(detectLanguage('Saya tidak tahu apakah dia akan datang besok pagi karena hujan.'), 'ind');
    assert.equal(detectLanguage('Saya tidak tahu sama ada dia akan datang esok pagi kerana hujan, boleh jadi.'), 'zlm');
    // franc-min alone answers zlm (it also models Malay in Arabic script) for this short Arabic text.
    assert.equal(detectLanguage('حَبيبي habibi\n\nحَبيبي\n\n'.repeat(4)), 'arb');
  });

  test('language tags map to the same codes', () => {
    assert.equal(languageFromTag('ar'), 'arb');
    assert.equal(languageFromTag('ar-EG'), 'arb');
    assert.equal(languageFromTag('id_ID'), 'ind');
    assert.equal(languageFromTag('en-US'), 'eng');
    assert.equal(languageFromTag('xx'), undefined);
    assert.equal(languageFromTag(undefined), undefined);
  });
});
