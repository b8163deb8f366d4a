/**
 * The embedding engine contract of the document-intelligence stage. Engines are chosen by config
 * (`SCRIPTORIUM_EMBEDDING_ENGINE`): `local` (Universal Sentence Encoder lite on TF.js/WASM,
 * offline) or `google` (Vertex AI text embeddings). Vectors of different engines (or models, or
 * dimensions) are not comparable: whoever stores them must store `name`, `model` and `dimensions`
 * with them and search only among vectors of the same triple.
 */

/** What a text is for: engines that embed queries and documents differently use it. */
export type EmbeddingKind = 'document' | 'query';

export interface EmbedOptions {
  /** Default `document`. */
  readonly kind?: EmbeddingKind;
  /** Stops the work between batches (and an HTTP request in flight); the call rejects with a TransientError. */
  readonly signal?: AbortSignal;
}

export interface EmbeddingEngine {
  /** `local` or `google`. */
  readonly name: string;
  /** The model vectors come from, e.g. `universal-sentence-encoder-lite@0.2.0`, `text-embedding-005`. */
  readonly model: string;
  /** Length of every vector `embed` returns (512 for USE-lite, 768 for text-embedding-005 by default). */
  readonly dimensions: number;
  /** Largest input the model takes, in (approximate) tokens; chunkers size chunks to fit. */
  readonly maxInputTokens: number;
  /**
   * Embeds texts in order; 'query' vs 'document' lets engines that distinguish them do so. Never
   * returns an empty or all-zero vector or NaN: texts it cannot represent (e.g. no English word for
   * USE-lite) still get a valid unit vector. Every vector has unit L2 norm, so cosine similarity is
   * a dot product. Throws PermanentError/TransientError from shared/errors.
   */
  embed(texts: readonly string[], options?: EmbedOptions): Promise<number[][]>;
}

/** Stable error codes engines use in PermanentError/TransientError. */
export const EMBEDDING_ERROR_CODES = {
  /** The model or the service failed on input it should take; worth retrying. */
  engineFailed: 'ENGINE_FAILED',
  /** The model cannot be loaded, or the service is throttling, unreachable or past its deadline. */
  engineUnavailable: 'ENGINE_UNAVAILABLE',
  /** The engine's configuration (model, project, location, permissions, dimensions) is wrong: no retry helps. */
  engineMisconfigured: 'ENGINE_MISCONFIGURED',
  /** One text is over the model's input limit (the chunker should have prevented it). */
  inputTooLarge: 'INPUT_TOO_LARGE',
  /** The service refused a text for another reason. */
  inputInvalid: 'INPUT_INVALID',
} as const;

export type EmbeddingErrorCode = (typeof EMBEDDING_ERROR_CODES)[keyof typeof EMBEDDING_ERROR_CODES];
