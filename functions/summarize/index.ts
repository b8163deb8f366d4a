/** Registration only: the summarize-document-events push subscription delivers here. */
import * as ff from '@google-cloud/functions-framework';
import { MAX_PUSH_BODY_BYTES } from '../../shared/events/envelope.js';
import { installRequestGate } from '../../shared/http/gate.js';
import { createSummaryEngine } from '../../shared/engines/summary/index.js';
import type { SummaryEngine } from '../../shared/engines/summary/types.js';
import { withEngineFaults } from '../../shared/faults.js';
import { getRuntime } from '../../shared/runtime/index.js';
import { runEventHandler } from '../../shared/runtime/event.js';
import { handleSummarize } from './handler.js';

// Before the framework builds its app: push bodies are read by the gate, capped and uncompressed.
installRequestGate({ kind: 'json', maxBytes: MAX_PUSH_BODY_BYTES });

let engine: SummaryEngine | undefined;

ff.cloudEvent('summarize', (event: ff.CloudEvent<unknown>) =>
  runEventHandler('summarize', event, (data) => {
    const rt = getRuntime();
    const c = rt.config;
    const summaryEngine = (): SummaryEngine =>
      (engine ??= withEngineFaults('summary', createSummaryEngine({
        SCRIPTORIUM_SUMMARY_ENGINE: c.SCRIPTORIUM_SUMMARY_ENGINE,
        GOOGLE_CLOUD_PROJECT: c.GOOGLE_CLOUD_PROJECT,
        SCRIPTORIUM_SUMMARY_MODEL: c.SCRIPTORIUM_SUMMARY_MODEL,
        SCRIPTORIUM_SUMMARY_LOCATION: c.SCRIPTORIUM_VERTEX_LOCATION,
        SCRIPTORIUM_SUMMARY_ENDPOINT: c.SCRIPTORIUM_VERTEX_ENDPOINT,
      }), rt.faults));
    return handleSummarize(data, { ...rt, engine: summaryEngine });
  }),
);
