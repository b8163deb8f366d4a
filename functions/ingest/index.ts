/** Registration only: the object-events push subscription delivers here. */
import * as ff from '@google-cloud/functions-framework';
import { getRuntime } from '../../shared/runtime/index.js';
import { runEventHandler } from '../../shared/runtime/event.js';
import { handleIngest } from './handler.js';

ff.cloudEvent('ingest', (event: ff.CloudEvent<unknown>) => runEventHandler('ingest', event, (data) => handleIngest(data, getRuntime())));
