/** Registration only: the transcribe-requests push subscription delivers here. */
import * as ff from '@google-cloud/functions-framework';
import { MAX_PUSH_BODY_BYTES } from '../../shared/events/envelope.js';
import { installRequestGate } from '../../shared/http/gate.js';
import { createSpeechToTextEngine, type SpeechToTextEngine } from '../../shared/engines/stt/index.js';
import { withEngineFaults } from '../../shared/faults.js';
import { getRuntime } from '../../shared/runtime/index.js';
import { runEventHandler } from '../../shared/runtime/event.js';
import { handleTranscribe } from './handler.js';

// Before the framework builds its app: push bodies are read by the gate, capped and uncompressed.
installRequestGate({ kind: 'json', maxBytes: MAX_PUSH_BODY_BYTES });

let engine: SpeechToTextEngine | undefined;

ff.cloudEvent('transcribe', (event: ff.CloudEvent<unknown>) =>
  runEventHandler('transcribe', event, (data) => {
    const rt = getRuntime();
    return handleTranscribe(data, { ...rt, batchMinSeconds: rt.config.SCRIPTORIUM_STT_BATCH_MIN_SECONDS, engine: () => (engine ??= withEngineFaults('stt', createSpeechToTextEngine(rt.config), rt.faults)) });
  }),
);
