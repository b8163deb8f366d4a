/**
 * The OpenAPI 3.1 document of the API, generated from the route table: each route's path template
 * and per-method docs carry the very zod schemas the route validates with, turned into JSON Schema
 * 2020-12 (OpenAPI 3.1's dialect) by zod. Built once per instance, on the first request for it.
 */
import { z } from 'zod';
import { ApiErrorSchema } from '../../shared/api/contracts.js';
import type { Method, OperationDoc, Route } from './http.js';

type Json = Record<string, unknown>;

/** Statuses every authenticated operation may answer with (problem+json). */
const COMMON_ERRORS = [400, 401, 403, 404, 429, 500] as const;

const ERROR_DESCRIPTIONS: Readonly<Record<number, string>> = {
  400: 'Invalid request (field errors in `details`)',
  401: 'Missing, invalid, expired or revoked credentials',
  403: 'Authenticated, but not allowed',
  404: 'No such resource (or not visible to the caller)',
  405: 'Method not allowed on this path',
  409: 'Conflict with the resource state',
  412: 'If-Match did not match the current ETag',
  413: 'Too large',
  415: 'Unsupported media type',
  422: 'Well-formed but not processable',
  428: 'If-Match required',
  429: 'Rate limited: retry after the Retry-After header',
  500: 'Internal error (details are logged, never returned)',
  503: 'Temporarily unavailable: retry',
};

/** JSON Schema of a zod schema; what JSON cannot express (dates, Firestore types) becomes `{}`. */
function schemaOf(schema: z.ZodType, io: 'input' | 'output'): Json {
  const out = z.toJSONSchema(schema, { target: 'draft-2020-12', io, unrepresentable: 'any' }) as Json;
  delete out.$schema;
  return out;
}

function operationId(method: Method, template: string): string {
  const words = template
    .replace(/^\/v1\//, '')
    .split('/')
    .map((part) => (part.startsWith('{') ? `by-${part.slice(1, -1)}` : part))
    .join('-')
    .split(/[^A-Za-z0-9]+/)
    .filter((w) => w.length > 0);
  return [method.toLowerCase(), ...words.map((w) => w[0]?.toUpperCase() + w.slice(1))].join('');
}

function parameters(template: string, doc: OperationDoc): Json[] {
  const params: Json[] = [];
  for (const m of template.matchAll(/\{([A-Za-z0-9_]+)\}/g)) {
    params.push({ name: m[1], in: 'path', required: true, schema: { type: 'string' } });
  }
  if (doc.query) {
    const json = schemaOf(doc.query, 'input') as { properties?: Record<string, Json>; required?: string[] };
    for (const [name, schema] of Object.entries(json.properties ?? {})) {
      params.push({ name, in: 'query', required: json.required?.includes(name) ?? false, schema });
    }
  }
  return params;
}

function operation(method: Method, template: string, doc: OperationDoc, publicOp: boolean): Json {
  const status = String(doc.status ?? 200);
  const success: Json = doc.response
    ? { description: doc.summary, content: { 'application/json': { schema: schemaOf(doc.response, 'output') } } }
    : doc.responseType
      ? { description: doc.summary, content: { [doc.responseType]: { schema: { type: 'string' } } } }
      : { description: doc.summary };
  const responses: Json = { [status]: success };
  if (doc.redirect) {
    responses['303'] = {
      description: doc.redirect.description,
      headers: { Location: { description: 'A short-lived signed URL of the file (fetch it without credentials)', schema: { type: 'string', format: 'uri' } } },
      content: { 'application/json': { schema: schemaOf(doc.redirect.response, 'output') } },
    };
  }
  const errors = new Set<number>([...(publicOp ? [] : COMMON_ERRORS), ...(doc.errors ?? [])]);
  for (const code of [...errors].sort((a, b) => a - b)) {
    responses[String(code)] = { $ref: `#/components/responses/Problem${code}` };
  }
  const params = parameters(template, doc);
  return {
    operationId: operationId(method, template),
    summary: doc.summary,
    tags: [doc.tag ?? template.split('/')[2] ?? 'api'],
    ...(params.length > 0 ? { parameters: params } : {}),
    ...(doc.body ? { requestBody: { required: true, content: { 'application/json': { schema: schemaOf(doc.body, 'input'), ...(doc.example ? { example: doc.example } : {}) } } } } : {}),
    responses,
    ...(publicOp ? { security: [] } : {}),
  };
}

export interface OpenApiInfo {
  readonly version: string;
  readonly serverUrl?: string;
}

/** Operations in the table without docs (the coverage test requires none). */
export function undocumented(routes: readonly Route[]): string[] {
  const missing: string[] = [];
  for (const route of routes) {
    for (const method of Object.keys(route.methods) as Method[]) {
      if (!route.path || !route.docs?.[method]) missing.push(`${method} ${route.path ?? route.pattern.source}`);
    }
  }
  return missing;
}

/** The public operations, documented here because they are answered before the route table. */
const HEALTH_DOC: OperationDoc = { summary: 'Liveness of the API function (no credentials needed)', tag: 'meta', response: z.object({ status: z.literal('ok'), project: z.string(), bucket: z.string() }), errors: [429] };
const OPENAPI_DOC: OperationDoc = { summary: 'This OpenAPI document (no credentials needed)', tag: 'meta', responseType: 'application/json', errors: [429] };

export function openApiDocument(routes: readonly Route[], info: OpenApiInfo): Json {
  const paths: Record<string, Json> = {
    '/health': { get: operation('GET', '/health', HEALTH_DOC, true) },
    '/v1/openapi.json': { get: operation('GET', '/v1/openapi.json', OPENAPI_DOC, true) },
  };
  const used = new Set<number>(COMMON_ERRORS);
  for (const route of routes) {
    if (!route.path) continue;
    const item = (paths[route.path] ??= {});
    for (const method of Object.keys(route.methods) as Method[]) {
      const doc = route.docs?.[method];
      if (!doc) continue;
      for (const e of doc.errors ?? []) used.add(e);
      item[method.toLowerCase()] = operation(method, route.path, doc, false);
    }
  }
  const problem = schemaOf(ApiErrorSchema, 'output');
  const responses: Record<string, Json> = {};
  for (const code of [...used].sort((a, b) => a - b)) {
    responses[`Problem${code}`] = {
      description: ERROR_DESCRIPTIONS[code] ?? 'Error',
      content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Scriptorium API',
      version: info.version,
      description: 'Uploads, documents, search, jobs and speech of a Scriptorium deployment. Errors are application/problem+json (RFC 9457) with a stable `code`.',
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    servers: [{ url: info.serverUrl ?? '/', description: 'The api function (its URL is the base: every path is under /v1)' }],
    security: [{ bearerAuth: [] }, { apiKey: [] }],
    tags: [...new Set(Object.values(paths).flatMap((item) => Object.values(item).map((op) => ((op as { tags: string[] }).tags[0] ?? 'api'))))].sort().map((name) => ({ name, description: `${name} operations` })),
    paths,
    components: {
      schemas: { Problem: problem },
      responses,
      securitySchemes: {
        bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'Firebase ID token (or an API key)' },
        apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' },
      },
    },
  };
}
