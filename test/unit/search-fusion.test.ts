/** Search, fusion: reciprocal rank fusion and the score blend. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { blend, fuse, minMax, preciseTerms, promote, rrf, RRF_K } from '../../shared/search/fusion.js';

const list = (...ids: string[]) => ids.map((id, i) => ({ id, score: 10 - i }));

describe('reciprocal rank fusion', () => {
  it('sums 1/(k + rank) over the sides and keeps each side rank', () => {
    const out = rrf(list('a', 'b', 'c'), list('b', 'd'));
    assert.deepEqual(out.map((f) => f.id), ['b', 'a', 'd', 'c']);
    const b = out[0];
    assert.ok(b);
    assert.equal(b.score, 1 / (RRF_K + 2) + 1 / (RRF_K + 1));
    assert.equal(b.keywordRank, 2);
    assert.equal(b.vectorRank, 1);
    assert.equal(out.find((f) => f.id === 'd')?.keywordRank, undefined);
  });

  it('breaks a tie between the two sides\' first places in favour of the keyword side', () => {
    assert.deepEqual(rrf(list('kw'), list('vec')).map((f) => f.id), ['kw', 'vec']);
    assert.deepEqual(fuse('rrf', [], list('x', 'y')).map((f) => f.id), ['x', 'y'], 'one side alone keeps its order');
    assert.deepEqual(fuse('rrf', list('x', 'y'), []).map((f) => f.id), ['x', 'y']);
  });

  it('counts an id once per side', () => {
    const out = rrf(list('a', 'a'), []);
    assert.equal(out.length, 1);
    assert.equal(out[0]?.score, 1 / (RRF_K + 1));
  });
});

describe('score blend', () => {
  it('normalizes each side and mixes them', () => {
    assert.deepEqual([...minMax([{ id: 'a', score: 1 }, { id: 'b', score: 0 }, { id: 'c', score: 0.5 }]).entries()], [['a', 1], ['b', 0], ['c', 0.5]]);
    assert.deepEqual([...minMax([{ id: 'a', score: 3 }]).entries()], [['a', 1]]);
    const out = blend([{ id: 'k', score: 8 }, { id: 'both', score: 4 }], [{ id: 'both', score: 0.9 }, { id: 'v', score: 0.5 }]);
    // k: 0.5·1; both: 0.5·0.5 + 0.5·1; v: 0.
    assert.deepEqual(out.map((f) => [f.id, f.score]), [['both', 0.75], ['k', 0.5], ['v', 0]]);
  });
});

describe('exact matches first', () => {
  it('moves chunks holding every precise term ahead, each group in fused order', () => {
    const fused = rrf(list('v1', 'ref', 'v2'), list('v1', 'v2'));
    assert.deepEqual(promote(fused, new Set(['ref'])).map((f) => f.id), ['ref', 'v1', 'v2']);
    assert.deepEqual(promote(fused, new Set()).map((f) => f.id), ['v1', 'v2', 'ref']);
    assert.deepEqual(preciseTerms(['inv-2024-0415', 'inv', '2024', '0415', 'invoice', '2:255', 'e-mail']), ['inv-2024-0415', '2:255']);
    assert.deepEqual(preciseTerms(['rfc', '9111']), ['9111']);
    assert.deepEqual(preciseTerms(['prepar', 'run', '42', 'kilometr']), [], 'a number in a sentence');
  });
});
