/**
 * Chooses the embedding engine from config. Importing this module loads neither engine's heavy
 * dependencies (TF.js and the model, or @google/genai): they load on the first `embed`.
 */
import { ConfigError } from '../../config/index.js';
import { createGoogleEmbeddingEngine, GOOGLE_EMBEDDING_DEFAULT_MODEL } from './google.js';
import { createLocalEmbeddingEngine, LOCAL_EMBEDDING_MODEL } from './local.js';
import type { EmbeddingEngine } from './types.js';

export * from './types.js';
export { cosineSimilarity } from './common.js';
export { GOOGLE_EMBEDDING_DEFAULT_LOCATION, GOOGLE_EMBEDDING_DEFAULT_MODEL, VERTEX_EMBEDDING_MODELS } from './google.js';
export { LOCAL_EMBEDDING_MODEL } from './local.js';

export type EmbeddingEngineName = 'local' | 'google';

/** Engine selection, from the environment (variable names in brackets). */
export interface EmbeddingEngineConfig {
  /** `SCRIPTORIUM_EMBEDDING_ENGINE`: `local` (USE-lite, offline) or `google` (Vertex AI). */
  readonly engine: EmbeddingEngineName;
  /** `GOOGLE_CLOUD_PROJECT`: the project billed for Vertex AI calls (`google` only). */
  readonly project?: string;
  /** `SCRIPTORIUM_VERTEX_LOCATION`: Vertex AI location (`google` only; default us-central1). */
  readonly location?: string;
  /**
   * `SCRIPTORIUM_EMBEDDING_MODEL`: for `google` a Vertex publisher model (default
   * text-embedding-005); `local` has one model, so it must be unset or that model's id.
   */
  readonly model?: string;
  /** `SCRIPTORIUM_EMBEDDING_DIMENSIONS`: vector length for `google` (default the model's own: 768). */
  readonly dimensions?: number;
  /** `SCRIPTORIUM_VERTEX_ENDPOINT`: Vertex AI endpoint override, URL or host[:port] (a loopback one is a test server). */
  readonly endpoint?: string;
}

/** The engine `config.engine` names. Throws a ConfigError for settings that cannot work. */
export function createEmbeddingEngine(config: EmbeddingEngineConfig): EmbeddingEngine {
  switch (config.engine) {
    case 'local':
      if (config.model && config.model !== LOCAL_EMBEDDING_MODEL) {
        throw new ConfigError(`the local embedding engine only has ${LOCAL_EMBEDDING_MODEL}, not ${config.model}`);
      }
      if (config.dimensions !== undefined && config.dimensions !== 512) {
        throw new ConfigError(`the local embedding engine's vectors have 512 dimensions, not ${config.dimensions}`);
      }
      return createLocalEmbeddingEngine();
    case 'google':
      if (!config.project) throw new ConfigError('GOOGLE_CLOUD_PROJECT is required when SCRIPTORIUM_EMBEDDING_ENGINE is google');
      return createGoogleEmbeddingEngine({
        project: config.project,
        ...(config.location ? { location: config.location } : {}),
        ...(config.model ? { model: config.model } : {}),
        ...(config.dimensions !== undefined ? { dimensions: config.dimensions } : {}),
        ...(config.endpoint ? { endpoint: config.endpoint } : {}),
      });
    default:
      throw new ConfigError(`unknown embedding engine ${JSON.stringify(config.engine)} (expected local or google)`);
  }
}

/** The model `config` embeds with, without loading anything (what chunks of that engine record as `embeddingModel`). */
export function configuredEmbeddingModel(config: Pick<EmbeddingEngineConfig, 'engine' | 'model'>): string {
  return config.engine === 'google' ? (config.model ?? GOOGLE_EMBEDDING_DEFAULT_MODEL) : LOCAL_EMBEDDING_MODEL;
}
