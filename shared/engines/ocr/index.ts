/** Chooses the OCR engine from config. */
import type { Config } from '../../config/index.js';
import { ConfigError } from '../../config/index.js';
import { createGoogleOcrEngine } from './google.js';
import { createLocalOcrEngine } from './local.js';
import type { OcrEngine } from './types.js';

export * from './types.js';

/** The config keys engine selection reads; the Document AI ones only matter for `google`. */
export type OcrEngineConfig = Pick<Config, 'SCRIPTORIUM_OCR_ENGINE' | 'SCRIPTORIUM_OCR_LANGUAGES'> &
  Partial<Pick<Config, 'SCRIPTORIUM_DOCUMENTAI_PROCESSOR' | 'SCRIPTORIUM_DOCUMENTAI_ENDPOINT'>>;

/**
 * The engine `SCRIPTORIUM_OCR_ENGINE` names. `google` needs `SCRIPTORIUM_DOCUMENTAI_PROCESSOR`
 * (parseConfig enforces it; a hand-built config without it gets a ConfigError here).
 */
export function createOcrEngine(cfg: OcrEngineConfig): OcrEngine {
  switch (cfg.SCRIPTORIUM_OCR_ENGINE) {
    case 'local':
      return createLocalOcrEngine({ languages: cfg.SCRIPTORIUM_OCR_LANGUAGES.split('+').filter(Boolean) });
    case 'google': {
      if (!cfg.SCRIPTORIUM_DOCUMENTAI_PROCESSOR) throw new ConfigError('SCRIPTORIUM_DOCUMENTAI_PROCESSOR is required when SCRIPTORIUM_OCR_ENGINE is google');
      return createGoogleOcrEngine({
        processor: cfg.SCRIPTORIUM_DOCUMENTAI_PROCESSOR,
        ...(cfg.SCRIPTORIUM_DOCUMENTAI_ENDPOINT ? { apiEndpoint: cfg.SCRIPTORIUM_DOCUMENTAI_ENDPOINT } : {}),
      });
    }
  }
}
