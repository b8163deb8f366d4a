/** Registration only: the synthesize-synthesize-requests push subscription delivers here. */
import * as ff from '@google-cloud/functions-framework';
import { MAX_PUSH_BODY_BYTES } from '../../shared/events/envelope.js';
import { installRequestGate } from '../../shared/http/gate.js';
import { createTextToSpeechEngine, type TextToSpeechEngine } from '../../shared/engines/tts/index.js';
import { getRuntime } from '../../shared/runtime/index.js';
import { runEventHandler } from '../../shared/runtime/event.js';
import { handleSynthesize } from './handler.js';

// Before the framework builds its app: push bodies are read by the gate, capped and uncompressed.
installRequestGate({ kind: 'json', maxBytes: MAX_PUSH_BODY_BYTES });

let engine: TextToSpeechEngine | undefined;

ff.cloudEvent('synthesize', (event: ff.CloudEvent<unknown>) =>
  runEventHandler('synthesize', event, (data) => {
    const rt = getRuntime();
    return handleSynthesize(data, { ...rt, engine: () => (engine ??= createTextToSpeechEngine(rt.config)) });
  }),
);
