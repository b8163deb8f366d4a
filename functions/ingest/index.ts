/** Registration only: the object-events push subscription delivers here. */
import * as ff from '@google-cloud/functions-framework';
import { MAX_PUSH_BODY_BYTES } from '../../shared/events/envelope.js';
import { installRequestGate } from '../../shared/http/gate.js';
import { getRuntime } from '../../shared/runtime/index.js';
import { runEventHandler } from '../../shared/runtime/event.js';
import { handleIngest } from './handler.js';

// Before the framework builds its app: push bodies are read by the gate, capped and uncompressed.
installRequestGate({ kind: 'json', maxBytes: MAX_PUSH_BODY_BYTES });

ff.cloudEvent('ingest', (event: ff.CloudEvent<unknown>) => runEventHandler('ingest', event, (data) => handleIngest(data, getRuntime())));
