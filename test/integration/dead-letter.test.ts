/**
 * The dead-letter function, reached over HTTP exactly as the Pub/Sub emulator pushes a dead-lettered
 * message (with the CloudPubSubDeadLetterSource* attributes Pub/Sub adds).
 */
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { localConfigForTests } from '../helpers/platform.js';
import { createUpload, outcomeOf, signIn, testFirestore } from '../helpers/client.js';
import { pushEnvelope } from '../helpers/events.js';
import { pushPath } from '../../shared/topology.js';
import type { LocalConfig } from '../../emulators/local-config.js';
import type { CreateUploadResponse } from '../../shared/api/contracts.js';

let cfg: LocalConfig;
let token: string;

before(async () => {
  cfg = localConfigForTests();
  token = await signIn(cfg);
});

async function pushDeadLetter(body: unknown): Promise<number> {
  const res = await fetch(`${cfg.functions['dead-letter']}${pushPath(cfg.gcpProjectId, 'dead-letter')}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  await res.arrayBuffer();
  return res.status;
}

const deadLettered = (envelope: unknown): unknown => {
  const e = envelope as { message: { attributes?: Record<string, string> } };
  e.message.attributes = { ...e.message.attributes, CloudPubSubDeadLetterSourceSubscription: `projects/${cfg.gcpProjectId}/subscriptions/ocr-ocr-requests`, CloudPubSubDeadLetterSourceDeliveryCount: '5' };
  return e;
};

/** The OCR request for an upload's job, as Pub/Sub dead-letters it after 5 failed deliveries. */
const deadLetteredOcrRequest = (upload: CreateUploadResponse): unknown =>
  deadLettered(
    pushEnvelope('ocr-requests', {
      type: 'scriptorium.document.ocr.requested.v1',
      jobId: upload.jobId,
      projectId: cfg.projectId,
      documentId: upload.documentId,
      source: { bucket: upload.bucket, object: upload.object, generation: '1' },
      contentType: 'application/pdf',
      requestedAt: new Date().toISOString(),
    }),
  );

describe('dead-letter function', () => {
  it('fails the job of a dead-lettered OCR request with DEAD_LETTERED, once', async () => {
    const upload = await createUpload(cfg, token, { fileName: 'lost.pdf', contentType: 'application/pdf', size: 100 });
    const envelope = deadLetteredOcrRequest(upload);
    assert.equal(await pushDeadLetter(envelope), 204);
    const db = testFirestore(cfg);
    const job = (await db.doc(`jobs/${upload.jobId}`).get()).data() as { status: string; error: { code: string; message: string } | null } | undefined;
    assert.equal(job?.status, 'FAILED');
    assert.equal(job?.error?.code, 'DEAD_LETTERED');
    assert.match(String(job?.error?.message), /5 times on projects\/.*ocr-ocr-requests/);
    assert.equal((await db.doc(`documents/${upload.documentId}`).get()).get('status'), 'FAILED');
    assert.equal((await db.doc(`jobs/${upload.jobId}`).get()).get('announced'), true, 'the failure was announced on document-events');
    const before = (await db.doc(`jobs/${upload.jobId}`).get()).updateTime;
    assert.equal(await pushDeadLetter(envelope), 204, 'a second copy is acknowledged');
    assert.ok((await db.doc(`jobs/${upload.jobId}`).get()).updateTime?.isEqual(before!), 'and changes nothing');
  });

  it('waits (a retryable 500) while an attempt holds a live lease; once it lapsed, leaves the stage to the reaper while attempts remain, and fails the job at the cap', async () => {
    const upload = await createUpload(cfg, token, { fileName: 'busy.pdf', contentType: 'application/pdf', size: 100 });
    const db = testFirestore(cfg);
    const job = db.doc(`jobs/${upload.jobId}`);
    await job.update({ status: 'RUNNING', stage: 'ocr', 'stages.ocr': { status: 'RUNNING', progress: 0, attempts: 1, lease: { id: 'alive', messageId: 'm', expiresAt: new Date(Date.now() + 600_000).toISOString() }, error: null, startedAt: null, finishedAt: null, result: null, metrics: {} } });
    const envelope = deadLetteredOcrRequest(upload);
    assert.equal(await pushDeadLetter(envelope), 500, 'not acknowledged: Pub/Sub redelivers it later');
    assert.equal((await job.get()).get('status'), 'RUNNING');
    // The attempt died without a word: its lease runs out. The message died behind that lease, not by
    // failing: the reaper re-dispatches the stage (it has attempts left), so the job is not failed here.
    await job.update({ 'stages.ocr.lease': { id: 'alive', messageId: 'm', expiresAt: new Date(Date.now() - 1000).toISOString() } });
    assert.equal(await pushDeadLetter(envelope), 204);
    assert.equal((await job.get()).get('status'), 'RUNNING');
    assert.match(String((await outcomeOf(cfg, 'dead-letter', (envelope as { message: { messageId: string } }).message.messageId))?.reason), /left to the reaper/);
    // At the attempt cap the reaper would not dispatch it again: now the dead letter ends the job.
    await job.update({ 'stages.ocr.attempts': 5 });
    const again = deadLetteredOcrRequest(upload);
    assert.equal(await pushDeadLetter(again), 204);
    assert.equal((await job.get()).get('status'), 'FAILED');
    assert.equal((await job.get()).get('error.code'), 'DEAD_LETTERED');
  });

  it('acknowledges a dead-lettered message about no known job', async () => {
      const envelope = deadLettered({ subscription: 'projects/test/subscriptions/dead-letter-dead-letter', message: { data: Buffer.from('{"hello":1}').toString('base64'), messageId: `unknown-${Date.now()}` } });
    assert.equal(await pushDeadLetter(envelope), 204);
    assert.deepEqual(await outcomeOf(cfg, 'dead-letter', (envelope as { message: { messageId: string } }).message.messageId), { action: 'recorded', reason: 'no job' });
  });

  it('ignores a message published to the dead-letter topic directly (no Pub/Sub dead-letter attributes)', async () => {
    const upload = await createUpload(cfg, token, { fileName: 'direct.pdf', contentType: 'application/pdf', size: 10 });
    const envelope = pushEnvelope('ocr-requests', {
      type: 'scriptorium.document.ocr.requested.v1', jobId: upload.jobId, projectId: cfg.projectId, documentId: upload.documentId,
      source: { bucket: upload.bucket, object: upload.object, generation: '1' }, contentType: 'application/pdf', requestedAt: new Date().toISOString(),
    });
    assert.equal(await pushDeadLetter(envelope), 204);
    assert.deepEqual(await outcomeOf(cfg, 'dead-letter', envelope.message.messageId), { action: 'recorded', reason: 'not dead-lettered by Pub/Sub' });
    assert.equal((await testFirestore(cfg).doc(`jobs/${upload.jobId}`).get()).get('status'), 'PENDING');
  });

  it('does not fail a job, or touch a document, that a dead-lettered message misnames', async () => {
    const victim = await createUpload(cfg, token, { fileName: 'victim.pdf', contentType: 'application/pdf', size: 10 });
    const other = await createUpload(cfg, token, { fileName: 'other.pdf', contentType: 'application/pdf', size: 10 });
    // Job of one upload, document of another: describes no job.
    const envelope = deadLettered(
      pushEnvelope('ocr-requests', {
        type: 'scriptorium.document.ocr.requested.v1', jobId: victim.jobId, projectId: cfg.projectId, documentId: other.documentId,
        source: { bucket: victim.bucket, object: victim.object, generation: '1' }, contentType: 'application/pdf', requestedAt: new Date().toISOString(),
      }),
    );
    assert.equal(await pushDeadLetter(envelope), 204);
    assert.deepEqual(await outcomeOf(cfg, 'dead-letter', (envelope as { message: { messageId: string } }).message.messageId), { action: 'recorded', reason: 'no job' });
    const db = testFirestore(cfg);
    assert.equal((await db.doc(`jobs/${victim.jobId}`).get()).get('status'), 'PENDING');
    assert.equal((await db.doc(`documents/${other.documentId}`).get()).get('status'), 'AWAITING_UPLOAD');
  });
});
