/**
 * Translation engines: `local` on the real Apertium (English↔Spanish and the other installed pairs,
 * real sentences), `google` through the real client library against a local Cloud Translation server
 * speaking the v3 protocol (scripts/fakes/fake-translate.ts): the requests it sends, the answers it
 * reads, and how it classifies quota, invalid input and deadlines.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { createGoogleTranslationEngine, createLocalTranslationEngine, translateTexts, type TranslationEngine } from '../../shared/engines/translate/index.js';
import { ScriptoriumError } from '../../shared/errors/index.js';
import { respondWithError, respondWithTranslation, startFakeTranslate, type FakeTranslate } from '../../scripts/fakes/fake-translate.js';

async function failure(p: Promise<unknown>): Promise<ScriptoriumError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof ScriptoriumError, String(err));
    return err;
  }
  assert.fail('expected a failure');
}

describe('local translation engine (Apertium)', () => {
  const engine = createLocalTranslationEngine();
  it('translates English sentences into Spanish, one translation per text, in order', async () => {
    const texts = ['The weather is nice today.', '', 'The children are playing in the park.', 'I would like a cup of coffee.'];
    const r = await engine.translate(texts, { from: 'en-US', to: 'es' });
    assert.equal(r.texts.length, 4);
    assert.equal(r.texts[1], '');
    assert.match(r.texts[0] ?? '', /tiempo/i);
    assert.match(r.texts[2] ?? '', /niños/i);
    assert.match(r.texts[2] ?? '', /parque/i);
    assert.match(r.texts[3] ?? '', /café/i);
    console.log(JSON.stringify(r.texts));
  });
  it('translates Spanish back into English', async () => {
    const r = await engine.translate(['El gato duerme en la casa.'], { from: 'es', to: 'en' });
    assert.match(r.texts[0] ?? '', /cat/i);
    assert.match(r.texts[0] ?? '', /house/i);
  });
  it('lists the installed pairs and knows English→Spanish', async () => {
    const pairs = await engine.pairs();
    assert.ok(pairs?.some((p) => p.from === 'en' && p.to === 'es'));
    assert.equal(await engine.supports({ from: 'en-US', to: 'es' }), true);
    assert.equal(await engine.supports({ from: 'en', to: 'ja' }), false);
    console.log(`installed pairs: ${pairs?.map((p) => `${p.from}→${p.to}`).join(', ')}`);
  });
  it('refuses a pair it does not have, permanently', async () => {
    const err = await failure(engine.translate(['hello'], { from: 'en', to: 'ja' }));
    assert.equal(err.code, 'LANGUAGE_PAIR_NOT_SUPPORTED');
    assert.equal(err.retryable, false);
  });
  it('keeps a text with line breaks on its own line', async () => {
    const r = await engine.translate(['good\nmorning', 'thank you'], { from: 'en', to: 'es' });
    assert.equal(r.texts.length, 2);
    assert.match(r.texts[1] ?? '', /gracias/i);
  });
  it('stops between batches when aborted', async () => {
    const controller = new AbortController();
    const texts = Array.from({ length: 60 }, (_, i) => `This is sentence number ${i}.`);
    let batches = 0;
    const err = await failure(
      translateTexts(engine, texts, {
        from: 'en',
        to: 'es',
        signal: controller.signal,
        onProgress: () => {
          batches++;
          controller.abort();
        },
      }),
    );
    assert.equal(batches, 1, 'one batch, then it stopped');
    assert.equal(err.retryable, true);
  });
});

describe('google translation engine (Cloud Translation v3, local server)', () => {
  let fake: FakeTranslate;
  let engine: TranslationEngine;
  before(async () => {
    fake = await startFakeTranslate();
    engine = createGoogleTranslationEngine({ projectId: 'demo-project', apiEndpoint: fake.endpoint, requestTimeoutMs: 2000 });
  });
  after(async () => {
    await engine.close();
    await fake.close();
  });

  it('sends parent, texts, plain text, source and target and the NMT model; reads the translations', async () => {
    fake.respond = respondWithTranslation;
    const r = await engine.translate(['The weather is nice today.', 'The children are playing.'], { from: 'en-US', to: 'es' });
    const req = fake.requests.at(-1);
    assert.ok(req);
    assert.equal(req.parent, 'projects/demo-project/locations/global');
    assert.deepEqual(req.contents, ['The weather is nice today.', 'The children are playing.']);
    assert.equal(req.mimeType, 'text/plain');
    assert.equal(req.sourceLanguageCode, 'en-US');
    assert.equal(req.targetLanguageCode, 'es');
    assert.equal(req.model, 'projects/demo-project/locations/global/models/general/nmt');
    assert.match(req.metadata['x-goog-api-client'] ?? '', /gapic\//);
    assert.equal(r.texts.length, 2);
    assert.match(r.texts[0] ?? '', /tiempo/i);
  });
  it('reports the detected language when no source is given', async () => {
    const r = await engine.translate(['Hello'], { to: 'es' });
    assert.equal(fake.requests.at(-1)?.sourceLanguageCode, '');
    assert.equal(r.detectedLanguage, 'en');
  });
  it('batches a long transcript under the per-request limits', async () => {
    const before = fake.requests.length;
    const texts = Array.from({ length: 300 }, (_, i) => `Segment ${i}.`);
    const r = await translateTexts(engine, texts, { from: 'en', to: 'es' });
    assert.equal(r.texts.length, 300);
    assert.equal(fake.requests.length - before, 3);
    assert.ok(fake.requests.slice(before).every((q) => q.contents.length <= 128));
  });
  const errors: { name: string; code: grpc.status; message: string; expect: string; retryable: boolean }[] = [
    { name: 'quota exceeded is transient', code: grpc.status.RESOURCE_EXHAUSTED, message: "Quota exceeded for quota metric 'Number of characters' and limit 'Number of characters per minute per project'", expect: 'ENGINE_UNAVAILABLE', retryable: true },
    { name: 'a deadline is transient', code: grpc.status.DEADLINE_EXCEEDED, message: 'Deadline Exceeded', expect: 'ENGINE_UNAVAILABLE', retryable: true },
    { name: 'an unavailable service is transient', code: grpc.status.UNAVAILABLE, message: 'The service is currently unavailable.', expect: 'ENGINE_UNAVAILABLE', retryable: true },
    { name: 'invalid input is permanent', code: grpc.status.INVALID_ARGUMENT, message: 'Request contains an invalid argument.', expect: 'INVALID_ARGUMENT', retryable: false },
    { name: 'a disabled API is permanent', code: grpc.status.PERMISSION_DENIED, message: 'Cloud Translation API has not been used in project 123 before or it is disabled.', expect: 'ENGINE_MISCONFIGURED', retryable: false },
  ];
  for (const e of errors) {
    it(`maps ${grpc.status[e.code]}: ${e.name}`, async () => {
      fake.respond = respondWithError(e.code, e.message);
      const err = await failure(engine.translate(['hello'], { from: 'en', to: 'es' }));
      assert.equal(err.code, e.expect);
      assert.equal(err.retryable, e.retryable);
      fake.respond = respondWithTranslation;
    });
  }
  it('refuses a target language the service does not know as LANGUAGE_PAIR_NOT_SUPPORTED (the service\'s own check)', async () => {
    fake.respond = respondWithTranslation;
    const err = await failure(engine.translate(['hello'], { from: 'en', to: 'tlh' }));
    assert.equal(err.code, 'LANGUAGE_PAIR_NOT_SUPPORTED');
    assert.equal(err.retryable, false);
    assert.match(err.message, /Target language is invalid/);
  });
  it('gives up on a hung call at its deadline, transiently', async () => {
    fake.respond = () => ({ hang: true });
    const err = await failure(engine.translate(['hello'], { from: 'en', to: 'es' }));
    assert.equal(err.code, 'ENGINE_UNAVAILABLE');
    assert.equal(err.retryable, true);
    fake.respond = respondWithTranslation;
  });
  it('cancels the call when aborted', async () => {
    fake.respond = () => ({ hang: true });
    const controller = new AbortController();
    const p = engine.translate(['hello'], { from: 'en', to: 'es', signal: controller.signal });
    setTimeout(() => controller.abort(), 200);
    const err = await failure(p);
    assert.equal(err.retryable, true);
    fake.respond = respondWithTranslation;
  });
  it('treats an answer with a wrong number of translations as transient', async () => {
    fake.respond = () => ({ translations: ['uno'] });
    const err = await failure(engine.translate(['one', 'two'], { from: 'en', to: 'es' }));
    assert.equal(err.code, 'ENGINE_FAILED');
    assert.equal(err.retryable, true);
    fake.respond = respondWithTranslation;
  });
});
