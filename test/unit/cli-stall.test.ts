/**
 * Clients are told when a job stalls: the stall watch on an injected clock, followJob's verdicts,
 * the options (`--stall-timeout`, SCRIPTORIUM_STALL_TIMEOUT / SCRIPTORIUM_STALL_WARN), and every
 * command that follows a job (`upload`, `job --follow`, `retry --follow`, `speak`,
 * `translate-video`, `reembed`) end to end against a fake api/storage server and a fake listener (or
 * fake reads) whose job stops moving: the "stalled: no progress" lines, STALLED in --json, exit 1.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { LocalConfig } from '../../emulators/local-config.js';
import { parseUploadArgs } from '../../scripts/cli/commands/upload.js';
import { LONG_FOLLOW_TIMEOUT_MS, optionalFollowSettings, parseFollowSettings, STALLED_STATUS, stalledMessage } from '../../scripts/cli/job-follow.js';
import { followJob, progressFingerprint, StallWatch, type FollowOutcome } from '../../scripts/cli/follow.js';
import { UsageError, type CliContext } from '../../scripts/cli/io.js';
import { toJobView, type JobView } from '../../scripts/cli/job-view.js';
import { main } from '../../scripts/cli/main.js';
import { formatStalled, renderJobProgress } from '../../scripts/cli/progress.js';
import { ApiClient, type Session, type SessionFactory } from '../../scripts/cli/session.js';
import { problemBody } from '../../shared/http/problem.js';

const job = (data: Record<string, unknown>, id = 'j1'): JobView => toJobView(id, data);

describe('StallWatch (injected clock)', () => {
  it('is stalled after the warning threshold, reports each multiple once, times out at the limit', () => {
    let now = 1_000_000;
    const w = new StallWatch(60_000, 600_000, () => now);
    w.observe(job({ status: 'RUNNING', stage: 'ocr', progress: 10 }));
    now += 59_999;
    assert.deepEqual(w.check(), { kind: 'ok', idleMs: 59_999 });
    now += 1;
    assert.deepEqual(w.check(), { kind: 'stalled', idleMs: 60_000, report: true });
    now += 1000;
    assert.deepEqual(w.check(), { kind: 'stalled', idleMs: 61_000, report: false }, 'redraw, no new line');
    now += 59_000;
    assert.deepEqual(w.check(), { kind: 'stalled', idleMs: 120_000, report: true }, 'a line again at 2 × the threshold');
    now += 479_999;
    assert.equal(w.check().kind, 'stalled');
    now += 1;
    assert.deepEqual(w.check(), { kind: 'timeout', idleMs: 600_000 });
  });

  it('counts from its creation when the job never reports anything', () => {
    let now = 0;
    const w = new StallWatch(1000, 5000, () => now);
    now = 5000;
    assert.equal(w.check().kind, 'timeout');
  });

  it('restarts the count on progress, and says how long the reported stall lasted', () => {
    let now = 0;
    const w = new StallWatch(60_000, 600_000, () => now);
    assert.deepEqual(w.observe(job({ status: 'RUNNING', progress: 10 })), { progressed: true, resumedAfterMs: null });
    now = 30_000;
    // The same data again (a listener re-delivery) is not progress.
    assert.deepEqual(w.observe(job({ status: 'RUNNING', progress: 10 })), { progressed: false, resumedAfterMs: null });
    now = 90_000;
    assert.equal(w.check().kind, 'stalled');
    assert.deepEqual(w.observe(job({ status: 'RUNNING', progress: 11 })), { progressed: true, resumedAfterMs: 90_000 });
    assert.deepEqual(w.check(), { kind: 'ok', idleMs: 0 });
    now = 100_000;
    // Progress without a reported stall before it: no "progress again" line.
    assert.deepEqual(w.observe(job({ status: 'RUNNING', progress: 12 })), { progressed: true, resumedAfterMs: null });
  });

  it('never times out with a 0 limit, and never warns with a 0 threshold', () => {
    let now = 0;
    const noLimit = new StallWatch(1000, 0, () => now);
    now = 10 ** 9;
    assert.equal(noLimit.check().kind, 'stalled');
    const silent = new StallWatch(0, 5000, () => now);
    now += 4999;
    assert.equal(silent.check().kind, 'ok');
  });
});

describe('progressFingerprint', () => {
  const base = { status: 'RUNNING', stage: 'ocr', progress: 40, attempts: 1, updatedAt: '2025-01-01T00:00:00.000Z' };
  it('changes with status, stage, progress, attempts and updatedAt', () => {
    const fp = progressFingerprint(job(base));
    for (const change of [{ status: 'COMPLETED' }, { stage: 'embed' }, { progress: 41 }, { attempts: 2 }, { updatedAt: '2025-01-01T00:00:01.000Z' }]) {
      assert.notEqual(progressFingerprint(job({ ...base, ...change })), fp, JSON.stringify(change));
    }
  });

  it('counts a renewed stage lease (a heartbeat) and stage progress, not unrelated fields', () => {
    const withLease = (expiresAt: string, progress = 10) => job({ ...base, stages: { ocr: { status: 'RUNNING', progress, attempts: 1, lease: { id: 'l', messageId: 'm', expiresAt } } } });
    const a = progressFingerprint(withLease('2025-01-01T00:02:00.000Z'));
    assert.notEqual(progressFingerprint(withLease('2025-01-01T00:02:30.000Z')), a, 'heartbeat');
    assert.notEqual(progressFingerprint(withLease('2025-01-01T00:02:00.000Z', 20)), a, 'stage progress');
    assert.equal(progressFingerprint(job({ ...base, stages: { ocr: { status: 'RUNNING', progress: 10, attempts: 1, lease: { id: 'l', messageId: 'm', expiresAt: '2025-01-01T00:02:00.000Z' } } }, result: { x: 1 } })), a);
  });
});

/** A listener that delivers `updates` (then nothing), and a clock the test moves. */
function stuckSession(updates: Record<string, unknown>[]): { session: Pick<Session, 'watchJob'>; unsubscribed: () => number } {
  let unsubscribed = 0;
  return {
    session: {
      watchJob(jobId, onChange) {
        queueMicrotask(() => {
          for (const u of updates) onChange(toJobView(jobId, u));
        });
        return () => {
          unsubscribed += 1;
        };
      },
    },
    unsubscribed: () => unsubscribed,
  };
}

describe('followJob stall detection', () => {
  it('reports the stall on the injected clock and gives up with `stalled`', async () => {
    let now = 0;
    const { session, unsubscribed } = stuckSession([{ status: 'RUNNING', stage: 'ocr', progress: 10 }]);
    const stalls: { idleMs: number; report: boolean }[] = [];
    const pending = followJob(session, 'j1', 60_000, () => {}, {
      warnAfterMs: 60_000,
      timeoutMs: 600_000,
      tickMs: 5,
      clock: () => now,
      onStalled: (idleMs, report) => stalls.push({ idleMs, report }),
    });
    await new Promise((r) => setTimeout(r, 20));
    now = 61_000;
    await new Promise((r) => setTimeout(r, 20));
    assert.ok(stalls.length >= 1 && stalls[0]?.report === true && stalls[0].idleMs === 61_000, JSON.stringify(stalls));
    assert.equal(stalls.filter((s) => s.report).length, 1, 'one line per threshold');
    now = 600_000;
    const outcome: FollowOutcome = await pending;
    assert.equal(outcome.kind, 'stalled');
    assert.ok(outcome.kind === 'stalled' && outcome.idleMs === 600_000 && outcome.last?.stage === 'ocr');
    assert.equal(unsubscribed(), 1);
  });

  it('prefers `stalled` over `timeout` when both are due, and says `timeout` for a moving job', async () => {
    const stuck = stuckSession([{ status: 'RUNNING', progress: 10 }]);
    const both = await followJob(stuck.session, 'j1', 100, () => {}, { warnAfterMs: 50, timeoutMs: 100, tickMs: 1000 });
    assert.equal(both.kind, 'stalled');

    let progress = 0;
    const moving: Pick<Session, 'watchJob'> = {
      watchJob(jobId, onChange) {
        const t = setInterval(() => onChange(toJobView(jobId, { status: 'RUNNING', progress: ++progress })), 10);
        return () => clearInterval(t);
      },
    };
    const slow = await followJob(moving, 'j1', 150, () => {}, { warnAfterMs: 50, timeoutMs: 100 });
    assert.equal(slow.kind, 'timeout');
  });

  it('never gives up for lack of progress with a 0 stall timeout', async () => {
    const stuck = stuckSession([{ status: 'RUNNING', progress: 10 }]);
    const stalls: number[] = [];
    const outcome = await followJob(stuck.session, 'j1', 200, () => {}, { warnAfterMs: 30, timeoutMs: 0, onStalled: (ms) => stalls.push(ms) });
    assert.equal(outcome.kind, 'timeout');
    assert.ok(stalls.length > 0, 'the warning still shows');
  });
});

describe('stall options', () => {
  it('default to 600 s and a 60 s warning; the flag wins over the environment; 0 disables', () => {
    const d = parseUploadArgs(['a.pdf']);
    assert.equal(d?.stallTimeoutMs, 600_000);
    assert.equal(d?.stallWarnMs, 60_000);
    assert.equal(parseUploadArgs(['a.pdf', '--stall-timeout', '90'])?.stallTimeoutMs, 90_000);
    assert.equal(parseUploadArgs(['a.pdf', '--stall-timeout', '0'])?.stallTimeoutMs, 0);
    assert.equal(parseUploadArgs(['a.pdf'], { SCRIPTORIUM_STALL_TIMEOUT: '120' })?.stallTimeoutMs, 120_000);
    assert.equal(parseUploadArgs(['a.pdf', '--stall-timeout=30'], { SCRIPTORIUM_STALL_TIMEOUT: '120' })?.stallTimeoutMs, 30_000);
    assert.equal(parseUploadArgs(['a.pdf'], { SCRIPTORIUM_STALL_WARN: '15' })?.stallWarnMs, 15_000);
    assert.equal(parseUploadArgs(['a.pdf'], { SCRIPTORIUM_STALL_TIMEOUT: '' })?.stallTimeoutMs, 600_000, 'empty means unset');
  });

  it('are the same for job --follow and retry --follow, which take them only with --follow', () => {
    assert.equal(optionalFollowSettings({}, { SCRIPTORIUM_STALL_TIMEOUT: '120' }), null);
    assert.deepEqual(optionalFollowSettings({ follow: true }, {}), { timeoutMs: 600_000, stallTimeoutMs: 600_000, stallWarnMs: 60_000 });
    assert.deepEqual(optionalFollowSettings({ follow: true, timeout: '30' }, { SCRIPTORIUM_STALL_TIMEOUT: '120', SCRIPTORIUM_STALL_WARN: '15' }), { timeoutMs: 30_000, stallTimeoutMs: 120_000, stallWarnMs: 15_000 });
    assert.equal(optionalFollowSettings({ follow: true, 'stall-timeout': '0' }, { SCRIPTORIUM_STALL_TIMEOUT: '120' })?.stallTimeoutMs, 0);
    assert.throws(() => optionalFollowSettings({ 'stall-timeout': '3' }, {}), (e: unknown) => e instanceof UsageError && e.message === '--stall-timeout needs --follow');
    assert.throws(() => optionalFollowSettings({ timeout: '3' }, {}), (e: unknown) => e instanceof UsageError && e.message === '--timeout needs --follow');
    // upload parses its options with the same function: one set of defaults.
    const { timeoutMs, stallTimeoutMs, stallWarnMs } = parseUploadArgs(['a.pdf', '--stall-timeout', '7'], { SCRIPTORIUM_STALL_WARN: '2' }) ?? {};
    assert.deepEqual({ timeoutMs, stallTimeoutMs, stallWarnMs }, parseFollowSettings({ 'stall-timeout': '7' }, { SCRIPTORIUM_STALL_WARN: '2' }));
  });

  it('speak, translate-video and reembed: the same settings, with their own longer default --timeout', () => {
    assert.deepEqual(parseFollowSettings({}, { SCRIPTORIUM_STALL_TIMEOUT: '120', SCRIPTORIUM_STALL_WARN: '15' }, LONG_FOLLOW_TIMEOUT_MS), { timeoutMs: 1_800_000, stallTimeoutMs: 120_000, stallWarnMs: 15_000 });
    assert.equal(parseFollowSettings({ timeout: '30' }, {}, LONG_FOLLOW_TIMEOUT_MS).timeoutMs, 30_000, 'the flag wins over the default');
  });

  it('refuses what is not a number of seconds', () => {
    assert.throws(() => parseUploadArgs(['a.pdf', '--stall-timeout=-1']), (e: unknown) => e instanceof UsageError && /--stall-timeout must be a number of seconds \(0 to disable\)/.test(e.message));
    assert.throws(() => parseUploadArgs(['a.pdf', '--stall-timeout', 'soon']), UsageError);
    assert.throws(() => parseUploadArgs(['a.pdf'], { SCRIPTORIUM_STALL_TIMEOUT: '10m' }), /SCRIPTORIUM_STALL_TIMEOUT must be a number of seconds/);
  });

  it('formats the stall for lines, bars and the final error', () => {
    assert.equal(formatStalled(75_400), 'stalled: no progress for 75 s');
    assert.equal(formatStalled(2500), 'stalled: no progress for 2.5 s');
    assert.match(renderJobProgress({ jobId: 'j1', status: 'RUNNING', stage: 'ocr', progress: 10, columns: 100, note: formatStalled(75_000) }), /10% {2}stalled: no progress for 75 s$/);
    const msg = stalledMessage('j1', 600_000, job({ status: 'RUNNING', stage: 'ocr', progress: 10, updatedAt: '2025-01-01T00:00:00.000Z' }));
    assert.match(msg, /^job j1 stalled: no progress for 600 s \(last seen: RUNNING, ocr, 10%, last updated 2025-01-01T00:00:00\.000Z\); stopped waiting/);
    assert.match(msg, /scriptorium job j1$/);
  });
});

// ---- `scriptorium upload` end to end, against a fake api/storage server ----

class Capture {
  text = '';
  constructor(readonly isTTY = false) {}
  readonly columns = 100;
  write(s: string): boolean {
    this.text += s;
    return true;
  }
}

const tmp = mkdtempSync(path.join(tmpdir(), 'scriptorium-stall-test-'));
const fileA = path.join(tmp, 'a.pdf');
const fileB = path.join(tmp, 'b.pdf');
writeFileSync(fileA, Buffer.alloc(1000, 1));
writeFileSync(fileB, Buffer.alloc(2000, 2));
let server: http.Server;
let base = '';
let configFile = '';
let created = 0;
/** Job id per uploaded file name, in the order of the create-upload requests. */
const jobFiles = new Map<string, string>();
/** The job ids `POST /v1/reembed` answers with. */
let reembedJobs: string[] = [];

before(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const json = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      if (req.method === 'POST' && req.url === '/api/v1/uploads') {
        const request = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { fileName: string; contentType: string; size: number };
        created += 1;
        jobFiles.set(`job${created}`, request.fileName);
        return json(201, {
          documentId: `doc${created}`,
          jobId: `job${created}`,
          uploadUrl: `${base}/storage/b/o${created}`,
          method: 'PUT',
          headers: { 'content-type': request.contentType, 'x-goog-content-length-range': `${request.size},${request.size}` },
          expiresAt: '2030-01-01T00:00:00.000Z',
          bucket: 'b',
          object: `o${created}`,
        });
      }
      if (req.method === 'POST' && req.url === '/api/v1/jobs') {
        // A speech job (`speak`): scripted under the name 'speech'.
        created += 1;
        jobFiles.set(`job${created}`, 'speech');
        return json(201, { jobId: `job${created}`, kind: 'tts.synthesize', status: 'PENDING', created: true });
      }
      if (req.method === 'POST' && req.url === '/api/v1/reembed') {
        return json(202, { model: 'local/hash-384', jobs: reembedJobs.map((jobId, i) => ({ documentId: `doc_${String(i).padStart(20, '0')}`, jobId, version: 1 })), skipped: [] });
      }
      if (req.method === 'PUT') return json(200, {});
      return json(404, problemBody(404, 'NOT_FOUND', req.url ?? ''));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const config: LocalConfig = {
    projectId: 'demo-project',
    gcpProjectId: 'demo-scriptorium',
    bucket: 'b',
    apiUrl: `${base}/api`,
    firestoreEmulatorHost: new URL(base).host,
    pubsubEmulatorHost: new URL(base).host,
    authEmulatorHost: new URL(base).host,
    storageEmulatorHost: new URL(base).host,
    functions: { api: `${base}/api` },
    demoUser: { email: 'demo@example.com', password: 'pw', uid: 'u1' },
    signingKeyFile: '/dev/null',
    logsDir: tmp,
    pgids: {},
    startedAt: new Date().toISOString(),
  };
  configFile = path.join(tmp, 'local.json');
  writeFileSync(configFile, JSON.stringify(config));
});

after(() => {
  server.close();
  rmSync(tmp, { recursive: true, force: true });
});

/** Per file name: the updates delivered at the given delays (ms after the listener opens). */
type Script = Record<string, [number, Record<string, unknown>][]>;

function fakeSession(script: Script): SessionFactory {
  return (cfg: LocalConfig) =>
    Promise.resolve({
      config: cfg,
      userEmail: cfg.demoUser.email,
      api: new ApiClient(cfg.apiUrl, () => Promise.resolve('fake-token')),
      watchJob(jobId: string, onChange: (job: JobView | null) => void) {
        const timers = (script[jobFiles.get(jobId) ?? ''] ?? []).map(([at, data]) => setTimeout(() => onChange(toJobView(jobId, data)), at));
        return () => timers.forEach((t) => clearTimeout(t));
      },
      getJob: () => Promise.resolve(null),
      getDocument: () => Promise.resolve(null),
      close: () => Promise.resolve(),
    });
}

async function upload(argv: string[], script: Script, env: Record<string, string>, tty = false) {
  const stdout = new Capture();
  const stderr = new Capture(tty);
  const code = await main({ argv: ['upload', ...argv, '--config', configFile], stdout, stderr, env, openSession: fakeSession(script) });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

describe('scriptorium upload and a stalled job', () => {
  const stuckAt10 = [[0, { status: 'RUNNING', stage: 'ocr', progress: 10, updatedAt: '2025-01-01T00:00:00.000Z' }]] as [number, Record<string, unknown>][];

  it('--json: status STALLED with an error, exit 1, the stall shown on stderr first', async () => {
    const started = Date.now();
    const r = await upload([fileA, '--json', '--stall-timeout', '0.6'], { 'a.pdf': stuckAt10 }, { SCRIPTORIUM_STALL_WARN: '0.2' });
    const took = Date.now() - started;
    assert.equal(r.code, 1, r.stderr);
    const out = JSON.parse(r.stdout) as { status: string; jobId: string; error: { code: string; message: string } };
    assert.equal(out.status, STALLED_STATUS);
    assert.equal(out.jobId, 'job1');
    assert.equal(out.error.code, 'STALLED');
    // Timings vary with the machine's load by a tick or two: the text is what matters.
    assert.match(out.error.message, /job job1 stalled: no progress for \d\.\d s \(last seen: RUNNING, ocr, 10%/);
    const lines = r.stderr.match(/^job job1: stalled: no progress for \d\.\d s \(last seen: RUNNING, ocr, 10%\)$/gm) ?? [];
    // At 0.2 s and normally again at 0.4 s (the repeat is pinned down on the injected clock above).
    assert.ok(lines.length >= 1 && lines.length <= 2, r.stderr);
    assert.match(r.stderr, /error: job job1 stalled/);
    assert.ok(took < 3000, `gave up after ${took} ms`);
  });

  it('a stall that ends is reported, and the job completes (exit 0)', async () => {
    const r = await upload([fileA, '--stall-timeout', '5'], { 'a.pdf': [...stuckAt10, [400, { status: 'RUNNING', stage: 'ocr', progress: 60 }], [450, { status: 'COMPLETED', stage: 'done', progress: 100 }]] }, { SCRIPTORIUM_STALL_WARN: '0.2' });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /job job2: stalled: no progress for \d\.\d s/);
    assert.match(r.stderr, /job job2: moving again after 0\.\d s without progress/);
    assert.match(r.stdout, /^status +COMPLETED$/m);
  });

  it('draws the stall on the progress line of a terminal', async () => {
    const r = await upload([fileA, '--stall-timeout', '0.5'], { 'a.pdf': stuckAt10 }, { SCRIPTORIUM_STALL_WARN: '0.2' }, true);
    assert.equal(r.code, 1);
    // Redrawn in place: carriage return, the line, clear to its end (ESC [ K).
    assert.ok(/\rjob job3 RUNNING +ocr +\[#*-+\] +10% {2}stalled: no progress for \d\.\d s/.test(r.stderr), JSON.stringify(r.stderr));
    assert.ok(r.stderr.split('\u001b[K').some((part) => /stalled: no progress for \d\.\d s$/.test(part)), JSON.stringify(r.stderr));
    assert.match(r.stdout, /^status +STALLED$/m);
  });

  it('a batch: the stalled file is STALLED in the JSON array, the others unaffected', async () => {
    const r = await upload(
      [fileA, fileB, '--json', '--stall-timeout', '0.5'],
      { 'a.pdf': stuckAt10, 'b.pdf': [[50, { status: 'COMPLETED', stage: 'done', progress: 100 }]] },
      { SCRIPTORIUM_STALL_WARN: '0.2' },
    );
    assert.equal(r.code, 1);
    const out = JSON.parse(r.stdout) as { file: string; status: string; error: { code: string } | null }[];
    assert.deepEqual(
      out.map((e) => [path.basename(e.file), e.status, e.error?.code ?? null]),
      [
        ['a.pdf', 'STALLED', 'STALLED'],
        ['b.pdf', 'COMPLETED', null],
      ],
    );
    assert.match(r.stderr, /a\.pdf: job job\d+ stalled: no progress for \d\.\d s/);
    assert.match(r.stderr, /2 files: 1 COMPLETED, 1 STALLED/);
  });

  it('--stall-timeout 0: waits for the overall --timeout instead', async () => {
    const r = await upload([fileA, '--json', '--stall-timeout', '0', '--timeout', '0.5'], { 'a.pdf': stuckAt10 }, { SCRIPTORIUM_STALL_WARN: '0.2' });
    assert.equal(r.code, 1);
    const out = JSON.parse(r.stdout) as { status: string; error: { code: string } };
    assert.equal(out.status, 'ERROR');
    assert.equal(out.error.code, 'TIMEOUT');
    assert.match(r.stderr, /stalled: no progress for \d\.\d s/, 'the warning is still shown');
  });
});

// ---- `scriptorium job --follow` and `retry --follow` on a job that stops moving ----

/** A session whose job `stuck` is read as `data` and delivered once to the listener, then never changes. */
function stuckJobSession(data: Record<string, unknown>, seen: { watching: string[]; unsubscribed: number }): SessionFactory {
  return (cfg: LocalConfig) =>
    Promise.resolve({
      config: cfg,
      userEmail: cfg.demoUser.email,
      api: new ApiClient(cfg.apiUrl, () => Promise.resolve('fake-token')),
      watchJob(jobId: string, onChange: (job: JobView | null) => void) {
        seen.watching.push(jobId);
        const timer = setTimeout(() => onChange(toJobView(jobId, data)), 0);
        return () => {
          clearTimeout(timer);
          seen.unsubscribed += 1;
        };
      },
      getJob: (jobId: string) => Promise.resolve(toJobView(jobId, data)),
      getDocument: () => Promise.resolve(null),
      close: () => Promise.resolve(),
    } satisfies Session);
}

async function cli(argv: string[], openSession: CliContext['openSession'], env: Record<string, string>, tty = false) {
  const stdout = new Capture();
  const stderr = new Capture(tty);
  const code = await main({ argv: [...argv, '--config', configFile], stdout, stderr, env, openSession });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

describe('scriptorium job --follow and a stalled job', () => {
  const pending = { status: 'PENDING', stage: 'upload', progress: 0, updatedAt: '2025-01-01T00:00:00.000Z' };

  it('--json: exit 1, {jobId, status STALLED, error, job}, the stall shown on stderr first', async () => {
    const seen = { watching: [] as string[], unsubscribed: 0 };
    const started = Date.now();
    const r = await cli(['job', 'job9', '--follow', '--json', '--stall-timeout', '0.6'], stuckJobSession(pending, seen), { SCRIPTORIUM_STALL_WARN: '0.2' });
    assert.equal(r.code, 1, r.stderr);
    const out = JSON.parse(r.stdout) as { jobId: string; status: string; error: { code: string; message: string }; job: { id: string; status: string } };
    assert.equal(out.jobId, 'job9');
    assert.equal(out.status, STALLED_STATUS);
    assert.equal(out.error.code, 'STALLED');
    assert.match(out.error.message, /^job job9 stalled: no progress for \d\.\d s \(last seen: PENDING, upload, 0%, last updated 2025-01-01T00:00:00\.000Z\); stopped waiting/);
    assert.deepEqual([out.job.id, out.job.status], ['job9', 'PENDING'], 'the job as last seen: the CLI did not change it');
    assert.match(r.stderr, /^job job9: stalled: no progress for \d\.\d s \(last seen: PENDING, upload, 0%\)$/m);
    assert.match(r.stderr, /^error: job job9 stalled: no progress/m);
    assert.deepEqual(seen, { watching: ['job9'], unsubscribed: 1 });
    assert.ok(Date.now() - started < 3000, 'gave up at the stall timeout, not the overall one');
  });

  it('without --json: the last state seen on stdout, the stall on stderr; $SCRIPTORIUM_STALL_TIMEOUT applies', async () => {
    const r = await cli(['job', 'job9', '--follow'], stuckJobSession(pending, { watching: [], unsubscribed: 0 }), { SCRIPTORIUM_STALL_TIMEOUT: '0.5', SCRIPTORIUM_STALL_WARN: '0.2' });
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^status +PENDING$/m);
    assert.match(r.stderr, /^error: job job9 stalled: no progress for \d\.\d s/m);
  });

  it('draws the stall on the progress line of a terminal', async () => {
    const r = await cli(['job', 'job9', '--follow', '--stall-timeout', '0.5'], stuckJobSession({ ...pending, status: 'RUNNING', stage: 'ocr', progress: 10 }, { watching: [], unsubscribed: 0 }), { SCRIPTORIUM_STALL_WARN: '0.2' }, true);
    assert.equal(r.code, 1);
    assert.ok(/\rjob job9 RUNNING +ocr +\[#*-+\] +10% {2}stalled: no progress for \d\.\d s/.test(r.stderr), JSON.stringify(r.stderr));
  });

  it('retry --follow: the new job stalls the same way', async () => {
    const oldId = 'job_00000000000000000003';
    const newId = 'job_00000000000000000004';
    const api = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        if (req.method === 'POST' && req.url === `/api/v1/jobs/${oldId}/retry`) res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ jobId: newId, retryOf: oldId, created: true, status: 'RUNNING' }));
        else res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify(problemBody(404, 'NOT_FOUND', req.url ?? '')));
      });
    });
    await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
    try {
      const seen = { watching: [] as string[], unsubscribed: 0 };
      const base = `http://127.0.0.1:${(api.address() as AddressInfo).port}/api`;
      const open: CliContext['openSession'] = async (cfg) => ({ ...(await stuckJobSession({ status: 'RUNNING', stage: 'ocr', progress: 0, retryOf: oldId }, seen)(cfg)), api: new ApiClient(base, () => Promise.resolve('fake-token')) });
      const r = await cli(['retry', oldId, '--follow', '--json', '--stall-timeout', '0.5'], open, { SCRIPTORIUM_STALL_WARN: '0.2' });
      assert.equal(r.code, 1, r.stderr);
      const out = JSON.parse(r.stdout) as { jobId: string; status: string; job: { retryOf: string } };
      assert.deepEqual([out.jobId, out.status, out.job.retryOf], [newId, 'STALLED', oldId]);
      assert.deepEqual(seen.watching, [newId]);
      assert.match(r.stderr, new RegExp(`^${newId} retries ${oldId} \\(RUNNING\\); following it$`, 'm'));
    } finally {
      api.close();
    }
  });
});

// ---- `speak`, `translate-video` and `reembed` on a job that stops moving ----

/** The session of {@link fakeSession}, whose `getJob` reads the scripted job as it is `ms` after the first read (for reembed, which polls). */
function pollingSession(states: Record<string, (ms: number) => Record<string, unknown> | null>, reads: string[] = []): SessionFactory {
  let first: number | null = null;
  return async (cfg: LocalConfig) => ({
    ...(await fakeSession({})(cfg)),
    getJob: (jobId: string) => {
      reads.push(jobId);
      first ??= Date.now();
      const data = states[jobId]?.(Date.now() - first) ?? null;
      return Promise.resolve(data === null ? null : toJobView(jobId, data));
    },
  });
}

describe('scriptorium speak and a stalled job', () => {
  const stuck = [[0, { status: 'RUNNING', stage: 'synthesize', progress: 10, updatedAt: '2025-01-01T00:00:00.000Z' }]] as [number, Record<string, unknown>][];

  it('--json: status STALLED with the message, exit 1, the stall line on stderr, no file', async () => {
    const out = path.join(tmp, 'speak-stalled.mp3');
    const started = Date.now();
    const r = await cli(['speak', 'Good morning.', '--out', out, '--json', '--stall-timeout', '0.6'], fakeSession({ speech: stuck }), { SCRIPTORIUM_STALL_WARN: '0.2' });
    assert.equal(r.code, 1, r.stderr);
    const json = JSON.parse(r.stdout) as { jobId: string; status: string; out: string | null; error: { code: string; message: string } };
    assert.equal(json.status, STALLED_STATUS);
    assert.equal(json.out, null);
    assert.equal(json.error.code, 'STALLED');
    assert.match(json.error.message, new RegExp(`^job ${json.jobId} stalled: no progress for \\d\\.\\d s \\(last seen: RUNNING, synthesize, 10%, last updated 2025-01-01T00:00:00\\.000Z\\); stopped waiting \\(--stall-timeout\\)`));
    assert.match(r.stderr, new RegExp(`^job ${json.jobId}: stalled: no progress for \\d\\.\\d s \\(last seen: RUNNING, synthesize, 10%\\)$`, 'm'));
    assert.match(r.stderr, new RegExp(`^error: job ${json.jobId} stalled: no progress`, 'm'));
    assert.equal(existsSync(out), false);
    assert.ok(Date.now() - started < 3000, 'gave up at the stall timeout, not the 1800 s --timeout');
  });

  it('without --json: its own progress line, then the stall; $SCRIPTORIUM_STALL_TIMEOUT applies', async () => {
    const r = await cli(['speak', 'Good morning.', '--out', path.join(tmp, 'speak-env.mp3')], fakeSession({ speech: stuck }), { SCRIPTORIUM_STALL_TIMEOUT: '0.5', SCRIPTORIUM_STALL_WARN: '0.2' });
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stdout, '');
    // The bar line speak always printed without a terminal is kept.
    assert.match(r.stderr, /^job job\d+ RUNNING +synthesize +\[#*-+\] +10%$/m);
    assert.match(r.stderr, /^job job\d+: stalled: no progress for \d\.\d s \(last seen: RUNNING, synthesize, 10%\)$/m);
    assert.match(r.stderr, /^error: job job\d+ stalled: no progress for \d\.\d s/m);
  });

  it('a job that FAILED is reported as before: its line on stderr, or its error in the JSON; exit 1, no file', async () => {
    const failed = [[0, { status: 'FAILED', stage: 'synthesize', progress: 10, error: { code: 'INVALID_SSML', message: 'unclosed <p>', retryable: false } }]] as [number, Record<string, unknown>][];
    const out = path.join(tmp, 'speak-failed.mp3');
    const text = await cli(['speak', 'Hello.', '--out', out], fakeSession({ speech: failed }), {});
    assert.equal(text.code, 1, text.stderr);
    assert.match(text.stderr, /^job job\d+ FAILED: INVALID_SSML: unclosed <p> \(not retryable\)$/m);
    assert.doesNotMatch(text.stderr, /^error:/m);
    const json = await cli(['speak', 'Hello.', '--out', out, '--json'], fakeSession({ speech: failed }), {});
    assert.equal(json.code, 1, json.stderr);
    const { jobId, ...rest } = JSON.parse(json.stdout) as { jobId: string };
    assert.match(jobId, /^job\d+$/);
    assert.deepEqual(rest, { status: 'FAILED', out: null, result: null, error: { code: 'INVALID_SSML', message: 'unclosed <p>' }, metrics: null });
    assert.equal(existsSync(out), false);
  });

  it('draws the stall on the progress line of a terminal', async () => {
    const r = await cli(['speak', 'Good morning.', '--out', path.join(tmp, 'speak-tty.mp3'), '--stall-timeout', '0.5'], fakeSession({ speech: stuck }), { SCRIPTORIUM_STALL_WARN: '0.2' }, true);
    assert.equal(r.code, 1);
    assert.ok(/\rjob job\d+ RUNNING +synthesize +\[#*-+\] +10% {2}stalled: no progress for \d\.\d s/.test(r.stderr), JSON.stringify(r.stderr));
  });
});

describe('scriptorium translate-video and a stalled job', () => {
  const clip = path.join(tmp, 'clip.mp4');
  writeFileSync(clip, Buffer.alloc(3000, 3));
  const stuck = [
    [0, { status: 'RUNNING', stage: 'transcribe', progress: 5 }],
    [20, { status: 'RUNNING', stage: 'transcribe', progress: 40, updatedAt: '2025-01-01T00:00:00.000Z' }],
  ] as [number, Record<string, unknown>][];

  it('--json: the ids with status STALLED, exit 1, the stall line on stderr, no file written', async () => {
    const outDir = path.join(tmp, 'tv-json');
    const r = await cli(['translate-video', clip, '--to', 'es', '--out', outDir, '--json', '--stall-timeout', '0.6'], fakeSession({ 'clip.mp4': stuck }), { SCRIPTORIUM_STALL_WARN: '0.2' });
    assert.equal(r.code, 1, r.stderr);
    const out = JSON.parse(r.stdout) as { documentId: string; jobId: string; to: string; status: string; error: { code: string; message: string } };
    assert.deepEqual([out.to, out.status, out.error.code], ['es', STALLED_STATUS, 'STALLED']);
    assert.match(out.documentId, /^doc\d+$/);
    assert.match(out.error.message, new RegExp(`^job ${out.jobId} stalled: no progress for \\d\\.\\d s \\(last seen: RUNNING, transcribe, 40%`));
    // The stall is shown with --json too (on stderr); the progress lines are not.
    assert.match(r.stderr, new RegExp(`^job ${out.jobId}: stalled: no progress for \\d\\.\\d s \\(last seen: RUNNING, transcribe, 40%\\)$`, 'm'));
    assert.doesNotMatch(r.stderr, /^RUNNING transcribe/m);
    assert.match(r.stderr, new RegExp(`^error: job ${out.jobId} stalled: no progress`, 'm'));
    assert.equal(existsSync(outDir), false, 'the files are written only after COMPLETED');
  });

  it('a job that FAILED: the ids, status and error as before, exit 1, no file written', async () => {
    const outDir = path.join(tmp, 'tv-failed');
    const error = { code: 'NO_SPEECH', message: 'nothing was recognised', retryable: false };
    const r = await cli(['translate-video', clip, '--to', 'es', '--out', outDir, '--json'], fakeSession({ 'clip.mp4': [[0, { status: 'FAILED', stage: 'transcribe', progress: 30, error }]] }), {});
    assert.equal(r.code, 1, r.stderr);
    const out = JSON.parse(r.stdout) as { jobId: string; status: string; error: unknown };
    assert.deepEqual([out.status, out.error], ['FAILED', error]);
    assert.match(r.stderr, /^error: job FAILED: NO_SPEECH: nothing was recognised$/m);
    assert.equal(existsSync(outDir), false);
  });

  it('without --json: its progress lines, the stall line, and the error; $SCRIPTORIUM_STALL_TIMEOUT applies', async () => {
    const outDir = path.join(tmp, 'tv-text');
    const r = await cli(['translate-video', clip, '--to', 'es', '--out', outDir], fakeSession({ 'clip.mp4': stuck }), { SCRIPTORIUM_STALL_TIMEOUT: '0.5', SCRIPTORIUM_STALL_WARN: '0.2' });
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stdout, '');
    const lines = r.stderr.split('\n');
    assert.match(lines[0] ?? '', /^uploading .*clip\.mp4 \(3000 bytes\) as document doc\d+, job job\d+$/);
    assert.deepEqual(lines.slice(1, 3), ['RUNNING transcribe 5%', 'RUNNING transcribe 40%']);
    assert.match(r.stderr, /^job job\d+: stalled: no progress for \d\.\d s \(last seen: RUNNING, transcribe, 40%\)$/m);
    assert.match(r.stderr, /^error: job job\d+ stalled: no progress for \d\.\d s/m);
    assert.equal(existsSync(outDir), false);
  });
});

describe('scriptorium reembed and stalled jobs', () => {
  const ids = ['job_00000000000000000a01', 'job_00000000000000000a02'];
  const [a, b] = ids as [string, string];
  const stuckB = () => ({ status: 'RUNNING', stage: 'embed', progress: 30, updatedAt: '2025-01-01T00:00:00.000Z' });

  it('--json: a job done is reported as it ended, the one that stopped moving is named and STALLED; exit 1', async () => {
    reembedJobs = ids;
    const reads: string[] = [];
    const r = await cli(['reembed', '--json', '--stall-timeout', '0.6'], pollingSession({ [a]: (ms) => (ms < 100 ? { status: 'RUNNING', stage: 'embed', progress: 50 } : { status: 'COMPLETED', stage: 'done', progress: 100 }), [b]: stuckB }, reads), { SCRIPTORIUM_STALL_WARN: '0.2' });
    assert.equal(r.code, 1, r.stderr);
    const out = JSON.parse(r.stdout) as { jobs: { jobId: string; status: string; error: { code: string; message: string } | null }[] };
    assert.deepEqual(
      out.jobs.map((j) => [j.jobId, j.status, j.error?.code ?? null]),
      [
        [a, 'COMPLETED', null],
        [b, STALLED_STATUS, 'STALLED'],
      ],
    );
    assert.match(out.jobs[1]?.error?.message ?? '', new RegExp(`^job ${b} stalled: no progress for \\d\\.\\d s \\(last seen: RUNNING, embed, 30%, last updated 2025-01-01T00:00:00\\.000Z\\)`));
    assert.match(r.stderr, new RegExp(`^job ${b}: stalled: no progress for \\d\\.\\d s \\(last seen: RUNNING, embed, 30%\\)$`, 'm'));
    assert.doesNotMatch(r.stderr, new RegExp(`^job ${a}: stalled`, 'm'), 'the job that ended is not reported stalled');
    assert.match(r.stderr, /^re-embedding: 1\/2 jobs done, 65%$/m);
    assert.match(r.stderr, new RegExp(`^error: stopped waiting: the 1 unfinished job\\(s\\) made no progress for \\d\\.\\d s \\(--stall-timeout; 1 of 2 ended\\); they are STALLED, were not changed and may still finish: scriptorium job ${b}$`, 'm'));
    assert.ok(reads.filter((id) => id === a).length < reads.filter((id) => id === b).length, 'a job that ended is read no more');
  });

  it('waits while another job still moves, then gives up on the stalled one; a table without --json', async () => {
    reembedJobs = ids;
    const started = Date.now();
    // a moves at about every read for 1.2 s, then completes; b never moves: past its 0.5 s stall
    // timeout alone, it does not end the wait.
    const r = await cli(['reembed', '--stall-timeout', '0.5'], pollingSession({ [a]: (ms) => (ms < 1200 ? { status: 'RUNNING', stage: 'embed', progress: Math.floor(ms / 20) } : { status: 'COMPLETED', stage: 'done', progress: 100 }), [b]: stuckB }), { SCRIPTORIUM_STALL_WARN: '0.2' });
    const took = Date.now() - started;
    assert.equal(r.code, 1, r.stderr);
    assert.ok(took >= 1200, `waited for the moving job (${took} ms)`);
    assert.match(r.stdout, new RegExp(`^doc_\\d{20}  ${a}  COMPLETED$`, 'm'));
    assert.match(r.stdout, new RegExp(`^doc_\\d{20}  ${b}  STALLED  STALLED: job ${b} stalled: no progress`, 'm'));
    // Its warnings at 0.2 and 0.4 s, and a last one at the stall timeout, while a still moved.
    const stalls = (r.stderr.match(new RegExp(`^job ${b}: stalled: no progress for \\d\\.\\d s`, 'gm')) ?? []).map((l) => Number(/(\d\.\d) s$/.exec(l)?.[1]));
    assert.ok(stalls.length >= 2 && stalls.every((sec, i) => i === 0 || sec > (stalls[i - 1] ?? 0)), r.stderr);
    assert.ok((stalls.at(-1) ?? 0) >= 0.5 && (stalls.at(-1) ?? 0) < 1.2, r.stderr);
    assert.match(r.stderr, /^error: stopped waiting: the 1 unfinished job\(s\) made no progress/m);
  });

  it('--stall-timeout 0: the overall --timeout ends the wait, the jobs keep the status last seen', async () => {
    reembedJobs = ids;
    const r = await cli(['reembed', '--json', '--stall-timeout', '0', '--timeout', '0.4'], pollingSession({ [a]: stuckB, [b]: stuckB }), { SCRIPTORIUM_STALL_WARN: '0.1' });
    assert.equal(r.code, 1, r.stderr);
    const out = JSON.parse(r.stdout) as { jobs: { status: string }[] };
    assert.deepEqual(out.jobs.map((j) => j.status), ['RUNNING', 'RUNNING']);
    assert.match(r.stderr, /stalled: no progress for /, 'the warning is still shown');
    assert.doesNotMatch(r.stderr, /stopped waiting/);
  });
});
