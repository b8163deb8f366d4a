/**
 * The `google` text-to-speech engine with the real `@google-cloud/text-to-speech` client over real
 * gRPC, against the local server in scripts/fakes/fake-tts.ts (no network, no credentials). The fake
 * decodes what the client sends with the service's own protos, so these tests see each request as
 * Google would; it answers with real speech (flite, encoded by ffmpeg as asked) or with the errors
 * the service gives.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { promisify } from 'node:util';

import { status } from '@grpc/grpc-js';

import { parseConfig } from '../../shared/config/index.js';
import { PermanentError, TransientError, isRetryable } from '../../shared/errors/index.js';
import { int16From, measureJoins, parseWav } from '../../shared/engines/tts/audio.js';
import { createGoogleTextToSpeechEngine } from '../../shared/engines/tts/google.js';
import type { GoogleTextToSpeechOptions } from '../../shared/engines/tts/google.js';
import { createTextToSpeechEngine } from '../../shared/engines/tts/index.js';
import { synthesizeLong } from '../../shared/engines/tts/long.js';
import type { TextToSpeechEngine } from '../../shared/engines/tts/types.js';
import { FAKE_VOICES, TOO_LONG_MESSAGE, respondNever, respondWithError, respondWithSpeech, startFakeTts } from '../../scripts/fakes/fake-tts.js';
import type { FakeTts, RecordedListVoices, RecordedSynthesis, Responder } from '../../scripts/fakes/fake-tts.js';
import { fastThrottle } from '../helpers/throttle.js';

const run = promisify(execFile);

let fake: FakeTts;
let dir: string;
const engines: TextToSpeechEngine[] = [];

before(async () => {
  fake = await startFakeTts();
  dir = await mkdtemp(join(tmpdir(), 'tts-google-test-'));
});
after(async () => {
  await Promise.all(engines.map((e) => e.close()));
  await fake.close();
  await rm(dir, { recursive: true, force: true });
});

let seen = 0;
beforeEach(() => {
  seen = fake.requests.length;
  fake.respond = respondWithSpeech;
});
const sent = (): RecordedSynthesis[] => fake.requests.slice(seen).filter((r): r is RecordedSynthesis => r.kind === 'synthesize');

function engine(options: Partial<GoogleTextToSpeechOptions> = {}): TextToSpeechEngine {
  const e = createGoogleTextToSpeechEngine({ apiEndpoint: fake.endpoint, retryDelayMs: 5, throttle: fastThrottle(), ...options });
  engines.push(e);
  return e;
}

const SENTENCE = 'The keeper climbed the stairs to polish the lens.';

describe('ListVoices', () => {
  test('all voices, or those of a language; mapped to the contract', async () => {
    const e = engine();
    const all = await e.listVoices();
    assert.equal(all.length, FAKE_VOICES.length);
    const en = await e.listVoices({ languageCode: 'en' });
    assert.deepEqual(
      en.map((v) => v.name),
      ['en-US-Standard-C', 'en-US-Neural2-D', 'en-GB-Neural2-A'],
    );
    assert.deepEqual(en[1], { name: 'en-US-Neural2-D', languageCodes: ['en-US'], gender: 'male', engine: 'google', naturalSampleRateHertz: 24000, available: true });
    const requests = fake.requests.slice(seen).filter((r): r is RecordedListVoices => r.kind === 'listVoices');
    assert.deepEqual(
      requests.map((r) => r.languageCode),
      ['', 'en'],
    );
  });
});

describe('SynthesizeSpeech requests', () => {
  test('text, the voice, the language its name implies, LINEAR16; a WAV back', async () => {
    const r = await engine().synthesize({ input: { text: SENTENCE }, voice: 'en-GB-Neural2-A' });
    const [request, ...more] = sent();
    assert.ok(request);
    assert.equal(more.length, 0);
    assert.equal(request.inputKind, 'text');
    assert.equal(request.text, SENTENCE);
    assert.equal(request.languageCode, 'en-GB');
    assert.equal(request.voiceName, 'en-GB-Neural2-A');
    assert.equal(request.audioEncoding, 'LINEAR16');
    assert.equal(request.speakingRate, 0, 'rate 1 is not sent (0 means the voice default)');
    assert.equal(request.sampleRateHertz, 0);
    assert.match(request.metadata['x-goog-api-client'] ?? '', /gapic\/\S+ gl-node/);
    assert.equal(request.metadata.authorization, undefined, 'no credentials go to a loopback endpoint');
    assert.equal(r.format, 'wav');
    assert.equal(r.sampleRateHertz, 24000);
    assert.equal(r.voice, 'en-GB-Neural2-A');
    assert.equal(r.languageCode, 'en-GB');
    assert.equal(r.inputBytes, Buffer.byteLength(SENTENCE));
    assert.equal(r.durationSeconds, parseWav(r.audio)?.durationSeconds);
    assert.ok(r.durationSeconds > 1.5 && r.durationSeconds < 6);
  });

  test('MP3 and Ogg Opus: the encodings asked for, durations read from the bytes', async () => {
    const e = engine();
    const wav = await e.synthesize({ input: { text: SENTENCE }, languageCode: 'en-US' });
    for (const [format, encoding] of [
      ['mp3', 'MP3'],
      ['ogg', 'OGG_OPUS'],
    ] as const) {
      const r = await e.synthesize({ input: { text: SENTENCE }, languageCode: 'en-US', format });
      assert.equal(sent().at(-1)?.audioEncoding, encoding);
      assert.equal(r.format, format);
      const path = join(dir, `google.${format}`);
      await writeFile(path, r.audio);
      const { stdout } = await run('ffmpeg', ['-nostdin', '-loglevel', 'error', '-i', path, '-f', 's16le', '-ac', '1', '-ar', '24000', '-'], { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 });
      const decodedSeconds = int16From(stdout).length / 24000;
      assert.ok(Math.abs(r.durationSeconds - decodedSeconds) < 0.04, `${format}: ${r.durationSeconds} s vs ${decodedSeconds} s decoded`);
      assert.ok(Math.abs(r.durationSeconds - wav.durationSeconds) < 0.04, `${format}: ${r.durationSeconds} s vs ${wav.durationSeconds} s as LINEAR16`);
    }
    // No voice named: none is sent, the service picks one for the language.
    assert.ok(sent().every((s) => s.voiceName === '' && s.languageCode === 'en-US'));
  });

  test('speaking rate and sample rate are sent as given', async () => {
    const r = await engine().synthesize({ input: { text: SENTENCE }, voice: 'en-US-Standard-C', speakingRate: 1.5, sampleRateHertz: 16000 });
    const [request] = sent();
    assert.deepEqual([request?.speakingRate, request?.sampleRateHertz], [1.5, 16000]);
    assert.equal(r.sampleRateHertz, 16000);
  });

  test('SSML goes as SSML; a fragment is wrapped in <speak>', async () => {
    const e = engine({ defaultVoice: 'en-US-Neural2-D' });
    await e.synthesize({ input: { ssml: '<speak>Hello <break time="300ms"/> there.</speak>' } });
    await e.synthesize({ input: { ssml: 'Fish &amp; chips <break time="1s"/> tonight.' } });
    const [a, b] = sent();
    assert.deepEqual([a?.inputKind, a?.ssml, a?.voiceName, a?.languageCode], ['ssml', '<speak>Hello <break time="300ms"/> there.</speak>', 'en-US-Neural2-D', 'en-US']);
    assert.equal(b?.ssml, '<speak>Fish &amp; chips <break time="1s"/> tonight.</speak>');
  });

  test('refused before sending: over 5,000 bytes, broken SSML, nothing to say, bad rate', async () => {
    const e = engine();
    const refusals: [Parameters<TextToSpeechEngine['synthesize']>[0], string][] = [
      [{ input: { text: 'é'.repeat(2501) } }, 'INPUT_TOO_LARGE'],
      [{ input: { ssml: '<speak><p>unclosed</speak>' } }, 'INVALID_SSML'],
      [{ input: { text: ' ' } }, 'INPUT_EMPTY'],
      [{ input: { ssml: '<speak><break time="1s"/></speak>' } }, 'INPUT_EMPTY'],
      [{ input: { text: 'Hi.' }, speakingRate: 4 }, 'INVALID_ARGUMENT'],
    ];
    for (const [request, code] of refusals) {
      await assert.rejects(e.synthesize(request), (err) => err instanceof PermanentError && err.code === code, code);
    }
    assert.equal(sent().length, 0, 'nothing was sent');
  });
});

describe('errors', () => {
  const cases: [string, Responder, (err: unknown) => boolean, number][] = [
    ['over the limit (the service says so)', respondWithError(status.INVALID_ARGUMENT, TOO_LONG_MESSAGE), (err) => err instanceof PermanentError && err.code === 'INPUT_TOO_LARGE', 1],
    ['sentences too long', respondWithError(status.INVALID_ARGUMENT, 'This request contains sentences that are too long.'), (err) => err instanceof PermanentError && err.code === 'INPUT_TOO_LARGE', 1],
    ['quota, every time: retried by the throttle, then ENGINE_THROTTLED', respondWithError(status.RESOURCE_EXHAUSTED, 'Quota exceeded for quota metric'), (err) => err instanceof TransientError && err.code === 'ENGINE_THROTTLED', 3],
    ['unavailable, every time', respondWithError(status.UNAVAILABLE, 'The service is currently unavailable.'), (err) => err instanceof TransientError && err.code === 'ENGINE_UNAVAILABLE', 3],
    ['deadline exceeded: transient, not retried here', respondWithError(status.DEADLINE_EXCEEDED, 'Deadline exceeded'), (err) => err instanceof TransientError && err.code === 'ENGINE_UNAVAILABLE', 1],
    ['permission denied', respondWithError(status.PERMISSION_DENIED, 'Cloud Text-to-Speech API has not been used in project 1 before or it is disabled.'), (err) => err instanceof PermanentError && err.code === 'ENGINE_MISCONFIGURED', 1],
    ['unauthenticated', respondWithError(status.UNAUTHENTICATED, 'Request had invalid authentication credentials.'), (err) => err instanceof PermanentError && err.code === 'ENGINE_MISCONFIGURED', 1],
    ['internal', respondWithError(status.INTERNAL, 'Internal error encountered.'), (err) => err instanceof TransientError && err.code === 'ENGINE_FAILED', 1],
    ['no audio', () => ({ audioContent: Buffer.alloc(0) }), (err) => err instanceof TransientError && err.code === 'ENGINE_FAILED', 1],
    ['bytes that are no audio', () => ({ audioContent: Buffer.from('<html>oops</html>') }), (err) => err instanceof TransientError && err.code === 'ENGINE_FAILED', 1],
  ];
  for (const [what, respond, check, requests] of cases) {
    test(what, async () => {
      fake.respond = respond;
      await assert.rejects(engine().synthesize({ input: { text: SENTENCE }, languageCode: 'en-US' }), check);
      assert.equal(sent().length, requests);
    });
  }

  test("the service's own refusals: unknown voice, voice of another language, unsupported language", async () => {
    const e = engine();
    await assert.rejects(e.synthesize({ input: { text: SENTENCE }, voice: 'en-US-Imaginary-Z' }), (err) => err instanceof PermanentError && err.code === 'VOICE_NOT_FOUND' && /misspelled/.test(err.message));
    await assert.rejects(e.synthesize({ input: { text: SENTENCE }, voice: 'en-US-Standard-C', languageCode: 'de-DE' }), (err) => err instanceof PermanentError && err.code === 'INVALID_ARGUMENT');
    await assert.rejects(e.synthesize({ input: { text: SENTENCE }, languageCode: 'tlh-KL' }), (err) => err instanceof PermanentError && err.code === 'LANGUAGE_NOT_SUPPORTED');
    assert.equal(sent().length, 3);
  });

  test('a refusal once, then success: retried here', async () => {
    fake.respond = (_r, i) => (i === seen ? { error: { code: status.RESOURCE_EXHAUSTED, message: 'Quota exceeded' } } : { synthesize: true });
    const r = await engine().synthesize({ input: { text: SENTENCE }, languageCode: 'en-US' });
    assert.ok(r.durationSeconds > 1);
    assert.equal(sent().length, 2);
  });

  test('a request past its deadline is cut off: transient', async () => {
    fake.respond = respondNever;
    const started = performance.now();
    await assert.rejects(engine({ requestTimeoutMs: 300 }).synthesize({ input: { text: SENTENCE }, languageCode: 'en-US' }), (err) => err instanceof TransientError && err.code === 'ENGINE_UNAVAILABLE' && isRetryable(err));
    assert.ok(performance.now() - started < 5000);
  });

  test('aborting cancels the call in flight', async () => {
    fake.respond = respondNever;
    const controller = new AbortController();
    const cancelledBefore = fake.cancelled;
    const pending = engine().synthesize({ input: { text: SENTENCE }, languageCode: 'en-US' }, { signal: controller.signal });
    await fake.waitForRequests(seen + 1);
    controller.abort(new Error('job cancelled'));
    await assert.rejects(pending, (err) => err instanceof TransientError && /job cancelled/.test(err.message));
    // The server sees the cancellation shortly after.
    for (let i = 0; i < 50 && fake.cancelled === cancelledBefore; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(fake.cancelled, cancelledBefore + 1);
  });
});

describe('long texts', () => {
  test('over 5,000 bytes: planned into requests under the limit, joined into one file without gaps or clicks', async () => {
    const paragraph =
      'The old lighthouse stood at the edge of the cliff, where the path gave out among the heather. Every night its beam swept across the water, and every morning the keeper climbed the stairs to polish the lens. ';
    const text = Array.from({ length: 30 }, (_, i) => `${paragraph}This was day ${i + 1}.`).join('\n\n');
    assert.ok(Buffer.byteLength(text) > 6000);
    const outputPath = join(dir, 'google-long.ogg');
    const result = await synthesizeLong(engine(), { input: { text }, voice: 'en-US-Standard-C', format: 'ogg' }, { outputPath });
    const requests = sent();
    assert.equal(requests.length, result.chunks.length);
    assert.ok(requests.length >= 2);
    for (const r of requests) {
      assert.ok(Buffer.byteLength(r.text) <= 5000, `${Buffer.byteLength(r.text)} bytes`);
      assert.equal(r.audioEncoding, 'LINEAR16', 'chunks come as PCM: the file is encoded once');
      assert.match(r.text, /\.$/u, 'cut at a sentence end');
    }
    assert.equal(requests.map((r) => r.text).join(' ').replace(/\s+/g, ' '), text.replace(/\s+/g, ' '), 'every word sent once, in order');
    assert.equal(result.format, 'ogg');
    assert.equal(result.sampleRateHertz, 24000);
    assert.ok(existsSync(outputPath));
    const { stdout } = await run('ffmpeg', ['-nostdin', '-loglevel', 'error', '-i', outputPath, '-f', 's16le', '-ac', '1', '-ar', '24000', '-'], { encoding: 'buffer', maxBuffer: 256 * 1024 * 1024 });
    const decoded = int16From(stdout);
    assert.ok(Math.abs(decoded.length / 24000 - result.durationSeconds) < 0.05);
    const report = measureJoins(decoded, 24000, result.joins.map((j) => j.atSeconds));
    for (const j of report.joins) {
      assert.equal(j.click, false, `step ${j.step.toFixed(4)}`);
      assert.ok(j.gapMs > 150 && j.gapMs <= report.longestNaturalPauseMs + 50, `gap ${j.gapMs.toFixed(0)} ms, natural up to ${report.longestNaturalPauseMs.toFixed(0)} ms`);
    }
    assert.equal(result.bytes, (await readFile(outputPath)).length);
    console.log(
      `google (fake) long text: ${text.length} characters, ${requests.length} requests → ${result.durationSeconds.toFixed(1)} s Ogg Opus (${result.bytes} bytes); ` +
        `joins ${report.joins.map((j) => `${j.gapMs.toFixed(0)} ms/step ${j.step.toFixed(4)}`).join(', ')}; natural pauses up to ${report.longestNaturalPauseMs.toFixed(0)} ms`,
    );
  });
});

describe('selection by config', () => {
  test('SCRIPTORIUM_TTS_ENGINE=google with the endpoint and default voice', async () => {
    const cfg = parseConfig({ GOOGLE_CLOUD_PROJECT: 'demo-x', SCRIPTORIUM_BUCKET: 'b', SCRIPTORIUM_TTS_ENGINE: 'google', SCRIPTORIUM_TTS_ENDPOINT: fake.endpoint, SCRIPTORIUM_TTS_VOICE: 'de-DE-Standard-B' });
    const e = createTextToSpeechEngine(cfg, { google: { retryDelayMs: 5 } });
    engines.push(e);
    const r = await e.synthesize({ input: { text: 'Guten Morgen.' } });
    assert.deepEqual([sent()[0]?.voiceName, sent()[0]?.languageCode, r.languageCode], ['de-DE-Standard-B', 'de-DE', 'de-DE']);
  });
});
