/**
 * Registration only: Cloud Scheduler calls this every minute in production (an OIDC-authenticated
 * POST; only the scheduler's identity may invoke it), the local platform's timer does locally.
 */
import * as ff from '@google-cloud/functions-framework';
import { installRequestGate } from '../../shared/http/gate.js';
import { getRuntime } from '../../shared/runtime/index.js';
import { handleReap } from './handler.js';

// Before the framework builds its app: no body is read (a scheduler's is empty or ignored).
installRequestGate({ kind: 'deferred' });

ff.http('reaper', async (req, res) => {
  if (req.method !== 'POST') {
    res.set('Connection', 'close').status(405).json({ error: { code: 'METHOD_NOT_ALLOWED', message: 'use POST' } });
    return;
  }
  const rt = getRuntime();
  try {
    const report = await handleReap(rt);
    res.set('Connection', 'close').status(200).json(report);
  } catch (err) {
    rt.log.error('reaper run failed', { err });
    // Scheduler retries per its retry config; the next minute's run does anyway.
    res.set('Connection', 'close').status(503).json({ error: { code: 'UNAVAILABLE', message: 'reaper run failed; see the log' } });
  }
});
