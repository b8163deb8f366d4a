/** Pure parts of video translation: fitting dubbed clips to their time, batching, translated subtitles, pairs, declarations. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { clipLimits, fitClip, MAX_TEMPO } from '../../shared/media/dub.js';
import { batchTexts, pairsFromModes, primarySubtag } from '../../shared/engines/translate/index.js';
import { applyTranslation, sameLanguage, segmentTexts } from '../../shared/engines/translate/transcript.js';
import { formatTranscript, parseTranscriptJson, type Transcript } from '../../shared/media/transcript.js';
import { rawPcmFormatOf, RawAudioDeclarationSchema, TranslateRequestSchema } from '../../shared/jobs/media-input.js';
import { pipelineFor, stagesReady, VIDEO_PIPELINE } from '../../shared/jobs/model.js';

describe('fitClip', () => {
  const cases: { name: string; clip: number; start: number; limit: number; tempo: number; duration: number; trimmed: boolean }[] = [
    { name: 'plays a clip that fits as it is', clip: 2, start: 10, limit: 13, tempo: 1, duration: 2, trimmed: false },
    { name: 'plays a clip that exactly fills its room as it is', clip: 3, start: 10, limit: 13, tempo: 1, duration: 3, trimmed: false },
    { name: 'speeds up a clip up to 1.5× to fit', clip: 4, start: 10, limit: 13, tempo: 4 / 3, duration: 3, trimmed: false },
    { name: 'speeds up at most 1.5× and cuts the rest', clip: 6, start: 10, limit: 13, tempo: MAX_TEMPO, duration: 3, trimmed: true },
    { name: 'has no room for a segment at its limit', clip: 1, start: 5, limit: 5, tempo: MAX_TEMPO, duration: 0, trimmed: true },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const fit = fitClip(c.clip, c.start, c.limit);
      assert.equal(fit.start, c.start);
      assert.ok(Math.abs(fit.tempo - c.tempo) < 1e-3, `tempo ${fit.tempo}`);
      assert.ok(Math.abs(fit.duration - c.duration) < 1e-6, `duration ${fit.duration}`);
      assert.equal(fit.trimmed, c.trimmed);
      assert.ok(fit.start + fit.duration <= c.limit + 1e-9, 'never past its limit');
    });
  }
});

describe('clipLimits', () => {
  it('lets each clip run to the next spoken segment, the last to the end of the recording', () => {
    const segs = [
      { start: 0.5, end: 3, text: 'uno' },
      { start: 4, end: 6, text: '' },
      { start: 7, end: 9, text: 'dos' },
      { start: 9.5, end: 11, text: 'tres' },
    ];
    assert.deepEqual(clipLimits(segs, 12), [7, 7, 9.5, 12]);
  });
  it('never goes past the recording', () => {
    assert.deepEqual(clipLimits([{ start: 1, end: 30, text: 'a' }], 20), [20]);
  });
});

describe('batchTexts', () => {
  it('cuts by count and by characters, keeping order and covering every text once', () => {
    const texts = ['aaaa', 'bb', 'cccccc', 'd', 'eeeeeeeeeeee', 'f'];
    const batches = batchTexts(texts, 2, 8);
    assert.deepEqual(batches, [
      { start: 0, end: 2 },
      { start: 2, end: 4 },
      { start: 4, end: 5 },
      { start: 5, end: 6 },
    ]);
    assert.deepEqual(batchTexts([], 5, 100), []);
  });
  it('counts code points, not UTF-16 units', () => {
    assert.deepEqual(batchTexts(['😀😀', '😀'], 10, 3), [{ start: 0, end: 2 }]);
  });
});

describe('translated transcripts', () => {
  const transcript: Transcript = {
    language: 'en-US',
    durationSeconds: 12,
    engine: 'local',
    segments: [
      { start: 0.5, end: 3.25, text: 'hello  how are\nyou', words: [{ text: 'hello', start: 0.5, end: 1 }] },
      { start: 4, end: 4.5, text: '' },
      { start: 5, end: 11.5, text: 'the weather is nice today' },
    ],
  };
  const texts = segmentTexts(transcript);
  it('takes one text per segment, whitespace collapsed', () => {
    assert.deepEqual(texts, ['hello how are you', '', 'the weather is nice today']);
  });
  const es = applyTranslation(transcript, ['hola cómo estás', '', 'el tiempo es bueno hoy'], 'es', { name: 'local', model: 'apertium' });
  it('keeps every segment timing and drops word timings', () => {
    assert.deepEqual(es.segments.map((s) => [s.start, s.end]), transcript.segments.map((s) => [s.start, s.end]));
    assert.equal(es.language, 'es');
    assert.ok(es.segments.every((s) => s.words === undefined));
  });
  it('writes SRT and WebVTT with the translated text at the original times', () => {
    const srt = formatTranscript(es, 'srt').body;
    assert.match(srt, /^1\r?\n00:00:00,500 --> 00:00:03,250\r?\nhola cómo estás\r?\n/);
    assert.match(srt, /00:00:05,000 --> 00:00:11,500\r?\nel tiempo es bueno hoy/);
    const vtt = formatTranscript(es, 'vtt').body;
    assert.match(vtt, /^WEBVTT\r?\n\r?\n/);
    assert.match(vtt, /00:00:00\.500 --> 00:00:03\.250\r?\nhola cómo estás/);
    assert.doesNotMatch(vtt, /hello|weather/);
  });
  it('round-trips through the JSON format', () => {
    const back = parseTranscriptJson(formatTranscript(es, 'json').body);
    assert.deepEqual(back.segments.map((s) => s.text), ['hola cómo estás', '', 'el tiempo es bueno hoy']);
  });
  it('refuses a translation that does not match the segments', () => {
    assert.throws(() => applyTranslation(transcript, ['uno'], 'es', { name: 'local', model: 'apertium' }), /TRANSLATION_MISMATCH|1 translations for 3 segments/);
  });
});

describe('language pairs', () => {
  it('reads Apertium mode names of two and three letters, skipping variants', () => {
    const pairs = pairsFromModes(['eng-spa', 'spa-eng', 'spa-eng_US', 'en-gl', 'eng-cat_valencia', 'es-pt', 'README']);
    assert.deepEqual([...pairs.keys()].sort(), ['en-es', 'en-gl', 'es-en', 'es-pt']);
    assert.equal(pairs.get('en-es')?.mode, 'eng-spa');
    assert.equal(pairs.get('en-gl')?.mode, 'en-gl');
  });
  it('compares languages by their primary subtag', () => {
    assert.equal(primarySubtag('es-419'), 'es');
    assert.equal(primarySubtag('en_US'), 'en');
    assert.equal(primarySubtag('not a tag'), undefined);
    assert.ok(sameLanguage('en-US', 'en'));
    assert.ok(!sameLanguage('en-US', 'es'));
  });
});

describe('upload declarations', () => {
  it('maps a PCM declaration to ffmpeg raw demuxer settings', () => {
    assert.deepEqual(rawPcmFormatOf(RawAudioDeclarationSchema.parse({ encoding: 'LINEAR16', sampleRateHertz: 16000 })), { encoding: 's16le', sampleRate: 16000, channels: 1 });
    assert.deepEqual(rawPcmFormatOf(RawAudioDeclarationSchema.parse({ encoding: 'MULAW', sampleRateHertz: 8000, channels: 2 })), { encoding: 'mulaw', sampleRate: 8000, channels: 2 });
    assert.equal(RawAudioDeclarationSchema.safeParse({ encoding: 'FLAC', sampleRateHertz: 16000 }).success, false);
    assert.equal(RawAudioDeclarationSchema.safeParse({ encoding: 'ALAW', sampleRateHertz: 4000 }).success, false);
  });
  it('takes a target language tag and a mix, nothing else', () => {
    assert.ok(TranslateRequestSchema.safeParse({ to: 'pt-BR', mix: 'duck' }).success);
    assert.equal(TranslateRequestSchema.safeParse({ to: 'es', voice: 'x' }).success, false);
    assert.equal(TranslateRequestSchema.safeParse({ to: 'español' }).success, false);
  });
  it('runs transcribe, then translate, then dub', () => {
    assert.equal(pipelineFor('video.translate'), VIDEO_PIPELINE);
    assert.deepEqual(stagesReady({}, VIDEO_PIPELINE), ['transcribe']);
    assert.deepEqual(stagesReady({ transcribe: { status: 'COMPLETED' } }, VIDEO_PIPELINE), ['translate']);
    assert.deepEqual(stagesReady({ transcribe: { status: 'COMPLETED' }, translate: { status: 'COMPLETED' } }, VIDEO_PIPELINE), ['dub']);
  });
});
