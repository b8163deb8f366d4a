/**
 * The job-control and dead-letter commands of the `scriptorium` CLI, run as the built bin against
 * the running test platform (as test/integration/cli.test.ts does for the others).
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { localConfigForTests } from '../helpers/platform.js';
import { createUpload, signIn, testFirestore } from '../helpers/client.js';
import { pushEnvelope } from '../helpers/events.js';
import { runCli, type CliRun } from '../helpers/cli-run.js';
import { pushPath } from '../../shared/topology.js';
import type { LocalConfig } from '../../emulators/local-config.js';

let cfg: LocalConfig;
let token: string;

function cli(args: readonly string[]): Promise<CliRun> {
  return runCli(args, { timeoutMs: 120_000 });
}

before(async () => {
  cfg = localConfigForTests();
  token = await signIn(cfg);
});

describe('scriptorium jobs, cancel, retry', () => {
  it('lists jobs with filters, cancels a pending job, and refuses to retry it', async () => {
    const upload = await createUpload(cfg, token, { fileName: 'cli-cancel.pdf', contentType: 'application/pdf', size: 10 });
    const listed = await cli(['jobs', '--status', 'PENDING', '--kind', 'document.process', '--limit', '100', '--json']);
    assert.equal(listed.code, 0, listed.stderr);
    const jobs = (JSON.parse(listed.stdout) as { jobs: { id: string; status: string }[] }).jobs;
    assert.ok(jobs.some((j) => j.id === upload.jobId));
    assert.ok(jobs.every((j) => j.status === 'PENDING'));

    const cancelled = await cli(['cancel', upload.jobId]);
    assert.equal(cancelled.code, 0, cancelled.stderr);
    assert.equal(cancelled.stdout, `${upload.jobId} CANCELLED\n`);
    const table = await cli(['jobs', '--status', 'CANCELLED', '--since', new Date(Date.now() - 60_000).toISOString()]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, new RegExp(`^${upload.jobId}  CANCELLED `, 'm'));

    const retry = await cli(['retry', upload.jobId]);
    assert.equal(retry.code, 1);
    assert.match(retry.stderr, /JOB_NOT_RETRYABLE/);
    assert.equal((await cli(['jobs', '--status', 'NOPE'])).code, 2);
    assert.equal((await cli(['cancel'])).code, 2);
    assert.equal((await cli(['retry', 'not-a-job'])).code, 2);
  });
});

describe('scriptorium dead-letters', () => {
  it('lists a dead-lettered message of a job and refuses its replay while the job has ended', async () => {
    const upload = await createUpload(cfg, token, { fileName: 'cli-dead.pdf', contentType: 'application/pdf', size: 10 });
    // Delivered as the Pub/Sub emulator pushes a dead-lettered OCR request (test/integration/dead-letter.test.ts).
    const envelope = pushEnvelope('ocr-requests', {
      type: 'scriptorium.document.ocr.requested.v1', jobId: upload.jobId, projectId: cfg.projectId, documentId: upload.documentId,
      source: { bucket: upload.bucket, object: upload.object, generation: '1' }, contentType: 'application/pdf', requestedAt: new Date().toISOString(),
    });
    envelope.message.attributes = { ...envelope.message.attributes, CloudPubSubDeadLetterSourceSubscription: `projects/${cfg.gcpProjectId}/subscriptions/ocr-ocr-requests`, CloudPubSubDeadLetterSourceDeliveryCount: '5' };
    const res = await fetch(`${cfg.functions['dead-letter']}${pushPath(cfg.gcpProjectId, 'dead-letter')}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(envelope) });
    assert.equal(res.status, 204);
    assert.equal((await testFirestore(cfg).doc(`deadLetters/${envelope.message.messageId}`).get()).get('jobId'), upload.jobId);

    const list = await cli(['dead-letters', 'list', '--job', upload.jobId, '--json']);
    assert.equal(list.code, 0, list.stderr);
    const records = (JSON.parse(list.stdout) as { deadLetters: { id: string; reason: { code: string }; topic: string; deliveryAttempts: number }[] }).deadLetters;
    assert.deepEqual(records.map((r) => [r.id, r.reason.code, r.topic, r.deliveryAttempts]), [[envelope.message.messageId, 'DEAD_LETTERED', 'ocr-requests', 5]]);
    const text = await cli(['dead-letters', 'list', '--job', upload.jobId]);
    assert.match(text.stdout, /ocr-ocr-requests -> ocr-requests/);

    const replay = await cli(['dead-letters', 'replay', '--job', upload.jobId]);
    assert.equal(replay.code, 1);
    assert.match(replay.stderr, /JOB_TERMINAL.*retry it first/);
    assert.equal((await cli(['dead-letters', 'replay'])).code, 2, 'replay needs ids, --job or --all');
    assert.equal((await cli(['dead-letters', 'nope'])).code, 2);
  });
});
