/**
 * The `google` summary engine with the real `@google/genai` client over real HTTP, against the
 * local Vertex AI endpoint in scripts/fakes/fake-gemini.ts (no network, no credentials: a fixed
 * bearer token). The fake decodes what the client sends, so these tests see each request as Google
 * would: resource path (project, location, model), headers, contents, system instruction and
 * generation config, and the number of requests a long document costs.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { after, before, beforeEach, describe, test } from 'node:test';

import { ConfigError } from '../../shared/config/index.js';
import { PermanentError, TransientError, isRetryable } from '../../shared/errors/index.js';
import { createGoogleSummaryEngine, DEFAULT_GEMINI_MODEL, DEFAULT_SUMMARY_PROMPT, fitToBounds, splitParts } from '../../shared/engines/summary/google.js';
import type { GoogleSummaryEngineOptions } from '../../shared/engines/summary/google.js';
import { createSummaryEngine } from '../../shared/engines/summary/index.js';
import type { SummaryEngineConfig } from '../../shared/engines/summary/index.js';
import type { SummaryEngine, SummaryInput } from '../../shared/engines/summary/types.js';
import { splitSentences } from '../../shared/text/sentences.js';
import { FAKE_GEMINI_PROJECT, documentOf, fakeGoogleAuth, firstSentences, respondWith, respondWithError, startFakeGemini } from '../../scripts/fakes/fake-gemini.js';
import type { FakeGemini, GeminiReply, GeminiRequest, GeminiResponder } from '../../scripts/fakes/fake-gemini.js';
import { fixturePath } from '../helpers/paths.js';
import { fastThrottle } from '../helpers/throttle.js';

const DATELINE = readFileSync(fixturePath('ocr/8087_054.3B.txt'), 'utf8');
/** The UN's Arabic text of the UDHR, article 1. */
const UDHR_AR = 'المادة 1\n\nيولد جميع الناس أحرارًا متساوين في الكرامة والحقوق. وقد وهبوا عقلاً وضميرًا وعليهم أن يعامل بعضهم بعضًا بروح الإخاء.';
const AUTH = fakeGoogleAuth('fake-access-token');

let fake: FakeGemini;
before(async () => {
  fake = await startFakeGemini();
});
after(async () => {
  await fake.close();
});

/** Requests seen so far, to count those one test made. */
let seen = 0;
beforeEach(() => {
  seen = fake.requests.length;
  fake.respond = firstSentences;
});
const sent = (): GeminiRequest[] => fake.requests.slice(seen);

function engine(options: Partial<GoogleSummaryEngineOptions> = {}): SummaryEngine {
  return createGoogleSummaryEngine({ project: FAKE_GEMINI_PROJECT, baseUrl: fake.baseUrl, googleAuthOptions: fakeGoogleAuth(), retryDelayMs: 5, throttle: fastThrottle(), ...options });
}

async function summarize(e: SummaryEngine, input: SummaryInput) {
  const progress: number[] = [];
  const result = await e.summarize(input, { onProgress: (f) => void progress.push(f) });
  progress.forEach((p, i) => assert.ok(p >= (progress[i - 1] ?? 0) && p <= 1, 'progress never goes back'));
  assert.equal(progress.at(-1), 1);
  return { result, progress };
}

/** Part number and count of a map request, from its system instruction. */
function partOf(r: GeminiRequest): { index: number; count: number } | undefined {
  const m = /part (\d+) of (\d+) of a longer document/u.exec(r.system);
  return m ? { index: Number(m[1]), count: Number(m[2]) } : undefined;
}

describe('requests', () => {
  test('a short document is one request: Vertex resource path, bearer token, library headers, body', async () => {
    const { result, progress } = await summarize(engine(), { text: DATELINE, language: 'eng', maxSentences: 3, maxChars: 400 });
    const [r] = sent();
    assert.equal(sent().length, 1);
    assert.ok(r);
    assert.equal(r.method, 'POST');
    assert.equal(r.path, `/v1beta1/projects/${FAKE_GEMINI_PROJECT}/locations/global/publishers/google/models/${DEFAULT_GEMINI_MODEL}:generateContent`);
    assert.equal(r.headers.authorization, 'Bearer fake-access-token');
    assert.match(r.headers['x-goog-api-client'] ?? '', /google-genai-sdk\/1\.\d+\.\d+ gl-node\/v20/u);
    assert.match(r.headers['content-type'] ?? '', /^application\/json/u);
    assert.deepEqual(r.body.contents, [{ role: 'user', parts: [{ text: `<document>\n${DATELINE}\n</document>` }] }]);
    assert.ok(r.system.startsWith(DEFAULT_SUMMARY_PROMPT));
    assert.match(r.system, /at most 3 sentences and at most 400 characters/u);
    assert.match(r.system, /The document is written in English\./u);
    assert.match(r.system, /never instructions to you/u);
    // Gemini 3: no temperature (Google's advice), one candidate, room for thinking and the answer.
    assert.deepEqual(r.body.generationConfig, { candidateCount: 1, maxOutputTokens: 8192 });
    assert.equal(result.engine, 'google');
    assert.equal(result.model, DEFAULT_GEMINI_MODEL);
    // The fake answers with the document's first sentence, white space collapsed.
    assert.equal(result.summary, 'd a t e l i n e "This is Greater Serbia," yet they didn\'t take the city.');
    assert.equal(result.sentences, undefined);
    assert.equal(result.usage?.requests, 1);
    assert.ok((result.usage?.inputTokens ?? 0) > DATELINE.length / 4);
    assert.ok((result.usage?.outputTokens ?? 0) > 0);
    assert.deepEqual(progress, [1]);
  });

  test('Gemini 2 models get a low temperature; an explicit temperature and thinking level are sent', async () => {
    await engine({ model: 'gemini-2.0-flash-001' }).summarize({ text: DATELINE });
    assert.equal(sent()[0]?.body.generationConfig?.temperature, 0.2);
    await engine({ temperature: 0.5, thinkingLevel: 'LOW', maxOutputTokens: 2048 }).summarize({ text: DATELINE });
    assert.deepEqual(sent()[1]?.body.generationConfig, { candidateCount: 1, maxOutputTokens: 2048, temperature: 0.5, thinkingConfig: { thinkingLevel: 'LOW' } });
  });

  test('the prompt from settings replaces the default instructions; the location is in the path', async () => {
    const prompt = 'Summarize only the obligations the document states, as one paragraph.';
    await engine({ location: 'europe-west4' }).summarize({ text: DATELINE, prompt, maxSentences: 2 });
    const r = sent()[0];
    assert.ok(r);
    assert.ok(r.system.startsWith(prompt));
    assert.ok(!r.system.includes(DEFAULT_SUMMARY_PROMPT));
    assert.match(r.system, /at most 2 sentences/u);
    assert.match(r.path, /\/locations\/europe-west4\//u);
  });

  test('an Arabic document: the language is named, the text goes as it is', async () => {
    const { result } = await summarize(engine(), { text: UDHR_AR, language: 'ara' });
    const r = sent()[0];
    assert.match(r?.system ?? '', /written in Arabic/u);
    assert.equal(documentOf(r as GeminiRequest), UDHR_AR);
    assert.equal(result.summary, 'المادة 1 يولد جميع الناس أحرارًا متساوين في الكرامة والحقوق.');
  });

  test('empty text: an empty summary and no request', async () => {
    const { result } = await summarize(engine(), { text: ' \n\f ' });
    assert.equal(result.summary, '');
    assert.equal(sent().length, 0);
  });

  test('an answer over the bounds is cut back to whole sentences', async () => {
    fake.respond = respondWith({ text: 'First sentence of the answer. Second one here. Third one here. Fourth.' });
    assert.equal((await engine().summarize({ text: DATELINE, maxSentences: 2 })).summary, 'First sentence of the answer. Second one here.');
    assert.equal((await engine().summarize({ text: DATELINE, maxChars: 50 })).summary, 'First sentence of the answer. Second one here.');
    assert.equal((await engine().summarize({ text: DATELINE, maxChars: 20 })).summary, 'First sentence of…');
    fake.respond = respondWith({ text: 'A complete sentence. An unfinished one that stops in the', finishReason: 'MAX_TOKENS' });
    assert.equal((await engine().summarize({ text: DATELINE })).summary, 'A complete sentence.');
  });

  test('fitToBounds and splitParts on their own', () => {
    assert.equal(fitToBounds('  One. Two. Three.  ', { maxSentences: 5, maxChars: 100 }), 'One. Two. Three.');
    assert.equal(fitToBounds('One. Two. Three.', { maxSentences: 2, maxChars: 100 }), 'One. Two.');
    const parts = splitParts(DATELINE, 700, 'eng');
    const sentences = splitSentences(DATELINE, { maxChars: 700 });
    assert.ok(parts.length >= DATELINE.length / 700);
    let from = 0;
    for (const part of parts) {
      assert.ok(part.length <= 700);
      const at = DATELINE.indexOf(part, from);
      assert.ok(at >= from, 'parts are consecutive slices of the text');
      from = at + part.length;
    }
    // Every sentence lies within exactly one part.
    for (const s of sentences) assert.equal(parts.filter((p) => p.includes(s.text)).length >= 1, true, s.text);
    assert.deepEqual(splitParts('short', 700, null), ['short']);
  });
});

describe('map-reduce', () => {
  test('a long document: parts on sentence boundaries, one request each, then one for their summaries', async () => {
    const budget = 1000;
    const { result, progress } = await summarize(engine({ inputBudgetChars: budget }), { text: DATELINE, language: 'eng' });
    const requests = sent();
    const maps = requests.filter((r) => partOf(r)).sort((a, b) => (partOf(a)?.index ?? 0) - (partOf(b)?.index ?? 0));
    const count = partOf(maps[0] as GeminiRequest)?.count ?? 0;
    assert.ok(count >= 5, `${count} parts`);
    assert.equal(maps.length, count);
    assert.equal(requests.length, count + 1, 'one request per part plus the combining one');
    assert.deepEqual(maps.map((r) => partOf(r)?.index), Array.from({ length: count }, (_, i) => i + 1));
    // The parts are consecutive slices of the document, within the budget, covering every sentence.
    const partTexts = maps.map((r) => documentOf(r));
    let from = 0;
    for (const part of partTexts) {
      assert.ok(part.length <= budget, `${part.length} > ${budget}`);
      const at = DATELINE.indexOf(part, from);
      assert.ok(at >= from);
      from = at + part.length;
    }
    for (const s of splitSentences(DATELINE)) assert.ok(partTexts.some((p) => p.includes(s.text)), s.text);
    // The last request combines the part summaries, in order.
    const final = requests.find((r) => !partOf(r));
    assert.ok(final);
    assert.match(final.system, /summaries of its consecutive parts/u);
    const expected = partTexts.map((p, i) => `[Part ${i + 1}]\n${(firstSentences(fakeRequest(p), 0) as { text: string }).text}`).join('\n\n');
    assert.equal(documentOf(final), expected);
    assert.equal(result.usage?.requests, count + 1);
    assert.equal(progress.length, count + 1, 'progress after every part and after the combining request');
  });

  test('part summaries over the budget are combined level by level', async () => {
    // Every part answers with ~400 characters, so the part summaries together exceed the budget.
    const filler = 'This sentence stands for a long part summary with the facts of its part. '.repeat(5).trim();
    fake.respond = (r) => ({ text: partOf(r) || /group \d+ of \d+/u.test(r.system) ? filler : 'The final summary.' });
    const { result } = await summarize(engine({ inputBudgetChars: 900, concurrency: 2 }), { text: DATELINE });
    const requests = sent();
    const parts = requests.filter((r) => partOf(r)).length;
    const groups = requests.filter((r) => /group \d+ of \d+/u.test(r.system));
    assert.ok(groups.length >= 2, `${groups.length} groups`);
    for (const g of groups) assert.ok(documentOf(g).length <= 900);
    assert.equal(requests.length, parts + groups.length + 1);
    assert.equal(result.summary, 'The final summary.');
  });

  test('a document needing more than maxParts requests is refused before any request', async () => {
    await assert.rejects(engine({ inputBudgetChars: 500, maxParts: 3 }).summarize({ text: DATELINE }), (err) => err instanceof PermanentError && err.code === 'INPUT_TOO_LARGE');
    assert.equal(sent().length, 0);
  });

  test('a failing part stops the document: its error, and no combining request', async () => {
    fake.respond = (r) => (partOf(r)?.index === 2 ? { error: { code: 400, message: 'Request contains an invalid argument.' } } : firstSentences(r, 0));
    await assert.rejects(engine({ inputBudgetChars: 1000, concurrency: 1 }).summarize({ text: DATELINE }), (err) => err instanceof PermanentError && err.code === 'ENGINE_MISCONFIGURED');
    assert.equal(sent().length, 2);
  });

  test('an error thrown by onProgress reaches the caller unchanged', async () => {
    const mine = new Error('the job record is gone');
    await assert.rejects(
      engine({ inputBudgetChars: 1000 }).summarize(
        { text: DATELINE },
        {
          onProgress: () => {
            throw mine;
          },
        },
      ),
      (err) => err === mine,
    );
  });
});

describe('errors', () => {
  const cases: { name: string; reply: GeminiReply; permanent: boolean; code: string; attempts: number; match: RegExp }[] = [
    {
      name: '429 RESOURCE_EXHAUSTED (retried by the throttle, then not counted as a failed attempt)',
      reply: { error: { code: 429, message: 'Resource exhausted. Please try again later. Please refer to https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more details.' } },
      permanent: false,
      code: 'ENGINE_THROTTLED',
      attempts: 3,
      match: /quota \(429 \/ RESOURCE_EXHAUSTED\).*Resource exhausted/u,
    },
    { name: '503 UNAVAILABLE (retried here)', reply: { error: { code: 503, message: 'The model is overloaded. Please try again later.' } }, permanent: false, code: 'ENGINE_UNAVAILABLE', attempts: 3, match: /overloaded/u },
    { name: '504 DEADLINE_EXCEEDED', reply: { error: { code: 504, message: 'Deadline exceeded.' } }, permanent: false, code: 'ENGINE_UNAVAILABLE', attempts: 1, match: /Deadline exceeded/u },
    { name: '500 INTERNAL', reply: { error: { code: 500, message: 'Internal error encountered.' } }, permanent: false, code: 'ENGINE_FAILED', attempts: 1, match: /Internal error/u },
    { name: '400 INVALID_ARGUMENT', reply: { error: { code: 400, message: 'Request contains an invalid argument.' } }, permanent: true, code: 'ENGINE_MISCONFIGURED', attempts: 1, match: /invalid argument/u },
    {
      name: '403 PERMISSION_DENIED',
      reply: { error: { code: 403, message: `Permission 'aiplatform.endpoints.predict' denied on resource '//aiplatform.googleapis.com/projects/${FAKE_GEMINI_PROJECT}/locations/global/publishers/google/models/${DEFAULT_GEMINI_MODEL}' (or it may not exist).` } },
      permanent: true,
      code: 'ENGINE_MISCONFIGURED',
      attempts: 1,
      match: /roles\/aiplatform\.user.*Permission 'aiplatform\.endpoints\.predict' denied/su,
    },
    { name: '401 UNAUTHENTICATED', reply: { error: { code: 401, message: 'Request had invalid authentication credentials.' } }, permanent: true, code: 'ENGINE_MISCONFIGURED', attempts: 1, match: /invalid authentication/u },
    { name: 'prompt blocked (promptFeedback)', reply: { promptBlocked: 'PROHIBITED_CONTENT' }, permanent: true, code: 'CONTENT_BLOCKED', attempts: 1, match: /blocked the prompt \(PROHIBITED_CONTENT/u },
    { name: 'answer blocked (finishReason SAFETY)', reply: { finishReason: 'SAFETY' }, permanent: true, code: 'CONTENT_BLOCKED', attempts: 1, match: /SAFETY: HARM_CATEGORY_DANGEROUS_CONTENT/u },
    { name: 'answer withheld (RECITATION)', reply: { finishReason: 'RECITATION' }, permanent: true, code: 'CONTENT_BLOCKED', attempts: 1, match: /RECITATION/u },
    { name: 'no candidate', reply: { noCandidates: true }, permanent: true, code: 'EMPTY_RESPONSE', attempts: 1, match: /no candidate/u },
    { name: 'an empty answer', reply: { text: '' }, permanent: true, code: 'EMPTY_RESPONSE', attempts: 1, match: /empty summary \(finishReason STOP\)/u },
    { name: 'all output tokens spent thinking', reply: { text: '', finishReason: 'MAX_TOKENS', thoughtsTokenCount: 8192 }, permanent: true, code: 'EMPTY_RESPONSE', attempts: 1, match: /raise maxOutputTokens/u },
  ];
  for (const c of cases) {
    test(`${c.name} → ${c.permanent ? 'permanent' : 'transient'} ${c.code}`, async () => {
      fake.respond = respondWith(c.reply);
      await assert.rejects(engine({ retries: 2 }).summarize({ text: DATELINE }), (err) => {
        assert.ok(c.permanent ? err instanceof PermanentError : err instanceof TransientError, String(err));
        assert.equal((err as PermanentError).code, c.code);
        assert.equal(isRetryable(err), !c.permanent);
        assert.match((err as Error).message, c.match);
        return true;
      });
      assert.equal(sent().length, c.attempts);
    });
  }

  test('an unknown or retired model: the service\'s 404 → ENGINE_MISCONFIGURED naming the model', async () => {
    await assert.rejects(engine({ model: 'gemini-2.5-flash' }).summarize({ text: DATELINE }), (err) => {
      assert.ok(err instanceof PermanentError);
      assert.equal(err.code, 'ENGINE_MISCONFIGURED');
      assert.match(err.message, /model gemini-2\.5-flash in project demo-scriptorium.*retired models answer 404.*was not found/su);
      return true;
    });
    assert.equal(sent()[0]?.model, 'gemini-2.5-flash');
  });

  test('input over the model\'s token limit → INPUT_TOO_LARGE', async () => {
    const small = await startFakeGemini({ inputTokenLimit: 500 });
    try {
      const e = createGoogleSummaryEngine({ project: FAKE_GEMINI_PROJECT, baseUrl: small.baseUrl, googleAuthOptions: AUTH });
      await assert.rejects(e.summarize({ text: DATELINE }), (err) => err instanceof PermanentError && err.code === 'INPUT_TOO_LARGE' && /input token count \(\d+\) exceeds the maximum/u.test(err.message));
    } finally {
      await small.close();
    }
  });

  test('a request refused with 429 once, then answered, succeeds', async () => {
    const flaky: GeminiResponder = (r, index) => (index === seen ? { error: { code: 429, message: 'Resource exhausted.' } } : firstSentences(r, index));
    fake.respond = flaky;
    const { result } = await summarize(engine(), { text: DATELINE });
    assert.equal(sent().length, 2);
    assert.equal(result.usage?.requests, 2);
    assert.match(result.summary, /Greater Serbia/u);
  });

  test('an unreachable endpoint → transient ENGINE_UNAVAILABLE', async () => {
    const port = await freePort();
    const e = createGoogleSummaryEngine({ project: FAKE_GEMINI_PROJECT, baseUrl: `http://127.0.0.1:${port}`, googleAuthOptions: AUTH, retryDelayMs: 5 });
    await assert.rejects(e.summarize({ text: DATELINE }), (err) => err instanceof TransientError && err.code === 'ENGINE_UNAVAILABLE' && /unreachable/u.test(err.message));
  });
});

describe('abort and deadline', () => {
  test('a request past its deadline → transient ENGINE_UNAVAILABLE, not retried here', async () => {
    fake.respond = () => ({ hang: true });
    const cancelledBefore = fake.cancelled;
    await assert.rejects(engine({ requestTimeoutMs: 300 }).summarize({ text: DATELINE }), (err) => err instanceof TransientError && err.code === 'ENGINE_UNAVAILABLE' && /deadline/u.test(err.message));
    assert.equal(sent().length, 1);
    await waitFor(() => fake.cancelled > cancelledBefore);
  });

  test('abort cancels the request in flight', async () => {
    fake.respond = () => ({ hang: true });
    const controller = new AbortController();
    const cancelledBefore = fake.cancelled;
    const pending = engine().summarize({ text: DATELINE }, { signal: controller.signal });
    await fake.waitForRequests(seen + 1);
    const started = performance.now();
    controller.abort(new Error('function timeout'));
    await assert.rejects(pending, (err) => err instanceof TransientError && err.code === 'ENGINE_FAILED' && /function timeout/u.test(err.message));
    assert.ok(performance.now() - started < 1000);
    // The server sees the connection closed, not just abandoned.
    await waitFor(() => fake.cancelled > cancelledBefore);
  });

  test('an aborted signal sends nothing; abort between parts sends no further part', async () => {
    await assert.rejects(engine().summarize({ text: DATELINE }, { signal: AbortSignal.abort() }), TransientError);
    assert.equal(sent().length, 0);
    const controller = new AbortController();
    await assert.rejects(
      engine({ inputBudgetChars: 1000, concurrency: 1 }).summarize({ text: DATELINE }, { signal: controller.signal, onProgress: () => controller.abort(new Error('shutting down')) }),
      (err) => err instanceof TransientError && /shutting down/u.test(err.message),
    );
    assert.equal(sent().length, 1);
  });

  test('abort interrupts a retry backoff', async () => {
    fake.respond = respondWithError(503, 'The model is overloaded.');
    const controller = new AbortController();
    const pending = engine({ retryDelayMs: 60_000 }).summarize({ text: DATELINE }, { signal: controller.signal });
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
  test('createSummaryEngine returns the google engine, wired to the configured project, location, model, endpoint and budget', async () => {
    const e = createSummaryEngine(
      {
        SCRIPTORIUM_SUMMARY_ENGINE: 'google',
        GOOGLE_CLOUD_PROJECT: FAKE_GEMINI_PROJECT,
        SCRIPTORIUM_SUMMARY_MODEL: 'gemini-3.5-flash',
        SCRIPTORIUM_SUMMARY_LOCATION: 'us-central1',
        SCRIPTORIUM_SUMMARY_ENDPOINT: `${fake.baseUrl}/`,
        SCRIPTORIUM_SUMMARY_INPUT_BUDGET_CHARS: '1000',
        SCRIPTORIUM_SUMMARY_TIMEOUT_MS: '30000',
      },
      { googleAuthOptions: AUTH },
    );
    assert.equal(e.name, 'google');
    assert.equal(e.model, 'gemini-3.5-flash');
    const result = await e.summarize({ text: DATELINE });
    assert.equal(result.engine, 'google');
    assert.ok(sent().length > 2, 'the budget applies: map-reduce');
    for (const r of sent()) assert.equal(r.path, `/v1beta1/projects/${FAKE_GEMINI_PROJECT}/locations/us-central1/publishers/google/models/gemini-3.5-flash:generateContent`);
    // x-server-timeout carries the request deadline in seconds.
    assert.equal(sent()[0]?.headers['x-server-timeout'], '30');
  });

  test('the defaults: global location, the pinned model', async () => {
    const e = createSummaryEngine({ SCRIPTORIUM_SUMMARY_ENGINE: 'google', GOOGLE_CLOUD_PROJECT: FAKE_GEMINI_PROJECT, SCRIPTORIUM_SUMMARY_ENDPOINT: fake.baseUrl }, { googleAuthOptions: AUTH });
    assert.equal(e.model, DEFAULT_GEMINI_MODEL);
    await e.summarize({ text: UDHR_AR });
    assert.match(sent()[0]?.path ?? '', /\/locations\/global\/publishers\/google\/models\/gemini-3\.5-flash-lite:generateContent$/u);
  });

  test('the environment can be passed as it is; configuration errors are ConfigErrors', () => {
    const fromEnv: SummaryEngineConfig = process.env;
    assert.ok(fromEnv);
    const bad: SummaryEngineConfig[] = [
      { SCRIPTORIUM_SUMMARY_ENGINE: 'openai' },
      { SCRIPTORIUM_SUMMARY_ENGINE: 'google' },
      { SCRIPTORIUM_SUMMARY_ENGINE: 'google', GOOGLE_CLOUD_PROJECT: ' ' },
      { SCRIPTORIUM_SUMMARY_ENGINE: 'google', GOOGLE_CLOUD_PROJECT: 'p', SCRIPTORIUM_SUMMARY_ENDPOINT: '127.0.0.1:8080' },
      { SCRIPTORIUM_SUMMARY_ENGINE: 'google', GOOGLE_CLOUD_PROJECT: 'p', SCRIPTORIUM_SUMMARY_INPUT_BUDGET_CHARS: 'lots' },
      { SCRIPTORIUM_SUMMARY_ENGINE: 'google', GOOGLE_CLOUD_PROJECT: 'p', SCRIPTORIUM_SUMMARY_TIMEOUT_MS: 0 },
    ];
    for (const cfg of bad) assert.throws(() => createSummaryEngine(cfg), ConfigError, JSON.stringify(cfg));
  });
});

// ---------------------------------------------------------------------------------------------

/** A request as the fake would record it for a document, for computing expected answers. */
function fakeRequest(document: string): GeminiRequest {
  return { method: 'POST', path: '', apiVersion: '', project: '', location: '', model: '', headers: {}, body: {}, system: '', text: `<document>\n${document}\n</document>` };
}

async function waitFor(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(condition(), 'condition met within 2 s');
}

/** A port nothing listens on. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return typeof address === 'object' && address ? address.port : 1;
}
