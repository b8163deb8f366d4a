/**
 * Job control and dead letters on the running test platform, end to end:
 * - a message Pub/Sub really dead-letters (the ocr function "down": its push subscription detached
 *   while the OCR request is nacked past maxDeliveryAttempts) fails its job, is recorded with its
 *   source, attempts and reason, is listed, refused for replay until the job is retried, then
 *   replayed once to its topic, and the retry job completes;
 * - a long job (a 117-page PDF) cancelled while it runs ends CANCELLED, and nothing is written after;
 * - listing with filters and pagination; logs; permission cells (viewer, non-member, admins).
 */
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { PubSub, type Message } from '@google-cloud/pubsub';
import { localConfigForTests } from '../helpers/platform.js';
import { api, createUpload, fixture, putSigned, signIn, signUp, testFirestore, waitForJob } from '../helpers/client.js';
import type { LocalConfig } from '../../emulators/local-config.js';
import { DeadLetterListResponseSchema, DeadLetterViewSchema, JobListResponseSchema, JobLogsResponseSchema, RetryResponseSchema} from '../../shared/api/job-control.js';
import { retryIdOf } from '../../shared/jobs/control.js';
import { until } from '../helpers/until.js';

let cfg: LocalConfig;
let token: string;
let viewerToken: string;
let outsiderToken: string;
let platformAdminToken: string;
let projectAdminToken: string;

/** A user with global role `role` (editor by default: what a project role grants is then what counts). */
async function userToken(email: string, role: 'editor' | 'viewer' = 'editor'): Promise<{ token: string; uid: string }> {
  const t = await signUp(cfg, email, 'password-123', role).catch(() => signIn(cfg, email, 'password-123'));
  const payload = JSON.parse(Buffer.from(t.split('.')[1] ?? '', 'base64url').toString('utf8')) as { user_id: string };
  return { token: t, uid: payload.user_id };
}

before(async () => {
  cfg = localConfigForTests();
  token = await signIn(cfg);
  const tag = randomUUID().slice(0, 8);
  const viewer = await userToken(`viewer-${tag}@example.test`);
  await testFirestore(cfg).doc(`projects/${cfg.projectId}/members/${viewer.uid}`).set({ role: 'viewer', email: `viewer-${tag}@example.test` });
  viewerToken = viewer.token;
  // A global editor who is no member: sees no job of the project (404), rather than a global viewer's 403 for any change.
  outsiderToken = (await userToken(`outsider-${tag}@example.test`)).token;
  // A project admin who is not a platform admin (the demo user is both).
  const projectAdmin = await userToken(`project-admin-${tag}@example.test`);
  await testFirestore(cfg).doc(`projects/${cfg.projectId}/members/${projectAdmin.uid}`).set({ role: 'admin', email: `project-admin-${tag}@example.test` });
  projectAdminToken = projectAdmin.token;
  // A platform admin: global role admin, provisioned through the users API (users/{uid}.role, read per request).
  platformAdminToken = await signUp(cfg, `platform-${tag}@example.test`, 'password-123', 'admin');
});

const pubsub = (): PubSub => new PubSub({ projectId: cfg.gcpProjectId, apiEndpoint: cfg.pubsubEmulatorHost, emulatorMode: true });

/**
 * Pulls `ocr-ocr-requests` (detached from the ocr function) until the OCR request of `jobId` has been
 * nacked `times` times: each nack is a failed delivery, as when the function is down.
 */
async function nackUntilDeadLettered(jobId: string, times: number): Promise<number> {
  const sub = pubsub().subscription('ocr-ocr-requests', { flowControl: { maxMessages: 10 } });
  let nacks = 0;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${nacks} deliveries of the OCR request of ${jobId} within 120 s`)), 120_000);
    sub.on('message', (m: Message) => {
      const body = JSON.parse(m.data.toString('utf8')) as { jobId?: string };
      if (body.jobId !== jobId) {
        m.nack();
        return;
      }
      nacks++;
      m.nack();
      if (nacks >= times) {
        clearTimeout(timer);
        resolve();
      }
    });
    sub.on('error', reject);
  });
  await sub.close();
  return nacks;
}

describe('dead letters: record, list, replay after retry', () => {
  it('records a message Pub/Sub dead-lettered, refuses its replay until the job is retried, replays it once, and the retry completes', async () => {
    const sub = pubsub().subscription('ocr-ocr-requests');
    const [original] = await sub.getMetadata();
    const body = await fixture('pdf/multicolumn.pdf');
    const upload = await createUpload(cfg, token, { fileName: 'outage.pdf', contentType: 'application/pdf', size: body.length });
    // The ocr function "is down": its subscription pushes nowhere (pull), with quick redelivery.
    let detached = false;
    const detach = async (): Promise<void> => {
      detached = true;
      await sub.setMetadata({ pushConfig: {}, retryPolicy: { minimumBackoff: { seconds: 0 }, maximumBackoff: { seconds: 1 } } });
    };
    const restore = async (): Promise<void> => {
      if (!detached) return;
      detached = false;
      await sub.setMetadata({ pushConfig: original.pushConfig ?? {}, retryPolicy: original.retryPolicy ?? null });
    };
    await detach();
    const retryId = retryIdOf(upload.jobId);
    try {
      assert.ok((await putSigned(upload, body)).ok);
      const max = 5;
      assert.ok((await nackUntilDeadLettered(upload.jobId, max)) >= max);
      // Back up, so the emulator's next delivery dead-letters the message.
      await restore();
      const { job } = await waitForJob(cfg, upload.jobId, 60_000);
      assert.equal(job.status, 'FAILED');
      assert.equal(job.error?.code, 'DEAD_LETTERED');

      // Listed for the project's admin (the demo user), with where it came from and why.
      const listed = await until('the dead-letter record', async () => {
        const res = await api(cfg, token, 'GET', `/v1/dead-letters?projectId=${cfg.projectId}&jobId=${upload.jobId}`);
        assert.equal(res.status, 200, res.text);
        return DeadLetterListResponseSchema.parse(res.json).deadLetters.find((d) => d.action === 'failed-job');
      });
      assert.equal(listed.subscription, 'ocr-ocr-requests');
      assert.equal(listed.topic, 'ocr-requests');
      assert.equal(listed.documentId, upload.documentId);
      assert.equal(listed.eventType, 'scriptorium.document.ocr.requested.v1');
      assert.equal(listed.deliveryAttempts, 5);
      assert.equal(listed.reason.code, 'DEAD_LETTERED');
      assert.equal(listed.status, 'DEAD_LETTERED');
      assert.equal(listed.replayable, true);

      // Who sees it: a platform admin too; a viewer and a non-member do not.
      assert.equal((await api(cfg, platformAdminToken, 'GET', `/v1/dead-letters/${listed.id}`)).status, 200);
      assert.equal((await api(cfg, platformAdminToken, 'GET', '/v1/dead-letters?limit=5')).status, 200, 'a platform admin lists every project');
      assert.equal((await api(cfg, projectAdminToken, 'GET', '/v1/dead-letters')).status, 403, 'a project admin must name the project');
      assert.equal((await api(cfg, projectAdminToken, 'GET', `/v1/dead-letters?projectId=${cfg.projectId}`)).status, 200, 'a project admin lists their project');
      assert.equal((await api(cfg, viewerToken, 'GET', `/v1/dead-letters?projectId=${cfg.projectId}`)).status, 403);
      assert.equal((await api(cfg, viewerToken, 'GET', `/v1/dead-letters/${listed.id}`)).status, 404);
      assert.equal((await api(cfg, outsiderToken, 'POST', `/v1/dead-letters/${listed.id}/replay`)).status, 404);

      // The job ended: replay is refused until it is retried.
      const refused = await api(cfg, token, 'POST', `/v1/dead-letters/${listed.id}/replay`);
      assert.equal(refused.status, 409);
      assert.equal((refused.json as { code: string }).code, 'JOB_TERMINAL');

      assert.equal((await api(cfg, viewerToken, 'POST', `/v1/jobs/${upload.jobId}/retry`)).status, 403, 'a viewer cannot retry');
      assert.equal((await api(cfg, outsiderToken, 'POST', `/v1/jobs/${upload.jobId}/retry`)).status, 404, 'a non-member sees no job');
      // Down again until the replays: otherwise the retry's own dispatch could complete the retry job
      // before the replay is tried (then correctly refused: the job it would feed has ended).
      await detach();
      // Retry: a new job, twice the same one (a double click retries once).
      const [r1, r2] = await Promise.all([api(cfg, token, 'POST', `/v1/jobs/${upload.jobId}/retry`), api(cfg, token, 'POST', `/v1/jobs/${upload.jobId}/retry`)]);
      const retries = [r1, r2].map((r) => RetryResponseSchema.parse(r.json));
      assert.deepEqual(retries.map((r) => r.jobId), [retryIdOf(upload.jobId), retryIdOf(upload.jobId)]);
      assert.deepEqual([r1.status, r2.status].sort(), [200, 201]);

      // Two replays at once: one publishes (naming the retry job), the other is refused.
      const replays = await Promise.all([api(cfg, token, 'POST', `/v1/dead-letters/${listed.id}/replay`), api(cfg, token, 'POST', `/v1/dead-letters/${listed.id}/replay`)]);
      const ok = replays.filter((r) => r.status === 200);
      assert.equal(ok.length, 1, replays.map((r) => `${r.status} ${r.text}`).join('\n'));
      assert.equal((ok[0]?.json as { jobId: string }).jobId, retryId);
      const other = replays.find((r) => r.status !== 200);
      assert.equal(other?.status, 409);
      assert.match((other?.json as { code: string }).code, /^(ALREADY_REPLAYED|REPLAY_IN_PROGRESS)$/);
      // The ocr function is back: the retry's dispatch and the replayed message are both delivered; the stage runs once.
      await restore();

      const done = await waitForJob(cfg, retryId, 180_000);
      assert.equal(done.job.status, 'COMPLETED', JSON.stringify(done.job.error));
      assert.equal(done.job.retryOf, upload.jobId);
      const db = testFirestore(cfg);
      assert.equal((await db.doc(`documents/${upload.documentId}`).get()).get('status'), 'READY');
      assert.equal((await db.doc(`documents/${upload.documentId}`).get()).get('jobId'), retryId);
      assert.equal((await db.doc(`jobs/${upload.jobId}`).get()).get('status'), 'FAILED', 'the old job keeps its outcome');
      const after = DeadLetterViewSchema.parse((await api(cfg, token, 'GET', `/v1/dead-letters/${listed.id}`)).json);
      assert.equal(after.status, 'REPLAYED');
      assert.equal(after.replayCount, 1);
      assert.equal((await api(cfg, token, 'POST', `/v1/dead-letters/${listed.id}/replay`)).status, 409, 'replayed once only');
      // A COMPLETED job is not retried.
      const again = await api(cfg, token, 'POST', `/v1/jobs/${retryId}/retry`);
      assert.equal(again.status, 409);
      assert.equal((again.json as { code: string }).code, 'JOB_NOT_RETRYABLE');
    } finally {
      await restore();
    }
  });
});

describe('job control: cancel, listing, logs', () => {
  it('cancels a long running job: it ends CANCELLED with its document, and nothing is written after', async () => {
    const body = await fixture('pdf/GeoTopo-komprimiert.pdf');
    const upload = await createUpload(cfg, token, { fileName: 'long.pdf', contentType: 'application/pdf', size: body.length });
    assert.ok((await putSigned(upload, body)).ok);
    const db = testFirestore(cfg);
    await until('the job to run', async () => ((await db.doc(`jobs/${upload.jobId}`).get()).get('status') === 'RUNNING' ? true : null), 120_000);
    assert.equal((await api(cfg, viewerToken, 'POST', `/v1/jobs/${upload.jobId}/cancel`)).status, 403, 'a viewer cannot cancel');
    assert.equal((await api(cfg, outsiderToken, 'POST', `/v1/jobs/${upload.jobId}/cancel`)).status, 404);
    const res = await api(cfg, token, 'POST', `/v1/jobs/${upload.jobId}/cancel`);
    assert.ok(res.status === 200 || res.status === 202, res.text);
    const { job } = await waitForJob(cfg, upload.jobId, 120_000);
    assert.equal(job.status, 'CANCELLED');
    assert.equal(job.cancelRequested, true);
    assert.ok(Object.values(job.stages).every((s) => s.lease === null && ['COMPLETED', 'CANCELLED'].includes(s.status)), JSON.stringify(job.stages));
    assert.equal((await db.doc(`documents/${upload.documentId}`).get()).get('status'), 'CANCELLED');
    // Settled: nothing writes the job (or its chunks) afterwards.
    const settled = (await db.doc(`jobs/${upload.jobId}`).get()).updateTime;
    const chunksBefore = (await db.collection('chunks').where('documentId', '==', upload.documentId).count().get()).data().count;
    await new Promise((r) => setTimeout(r, 5000));
    assert.ok((await db.doc(`jobs/${upload.jobId}`).get()).updateTime?.isEqual(settled!), 'no write after CANCELLED');
    assert.equal((await db.collection('chunks').where('documentId', '==', upload.documentId).count().get()).data().count, chunksBefore);
    const twice = await api(cfg, token, 'POST', `/v1/jobs/${upload.jobId}/cancel`);
    assert.equal(twice.status, 200, 'cancelling a cancelled job answers with its state');

    // Its logs: the cancel request and the end, oldest first, paginated.
    const logs = JobLogsResponseSchema.parse((await api(cfg, token, 'GET', `/v1/jobs/${upload.jobId}/logs?limit=2`)).json);
    assert.equal(logs.entries.length, 2);
    assert.ok(logs.nextPageToken);
    const all: string[] = [];
    let page: string | undefined;
    do {
      const p = JobLogsResponseSchema.parse((await api(cfg, token, 'GET', `/v1/jobs/${upload.jobId}/logs?limit=3${page ? `&pageToken=${page}` : ''}`)).json);
      all.push(...p.entries.map((e) => e.message));
      page = p.nextPageToken;
    } while (page);
    assert.ok(all.some((m) => /cancel/.test(m)), all.join('\n'));
    assert.equal((await api(cfg, outsiderToken, 'GET', `/v1/jobs/${upload.jobId}/logs`)).status, 404);
  });

  it('cancels a PENDING job at once', async () => {
    const upload = await createUpload(cfg, token, { fileName: 'never.pdf', contentType: 'application/pdf', size: 10 });
    const res = await api(cfg, token, 'POST', `/v1/jobs/${upload.jobId}/cancel`);
    assert.equal(res.status, 200, res.text);
    assert.equal((res.json as { status: string }).status, 'CANCELLED');
    const retry = await api(cfg, token, 'POST', `/v1/jobs/${upload.jobId}/retry`);
    assert.equal(retry.status, 409, 'a job that never got its file is uploaded again, not retried');
  });

  it('lists jobs with filters and cursor pagination', async () => {
    const since = new Date(Date.now() - 1000).toISOString();
    const made: string[] = [];
    for (let i = 0; i < 5; i++) made.push((await createUpload(cfg, token, { fileName: `list-${i}.pdf`, contentType: 'application/pdf', size: 10 })).jobId);
    await api(cfg, token, 'POST', `/v1/jobs/${made[0] ?? ''}/cancel`);
    const seen: string[] = [];
    let pageToken: string | undefined;
    let pages = 0;
    do {
      const res = await api(cfg, token, 'GET', `/v1/jobs?projectId=${cfg.projectId}&createdAfter=${encodeURIComponent(since)}&limit=2${pageToken ? `&pageToken=${pageToken}` : ''}`);
      assert.equal(res.status, 200, res.text);
      const page = JobListResponseSchema.parse(res.json);
      assert.ok(page.jobs.length <= 2);
      seen.push(...page.jobs.map((j) => j.id));
      pageToken = page.nextPageToken;
      pages++;
    } while (pageToken && pages < 20);
    assert.deepEqual(seen.filter((id) => made.includes(id)), [...made].reverse(), 'newest first, each once');
    assert.equal(new Set(seen).size, seen.length);
    const cancelled = JobListResponseSchema.parse((await api(cfg, token, 'GET', `/v1/jobs?projectId=${cfg.projectId}&status=CANCELLED&createdAfter=${encodeURIComponent(since)}`)).json);
    assert.deepEqual(cancelled.jobs.map((j) => j.id).filter((id) => made.includes(id)), [made[0]]);
    assert.ok(cancelled.jobs.every((j) => j.status === 'CANCELLED'));
    const pending = JobListResponseSchema.parse((await api(cfg, token, 'GET', `/v1/jobs?projectId=${cfg.projectId}&status=PENDING&kind=document.process&createdAfter=${encodeURIComponent(since)}`)).json);
    assert.deepEqual(pending.jobs.map((j) => j.id).filter((id) => made.includes(id)), made.slice(1).reverse());
    assert.ok(pending.jobs.every((j) => j.status === 'PENDING' && j.kind === 'document.process'));
    const before = JobListResponseSchema.parse((await api(cfg, token, 'GET', `/v1/jobs?projectId=${cfg.projectId}&createdBefore=${encodeURIComponent(since)}&limit=100`)).json);
    assert.ok(!before.jobs.some((j) => made.includes(j.id)));
    // A viewer lists (members read); a non-member is refused; bad input is a 400, never a 500.
    assert.equal((await api(cfg, viewerToken, 'GET', `/v1/jobs?projectId=${cfg.projectId}&limit=1`)).status, 200);
    assert.equal((await api(cfg, outsiderToken, 'GET', `/v1/jobs?projectId=${cfg.projectId}`)).status, 403);
    assert.equal((await api(cfg, token, 'GET', `/v1/jobs?projectId=${cfg.projectId}&status=NOPE`)).status, 400);
    assert.equal((await api(cfg, token, 'GET', `/v1/jobs?projectId=${cfg.projectId}&pageToken=garbage`)).status, 400);
    assert.equal((await api(cfg, token, 'GET', `/v1/jobs?projectId=${cfg.projectId}&limit=1000`)).status, 400);
  });
});

