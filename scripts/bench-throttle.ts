/**
 * Throttling under a burst: N OCR stage requests at once against the fake Document AI (a real gRPC
 * server, scripts/fakes/fake-documentai.ts) that enforces a quota of Q requests per second (a sliding
 * one-second window; above it, RESOURCE_EXHAUSTED), through the real google OCR engine, once
 * without the limiter (the engine's previous behaviour: two quick retries, then the attempt fails and
 * is redelivered) and once with it (shared/engines/throttle.ts at 90 % of the quota).
 *
 * A stage request is one 1-page PDF; a failed attempt is redelivered after REDELIVERY_MS (Pub/Sub's
 * backoff, scaled down) up to MAX_ATTEMPTS (then the job would fail). Everything is local and bounded.
 *
 *   npm run bench:throttle [-- --requests 200 --quota 20]
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { FAKE_PROCESSOR, respondWithPages, startFakeDocumentAi } from './fakes/fake-documentai.js';
import { fixturePath } from './lib/paths.js';
import { createGoogleOcrEngine } from '../shared/engines/ocr/google.js';
import { isThrottled, Throttle } from '../shared/engines/throttle.js';

const { values } = parseArgs({ options: { requests: { type: 'string', default: '200' }, quota: { type: 'string', default: '20' } } });
const N = Number(values.requests);
const QUOTA = Number(values.quota);
const REDELIVERY_MS = 500;
const MAX_ATTEMPTS = 5;

/** No limit and no quota retry: the engine as it was before the limiter. */
class PassThrough extends Throttle {
  constructor() {
    super('documentai', { concurrency: 1, ratePerSecond: 1, burst: 1 });
  }
  override run<T>(send: () => Promise<T>): Promise<T> {
    return send();
  }
}

interface Run {
  readonly label: string;
  readonly requests: number;
  readonly refusals: number;
  readonly peakPerSecond: number;
  readonly meanPerSecond: number;
  readonly seconds: number;
  readonly failedAttempts: number;
  readonly throttledAttempts: number;
  readonly jobsFailed: number;
}

async function run(label: string, limited: boolean, file: string): Promise<Run> {
  const times: number[] = [];
  let refusals = 0;
  const ok = respondWithPages([{ text: 'A page of text.' }]);
  const fake = await startFakeDocumentAi({
    respond: (request, index) => {
      const t = performance.now();
      times.push(t);
      // Sliding one-second window: the project's quota.
      const recent = times.filter((x) => x > t - 1000).length;
      if (recent > QUOTA) {
        refusals++;
        return { error: { code: 8, message: 'Quota exceeded for quota metric online requests per minute' } };
      }
      return ok(request, index);
    },
  });
  // Without the limiter: every request goes straight out, and a refusal reaches the engine's own
  // retry (two quick retries, then ENGINE_UNAVAILABLE: a failed, counted attempt), as before.
  const throttle = limited ? new Throttle('documentai', { concurrency: 4, ratePerSecond: QUOTA * 0.9, burst: 2 }, { baseDelayMs: 200, maxDelayMs: 3200, maxRetries: 6, maxWaitMs: 20_000 }) : new PassThrough();
  const engine = createGoogleOcrEngine({ processor: FAKE_PROCESSOR, apiEndpoint: fake.endpoint, throttle, ...(limited ? { retries: 0 } : { retries: 2, retryDelayMs: 200 }) });
  let failedAttempts = 0;
  let throttledAttempts = 0;
  let jobsFailed = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: N }, async () => {
      for (let attempt = 1, counted = 1; ; attempt++) {
        try {
          await engine.extract({ path: file, contentType: 'application/pdf' });
          return;
        } catch (err) {
          // As the runner does: a throttled attempt is not counted (bounded by MAX_THROTTLED_ATTEMPTS there).
          if (isThrottled(err) && attempt < 20) throttledAttempts++;
          else {
            failedAttempts++;
            if (++counted > MAX_ATTEMPTS) {
              jobsFailed++;
              return;
            }
          }
          await sleep(REDELIVERY_MS * (0.5 + Math.random()));
        }
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  await engine.close();
  await fake.close();
  let peak = 0;
  for (let i = 0, j = 0; j < times.length; j++) {
    while ((times[i] ?? 0) <= (times[j] ?? 0) - 1000) i++;
    peak = Math.max(peak, j - i + 1);
  }
  return { label, requests: times.length, refusals, peakPerSecond: peak, meanPerSecond: times.length / seconds, seconds, failedAttempts, throttledAttempts, jobsFailed };
}

const dir = await mkdtemp(path.join(tmpdir(), 'bench-throttle-'));
const file = path.join(dir, 'page.pdf');
await writeFile(file, await readFile(fixturePath('pdf/minimal-document.pdf')));
try {
  console.log(`${N} concurrent OCR stage requests (1 page each), fake Document AI quota ${QUOTA} req/s (sliding 1 s window)`);
  const without = await run('without limiter', false, file);
  const withLimiter = await run('with limiter', true, file);
  console.log('| run | requests at engine | 429s | peak req/s | mean req/s | total s | failed attempts | throttled (uncounted) | jobs failed |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const r of [without, withLimiter]) {
    console.log(`| ${r.label} | ${r.requests} | ${r.refusals} | ${r.peakPerSecond} | ${r.meanPerSecond.toFixed(1)} | ${r.seconds.toFixed(1)} | ${r.failedAttempts} | ${r.throttledAttempts} | ${r.jobsFailed} |`);
  }
  console.log(`ratio without/with: requests ×${(without.requests / withLimiter.requests).toFixed(2)}, 429s ×${withLimiter.refusals === 0 ? '∞' : (without.refusals / withLimiter.refusals).toFixed(1)}, time ×${(without.seconds / withLimiter.seconds).toFixed(2)}`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
