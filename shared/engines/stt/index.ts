/**
 * Chooses the speech-to-text engine from config. Importing this module starts nothing: the google
 * client is built on first use, and pocketsphinx runs per call.
 */
import type { Config } from '../../config/index.js';
import { ConfigError } from '../../config/index.js';
import { createGoogleSttEngine } from './google.js';
import type { GoogleSttEngine } from './google.js';
import { createLocalSttEngine } from './local.js';
import type { SpeechToTextEngine } from './types.js';

export * from './types.js';
export { normalizeLanguageTag, primaryLanguage } from './common.js';
export { DEBIAN_EN_US_MODEL, createLocalSttEngine, parsePocketsphinxOutput } from './local.js';
export type { LocalSttEngineOptions, PocketsphinxModel } from './local.js';
export { GOOGLE_STT_DEFAULT_LOCATION, GOOGLE_STT_DEFAULT_MODEL, createGoogleSttEngine, isEndedBatchError } from './google.js';
export type { BatchHandle, BatchInput, BatchStatus, GoogleSttEngine, GoogleSttEngineOptions } from './google.js';
export { transcribeAudio, TranscriptionPaused } from './transcribe.js';
export type { TranscribeAudioInput, TranscribeAudioOptions, TranscribeAudioResult, TranscribeProgress } from './transcribe.js';
export { wordErrorRate, wordErrors } from './metrics.js';

/** The config keys engine selection reads; the google ones only matter for `google`. */
export type SttEngineConfig = Pick<Config, 'SCRIPTORIUM_STT_ENGINE' | 'SCRIPTORIUM_STT_LANGUAGE'> &
  Partial<Pick<Config, 'GOOGLE_CLOUD_PROJECT' | 'SCRIPTORIUM_STT_MODEL' | 'SCRIPTORIUM_STT_LOCATION' | 'SCRIPTORIUM_STT_ENDPOINT' | 'SCRIPTORIUM_STT_SEGMENT_SECONDS'>>;

/**
 * The engine `SCRIPTORIUM_STT_ENGINE` names. Throws a ConfigError for settings that cannot work:
 * `google` without `GOOGLE_CLOUD_PROJECT`, a segment length over Google's 60-second synchronous
 * limit, or a default language the local engine has no model for.
 */
export function createSpeechToTextEngine(cfg: SttEngineConfig): SpeechToTextEngine {
  switch (cfg.SCRIPTORIUM_STT_ENGINE) {
    case 'local': {
      const engine = createLocalSttEngine({ language: cfg.SCRIPTORIUM_STT_LANGUAGE });
      if (!engine.supportsLanguage(engine.defaultLanguage)) {
        throw new ConfigError(`SCRIPTORIUM_STT_LANGUAGE: the local speech engine has no model for ${cfg.SCRIPTORIUM_STT_LANGUAGE} (it has ${engine.languages?.join(', ') ?? 'none'})`);
      }
      return engine;
    }
    case 'google': {
      if (!cfg.GOOGLE_CLOUD_PROJECT) throw new ConfigError('GOOGLE_CLOUD_PROJECT is required when SCRIPTORIUM_STT_ENGINE is google');
      if (cfg.SCRIPTORIUM_STT_SEGMENT_SECONDS !== undefined && cfg.SCRIPTORIUM_STT_SEGMENT_SECONDS > 60) {
        throw new ConfigError(`SCRIPTORIUM_STT_SEGMENT_SECONDS: Google's synchronous recognition takes at most 60 s, got ${cfg.SCRIPTORIUM_STT_SEGMENT_SECONDS}`);
      }
      try {
        return createGoogleSttEngine({
          project: cfg.GOOGLE_CLOUD_PROJECT,
          language: cfg.SCRIPTORIUM_STT_LANGUAGE,
          ...(cfg.SCRIPTORIUM_STT_LOCATION ? { location: cfg.SCRIPTORIUM_STT_LOCATION } : {}),
          ...(cfg.SCRIPTORIUM_STT_MODEL ? { model: cfg.SCRIPTORIUM_STT_MODEL } : {}),
          ...(cfg.SCRIPTORIUM_STT_ENDPOINT ? { apiEndpoint: cfg.SCRIPTORIUM_STT_ENDPOINT } : {}),
        });
      } catch (err) {
        throw err instanceof ConfigError ? err : new ConfigError(err instanceof Error ? err.message : String(err));
      }
    }
  }
}

/** Whether the engine can run batch recognition from Cloud Storage (the google engine). */
export function supportsBatch(engine: SpeechToTextEngine): engine is GoogleSttEngine {
  return 'startBatch' in engine && 'checkBatch' in engine;
}
