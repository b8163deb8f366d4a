/**
 * Keyword terms: tokens, references, stopwords, the English light stemmer (with a small retrieval
 * measurement on real text deciding whether stemming earns its place), and the query side.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';

import { MAX_TERM_LENGTH, queryTerms, stemEnglish, stopwordsFor, termFrequencies, termLanguage, terms } from '../../shared/text/terms.js';
import type { TermsOptions } from '../../shared/text/terms.js';
import { fixturePath } from '../helpers/paths.js';

const phototest = readFileSync(fixturePath('ocr/phototest.txt'), 'utf8');
const dense = readFileSync(fixturePath('ocr/8087_054.3B.txt'), 'utf8');
/** Transcripts of the LibriVox recordings in cmusphinx/pocketsphinx test/data/librivox (public domain). */
const AUSTEN = [
  'and mister john dashwood had then leisure to consider how much there might be prudently in his power to do for them',
  'he was not an ill disposed young man',
  'unless to be rather cold hearted and rather selfish is to be ill disposed',
];

describe('terms', () => {
  it('gives normalized words in text order', () => {
    assert.deepEqual(terms('The quick brown dog jumped over the lazy fox.'), ['the', 'quick', 'brown', 'dog', 'jumped', 'over', 'the', 'lazy', 'fox']);
  });

  it('keeps references whole and also gives their parts', () => {
    const t = terms('See 2:255, 3.14, §12, § 7 and ISO-9001.');
    for (const expected of ['2:255', '2', '255', '3.14', '3', '14', '§12', '12', '§7', '7', 'iso-9001', 'iso', '9001']) assert.ok(t.includes(expected), `missing ${expected} in ${t.join(' ')}`);
    assert.deepEqual(terms('ISO-9001'), ['iso-9001', 'iso', '9001']);
  });

  it('drops single-letter parts of a reference but keeps single-letter words', () => {
    assert.deepEqual(terms('e-mail'), ['e-mail', 'mail']);
    assert.deepEqual(terms("l'homme", { language: 'fr' }), ["l'homme", 'homme']);
    assert.deepEqual(terms('C and R'), ['c', 'and', 'r']);
  });

  it('does not join words across sentence punctuation and white space', () => {
    assert.deepEqual(terms('end. Next: more/less'), ['end', 'next', 'more/less', 'more', 'less']);
  });

  it('folds case, accents, compatibility forms and Arabic variants', () => {
    assert.deepEqual(terms('Café ＦＵＬＬ Straße'), ['cafe', 'full', 'strasse']);
    assert.deepEqual(terms('حَبيبي habibi'), ['حبيبي', 'habibi']);
    assert.deepEqual(terms('أحمد إحمد احمد'), ['احمد', 'احمد', 'احمد']);
    assert.deepEqual(terms('مدرسة ٣٫١٤'), ['مدرسه', '3.14', '3', '14']);
  });

  it('rejoins words hyphenated across a line break', () => {
    assert.deepEqual(terms('has weath-\nered time'), ['has', 'weathered', 'time']);
    assert.ok(terms(dense).includes('ignorant'));
  });

  it('gives overlapping bigrams for Han and kana runs', () => {
    assert.deepEqual(terms('東京都'), ['東京', '京都']);
    assert.deepEqual(terms('東 Tokyo'), ['東', 'tokyo']);
  });

  it(`drops terms longer than ${MAX_TERM_LENGTH} characters`, () => {
    assert.deepEqual(terms(`a${'x'.repeat(200)} b`), ['b']);
  });

  it('is deterministic', () => {
    assert.deepEqual(terms(dense, { language: 'en' }), terms(dense, { language: 'en' }));
  });
});

describe('stopwords', () => {
  it('drops the stopwords of the given language only', () => {
    assert.deepEqual(terms('the city of Dubrovnik', { language: 'en' }), ['citi', 'dubrovnik']);
    assert.deepEqual(terms('the city of Dubrovnik', { language: 'en', stem: false }), ['city', 'dubrovnik']);
    assert.deepEqual(terms('Die Kugeloberfläche ist für den Torus', { language: 'deu' }), ['kugeloberflache', 'torus']);
    assert.deepEqual(terms('le chat et la souris', { language: 'fr' }), ['chat', 'souris']);
    assert.deepEqual(terms('buku yang dan di meja', { language: 'id' }), ['buku', 'meja']);
    assert.deepEqual(terms('ذهب إلى المدرسة في الصباح', { language: 'ar' }), ['ذهب', 'المدرسه', 'الصباح']);
    assert.deepEqual(terms('the city'), ['the', 'city']);
  });

  it('keeps the name Ali although على is a stopword in Arabic lists', () => {
    assert.deepEqual(terms('على علي', { language: 'arb' }), ['علي', 'علي']);
  });

  it('normalizes the lists like the text', () => {
    assert.ok(stopwordsFor('de').has('fur'));
    assert.ok(stopwordsFor('de').has('dass'));
    assert.ok(stopwordsFor('ar').has('الي'));
    assert.equal(stopwordsFor('xx').size, 0);
  });

  it('accepts ISO 639-1, 639-3 and BCP 47 codes', () => {
    const table: [string | undefined, string | undefined][] = [
      ['en', 'en'],
      ['eng', 'en'],
      ['en-GB', 'en'],
      ['DEU', 'de'],
      ['fra', 'fr'],
      ['ind', 'id'],
      ['arb', 'ar'],
      ['und', undefined],
      [undefined, undefined],
    ];
    for (const [code, lang] of table) assert.equal(termLanguage(code), lang, String(code));
  });
});

describe('stemEnglish', () => {
  // Expected values follow Porter2 steps 0–1c (snowballstem.org/algorithms/english/stemmer.html).
  const table: [string, string][] = [
    ['caresses', 'caress'],
    ['ponies', 'poni'],
    ['ties', 'tie'],
    ['cats', 'cat'],
    ['gas', 'gas'],
    ['this', 'this'],
    ['kiwis', 'kiwi'],
    ['bus', 'bus'],
    ['feed', 'feed'],
    ['agreed', 'agree'],
    ['plastered', 'plaster'],
    ['motoring', 'motor'],
    ['sing', 'sing'],
    ['hopping', 'hop'],
    ['hoping', 'hope'],
    ['filing', 'file'],
    ['falling', 'fall'],
    ['hissing', 'hiss'],
    ['fizzed', 'fizz'],
    ['failing', 'fail'],
    ['conflated', 'conflate'],
    ['cry', 'cri'],
    ['cries', 'cri'],
    ['by', 'by'],
    ['say', 'say'],
    ['happy', 'happi'],
    ['jumped', 'jump'],
    ['jumping', 'jump'],
    ['jumps', 'jump'],
    ["dubrovnik's", 'dubrovnik'],
    ['news', 'news'],
    ['skies', 'sky'],
    ['dying', 'die'],
    ['proceed', 'proceed'],
    ['université', 'université'],
  ];
  for (const [word, stem] of table) it(`stems ${word} to ${stem}`, () => assert.equal(stemEnglish(word), stem));

  it('does not conflate words the derivational steps would', () => {
    for (const [a, b] of [
      ['university', 'universe'],
      ['general', 'generic'],
      ['organ', 'organization'],
      ['news', 'new'],
    ] as const) {
      assert.notEqual(stemEnglish(a), stemEnglish(b), `${a} / ${b}`);
    }
  });
});

/** Okapi BM25 (k1 1.2, b 0.75) over `docs`: the index of the best document for `query`, or -1. */
function bm25Top(docs: string[], query: string, options: TermsOptions): number {
  const freqs = docs.map((d) => termFrequencies(d, options));
  const avgdl = freqs.reduce((a, f) => a + f.tokenCount, 0) / freqs.length;
  const df = new Map<string, number>();
  for (const f of freqs) for (const t of f.counts.keys()) df.set(t, (df.get(t) ?? 0) + 1);
  let best = -1;
  let bestScore = 0;
  freqs.forEach((f, i) => {
    let score = 0;
    for (const q of queryTerms(query, options)) {
      const tf = f.counts.get(q) ?? 0;
      const n = df.get(q) ?? 0;
      if (tf === 0) continue;
      const idf = Math.log(1 + (docs.length - n + 0.5) / (n + 0.5));
      score += (idf * tf * 2.2) / (tf + 1.2 * (0.25 + (0.75 * f.tokenCount) / avgdl));
    }
    if (score > bestScore) {
      bestScore = score;
      best = i;
    }
  });
  return best;
}

describe('English stemming, measured', () => {
  // Passages: the paragraphs of two OCR ground truths and three LibriVox transcripts. Queries use
  // other inflections of the passage's words than the passage itself (jumping/jumped, tile/tiles).
  const passages = [...dense.split(/\n\s*\n/), ...phototest.split(/\n\s*\n/), ...AUSTEN].map((p) => p.trim()).filter((p) => p.length > 0);
  const find = (needle: string): number => {
    const i = passages.findIndex((p) => p.replace(/\s+/g, ' ').includes(needle));
    assert.ok(i >= 0, `no passage contains ${needle}`);
    return i;
  };
  const queries: [string, number][] = [
    ['dogs jumping', find('brown dog jumped')],
    ['truck delivered tile', find('delivering 250,000 roof tiles')],
    ['attacked serb', find('drunkenly attacking the Serbs')],
    ['charities transported cements', find('charity, transporting')],
    ['tourism account', find('Tourism accounted')],
    ['historian remained', find('historians remain')],
    ['visit dubrovnik', find('I visited the')],
    ['consideration of powers', find('leisure to consider')],
    ['selfishness heart', find('cold hearted')],
    ['ill dispose young men', find('ill disposed young man')],
    ['ocr codes format', find('ocr code and see')],
    ['mercenary reinforcing', find('Russian mercenaries')],
    // Exact forms: stemming must not lose these.
    ['quick brown dog lazy fox', find('brown dog jumped')],
    ['Red Cross food parcels', find('Red Cross')],
    ['Nautika restaurant war museum', find('Nautika restaurant')],
    ['terra-cotta roofs', find('TERRA-COTTA')],
    ['cold hearted selfish', find('cold hearted')],
  ];

  it('finds at least as many passages with stemming as without, and more on this set', (t) => {
    // Not a benchmark: twelve queries differ from their passage by inflection only (the case
    // stemming is for), five repeat its exact words (stemming must not lose them).
    const hits = (stem: boolean): number => queries.filter(([q, want]) => bm25Top(passages, q, { language: 'en', stem }) === want).length;
    const withStem = hits(true);
    const without = hits(false);
    t.diagnostic(`top-1 hits over ${queries.length} queries and ${passages.length} passages: stemming ${withStem}, none ${without}`);
    assert.ok(withStem >= without);
    assert.ok(withStem > without);
  });
});

describe('termFrequencies and queryTerms', () => {
  it('counts terms and the document length', () => {
    const f = termFrequencies('The dog saw the dogs. ISO-9001!', { language: 'en' });
    assert.equal(f.counts.get('dog'), 2);
    assert.equal(f.counts.get('the'), undefined);
    assert.equal(f.counts.get('iso-9001'), 1);
    assert.equal(f.tokenCount, [...f.counts.values()].reduce((a, b) => a + b, 0));
    assert.equal(f.tokenCount, 6);
  });

  it('gives distinct query terms in order, made like document terms', () => {
    assert.deepEqual(queryTerms('Jumping dogs, jumped DOG', { language: 'en' }), ['jump', 'dog']);
    assert.deepEqual(queryTerms('حَبيبي'), terms('حبيبي'));
  });

  it('keeps stopwords when a query has nothing else', () => {
    assert.deepEqual(queryTerms('To be, or not to be', { language: 'en' }), ['to', 'be', 'or', 'not']);
    assert.deepEqual(queryTerms('the who', { language: 'en' }), ['who']);
    assert.deepEqual(queryTerms('', { language: 'en' }), []);
  });

  it('tokenizes 180 kB of text quickly', (t) => {
    const big = dense.repeat(40);
    const t0 = performance.now();
    const f = termFrequencies(big, { language: 'en' });
    const ms = performance.now() - t0;
    t.diagnostic(`termFrequencies on ${big.length} characters: ${ms.toFixed(1)} ms, ${f.tokenCount} terms`);
    assert.ok(ms < 2000);
  });
});
