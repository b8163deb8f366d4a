/**
 * The fault-injection suite (`npm run test:faults`): a platform of its own (port offset
 * SCRIPTORIUM_FAULTS_PORT_OFFSET, default 500; state in a temporary root; persisted, so it can be
 * stopped and started mid-job), real uploads of real files (a five-page scan OCRed by tesseract, a
 * text file, a recording transcribed by pocketsphinx), and the faults production meets:
 * an engine down for a while (and down for good), an engine refusing for quota (429), a publish
 * refused, an upload's notification lost, every message delivered three times, a function process
 * killed with SIGKILL mid-document,
 * and the whole platform stopped and started mid-job (the Pub/Sub emulator forgets its messages).
 * After each: the job ends as it must (COMPLETED with the clean run's text, or FAILED with the right
 * code when its attempts are spent), each stage completed once, nothing is left RUNNING. The time
 * from each fault to the job's end is printed as a table and written to
 * `.scriptorium/faults-report.json`.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { startPlatform, type RunningPlatform } from '../../emulators/platform.js';
import type { LocalConfig } from '../../emulators/local-config.js';
import { fixture } from '../helpers/client.js';
import {
  armFaults,
  disarmFaults,
  FAULTS_PORT_OFFSET,
  forgetToken,
  functionProcess,
  jobText,
  report,
  ruleId,
  SAMPLES,
  settle,
  suiteRoot,
  unsettledJobs,
  upload,
  whenPagesDone,
  type Sample,
} from './harness.js';

// The suite's platform: its own ports, the reaper every 10 s (Cloud Scheduler runs it every minute).
process.env.SCRIPTORIUM_PORT_OFFSET = FAULTS_PORT_OFFSET;
process.env.SCRIPTORIUM_SCHEDULE_SECONDS ??= '10';
process.env.METADATA_SERVER_DETECTION = 'none';
delete process.env.SCRIPTORIUM_FAULTS_FILE;
delete process.env.SCRIPTORIUM_FAULTS;

const root = suiteRoot();
let platform: RunningPlatform | undefined;
let cfg: LocalConfig;
const clean: Record<string, string> = {};
const image: Sample = { name: 'image', fileName: 'phototest.png', contentType: 'image/png', body: () => fixture('ocr/phototest-rotated-180.png') };
const log = (line: string) => process.stdout.write(`# ${line}\n`);

async function start(): Promise<void> {
  const t0 = Date.now();
  platform = await startPlatform({ profile: 'test', root, persist: true });
  cfg = platform.config;
  log(`platform up in ${Date.now() - t0} ms (offset ${FAULTS_PORT_OFFSET}, root ${root})`);
}

async function nothingRunning(): Promise<void> {
  disarmFaults(cfg);
  assert.deepEqual(await unsettledJobs(cfg), [], 'every job of the project is terminal, no stage RUNNING or leased');
}

before(async () => {
  await start();
  // Clean runs: the texts every faulty run must reproduce.
  const runs = await Promise.all([SAMPLES.scan, SAMPLES.text, SAMPLES.audio, image].map((s) => upload(cfg, s)));
  for (const r of runs) {
    const job = await settle(cfg, r, { scenario: `clean ${r.sample.name}`, fault: 'none', faultAt: r.putAt, status: 'COMPLETED' });
    clean[r.sample.name] = await jobText(cfg, job);
  }
});

after(async () => {
  process.stdout.write(`${report('faults-report', { portOffset: FAULTS_PORT_OFFSET })}\n`);
  await platform?.stop();
  rmSync(root, { recursive: true, force: true });
});

describe('engines that fail for a while', { concurrency: true }, () => {
  before(() =>
    armFaults(cfg, {
      engines: [
        { id: ruleId('ocr-unavailable'), engine: 'ocr', fail: 2, kind: 'unavailable' },
        { id: ruleId('embed-unavailable'), engine: 'embeddings', fail: 2, kind: 'unavailable' },
      ],
    }),
  );
  after(nothingRunning);

  it('OCR engine UNAVAILABLE twice, then working: the scan completes with the clean text', async () => {
    const s = await upload(cfg, SAMPLES.scan);
    const job = await settle(cfg, s, { scenario: 'ocr transient ×2', fault: 'OCR engine UNAVAILABLE ×2', faultAt: s.putAt, status: 'COMPLETED', cleanText: clean.scan });
    assert.equal(job.stages.ocr?.attempts, 3);
  });

  it('embedding engine UNAVAILABLE twice, then working: the text file completes', async () => {
    const s = await upload(cfg, SAMPLES.text);
    const job = await settle(cfg, s, { scenario: 'embed transient ×2', fault: 'embedding engine UNAVAILABLE ×2', faultAt: s.putAt, status: 'COMPLETED', cleanText: clean.text });
    assert.equal(job.stages.embed?.attempts, 3);
  });
});

describe('an engine down for good', () => {
  before(() => armFaults(cfg, { engines: [{ id: ruleId('ocr-down'), engine: 'ocr', fail: 50, kind: 'unavailable' }] }));
  after(nothingRunning);

  it('OCR engine UNAVAILABLE on every call: the job fails with the engine error once its attempts are spent', async () => {
    const s = await upload(cfg, image);
    const job = await settle(cfg, s, { scenario: 'ocr transient, attempts exhausted', fault: 'OCR engine UNAVAILABLE on every call', faultAt: s.putAt, status: 'FAILED', errorCode: 'ENGINE_UNAVAILABLE' });
    assert.equal(job.stages.ocr?.status, 'FAILED');
    assert.equal(job.stages.ocr?.attempts, 5, 'SCRIPTORIUM_MAX_ATTEMPTS (5) attempts, then no more');
  });
});

describe('an engine refusing for quota (429 / RESOURCE_EXHAUSTED)', () => {
  before(() => armFaults(cfg, { engines: [{ id: ruleId('stt-quota'), engine: 'stt', fail: 3, kind: 'quota' }] }));
  after(nothingRunning);

  // The requirement: throttled calls are retried with backoff and are not failed attempts.
  it('speech engine refuses three times for quota: the recording completes, the refusals not counted as attempts', async () => {
    const s = await upload(cfg, SAMPLES.audio);
    const job = await settle(cfg, s, { scenario: 'stt 429 ×3', fault: 'speech engine ENGINE_THROTTLED (429) ×3', faultAt: s.putAt, status: 'COMPLETED', cleanText: clean.audio });
    assert.equal(job.stages.transcribe?.attempts, 1, 'quota refusals must not count as attempts');
  });
});

describe('a refused publish', () => {
  before(() =>
    armFaults(cfg, {
      publish: [
        { id: ruleId('drop-ocr-request'), topic: 'ocr-requests', service: 'ingest', fail: 1, copies: 1 },
        { id: ruleId('drop-text-ready'), topic: 'document-events', service: 'ocr', fail: 1, copies: 1 },
      ],
    }),
  );
  after(nothingRunning);

  it("ingest's dispatch and OCR's text-ready announcement each refused once: the scan completes once", async () => {
    const s = await upload(cfg, SAMPLES.scan);
    await settle(cfg, s, { scenario: 'publish refused', fault: 'ocr-requests (ingest) and text-ready (ocr) publish refused once each', faultAt: s.putAt, status: 'COMPLETED', cleanText: clean.scan });
  });
});

describe('an upload notification lost', () => {
  // The storage emulator drops the upload's OBJECT_FINALIZE notification (as Pub/Sub being down past
  // its retries, or the Pub/Sub emulator restarting, loses it): ingest never hears of the file.
  before(() => armFaults(cfg, { publish: [{ id: ruleId('drop-finalize'), topic: 'object-events', service: 'storage-emulator', fail: 1, copies: 1 }] }));
  after(nothingRunning);

  it('the reaper finds the stored file, publishes its notification again, and the text file completes', async () => {
    const s = await upload(cfg, SAMPLES.text);
    const job = await settle(cfg, s, { scenario: 'upload notification lost', fault: "the upload's OBJECT_FINALIZE notification dropped", faultAt: s.putAt, status: 'COMPLETED', cleanText: clean.text });
    assert.equal(job.input.uploadReingests, 1, 'the reaper published the notification once');
    for (const [name, st] of Object.entries(job.stages)) assert.equal(st.attempts, 1, `${name} started once`);
  });
});

describe('every message delivered three times', { concurrency: true }, () => {
  before(() =>
    armFaults(cfg, {
      publish: ['ocr-requests', 'transcribe-requests', 'document-events'].map((topic) => ({ id: ruleId(`triple-${topic}`), topic, fail: 0, copies: 3 })),
    }),
  );
  after(nothingRunning);

  for (const sample of [SAMPLES.scan, SAMPLES.text, SAMPLES.audio]) {
    it(`${sample.name}: each stage runs and completes once`, async () => {
      const s = await upload(cfg, sample);
      const job = await settle(cfg, s, { scenario: `×3 delivery (${sample.name})`, fault: 'every request and event published 3×', faultAt: s.putAt, status: 'COMPLETED', cleanText: clean[sample.name] });
      for (const [name, st] of Object.entries(job.stages)) assert.equal(st.attempts, 1, `${name} started once`);
    });
  }
});

describe('a function process killed mid-job', () => {
  after(nothingRunning);

  it('kill -9 of the OCR process group at page 2 of 5: restarted, the scan completes with the clean text', async () => {
    const s = await upload(cfg, SAMPLES.scan);
    await whenPagesDone(cfg, s.jobId, 'ocr', 2);
    const { pgid } = functionProcess(root, 'ocr');
    const killedAt = Date.now();
    process.kill(-pgid, 'SIGKILL');
    log(`killed the ocr process group ${pgid}`);
    const job = await settle(cfg, s, { scenario: 'kill -9 ocr mid-job', fault: 'SIGKILL to the ocr process group at page ≥ 2', faultAt: killedAt, status: 'COMPLETED', cleanText: clean.scan });
    assert.ok((job.stages.ocr?.attempts ?? 0) >= 2, 'the killed attempt and the one that finished');
    assert.notEqual(functionProcess(root, 'ocr').pgid, pgid, 'the supervisor started a new instance');
  });
});

describe('the whole platform stopped and started mid-job', () => {
  after(nothingRunning);

  it('stop + start while OCR and transcription run: the reaper re-dispatches, every job completes once', async () => {
    const scan = await upload(cfg, SAMPLES.scan);
    const audio = await upload(cfg, SAMPLES.audio);
    await whenPagesDone(cfg, scan.jobId, 'ocr', 1);
    const stoppedAt = Date.now();
    await platform?.stop();
    log(`platform stopped in ${Date.now() - stoppedAt} ms`);
    forgetToken();
    await start();
    await Promise.all([
      settle(cfg, scan, { scenario: 'platform restart (scan)', fault: 'platform stop + start during OCR', faultAt: stoppedAt, status: 'COMPLETED', cleanText: clean.scan }),
      settle(cfg, audio, { scenario: 'platform restart (audio)', fault: 'platform stop + start during transcription', faultAt: stoppedAt, status: 'COMPLETED', cleanText: clean.audio }),
    ]);
  });
});
