/** Pure logic of the resource API: ETags and If-Match, CORS, cursors, request ids, settings and agent schemas. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkIfMatch, etagOf } from '../../functions/api/http.js';
import { corsHeaders } from '../../functions/api/cors.js';
import { requestIdOf } from '../../functions/api/handler.js';
import { decodeCursor, encodeCursor, queryKey } from '../../shared/api/pagination.js';
import { contentTypeAllowed, ProjectSettingsSchema, UserSettingsSchema } from '../../shared/api/settings.js';
import { CreateAgentRequestSchema } from '../../shared/api/agents.js';
import { HttpError } from '../../shared/errors/index.js';

const req = (ifMatch?: string) => ({ method: 'PATCH', path: '/', headers: ifMatch === undefined ? {} : { 'if-match': ifMatch }, readBody: () => Promise.resolve({}) });
const status = (fn: () => void): number | null => {
  try {
    fn();
    return null;
  } catch (err) {
    return err instanceof HttpError ? err.status : -1;
  }
};

describe('etagOf', () => {
  it('is the same for the same record whatever its key order, and differs when a field changes', () => {
    assert.equal(etagOf({ a: 1, b: { c: [1, 2], d: null } }), etagOf({ b: { d: null, c: [1, 2] }, a: 1 }));
    assert.notEqual(etagOf({ a: 1, updatedAt: '2026-01-01T00:00:00.000Z' }), etagOf({ a: 1, updatedAt: '2026-01-01T00:00:00.001Z' }));
    assert.match(etagOf({}), /^"[A-Za-z0-9_-]{27}"$/);
  });
});

describe('checkIfMatch', () => {
  const current = { id: 'p', name: 'n' };
  const tag = etagOf(current);
  const cases: readonly [string, string | undefined, unknown, number | null][] = [
    ['absent header', undefined, current, null],
    ['the current tag', tag, current, null],
    ['one of a list', `"other", ${tag}`, current, null],
    ['a stale tag', '"stale"', current, 412],
    ['the weak form of the tag', `W/${tag}`, current, 412],
    ['* on an existing resource', '*', current, null],
    ['* on a missing resource', '*', null, 412],
    ['a tag on a missing resource', tag, null, 412],
  ];
  for (const [what, header, record, expected] of cases) it(`${expected === null ? 'passes' : 'refuses'} ${what}`, () => assert.equal(status(() => checkIfMatch(req(header), record)), expected));
});

describe('corsHeaders', () => {
  const allowed = ['http://localhost:5173'];
  it('echoes an allowed origin, never *', () => assert.equal(corsHeaders(allowed, 'http://localhost:5173', false)['Access-Control-Allow-Origin'], 'http://localhost:5173'));
  it('answers nothing to another origin or none', () => {
    assert.deepEqual(corsHeaders(allowed, 'http://localhost:5174', true), {});
    assert.deepEqual(corsHeaders(allowed, undefined, true), {});
  });
  it('lists If-Match and X-Request-Id for preflights', () => assert.match(corsHeaders(allowed, 'http://localhost:5173', true)['Access-Control-Allow-Headers'] ?? '', /If-Match.*X-Request-Id/));
});

describe('cursor tokens', () => {
  const key = queryKey({ list: 'documents', projectId: 'p', sort: 'fileName' });
  it('round-trip their values', () => assert.deepEqual(decodeCursor(encodeCursor(key, ['a.txt', 'doc_1']), key, 2), ['a.txt', 'doc_1']));
  it('are refused for another query, a wrong arity or garbage', () => {
    const other = queryKey({ list: 'documents', projectId: 'q', sort: 'fileName' });
    assert.equal(status(() => decodeCursor(encodeCursor(other, ['a', 'b']), key, 2)), 400);
    assert.equal(status(() => decodeCursor(encodeCursor(key, ['a']), key, 2)), 400);
    assert.equal(status(() => decodeCursor('bm90IGpzb24', key, 2)), 400);
  });
  it('bind to filters, not to their order', () => assert.equal(queryKey({ a: '1', b: undefined }), queryKey({ b: undefined, a: '1' })));
});

describe('requestIdOf', () => {
  it('keeps a sane caller id and replaces anything else', () => {
    assert.equal(requestIdOf({ headers: { 'x-request-id': 'abc-123:x' } }), 'abc-123:x');
    assert.match(requestIdOf({ headers: { 'x-request-id': 'has space' } }), /^[0-9a-f-]{36}$/);
    assert.match(requestIdOf({ headers: {} }), /^[0-9a-f-]{36}$/);
  });
});

describe('settings schemas', () => {
  it('fill defaults, nested ones included', () => {
    assert.deepEqual(UserSettingsSchema.parse({ reading: { fontSize: 20 } }).reading, { fontSize: 20, lineHeight: 1.5, fontFamily: 'serif' });
    assert.deepEqual(ProjectSettingsSchema.parse({}), { allowedContentTypes: [], maxUploadBytes: null, retentionDays: null, defaultAgentId: null });
  });
  it('refuse unknown fields', () => assert.equal(UserSettingsSchema.safeParse({ admin: true }).success, false));
  it('match content types against patterns', () => {
    assert.equal(contentTypeAllowed([], 'application/pdf'), true);
    assert.equal(contentTypeAllowed(['image/*'], 'image/png'), true);
    assert.equal(contentTypeAllowed(['text/plain'], 'text/plain; charset=utf-8'), true);
    assert.equal(contentTypeAllowed(['image/*'], 'application/pdf'), false);
  });
});

describe('agent configs', () => {
  const cases: readonly [string, unknown, boolean][] = [
    ['ocr with tesseract codes', { type: 'ocr', name: 'o', config: { languages: ['eng', 'chi_sim'] } }, true],
    ['ocr without languages', { type: 'ocr', name: 'o', config: { languages: [] } }, false],
    ['chunking with overlap below size', { type: 'chunking', name: 'c', config: { chunkSize: 1000, overlap: 100 } }, true],
    ['chunking with overlap above size', { type: 'chunking', name: 'c', config: { chunkSize: 300, overlap: 400 } }, false],
    ['tts with a rate out of range', { type: 'tts', name: 't', config: { voice: 'flite-kal16', speakingRate: 9 } }, false],
    ['summary with a tts field', { type: 'summary', name: 's', config: { voice: 'x' } }, false],
    ['an unknown type', { type: 'translate', name: 'x', config: {} }, false],
  ];
  for (const [what, body, ok] of cases) it(`${ok ? 'accepts' : 'refuses'} ${what}`, () => assert.equal(CreateAgentRequestSchema.safeParse(body).success, ok));
});
