/**
 * Pure logic of the speech-to-text engines: pocketsphinx output parsing (on output captured from
 * the real binary), language tags, word error rate, Speech-to-Text v2 request building, response
 * mapping and error classification, and engine selection from config.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { ConfigError, parseConfig } from '../../shared/config/index.js';
import { PermanentError, TransientError } from '../../shared/errors/index.js';
import { normalizeLanguageTag, primaryLanguage, requestedLanguage } from '../../shared/engines/stt/common.js';
import { buildBatchRecognizeRequest, buildRecognizeRequest, mapBatchResponse, mapRecognitionResults, seconds, toEngineError } from '../../shared/engines/stt/google.js';
import { createSpeechToTextEngine, supportsBatch } from '../../shared/engines/stt/index.js';
import { parsePocketsphinxOutput } from '../../shared/engines/stt/local.js';
import { wordErrorRate, wordErrors } from '../../shared/engines/stt/metrics.js';

/** `pocketsphinx_continuous -infile … -time yes` on two corpus recordings joined (stdout, verbatim). */
const POCKETSPHINX_OUTPUT = `and mr john guess what and then at leisure to consider
<s> 0.000 0.140 0.999600
and(2) 0.150 0.360 0.260109
mr 0.370 0.620 0.988960
john 0.630 1.000 0.929314
guess 1.010 1.330 0.672101
what 1.340 1.580 0.581489
and(2) 1.590 1.830 0.170707
then 1.840 2.110 0.539684
at 2.120 2.250 0.051122
leisure(2) 2.260 2.710 0.454666
to 2.720 2.890 0.458548
<sil> 3.910 3.930 0.553458
consider 2.900 3.440 0.999900
</s> 7.080 7.200 1.000000
he was not until this blows young man
<s> 7.240 7.260 0.999800
he 7.270 7.370 0.998601
was(2) 7.380 7.590 0.999800
[NOISE] 7.595 7.599 0.5
not 7.600 8.020 1.000200
++BREATH++ 8.021 8.025 0.4
man 9.380 9.770 1.000000
</s> 9.780 10.140 1.000000
`;

describe('pocketsphinx output', () => {
  test('one segment per utterance, pronunciation variants and fillers dropped, posteriors as confidences', () => {
    const segments = parsePocketsphinxOutput(POCKETSPHINX_OUTPUT);
    assert.equal(segments.length, 2);
    const [first, second] = segments;
    assert.equal(first?.text, 'and mr john guess what and then at leisure to consider');
    assert.equal(first?.start, 0.15);
    assert.equal(first?.end, 3.44);
    assert.deepEqual(first?.words?.[0], { text: 'and', start: 0.15, end: 0.36, confidence: 0.26 });
    assert.equal(first?.words?.[8]?.text, 'leisure');
    assert.equal(second?.text, 'he was not man');
    assert.equal(second?.words?.[2]?.confidence, 1, 'posteriors over 1 are clamped');
    assert.equal(second?.confidence, Math.round(((0.998601 + 0.9998 + 1 + 1) / 4) * 1000) / 1000);
  });

  test('hypothesis lines alone separate utterances; times are clipped to the audio', () => {
    const segments = parsePocketsphinxOutput('go forward\ngo 0.5 0.8 0.9\nforward 0.8 1.2 0.8\nten meters\nten 2.0 2.3 0.7\nmeters 2.3 3.9 0.6\n', 3);
    assert.deepEqual(
      segments.map((s) => [s.text, s.start, s.end]),
      [
        ['go forward', 0.5, 1.2],
        ['ten meters', 2, 3],
      ],
    );
  });

  test('silence gives no segments', () => {
    assert.deepEqual(parsePocketsphinxOutput(''), []);
    assert.deepEqual(parsePocketsphinxOutput('\n<s> 0.000 4.990 1.000000\n</s> 4.990 5.000 1.000000\n'), []);
  });
});

describe('language tags', () => {
  test('conventional case, underscores accepted, subtags not replaced', () => {
    assert.equal(normalizeLanguageTag('en-us'), 'en-US');
    assert.equal(normalizeLanguageTag('EN_gb'), 'en-GB');
    assert.equal(normalizeLanguageTag('cmn-hans-cn'), 'cmn-Hans-CN');
    assert.equal(normalizeLanguageTag('es-419'), 'es-419');
    assert.equal(normalizeLanguageTag('ar-x-levant'), 'ar-x-levant');
    assert.equal(normalizeLanguageTag('not a tag'), undefined);
    assert.equal(normalizeLanguageTag(''), undefined);
  });

  test('primary language in its two-letter form', () => {
    assert.equal(primaryLanguage('en-GB'), 'en');
    assert.equal(primaryLanguage('eng'), 'en');
    assert.equal(primaryLanguage('deu-DE'), 'de');
    assert.equal(primaryLanguage('?'), undefined);
  });

  test('a malformed requested language is LANGUAGE_NOT_SUPPORTED', () => {
    assert.equal(requestedLanguage(undefined, 'en-us'), 'en-US');
    assert.throws(
      () => requestedLanguage('english please', 'en-US'),
      (err: unknown) => err instanceof PermanentError && err.code === 'LANGUAGE_NOT_SUPPORTED',
    );
  });
});

describe('word error rate', () => {
  test('substitutions, deletions and insertions from the alignment', () => {
    assert.deepEqual(wordErrors('the cat sat on the mat', 'the cat sat on the mat'), { referenceWords: 6, substitutions: 0, deletions: 0, insertions: 0, wer: 0 });
    assert.deepEqual(wordErrors('the cat sat on the mat', 'a cat sat on mat today'), { referenceWords: 6, substitutions: 3, deletions: 0, insertions: 0, wer: 0.5 }, 'equal costs: substitutions');
    assert.deepEqual(wordErrors('a b c d', 'a c d e'), { referenceWords: 4, substitutions: 0, deletions: 1, insertions: 1, wer: 0.5 });
    assert.equal(wordErrorRate('he was not an ill disposed young man', 'He was not an ill-disposed young man.'), 0, 'case, punctuation and hyphens do not count');
    assert.equal(wordErrorRate('and mister john', 'and mr john'), 1 / 3, 'nothing else is normalized');
  });

  test('edge cases: empty reference or hypothesis', () => {
    assert.equal(wordErrorRate('', ''), 0);
    assert.equal(wordErrorRate('', 'noise'), 1);
    assert.equal(wordErrorRate('two words', ''), 1);
    assert.equal(wordErrorRate('a', 'a b c d'), 3, 'insertions can push it over 1');
  });
});

describe('Speech-to-Text v2 requests', () => {
  const settings = { recognizer: 'projects/p/locations/global/recognizers/_', model: 'long', automaticPunctuation: true, wordConfidence: true };

  test('Recognize: headerless LINEAR16 at 16 kHz mono, model, language, word times, confidences, punctuation', () => {
    const samples = Buffer.from([1, 2, 3, 4]);
    assert.deepEqual(buildRecognizeRequest(settings, 'en-US', samples), {
      recognizer: 'projects/p/locations/global/recognizers/_',
      config: {
        model: 'long',
        languageCodes: ['en-US'],
        features: { enableWordTimeOffsets: true, enableWordConfidence: true, enableAutomaticPunctuation: true },
        explicitDecodingConfig: { encoding: 'LINEAR16', sampleRateHertz: 16000, audioChannelCount: 1 },
      },
      content: samples,
    });
  });

  test('BatchRecognize: one file, auto-detected format, results inline; features can be switched off', () => {
    assert.deepEqual(buildBatchRecognizeRequest({ ...settings, model: 'chirp_2', wordConfidence: false, automaticPunctuation: false }, 'de-DE', 'gs://b/o.wav'), {
      recognizer: 'projects/p/locations/global/recognizers/_',
      config: { model: 'chirp_2', languageCodes: ['de-DE'], features: { enableWordTimeOffsets: true }, autoDecodingConfig: {} },
      files: [{ uri: 'gs://b/o.wav' }],
      recognitionOutputConfig: { inlineResponseConfig: {} },
    });
  });
});

describe('Speech-to-Text v2 responses', () => {
  test('Durations with string, number or Long seconds', () => {
    assert.equal(seconds({ seconds: '3', nanos: 500_000_000 }), 3.5);
    assert.equal(seconds({ seconds: 2 }), 2);
    assert.equal(seconds({ nanos: 10_000_000 }), 0.01);
    assert.equal(seconds({ seconds: { toString: () => '7' }, nanos: 0 } as never), 7);
    assert.equal(seconds(null), undefined);
  });

  test('results become segments: start from the first word or the previous end, confidence 0 dropped, empty results skipped', () => {
    const { segments, language } = mapRecognitionResults(
      [
        {
          alternatives: [
            {
              transcript: ' He was not an ill-disposed young man. ',
              confidence: 0.92,
              words: [
                { word: 'He', startOffset: { seconds: '0', nanos: 300_000_000 }, endOffset: { seconds: '0', nanos: 500_000_000 }, confidence: 0.95 },
                { word: 'was', startOffset: { seconds: '0', nanos: 500_000_000 }, endOffset: { seconds: '0', nanos: 700_000_000 }, confidence: 0 },
              ],
            },
          ],
          resultEndOffset: { seconds: '3', nanos: 0 },
          languageCode: 'en-us',
        },
        { alternatives: [{ transcript: '', confidence: 0 }], resultEndOffset: { seconds: '4' } },
        { alternatives: [{ transcript: 'Unless to be rather cold-hearted', confidence: 0 }], resultEndOffset: { seconds: '6', nanos: 250_000_000 }, languageCode: 'en-us' },
        { alternatives: [], resultEndOffset: { seconds: '9' } },
      ],
      { durationSeconds: 6.1 },
    );
    assert.equal(language, 'en-US');
    assert.deepEqual(segments, [
      {
        start: 0.3,
        end: 3,
        text: 'He was not an ill-disposed young man.',
        confidence: 0.92,
        words: [
          { text: 'He', start: 0.3, end: 0.5, confidence: 0.95 },
          { text: 'was', start: 0.5, end: 0.7 },
        ],
        language: 'en-US',
      },
      // Starts where the previous (empty) result ended; its end is clipped to the audio.
      { start: 4, end: 6.1, text: 'Unless to be rather cold-hearted', language: 'en-US' },
    ]);
  });

  test('a finished batch: the file result inline, billed duration; a per-file error is thrown as its gRPC status', () => {
    const handle = { operation: 'projects/p/locations/global/operations/1', uri: 'gs://b/a.wav', language: 'en-US' };
    const result = mapBatchResponse(
      {
        results: {
          'gs://b/a.wav': {
            inlineResult: { transcript: { results: [{ alternatives: [{ transcript: 'hello' }], resultEndOffset: { seconds: '2' } }] } },
            metadata: { totalBilledDuration: { seconds: '15' } },
          },
        },
      },
      handle,
      'long',
      undefined,
      1234,
    );
    assert.deepEqual(result, { engine: 'google', model: 'long', language: 'en-US', durationSeconds: 2, segments: [{ start: 0, end: 2, text: 'hello' }], engineMs: 1234, billedSeconds: 15 });
    assert.throws(
      () => mapBatchResponse({ results: { 'gs://b/a.wav': { error: { code: 5, message: 'Unable to access audio file' } } } }, handle, 'long', undefined, undefined),
      (err: unknown) => typeof err === 'object' && err !== null && 'code' in err && err.code === 5,
    );
  });

  test('gRPC errors: quota, unavailable and deadline are transient; invalid arguments and configuration permanent', () => {
    const settings = { recognizer: 'projects/p/locations/global/recognizers/_', model: 'long' };
    const grpcError = (code: number, details: string): Error => Object.assign(new Error(`${code} X: ${details}`), { code, details });
    const classify = (code: number, details = ''): [string, string] => {
      const e = toEngineError(grpcError(code, details), undefined, settings);
      assert.ok(e instanceof PermanentError || e instanceof TransientError, String(e));
      return [e.name, e.code];
    };
    assert.deepEqual(classify(8, 'Quota exceeded'), ['TransientError', 'ENGINE_UNAVAILABLE']);
    assert.deepEqual(classify(14, 'Service unavailable'), ['TransientError', 'ENGINE_UNAVAILABLE']);
    assert.deepEqual(classify(4, 'Deadline exceeded'), ['TransientError', 'ENGINE_UNAVAILABLE']);
    assert.deepEqual(classify(13, 'Internal error encountered.'), ['TransientError', 'ENGINE_FAILED']);
    assert.deepEqual(classify(3, 'The language "zh" is not supported by the model "long" in the location named "global".'), ['PermanentError', 'LANGUAGE_NOT_SUPPORTED']);
    assert.deepEqual(classify(3, "Invalid recognition 'config': The requested model is currently not supported for language : ms-MY."), ['PermanentError', 'LANGUAGE_NOT_SUPPORTED']);
    assert.deepEqual(classify(3, 'The model "default" does not exist in the location named "global".'), ['PermanentError', 'ENGINE_MISCONFIGURED']);
    assert.deepEqual(classify(3, 'Audio can be of a maximum of 60 seconds.'), ['PermanentError', 'INPUT_TOO_LARGE']);
    assert.deepEqual(classify(3, 'Audio data does not appear to be in a supported encoding.'), ['PermanentError', 'INPUT_CORRUPT']);
    assert.deepEqual(classify(3, 'Something else.'), ['PermanentError', 'INPUT_INVALID']);
    assert.deepEqual(classify(7, 'Permission denied'), ['PermanentError', 'ENGINE_MISCONFIGURED']);
    assert.deepEqual(classify(5, 'Unable to find Recognizer'), ['PermanentError', 'ENGINE_MISCONFIGURED']);
    assert.deepEqual(classify(16, 'Unauthenticated'), ['PermanentError', 'ENGINE_MISCONFIGURED']);
    const aborted = new AbortController();
    aborted.abort(new Error('shutting down'));
    const cancelled = toEngineError(grpcError(1, 'Cancelled on client'), aborted.signal, settings);
    assert.ok(cancelled instanceof TransientError && /shutting down/.test(cancelled.message));
    const ours = new PermanentError('X', 'kept');
    assert.equal(toEngineError(ours, undefined, settings), ours);
  });
});

describe('engine selection', () => {
  const env = { GOOGLE_CLOUD_PROJECT: 'demo-x', SCRIPTORIUM_BUCKET: 'demo-x-documents' };

  test('config: local and en-US by default; values validated', () => {
    const c = parseConfig(env);
    assert.equal(c.SCRIPTORIUM_STT_ENGINE, 'local');
    assert.equal(c.SCRIPTORIUM_STT_LANGUAGE, 'en-US');
    assert.equal(c.SCRIPTORIUM_STT_LOCATION, 'global');
    assert.equal(c.SCRIPTORIUM_STT_SEGMENT_SECONDS, 55);
    assert.equal(c.SCRIPTORIUM_STT_MODEL, undefined);
    assert.equal(parseConfig({ ...env, SCRIPTORIUM_STT_MODEL: '', SCRIPTORIUM_STT_ENDPOINT: '' }).SCRIPTORIUM_STT_ENDPOINT, undefined, 'blank counts as unset');
    assert.throws(
      () => parseConfig({ ...env, SCRIPTORIUM_STT_ENGINE: 'whisper', SCRIPTORIUM_STT_LANGUAGE: 'English!', SCRIPTORIUM_STT_SEGMENT_SECONDS: '0', SCRIPTORIUM_STT_ENDPOINT: 'http://x' }),
      (err: unknown) =>
        err instanceof ConfigError &&
        ['SCRIPTORIUM_STT_ENGINE', 'SCRIPTORIUM_STT_LANGUAGE', 'SCRIPTORIUM_STT_SEGMENT_SECONDS', 'SCRIPTORIUM_STT_ENDPOINT'].every((k) => err.message.includes(k)),
    );
  });

  test('local: pocketsphinx, English only', () => {
    const engine = createSpeechToTextEngine(parseConfig(env));
    assert.equal(engine.name, 'local');
    assert.deepEqual(engine.languages, ['en-US']);
    assert.ok(engine.supportsLanguage('en-GB') && engine.supportsLanguage('eng') && !engine.supportsLanguage('de-DE'));
    assert.equal(supportsBatch(engine), false);
    assert.throws(() => createSpeechToTextEngine(parseConfig({ ...env, SCRIPTORIUM_STT_LANGUAGE: 'de-DE' })), ConfigError, 'no German model: a config error at start-up');
  });

  test('google: any well-formed language, batch, a project required, segments within 60 s', async () => {
    const engine = createSpeechToTextEngine(parseConfig({ ...env, SCRIPTORIUM_STT_ENGINE: 'google', SCRIPTORIUM_STT_MODEL: 'chirp_2', SCRIPTORIUM_STT_LOCATION: 'us-central1' }));
    assert.equal(engine.name, 'google');
    assert.equal(engine.model, 'chirp_2');
    assert.equal(engine.languages, null);
    assert.equal(engine.maxInputSeconds, 60);
    assert.ok(engine.supportsLanguage('de-DE') && !engine.supportsLanguage('not a language'));
    assert.ok(supportsBatch(engine));
    await engine.close();
    assert.throws(() => createSpeechToTextEngine({ SCRIPTORIUM_STT_ENGINE: 'google', SCRIPTORIUM_STT_LANGUAGE: 'en-US' }), /GOOGLE_CLOUD_PROJECT/);
    assert.throws(() => createSpeechToTextEngine({ ...parseConfig({ ...env, SCRIPTORIUM_STT_ENGINE: 'google', SCRIPTORIUM_STT_SEGMENT_SECONDS: '90' }) }), /at most 60/);
  });
});
