/** Object listing semantics: lexicographic order, prefixes with a delimiter, paging across prefixes, offsets, globs. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { globToRegExp, listPage } from '../../emulators/storage/json-api.js';

const names = ['a/1', 'a/2', 'a/b/3', 'a0', 'b/1', 'b/2', 'c', 'd/', 'd/x', 'e'].sort();

function all(o: Omit<Parameters<typeof listPage>[1], 'pageToken'>): { pages: { items: string[]; prefixes: string[] }[] } {
  const pages: { items: string[]; prefixes: string[] }[] = [];
  let token: string | undefined;
  do {
    const p = listPage(names, { ...o, ...(token ? { pageToken: token } : {}) });
    pages.push({ items: p.items, prefixes: p.prefixes });
    token = p.nextPageToken;
  } while (token);
  return { pages };
}

describe('object listing', () => {
  it('pages through items and prefixes without repeating or losing any', () => {
    const { pages } = all({ prefix: '', delimiter: '/', maxResults: 2 });
    assert.deepEqual(pages, [
      { items: ['a0'], prefixes: ['a/'] },
      { items: ['c'], prefixes: ['b/'] },
      { items: ['e'], prefixes: ['d/'] },
    ]);
    assert.ok(pages.every((p) => p.items.length + p.prefixes.length <= 2));
  });

  it('lists under a prefix, one level with a delimiter, everything without', () => {
    assert.deepEqual(listPage(names, { prefix: 'a/', delimiter: '/', maxResults: 1000 }), { items: ['a/1', 'a/2'], prefixes: ['a/b/'] });
    assert.deepEqual(listPage(names, { prefix: 'a/', maxResults: 1000 }).items, ['a/1', 'a/2', 'a/b/3']);
    const paged = all({ prefix: '', maxResults: 3 }).pages.flatMap((p) => p.items);
    assert.deepEqual(paged, names);
  });

  it('includeTrailingDelimiter, startOffset/endOffset and matchGlob', () => {
    assert.deepEqual(listPage(names, { prefix: '', delimiter: '/', maxResults: 1000, includeTrailingDelimiter: true }).items, ['a0', 'c', 'd/', 'e']);
    assert.deepEqual(listPage(names, { prefix: '', maxResults: 1000, startOffset: 'b', endOffset: 'd' }).items, ['b/1', 'b/2', 'c']);
    assert.deepEqual(listPage(names, { prefix: '', maxResults: 1000, matchGlob: '**/1' }).items, ['a/1', 'b/1']);
    assert.ok(globToRegExp('a/*.{pdf,png}').test('a/x.png'));
    assert.ok(!globToRegExp('a/*.{pdf,png}').test('a/b/x.png'));
    assert.ok(globToRegExp('a/[!x]?').test('a/yz'));
  });
});
