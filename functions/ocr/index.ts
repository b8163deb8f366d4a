/** Registration only: the ocr-requests push subscription delivers here. */
import * as ff from '@google-cloud/functions-framework';
import { MAX_PUSH_BODY_BYTES } from '../../shared/events/envelope.js';
import { installRequestGate } from '../../shared/http/gate.js';
import { createOcrEngine } from '../../shared/engines/ocr/index.js';
import type { OcrEngine } from '../../shared/engines/ocr/types.js';
import { withEngineFaults } from '../../shared/faults.js';
import { getRuntime } from '../../shared/runtime/index.js';
import { runEventHandler } from '../../shared/runtime/event.js';
import { handleOcr } from './handler.js';

// Before the framework builds its app: push bodies are read by the gate, capped and uncompressed.
installRequestGate({ kind: 'json', maxBytes: MAX_PUSH_BODY_BYTES });

let engine: OcrEngine | undefined;

ff.cloudEvent('ocr', (event: ff.CloudEvent<unknown>) =>
  runEventHandler('ocr', event, (data) => {
    const rt = getRuntime();
    engine ??= withEngineFaults('ocr', createOcrEngine(rt.config), rt.faults);
    return handleOcr(data, { ...rt, engine });
  }),
);
