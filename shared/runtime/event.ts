/**
 * The one way event handlers end: return → acknowledged; a permanent error → logged and acknowledged
 * (handlers record it on the job before it reaches here); a transient error → rethrown, so Pub/Sub
 * redelivers with the subscription's backoff. No catch-log-return of transient failures.
 */
import type { CloudEvent } from '@google-cloud/functions-framework';
import { isRetryable, toJobError } from '../errors/index.js';
import { logger } from '../logger/index.js';

export async function runEventHandler(name: string, event: CloudEvent<unknown>, handler: (data: unknown) => Promise<unknown>): Promise<void> {
  const started = performance.now();
  const log = logger.child({ function: name, eventId: event.id, source: event.source });
  try {
    const outcome = await handler(event.data);
    log.info(`${name}: done`, { outcome, ms: Math.round(performance.now() - started) });
  } catch (err) {
    if (!isRetryable(err)) {
      log.error(`${name}: permanent failure, acknowledged`, { err, ms: Math.round(performance.now() - started) });
      return;
    }
    log.warn(`${name}: transient failure, will be redelivered`, { err, ms: Math.round(performance.now() - started) });
    // The framework answers with the thrown error's message (outside NODE_ENV=production; the request
    // gate has set a JSON content type): our error shape with the stable code only, the details are in
    // the log line above.
    throw new Error(JSON.stringify({ error: { code: toJobError(err).code, message: 'transient failure; the message will be redelivered' } }));
  }
}
