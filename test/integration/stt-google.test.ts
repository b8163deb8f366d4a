/**
 * The `google` speech-to-text engine with the real Speech-to-Text v2 client library over real
 * gRPC, against the local server in scripts/fakes/fake-speech.ts (no network, no credentials). The
 * fake decodes what the client sends with the service's own protos, so these tests see requests
 * as Google would, and answer with real recognition (pocketsphinx behind the v2 protocol), canned
 * real-shaped results, or the service's errors.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';

import { status } from '@grpc/grpc-js';

import { parseConfig } from '../../shared/config/index.js';
import { PermanentError, TransientError, isRetryable } from '../../shared/errors/index.js';
import { createGoogleSttEngine } from '../../shared/engines/stt/google.js';
import type { GoogleSttEngine, GoogleSttEngineOptions } from '../../shared/engines/stt/google.js';
import { createSpeechToTextEngine, supportsBatch } from '../../shared/engines/stt/index.js';
import { wordErrors } from '../../shared/engines/stt/metrics.js';
import { transcribeAudio } from '../../shared/engines/stt/transcribe.js';
import { toPlainText } from '../../shared/media/transcript.js';
import { FAKE_PROJECT, duration, recognizeWithPocketsphinx, respondNever, respondWithError, respondWithResults, startFakeSpeech } from '../../scripts/fakes/fake-speech.js';
import type { FakeSpeech, Responder } from '../../scripts/fakes/fake-speech.js';
import { fixturePath } from '../helpers/paths.js';
import { fastThrottle } from '../helpers/throttle.js';

const clipWav = (n: string): string => fixturePath(`audio/sense_and_sensibility_01_austen_64kb-${n}.wav`);
const clipText = (n: string): string => readFileSync(fixturePath(`audio/sense_and_sensibility_01_austen_64kb-${n}.txt`), 'utf8');
const RECOGNIZER = `projects/${FAKE_PROJECT}/locations/global/recognizers/_`;

let fake: FakeSpeech;
let work: string;
const engines: GoogleSttEngine[] = [];

before(async () => {
  fake = await startFakeSpeech();
  work = await mkdtemp(join(tmpdir(), 'stt-google-test-'));
});

after(async () => {
  await Promise.all(engines.map((e) => e.close()));
  await fake.close();
  await rm(work, { recursive: true, force: true });
});

/** Requests seen so far, to count those one test made. */
let seen = 0;
beforeEach(() => {
  seen = fake.requests.length;
  fake.respond = recognizeWithPocketsphinx;
});
const sent = (): typeof fake.requests => fake.requests.slice(seen);

function engine(options: Partial<GoogleSttEngineOptions> = {}): GoogleSttEngine {
  const e = createGoogleSttEngine({ project: FAKE_PROJECT, apiEndpoint: fake.endpoint, retryDelayMs: 5, throttle: fastThrottle(), ...options });
  engines.push(e);
  return e;
}

function ffmpeg(...args: string[]): void {
  execFileSync('ffmpeg', ['-nostdin', '-v', 'error', '-y', ...args]);
}

const isPermanent = (code: string) => (err: unknown) => err instanceof PermanentError && err.code === code;
const isTransient = (code: string) => (err: unknown) => err instanceof TransientError && err.code === code && isRetryable(err);

describe('Recognize', () => {
  test('sends the samples headerless with an exact config, to the implicit recognizer, without credentials', async (t) => {
    const result = await engine().transcribe({ path: clipWav('0870') });
    const [request, ...more] = sent();
    assert.ok(request);
    assert.equal(more.length, 0);
    assert.equal(request.method, 'Recognize');
    assert.equal(request.recognizer, RECOGNIZER);
    assert.equal(request.model, 'long');
    assert.deepEqual(request.languageCodes, ['en-US']);
    assert.deepEqual(request.features, { enableWordTimeOffsets: true, enableWordConfidence: true, enableAutomaticPunctuation: true, profanityFilter: false });
    assert.deepEqual(request.decoding, { kind: 'explicit', encoding: 'LINEAR16', sampleRateHertz: 16000, audioChannelCount: 1 });
    assert.ok(request.content.equals(readFileSync(clipWav('0870')).subarray(44)), 'the samples, byte for byte, without the WAV header');
    assert.deepEqual(request.uris, []);
    assert.deepEqual(request.configMask, []);
    // The generated client's routing header, which Google's front ends route regional calls by.
    assert.equal(request.metadata['x-goog-request-params'], `recognizer=${encodeURIComponent(RECOGNIZER)}`);
    assert.equal(request.metadata.authorization, undefined, 'no credentials go to a loopback endpoint');

    const e = wordErrors(clipText('0870'), result.segments.map((s) => s.text).join(' '));
    t.diagnostic(`0870 through the v2 protocol: WER ${(e.wer * 100).toFixed(1)} %, ${result.engineMs} ms; "${result.segments.map((s) => s.text).join(' ')}"`);
    assert.ok(e.wer <= 0.5);
    assert.equal(result.engine, 'google');
    assert.equal(result.model, 'long');
    assert.equal(result.language, 'en-US', "the service's lower-case en-us, in conventional case");
    assert.equal(result.billedSeconds, 8);
    assert.ok(result.segments.length > 0);
    for (const s of result.segments) {
      assert.ok(s.words && s.words.length > 0 && s.end <= result.durationSeconds);
      assert.ok(s.words.every((w) => w.start >= s.start && w.end <= s.end && w.confidence !== undefined));
    }
  });

  test('model, location and language come from the settings and the input', async () => {
    const e = engine({ model: 'chirp_2', language: 'en-GB', wordConfidence: false, automaticPunctuation: false });
    fake.respond = respondWithResults([]);
    await e.transcribe({ path: clipWav('0880') });
    await e.transcribe({ path: clipWav('0880'), language: 'fr-fr' });
    const [first, second] = sent();
    assert.equal(first?.model, 'chirp_2');
    assert.deepEqual(first?.languageCodes, ['en-GB']);
    assert.deepEqual(first?.features, { enableWordTimeOffsets: true, enableWordConfidence: false, enableAutomaticPunctuation: false, profanityFilter: false });
    assert.deepEqual(second?.languageCodes, ['fr-FR']);
  });

  test('maps real-shaped results: result ends, word offsets, confidences, languages; silence is no segment', async () => {
    fake.respond = respondWithResults(
      [
        {
          alternatives: [
            {
              transcript: 'He was not an ill-disposed young man.',
              confidence: 0.93,
              words: [
                { word: 'He', startOffset: duration(0.2), endOffset: duration(0.4), confidence: 0.98 },
                { word: 'was', startOffset: duration(0.4), endOffset: duration(0.6), confidence: 0.97 },
                { word: 'man.', startOffset: duration(2.3), endOffset: duration(2.8), confidence: 0.9 },
              ],
            },
          ],
          resultEndOffset: duration(2.85),
          languageCode: 'en-us',
        },
        { alternatives: [{ transcript: '' }], resultEndOffset: duration(2.99), languageCode: 'en-us' },
      ],
      3,
    );
    const result = await engine().transcribe({ path: clipWav('0880') });
    assert.deepEqual(result.segments, [
      {
        start: 0.2,
        end: 2.85,
        text: 'He was not an ill-disposed young man.',
        confidence: 0.93,
        words: [
          { text: 'He', start: 0.2, end: 0.4, confidence: 0.98 },
          { text: 'was', start: 0.4, end: 0.6, confidence: 0.97 },
          { text: 'man.', start: 2.3, end: 2.8, confidence: 0.9 },
        ],
        language: 'en-US',
      },
    ]);
    assert.equal(result.billedSeconds, 3);
    assert.equal(result.durationSeconds, 2.99);
  });

  test('refuses more than 60 s before sending anything', async () => {
    const long = join(work, 'long.wav');
    ffmpeg('-f', 'lavfi', '-i', 'anoisesrc=d=61:r=16000:a=0.1', '-ac', '1', '-c:a', 'pcm_s16le', long);
    await assert.rejects(engine().transcribe({ path: long }), isPermanent('INPUT_TOO_LARGE'));
    assert.equal(sent().length, 0);
  });

  test('refuses audio that is not normalized before sending anything', async () => {
    await assert.rejects(engine().transcribe({ path: fixturePath('audio/awful.wav') }), isPermanent('INPUT_CORRUPT'));
    await assert.rejects(engine().transcribe({ path: fixturePath('audio/goforward.raw') }), isPermanent('INPUT_CORRUPT'));
    assert.equal(sent().length, 0);
  });
});

describe('errors', () => {
  test('a language the model does not have: LANGUAGE_NOT_SUPPORTED, in the service words', async () => {
    await assert.rejects(engine().transcribe({ path: clipWav('0880'), language: 'ja-JP' }), (err: unknown) => {
      assert.ok(isPermanent('LANGUAGE_NOT_SUPPORTED')(err), String(err));
      assert.match((err as Error).message, /The language "ja-JP" is not supported by the model "long" in the location named "global"/);
      return true;
    });
    assert.equal(sent().length, 1, 'not retried');
  });

  test('a model or recognizer the location does not have: ENGINE_MISCONFIGURED', async () => {
    await assert.rejects(engine({ model: 'chirp_9' }).transcribe({ path: clipWav('0880') }), (err: unknown) => isPermanent('ENGINE_MISCONFIGURED')(err) && /The model "chirp_9" does not exist/.test((err as Error).message));
    await assert.rejects(engine({ location: 'europe-west4' }).transcribe({ path: clipWav('0880') }), isPermanent('ENGINE_MISCONFIGURED'));
    await assert.rejects(engine({ recognizer: `projects/${FAKE_PROJECT}/locations/global/recognizers/mine` }).transcribe({ path: clipWav('0880') }), isPermanent('ENGINE_MISCONFIGURED'));
    fake.respond = respondWithError(status.PERMISSION_DENIED, "Permission 'speech.recognizers.recognize' denied on resource.");
    await assert.rejects(engine().transcribe({ path: clipWav('0880') }), isPermanent('ENGINE_MISCONFIGURED'));
  });

  test('audio the service cannot decode: INPUT_CORRUPT', async () => {
    fake.respond = respondWithError(status.INVALID_ARGUMENT, 'Audio data does not appear to be in a supported encoding.');
    await assert.rejects(engine().transcribe({ path: clipWav('0880') }), isPermanent('INPUT_CORRUPT'));
  });

  test('quota: retried here with backoff, then succeeds', async () => {
    const quota: Responder = (_r, audio, index) => (index < seen + 2 ? { error: { code: status.RESOURCE_EXHAUSTED, message: 'Quota exceeded for quota metric "Recognize requests".' } } : { results: [], billedSeconds: Math.ceil(audio.durationSeconds) });
    fake.respond = quota;
    const result = await engine().transcribe({ path: clipWav('0880') });
    assert.equal(sent().length, 3);
    assert.deepEqual(result.segments, []);
  });

  test('unavailable throughout: a transient ENGINE_UNAVAILABLE after the retries', async () => {
    fake.respond = respondWithError(status.UNAVAILABLE, 'The service is currently unavailable.');
    await assert.rejects(engine({ retries: 2 }).transcribe({ path: clipWav('0880') }), isTransient('ENGINE_UNAVAILABLE'));
    assert.equal(sent().length, 3);
  });

  test('deadline exceeded: transient, not retried here (the service may have done the work)', async () => {
    fake.respond = respondWithError(status.DEADLINE_EXCEEDED, 'Deadline Exceeded');
    await assert.rejects(engine().transcribe({ path: clipWav('0880') }), isTransient('ENGINE_UNAVAILABLE'));
    assert.equal(sent().length, 1);
    fake.respond = respondNever;
    await assert.rejects(engine({ requestTimeoutMs: 300, retries: 0 }).transcribe({ path: clipWav('0880') }), isTransient('ENGINE_UNAVAILABLE'));
  });

  test('an internal error is transient ENGINE_FAILED', async () => {
    fake.respond = respondWithError(status.INTERNAL, 'Internal error encountered.');
    await assert.rejects(engine().transcribe({ path: clipWav('0880') }), isTransient('ENGINE_FAILED'));
  });

  test('aborting cancels the call in flight', async () => {
    fake.respond = respondNever;
    const before = fake.cancelled;
    const controller = new AbortController();
    const started = performance.now();
    const running = engine().transcribe({ path: clipWav('0880') }, { signal: controller.signal });
    setTimeout(() => controller.abort(new Error('job cancelled')), 200);
    await assert.rejects(running, (err: unknown) => err instanceof TransientError && /job cancelled/.test(err.message));
    assert.ok(performance.now() - started < 2000);
    for (let i = 0; i < 50 && fake.cancelled === before; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(fake.cancelled, before + 1, 'the server saw the cancellation');
  });
});

describe('BatchRecognize', () => {
  const URI = 'gs://demo-scriptorium-documents/derived/doc_1/audio.wav';

  test('starts an operation on the Cloud Storage file, then reports progress and the transcript', async (t) => {
    fake.putObject(URI, clipWav('0890'));
    const e = engine();
    const handle = await e.startBatch({ uri: URI });
    const [request] = sent();
    assert.ok(request);
    assert.equal(request.method, 'BatchRecognize');
    assert.equal(request.recognizer, RECOGNIZER);
    assert.deepEqual(request.uris, [URI]);
    assert.deepEqual(request.decoding, { kind: 'auto' });
    assert.equal(request.output, 'inline');
    assert.deepEqual(request.languageCodes, ['en-US']);
    assert.match(handle.operation, /^projects\/demo-scriptorium\/locations\/global\/operations\/[0-9a-f-]{36}$/);

    // A handle is plain data: a later invocation can check on it.
    const stored = JSON.parse(JSON.stringify(handle)) as typeof handle;
    const first = await e.checkBatch(stored);
    assert.deepEqual(first, { done: false, progressPercent: 50 });
    const second = await e.checkBatch(stored, { durationSeconds: 5.3 });
    assert.ok(second.done);
    const text = second.result.segments.map((s) => s.text).join(' ');
    const wer = wordErrors(clipText('0890'), text).wer;
    t.diagnostic(`0890 by batch recognition: WER ${(wer * 100).toFixed(1)} %; "${text}"`);
    assert.ok(wer <= 0.5);
    assert.equal(second.result.language, 'en-US');
    assert.equal(second.result.durationSeconds, 5.3);
    assert.equal(second.result.billedSeconds, 6);
    assert.deepEqual(fake.polls.slice(-2), [handle.operation, handle.operation]);
  });

  test('transcribeUri polls until done', async () => {
    fake.putObject(URI, clipWav('0880'));
    fake.respond = respondWithResults([{ alternatives: [{ transcript: 'He was not an ill-disposed young man.', confidence: 0.9 }], resultEndOffset: duration(2.9), languageCode: 'en-us' }], 3);
    const progress: (number | undefined)[] = [];
    const result = await engine().transcribeUri({ uri: URI, durationSeconds: 2.99 }, { pollIntervalMs: 20, onProgress: (p) => progress.push(p) });
    assert.deepEqual(progress, [50]);
    assert.deepEqual(result.segments, [{ start: 0, end: 2.9, text: 'He was not an ill-disposed young man.', confidence: 0.9, language: 'en-US' }]);
  });

  test('a file the service cannot read fails the operation permanently; a throttled one transiently', async () => {
    const e = engine();
    await assert.rejects(e.transcribeUri({ uri: 'gs://demo-scriptorium-documents/missing.wav' }, { pollIntervalMs: 10 }), isPermanent('ENGINE_MISCONFIGURED'));
    fake.putObject(URI, clipWav('0880'));
    fake.respond = respondWithError(status.RESOURCE_EXHAUSTED, 'Quota exceeded.');
    await assert.rejects(e.transcribeUri({ uri: URI }, { pollIntervalMs: 10 }), isTransient('ENGINE_UNAVAILABLE'));
    fake.respond = respondWithError(status.INVALID_ARGUMENT, 'Audio data does not appear to be in a supported encoding.');
    await assert.rejects(e.transcribeUri({ uri: URI }, { pollIntervalMs: 10 }), isPermanent('INPUT_CORRUPT'));
  });

  test('refuses a URI outside Cloud Storage and an unknown operation', async () => {
    await assert.rejects(engine().startBatch({ uri: '/etc/passwd' }), isPermanent('INPUT_INVALID'));
    assert.equal(sent().length, 0);
    await assert.rejects(engine().checkBatch({ operation: 'projects/demo-scriptorium/locations/global/operations/nope', uri: URI, language: 'en-US' }), isPermanent('ENGINE_MISCONFIGURED'));
  });

  test('aborting stops polling', async () => {
    fake.putObject(URI, clipWav('0880'));
    fake.respond = respondNever;
    const controller = new AbortController();
    const running = engine().transcribeUri({ uri: URI }, { pollIntervalMs: 50, signal: controller.signal });
    setTimeout(() => controller.abort(new Error('shutdown')), 150);
    await assert.rejects(running, (err: unknown) => err instanceof TransientError && /shutdown/.test(err.message));
  });
});

describe('through the config and transcribeAudio', () => {
  test('SCRIPTORIUM_STT_* select the engine; a recording is split into ≤ 60 s requests and assembled', async (t) => {
    const e = createSpeechToTextEngine(parseConfig({ GOOGLE_CLOUD_PROJECT: FAKE_PROJECT, SCRIPTORIUM_BUCKET: 'b', SCRIPTORIUM_STT_ENGINE: 'google', SCRIPTORIUM_STT_ENDPOINT: fake.endpoint }));
    assert.ok(supportsBatch(e));
    engines.push(e);
    const recording = join(work, 'two-clips.mp3');
    const gap = ['-f', 'lavfi', '-t', '1.5', '-i', 'anullsrc=r=16000:cl=mono'];
    ffmpeg('-i', clipWav('0880'), ...gap, '-i', clipWav('0890'), '-filter_complex', 'concat=n=3:v=0:a=1', '-c:a', 'libmp3lame', '-b:a', '64k', recording);
    const result = await transcribeAudio(e, { path: recording }, { maxSegmentSeconds: 7, concurrency: 2 });
    const requests = sent();
    assert.equal(requests.length, result.segmentCount);
    assert.ok(result.segmentCount >= 2);
    for (const r of requests) assert.ok(r.content.length <= 7 * 32000 + 2, `${r.content.length} bytes`);
    const reference = ['0880', '0890'].map(clipText).join(' ');
    const wer = wordErrors(reference, toPlainText(result.transcript)).wer;
    t.diagnostic(`two clips as MP3 through google + fake: ${result.segmentCount} requests, WER ${(wer * 100).toFixed(1)} %, billed ${result.billedSeconds} s, ${result.totalMs} ms`);
    assert.ok(wer <= 0.5);
    assert.equal(result.billedSeconds, requests.reduce((sum, r) => sum + Math.ceil(r.content.length / 32000), 0));
    // The second clip starts at 4.49 s in the recording.
    const second = result.transcript.segments.find((s) => /selfish/.test(s.text));
    assert.ok(second && second.start > 4.4, JSON.stringify(second));
  });
});
