/** Registration only: the translate-document-events push subscription delivers here. */
import * as ff from '@google-cloud/functions-framework';
import { MAX_PUSH_BODY_BYTES } from '../../shared/events/envelope.js';
import { installRequestGate } from '../../shared/http/gate.js';
import { createTranslationEngine, type TranslationEngine } from '../../shared/engines/translate/index.js';
import { getRuntime } from '../../shared/runtime/index.js';
import { runEventHandler } from '../../shared/runtime/event.js';
import { handleTranslate } from './handler.js';

// Before the framework builds its app: push bodies are read by the gate, capped and uncompressed.
installRequestGate({ kind: 'json', maxBytes: MAX_PUSH_BODY_BYTES });

let engine: TranslationEngine | undefined;

ff.cloudEvent('translate', (event: ff.CloudEvent<unknown>) =>
  runEventHandler('translate', event, (data) => {
    const rt = getRuntime();
    return handleTranslate(data, { ...rt, engine: () => (engine ??= createTranslationEngine(rt.config)) });
  }),
);
