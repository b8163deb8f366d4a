/** Chooses the OCR engine from config. */
import type { Config } from '../../config/index.js';
import { createLocalOcrEngine } from './local.js';
import type { OcrEngine } from './types.js';

export * from './types.js';

export function createOcrEngine(cfg: Pick<Config, 'SCRIPTORIUM_OCR_ENGINE' | 'SCRIPTORIUM_OCR_LANGUAGES'>): OcrEngine {
  switch (cfg.SCRIPTORIUM_OCR_ENGINE) {
    case 'local':
      return createLocalOcrEngine({ languages: cfg.SCRIPTORIUM_OCR_LANGUAGES.split('+').filter(Boolean) });
  }
}
