/**
 * Search through the whole stack: documents uploaded as a client does, processed (text → chunks with
 * vectors and terms), then found through POST /v1/search as the signed-in member: a sentence, an
 * exact reference, an Arabic word (keyword side only: the local embedding model knows English
 * only). Outsiders and bad bodies are refused. Made-up names and references carry a per-run nonce,
 * so earlier runs on the same stack (or other tests' documents) cannot take first place.
 */
import { randomInt } from 'node:crypto';
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { localConfigForTests } from '../helpers/platform.js';
import { api, signIn, signUp, uploadAndWait } from '../helpers/client.js';
import { SearchResponseSchema, type SearchResponse } from '../../shared/api/contracts.js';
import type { LocalConfig } from '../../emulators/local-config.js';

let cfg: LocalConfig;
let token: string;

const latin = (n: number): string => Array.from({ length: n }, () => String.fromCharCode(97 + randomInt(26))).join('');
/** Arabic letters without variants that normalization folds (no alef forms, ى, ة, hamza seats). */
const ARABIC_LETTERS = 'بتثجحخدذرزسشصضطظعغفقكلمنهوي';
const arabic = (n: number): string => Array.from({ length: n }, () => ARABIC_LETTERS[randomInt(ARABIC_LETTERS.length)]).join('');

const town = `Quell${latin(7)}`;
const reference = `${1000 + randomInt(8999)}:${100 + randomInt(899)}`;
const arabicName = arabic(7);

const SENTENCE = `The old lighthouse of ${town} was rebuilt in granite after the great storm washed away its wooden tower.`;
const DOCS = {
  lighthouse: `Harbour notes\n\n${SENTENCE} Fishermen still tell how the keeper kept the lamp burning through three nights of wind. The new light can be seen from forty kilometres at sea.`,
  ledger: `Archive ledger\n\nThe register lists item ${reference} among the charters of the abbey, next to the grants of land and the tithe records. Item ${reference} is a copy on parchment, sealed in green wax.`,
  arabic: `في المدينة القديمة مكتبة عامة يديرها رجل اسمه ${arabicName}.\nيفتح ${arabicName} المكتبة كل صباح ويرتب الكتب والمخطوطات على الرفوف.`,
};

const ids: Record<keyof typeof DOCS, string> = { lighthouse: '', ledger: '', arabic: '' };

async function search(body: unknown, as = token): Promise<{ status: number; json: unknown; text: string }> {
  return api(cfg, as, 'POST', '/v1/search', body);
}

async function found(query: string, extra: Record<string, unknown> = {}): Promise<SearchResponse> {
  const res = await search({ projectId: cfg.projectId, query, ...extra });
  assert.equal(res.status, 200, res.text);
  return SearchResponseSchema.parse(res.json);
}

const highlighted = (hit: { snippet: string; highlights: { start: number; end: number }[] }): string[] => hit.highlights.map((h) => hit.snippet.slice(h.start, h.end));

before(async () => {
  cfg = localConfigForTests();
  token = await signIn(cfg);
  const done = await Promise.all(
    (Object.keys(DOCS) as (keyof typeof DOCS)[]).map(async (key) => {
      const { job, upload } = await uploadAndWait(cfg, token, `search-${key}-${latin(4)}.txt`, Buffer.from(DOCS[key], 'utf8'), 'text/plain');
      assert.equal(job.status, 'COMPLETED', JSON.stringify(job.error));
      return [key, upload.documentId] as const;
    }),
  );
  for (const [key, id] of done) ids[key] = id;
});

describe('search through the stack', () => {
  it('finds a document first from one of its sentences, with both sides and the words highlighted', async () => {
    const res = await found(SENTENCE);
    assert.deepEqual(res.modes, { keyword: true, vector: true });
    const top = res.results[0];
    assert.ok(top, 'no results');
    assert.equal(top.documentId, ids.lighthouse, JSON.stringify(res.results.slice(0, 3)));
    assert.ok(top.fileName.startsWith('search-lighthouse-'));
    assert.equal(top.page, 1);
    assert.ok(top.snippet.includes(town), top.snippet);
    assert.ok(highlighted(top).some((h) => h.includes(town)), JSON.stringify(highlighted(top)));
    assert.ok(res.took.ms >= 0 && res.results.length <= 10);
    // Without the made-up name, a paraphrase still finds it (vector and stemmed keywords).
    const para = await found(`storm destroyed the wooden lighthouse tower of ${town}`);
    assert.equal(para.results[0]?.documentId, ids.lighthouse);
  });

  it('finds an exact reference first', async () => {
    const res = await found(reference);
    const top = res.results[0];
    assert.equal(top?.documentId, ids.ledger, JSON.stringify(res.results.slice(0, 3)));
    assert.ok(top && highlighted(top).includes(reference), JSON.stringify(top && highlighted(top)));
  });

  it('finds the Arabic document by an Arabic word, on the keyword side alone', async () => {
    const res = await found(`مكتبة ${arabicName}`);
    assert.deepEqual(res.modes, { keyword: true, vector: false });
    const top = res.results[0];
    assert.equal(top?.documentId, ids.arabic, JSON.stringify(res.results.slice(0, 3)));
    assert.ok(top && highlighted(top).includes(arabicName), JSON.stringify(top && highlighted(top)));
  });

  it('filters by document and limits the results', async () => {
    const within = await found(SENTENCE, { documentId: ids.ledger });
    assert.ok(within.results.every((r) => r.documentId === ids.ledger), JSON.stringify(within.results));
    const one = await found('the', { limit: 1 });
    assert.ok(one.results.length <= 1);
  });

  it('refuses non-members (403) and other projects (403)', async () => {
    const stranger = await signUp(cfg, `search-stranger-${Date.now()}@example.com`);
    const res = await search({ projectId: cfg.projectId, query: 'lighthouse' }, stranger);
    assert.equal(res.status, 403, res.text);
    assert.equal((res.json as { code: string }).code, 'PERMISSION_DENIED');
    const other = await search({ projectId: `no-such-project-${latin(6)}`, query: 'lighthouse' });
    assert.equal(other.status, 403, other.text);
    const anonymous = await api(cfg, null, 'POST', '/v1/search', { projectId: cfg.projectId, query: 'x' });
    assert.equal(anonymous.status, 401, anonymous.text);
  });

  it('answers 400 to bad bodies and 405 to other methods', async () => {
    const bad: unknown[] = [
      {},
      { projectId: cfg.projectId },
      { projectId: cfg.projectId, query: '' },
      { projectId: cfg.projectId, query: '   ' },
      { projectId: cfg.projectId, query: 'x'.repeat(501) },
      { projectId: cfg.projectId, query: 'x', limit: 0 },
      { projectId: cfg.projectId, query: 'x', limit: 51 },
      { projectId: cfg.projectId, query: 'x', limit: 2.5 },
      { projectId: cfg.projectId, query: 'x', mode: 'vector' },
      { projectId: cfg.projectId, query: 'x', documentId: '../etc' },
      { projectId: 42, query: 'x' },
      ['not', 'an', 'object'],
    ];
    for (const body of bad) {
      const res = await search(body);
      assert.equal(res.status, 400, `${JSON.stringify(body).slice(0, 80)} → ${res.status} ${res.text}`);
      assert.equal((res.json as { code: string }).code, 'INVALID_ARGUMENT');
    }
    const get = await api(cfg, token, 'GET', '/v1/search');
    assert.equal(get.status, 405);
  });
});
