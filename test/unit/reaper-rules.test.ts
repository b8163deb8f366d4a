import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { reaperDecision, uploadCheckDecision, DEFAULT_REAPER_SETTINGS, MAX_UPLOAD_REINGESTS } from '../../shared/jobs/reaper.js';
import { JobSchema, type Job } from '../../shared/jobs/model.js';

const NOW = new Date('2026-11-30T12:00:00.000Z');
const ago = (ms: number): string => new Date(NOW.getTime() - ms).toISOString();
const later = (ms: number): string => new Date(NOW.getTime() + ms).toISOString();

function job(over: Record<string, unknown> = {}, input: Record<string, unknown> = {}): Job {
  return JobSchema.parse({
    id: 'job_00000000000000000001', kind: 'document.process', projectId: 'demo', documentId: 'doc_00000000000000000001', ownerUid: 'u', agentId: null,
    status: 'RUNNING', stage: 'ocr', progress: 10, attempts: 1, createdAt: ago(3_600_000), startedAt: ago(3_600_000), updatedAt: ago(5_000), finishedAt: null, error: null,
    input: { bucket: 'b', object: 'uploads/demo/doc_00000000000000000001/a.pdf', fileName: 'a.pdf', contentType: 'application/pdf', declaredSize: 1, generation: '7', ...input },
    dispatchedStage: 'ocr', result: null, cancelRequested: false, retryOf: null, metrics: {}, logCount: 1, ...over,
  });
}
const stage = (over: Record<string, unknown> = {}) => ({ status: 'RUNNING', progress: 20, attempts: 1, lease: null, error: null, startedAt: ago(60_000), finishedAt: null, result: null, metrics: {}, announced: false, reapedAt: null, ...over });
const lease = (expiresAt: string) => ({ id: 'attempt-1', messageId: 'm1', expiresAt });

describe('reaper rules', () => {
  it('leaves a job alone while its attempt heartbeats (live lease), however long it runs', () => {
    assert.equal(reaperDecision(job({ updatedAt: ago(20_000), stages: { ocr: stage({ lease: lease(later(100_000)) }) } }), NOW).action, 'none');
  });

  it('re-dispatches a stage whose lease expired without a heartbeat', () => {
    const d = reaperDecision(job({ updatedAt: ago(150_000), stages: { ocr: stage({ lease: lease(ago(30_000)) }) } }), NOW);
    assert.equal(d.action, 'redispatch');
    assert.deepEqual(d.action === 'redispatch' ? d.stages : [], ['ocr']);
    assert.match(d.action === 'redispatch' ? d.why : '', /expired .* without a heartbeat/);
  });

  it('re-dispatches a stage without a lease only after longer than any redelivery waits (a lost message)', () => {
    const quietFor = (ms: number) => reaperDecision(job({ updatedAt: ago(ms), stages: { ocr: stage({ status: 'PENDING' }) } }), NOW).action;
    assert.equal(quietFor(5 * 60_000), 'none', 'Pub/Sub may still redeliver (backoff up to 10 min)');
    assert.equal(quietFor(DEFAULT_REAPER_SETTINGS.staleMs + 1000), 'redispatch');
  });

  it('re-dispatches both parallel stages when both are stuck, and not one the reaper re-dispatched lately', () => {
    const stuck = { ocr: stage({ status: 'COMPLETED', progress: 100 }), embed: stage({ lease: lease(ago(1000)) }), summarize: stage({ lease: lease(ago(1000)) }) };
    const d = reaperDecision(job({ updatedAt: ago(200_000), stages: stuck }), NOW);
    assert.deepEqual(d.action === 'redispatch' ? d.stages : [], ['embed', 'summarize']);
    const reaped = { ...stuck, embed: stage({ lease: lease(ago(1000)), reapedAt: ago(60_000) }) };
    const again = reaperDecision(job({ updatedAt: ago(200_000), stages: reaped }), NOW);
    assert.deepEqual(again.action === 'redispatch' ? again.stages : [], ['summarize']);
  });

  it('fails an upload awaited past its URL\'s expiry (after a grace), not before', () => {
    const pending = (expiresAt: string) => reaperDecision(job({ status: 'PENDING', stage: 'upload', stages: {} }, { generation: null, uploadExpiresAt: expiresAt }), NOW).action;
    assert.equal(pending(ago(10_000)), 'none', 'an upload finishing at the last second still arrives');
    assert.equal(pending(ago(DEFAULT_REAPER_SETTINGS.uploadGraceMs + 1000)), 'check-upload', 'the bucket is looked at first');
    assert.equal(pending(later(60_000)), 'none');
    const expired = job({ status: 'PENDING', stage: 'upload', stages: {} }, { generation: null, uploadExpiresAt: ago(DEFAULT_REAPER_SETTINGS.uploadGraceMs + 1000) });
    assert.equal(uploadCheckDecision(expired, null, NOW).action, 'expire-upload', 'no file in the bucket: it will never come');
    assert.equal(uploadCheckDecision({ ...expired, updatedAt: ago(3_600_000) }, { generation: '5', timeCreated: ago(600_000) }, NOW).action, 'reingest', 'the file is there: never failed for want of it');
  });

  it('looks for a PENDING job\'s upload when its look is due, then less and less often', () => {
    const pending = (checkAt: string | null, createdMs = 130_000) => job({ status: 'PENDING', stage: 'upload', stages: {}, createdAt: ago(createdMs), updatedAt: ago(createdMs) }, { generation: null, uploadExpiresAt: later(600_000), uploadCheckAt: checkAt });
    assert.equal(reaperDecision(pending(later(1000)), NOW).action, 'none');
    assert.equal(reaperDecision(pending(ago(1000)), NOW).action, 'check-upload');
    assert.equal(reaperDecision(pending(null), NOW).action, 'none', 'jobs from before the field: the expiry still catches them');
    const next = (createdMs: number): number => {
      const d = uploadCheckDecision(pending(ago(1), createdMs), null, NOW);
      assert.equal(d.action, 'wait');
      return d.action === 'wait' ? (Date.parse(d.nextCheckAt) - NOW.getTime()) / 60_000 : NaN;
    };
    assert.equal(next(130_000), 130_000 / 60_000, 'the interval grows with the job\'s age');
    assert.equal(next(60_000), DEFAULT_REAPER_SETTINGS.uploadCheckMs / 60_000, 'never shorter than the first look');
    assert.equal(next(5 * 3_600_000), DEFAULT_REAPER_SETTINGS.uploadCheckMaxMs / 60_000, 'never longer than the longest interval');
  });

  it('publishes a stored upload\'s notification again when ingest never took it, not while it may still', () => {
    const createdAt = ago(300_000);
    const pending = (updatedAt: string, reingests = 0) => job({ status: 'PENDING', stage: 'upload', stages: {}, createdAt, updatedAt }, { generation: null, uploadExpiresAt: later(600_000), uploadCheckAt: ago(1), uploadReingests: reingests });
    const stored = (msAgo: number) => ({ generation: '1764500000000001', timeCreated: ago(msAgo) });
    // Stored 10 s ago, the job untouched since its creation: ingest is probably taking it right now.
    const fresh = uploadCheckDecision(pending(createdAt), stored(10_000), NOW);
    assert.equal(fresh.action, 'wait');
    assert.equal(fresh.action === 'wait' ? fresh.nextCheckAt : '', later(DEFAULT_REAPER_SETTINGS.uploadSettleMs - 10_000));
    // Stored 2 min ago and still untouched: the notification was lost.
    const lost = uploadCheckDecision(pending(createdAt), stored(120_000), NOW);
    assert.equal(lost.action, 'reingest');
    assert.match(lost.action === 'reingest' ? lost.why : '', /ingest never took it/);
    // Ingest wrote to the job after the upload (a failed attempt it will retry): Pub/Sub redelivers; only a long silence is a loss.
    assert.equal(uploadCheckDecision(pending(ago(100_000)), stored(120_000), NOW).action, 'wait');
    assert.equal(uploadCheckDecision(pending(ago(DEFAULT_REAPER_SETTINGS.staleMs + 1000)), stored(DEFAULT_REAPER_SETTINGS.staleMs + 5000), NOW).action, 'reingest');
    // Bounded: after MAX_UPLOAD_REINGESTS notifications published again, the job fails.
    const spent = uploadCheckDecision(pending(createdAt, MAX_UPLOAD_REINGESTS), stored(120_000), NOW);
    assert.equal(spent.action, 'give-up');
  });

  it('announces a job that ended unannounced, once it has had time to announce itself', () => {
    const ended = (ms: number, announced: boolean) => reaperDecision(job({ status: 'FAILED', finishedAt: ago(ms), announced }), NOW).action;
    assert.equal(ended(5_000, false), 'none');
    assert.equal(ended(120_000, false), 'announce');
    assert.equal(ended(120_000, true), 'none');
  });

  it('never touches a terminal job\'s stages', () => {
    assert.equal(reaperDecision(job({ status: 'COMPLETED', announced: true, finishedAt: ago(900_000), stages: { ocr: stage({ lease: lease(ago(1000)) }) } }), NOW).action, 'none');
  });
});
