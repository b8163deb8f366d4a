/**
 * The Supervisor class with fake processes (no child is spawned): restarts and their count,
 * statuses, the crash loop, recovery after a stable run, spawn failures, and a stop that cancels
 * pending restarts and answers no exit. Short real timers (tens of milliseconds).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ExitInfo, ManagedProcess, SpawnGroupOptions, StopResult } from '../../emulators/processes.js';
import { Supervisor, type RestartPolicy, type SupervisedStatus } from '../../emulators/supervisor.js';

/** A fake process whose exit the test decides. */
interface FakeProc extends ManagedProcess {
  die(info: ExitInfo): void;
}

function fakeWorld() {
  let nextPid = 1000;
  const spawned: { opts: SpawnGroupOptions; proc: FakeProc; at: number }[] = [];
  const stopped: number[] = [];
  const world = {
    spawned,
    stopped,
    failSpawns: 0,
    spawn(opts: SpawnGroupOptions): ManagedProcess {
      if (world.failSpawns > 0) {
        world.failSpawns -= 1;
        throw new Error('EMFILE: too many open files');
      }
      const pid = nextPid++;
      let done = false;
      let resolveExit: (i: ExitInfo) => void = () => {};
      const exited = new Promise<ExitInfo>((r) => {
        resolveExit = r;
      });
      const proc: FakeProc = {
        name: opts.name,
        pid,
        pgid: pid,
        logFile: opts.logFile,
        marker: opts.marker,
        exited,
        hasExited: () => done,
        die(info) {
          if (done) return;
          done = true;
          resolveExit(info);
        },
      };
      spawned.push({ opts, proc, at: Date.now() });
      return proc;
    },
    stopGroup(pgid: number): Promise<StopResult> {
      stopped.push(pgid);
      const entry = spawned.find((s) => s.proc.pgid === pgid);
      if (!entry || entry.proc.hasExited()) return Promise.resolve({ pgid, outcome: 'absent', ms: 0 });
      entry.proc.die({ code: null, signal: 'SIGTERM' });
      return Promise.resolve({ pgid, outcome: 'term', ms: 1 });
    },
    last(): FakeProc {
      const s = spawned.at(-1);
      if (!s) throw new Error('nothing spawned');
      return s.proc;
    },
  };
  return world;
}

const spec = (name: string, probeUrl?: string) => ({
  spawn: { name, command: 'node', args: ['x.js'], cwd: '/', env: {}, logFile: `/tmp/${name}.log`, marker: 'm' },
  ...(probeUrl ? { probeUrl } : {}),
});

const fast: Partial<RestartPolicy> = { initialDelayMs: 20, factor: 2, maxDelayMs: 80, stableAfterMs: 10_000, crashLoopFailures: 3, crashLoopWindowMs: 10_000 };

async function until(cond: () => boolean, what: string, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

describe('Supervisor', () => {
  it('restarts a process that dies, appending to its log, and counts the restart', async () => {
    const world = fakeWorld();
    const lines: string[] = [];
    const sup = new Supervisor([spec('ocr')], { policy: fast, log: (l) => lines.push(l), deps: world });
    sup.start();
    assert.equal(world.spawned.length, 1);
    assert.equal(world.spawned[0]?.opts.append, false, 'the first instance starts a fresh log');
    world.last().die({ code: null, signal: 'SIGKILL' });
    await until(() => world.spawned.length === 2, 'the restart');
    const second = world.spawned[1];
    assert.equal(second?.opts.append, true, 'a restart appends below the crash');
    assert.match(second?.opts.note ?? '', /restart #1 .*signal SIGKILL/);
    assert.ok(world.stopped.includes(1000), 'the dead instance group is swept of leftovers');
    const s = sup.statuses()[0] as SupervisedStatus;
    assert.equal(s.restarts, 1);
    assert.equal(s.state, 'RUNNING', 'no probe: running once spawned');
    assert.equal(s.lastRestartReason, 'signal SIGKILL');
    assert.equal(s.pid, 1001);
    assert.equal(s.lastExit?.signal, 'SIGKILL');
    assert.ok(lines.some((l) => /ocr: pid 1000 died \(signal SIGKILL\) after .*; restart #1 in 20 ms/.test(l)), lines.join('\n'));
    assert.ok(lines.some((l) => /ocr: restart #1: pid 1001/.test(l)), lines.join('\n'));
    await sup.stop();
  });

  it('backs off, flags the crash loop, keeps retrying at the maximum delay', async () => {
    const world = fakeWorld();
    const lines: string[] = [];
    const changes: SupervisedStatus[][] = [];
    const sup = new Supervisor([spec('embed')], { policy: fast, log: (l) => lines.push(l), onChange: (s) => changes.push([...s]), deps: world });
    sup.start();
    const deaths: number[] = [];
    for (let i = 0; i < 5; i++) {
      const n = world.spawned.length;
      deaths.push(Date.now());
      world.last().die({ code: 1, signal: null });
      await until(() => world.spawned.length === n + 1, `restart ${i + 1}`);
    }
    const gaps = world.spawned.slice(1).map((s, i) => s.at - (deaths[i] ?? 0));
    const expected = [20, 40, 80, 80, 80];
    gaps.forEach((g, i) => assert.ok(g >= (expected[i] ?? 0) - 2 && g < (expected[i] ?? 0) + 60, `gap ${i}: ${g} ms, want ~${expected[i]}`));
    const s = sup.statuses()[0] as SupervisedStatus;
    assert.equal(s.crashLooping, true);
    assert.equal(s.restarts, 5);
    assert.ok(lines.some((l) => /embed: CRASH_LOOPING: 3 failures within/.test(l)), lines.join('\n'));
    assert.ok(changes.some((c) => c[0]?.state === 'BACKOFF' && c[0].nextRestartAt !== null), 'BACKOFF with the next restart time is published');
    await sup.stop();
  });

  it('clears the crash loop once an instance stays up', async () => {
    const world = fakeWorld();
    const lines: string[] = [];
    const sup = new Supervisor([spec('api')], { policy: { ...fast, stableAfterMs: 150, crashLoopFailures: 2 }, log: (l) => lines.push(l), deps: world });
    sup.start();
    for (let i = 0; i < 2; i++) {
      const n = world.spawned.length;
      world.last().die({ code: 1, signal: null });
      await until(() => world.spawned.length === n + 1, 'restart');
    }
    assert.equal(sup.statuses()[0]?.crashLooping, true);
    await until(() => sup.statuses()[0]?.crashLooping === false, 'a stable run', 1000);
    assert.equal(sup.statuses()[0]?.consecutiveFailures, 0);
    assert.ok(lines.some((l) => /no longer crash-looping/.test(l)));
    // The next death starts from the first delay again.
    const n = world.spawned.length;
    const died = Date.now();
    world.last().die({ code: 1, signal: null });
    await until(() => world.spawned.length === n + 1, 'restart');
    assert.ok((world.spawned.at(-1)?.at ?? 0) - died < 60);
    await sup.stop();
  });

  it('measures the recovery from the death to the probe answering', async () => {
    const world = fakeWorld();
    let answering = true;
    const lines: string[] = [];
    const sup = new Supervisor([spec('ingest', 'tcp://127.0.0.1:1')], {
      policy: fast,
      log: (l) => lines.push(l),
      probeIntervalMs: 5,
      deps: { ...world, probe: () => Promise.resolve(answering ? 200 : null) },
    });
    sup.start();
    await until(() => sup.statuses()[0]?.state === 'RUNNING', 'ready');
    answering = false;
    world.last().die({ code: null, signal: 'SIGKILL' });
    await until(() => world.spawned.length === 2, 'restart');
    assert.equal(sup.statuses()[0]?.state, 'STARTING', 'spawned, not answering yet');
    await sleep(30);
    answering = true;
    await until(() => sup.statuses()[0]?.state === 'RUNNING', 'ready again');
    const s = sup.statuses()[0] as SupervisedStatus;
    assert.ok(s.lastRecoveryMs !== null && s.lastRecoveryMs >= 40, `recovery ${s.lastRecoveryMs} ms`);
    assert.ok(lines.some((l) => /ingest: answering again .* after it died/.test(l)), lines.join('\n'));
    await sup.stop();
  });

  it('treats a spawn that throws as an instance that died, and retries it', async () => {
    const world = fakeWorld();
    const lines: string[] = [];
    const sup = new Supervisor([spec('summarize')], { policy: fast, log: (l) => lines.push(l), deps: world });
    sup.start();
    world.failSpawns = 1;
    world.last().die({ code: 1, signal: null });
    // The first restart fails to spawn; the one after it succeeds.
    await until(() => world.spawned.length === 2, 'a successful restart');
    assert.ok(lines.some((l) => /spawn failed: EMFILE/.test(l)), lines.join('\n'));
    assert.equal(sup.statuses()[0]?.restarts, 2);
    await sup.stop();
  });

  it('stops: a pending restart is cancelled, exits during the stop are not answered', async () => {
    const world = fakeWorld();
    const sup = new Supervisor([spec('a'), spec('b')], { policy: { ...fast, initialDelayMs: 50 }, deps: world });
    sup.start();
    // "a" dies and waits 50 ms for its restart; "b" is running.
    world.spawned[0]?.proc.die({ code: 1, signal: null });
    await until(() => sup.statuses()[0]?.state === 'BACKOFF', 'backoff');
    const results = await sup.stop();
    assert.deepEqual(results.map((r) => r.outcome).sort(), ['absent', 'term']);
    await sleep(120);
    assert.equal(world.spawned.length, 2, 'nothing was restarted');
    assert.deepEqual(sup.statuses().map((s) => s.state), ['STOPPED', 'STOPPED']);
    assert.equal(sup.isStopping, true);
  });
});
