/** Registration only: the embed-document-events push subscription delivers here. */
import * as ff from '@google-cloud/functions-framework';
import { MAX_PUSH_BODY_BYTES } from '../../shared/events/envelope.js';
import { installRequestGate } from '../../shared/http/gate.js';
import { createEmbeddingEngine } from '../../shared/engines/embeddings/index.js';
import type { EmbeddingEngine } from '../../shared/engines/embeddings/types.js';
import { ChunkRepository } from '../../shared/firestore/chunks.js';
import { withEngineFaults } from '../../shared/faults.js';
import { getRuntime } from '../../shared/runtime/index.js';
import { runEventHandler } from '../../shared/runtime/event.js';
import { handleEmbed } from './handler.js';

// Before the framework builds its app: push bodies are read by the gate, capped and uncompressed.
installRequestGate({ kind: 'json', maxBytes: MAX_PUSH_BODY_BYTES });

let engine: EmbeddingEngine | undefined;
let chunks: ChunkRepository | undefined;

ff.cloudEvent('embed', (event: ff.CloudEvent<unknown>) =>
  runEventHandler('embed', event, (data) => {
    const rt = getRuntime();
    chunks ??= new ChunkRepository(rt.db);
    const c = rt.config;
    const embeddingEngine = (): EmbeddingEngine =>
      (engine ??= withEngineFaults('embeddings', createEmbeddingEngine({
        engine: c.SCRIPTORIUM_EMBEDDING_ENGINE,
        project: c.GOOGLE_CLOUD_PROJECT,
        location: c.SCRIPTORIUM_VERTEX_LOCATION,
        ...(c.SCRIPTORIUM_EMBEDDING_MODEL ? { model: c.SCRIPTORIUM_EMBEDDING_MODEL } : {}),
        ...(c.SCRIPTORIUM_EMBEDDING_DIMENSIONS ? { dimensions: c.SCRIPTORIUM_EMBEDDING_DIMENSIONS } : {}),
        ...(c.SCRIPTORIUM_VERTEX_ENDPOINT ? { endpoint: c.SCRIPTORIUM_VERTEX_ENDPOINT } : {}),
      }), rt.faults));
    return handleEmbed(data, { ...rt, chunks, engine: embeddingEngine });
  }),
);
