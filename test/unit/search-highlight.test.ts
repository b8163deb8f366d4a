/** Search, snippets: matched words found as the index finds them, mapped to original offsets. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { markHighlights, matchRanges, mergeRanges, snippet } from '../../shared/search/highlight.js';
import { searchTerms } from '../../shared/search/query.js';

const marked = (text: string, query: string, lang = 'en'): string => {
  const s = snippet(text, matchRanges(text, query, searchTerms(query), lang));
  return markHighlights(s.snippet, s.highlights);
};

describe('highlighting', () => {
  it('lights up whole words whose terms match, stemmed and case-folded', () => {
    assert.equal(marked('The dog Jumped over the jumping fence.', 'jumps'), 'The dog «Jumped» over the «jumping» fence.');
    assert.equal(marked('See verse 2:255 and chapter 2.', '2:255'), 'See verse «2:255» and chapter «2».');
    assert.equal(marked('Invoice INV-2024-0415 is due.', 'inv-2024-0415'), 'Invoice «INV-2024-0415» is due.');
  });

  it('maps Arabic matches back to the original text, diacritics and all', () => {
    const text = 'تقع المَكتبةُ العامة في وسط المدينة';
    const s = snippet(text, matchRanges(text, 'المكتبة', searchTerms('المكتبة'), 'ar'));
    assert.deepEqual(s.highlights.map((h) => s.snippet.slice(h.start, h.end)), ['المَكتبةُ']);
  });

  it('finds a multi-word query as a phrase (normalized) and merges touching ranges', () => {
    const text = 'Readability counts. Explicit is better than implicit.';
    const s = snippet(text, matchRanges(text, 'explicit IS better', searchTerms('explicit IS better'), 'en'));
    assert.deepEqual(s.highlights.map((h) => s.snippet.slice(h.start, h.end)), ['Explicit is better']);
    assert.deepEqual(mergeRanges([{ start: 5, end: 8 }, { start: 0, end: 2 }, { start: 2, end: 4 }, { start: 7, end: 9 }]), [{ start: 0, end: 4 }, { start: 5, end: 9 }]);
  });

  it('cuts a long text around the densest matches, collapses whitespace and keeps offsets right', () => {
    const filler = 'lorem ipsum dolor sit amet '.repeat(30);
    const text = `${filler}the keeper\n\n  polished the   Fresnel lens ${filler}`;
    const s = snippet(text, matchRanges(text, 'fresnel lens', searchTerms('fresnel lens'), 'en'), 120);
    assert.ok(s.snippet.startsWith('…') && s.snippet.endsWith('…'));
    assert.ok(s.snippet.length <= 122, String(s.snippet.length));
    assert.ok(s.snippet.includes('the keeper polished the Fresnel lens'));
    assert.deepEqual(s.highlights.map((h) => s.snippet.slice(h.start, h.end)), ['Fresnel lens']);
    // No match: the start of the text.
    const none = snippet(text, [], 60);
    assert.ok(none.snippet.startsWith('lorem ipsum') && none.highlights.length === 0);
  });
});
