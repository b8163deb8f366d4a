/**
 * The job-control and dead-letter commands of the `scriptorium` CLI, run as the built bin against
 * the running test platform (as test/integration/cli.test.ts does for the others), and following a
 * job with `job --follow` and `retry --follow` (to its end, and giving up on a job that never moves).
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PubSub } from '@google-cloud/pubsub';
import { localConfigForTests } from '../helpers/platform.js';
import { createUpload, fixture, putSigned, signIn, testFirestore } from '../helpers/client.js';
import { pushEnvelope } from '../helpers/events.js';
import { runCli, type CliRun } from '../helpers/cli-run.js';
import { retryIdOf } from '../../shared/jobs/control.js';
import { pushPath } from '../../shared/topology.js';
import type { LocalConfig } from '../../emulators/local-config.js';
import { until } from '../helpers/until.js';

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

/** Posts to the dead-letter function an OCR request of `upload`'s job as Pub/Sub dead-letters it. */
async function deadLetterOcrRequest(upload: Awaited<ReturnType<typeof createUpload>>, generation: string): Promise<void> {
  const envelope = pushEnvelope('ocr-requests', {
    type: 'scriptorium.document.ocr.requested.v1', jobId: upload.jobId, projectId: cfg.projectId, documentId: upload.documentId,
    source: { bucket: upload.bucket, object: upload.object, generation }, contentType: 'application/pdf', requestedAt: new Date().toISOString(),
  });
  envelope.message.attributes = { ...envelope.message.attributes, CloudPubSubDeadLetterSourceSubscription: `projects/${cfg.gcpProjectId}/subscriptions/ocr-ocr-requests`, CloudPubSubDeadLetterSourceDeliveryCount: '5' };
  const res = await fetch(`${cfg.functions['dead-letter']}${pushPath(cfg.gcpProjectId, 'dead-letter')}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(envelope) });
  assert.equal(res.status, 204, await res.text());
}

describe('scriptorium job --follow, retry --follow', () => {
  it('job --follow: follows an uploaded file\'s job live to COMPLETED (exit 0), then prints its final state', async () => {
    const body = await fixture('pdf/minimal-document.pdf');
    const upload = await createUpload(cfg, token, { fileName: 'cli-follow.pdf', contentType: 'application/pdf', size: body.length });
    // The file is stored only once the CLI shows the job PENDING: what follows is seen live, not read after the fact.
    // A holder: the callback sets it (a plain variable would be narrowed to its initial null here).
    const put: { status?: Promise<number | Error> } = {};
    const followed = await runCli(['job', upload.jobId, '--follow', '--timeout', '150'], {
      timeoutMs: 180_000,
      onStderr: (stderr) => {
        if (!put.status && stderr.includes(`job ${upload.jobId}: PENDING`)) put.status = putSigned(upload, body).then((r) => r.status, (err: unknown) => (err instanceof Error ? err : new Error(String(err))));
      },
    });
    assert.ok(put.status, `the CLI never showed the job PENDING:\n${followed.stderr}`);
    assert.equal(await put.status, 200);
    assert.equal(followed.code, 0, followed.stdout + followed.stderr);
    const progress = followed.stderr.split('\n').filter((l) => l.startsWith(`job ${upload.jobId}: `));
    assert.match(progress[0] ?? '', /: PENDING/);
    assert.ok(progress.some((l) => /: RUNNING \(ocr\)/.test(l)), progress.join('\n'));
    assert.match(progress.at(-1) ?? '', /: COMPLETED .*100%$/);
    assert.match(followed.stdout, new RegExp(`^job +${upload.jobId}$`, 'm'));
    assert.match(followed.stdout, /^status +COMPLETED$/m);
    assert.match(followed.stdout, /^progress +100%$/m);
    assert.match(followed.stdout, /^finished +\d{4}-\d\d-\d\dT/m);

    // --json: the final job document, as the record stands.
    const json = await cli(['job', upload.jobId, '--follow', '--json']);
    assert.equal(json.code, 0, json.stderr);
    const doc = JSON.parse(json.stdout) as { id: string; status: string; progress: number; documentId: string };
    assert.deepEqual([doc.id, doc.status, doc.progress, doc.documentId], [upload.jobId, 'COMPLETED', 100, upload.documentId]);
    assert.equal((await testFirestore(cfg).doc(`jobs/${upload.jobId}`).get()).get('status'), 'COMPLETED');
  });

  it('retry --follow: a FAILED job is retried and the new job followed to COMPLETED (exit 0)', async () => {
    const body = await fixture('pdf/minimal-document.pdf');
    const upload = await createUpload(cfg, token, { fileName: 'cli-retry-follow.pdf', contentType: 'application/pdf', size: body.length });
    const db = testFirestore(cfg);
    // The ocr function "is down" (its subscription pushes nowhere) while its request is dead-lettered,
    // as in the dead-letters test above: the job fails after ingest dispatched its OCR.
    const sub = new PubSub({ projectId: cfg.gcpProjectId, apiEndpoint: cfg.pubsubEmulatorHost, emulatorMode: true }).subscription('ocr-ocr-requests');
    const [original] = await sub.getMetadata();
    await sub.setMetadata({ pushConfig: {} });
    try {
      assert.ok((await putSigned(upload, body)).ok);
      const generation = await until('the OCR request', async () => {
        const job = await db.doc(`jobs/${upload.jobId}`).get();
        return job.get('dispatchedStage') === 'ocr' ? (job.get('input.generation') as string) : null;
      });
      await deadLetterOcrRequest(upload, generation);
    } finally {
      await sub.setMetadata({ pushConfig: original.pushConfig ?? {} });
    }
    const failed = await cli(['job', upload.jobId, '--json']);
    assert.equal(failed.code, 0, failed.stderr);
    const old = JSON.parse(failed.stdout) as { status: string; error: { code: string } };
    assert.deepEqual([old.status, old.error.code], ['FAILED', 'DEAD_LETTERED']);

    const retryId = retryIdOf(upload.jobId);
    const retried = await runCli(['retry', upload.jobId, '--follow', '--json', '--timeout', '150'], { timeoutMs: 180_000 });
    assert.equal(retried.code, 0, retried.stdout + retried.stderr);
    assert.match(retried.stderr, new RegExp(`^${retryId} retries ${upload.jobId} \\(RUNNING\\); following it$`, 'm'));
    assert.match(retried.stderr, new RegExp(`^job ${retryId}: COMPLETED`, 'm'));
    const doc = JSON.parse(retried.stdout) as { id: string; status: string; retryOf: string; documentId: string; progress: number };
    assert.deepEqual([doc.id, doc.status, doc.retryOf, doc.documentId, doc.progress], [retryId, 'COMPLETED', upload.jobId, upload.documentId, 100]);
    assert.equal((await db.doc(`jobs/${upload.jobId}`).get()).get('status'), 'FAILED', 'the old job keeps its outcome');
    assert.equal((await db.doc(`documents/${upload.documentId}`).get()).get('status'), 'READY');

    // Asked again: the same retry job, already ended, is shown at once.
    const again = await cli(['retry', upload.jobId, '--follow']);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, new RegExp(`^${retryId} already retries ${upload.jobId} \\(COMPLETED\\)`, 'm'));
    assert.match(again.stdout, /^status +COMPLETED$/m);
  });

  it('job --follow --stall-timeout 3: a job that never moves (its file never uploaded) is given up on: STALLED, exit 1', async () => {
    const upload = await createUpload(cfg, token, { fileName: 'cli-never-uploaded.pdf', contentType: 'application/pdf', size: 10 });
    const json = await cli(['job', upload.jobId, '--follow', '--json', '--stall-timeout', '3']);
    assert.equal(json.code, 1, json.stdout + json.stderr);
    const out = JSON.parse(json.stdout) as { jobId: string; status: string; error: { code: string; message: string }; job: { id: string; status: string } };
    assert.deepEqual([out.jobId, out.status, out.error.code], [upload.jobId, 'STALLED', 'STALLED']);
    assert.deepEqual([out.job.id, out.job.status], [upload.jobId, 'PENDING'], 'the last state seen');
    assert.match(out.error.message, new RegExp(`^job ${upload.jobId} stalled: no progress for 3\\.\\d s \\(last seen: PENDING`));
    assert.match(json.stderr, new RegExp(`^job ${upload.jobId}: PENDING`, 'm'));
    assert.match(json.stderr, new RegExp(`^error: job ${upload.jobId} stalled: no progress for 3\\.\\d s`, 'm'));
    // It gave up at the stall timeout (plus the CLI's start), not at the 600 s --timeout.
    assert.ok(json.wallMs < 30_000, `took ${Math.round(json.wallMs)} ms`);

    // Without --json: the job as last seen, and the stall; the job itself was not changed.
    const human = await cli(['job', upload.jobId, '--follow', '--stall-timeout', '3']);
    assert.equal(human.code, 1);
    assert.match(human.stdout, /^status +PENDING$/m);
    assert.match(human.stderr, /stalled: no progress for 3\.\d s/);
    assert.equal((await testFirestore(cfg).doc(`jobs/${upload.jobId}`).get()).get('status'), 'PENDING');
  });
});
