/** Registration only: the dub-document-events push subscription delivers here. */
import * as ff from '@google-cloud/functions-framework';
import { MAX_PUSH_BODY_BYTES } from '../../shared/events/envelope.js';
import { installRequestGate } from '../../shared/http/gate.js';
import { createTextToSpeechEngine, type TextToSpeechEngine } from '../../shared/engines/tts/index.js';
import { getRuntime } from '../../shared/runtime/index.js';
import { runEventHandler } from '../../shared/runtime/event.js';
import { handleDub } from './handler.js';

// Before the framework builds its app: push bodies are read by the gate, capped and uncompressed.
installRequestGate({ kind: 'json', maxBytes: MAX_PUSH_BODY_BYTES });

let engine: TextToSpeechEngine | undefined;

ff.cloudEvent('dub', (event: ff.CloudEvent<unknown>) =>
  runEventHandler('dub', event, (data) => {
    const rt = getRuntime();
    return handleDub(data, { ...rt, engine: () => (engine ??= createTextToSpeechEngine(rt.config)) });
  }),
);
