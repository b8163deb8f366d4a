/**
 * The bad-input suite: every operation of the API's route table (so every route added later is
 * covered without touching this file) is driven with malformed and hostile inputs: broken JSON,
 * bodies of the wrong shape, fields of the wrong type, unknown fields, oversized bodies, control
 * characters, path traversal in names and ids, hostile query parameters. Every answer must be a
 * 4xx problem+json naming a stable code, carry nothing internal, and nothing may have been written.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Firestore } from '@google-cloud/firestore';
import { Storage } from '@google-cloud/storage';
import { z } from 'zod';
import { ROUTES } from '../../functions/api/routes/index.js';
import type { Method, OperationDoc } from '../../functions/api/http.js';
import type { LocalConfig } from '../../emulators/local-config.js';
import { signIn, testFirestore } from '../helpers/client.js';
import { localConfigForTests } from '../helpers/platform.js';
import { internalsIn, rawRequest, type RawAnswer } from '../helpers/raw-http.js';

let cfg: LocalConfig;
let token: string;
let db: Firestore;

before(async () => {
  cfg = localConfigForTests();
  token = await signIn(cfg);
  db = testFirestore(cfg);
});

after(async () => {
  await db.terminate();
});

/** Collections background work of earlier tests may still write to (chunks of a finishing embed). */
const BACKGROUND = new Set(['chunks']);

/** Documents per top-level collection (subcollections of every record included), and stored objects. */
async function footprint(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const col of await db.listCollections()) {
    if (BACKGROUND.has(col.id)) continue;
    out[col.id] = (await col.count().get()).data().count;
  }
  const [files] = await new Storage({ projectId: cfg.gcpProjectId, apiEndpoint: cfg.storageEmulatorHost }).bucket(cfg.bucket).getFiles();
  out['storage objects'] = files.length;
  return out;
}

/** Sends one request, waiting out our own rate limit (a 429 here means the suite itself is fast, not a verdict). */
async function send(method: string, path: string, body?: Buffer, headers: Record<string, string> = {}): Promise<RawAnswer> {
  const url = cfg.functions.api;
  assert.ok(url, 'no api function');
  for (let i = 0; ; i += 1) {
    const res = await rawRequest(url, {
      method,
      path,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json', 'content-length': String(body.length) } : {}), ...headers },
      ...(body ? { body } : {}),
    });
    if (res.status !== 429 || i >= 5 || !String(res.text).includes('RATE_LIMITED')) return res;
    await new Promise((r) => setTimeout(r, 1000 * Number(res.headers['retry-after'] ?? 1)));
  }
}

const HOSTILE_IDS = ['..%2F..%2Fetc%2Fpasswd', '%2e%2e', 'doc_%00', 'a%0d%0aSet-Cookie:x=1', `doc_${'a'.repeat(2000)}`, '%F0%9F%92%A9', 'job_..'];

function sampleId(name: string): string {
  return name === 'version' ? '99999' : name === 'id' ? 'doc_0000000000000000dead' : `zz_${name}_missing`;
}

/** Values of the wrong type for a JSON Schema property. */
function wrongFor(schema: { type?: unknown }): unknown[] {
  switch (schema.type) {
    case 'string':
      return [12345, { $gt: '' }, ['a'], null];
    case 'integer':
    case 'number':
      return ['12', -1e308, '1e400', {}, null];
    case 'boolean':
      return ['true', 1];
    case 'array':
      return ['x', { 0: 'a' }];
    case 'object':
      return ['x', [1]];
    default:
      return [{ nested: { deeper: [1, 2, 3] } }];
  }
}

interface Probe {
  readonly name: string;
  readonly body?: Buffer;
  readonly path: string;
  readonly headers?: Record<string, string>;
}

/**
 * Names of fields holding names or ids that reach a path: traversal in them must be refused.
 * (`clientRequestId` is an opaque key the API only hashes: any printable text is a valid one; a
 * plain `name` is a display label of a project or an agent, never part of a path: their ids are
 * separate fields, probed here.)
 */
const NAMEISH = /^(?!clientRequestId$|name$).*(name|file|path|object|id$|Id$|Ids$|bucket)/i;

/**
 * Bodies for an operation: broken JSON, bodies of the wrong shape, and its documented example with
 * one field broken at a time (wrong types; control characters; traversal in names and ids), so
 * each probe is refused for that field alone. The example itself is never sent (it would be valid).
 */
function bodyProbes(doc: OperationDoc, path: string, projectId: string): Probe[] {
  if (!doc.body) return [];
  const schema = z.toJSONSchema(doc.body, { io: 'input', unrepresentable: 'any' }) as { properties?: Record<string, { type?: unknown }>; required?: string[] };
  const props = Object.entries(schema.properties ?? {});
  const j = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));
  const base: Record<string, unknown> = { ...(doc.example ?? {}) };
  if ('projectId' in base) base.projectId = projectId;
  const probes: Probe[] = [
    { name: 'malformed JSON', path, body: Buffer.from('{"projectId": "demo", ') },
    { name: 'a JSON array', path, body: j([1, 2]) },
    { name: 'JSON null', path, body: j(null) },
    { name: 'a JSON string', path, body: j('hello') },
    // An empty object is valid where every field is optional (a settings document of defaults).
    ...((schema.required ?? []).length > 0 ? [{ name: 'an empty object', path, body: j({}) }] : []),
    { name: 'prototype pollution', path, body: Buffer.from(`{"__proto__": {"admin": true}, "constructor": {"prototype": {"admin": true}}, ${JSON.stringify(base).slice(1)}`) },
    { name: 'an unknown field', path, body: j({ ...base, unknownField: true }) },
    { name: 'a 70 KiB body', path, body: j({ ...base, pad: 'x'.repeat(70 * 1024) }) },
    { name: 'invalid UTF-8', path, body: Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]) },
    { name: 'a form body', path, body: Buffer.from('a=1'), headers: { 'content-type': 'application/x-www-form-urlencoded' } },
  ];
  for (const [field, prop] of props) {
    for (const wrong of wrongFor(prop)) probes.push({ name: `${field} = ${JSON.stringify(wrong)?.slice(0, 40)}`, path, body: j({ ...base, [field]: wrong }) });
    if (prop.type === 'string') {
      const hostile = ['a\u0000b', 'line\r\nbreak\u0007', ...(NAMEISH.test(field) ? ['../../../etc/passwd', '..', '/abs/olute', 'a/../../b'] : [])];
      for (const value of hostile) probes.push({ name: `${field} = ${JSON.stringify(value).slice(0, 40)}`, path, body: j({ ...base, [field]: value }) });
    }
  }
  return probes;
}

function operations(): { method: Method; template: string; doc: OperationDoc }[] {
  const ops: { method: Method; template: string; doc: OperationDoc }[] = [];
  for (const route of ROUTES) {
    for (const method of Object.keys(route.methods) as Method[]) {
      const doc = route.docs?.[method];
      if (route.path && doc) ops.push({ method, template: route.path, doc });
    }
  }
  return ops;
}

void describe('bad input to every operation', () => {
  void it('answers each hostile request with a 4xx problem and writes nothing', async () => {
    const before = await footprint();
    const failures: string[] = [];
    let probes = 0;
    for (const { method, template, doc } of operations()) {
      const path = template.replace(/\{([A-Za-z0-9_]+)\}/g, (_m, name: string) => sampleId(name));
      const all: Probe[] = [...bodyProbes(doc, path, cfg.projectId)];
      // Hostile ids in every path parameter.
      for (const hostile of HOSTILE_IDS) {
        if (!template.includes('{')) break;
        all.push({ name: `path parameter ${hostile.slice(0, 30)}`, path: template.replace(/\{[A-Za-z0-9_]+\}/g, hostile), ...(doc.body ? { body: Buffer.from('{}') } : {}) });
      }
      // Hostile query parameters, whether or not the operation takes any.
      all.push({ name: 'hostile query', path: `${path}?limit=-1&format=..%2F..%2Fx&pageToken=%00%ff&projectId[$ne]=x&sort=__proto__`, ...(doc.body ? { body: Buffer.from('{}') } : {}) });
      for (const probe of all) {
        probes += 1;
        const res = await send(method, probe.path, probe.body, probe.headers);
        const label = `${method} ${template} with ${probe.name}: ${res.status} ${res.text.slice(0, 160)}`;
        if (res.status < 400 || res.status >= 500) {
          failures.push(label);
          continue;
        }
        if (!/^application\/problem\+json/.test(String(res.headers['content-type']))) failures.push(`${label} (content-type ${String(res.headers['content-type'])})`);
        let code: unknown;
        try {
          code = (JSON.parse(res.text) as { code?: unknown }).code;
        } catch {
          code = undefined;
        }
        if (typeof code !== 'string' || !/^[A-Z][A-Z0-9_]+$/.test(code)) failures.push(`${label} (no stable code)`);
        const internals = internalsIn(res.text);
        if (internals.length > 0) failures.push(`${label} (internals: ${internals.join(', ')})`);
      }
    }
    assert.deepEqual(failures, [], `${failures.length} of ${probes} probes`);
    assert.ok(probes > 100, `${probes} probes`);
    assert.deepEqual(await footprint(), before, 'nothing was written');
  });
});
