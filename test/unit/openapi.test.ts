/**
 * The OpenAPI document is generated from the route table: every operation is documented, the
 * document is valid OpenAPI 3.1 for a standard linter (Redocly's recommended rules), and it is
 * served without credentials at /v1/openapi.json.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createConfig, lintFromString } from '@redocly/openapi-core';
import { handleApi, OPENAPI_PATH, type ApiDeps } from '../../functions/api/handler.js';
import { openApiDocument, undocumented } from '../../functions/api/openapi.js';
import { ROUTES } from '../../functions/api/routes/index.js';

const doc = openApiDocument(ROUTES, { version: '1.0.0' });

void describe('OpenAPI document', () => {
  void it('documents every operation of the route table', () => {
    assert.deepEqual(undocumented(ROUTES), []);
    const paths = doc.paths as Record<string, Record<string, unknown>>;
    let operations = 0;
    for (const route of ROUTES) {
      for (const method of Object.keys(route.methods)) {
        operations += 1;
        assert.ok(route.path && paths[route.path]?.[method.toLowerCase()], `${method} ${route.path ?? route.pattern.source} is in the document`);
      }
    }
    assert.ok(operations >= 10, `${operations} operations`);
  });

  void it('passes the Redocly linter (recommended rules) without errors or warnings', async () => {
    const config = await createConfig({ extends: ['recommended'] });
    const problems = await lintFromString({ source: JSON.stringify(doc), absoluteRef: 'openapi.json', config });
    const shown = problems.map((p) => `${p.severity} ${p.ruleId}: ${p.message} at ${p.location.map((l) => l.pointer).join(', ')}`);
    assert.deepEqual(shown, []);
  });

  void it('matches each path template to its route pattern', () => {
    // `{id}` names a job, a document, a project or a dead letter depending on the route: some
    // well-formed id of one of those kinds must fit.
    const ids = ['job_0123456789abcdef0123', 'doc_0123456789abcdef0123', 'demo', 'x1'];
    for (const route of ROUTES) {
      const template = route.path;
      if (!template) continue;
      // Path parameters other than id/version have grammars of their own; only check the fixed shape.
      if (/\{(?!id\}|version\})/.test(template)) continue;
      const samples = ids.map((id) => template.replace(/\{id\}/g, id).replace(/\{version\}/g, '2'));
      assert.ok(samples.some((sample) => route.pattern.test(sample)), `${template} fits ${route.pattern.source}`);
    }
  });

  void it('is served without credentials at /v1/openapi.json', async () => {
    const deps = { config: { GOOGLE_CLOUD_PROJECT: 'p', SCRIPTORIUM_BUCKET: 'b' }, verifier: { verify: () => Promise.reject(new Error('no credentials needed')) }, log: { error: () => undefined, info: () => undefined } } as unknown as ApiDeps;
    const res = await handleApi({ method: 'GET', path: OPENAPI_PATH, headers: {}, readBody: () => Promise.resolve(undefined) }, deps);
    assert.equal(res.status, 200);
    assert.equal((res.body as { openapi: string }).openapi, '3.1.0');
    const post = await handleApi({ method: 'POST', path: OPENAPI_PATH, headers: {}, readBody: () => Promise.resolve(undefined) }, deps);
    assert.equal(post.status, 405);
  });
});
