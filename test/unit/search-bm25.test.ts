/**
 * Search, keyword side: BM25 with exact statistics (checked against the formula by hand and against
 * a brute-force ranking of a small corpus made with the indexer's own terms), and the choice of
 * query terms (which to count, score and fetch candidates for).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bm25, idf, MAX_CANDIDATE_TERMS, MAX_COUNTED_TERMS, MAX_QUERY_TERMS, preselectTerms, selectTerms, type CorpusStats } from '../../shared/search/bm25.js';
import { queryLanguage, searchTerms, vectorUseful } from '../../shared/search/query.js';
import { termFrequencies } from '../../shared/text/terms.js';

const close = (a: number, b: number, eps = 1e-9): void => assert.ok(Math.abs(a - b) < eps, `${a} ≉ ${b}`);

describe('BM25 scoring', () => {
  it('matches the formula (k1 = 1.2, b = 0.75, Lucene idf) on hand-computed numbers', () => {
    const stats: CorpusStats = { n: 3, avgdl: 10, df: new Map([['amber', 1], ['stone', 3]]) };
    // idf(amber) = ln(1 + 2.5/1.5); tf part = 2·2.2 / (2 + 1.2·(0.25 + 0.75·10/10)) = 4.4/3.2.
    close(bm25({ termFreqs: { amber: 2 }, termCount: 10 }, ['amber'], stats), Math.log(1 + 2.5 / 1.5) * (4.4 / 3.2));
    // A longer chunk scores lower for the same count; a term in every chunk still counts a little.
    assert.ok(bm25({ termFreqs: { amber: 2 }, termCount: 30 }, ['amber'], stats) < bm25({ termFreqs: { amber: 2 }, termCount: 10 }, ['amber'], stats));
    close(idf(3, 3), Math.log(1 + 0.5 / 3.5));
    assert.ok(bm25({ termFreqs: { stone: 1 }, termCount: 10 }, ['stone'], stats) > 0);
    // Absent terms, unknown df, an empty corpus and repeated query terms add nothing.
    assert.equal(bm25({ termFreqs: {}, termCount: 10 }, ['amber'], stats), 0);
    assert.equal(idf(0, 0), 0);
    close(bm25({ termFreqs: { amber: 1 }, termCount: 10 }, ['amber', 'amber'], stats), bm25({ termFreqs: { amber: 1 }, termCount: 10 }, ['amber'], stats));
  });

  it('ranks a small corpus as brute force does, and an exact reference first', () => {
    const texts = [
      'Ayat al-Kursi is verse 2:255 of the Quran, recited before sleeping.',
      'Chapter 2 has 286 verses; verse 255 of another chapter is short.',
      'The throne verse speaks of the heavens and the earth and of sleep.',
      'Invoice INV-2024-0415 is due on 15 May 2024, net 30 terms.',
    ];
    const docs = texts.map((t) => {
      const tf = termFrequencies(t, { language: 'en' });
      return { termFreqs: Object.fromEntries(tf.counts), termCount: tf.tokenCount };
    });
    const df = (t: string): number => docs.filter((d) => (d.termFreqs[t] ?? 0) > 0).length;
    const stats = (terms: string[]): CorpusStats => ({ n: docs.length, avgdl: docs.reduce((s, d) => s + d.termCount, 0) / docs.length, df: new Map(terms.map((t) => [t, df(t)])) });
    const rank = (query: string): number[] => {
      const terms = searchTerms(query);
      const s = stats(terms);
      return docs.map((d, i) => ({ i, score: bm25(d, terms, s) })).filter((x) => x.score > 0).sort((a, b) => b.score - a.score).map((x) => x.i);
    };
    assert.deepEqual(searchTerms('2:255'), ['2:255', '2', '255']);
    assert.equal(rank('2:255')[0], 0, 'the reference itself wins over its parts elsewhere');
    assert.equal(rank('inv-2024-0415')[0], 3);
    assert.deepEqual(rank('sleeping verses'), [2, 0, 1], 'stemmed: sleeping ~ sleep, verses ~ verse; both terms beat one');
    assert.deepEqual(rank('recited'), [0]);
  });
});

describe('query term selection', () => {
  it('counts references, numbers and longer words first when a query has too many terms', () => {
    const many = Array.from({ length: 40 }, (_, i) => `w${'x'.repeat(i % 5)}${String.fromCharCode(97 + (i % 26))}`);
    const terms = ['ab', ...many.map((w) => w.replace(/\d/g, '')), '2:255', 'a1'];
    const kept = preselectTerms(terms);
    assert.equal(kept.length, MAX_COUNTED_TERMS);
    assert.ok(kept.includes('2:255') && kept.includes('a1'));
    assert.ok(!kept.includes('ab'));
    // Query order is kept.
    assert.ok(kept.indexOf('2:255') > kept.indexOf(kept.find((t) => t !== '2:255' && t !== 'a1') ?? ''));
    assert.deepEqual(preselectTerms(['b', 'a']), ['b', 'a']);
  });

  it('scores the rarest present terms and fetches candidates for the rarest few', () => {
    const df = new Map<string, number>(Array.from({ length: 16 }, (_, i) => [`t${i}`, i * 10]));
    const { scored, fetch } = selectTerms(df);
    assert.equal(scored.length, MAX_QUERY_TERMS);
    assert.ok(!scored.includes('t0'), 'df 0: not in the corpus');
    assert.deepEqual(scored, Array.from({ length: 12 }, (_, i) => `t${i + 1}`));
    assert.deepEqual(fetch, ['t1', 't2', 't3'].slice(0, MAX_CANDIDATE_TERMS));
    assert.deepEqual(selectTerms(new Map([['a', 0]])), { scored: [], fetch: [] });
  });

  it('makes Arabic queries with Arabic rules, and keeps the local engine off scripts it cannot read', () => {
    assert.equal(queryLanguage('المكتبة العامة'), 'ar');
    assert.equal(queryLanguage('the library'), 'en');
    assert.equal(queryLanguage('حبيبي hi'), 'ar', 'most letters Arabic');
    assert.equal(queryLanguage('habibi means حبيبي'), 'en');
    assert.deepEqual(searchTerms('المَكتبة في المدينة'), ['المكتبه', 'المدينه'], 'diacritics, ة→ه, stopword في');
    // Stems for English chunks, and the words as written for chunks of languages without stemming.
    assert.deepEqual(searchTerms('The jumping dogs'), ['jump', 'dog', 'jumping', 'dogs']);
    assert.deepEqual(searchTerms('hukum waris'), ['hukum', 'wari', 'waris'], 'an unchanged word is not repeated');
    assert.deepEqual(searchTerms('2:255 verse'), ['2:255', '2', '255', 'verse']);
    assert.equal(vectorUseful('المكتبة العامة', 'local'), false);
    assert.equal(vectorUseful('2:255', 'local'), false);
    assert.equal(vectorUseful('library hours', 'local'), true);
    assert.equal(vectorUseful('المكتبة', 'google'), true);
  });
});

describe('the language of a query', () => {
  it('is told by its function words, so German, French and Indonesian queries match their documents\' terms', async () => {
    const { termFrequencies } = await import('../../shared/text/terms.js');
    const { documentTermsLanguage } = await import('../../shared/search/query.js');
    assert.equal(queryLanguage('die Rechte der Frauen im Gesetzes'), 'de');
    assert.equal(queryLanguage('les droits de la femme'), 'fr');
    assert.equal(queryLanguage('hukum waris dalam Islam'), 'id');
    assert.equal(queryLanguage('the rights of women'), 'en');
    // No function words: English rules, plus the unstemmed words.
    assert.equal(queryLanguage('hukum waris'), 'en');
    const cases: [string, string, string][] = [
      ['Die Rechte des Gesetzes gelten für alle Frauen.', 'deu', 'Rechte des Gesetzes'],
      ['Hukum waris dalam Islam mengatur pembagian harta.', 'ind', 'hukum waris'],
      ['Les droits des femmes sont protégés par la loi.', 'fra', 'les droits des femmes'],
    ];
    for (const [text, detected, query] of cases) {
      const chunkTerms = new Set(termFrequencies(text, { language: documentTermsLanguage(detected, text) }).counts.keys());
      const q = searchTerms(query);
      const matched = q.filter((t) => chunkTerms.has(t));
      assert.ok(matched.length >= 2, `${query} → ${q.join(' ')} matches ${[...chunkTerms].join(' ')}`);
    }
  });
});

describe('document terms are made as query terms are', () => {
  it('keeps a supported detected language and falls back to the query rule otherwise', async () => {
    const { documentTermsLanguage } = await import('../../shared/search/query.js');
    assert.equal(documentTermsLanguage('deu', 'Die Häuser'), 'de');
    assert.equal(documentTermsLanguage('eng', 'The houses'), 'en');
    // Short English misdetected (or undetected): English, as queries are analysed.
    assert.equal(documentTermsLanguage('sco', 'Vaccines reduce running costs'), 'en');
    assert.equal(documentTermsLanguage('und', 'Vaccines reduce running costs'), 'en');
    assert.equal(documentTermsLanguage(null, 'المكتبة العامة'), 'ar');
  });

  it('so a stemmed query term matches an English abstract whose language went undetected', async () => {
    const { documentTermsLanguage } = await import('../../shared/search/query.js');
    const text = 'Vaccines reduced hospital admissions';
    const docTerms = termFrequencies(text, { language: documentTermsLanguage('und', text) }).counts;
    for (const t of searchTerms('vaccine admission')) assert.ok(docTerms.has(t), `${t} in ${[...docTerms.keys()].join(' ')}`);
  });
});
