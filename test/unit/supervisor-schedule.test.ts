/**
 * The local stand-in for Cloud Scheduler (emulators/supervisor-schedule.ts): which cron forms the
 * timer takes, the SCRIPTORIUM_SCHEDULE_SECONDS override, and the timing rules of ScheduledCaller
 * on an injected clock (first call one period after ready, a fixed grid, never two calls in flight,
 * failures logged and survived, the deadline, stop); then the Supervisor calling a scheduled process
 * once it answers, the real POST against a local server, and the line `health` prints.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { ExitInfo, ManagedProcess, SpawnGroupOptions } from '../../emulators/processes.js';
import {
  localSchedule,
  parseLocalCron,
  parseScheduleOverride,
  postScheduled,
  ScheduledCaller,
  ScheduleError,
  type CallResult,
  type ScheduleSpec,
  type ScheduleTimers,
} from '../../emulators/supervisor-schedule.js';
import { Supervisor } from '../../emulators/supervisor.js';
import { formatScheduleLines, withSupervision } from '../../scripts/cli/commands/health.js';
import { topology, type FunctionDecl } from '../../shared/topology.js';

/** Lets pending promise callbacks (a call's `.then`) run. */
const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A clock the test moves: timers fire in order of their due time, each at exactly that time. */
function fakeClock(start = 0) {
  let now = start;
  const pending: { at: number; seq: number; fn: () => void; cancelled: boolean }[] = [];
  let seq = 0;
  const timers: ScheduleTimers = {
    now: () => now,
    set(fn, ms) {
      const t = { at: now + ms, seq: seq++, fn, cancelled: false };
      pending.push(t);
      return () => {
        t.cancelled = true;
      };
    },
  };
  return {
    timers,
    get now() {
      return now;
    },
    /** Moves the clock to `to`, firing every timer due by then (and those they set), in order. */
    async advanceTo(to: number): Promise<void> {
      for (;;) {
        const next = pending.filter((t) => !t.cancelled && t.at <= to).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
        if (!next) break;
        pending.splice(pending.indexOf(next), 1);
        // A timer that was due during a jump fires late, at the jumped-to time.
        now = Math.max(now, next.at);
        next.fn();
        await flush();
      }
      now = to;
      await flush();
    },
    /** Moves the wall clock without firing anything (a laptop asleep, a stalled event loop). */
    jump(to: number): void {
      now = to;
    },
    /** Fires what is due now (the stalled timers of {@link jump}). */
    async fireDue(): Promise<void> {
      await this.advanceTo(now);
    },
  };
}

/** A call the test ends when it likes; it also ends (failed) when its signal aborts, as fetch does. */
function controllableCalls(clock: { readonly now: number }) {
  const calls: { url: string; at: number; signal: AbortSignal; end: (r: CallResult) => void }[] = [];
  let active = 0;
  let maxActive = 0;
  const call = (url: string, signal: AbortSignal): Promise<CallResult> =>
    new Promise<CallResult>((resolve) => {
      active += 1;
      maxActive = Math.max(maxActive, active);
      let done = false;
      const end = (r: CallResult) => {
        if (done) return;
        done = true;
        active -= 1;
        resolve(r);
      };
      signal.addEventListener('abort', () => end({ ok: false, status: null, detail: signal.reason instanceof Error ? signal.reason.message : 'aborted' }), { once: true });
      calls.push({ url, at: clock.now, signal, end });
    });
  return {
    call,
    calls,
    get maxActive() {
      return maxActive;
    },
    /** Ends the last call with 200 and a reaper-like report. */
    answerLast(status = 200, body = '{"examined":0}'): void {
      const c = calls.at(-1);
      assert.ok(c, 'no call to answer');
      c.end({ ok: status >= 200 && status < 300, status, detail: body });
    },
  };
}

const spec = (over: Partial<ScheduleSpec> = {}): ScheduleSpec => ({ cron: '* * * * *', periodMs: 60_000, source: 'cron', url: 'http://127.0.0.1:8096', deadlineMs: 150_000, ...over });

function harness(over: Partial<ScheduleSpec> = {}, start = 1_000) {
  const clock = fakeClock(start);
  const calls = controllableCalls(clock);
  const log: string[] = [];
  const runLog: string[] = [];
  let down: string | null = null;
  const caller = new ScheduledCaller('reaper', spec(over), {
    timers: clock.timers,
    call: calls.call,
    unavailable: () => down,
    log: (l) => log.push(l),
    runLog: (l) => runLog.push(l),
    onChange: () => {},
  });
  return {
    clock,
    calls,
    log,
    runLog,
    caller,
    setDown(why: string | null) {
      down = why;
    },
  };
}

void describe('parseLocalCron', () => {
  void it('takes every minute and every N minutes', () => {
    assert.equal(parseLocalCron('* * * * *'), 1);
    assert.equal(parseLocalCron('*/1 * * * *'), 1);
    assert.equal(parseLocalCron('*/5 * * * *'), 5);
    assert.equal(parseLocalCron('  */15   * * *  * '), 15);
    assert.equal(parseLocalCron('*/59 * * * *'), 59);
  });

  void it('refuses every other form, naming the ones it takes', () => {
    for (const expr of ['0 * * * *', '*/0 * * * *', '*/60 * * * *', '* 1 * * *', '* * * * 1-5', '1-5 * * * *', '*/5,10 * * * *', '* * * *', '* * * * * *', '@hourly', '', '*/x * * * *']) {
      assert.throws(
        () => parseLocalCron(expr),
        (err: unknown) => err instanceof ScheduleError && /the local timer takes only "\* \* \* \* \*" \(every minute\) and "\*\/N \* \* \* \*"/.test(err.message),
        expr,
      );
    }
  });
});

void describe('parseScheduleOverride and localSchedule', () => {
  void it('reads SCRIPTORIUM_SCHEDULE_SECONDS as seconds, blank as unset, and refuses the rest', () => {
    assert.equal(parseScheduleOverride(undefined), undefined);
    assert.equal(parseScheduleOverride(' '), undefined);
    assert.equal(parseScheduleOverride('5'), 5000);
    assert.equal(parseScheduleOverride('0.5'), 500);
    for (const bad of ['0', '-1', 'abc', '5s', 'Infinity', '100000']) {
      assert.throws(() => parseScheduleOverride(bad), /SCRIPTORIUM_SCHEDULE_SECONDS=.* is not a number of seconds/, bad);
    }
  });

  void it('runs every scheduled function of the topology from its cron schedule, or every override seconds', () => {
    const fns: readonly FunctionDecl[] = topology.functions;
    const scheduled = fns.filter((f) => f.trigger === 'scheduled');
    assert.ok(scheduled.length > 0, 'topology schedules nothing: update this test');
    for (const fn of scheduled) {
      const s = localSchedule(fn, 'http://127.0.0.1:1', {});
      assert.equal(s.source, 'cron');
      assert.equal(s.periodMs, parseLocalCron(fn.schedule ?? '') * 60_000);
      assert.equal(s.deadlineMs, (fn.timeoutSeconds + 30) * 1000);
    }
    const reaper = { name: 'reaper', timeoutSeconds: 120, schedule: '* * * * *' };
    assert.deepEqual(localSchedule(reaper, 'http://127.0.0.1:1', { SCRIPTORIUM_SCHEDULE_SECONDS: '3' }), {
      cron: '* * * * *',
      periodMs: 3000,
      source: 'override',
      url: 'http://127.0.0.1:1',
      deadlineMs: 150_000,
    });
  });

  void it('refuses an unsupported cron even with the override, naming the function', () => {
    const hourly = { name: 'digest', timeoutSeconds: 60, schedule: '0 * * * *' };
    for (const env of [{}, { SCRIPTORIUM_SCHEDULE_SECONDS: '3' }]) {
      assert.throws(() => localSchedule(hourly, 'http://127.0.0.1:1', env), /^ScheduleError: function digest: cron schedule "0 \* \* \* \*" has minute field "0"/);
    }
    assert.throws(() => localSchedule({ name: 'x', timeoutSeconds: 60 }, 'http://127.0.0.1:1', {}), /function x: trigger scheduled but topology declares no schedule/);
  });
});

void describe('ScheduledCaller', () => {
  void it('calls one period after start, then on every period of the grid', async () => {
    const h = harness();
    h.caller.start(1_000);
    await h.clock.advanceTo(60_999);
    assert.equal(h.calls.calls.length, 0);
    assert.equal(h.caller.status().nextRunAt, new Date(61_000).toISOString());
    for (const at of [61_000, 121_000, 181_000]) {
      await h.clock.advanceTo(at);
      assert.equal(h.calls.calls.at(-1)?.at, at);
      // The call takes 40 ms; the grid does not drift by it.
      await h.clock.advanceTo(at + 40);
      h.calls.answerLast();
      await flush();
    }
    assert.deepEqual(
      h.calls.calls.map((c) => [c.at, c.url]),
      [
        [61_000, 'http://127.0.0.1:8096'],
        [121_000, 'http://127.0.0.1:8096'],
        [181_000, 'http://127.0.0.1:8096'],
      ],
    );
    assert.deepEqual(h.log, [`reaper: scheduled every 60 s (cron "* * * * *"); first run at ${new Date(61_000).toISOString()}`]);
    assert.deepEqual(h.runLog, ['reaper: scheduled run #1: HTTP 200 in 40 ms {"examined":0}', 'reaper: scheduled run #2: HTTP 200 in 40 ms {"examined":0}', 'reaper: scheduled run #3: HTTP 200 in 40 ms {"examined":0}']);
    const st = h.caller.status();
    assert.deepEqual([st.runs, st.failures, st.inFlightSince, st.nextRunAt], [3, 0, null, new Date(241_000).toISOString()]);
    assert.deepEqual(st.lastRun, { at: new Date(181_000).toISOString(), ok: true, status: 200, ms: 40, detail: '{"examined":0}' });
    h.caller.stop();
  });

  void it('never has two calls in flight: periods that end meanwhile collapse into one call when it ends', async () => {
    const h = harness();
    h.caller.start(0);
    await h.clock.advanceTo(60_000);
    assert.equal(h.calls.calls.length, 1);
    // Still in flight at 120 s and 140 s... (deadline 150 s): no second call, one log line.
    await h.clock.advanceTo(145_000);
    assert.equal(h.calls.calls.length, 1);
    assert.equal(h.caller.status().inFlightSince, new Date(60_000).toISOString());
    h.calls.answerLast();
    await flush();
    // The delayed period's call starts the moment the first one ends, as Cloud Scheduler's would.
    assert.deepEqual(
      h.calls.calls.map((c) => c.at),
      [60_000, 145_000],
    );
    // It too outlives the next period (180 s): the one after waits for it.
    await h.clock.advanceTo(200_000);
    assert.equal(h.calls.calls.length, 2);
    h.calls.answerLast();
    await flush();
    assert.deepEqual(
      h.calls.calls.map((c) => c.at),
      [60_000, 145_000, 200_000],
    );
    h.calls.answerLast();
    await flush();
    // Back on the grid: 240 s.
    await h.clock.advanceTo(240_000);
    assert.deepEqual(
      h.calls.calls.map((c) => c.at),
      [60_000, 145_000, 200_000, 240_000],
    );
    assert.equal(h.calls.maxActive, 1);
    assert.deepEqual(
      h.log.filter((l) => l.includes('delayed')),
      [
        `reaper: run due at ${new Date(120_000).toISOString()} delayed: run #1 is still in flight (since ${new Date(60_000).toISOString()}); it starts when that one ends`,
        `reaper: run due at ${new Date(180_000).toISOString()} delayed: run #2 is still in flight (since ${new Date(145_000).toISOString()}); it starts when that one ends`,
      ],
    );
    h.caller.stop();
  });

  void it('logs a failed call as one line and calls again the next period', async () => {
    const h = harness();
    h.caller.start(0);
    await h.clock.advanceTo(60_000);
    await h.clock.advanceTo(60_020);
    h.calls.answerLast(503, '{"error":{"code":"UNAVAILABLE",\n "message":"reaper run failed; see the log"}}');
    await flush();
    const failures = h.log.filter((l) => l.includes('failed'));
    assert.deepEqual(failures, ['reaper: scheduled run #1 failed: HTTP 503 after 20 ms: {"error":{"code":"UNAVAILABLE", "message":"reaper run failed; see the log"}}']);
    assert.equal(h.runLog.length, 0);
    await h.clock.advanceTo(120_000);
    assert.equal(h.calls.calls.length, 2);
    h.calls.answerLast();
    await flush();
    const st = h.caller.status();
    assert.deepEqual([st.runs, st.failures, st.lastRun?.ok], [2, 1, true]);
    h.caller.stop();
  });

  void it('survives a call that rejects (against its contract): one line, and the schedule goes on', async () => {
    const clock = fakeClock(0);
    const log: string[] = [];
    let n = 0;
    const caller = new ScheduledCaller('reaper', spec(), {
      timers: clock.timers,
      call: () => (++n === 1 ? Promise.reject(new Error('socket hang up')) : Promise.resolve({ ok: true, status: 200, detail: '{}' })),
      unavailable: () => null,
      log: (l) => log.push(l),
      runLog: () => {},
      onChange: () => {},
    });
    caller.start(0);
    await clock.advanceTo(120_000);
    assert.equal(n, 2);
    assert.deepEqual(log.slice(1), ['reaper: scheduled run #1 failed: after 0 ms: socket hang up']);
    assert.deepEqual([caller.status().runs, caller.status().failures], [2, 1]);
    caller.stop();
  });

  void it('gives up on a call at its deadline (a failure), and the next period calls again', async () => {
    const h = harness({ deadlineMs: 30_000 });
    h.caller.start(0);
    await h.clock.advanceTo(60_000);
    await h.clock.advanceTo(90_000);
    assert.equal(h.calls.calls[0]?.signal.aborted, true);
    assert.deepEqual(h.log.slice(1), ['reaper: scheduled run #1 failed: after 30.0 s: no answer within the 30.0 s deadline']);
    assert.equal(h.caller.status().inFlightSince, null);
    await h.clock.advanceTo(120_000);
    assert.equal(h.calls.calls.length, 2);
    h.caller.stop();
  });

  void it('does not call a function that is not running, and says so in one line', async () => {
    const h = harness();
    h.caller.start(0);
    h.setDown('BACKOFF (dead, waiting to restart)');
    await h.clock.advanceTo(60_000);
    assert.equal(h.calls.calls.length, 0);
    assert.deepEqual(h.log.slice(1), ['reaper: scheduled run #1 failed: not called, the function is BACKOFF (dead, waiting to restart)']);
    h.setDown(null);
    await h.clock.advanceTo(120_000);
    assert.equal(h.calls.calls.length, 1);
    h.caller.stop();
  });

  void it('drops periods that passed while its timer could not fire, instead of a burst of calls', async () => {
    const h = harness();
    h.caller.start(0);
    // Asleep from before the first period until 10 min 30 s: one call, then the grid resumes at 11 min.
    h.clock.jump(630_000);
    await h.clock.fireDue();
    assert.deepEqual(
      h.calls.calls.map((c) => c.at),
      [630_000],
    );
    h.calls.answerLast();
    await flush();
    assert.equal(h.caller.status().nextRunAt, new Date(660_000).toISOString());
    await h.clock.advanceTo(660_000);
    assert.equal(h.calls.calls.length, 2);
    h.caller.stop();
  });

  void it('keeps its grid when started again (a restarted function), and runs every override period', async () => {
    const h = harness({ periodMs: 2_000, source: 'override' });
    h.caller.start(0);
    h.caller.start(1_500);
    assert.match(h.log[0] ?? '', /^reaper: scheduled every 2 s \(SCRIPTORIUM_SCHEDULE_SECONDS, instead of cron "\* \* \* \* \*"\); first run at 1970-01-01T00:00:02\.000Z$/);
    for (const at of [2_000, 4_000, 6_000]) {
      await h.clock.advanceTo(at);
      h.calls.answerLast();
      await flush();
    }
    assert.deepEqual(
      h.calls.calls.map((c) => c.at),
      [2_000, 4_000, 6_000],
    );
    assert.equal(h.log.length, 1);
    h.caller.stop();
  });

  void it('stops: no more calls, and a call in flight is aborted and not recorded', async () => {
    const h = harness();
    h.caller.start(0);
    await h.clock.advanceTo(60_000);
    h.caller.stop();
    await flush();
    assert.equal(h.calls.calls[0]?.signal.aborted, true);
    await h.clock.advanceTo(600_000);
    assert.equal(h.calls.calls.length, 1);
    const st = h.caller.status();
    assert.deepEqual([st.nextRunAt, st.lastRun, h.log.length], [null, null, 1]);
    h.caller.start(600_000);
    await h.clock.advanceTo(1_200_000);
    assert.equal(h.calls.calls.length, 1, 'a stopped caller cannot be started again');
  });
});

/** A fake process (never dies on its own); the supervisor's exit handling is not exercised here. */
function fakeSpawn(spawned: SpawnGroupOptions[]) {
  let pid = 2000;
  return (opts: SpawnGroupOptions): ManagedProcess => {
    spawned.push(opts);
    const p = pid++;
    return { name: opts.name, pid: p, pgid: p, logFile: opts.logFile, marker: opts.marker, exited: new Promise<ExitInfo>(() => {}), hasExited: () => false };
  };
}

void describe('Supervisor with a scheduled process', () => {
  void it('calls it once it answers its probe, records each run in its status, and stops calling on stop', async () => {
    const clock = fakeClock(5_000);
    const calls = controllableCalls(clock);
    const spawned: SpawnGroupOptions[] = [];
    const lines: string[] = [];
    const runLines: string[] = [];
    let answering = false;
    const sup = new Supervisor(
      [
        { spawn: { name: 'api', command: 'node', args: [], cwd: '/', env: {}, logFile: '/tmp/api.log', marker: 'm' }, probeUrl: 'http://127.0.0.1:1/health' },
        {
          spawn: { name: 'reaper', command: 'node', args: [], cwd: '/', env: {}, logFile: '/tmp/reaper.log', marker: 'm' },
          probeUrl: 'tcp://127.0.0.1:2',
          schedule: spec({ url: 'http://127.0.0.1:2' }),
        },
      ],
      {
        log: (l) => lines.push(l),
        runLog: (l) => runLines.push(l),
        probeIntervalMs: 1,
        deps: {
          spawn: fakeSpawn(spawned),
          stopGroup: (pgid) => Promise.resolve({ pgid, outcome: 'absent', ms: 0 }),
          // Nothing answers until the test says so.
          probe: () => Promise.resolve(answering ? 200 : null),
          scheduleTimers: clock.timers,
          callScheduled: calls.call,
        },
      },
    );
    assert.deepEqual(
      sup.statuses().map((s) => [s.name, s.schedule === undefined ? 'none' : s.schedule.nextRunAt]),
      [
        ['api', 'none'],
        ['reaper', null],
      ],
    );
    sup.start();
    // Before it answers, no period runs, however long it takes.
    await clock.advanceTo(500_000);
    assert.equal(calls.calls.length, 0);
    answering = true;
    const deadline = Date.now() + 2000;
    while (sup.statuses().find((s) => s.name === 'reaper')?.state !== 'RUNNING') {
      assert.ok(Date.now() < deadline, 'reaper never became RUNNING');
      await new Promise((r) => setTimeout(r, 2));
    }
    const ready = clock.now;
    await clock.advanceTo(ready + 59_999);
    assert.equal(calls.calls.length, 0);
    await clock.advanceTo(ready + 60_000);
    assert.deepEqual(
      calls.calls.map((c) => [c.url, c.at]),
      [['http://127.0.0.1:2', ready + 60_000]],
    );
    calls.answerLast(200, '{"examined":2,"expired":1,"redispatched":0,"announced":0,"failures":0}');
    await flush();
    const reaper = sup.statuses().find((s) => s.name === 'reaper');
    assert.equal(reaper?.schedule?.runs, 1);
    assert.equal(reaper?.schedule?.lastRun?.status, 200);
    assert.deepEqual(runLines, ['reaper: scheduled run #1: HTTP 200 in 0 ms {"examined":2,"expired":1,"redispatched":0,"announced":0,"failures":0}']);
    assert.ok(lines.some((l) => l.startsWith('reaper: scheduled every 60 s')));

    await sup.stop();
    await clock.advanceTo(ready + 600_000);
    assert.equal(calls.calls.length, 1);
    assert.equal(sup.statuses().find((s) => s.name === 'reaper')?.schedule?.nextRunAt, null);
  });
});

void describe('postScheduled', () => {
  let server: http.Server;
  let base = '';
  const seen: { method: string; ua: string; marker: string }[] = [];
  before(async () => {
    server = http.createServer((req, res) => {
      seen.push({ method: req.method ?? '', ua: req.headers['user-agent'] ?? '', marker: String(req.headers['x-cloudscheduler'] ?? '') });
      if (req.url === '/slow') return; // never answers
      const status = req.url === '/fail' ? 503 : 200;
      res.writeHead(status, { 'Content-Type': 'application/json' }).end(status === 200 ? '{"examined":0}' : '{"error":{"code":"UNAVAILABLE"}}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  void it('POSTs as Cloud Scheduler does, and reads a 2xx as success and anything else as failure', async () => {
    assert.deepEqual(await postScheduled(`${base}/`, AbortSignal.timeout(5000)), { ok: true, status: 200, detail: '{"examined":0}' });
    assert.deepEqual(await postScheduled(`${base}/fail`, AbortSignal.timeout(5000)), { ok: false, status: 503, detail: '{"error":{"code":"UNAVAILABLE"}}' });
    assert.deepEqual(seen.slice(0, 2), [
      { method: 'POST', ua: 'Google-Cloud-Scheduler', marker: 'true' },
      { method: 'POST', ua: 'Google-Cloud-Scheduler', marker: 'true' },
    ]);
  });

  void it('reports the cause when nothing answers, and the deadline when the answer is too slow', async () => {
    // A port just released: nothing listens there (fetch refuses well-known ports such as 1 outright).
    const probe = http.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const refused = await postScheduled(`http://127.0.0.1:${port}/`, AbortSignal.timeout(5000));
    assert.equal(refused.ok, false);
    assert.equal(refused.status, null);
    assert.match(refused.detail, /ECONNREFUSED/);
    const abort = new AbortController();
    setTimeout(() => abort.abort(new Error('no answer within the 0.1 s deadline')), 100);
    assert.deepEqual(await postScheduled(`${base}/slow`, abort.signal), { ok: false, status: null, detail: 'no answer within the 0.1 s deadline' });
  });
});

void describe('health', () => {
  void it('prints the last scheduled run of a scheduled function under the table, and stays healthy when it failed', () => {
    const lastRun = { at: '2025-01-01T10:04:00.000Z', ok: false, status: 503, ms: 12, detail: '{"error":{"code":"UNAVAILABLE"}}' };
    const schedule = { cron: '* * * * *', periodMs: 60_000, source: 'cron' as const, nextRunAt: '2025-01-01T10:05:00.000Z', runs: 4, failures: 1, inFlightSince: null, lastRun };
    const status = {
      name: 'reaper',
      state: 'RUNNING' as const,
      crashLooping: false,
      pid: 10,
      pgid: 10,
      restarts: 0,
      consecutiveFailures: 0,
      startedAt: '2025-01-01T10:00:00.000Z',
      readyAt: '2025-01-01T10:00:02.000Z',
      lastExit: null,
      lastRestartAt: null,
      lastRestartReason: null,
      nextRestartAt: null,
      lastRecoveryMs: null,
      schedule,
    };
    const probe = { name: 'function:reaper', url: 'http://127.0.0.1:1', ok: true, httpStatus: 404, latencyMs: 2, error: null };
    const out = withSupervision([probe, { ...probe, name: 'function:api' }], null);
    assert.equal(formatScheduleLines(out), '');
    const withState = withSupervision([probe, { ...probe, name: 'function:api' }], {
      stateFile: '/x/supervisor.json',
      alive: true,
      state: { pid: 1, pgid: 1, marker: 'm', startedAt: '', updatedAt: '', stoppingAt: null, policy: { initialDelayMs: 1, factor: 2, maxDelayMs: 1, stableAfterMs: 1, crashLoopFailures: 1, crashLoopWindowMs: 1 }, processes: { reaper: status }, stopResults: [] },
    });
    assert.deepEqual(
      withState.map((c) => [c.name, c.ok, c.schedule?.runs]),
      [
        ['function:reaper', true, 4],
        ['function:api', true, undefined],
        ['supervisor', true, undefined],
      ],
    );
    assert.equal(
      formatScheduleLines(withState, new Date('2025-01-01T12:00:00Z')),
      'scheduled function:reaper every 60 s (cron "* * * * *"): last run 10:04:00 UTC FAILED: HTTP 503 in 12 ms {"error":{"code":"UNAVAILABLE"}}; next 10:05:00 UTC; 4 run(s), 1 failed\n',
    );
  });
});
