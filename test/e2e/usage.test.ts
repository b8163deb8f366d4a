/**
 * Cost metering end to end on the test platform (local engines): a multi-page PDF and a recording
 * go through their pipelines; each job records what it consumed in billed units (pages, audio
 * seconds, embedding characters, Firestore operations, function time) per stage and in total, with
 * cost = units × list price; the project's usage (daily documents) equals the sum over its jobs; a
 * redelivered request for a completed stage records nothing more.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { localConfigForTests } from '../helpers/platform.js';
import { api, fixture, outcomeOf, signIn, testFirestore, uploadAndWait } from '../helpers/client.js';
import { pushEnvelope } from '../helpers/events.js';
import { pushPath } from '../../shared/topology.js';
import { BUNDLED_PRICES, unitPrice } from '../../shared/cost/prices.js';
import { billableCharacters, isUsageUnit, sumRecords, UsageRecordSchema, type UsageRecord } from '../../shared/cost/usage.js';
import { stripBidiControls } from '../../shared/text/normalize.js';
import { ProjectUsageResponseSchema } from '../../shared/api/usage.js';
import type { Job } from '../../shared/jobs/model.js';
import type { LocalConfig } from '../../emulators/local-config.js';

let cfg: LocalConfig;
let token: string;

before(async () => {
  cfg = localConfigForTests();
  token = await signIn(cfg);
});

const close = (a: number, b: number, what: string, eps = 1e-7) => assert.ok(Math.abs(a - b) <= eps, `${what}: ${a} ≠ ${b}`);

/** Every cost line is its units × the unit price; the total is the sum of the lines. */
function assertPriced(usage: UsageRecord, what: string): void {
  for (const [unit, qty] of Object.entries(usage.units)) {
    assert.ok(isUsageUnit(unit), `${what}: unknown unit ${unit}`);
    close(usage.costUsd[unit] ?? 0, qty * unitPrice(BUNDLED_PRICES, unit), `${what} ${unit} cost`);
  }
  close(usage.totalUsd, Object.values(usage.costUsd).reduce((a, b) => a + b, 0), `${what} total`);
}

/** The job's total is the sum of its stages' usage. */
function assertStagesSum(job: Job): UsageRecord {
  const usage = job.usage;
  assert.ok(usage, `job ${job.id} recorded no usage`);
  const stages = sumRecords(Object.values(job.stages).flatMap((s) => (s.usage ? [s.usage] : [])));
  for (const unit of new Set([...Object.keys(usage.units), ...Object.keys(stages.units)])) close(usage.units[unit] ?? 0, stages.units[unit] ?? 0, `${job.id} ${unit}`, 1e-6);
  assert.equal(usage.attempts, stages.attempts);
  assertPriced(usage, job.id);
  return usage;
}

async function embeddedCharacters(documentId: string): Promise<number> {
  const chunks = await testFirestore(cfg).collection('chunks').where('documentId', '==', documentId).get();
  assert.ok(chunks.size > 0);
  return chunks.docs.reduce((n, d) => n + billableCharacters(stripBidiControls(String(d.get('text')))), 0);
}

function describeUsage(what: string, usage: UsageRecord): void {
  const lines = Object.entries(usage.units).map(([u, q]) => `${u}=${Number.isInteger(q) ? q : q.toFixed(3)} ($${(usage.costUsd[u] ?? 0).toFixed(6)})`);
  console.log(`${what}: total $${usage.totalUsd.toFixed(6)}; ${lines.join(', ')}`);
}

describe('cost metering', () => {
  let pdfJob: Job;

  it('meters a multi-page PDF: pages, embedding characters, Firestore operations, function time; cost = units × price', async () => {
    const { job, upload } = await uploadAndWait(cfg, token, 'metered.pdf', await fixture('pdf/pdflatex-4-pages.pdf'), 'application/pdf');
    assert.equal(job.status, 'COMPLETED', JSON.stringify(job.error));
    pdfJob = job;
    const usage = assertStagesSum(job);
    describeUsage('4-page PDF', usage);
    assert.equal(usage.units.ocrPages, job.result?.pageCount);
    assert.equal(job.stages.ocr?.usage?.units.ocrPages, 4);
    assert.equal(usage.units.embeddingCharacters, await embeddedCharacters(upload.documentId));
    assert.ok((usage.units.summaryInputTokens ?? 0) > 0 && (usage.units.summaryOutputTokens ?? 0) > 0);
    // Firestore: every stage read and wrote; the embed stage wrote at least its chunks.
    for (const s of ['ocr', 'embed', 'summarize']) {
      const st = job.stages[s]?.usage;
      assert.ok((st?.units.firestoreReads ?? 0) > 0 && (st?.units.firestoreWrites ?? 0) > 0, `${s}: ${JSON.stringify(st?.units)}`);
      assert.equal(st?.units.functionInvocations, 1, `${s} ran once`);
      assert.ok((st?.units.functionVcpuSeconds ?? 0) > 0);
    }
    assert.ok((job.stages.embed?.usage?.units.firestoreWrites ?? 0) >= (job.stages.embed?.result?.chunkCount as number) + 2);
    // Storage: the OCR stage downloaded the source (class B) and wrote text and pages (class A).
    assert.equal(job.stages.ocr?.usage?.units.storageClassB, 1);
    assert.equal(job.stages.ocr?.usage?.units.storageClassA, 2);
  });

  it('meters a recording: audio seconds ≈ its duration', async () => {
    const { job, upload } = await uploadAndWait(cfg, token, 'metered.wav', await fixture('audio/sense_and_sensibility_01_austen_64kb-0870.wav'), 'audio/wav');
    assert.equal(job.status, 'COMPLETED', JSON.stringify(job.error));
    const usage = assertStagesSum(job);
    describeUsage('7 s recording', usage);
    const result = job.stages.transcribe?.result as { durationSeconds: number; segments: number };
    const seconds = usage.units.sttAudioSeconds ?? 0;
    // Each request is billed to the next whole second.
    assert.ok(seconds >= result.durationSeconds && seconds <= result.durationSeconds + Math.max(1, job.metrics.segments ?? 1), `${seconds} s billed for ${result.durationSeconds} s`);
    assert.equal(usage.units.ocrPages, undefined, 'no OCR for a recording');
    assert.equal(usage.units.embeddingCharacters, await embeddedCharacters(upload.documentId));
  });

  it('records nothing more when a completed stage is redelivered', async () => {
    const db = testFirestore(cfg);
    const day = (await db.collection(`projects/${cfg.projectId}/usage`).get()).docs.map((d) => ({ id: d.id, ...d.data() }));
    const request = pushEnvelope('ocr-requests', {
      type: 'scriptorium.document.ocr.requested.v1',
      jobId: pdfJob.id,
      projectId: cfg.projectId,
      documentId: pdfJob.documentId ?? '',
      source: { bucket: pdfJob.input.bucket, object: pdfJob.input.object, generation: pdfJob.input.generation ?? '' },
      contentType: 'application/pdf',
      requestedAt: new Date().toISOString(),
    });
    const url = cfg.functions.ocr;
    assert.ok(url);
    const res = await fetch(`${url}${pushPath(cfg.gcpProjectId, 'ocr-requests')}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(request) });
    await res.arrayBuffer();
    assert.equal(res.status, 204);
    assert.equal((await outcomeOf(cfg, 'ocr', request.message.messageId))?.action, 'skipped');
    const after = (await db.doc(`jobs/${pdfJob.id}`).get()).get('usage') as unknown;
    assert.deepEqual(UsageRecordSchema.parse(after), pdfJob.usage);
    const dayAfter = (await db.collection(`projects/${cfg.projectId}/usage`).get()).docs.map((d) => ({ id: d.id, ...d.data() }));
    assert.deepEqual(dayAfter.map((d) => [d.id, (d as { totalUsd?: number }).totalUsd]), day.map((d) => [d.id, (d as { totalUsd?: number }).totalUsd]));
  });

  it("answers the project's usage: the sum over its jobs, for members only", async () => {
    const jobs = await testFirestore(cfg).collection('jobs').where('projectId', '==', cfg.projectId).get();
    const recorded = jobs.docs.flatMap((d) => (d.get('usage') ? [UsageRecordSchema.parse(d.get('usage'))] : []));
    const sum = sumRecords(recorded);
    const days = (await testFirestore(cfg).collection(`projects/${cfg.projectId}/usage`).orderBy('day').get()).docs.map((d) => d.id);
    const res = await api(cfg, token, 'GET', `/v1/projects/${cfg.projectId}/usage?from=${days[0]}&to=${days.at(-1)}`);
    assert.equal(res.status, 200, res.text);
    const body = ProjectUsageResponseSchema.parse(res.json);
    assert.equal(body.estimated, true);
    for (const unit of new Set([...Object.keys(sum.units), ...Object.keys(body.total.units)])) close(body.total.units[unit] ?? 0, sum.units[unit] ?? 0, `project ${unit}`, 1e-6);
    close(body.total.totalUsd, sum.totalUsd, 'project total', 1e-7);
    assert.equal(body.total.attempts, sum.attempts);
    describeUsage(`project ${cfg.projectId} (${recorded.length} jobs)`, body.total);

    assert.equal((await api(cfg, token, 'GET', `/v1/projects/${cfg.projectId}/usage?from=2026-02-30`)).status, 400);
    assert.equal((await api(cfg, token, 'GET', `/v1/projects/${cfg.projectId}/usage?from=2020-01-01&to=2026-01-01`)).status, 400);
    assert.equal((await api(cfg, token, 'GET', `/v1/projects/${cfg.projectId}/usage?bogus=1`)).status, 400);
    assert.equal((await api(cfg, token, 'GET', '/v1/projects/no-such-project/usage')).status, 403);
    assert.equal((await api(cfg, null, 'GET', `/v1/projects/${cfg.projectId}/usage`)).status, 401);
  });
});
