/**
 * Chooses the translation engine from config (`SCRIPTORIUM_TRANSLATE_ENGINE`, default `local`) and
 * translates lists of texts in batches (segments of a transcript) with progress and cancellation
 * between batches. Importing this module starts nothing.
 */
import type { Config } from '../../config/index.js';
import { ConfigError } from '../../config/index.js';
import { TransientError } from '../../errors/index.js';
import { createGoogleTranslationEngine } from './google.js';
import { createLocalTranslationEngine } from './local.js';
import type { LocalTranslationOptions } from './local.js';
import { TRANSLATE_ERROR_CODES } from './types.js';
import type { TranslateOptions, TranslationEngine } from './types.js';

export * from './types.js';
export { createLocalTranslationEngine, pairsFromModes, APERTIUM_MODES_DIR } from './local.js';
export { createGoogleTranslationEngine, GOOGLE_TRANSLATE_ENDPOINT } from './google.js';

export type TranslationEngineConfig = Pick<Config, 'SCRIPTORIUM_TRANSLATE_ENGINE' | 'GOOGLE_CLOUD_PROJECT'> & Partial<Pick<Config, 'SCRIPTORIUM_TRANSLATE_LOCATION' | 'SCRIPTORIUM_TRANSLATE_ENDPOINT'>>;

export function createTranslationEngine(cfg: TranslationEngineConfig, overrides: { local?: LocalTranslationOptions } = {}): TranslationEngine {
  switch (cfg.SCRIPTORIUM_TRANSLATE_ENGINE) {
    case 'local':
      return createLocalTranslationEngine(overrides.local);
    case 'google':
      return createGoogleTranslationEngine({
        projectId: cfg.GOOGLE_CLOUD_PROJECT,
        ...(cfg.SCRIPTORIUM_TRANSLATE_LOCATION ? { location: cfg.SCRIPTORIUM_TRANSLATE_LOCATION } : {}),
        ...(cfg.SCRIPTORIUM_TRANSLATE_ENDPOINT ? { apiEndpoint: cfg.SCRIPTORIUM_TRANSLATE_ENDPOINT } : {}),
      });
    default:
      throw new ConfigError(`SCRIPTORIUM_TRANSLATE_ENGINE: expected local or google, got ${JSON.stringify(cfg.SCRIPTORIUM_TRANSLATE_ENGINE)}`);
  }
}

/** Cuts `texts` into batches of at most `maxItems` texts and `maxChars` code points (a longer text goes alone). */
export function batchTexts(texts: readonly string[], maxItems: number, maxChars: number): { start: number; end: number }[] {
  const out: { start: number; end: number }[] = [];
  let start = 0;
  let chars = 0;
  for (let i = 0; i < texts.length; i++) {
    const n = [...(texts[i] ?? '')].length;
    if (i > start && (i - start >= maxItems || chars + n > maxChars)) {
      out.push({ start, end: i });
      start = i;
      chars = 0;
    }
    chars += n;
  }
  if (start < texts.length) out.push({ start, end: texts.length });
  return out;
}

export interface TranslateTextsOptions extends TranslateOptions {
  /** Awaited after each batch; a throw stops the work and is passed on. */
  readonly onProgress?: (done: number, total: number) => Promise<void> | void;
}

/**
 * Translates every text, batch by batch, in order. The signal is checked between batches (and
 * passed into each): cancelling stops at the next batch boundary with a TransientError.
 */
export async function translateTexts(engine: TranslationEngine, texts: readonly string[], options: TranslateTextsOptions): Promise<{ texts: string[]; engineMs: number; batches: number; detectedLanguage?: string }> {
  const out: string[] = [];
  let engineMs = 0;
  let detected: string | undefined;
  const batches = batchTexts(texts, engine.maxBatchItems, engine.maxBatchChars);
  for (const b of batches) {
    if (options.signal?.aborted) throw new TransientError(TRANSLATE_ERROR_CODES.engineFailed, 'translation aborted');
    const r = await engine.translate(texts.slice(b.start, b.end), { to: options.to, ...(options.from ? { from: options.from } : {}), ...(options.signal ? { signal: options.signal } : {}) });
    out.push(...r.texts);
    engineMs += r.engineMs;
    detected ??= r.detectedLanguage;
    await options.onProgress?.(out.length, texts.length);
  }
  return { texts: out, engineMs, batches: batches.length, ...(detected ? { detectedLanguage: detected } : {}) };
}
