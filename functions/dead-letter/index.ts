/** Registration only: the dead-letter topic's push subscription delivers here. */
import * as ff from '@google-cloud/functions-framework';
import { getRuntime } from '../../shared/runtime/index.js';
import { runEventHandler } from '../../shared/runtime/event.js';
import { handleDeadLetter } from './handler.js';

ff.cloudEvent('deadLetter', (event: ff.CloudEvent<unknown>) => runEventHandler('deadLetter', event, (data) => handleDeadLetter(data, getRuntime())));
