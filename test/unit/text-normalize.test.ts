/**
 * Normalization for matching: Arabic letter variants and diacritics, bidi and zero-width controls,
 * digits, case and compatibility forms, and the offset map that highlights a normalized match in the
 * original text. Real text comes from the shared corpus (test/fixtures/ocr ground truths; the
 * Arabic of py-pdf's habibi sample, inlined below).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';

import { findMatches, normalizeForMatch, normalizeWithMap, stripBidiControls, toOriginalRange } from '../../shared/text/normalize.js';
import { fixturePath } from '../helpers/paths.js';

/** The text of py-pdf/sample-files 015-arabic/habibi.html (`<div>حَبيبي habibi</div>`, CC-BY-SA-4.0). */
const HABIBI = 'حَبيبي habibi';
/** What `pdftotext` makes of the corpus's habibi-rotated.pdf: visual order inside RLE…PDF. */
const HABIBI_PDFTOTEXT = '\u202Bيبيبَح\u202C habibi';

const corpus = {
  phototest: readFileSync(fixturePath('ocr/phototest.txt'), 'utf8'),
  dense: readFileSync(fixturePath('ocr/8087_054.3B.txt'), 'utf8'),
};

describe('normalizeForMatch: Arabic', () => {
  const equal: [string, string, string][] = [
    ['removes tashkeel (habibi)', 'حَبيبي', 'حبيبي'],
    ['removes shadda, sukun, tanween', 'مُحَمَّدٌ', 'محمد'],
    ['unifies alef with hamza above', 'أحمد', 'احمد'],
    ['unifies alef with hamza below', 'إحمد', 'احمد'],
    ['unifies alef with madda', 'آمن', 'امن'],
    ['unifies alef wasla', 'ٱلله', 'الله'],
    ['maps taa marbuta to heh', 'مدرسة', 'مدرسه'],
    ['maps alef maksura to yeh', 'مستشفى', 'مستشفي'],
    ['maps Farsi yeh to Arabic yeh', 'ایران', 'ايران'],
    ['maps hamza on waw to waw', 'مؤمن', 'مومن'],
    ['maps hamza on yeh to yeh', 'شاطئ', 'شاطي'],
    ['removes tatweel', 'كـــتاب', 'كتاب'],
    ['removes Quranic marks and superscript alef', 'ذَٰلِكَ ۖ', 'ذلك '],
    ['decomposes presentation forms (lam-alef ligature)', 'ﻻ', 'لا'],
  ];
  for (const [behaviour, input, expected] of equal) {
    it(behaviour, () => assert.equal(normalizeForMatch(input), expected));
  }

  it('makes the spellings of one name equal', () => {
    const forms = ['أحمد', 'إحمد', 'احمد', 'آحمد'].map((s) => normalizeForMatch(s));
    assert.equal(new Set(forms).size, 1);
    assert.equal(normalizeForMatch('مدرسة'), normalizeForMatch('مدرسه'));
  });

  it('keeps taa marbuta when asked to', () => {
    assert.notEqual(normalizeForMatch('مدرسة', { taaMarbutaToHeh: false }), normalizeForMatch('مدرسه', { taaMarbutaToHeh: false }));
  });

  it('uses the text of the corpus habibi files', { skip: !existsSync(fixturePath('html/habibi.html')) && 'fixture not present' }, () => {
    const html = readFileSync(fixturePath('html/habibi.html'), 'utf8');
    assert.equal(/<div>([^<]*)<\/div>/.exec(html)?.[1], HABIBI);
    if (existsSync(fixturePath('ocr/habibi-scan.txt'))) assert.equal(readFileSync(fixturePath('ocr/habibi-scan.txt'), 'utf8').trim(), HABIBI);
  });

  it('matches the corpus habibi text with and without vowel marks', () => {
    assert.equal(normalizeForMatch(HABIBI), 'حبيبي habibi');
    assert.deepEqual(findMatches(HABIBI, 'حبيبي').map((r) => HABIBI.slice(r.start, r.end)), ['حَبيبي']);
  });
});

describe('stripBidiControls', () => {
  it('removes every directional mark, embedding, override and isolate', () => {
    const controls = '\u200E\u200F\u061C\u202A\u202B\u202C\u202D\u202E\u2066\u2067\u2068\u2069';
    assert.equal(stripBidiControls(`a${controls}b`), 'ab');
  });
  it('unwraps the pdftotext form of the habibi PDF (order is not its job)', () => {
    assert.equal(stripBidiControls(HABIBI_PDFTOTEXT), 'يبيبَح habibi');
  });
  it('leaves zero-width joiners alone (normalizeForMatch removes them)', () => {
    assert.equal(stripBidiControls('a\u200Db'), 'a\u200Db');
  });
});

describe('normalizeForMatch: controls, digits, case and compatibility forms', () => {
  const cases: [string, string, string][] = [
    ['removes bidi controls', '\u202Bحبيبي\u202C', 'حبيبي'],
    ['removes zero-width space, non-joiner, joiner and BOM', '\uFEFFa\u200Bb\u200Cc\u200Dd', 'abcd'],
    ['removes soft hyphens inside words', 'Dubrov\u00ADnik', 'dubrovnik'],
    ['maps Arabic-Indic digits', '٠١٢٣٤٥٦٧٨٩', '0123456789'],
    ['maps Eastern Arabic-Indic digits', '۰۱۲۳۴۵۶۷۸۹', '0123456789'],
    ['maps the Arabic decimal separator', '٣٫١٤', '3.14'],
    ['case-folds beyond ASCII (ß → ss, final sigma)', 'STRASSE Straße ὈΔΌΣ ὀδός', 'strasse strasse ὀδόσ ὀδόσ'],
    ['applies NFKC (ligatures, full width)', 'ﬁnance ＡＢＣ①', 'finance abc1'],
    ['composes a decomposed accent', 'Cafe\u0301', 'café'],
    ['keeps Latin accents by default', 'Café Łódź', 'café łódź'],
  ];
  for (const [behaviour, input, expected] of cases) it(behaviour, () => assert.equal(normalizeForMatch(input), expected));

  it('folds Latin diacritics only when asked, and only for Latin letters', () => {
    const opts = { foldDiacritics: true };
    assert.equal(normalizeForMatch('Café Łódź Ångström naïve', opts), 'cafe lodz angstrom naive');
    // Cyrillic й and Devanagari vowel signs are letters, not accents.
    assert.equal(normalizeForMatch('й हिन्दी', opts), 'й हिन्दी');
    assert.equal(normalizeForMatch('حَبيبي', opts), 'حبيبي');
  });

  it('leaves plain lowercase ASCII as it is', () => {
    const ascii = corpus.phototest.toLowerCase();
    assert.equal(normalizeForMatch(ascii), ascii);
  });

  it('is idempotent', () => {
    for (const s of [HABIBI, HABIBI_PDFTOTEXT, corpus.dense, 'Straße ﬁ ٣٫١٤ أحمد مدرسة', 'Café Łódź']) {
      const once = normalizeForMatch(s, { foldDiacritics: true });
      assert.equal(normalizeForMatch(once, { foldDiacritics: true }), once);
    }
  });
});

describe('normalizeWithMap', () => {
  const samples = {
    phototest: corpus.phototest,
    dense: corpus.dense,
    habibi: HABIBI,
    pdftotextHabibi: HABIBI_PDFTOTEXT,
    mixed: 'Die Straße ﬁnal — أَحْمَدُ في المدرسةِ ٣٫١٤ Cafe\u0301 \u200Bzero\uFEFF 😀 e\u0301\u0301 𝐀𝐁',
  };

  for (const [name, s] of Object.entries(samples)) {
    it(`gives text equal to normalizeForMatch, with a monotone map (${name})`, () => {
      for (const options of [undefined, { foldDiacritics: true }]) {
        const n = normalizeWithMap(s, options);
        assert.equal(n.text, normalizeForMatch(s, options));
        assert.equal(n.starts.length, n.text.length);
        assert.equal(n.ends.length, n.text.length);
        assert.equal(n.originalLength, s.length);
        for (let i = 0; i < n.text.length; i++) {
          const [st, en] = [n.starts[i] ?? -1, n.ends[i] ?? -1];
          assert.ok(st >= 0 && st < en && en <= s.length, `unit ${i}: [${st}, ${en})`);
          if (i > 0) assert.ok(st >= (n.starts[i - 1] ?? 0) && en >= (n.ends[i - 1] ?? 0));
        }
      }
    });

    it(`round-trips every normalized word to the original (${name})`, () => {
      const options = { foldDiacritics: true };
      const n = normalizeWithMap(s, options);
      let count = 0;
      for (const m of n.text.matchAll(/[\p{L}\p{N}]+/gu)) {
        const r = toOriginalRange(n, m.index, m.index + m[0].length);
        assert.equal(normalizeForMatch(s.slice(r.start, r.end), options), m[0], `word ${m[0]} at ${m.index}`);
        count++;
      }
      assert.ok(count > 0);
    });
  }

  it('highlights matches in the original, whole clusters included', () => {
    const text = 'Le Café de Flore, die Straße, ﬁnance, أَحْمَد';
    const show = (q: string, o?: { foldDiacritics: boolean }): string[] => findMatches(text, q, o).map((r) => text.slice(r.start, r.end));
    assert.deepEqual(show('cafe', { foldDiacritics: true }), ['Café']);
    assert.deepEqual(show('café'), ['Café']);
    assert.deepEqual(show('STRASSE'), ['Straße']);
    assert.deepEqual(show('fin'), ['ﬁn']);
    assert.deepEqual(show('احمد'), ['أَحْمَد']);
    assert.deepEqual(show('\u200B'), []);
  });

  it('finds every occurrence in a real page', () => {
    // Four times in the page, once broken by a line end (normalization keeps white space as is).
    const hits = findMatches(corpus.phototest, 'THE LAZY FOX');
    assert.equal(hits.length, 3);
    for (const r of hits) assert.equal(corpus.phototest.slice(r.start, r.end), 'the lazy fox');
  });

  it('maps empty and out-of-range ranges predictably', () => {
    const n = normalizeWithMap('ab\u200Bc');
    assert.deepEqual(toOriginalRange(n, 0, 0), { start: 0, end: 0 });
    assert.deepEqual(toOriginalRange(n, 3, 3), { start: 4, end: 4 });
    assert.deepEqual(toOriginalRange(n, 2, 3), { start: 3, end: 4 });
    assert.throws(() => toOriginalRange(n, 2, 4), RangeError);
    assert.throws(() => toOriginalRange(n, 2, 1), RangeError);
  });

  it('normalizes 150 kB of text in well under a second', () => {
    const big = (corpus.dense + HABIBI + '\n').repeat(30);
    const t0 = performance.now();
    const n = normalizeWithMap(big, { foldDiacritics: true });
    const ms = performance.now() - t0;
    assert.equal(n.text.length, n.starts.length);
    assert.ok(ms < 1000, `${ms} ms`);
  });
});
