/**
 * The `google` embedding engine with the real @google/genai client over real HTTP, against the
 * local server in scripts/fakes/fake-vertex.ts (no network, no credentials, no emulator: this runs
 * at unit-test speed). The fake records the requests as Vertex AI would receive them, so these
 * tests check the exact path, instances, task types, parameters and batching.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';

import { ConfigError } from '../../shared/config/index.js';
import { PermanentError, TransientError, isRetryable } from '../../shared/errors/index.js';
import { createGoogleEmbeddingEngine, estimateTokens, packRequests } from '../../shared/engines/embeddings/google.js';
import type { GoogleEmbeddingEngineOptions } from '../../shared/engines/embeddings/google.js';
import { createEmbeddingEngine } from '../../shared/engines/embeddings/index.js';
import type { EmbeddingEngine } from '../../shared/engines/embeddings/types.js';
import { FAKE_VERTEX_LOCATION, FAKE_VERTEX_PROJECT, embedAll, fakeVector, respondNever, respondWithError, startFakeVertex } from '../../scripts/fakes/fake-vertex.js';
import type { FakeVertex, Responder } from '../../scripts/fakes/fake-vertex.js';
import { fastThrottle } from '../helpers/throttle.js';

let fake: FakeVertex;

before(async () => {
  fake = await startFakeVertex();
});

after(async () => {
  await fake.close();
});

/** Requests seen so far, to count those one test made. */
let seen = 0;
beforeEach(() => {
  seen = fake.requests.length;
  fake.respond = embedAll;
});
const sent = (): typeof fake.requests => fake.requests.slice(seen);

function engine(options: Partial<GoogleEmbeddingEngineOptions> = {}): EmbeddingEngine {
  return createGoogleEmbeddingEngine({ project: FAKE_VERTEX_PROJECT, location: FAKE_VERTEX_LOCATION, endpoint: fake.baseUrl, retryDelayMs: 5, throttle: fastThrottle(), ...options });
}

function norm(v: readonly number[]): number {
  return Math.sqrt(v.reduce((s, x) => s + x * x, 0));
}

function unit(v: readonly number[]): number[] {
  const n = norm(v);
  return v.map((x) => x / n);
}

function assertClose(actual: readonly number[], expected: readonly number[], what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) assert.ok(Math.abs((actual[i] ?? NaN) - (expected[i] ?? NaN)) < 1e-9, `${what}: component ${i}`);
}

const sentences = (n: number, prefix = 'Sentence'): string[] => Array.from({ length: n }, (_, i) => `${prefix} number ${i} is about something slightly different.`);

describe('request', () => {
  test('POSTs :predict on the model under the project and location, with content, task type and autoTruncate off', async () => {
    const texts = ['The cat sat on the mat.', 'A dog barked at the postman.'];
    const e = engine();
    const vectors = await e.embed(texts);
    const [request, ...more] = sent();
    assert.ok(request);
    assert.equal(more.length, 0);
    assert.equal(request.method, 'POST');
    assert.equal(request.url, `/v1/projects/${FAKE_VERTEX_PROJECT}/locations/${FAKE_VERTEX_LOCATION}/publishers/google/models/text-embedding-005:predict`);
    assert.deepEqual(request.body, {
      instances: texts.map((content) => ({ content, task_type: 'RETRIEVAL_DOCUMENT' })),
      parameters: { autoTruncate: false },
    });
    assert.equal(request.headers['content-type'], 'application/json');
    assert.match(request.headers['user-agent'] ?? '', /^google-genai-sdk\/1\.\d+/);
    assert.equal(request.headers.authorization, undefined, 'no credentials go to a loopback endpoint');
    assert.equal(e.name, 'google');
    assert.equal(e.model, 'text-embedding-005');
    assert.equal(e.dimensions, 768);
    assert.equal(e.maxInputTokens, 2048);
    assert.equal(vectors.length, 2);
    vectors.forEach((v, i) => assertClose(v, fakeVector(texts[i] ?? '', 'RETRIEVAL_DOCUMENT', 768), `text ${i}`));
  });

  test('queries are RETRIEVAL_QUERY, and embed differently from documents', async () => {
    const e = engine();
    const [query] = await e.embed(['where is the cat?'], { kind: 'query' });
    const [document] = await e.embed(['where is the cat?'], { kind: 'document' });
    const [q, d] = sent();
    assert.deepEqual(q?.instances, [{ content: 'where is the cat?', taskType: 'RETRIEVAL_QUERY', title: undefined }]);
    assert.equal(d?.instances[0]?.taskType, 'RETRIEVAL_DOCUMENT');
    assert.ok(query && document);
    assertClose(query, fakeVector('where is the cat?', 'RETRIEVAL_QUERY', 768), 'query');
    assert.notDeepEqual(query, document);
  });

  test('dimensions below the model\'s own are sent as outputDimensionality, and the shortened vectors normalized', async () => {
    const e = engine({ dimensions: 256 });
    const [v] = await e.embed(['shorter vectors']);
    assert.deepEqual(sent()[0]?.parameters, { autoTruncate: false, outputDimensionality: 256 });
    const raw = fakeVector('shorter vectors', 'RETRIEVAL_DOCUMENT', 768, 256);
    assert.ok(Math.abs(norm(raw) - 1) > 0.01, 'the service\'s shortened vector is not unit length');
    assert.ok(v);
    assert.equal(v.length, 256);
    assert.ok(Math.abs(norm(v) - 1) < 1e-9);
    assertClose(v, unit(raw), 'normalized');
    assert.equal(e.dimensions, 256);
  });

  test('the API version and model can be chosen', async () => {
    await engine({ apiVersion: 'v1beta1', model: 'text-multilingual-embedding-002' }).embed(['مرحبا بالعالم']);
    assert.equal(sent()[0]?.url, `/v1beta1/projects/${FAKE_VERTEX_PROJECT}/locations/${FAKE_VERTEX_LOCATION}/publishers/google/models/text-multilingual-embedding-002:predict`);
  });

  test('a host:port endpoint is spoken to in plain HTTP when it is loopback', async () => {
    await engine({ endpoint: fake.hostPort }).embed(['plain http']);
    assert.equal(sent().length, 1);
  });

  test('empty and blank texts are not sent; they get a fixed unit vector', async () => {
    const vectors = await engine().embed(['', 'real text', '   \n\t ', 'more text']);
    const [request] = sent();
    assert.deepEqual(
      request?.instances.map((i) => i.content),
      ['real text', 'more text'],
    );
    assert.equal(vectors.length, 4);
    for (const v of vectors) {
      assert.equal(v.length, 768);
      assert.ok(v.every(Number.isFinite));
      assert.ok(Math.abs(norm(v) - 1) < 1e-9);
    }
    assert.deepEqual(vectors[0], vectors[2]);
    const onlyBlank = await engine().embed(['', ' ']);
    assert.equal(onlyBlank.length, 2);
    assert.equal(sent().length, 1, 'nothing to send, no request');
  });

  test('unpaired surrogates are sent as U+FFFD', async () => {
    await engine().embed(['broken \uD83D pair', 'ok 😀']);
    assert.deepEqual(
      sent()[0]?.instances.map((i) => i.content),
      ['broken \uFFFD pair', 'ok 😀'],
    );
  });

  test('no texts, no request', async () => {
    assert.deepEqual(await engine().embed([]), []);
    assert.equal(sent().length, 0);
  });
});

describe('batching', () => {
  test('at most 250 texts a request, in order', async () => {
    const texts = sentences(600);
    const vectors = await engine().embed(texts);
    assert.deepEqual(
      sent().map((r) => r.instances.length),
      [250, 250, 100],
    );
    assert.deepEqual(
      sent().flatMap((r) => r.instances.map((i) => i.content)),
      texts,
    );
    vectors.forEach((v, i) => assertClose(v, fakeVector(texts[i] ?? '', 'RETRIEVAL_DOCUMENT', 768), `text ${i}`));
  });

  test('at most 20,000 tokens a request: long chunks go fewer at a time', async () => {
    // 2,000 ASCII characters: ~500 tokens of English, estimated at 667.
    const texts = Array.from({ length: 100 }, (_, i) => `${i} ${'lorem ipsum dolor sit amet '.repeat(80)}`.slice(0, 2000));
    const vectors = await engine().embed(texts);
    const requests = sent();
    assert.ok(requests.length >= 4, `${requests.length} requests`);
    for (const r of requests) {
      assert.ok(r.tokens <= 20_000, `${r.tokens} tokens in one request`);
      assert.ok(r.instances.reduce((s, i) => s + estimateTokens(i.content), 0) <= 20_000);
    }
    assert.equal(
      requests.reduce((s, r) => s + r.instances.length, 0),
      100,
    );
    assert.equal(vectors.length, 100);
  });

  test('packRequests keeps order and both limits; a text over the budget goes alone', () => {
    const texts = ['a'.repeat(30), 'b'.repeat(30), 'c'.repeat(300), 'd'.repeat(3), 'e'.repeat(3), 'f'.repeat(3)];
    assert.deepEqual(packRequests([0, 1, 2, 3, 4, 5], texts, { maxTextsPerRequest: 2, maxTokensPerRequest: 25 }), [[0, 1], [2], [3, 4], [5]]);
    assert.deepEqual(packRequests([0, 1, 2, 3, 4, 5], texts, { maxTextsPerRequest: 10, maxTokensPerRequest: 25 }), [[0, 1], [2], [3, 4, 5]]);
    assert.deepEqual(packRequests([0, 1, 2, 3, 4, 5], texts, { maxTextsPerRequest: 10, maxTokensPerRequest: 15 }), [[0], [1], [2], [3, 4, 5]]);
    assert.deepEqual(packRequests([], texts, { maxTextsPerRequest: 10, maxTokensPerRequest: 25 }), []);
    assert.equal(estimateTokens('abc'), 1);
    assert.equal(estimateTokens('مرحبا'), 4, 'UTF-8 bytes / 3');
  });

  test('gemini-embedding-001 takes one text a request', async () => {
    const e = engine({ model: 'gemini-embedding-001' });
    assert.equal(e.dimensions, 3072);
    const vectors = await e.embed(['one', 'two', 'three']);
    assert.deepEqual(
      sent().map((r) => [r.model, r.instances.length]),
      [
        ['gemini-embedding-001', 1],
        ['gemini-embedding-001', 1],
        ['gemini-embedding-001', 1],
      ],
    );
    assert.ok(vectors.every((v) => v.length === 3072));
  });

  test('a request the service finds too big is split until it fits', async () => {
    // A service counting tokens far above our estimate: 4× bytes.
    const strict = await startFakeVertex({ countTokens: (t) => Buffer.byteLength(t) * 4, maxRequestTokens: 2600 });
    try {
      // 152 bytes: 51 tokens estimated, 608 for this fake; 4 fit in its 2,600, 8 do not.
      const texts = Array.from({ length: 8 }, (_, i) => `${i} ${'word '.repeat(30)}`);
      const e = createGoogleEmbeddingEngine({ project: FAKE_VERTEX_PROJECT, location: FAKE_VERTEX_LOCATION, endpoint: strict.baseUrl });
      const vectors = await e.embed(texts);
      assert.deepEqual(
        strict.requests.map((r) => r.instances.length),
        [8, 4, 4],
        'refused whole, then in halves',
      );
      vectors.forEach((v, i) => assertClose(v, fakeVector(texts[i] ?? '', 'RETRIEVAL_DOCUMENT', 768), `text ${i}`));
    } finally {
      await strict.close();
    }
  });

  test('the service refusing more instances than it takes ("N instance(s) is allowed"): split, not failed', async () => {
    const strict = await startFakeVertex({ models: { 'text-embedding-005': { dimensions: 768, maxInstances: 5, maxInputTokens: 2048 } } });
    try {
      const texts = sentences(12);
      const e = createGoogleEmbeddingEngine({ project: FAKE_VERTEX_PROJECT, location: FAKE_VERTEX_LOCATION, endpoint: strict.baseUrl });
      const vectors = await e.embed(texts);
      assert.deepEqual(
        strict.requests.map((r) => r.instances.length),
        [12, 6, 3, 3, 6, 3, 3],
      );
      vectors.forEach((v, i) => assertClose(v, fakeVector(texts[i] ?? '', 'RETRIEVAL_DOCUMENT', 768), `text ${i}`));
    } finally {
      await strict.close();
    }
  });
});

describe('limits on one text', () => {
  const long = 'word '.repeat(2000); // 10,000 bytes: 2,500 tokens for the fake, over 2,048

  test('an over-long text → permanent INPUT_TOO_LARGE, never truncated silently', async () => {
    await assert.rejects(engine().embed([long]), (err) => {
      assert.ok(err instanceof PermanentError, String(err));
      assert.equal(err.code, 'INPUT_TOO_LARGE');
      assert.equal(isRetryable(err), false);
      assert.match(err.message, /text 0 \(10000 characters\) is over text-embedding-005's input limit of 2048 tokens/);
      assert.match(err.message, /input token count is 2500 but the model supports up to 2048/);
      return true;
    });
    assert.equal(sent()[0]?.parameters?.autoTruncate, false);
  });

  test('among others, the over-long text is found and named', async () => {
    const texts = [...sentences(6), long, ...sentences(5, 'Other')];
    await assert.rejects(engine().embed(texts), (err) => err instanceof PermanentError && err.code === 'INPUT_TOO_LARGE' && /text 6 /.test(err.message));
    // 12 texts refused; halves of 6 (fine) and 6 (refused); 3 (refused) → 2 (refused) → 1 fine, 1 refused.
    assert.ok(sent().length <= 8, `${sent().length} requests`);
    assert.equal(sent()[0]?.instances.length, 12);
  });

  test('a truncated answer (statistics.truncated) is refused too', async () => {
    fake.respond = (request) => ({
      body: { predictions: request.instances.map((i) => ({ embeddings: { statistics: { truncated: true, token_count: 2048 }, values: fakeVector(i.content, i.taskType, 768) } })) },
    });
    await assert.rejects(engine().embed(['text']), (err) => err instanceof PermanentError && err.code === 'INPUT_TOO_LARGE');
  });

  test('a text the service refuses for another reason → INPUT_INVALID naming it', async () => {
    fake.respond = (request) =>
      request.instances.some((i) => i.content.includes('forbidden'))
        ? { error: { httpStatus: 400, status: 'INVALID_ARGUMENT', message: 'Request contains an invalid argument.' } }
        : 'embed';
    await assert.rejects(engine().embed(['fine', 'also fine', 'forbidden words', 'fine again']), (err) => err instanceof PermanentError && err.code === 'INPUT_INVALID' && /text 2 /.test(err.message));
  });
});

describe('errors', () => {
  const cases: { name: string; httpStatus: number; status: string; message: string; permanent: boolean; expected: string; attempts: number }[] = [
    {
      name: '429 RESOURCE_EXHAUSTED (retried by the throttle, then not counted as a failed attempt)',
      httpStatus: 429,
      status: 'RESOURCE_EXHAUSTED',
      message: 'Quota exceeded for aiplatform.googleapis.com/online_prediction_requests_per_base_model with base model: textembedding-gecko. Please submit a quota increase request.',
      permanent: false,
      expected: 'ENGINE_THROTTLED',
      attempts: 3,
    },
    { name: '503 UNAVAILABLE (retried here)', httpStatus: 503, status: 'UNAVAILABLE', message: 'The service is currently unavailable.', permanent: false, expected: 'ENGINE_UNAVAILABLE', attempts: 3 },
    { name: '504 DEADLINE_EXCEEDED (left to the pipeline)', httpStatus: 504, status: 'DEADLINE_EXCEEDED', message: 'Deadline expired before operation could complete.', permanent: false, expected: 'ENGINE_UNAVAILABLE', attempts: 1 },
    { name: '500 INTERNAL', httpStatus: 500, status: 'INTERNAL', message: 'Internal error encountered.', permanent: false, expected: 'ENGINE_FAILED', attempts: 1 },
    { name: '400 INVALID_ARGUMENT (a parameter)', httpStatus: 400, status: 'INVALID_ARGUMENT', message: 'Invalid JSON payload received. Unknown name "foo" at \'parameters\': Cannot find field.', permanent: true, expected: 'ENGINE_MISCONFIGURED', attempts: 1 },
    { name: '400 INVALID_ARGUMENT (about the text)', httpStatus: 400, status: 'INVALID_ARGUMENT', message: 'Request contains an invalid argument.', permanent: true, expected: 'INPUT_INVALID', attempts: 1 },
    { name: '401 UNAUTHENTICATED', httpStatus: 401, status: 'UNAUTHENTICATED', message: 'Request had invalid authentication credentials.', permanent: true, expected: 'ENGINE_MISCONFIGURED', attempts: 1 },
    { name: '403 PERMISSION_DENIED', httpStatus: 403, status: 'PERMISSION_DENIED', message: "Permission 'aiplatform.endpoints.predict' denied.", permanent: true, expected: 'ENGINE_MISCONFIGURED', attempts: 1 },
    { name: '404 NOT_FOUND', httpStatus: 404, status: 'NOT_FOUND', message: 'Publisher Model not found.', permanent: true, expected: 'ENGINE_MISCONFIGURED', attempts: 1 },
  ];
  for (const c of cases) {
    test(`${c.name} → ${c.permanent ? 'permanent' : 'transient'} ${c.expected}`, async () => {
      fake.respond = respondWithError(c.httpStatus, c.status, c.message);
      await assert.rejects(engine({ retries: 2 }).embed(['one text']), (err) => {
        assert.ok(c.permanent ? err instanceof PermanentError : err instanceof TransientError, String(err));
        assert.equal((err as PermanentError).code, c.expected);
        assert.equal(isRetryable(err), !c.permanent);
        assert.ok((err as Error).message.includes(c.message), (err as Error).message);
        return true;
      });
      assert.equal(sent().length, c.attempts);
    });
  }

  test('429 once, then answered: succeeds', async () => {
    const flaky: Responder = (_request, index) => (index === seen ? { error: { httpStatus: 429, status: 'RESOURCE_EXHAUSTED', message: 'Quota exceeded.' } } : 'embed');
    fake.respond = flaky;
    const vectors = await engine().embed(['a', 'b']);
    assert.equal(sent().length, 2);
    assert.equal(vectors.length, 2);
  });

  test('a model the service does not have → ENGINE_MISCONFIGURED naming it', async () => {
    await assert.rejects(engine({ model: 'text-embedding-999', dimensions: 768 }).embed(['x']), (err) => err instanceof PermanentError && err.code === 'ENGINE_MISCONFIGURED' && /text-embedding-999/.test(err.message) && /not found/.test(err.message));
  });

  test('another project or location → ENGINE_MISCONFIGURED (PERMISSION_DENIED)', async () => {
    await assert.rejects(engine({ project: 'demo-other' }).embed(['x']), (err) => err instanceof PermanentError && err.code === 'ENGINE_MISCONFIGURED' && /PERMISSION_DENIED/.test(err.message));
    await assert.rejects(engine({ location: 'us-east1' }).embed(['x']), (err) => err instanceof PermanentError && err.code === 'ENGINE_MISCONFIGURED');
  });

  test('a path the front end does not know (HTML 404) → ENGINE_MISCONFIGURED', async () => {
    await assert.rejects(engine({ apiVersion: 'v2' }).embed(['x']), (err) => err instanceof PermanentError && err.code === 'ENGINE_MISCONFIGURED' && /404/.test(err.message));
  });

  const malformed: { name: string; body: (texts: readonly { content: string; taskType: string | undefined }[]) => unknown }[] = [
    { name: 'fewer embeddings than texts', body: (i) => ({ predictions: i.slice(1).map((x) => ({ embeddings: { values: fakeVector(x.content, x.taskType, 768) } })) }) },
    { name: 'no predictions', body: () => ({}) },
    { name: 'a vector of the wrong length', body: (i) => ({ predictions: i.map(() => ({ embeddings: { values: [0.6, 0.8] } })) }) },
    { name: 'an all-zero vector', body: (i) => ({ predictions: i.map(() => ({ embeddings: { values: new Array<number>(768).fill(0) } })) }) },
    { name: 'a NaN component', body: (i) => ({ predictions: i.map((x) => ({ embeddings: { values: fakeVector(x.content, x.taskType, 768).map((v, k) => (k === 3 ? 'NaN' : v)) } })) }) },
  ];
  for (const m of malformed) {
    test(`an answer with ${m.name} → transient ENGINE_FAILED`, async () => {
      fake.respond = (request) => ({ body: m.body(request.instances) });
      await assert.rejects(engine().embed(['a', 'b']), (err) => err instanceof TransientError && err.code === 'ENGINE_FAILED');
    });
  }

  test('nothing listening → transient ENGINE_UNAVAILABLE', async () => {
    const gone = await startFakeVertex();
    const endpoint = gone.baseUrl;
    await gone.close();
    await assert.rejects(engine({ endpoint }).embed(['x']), (err) => err instanceof TransientError && err.code === 'ENGINE_UNAVAILABLE' && /unreachable/.test(err.message));
  });
});

describe('deadlines and aborts', () => {
  test('a request past its deadline → transient ENGINE_UNAVAILABLE, not retried here, and the request is abandoned', async () => {
    fake.respond = respondNever;
    const cancelledBefore = fake.cancelled;
    const started = performance.now();
    await assert.rejects(engine({ requestTimeoutMs: 300 }).embed(['slow']), (err) => err instanceof TransientError && err.code === 'ENGINE_UNAVAILABLE' && /deadline exceeded/.test(err.message));
    assert.ok(performance.now() - started < 2000);
    assert.equal(sent().length, 1);
    for (let i = 0; i < 100 && fake.cancelled === cancelledBefore; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(fake.cancelled, cancelledBefore + 1, 'the server sees the connection go');
  });

  test('abort during a request rejects at once and abandons it', async () => {
    fake.respond = respondNever;
    const cancelledBefore = fake.cancelled;
    const controller = new AbortController();
    const pending = engine().embed(['slow'], { signal: controller.signal });
    await fake.waitForRequests(seen + 1);
    const started = performance.now();
    controller.abort(new Error('function timeout'));
    await assert.rejects(pending, (err) => err instanceof TransientError && err.code === 'ENGINE_FAILED' && /function timeout/.test(err.message));
    assert.ok(performance.now() - started < 1000);
    for (let i = 0; i < 100 && fake.cancelled === cancelledBefore; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(fake.cancelled, cancelledBefore + 1);
  });

  test('abort between requests sends no further request', async () => {
    const controller = new AbortController();
    fake.respond = () => {
      controller.abort(new Error('shutting down'));
      return 'embed';
    };
    await assert.rejects(engine({ maxTextsPerRequest: 2 }).embed(sentences(6), { signal: controller.signal }), (err) => err instanceof TransientError && /shutting down/.test(err.message));
    assert.equal(sent().length, 1);
  });

  test('an aborted signal sends nothing', async () => {
    await assert.rejects(engine().embed(['x'], { signal: AbortSignal.abort() }), TransientError);
    assert.equal(sent().length, 0);
  });

  test('abort interrupts a retry backoff', async () => {
    fake.respond = respondWithError(503, 'UNAVAILABLE', 'busy');
    const controller = new AbortController();
    const pending = engine({ retryDelayMs: 60_000 }).embed(['x'], { signal: controller.signal });
    await fake.waitForRequests(seen + 1);
    await new Promise((r) => setTimeout(r, 50));
    const started = performance.now();
    controller.abort();
    await assert.rejects(pending, (err) => err instanceof TransientError && err.code === 'ENGINE_FAILED');
    assert.ok(performance.now() - started < 1000);
    assert.equal(sent().length, 1);
  });
});

describe('engine selection', () => {
  test('createEmbeddingEngine returns the google engine, wired to project, location, model, dimensions and endpoint', async () => {
    const e = createEmbeddingEngine({ engine: 'google', project: FAKE_VERTEX_PROJECT, location: FAKE_VERTEX_LOCATION, model: 'text-embedding-004', dimensions: 128, endpoint: fake.baseUrl });
    assert.equal(e.name, 'google');
    assert.equal(e.model, 'text-embedding-004');
    assert.equal(e.dimensions, 128);
    const [v] = await e.embed(['selected']);
    assert.equal(v?.length, 128);
    assert.equal(sent()[0]?.model, 'text-embedding-004');
    assert.equal(sent()[0]?.parameters?.outputDimensionality, 128);
  });

  test('defaults: text-embedding-005, 768 dimensions, us-central1', async () => {
    const e = createEmbeddingEngine({ engine: 'google', project: FAKE_VERTEX_PROJECT, endpoint: fake.baseUrl });
    assert.equal(e.model, 'text-embedding-005');
    assert.equal(e.dimensions, 768);
    await assert.rejects(e.embed(['x']), PermanentError, 'the fake serves europe-west1 only');
    assert.equal(sent()[0]?.location, 'us-central1');
  });

  test('local is the other engine', () => {
    const e = createEmbeddingEngine({ engine: 'local' });
    assert.equal(e.name, 'local');
    assert.equal(e.dimensions, 512);
  });

  test('settings that cannot work are ConfigErrors at once', () => {
    assert.throws(() => createEmbeddingEngine({ engine: 'google' }), ConfigError);
    assert.throws(() => createEmbeddingEngine({ engine: 'google', project: FAKE_VERTEX_PROJECT, model: 'my-own-model' }), /dimensions of my-own-model are not known/);
    assert.throws(() => createEmbeddingEngine({ engine: 'google', project: FAKE_VERTEX_PROJECT, dimensions: 1024 }), /from 1 to 768/);
    assert.throws(() => createEmbeddingEngine({ engine: 'google', project: FAKE_VERTEX_PROJECT, endpoint: 'not a host' }), ConfigError);
    assert.throws(() => createEmbeddingEngine({ engine: 'local', model: 'text-embedding-005' }), ConfigError);
    assert.throws(() => createEmbeddingEngine({ engine: 'nope' as 'local' }), ConfigError);
  });
});
