/**
 * A local Vertex AI Gemini endpoint: an HTTP/1.1 server speaking the REST shape `@google/genai`
 * sends for `models.generateContent` with `vertexai: true`, so the real client library talks to it
 * exactly as it would to `aiplatform.googleapis.com`:
 *
 *   POST /v1beta1/projects/{project}/locations/{location}/publishers/google/models/{model}:generateContent
 *   content-type: application/json, authorization: Bearer …, x-goog-api-client: google-genai-sdk/…
 *   {"contents":[{"role":"user","parts":[{"text":…}]}],"systemInstruction":{"parts":[{"text":…}],"role":"user"},
 *    "generationConfig":{"temperature":…,"candidateCount":1,"maxOutputTokens":…,"thinkingConfig":{…}}}
 *
 * (observed by pointing @google/genai 1.52 at a listening socket). It records every request and
 * checks what the service checks before generating: credentials present, the route, a known model
 * (404 with the service's wording otherwise), a JSON body with user contents, generationConfig
 * fields and ranges, and the input size against a token limit (400 with the service's wording).
 * Answers are real-shaped: `candidates[].content.parts[].text`, `finishReason`, `usageMetadata`,
 * `modelVersion`, `createTime`, `responseId`; blocks as `promptFeedback.blockReason` or
 * `finishReason: SAFETY` with safety ratings; errors as Google's JSON error body
 * `{"error":{"code","message","status"}}`. Tests choose the answer per request.
 *
 * Listens on 127.0.0.1 with an ephemeral port, plaintext.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { OAuth2Client } from 'google-auth-library';
import { RequestRecorder } from './recorder.js';

/** Models the fake knows; others answer 404 as Vertex does. */
export const FAKE_GEMINI_MODELS = ['gemini-3.5-flash-lite', 'gemini-3.5-flash', 'gemini-3.1-flash-lite', 'gemini-2.0-flash-001'] as const;
export const FAKE_GEMINI_PROJECT = 'demo-scriptorium';

/** A request as the server decoded it. */
export interface GeminiRequest {
  readonly method: string;
  readonly path: string;
  readonly apiVersion: string;
  readonly project: string;
  readonly location: string;
  readonly model: string;
  readonly headers: Readonly<Record<string, string>>;
  /** The parsed JSON body. */
  readonly body: GeminiRequestBody;
  /** Text of the system instruction's parts, joined. */
  readonly system: string;
  /** Text of the user contents' parts, joined. */
  readonly text: string;
}

export interface GeminiRequestBody {
  readonly contents?: { role?: string; parts?: { text?: string }[] }[];
  readonly systemInstruction?: { role?: string; parts?: { text?: string }[] };
  readonly generationConfig?: Record<string, unknown>;
  readonly [key: string]: unknown;
}

/** What the fake does with one request (after its own validation passed). */
export type GeminiReply =
  | { readonly text: string; readonly finishReason?: string; readonly thoughtsTokenCount?: number }
  | { readonly error: { readonly code: number; readonly message: string; readonly status?: string } }
  | { readonly promptBlocked: string; readonly message?: string }
  | { readonly finishReason: string; readonly text?: undefined }
  | { readonly noCandidates: true }
  | { readonly hang: true };

/** Decides the reply to the `index`-th valid request (0-based, counting every request received). */
export type GeminiResponder = (request: GeminiRequest, index: number) => GeminiReply | Promise<GeminiReply>;

export interface FakeGeminiOptions {
  readonly models?: readonly string[];
  /** Input token limit (default 1,048,576); the fake counts a token per 4 characters. */
  readonly inputTokenLimit?: number;
  readonly respond?: GeminiResponder;
}

export interface FakeGemini {
  /** `http://127.0.0.1:PORT`, for the engine's `baseUrl` or `SCRIPTORIUM_SUMMARY_ENDPOINT`. */
  readonly baseUrl: string;
  /** Every request received, in order (including refused ones). */
  readonly requests: readonly GeminiRequest[];
  /** Requests whose connection the client closed before an answer (aborts, deadlines). */
  readonly cancelled: number;
  respond: GeminiResponder;
  waitForRequests(count: number): Promise<void>;
  close(): Promise<void>;
}

const ROUTE = /^\/(v1|v1beta1)\/projects\/([^/]+)\/locations\/([^/]+)\/publishers\/google\/models\/([^/:]+):generateContent$/u;
const GENERATION_CONFIG_FIELDS = new Set([
  'temperature', 'topP', 'topK', 'candidateCount', 'maxOutputTokens', 'stopSequences', 'presencePenalty', 'frequencyPenalty', 'seed',
  'responseMimeType', 'responseSchema', 'responseJsonSchema', 'responseLogprobs', 'logprobs', 'thinkingConfig', 'mediaResolution', 'speechConfig', 'audioTimestamp', 'responseModalities', 'routingConfig', 'modelSelectionConfig', 'enableAffectiveDialog', 'imageConfig',
]);
const BODY_FIELDS = new Set(['contents', 'systemInstruction', 'generationConfig', 'safetySettings', 'tools', 'toolConfig', 'labels', 'cachedContent', 'modelArmorConfig']);

/** Starts a fake on 127.0.0.1:0. Close it in `after`. */
export async function startFakeGemini(options: FakeGeminiOptions = {}): Promise<FakeGemini> {
  const models = new Set(options.models ?? FAKE_GEMINI_MODELS);
  const inputTokenLimit = options.inputTokenLimit ?? 1_048_576;
  const recorder = new RequestRecorder<GeminiRequest>();
  const requests = recorder.requests;
  let respond: GeminiResponder = options.respond ?? firstSentences;
  let cancelled = 0;

  const server = createServer((req, res) => {
    void handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) sendError(res, 500, `fake Gemini failed: ${err instanceof Error ? err.message : String(err)}`, 'INTERNAL');
    });
  });

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const raw = await readBody(req);
    const url = new URL(req.url ?? '/', 'http://localhost');
    const route = ROUTE.exec(url.pathname);
    let body: GeminiRequestBody = {};
    let parseError: string | undefined;
    try {
      body = raw.length > 0 ? (JSON.parse(raw) as GeminiRequestBody) : {};
    } catch (err) {
      parseError = err instanceof Error ? err.message : String(err);
    }
    const recorded: GeminiRequest = {
      method: req.method ?? '',
      path: url.pathname,
      apiVersion: route?.[1] ?? '',
      project: decodeURIComponent(route?.[2] ?? ''),
      location: decodeURIComponent(route?.[3] ?? ''),
      model: decodeURIComponent(route?.[4] ?? ''),
      headers: Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : (v ?? '')])),
      body,
      system: (body.systemInstruction?.parts ?? []).map((p) => p.text ?? '').join(''),
      text: (body.contents ?? []).flatMap((c) => c.parts ?? []).map((p) => p.text ?? '').join(''),
    };
    const index = recorder.record(recorded);

    // The service's own checks, in the order it applies them.
    if (!route) return sendError(res, 404, `The requested URL ${url.pathname} was not found on this server.`, 'NOT_FOUND');
    if (req.method !== 'POST') return sendError(res, 405, `Method ${req.method ?? ''} not allowed.`, 'METHOD_NOT_ALLOWED');
    if (!/^Bearer \S+$/u.test(recorded.headers.authorization ?? '')) {
      return sendError(res, 401, 'Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential.', 'UNAUTHENTICATED');
    }
    if (!models.has(recorded.model)) {
      return sendError(
        res,
        404,
        `Publisher Model \`projects/${recorded.project}/locations/${recorded.location}/publishers/google/models/${recorded.model}\` was not found or your project does not have access to it. Please ensure you are using a valid model version. For more information, see: https://cloud.google.com/vertex-ai/generative-ai/docs/learn/model-versions`,
        'NOT_FOUND',
      );
    }
    if (!/^application\/json/u.test(recorded.headers['content-type'] ?? '')) return sendError(res, 400, 'Invalid JSON payload received. Unexpected content type.', 'INVALID_ARGUMENT');
    if (parseError !== undefined) return sendError(res, 400, `Invalid JSON payload received. ${parseError}`, 'INVALID_ARGUMENT');
    const invalid = validate(body);
    if (invalid) return sendError(res, 400, invalid, 'INVALID_ARGUMENT');
    const promptTokens = tokens(recorded.system) + tokens(recorded.text);
    if (promptTokens > inputTokenLimit) {
      return sendError(res, 400, `The input token count (${promptTokens}) exceeds the maximum number of tokens allowed (${inputTokenLimit}).`, 'INVALID_ARGUMENT');
    }

    let closed = false;
    res.on('close', () => {
      if (!res.writableFinished) {
        closed = true;
        cancelled++;
      }
    });
    const reply = await respond(recorded, index);
    if ('hang' in reply || closed) return;
    if ('error' in reply) return sendError(res, reply.error.code, reply.error.message, reply.error.status ?? statusName(reply.error.code));
    const meta = { modelVersion: recorded.model, createTime: new Date().toISOString(), responseId: randomBytes(12).toString('base64url') };
    const promptUsage = { promptTokenCount: promptTokens, promptTokensDetails: [{ modality: 'TEXT', tokenCount: promptTokens }], trafficType: 'ON_DEMAND' };
    if ('promptBlocked' in reply) {
      return sendJson(res, 200, {
        promptFeedback: { blockReason: reply.promptBlocked, blockReasonMessage: reply.message ?? 'The prompt was blocked due to prohibited content.' },
        usageMetadata: { ...promptUsage, totalTokenCount: promptTokens },
        ...meta,
      });
    }
    if ('noCandidates' in reply) return sendJson(res, 200, { usageMetadata: { ...promptUsage, totalTokenCount: promptTokens }, ...meta });
    if (reply.text === undefined) {
      // A withheld answer: no content, the finish reason and the ratings that blocked it.
      return sendJson(res, 200, {
        candidates: [
          {
            finishReason: reply.finishReason,
            safetyRatings: [
              { category: 'HARM_CATEGORY_DANGEROUS_CONTENT', probability: 'HIGH', probabilityScore: 0.91, severity: 'HARM_SEVERITY_HIGH', severityScore: 0.88, blocked: true },
              { category: 'HARM_CATEGORY_HARASSMENT', probability: 'NEGLIGIBLE', probabilityScore: 0.02, severity: 'HARM_SEVERITY_NEGLIGIBLE', severityScore: 0.01 },
            ],
          },
        ],
        usageMetadata: { ...promptUsage, totalTokenCount: promptTokens },
        ...meta,
      });
    }
    const out = tokens(reply.text);
    const thoughts = reply.thoughtsTokenCount ?? 0;
    return sendJson(res, 200, {
      candidates: [{ content: { role: 'model', parts: reply.text === '' ? [] : [{ text: reply.text }] }, finishReason: reply.finishReason ?? 'STOP', avgLogprobs: -0.21 }],
      usageMetadata: {
        ...promptUsage,
        candidatesTokenCount: out,
        candidatesTokensDetails: [{ modality: 'TEXT', tokenCount: out }],
        ...(thoughts ? { thoughtsTokenCount: thoughts } : {}),
        totalTokenCount: promptTokens + out + thoughts,
      },
      ...meta,
    });
  };

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    requests,
    get cancelled() {
      return cancelled;
    },
    get respond() {
      return respond;
    },
    set respond(next: GeminiResponder) {
      respond = next;
    },
    waitForRequests: (count) => recorder.waitFor(count),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Credentials for the engine's `googleAuthOptions`: a fixed bearer token, no network. */
export function fakeGoogleAuth(token = 'fake-access-token'): { authClient: OAuth2Client } {
  const authClient = new OAuth2Client();
  authClient.setCredentials({ access_token: token, expiry_date: Date.now() + 24 * 3600 * 1000 });
  return { authClient };
}

/** What Vertex would refuse in a body, in its words; undefined when the body is acceptable. */
function validate(body: GeminiRequestBody): string | undefined {
  for (const key of Object.keys(body)) {
    if (!BODY_FIELDS.has(key)) return `Invalid JSON payload received. Unknown name "${key}": Cannot find field.`;
  }
  const contents = body.contents;
  if (!Array.isArray(contents) || contents.length === 0) return 'Unable to submit request because it has an empty contents field.';
  for (const c of contents) {
    if (c.role !== undefined && c.role !== 'user' && c.role !== 'model') return `Please use a valid role: user, model.`;
    if (!Array.isArray(c.parts) || c.parts.length === 0) return 'Unable to submit request because it must have at least one parts field.';
    if (c.parts.some((p) => typeof p.text !== 'string')) return 'Unable to submit request because a part has no data.';
  }
  if (contents.at(-1)?.role === 'model') return 'Please ensure that multiturn requests alternate between user and model, ending with user.';
  const config = body.generationConfig ?? {};
  for (const key of Object.keys(config)) {
    if (!GENERATION_CONFIG_FIELDS.has(key)) return `Invalid JSON payload received. Unknown name "${key}" at 'generation_config': Cannot find field.`;
  }
  const { temperature, candidateCount, maxOutputTokens } = config;
  if (temperature !== undefined && (typeof temperature !== 'number' || temperature < 0 || temperature > 2)) return `Unable to submit request because it has a temperature value of ${JSON.stringify(temperature)} but the supported range is from 0 (inclusive) to 2.0001 (exclusive).`;
  if (candidateCount !== undefined && candidateCount !== 1) return 'Only one candidate can be specified in the current model.';
  if (maxOutputTokens !== undefined && (typeof maxOutputTokens !== 'number' || maxOutputTokens < 1 || maxOutputTokens > 65_536)) return `Unable to submit request because it has a maxOutputTokens value of ${JSON.stringify(maxOutputTokens)} but the supported range is from 1 (inclusive) to 65537 (exclusive).`;
  return undefined;
}

/** The fake's tokenizer: a token per 4 characters, as Google's rule of thumb. */
function tokens(text: string): number {
  return Math.ceil(text.length / 4);
}

function statusName(code: number): string {
  return ({ 400: 'INVALID_ARGUMENT', 401: 'UNAUTHENTICATED', 403: 'PERMISSION_DENIED', 404: 'NOT_FOUND', 429: 'RESOURCE_EXHAUSTED', 499: 'CANCELLED', 500: 'INTERNAL', 503: 'UNAVAILABLE', 504: 'DEADLINE_EXCEEDED' } as Record<number, string>)[code] ?? 'UNKNOWN';
}

function sendError(res: ServerResponse, code: number, message: string, status: string): void {
  sendJson(res, code, { error: { code, message, status } });
}

function sendJson(res: ServerResponse, code: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(code, { 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** The document between `<document>` tags in a request, or its whole text. */
export function documentOf(request: GeminiRequest): string {
  const m = /<document>\n?([\s\S]*?)\n?<\/document>/u.exec(request.text);
  return m?.[1] ?? request.text;
}

/**
 * The default answer: the first sentence of the document (up to 200 characters), so each answer
 * says which text it summarized.
 */
export const firstSentences: GeminiResponder = (request) => {
  const doc = documentOf(request).replace(/\[Part \d+\]\s*/gu, '').replace(/\s+/gu, ' ').trim();
  const first = /^.{1,200}?[.!?؟](?=\s|$)/u.exec(doc)?.[0] ?? doc.slice(0, 200);
  return { text: first || 'Empty.' };
};

/** The same reply for every request. */
export function respondWith(reply: GeminiReply): GeminiResponder {
  return () => reply;
}

/** An HTTP error for every request. */
export function respondWithError(code: number, message: string, status?: string): GeminiResponder {
  return () => ({ error: { code, message, ...(status ? { status } : {}) } });
}
