/**
 * HTML text extraction (htmlparser2): the corpus habibi.html and crafted documents.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { extractText, htmlToText } from '../../shared/engines/extract/index.js';
import { fixturePath } from '../helpers/paths.js';

let work: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'extract-html-test-'));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('HTML', () => {
  test('habibi.html: title first, then the Arabic in logical order as in the source', async () => {
    const r = await extractText(fixturePath('html/habibi.html'), 'html');
    assert.equal(r.text, 'habibi\n\nحَبيبي habibi');
    assert.ok(r.text.includes('\u062D\u064E\u0628\u064A\u0628\u064A'), 'ح then its fatha, then بيبي');
    assert.equal(r.pageCount, 1);
    assert.deepEqual(r.warnings, []);
  });

  test('visible text only: no script, style, template, noscript, head, hidden elements', () => {
    const html = `<!doctype html><html><head><title>Report &amp; notes</title><style>p{color:red}</style>
      <script>var secret = "no";</script><meta name="x" content="no"></head>
      <body><noscript>enable JS</noscript><template><p>template text</p></template>
      <p hidden>hidden paragraph</p><div style="display: none">invisible</div>
      <p>Visible   text,
         collapsed.</p><svg><text>svg label</text></svg></body></html>`;
    assert.deepEqual(htmlToText(html), { text: 'Report & notes\n\nVisible text, collapsed.', title: 'Report & notes' });
  });

  test('blocks, br, lists and tables become lines; entities are decoded; pre keeps its layout', () => {
    const html = `<body><h1>Caf&eacute; &#8212; menu</h1><p>First line<br>second line</p>
      <ul><li>tea</li><li>coffee &lt;hot&gt;</li></ul>
      <table><tr><th>item</th><th>price</th></tr><tr><td><p>bread</p></td><td>2&nbsp;&euro;</td></tr></table>
      <pre>  indented
    code</pre><p>after <b>bold</b> and <a href="https://example.org">a link</a>.</p></body>`;
    assert.equal(htmlToText(html).text, ['Café — menu', '', 'First line', 'second line', '', 'tea', 'coffee <hot>', '', 'item\tprice', 'bread\t2 €', '', '  indented', '    code', '', 'after bold and a link.'].join('\n'));
  });

  test('dir="rtl" and lang are respected: text stays in logical order; lang answers when the text is too short', async () => {
    const html = '<html lang="ar" dir="rtl"><body><p dir="rtl">مرحبا <bdi>ISO 9001</bdi> بالعالم</p></body></html>';
    const parsed = htmlToText(html);
    assert.equal(parsed.text, 'مرحبا ISO 9001 بالعالم');
    assert.equal(parsed.lang, 'ar');
    const path = join(work, 'short.html');
    await writeFile(path, html);
    assert.equal((await extractText(path, 'html')).language, 'arb');
    const long = join(work, 'long.html');
    await writeFile(long, '<html lang="en"><body><p>تقع المكتبة العامة في وسط المدينة القديمة قرب السوق الكبير ويزورها الطلاب كل صباح.</p></body></html>');
    assert.equal((await extractText(long, 'html')).language, 'arb', 'the text itself outweighs a wrong lang attribute');
  });

  test('a legacy page that declares its charset is decoded with it; an undeclared one is refused', async () => {
    const path = join(work, 'latin1.html');
    const page = '<html><head><meta charset="windows-1252"><title>Caf\u00e9</title></head><body><p>Gr\u00fc\u00dfe aus K\u00f6ln \u20ac</p></body></html>';
    await writeFile(path, Buffer.from(new Uint8Array([...page].map((c) => (c === '\u20ac' ? 0x80 : c.charCodeAt(0))))));
    const r = await extractText(path, 'html');
    assert.equal(r.text, 'Café\n\nGrüße aus Köln €');
    assert.deepEqual(r.warnings, ['decoded as windows-1252, the charset the page declares']);
    const undeclared = join(work, 'undeclared.html');
    await writeFile(undeclared, Buffer.from('<p>Gr\u00fc\u00dfe aus K\u00f6ln, sch\u00f6ne Gr\u00fc\u00dfe</p>', 'latin1'));
    await assert.rejects(extractText(undeclared, 'html'), /not valid UTF-8/);
  });

  test('UTF-16 HTML with a BOM', async () => {
    const path = join(work, 'utf16.html');
    await writeFile(path, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('<!DOCTYPE html><title>t</title><p>Grüße</p>', 'utf16le')]));
    assert.equal((await extractText(path, 'html')).text, 't\n\nGrüße');
  });
});
