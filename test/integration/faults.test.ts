/**
 * The fault-injection suite's representative in `npm test` (the whole suite is `npm run test:faults`,
 * test/faults/): on the running test platform, with faults armed through the file its functions read
 * (shared/faults.ts), an OCR engine that fails twice and then works, and every request delivered three
 * times with the text-ready announcement's first publish refused. Each job must complete once, with
 * the same text as a clean run, and leave nothing RUNNING.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { localConfigForTests } from '../helpers/platform.js';
import { fixture } from '../helpers/client.js';
import type { LocalConfig } from '../../emulators/local-config.js';
import { armFaults, disarmFaults, jobText, report, ruleId, rows, settle, upload, type Sample } from '../faults/harness.js';

let cfg: LocalConfig;
let clean: string;
const image: Sample = { name: 'image', fileName: 'phototest.png', contentType: 'image/png', body: () => fixture('ocr/phototest-rotated-180.png') };

before(async () => {
  cfg = localConfigForTests();
  disarmFaults(cfg);
  // The clean run every faulty one is compared with.
  const started = await upload(cfg, image);
  const job = await settle(cfg, started, { scenario: 'clean run', fault: 'none', faultAt: started.putAt, status: 'COMPLETED' });
  clean = await jobText(cfg, job);
});

after(() => {
  if (!cfg) return;
  disarmFaults(cfg);
  process.stdout.write(`${report('faults-representative')}\n`);
});

describe('fault injection (representative)', () => {
  it('completes once with the clean text when the OCR engine fails twice and then works', async () => {
    armFaults(cfg, { engines: [{ id: ruleId('ocr-unavailable'), engine: 'ocr', fail: 2, kind: 'unavailable' }] });
    const started = await upload(cfg, image);
    const job = await settle(cfg, started, { scenario: 'engine unavailable ×2', fault: 'ocr engine UNAVAILABLE on its next 2 calls', faultAt: started.putAt, status: 'COMPLETED', cleanText: clean, timeoutMs: 240_000 });
    assert.equal(job.stages.ocr?.attempts, 3, 'two failed attempts and the one that worked');
  });

  it('completes once when every request comes three times and the text-ready publish fails once', async () => {
    armFaults(cfg, {
      publish: [
        { id: ruleId('triple-ocr'), topic: 'ocr-requests', copies: 3, fail: 0 },
        { id: ruleId('triple-events'), topic: 'document-events', copies: 3, fail: 0 },
        { id: ruleId('drop-text-ready'), topic: 'document-events', service: 'ocr', fail: 1, copies: 1 },
      ],
    });
    const started = await upload(cfg, image);
    const job = await settle(cfg, started, { scenario: 'triple delivery + dropped publish', fault: '×3 every request/event; first text-ready publish refused', faultAt: started.putAt, status: 'COMPLETED', cleanText: clean, timeoutMs: 240_000 });
    assert.equal(job.stages.ocr?.attempts, 1, 'the copies never started a second OCR attempt');
    assert.ok(rows.length >= 3);
  });
});
