/**
 * A local Vertex AI text-embedding endpoint: plain HTTP on 127.0.0.1 speaking the REST shape the
 * `@google/genai` client sends in Vertex mode for the `text-embedding-*` models (found by pointing
 * the real client at a server and reading what it sent):
 *
 *   POST /{v1|v1beta1}/projects/{project}/locations/{location}/publishers/google/models/{model}:predict
 *   {"instances":[{"content":"…","task_type":"RETRIEVAL_DOCUMENT"},…],
 *    "parameters":{"autoTruncate":false,"outputDimensionality":256}}
 *   → 200 {"predictions":[{"embeddings":{"statistics":{"truncated":false,"token_count":3},"values":[…]}}],
 *          "metadata":{"billableCharacterCount":…}}
 *
 * Errors come back as Google APIs send them: `{"error":{"code":429,"message":"…","status":"RESOURCE_EXHAUSTED"}}`
 * with the HTTP status; an unknown path gets a non-JSON 404 page, like Google's front end.
 *
 * It records every request and checks what the service checks before embedding: the project and
 * location it serves (others: 403 PERMISSION_DENIED), the model (404 NOT_FOUND), instances per
 * request (400), tokens per request and per text with `autoTruncate: false` (400; with it unset the
 * text is truncated and `statistics.truncated` is true), empty content, the task type and the
 * output dimensionality. The limits are the documented ones; the 400 wordings are modelled on
 * messages the service is known to send ("250 instance(s) is allowed per prediction. Actual: N",
 * "Unable to submit request because the input token count is N but the model supports up to M"),
 * not copied from a capture. Tokens are counted as UTF-8 bytes / 4 unless a test says otherwise.
 *
 * Vectors are deterministic: a pseudo-random unit vector seeded by the task type and the content
 * ({@link fakeVector}), cut to `outputDimensionality` without renormalizing, as the service does.
 */
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { z } from 'zod';
import { RequestRecorder } from './recorder.js';

export const FAKE_VERTEX_PROJECT = 'demo-scriptorium';
export const FAKE_VERTEX_LOCATION = 'europe-west1';

/** A model the fake serves. */
export interface FakeVertexModel {
  readonly dimensions: number;
  /** Instances per request (250; gemini-embedding-001 takes 1). */
  readonly maxInstances: number;
  /** Tokens per text (2048). */
  readonly maxInputTokens: number;
}

export const FAKE_VERTEX_MODELS: Readonly<Record<string, FakeVertexModel>> = {
  'text-embedding-005': { dimensions: 768, maxInstances: 250, maxInputTokens: 2048 },
  'text-embedding-004': { dimensions: 768, maxInstances: 250, maxInputTokens: 2048 },
  'text-multilingual-embedding-002': { dimensions: 768, maxInstances: 250, maxInputTokens: 2048 },
  'gemini-embedding-001': { dimensions: 3072, maxInstances: 1, maxInputTokens: 2048 },
};

const TASK_TYPES = new Set(['RETRIEVAL_QUERY', 'RETRIEVAL_DOCUMENT', 'SEMANTIC_SIMILARITY', 'CLASSIFICATION', 'CLUSTERING', 'QUESTION_ANSWERING', 'FACT_VERIFICATION', 'CODE_RETRIEVAL_QUERY']);

/** One instance as the fake decoded it. */
export interface RecordedInstance {
  readonly content: string;
  readonly taskType: string | undefined;
  readonly title: string | undefined;
}

/** A request as received. */
export interface RecordedRequest {
  readonly method: string;
  /** The request path, query string included. */
  readonly url: string;
  readonly apiVersion: string | undefined;
  readonly project: string | undefined;
  readonly location: string | undefined;
  readonly model: string | undefined;
  /** `predict` for the text-embedding models. */
  readonly verb: string | undefined;
  /** Lower-cased header names. */
  readonly headers: Readonly<Record<string, string>>;
  /** The parsed JSON body (undefined when it is not JSON). */
  readonly body: unknown;
  readonly instances: readonly RecordedInstance[];
  readonly parameters: { readonly autoTruncate?: boolean; readonly outputDimensionality?: number } | undefined;
  /** Tokens of all instances, as the fake counts them. */
  readonly tokens: number;
}

/** What the fake does with a request that passed its own checks. */
export type FakeVertexReply =
  /** Embed, as the service would. */
  | 'embed'
  | { readonly error: FakeVertexError }
  /** Answer this body as it is (malformed answers). */
  | { readonly body: unknown; readonly httpStatus?: number }
  /** Never answer (until the client goes away or the server closes). */
  | { readonly hang: true };

export interface FakeVertexError {
  readonly httpStatus: number;
  /** google.rpc status name. */
  readonly status: string;
  readonly message: string;
}

/** Decides the reply to the `index`-th request (0-based, counting every request received). */
export type Responder = (request: RecordedRequest, index: number) => FakeVertexReply | Promise<FakeVertexReply>;

export interface FakeVertexOptions {
  readonly project?: string;
  readonly location?: string;
  /** Tokens per request (default 20,000). */
  readonly maxRequestTokens?: number;
  /** Token count of one text (default UTF-8 bytes / 4, rounded up). */
  readonly countTokens?: (text: string) => number;
  /** Models served (default {@link FAKE_VERTEX_MODELS}). */
  readonly models?: Readonly<Record<string, FakeVertexModel>>;
  /** Default {@link embedAll}. */
  readonly respond?: Responder;
}

export interface FakeVertex {
  /** `http://127.0.0.1:PORT`, for the engine's `endpoint`. */
  readonly baseUrl: string;
  /** `127.0.0.1:PORT`. */
  readonly hostPort: string;
  /** Every request received, in order (including refused ones). */
  readonly requests: readonly RecordedRequest[];
  /** Requests the client abandoned before the fake answered. */
  readonly cancelled: number;
  /** Replaceable between tests. */
  respond: Responder;
  /** Resolves once `count` requests have arrived in total. */
  waitForRequests(count: number): Promise<void>;
  close(): Promise<void>;
}

/** The default: embed everything. */
export const embedAll: Responder = () => 'embed';

/** The same error for every request. */
export function respondWithError(httpStatus: number, status: string, message: string): Responder {
  return () => ({ error: { httpStatus, status, message } });
}

/** Never answers. */
export const respondNever: Responder = () => ({ hang: true });

export function defaultTokenCount(text: string): number {
  return Math.ceil(Buffer.byteLength(text, 'utf8') / 4);
}

const BodySchema = z.object({
  instances: z.array(
    z
      .object({
        content: z.string(),
        task_type: z.string().optional(),
        title: z.string().optional(),
      })
      .strict(),
  ),
  parameters: z
    .object({
      autoTruncate: z.boolean().optional(),
      outputDimensionality: z.number().int().optional(),
    })
    .strict()
    .optional(),
});

const PATH = /^\/(v1|v1beta1)\/projects\/([^/]+)\/locations\/([^/]+)\/publishers\/google\/models\/([^/:]+):([A-Za-z]+)$/;

/** Starts a fake on 127.0.0.1 with an ephemeral port. Close it in `after`. */
export async function startFakeVertex(options: FakeVertexOptions = {}): Promise<FakeVertex> {
  const project = options.project ?? FAKE_VERTEX_PROJECT;
  const location = options.location ?? FAKE_VERTEX_LOCATION;
  const maxRequestTokens = options.maxRequestTokens ?? 20_000;
  const countTokens = options.countTokens ?? defaultTokenCount;
  const models = options.models ?? FAKE_VERTEX_MODELS;
  const recorder = new RequestRecorder<RecordedRequest>();
  const requests = recorder.requests;
  let respond: Responder = options.respond ?? embedAll;
  let cancelled = 0;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    let body: unknown;
    try {
      body = raw === '' ? undefined : (JSON.parse(raw) as unknown);
    } catch {
      body = undefined;
    }
    const url = req.url ?? '';
    const match = PATH.exec(url.split('?')[0] ?? '');
    const parsed = BodySchema.safeParse(body);
    const instances = parsed.success ? parsed.data.instances.map((i) => ({ content: i.content, taskType: i.task_type, title: i.title })) : [];
    const recorded: RecordedRequest = {
      method: req.method ?? '',
      url,
      apiVersion: match?.[1],
      project: match?.[2],
      location: match?.[3],
      model: match?.[4],
      verb: match?.[5],
      headers: Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : (v ?? '')])),
      body,
      instances,
      parameters: parsed.success ? parsed.data.parameters : undefined,
      tokens: instances.reduce((sum, i) => sum + countTokens(i.content), 0),
    };
    const index = recorder.record(recorded);

    let answered = false;
    res.on('close', () => {
      if (!answered && !res.writableFinished) cancelled++;
    });
    const send = (status: number, payload: unknown, contentType = 'application/json; charset=UTF-8'): void => {
      answered = true;
      if (res.destroyed) return;
      res.writeHead(status, { 'content-type': contentType });
      res.end(typeof payload === 'string' ? payload : JSON.stringify(payload));
    };
    const fail = (e: FakeVertexError): void => send(e.httpStatus, { error: { code: e.httpStatus, message: e.message, status: e.status } });

    // Google's front end answers unknown paths with an HTML page, not a JSON error.
    if (req.method !== 'POST' || !match) return send(404, '<!DOCTYPE html><title>Error 404 (Not Found)!!1</title><p>The requested URL was not found on this server.', 'text/html; charset=UTF-8');
    const resource = `projects/${recorded.project}/locations/${recorded.location}/publishers/google/models/${recorded.model}`;
    if (recorded.project !== project || recorded.location !== location) {
      return fail({ httpStatus: 403, status: 'PERMISSION_DENIED', message: `Permission 'aiplatform.endpoints.predict' denied on resource '//aiplatform.googleapis.com/${resource}' (or it may not exist).` });
    }
    const model = models[recorded.model ?? ''];
    if (!model) return fail({ httpStatus: 404, status: 'NOT_FOUND', message: `Publisher Model \`${resource}\` not found.` });
    if (recorded.verb !== 'predict') return fail({ httpStatus: 400, status: 'INVALID_ARGUMENT', message: `Method ${recorded.verb ?? ''} is not supported for ${recorded.model ?? ''}.` });
    if (!parsed.success) return fail({ httpStatus: 400, status: 'INVALID_ARGUMENT', message: `Invalid JSON payload received. ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}` });
    if (instances.length === 0) return fail({ httpStatus: 400, status: 'INVALID_ARGUMENT', message: 'At least one instance is required.' });
    if (instances.length > model.maxInstances) {
      return fail({ httpStatus: 400, status: 'INVALID_ARGUMENT', message: `${model.maxInstances} instance(s) is allowed per prediction. Actual: ${instances.length}` });
    }
    const params = parsed.data.parameters;
    const outputDimensionality = params?.outputDimensionality;
    if (outputDimensionality !== undefined && (outputDimensionality < 1 || outputDimensionality > model.dimensions)) {
      return fail({ httpStatus: 400, status: 'INVALID_ARGUMENT', message: `Output dimensionality ${outputDimensionality} is not supported by ${recorded.model ?? ''}: it must be between 1 and ${model.dimensions}.` });
    }
    for (const instance of instances) {
      if (instance.taskType !== undefined && !TASK_TYPES.has(instance.taskType)) {
        return fail({ httpStatus: 400, status: 'INVALID_ARGUMENT', message: `Invalid value for task_type: ${instance.taskType}.` });
      }
      if (instance.content.trim() === '') return fail({ httpStatus: 400, status: 'INVALID_ARGUMENT', message: 'The text content is empty.' });
    }
    if (recorded.tokens > maxRequestTokens) {
      return fail({
        httpStatus: 400,
        status: 'INVALID_ARGUMENT',
        message: `Unable to submit request because the input token count is ${recorded.tokens} but the model supports up to ${maxRequestTokens}. Reduce the input token count and try again.`,
      });
    }
    const autoTruncate = params?.autoTruncate ?? true;
    if (!autoTruncate) {
      const long = instances.map((i) => countTokens(i.content)).find((n) => n > model.maxInputTokens);
      if (long !== undefined) {
        return fail({
          httpStatus: 400,
          status: 'INVALID_ARGUMENT',
          message: `Unable to submit request because the input token count is ${long} but the model supports up to ${model.maxInputTokens}. Reduce the input token count and try again.`,
        });
      }
    }

    const reply = await respond(recorded, index);
    if (reply === 'embed') {
      return send(200, {
        predictions: instances.map((i) => {
          const tokens = countTokens(i.content);
          return {
            embeddings: {
              statistics: { truncated: tokens > model.maxInputTokens, token_count: Math.min(tokens, model.maxInputTokens) },
              values: fakeVector(i.content, i.taskType, model.dimensions, outputDimensionality),
            },
          };
        }),
        metadata: { billableCharacterCount: instances.reduce((sum, i) => sum + i.content.replace(/\s/g, '').length, 0) },
      });
    }
    if ('hang' in reply) return;
    if ('error' in reply) return fail(reply.error);
    return send(reply.httpStatus ?? 200, reply.body);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'application/json; charset=UTF-8' });
        res.end(JSON.stringify({ error: { code: 500, message: `fake Vertex AI failed: ${err instanceof Error ? err.message : String(err)}`, status: 'INTERNAL' } }));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    hostPort: `127.0.0.1:${port}`,
    requests,
    get cancelled() {
      return cancelled;
    },
    get respond() {
      return respond;
    },
    set respond(next: Responder) {
      respond = next;
    },
    waitForRequests: (count) => recorder.waitFor(count),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
    },
  };
}

/**
 * The vector the fake answers for `content`: a unit vector of `dimensions` pseudo-random
 * components seeded by the task type and the content, cut to `outputDimensionality` when given
 * (no longer unit length then).
 */
export function fakeVector(content: string, taskType: string | undefined, dimensions: number, outputDimensionality?: number): number[] {
  const seed = createHash('sha256')
    .update(`${taskType ?? ''}\n${content}`)
    .digest();
  let state = seed.readUInt32LE(0) ^ seed.readUInt32LE(4);
  const next = (): number => {
    // mulberry32
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const values = Array.from({ length: dimensions }, () => next() * 2 - 1);
  const norm = Math.sqrt(values.reduce((s, v) => s + v * v, 0));
  return values.slice(0, outputDimensionality ?? dimensions).map((v) => v / norm);
}
