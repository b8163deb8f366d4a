/**
 * Chooses the text-to-speech engine from config (`SCRIPTORIUM_TTS_ENGINE`, default `local`).
 * Importing this module starts nothing: the local programs are probed, and the Google client is
 * made, on first use.
 */
import type { Config } from '../../config/index.js';
import { ConfigError } from '../../config/index.js';
import { createGoogleTextToSpeechEngine } from './google.js';
import type { GoogleTextToSpeechOptions } from './google.js';
import { createLocalTextToSpeechEngine } from './local.js';
import type { LocalTextToSpeechOptions } from './local.js';
import type { TextToSpeechEngine } from './types.js';

export * from './types.js';
export { planSpeech, planSsml, planText, MIN_PLAN_BYTES } from './plan.js';
export type { ChunkBoundary, PlanOptions, SpeechChunk } from './plan.js';
export { joinAudio, encodePcmFile, encoderRate, DEFAULT_JOIN_PAUSES_MS } from './join.js';
export type { JoinOptions, JoinPiece, JoinPlacement, JoinResult } from './join.js';
export { synthesizeLong } from './long.js';
export type { LongSynthesisOptions, LongSynthesisProgress, LongSynthesisRequest, LongSynthesisResult } from './long.js';
export { audioFacts, measureJoins, parseWav, pcmFromWav, sniffAudioFormat, wavFile, SILENCE_THRESHOLD } from './audio.js';
export type { AudioFacts, JoinMeasure, JoinReport, MeasureOptions, WavInfo } from './audio.js';
export { parseSsml, ssmlToSpeechParts, escapeXml } from './ssml.js';
export type { SpeechPart, SsmlDocument } from './ssml.js';
export { createLocalTextToSpeechEngine, DEFAULT_LOCAL_VOICE, asciiForEnglishVoice } from './local.js';
export type { LocalTextToSpeechOptions } from './local.js';
export { createGoogleTextToSpeechEngine, DEFAULT_GOOGLE_TTS_LANGUAGE, GOOGLE_TTS_ENDPOINT, languageOfVoiceName } from './google.js';
export type { GoogleTextToSpeechOptions } from './google.js';

/** The config keys engine selection reads; all but the engine are optional. */
export type TextToSpeechEngineConfig = Pick<Config, 'SCRIPTORIUM_TTS_ENGINE'> & Partial<Pick<Config, 'SCRIPTORIUM_TTS_VOICE' | 'SCRIPTORIUM_TTS_LANGUAGE' | 'SCRIPTORIUM_TTS_ENDPOINT'>>;

/** Test and wiring hooks that are not configuration (a shared client, program paths, retry timing). */
export interface TextToSpeechEngineOverrides {
  readonly local?: Omit<LocalTextToSpeechOptions, 'defaultVoice'>;
  readonly google?: Omit<GoogleTextToSpeechOptions, 'apiEndpoint' | 'defaultVoice' | 'defaultLanguageCode'>;
}

/**
 * The engine `SCRIPTORIUM_TTS_ENGINE` names. `SCRIPTORIUM_TTS_VOICE` is the default voice of
 * either engine (a local voice name for `local`, a Google voice name for `google`);
 * `SCRIPTORIUM_TTS_LANGUAGE` is the default language of `google` (the local engine speaks
 * English unless a request asks for another language). Throws ConfigError for an unknown engine.
 */
export function createTextToSpeechEngine(cfg: TextToSpeechEngineConfig, overrides: TextToSpeechEngineOverrides = {}): TextToSpeechEngine {
  switch (cfg.SCRIPTORIUM_TTS_ENGINE) {
    case 'local':
      return createLocalTextToSpeechEngine({ ...overrides.local, ...(cfg.SCRIPTORIUM_TTS_VOICE ? { defaultVoice: cfg.SCRIPTORIUM_TTS_VOICE } : {}) });
    case 'google':
      return createGoogleTextToSpeechEngine({
        ...overrides.google,
        ...(cfg.SCRIPTORIUM_TTS_ENDPOINT ? { apiEndpoint: cfg.SCRIPTORIUM_TTS_ENDPOINT } : {}),
        ...(cfg.SCRIPTORIUM_TTS_VOICE ? { defaultVoice: cfg.SCRIPTORIUM_TTS_VOICE } : {}),
        ...(cfg.SCRIPTORIUM_TTS_LANGUAGE ? { defaultLanguageCode: cfg.SCRIPTORIUM_TTS_LANGUAGE } : {}),
      });
    default:
      throw new ConfigError(`SCRIPTORIUM_TTS_ENGINE: expected local or google, got ${JSON.stringify(cfg.SCRIPTORIUM_TTS_ENGINE)}`);
  }
}
