/**
 * The text-to-speech engine layer's pure parts: engine selection and its config keys, the espeak-ng
 * voice listing parser, the ASCII folding the English voices need, voice-name languages.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { ConfigError, parseConfig } from '../../shared/config/index.js';
import { createTextToSpeechEngine, languageOfVoiceName } from '../../shared/engines/tts/index.js';
import { asciiForEnglishVoice, parseEspeakVoices } from '../../shared/engines/tts/local.js';

const BASE_ENV = { GOOGLE_CLOUD_PROJECT: 'demo-x', SCRIPTORIUM_BUCKET: 'demo-x-documents' };

describe('config and engine selection', () => {
  test('defaults: the local engine, en-US, no voice or endpoint', () => {
    const cfg = parseConfig(BASE_ENV);
    assert.equal(cfg.SCRIPTORIUM_TTS_ENGINE, 'local');
    assert.equal(cfg.SCRIPTORIUM_TTS_LANGUAGE, 'en-US');
    assert.equal(cfg.SCRIPTORIUM_TTS_VOICE, undefined);
    assert.equal(cfg.SCRIPTORIUM_TTS_ENDPOINT, undefined);
    const engine = createTextToSpeechEngine(cfg);
    assert.equal(engine.name, 'local');
    assert.equal(engine.maxInputBytes, 5000);
  });

  test('google, with a voice and a test endpoint', async () => {
    const cfg = parseConfig({ ...BASE_ENV, SCRIPTORIUM_TTS_ENGINE: 'google', SCRIPTORIUM_TTS_VOICE: 'en-GB-Neural2-A', SCRIPTORIUM_TTS_ENDPOINT: '127.0.0.1:9', SCRIPTORIUM_TTS_LANGUAGE: 'en-GB' });
    const engine = createTextToSpeechEngine(cfg);
    assert.equal(engine.name, 'google');
    assert.equal(engine.maxInputBytes, 5000);
    await engine.close();
  });

  test('bad values are named', () => {
    assert.throws(() => parseConfig({ ...BASE_ENV, SCRIPTORIUM_TTS_ENGINE: 'polly' }), (err) => err instanceof ConfigError && err.message.includes('SCRIPTORIUM_TTS_ENGINE'));
    assert.throws(() => parseConfig({ ...BASE_ENV, SCRIPTORIUM_TTS_ENDPOINT: 'http://x/' }), (err) => err instanceof ConfigError && err.message.includes('SCRIPTORIUM_TTS_ENDPOINT'));
    assert.throws(() => parseConfig({ ...BASE_ENV, SCRIPTORIUM_TTS_VOICE: 'a voice' }), (err) => err instanceof ConfigError && err.message.includes('SCRIPTORIUM_TTS_VOICE'));
    assert.throws(() => parseConfig({ ...BASE_ENV, SCRIPTORIUM_TTS_LANGUAGE: 'english!' }), (err) => err instanceof ConfigError && err.message.includes('SCRIPTORIUM_TTS_LANGUAGE'));
    // Blank optional values count as unset (deploy tooling often cannot omit a key).
    assert.equal(parseConfig({ ...BASE_ENV, SCRIPTORIUM_TTS_VOICE: '', SCRIPTORIUM_TTS_ENDPOINT: '' }).SCRIPTORIUM_TTS_VOICE, undefined);
  });
});

describe('espeak-ng voices', () => {
  // Lines of `espeak-ng --voices` as espeak-ng 1.51 (Debian 12) prints them, with an MBROLA voice
  // of the kind the separate mbrola packages add.
  const LISTING = [
    'Pty Language       Age/Gender VoiceName          File                 Other Languages',
    ' 5  af              --/M      Afrikaans          gmw/af               ',
    ' 5  ar              --/M      Arabic             sem/ar               ',
    ' 5  bpy             --/M      Bishnupriya_Manipuri inc/bpy              ',
    ' 5  cmn             --/M      Chinese_(Mandarin,_latin_as_English) sit/cmn              (zh-cmn 5)(zh 5)',
    ' 5  de              --/M      German             gmw/de               ',
    ' 2  en-gb           --/M      English_(Great_Britain) gmw/en               (en 2)',
    ' 2  en-us           --/M      English_(America)  gmw/en-US            (en 3)',
    ' 5  fr-fr           --/M      French_(France)    roa/fr               (fr 5)',
    ' 6  de              --/F      german-mbrola-1    mb/mb-de1            ',
    ' 5  ko              --/M      Korean             ko                   ',
    ' 5  pt-br           --/M      Portuguese_(Brazil) roa/pt-BR            (pt 6)',
  ].join('\n');

  test('languages other than English, no MBROLA voices, other language codes kept', () => {
    const voices = parseEspeakVoices(LISTING);
    assert.deepEqual(
      voices.map((v) => v.name),
      ['espeak-ng-af', 'espeak-ng-ar', 'espeak-ng-bpy', 'espeak-ng-cmn', 'espeak-ng-de', 'espeak-ng-fr-fr', 'espeak-ng-ko', 'espeak-ng-pt-br'],
    );
    const cmn = voices.find((v) => v.name === 'espeak-ng-cmn');
    assert.deepEqual(cmn?.languageCodes, ['cmn', 'zh-cmn', 'zh']);
    assert.equal(cmn?.gender, 'male');
    assert.equal(cmn?.available, true);
    assert.equal(cmn?.synthesizer, 'espeak-ng');
    assert.deepEqual(voices.find((v) => v.name === 'espeak-ng-pt-br')?.languageCodes, ['pt-br', 'pt']);
  });
});

describe('text for the English voices', () => {
  test('typographic punctuation to ASCII, letters to their base letters, the rest to spaces', () => {
    assert.equal(asciiForEnglishVoice('It’s a “quoted” café — really… Naïve façade, Straße, Ærø.'), 'It\'s a "quoted" cafe, really... Naive facade, Strasse, AEro.');
    assert.equal(asciiForEnglishVoice('ﬁne ½ 😀 中'), 'fine 1/2    ');
    assert.match(asciiForEnglishVoice('x'.repeat(10)), /^x{10}$/);
  });
});

describe('google voice names', () => {
  test('the language a voice name starts with', () => {
    assert.equal(languageOfVoiceName('en-GB-Neural2-A'), 'en-GB');
    assert.equal(languageOfVoiceName('cmn-CN-Wavenet-A'), 'cmn-CN');
    assert.equal(languageOfVoiceName('Kore'), undefined);
    assert.equal(languageOfVoiceName(undefined), undefined);
  });
});
