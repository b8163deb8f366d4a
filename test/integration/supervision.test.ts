/**
 * Supervision with real processes, no emulators: tiny node scripts that crash or serve HTTP, run
 * by the Supervisor in this process and by the supervisor daemon (the compiled
 * dist/emulators/supervisor-main.js) as the platform runs it. Checks the backoff on real exits,
 * the crash loop, recovery after a kill -9 (leftover children of the dead instance included),
 * that the daemon runs on once its starter detaches, and that a stop is never answered with a
 * restart and leaves nothing running: through the daemon's SIGTERM, and through stopPlatform
 * from a process record (also after the daemon itself was killed).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { stopPlatform, profilePaths } from '../../emulators/platform.js';
import { httpStatus, processesWithMarker, spawnGroup, stopGroup, type ExitInfo } from '../../emulators/processes.js';
import { launchSupervisor, type DaemonProcess, type SupervisorHandle } from '../../emulators/supervisor-daemon.js';
import { readSupervisorState, Supervisor, type SupervisorState } from '../../emulators/supervisor.js';
import { REPO_ROOT } from '../helpers/paths.js';

const SUPERVISOR_MAIN = path.join(REPO_ROOT, 'dist', 'emulators', 'supervisor-main.js');
const dir = mkdtempSync(path.join(os.tmpdir(), 'scriptorium-supervision-'));
const PATH = process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin';
const markers: string[] = [];
const newMarker = (what: string) => {
  const m = `supervision-test-${what}-${process.pid}-${Date.now()}`;
  markers.push(m);
  return m;
};

// Exits with code 3 after CRASH_AFTER_MS.
const CRASHER = path.join(dir, 'crasher.mjs');
writeFileSync(CRASHER, `console.log('crasher up, pid ' + process.pid);\nsetTimeout(() => { console.log('crashing'); process.exit(3); }, Number(process.env.CRASH_AFTER_MS ?? 100));\n`);
// Serves HTTP on PORT and starts a grandchild (a stand-in for an OCR engine) that would outlive it.
const SERVER = path.join(dir, 'server.mjs');
writeFileSync(
  SERVER,
  [
    "import http from 'node:http';",
    "import { spawn } from 'node:child_process';",
    "const child = spawn('sleep', ['300'], { stdio: 'ignore' });",
    "http.createServer((req, res) => res.end(String(child.pid))).listen(Number(process.env.PORT), '127.0.0.1', () => console.log('listening, pid ' + process.pid));",
    '',
  ].join('\n'),
);

after(() => {
  // Whatever a failed assertion left behind.
  for (const m of markers) {
    for (const pid of processesWithMarker(m)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = http.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

async function until<T>(get: () => T | undefined | null | false, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = get();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

function daemonProcess(name: string, script: string, env: Record<string, string>, probeUrl?: string): DaemonProcess {
  return { name, command: process.execPath, args: [script], cwd: dir, env: { PATH, ...env }, logFile: path.join(dir, `${name}.log`), ...(probeUrl ? { probeUrl } : {}) };
}

describe('Supervisor with real processes', () => {
  it('restarts a crashing child with exponential backoff, flags the crash loop, stops cleanly', async (t) => {
    const marker = newMarker('inproc');
    const logFile = path.join(dir, 'inproc-crasher.log');
    const spawns: number[] = [];
    const exits: { at: number; info: ExitInfo }[] = [];
    const lines: string[] = [];
    const sup = new Supervisor(
      [{ spawn: { name: 'crasher', command: process.execPath, args: [CRASHER], cwd: dir, env: { PATH, CRASH_AFTER_MS: '100' }, logFile, marker } }],
      {
        policy: { initialDelayMs: 200, factor: 2, maxDelayMs: 800, stableAfterMs: 5000, crashLoopFailures: 4, crashLoopWindowMs: 20_000 },
        log: (l) => lines.push(l),
        onSpawn: () => spawns.push(Date.now()),
        onExit: (_n, _p, info) => exits.push({ at: Date.now(), info }),
      },
    );
    const t0 = Date.now();
    sup.start();
    await until(() => spawns.length >= 6, 'five restarts', 15_000);
    const stopAt = Date.now();
    const results = await sup.stop();
    const spawnsAtStop = spawns.length;

    // From each death to the next spawn: 200, 400, 800 ms, then the maximum (crash loop from the 4th).
    const expected = [200, 400, 800, 800, 800];
    const gaps = expected.map((_, i) => (spawns[i + 1] ?? 0) - (exits[i]?.at ?? 0));
    gaps.forEach((g, i) => assert.ok(g >= (expected[i] ?? 0) - 5 && g < (expected[i] ?? 0) + 250, `restart ${i + 1}: ${g} ms after the death, want ~${expected[i]}`));
    for (const e of exits.slice(0, 5)) assert.deepEqual(e.info, { code: 3, signal: null });
    const s = sup.statuses()[0];
    assert.equal(s?.crashLooping, true);
    assert.ok((s?.restarts ?? 0) >= 5);
    assert.ok(lines.some((l) => /crasher: CRASH_LOOPING: 4 failures/.test(l)), lines.join('\n'));
    assert.ok(lines.some((l) => /crasher: pid \d+ died \(exit code 3\) after .*; restart #1 in 200 ms/.test(l)), lines.join('\n'));

    // The log keeps every instance's output, each restart marked.
    const log = readFileSync(logFile, 'utf8');
    assert.ok((log.match(/^crashing$/gm) ?? []).length >= 5, log);
    assert.match(log, /restart #1 by the supervisor \(previous instance: exit code 3\)/);

    // Stopped: nothing restarts afterwards (longer than the longest delay), nothing is left.
    assert.ok(results.length === 1);
    await sleep(1200);
    assert.equal(spawns.length, spawnsAtStop, 'no restart after stop');
    assert.deepEqual(processesWithMarker(marker), []);
    assert.equal(sup.statuses()[0]?.state, 'STOPPED');
    t.diagnostic(`in-process: restart delays ${gaps.join(', ')} ms; 5 restarts in ${stopAt - t0} ms`);
  });
});

describe('supervisor daemon', () => {
  it('restarts a killed server (and its leftover child), runs on detached, stops without restarting', async (t) => {
    assert.ok(existsSync(SUPERVISOR_MAIN), `${SUPERVISOR_MAIN} missing: run the build`);
    const marker = newMarker('daemon');
    const port = await freePort();
    const stateFile = path.join(dir, 'daemon', 'supervisor.json');
    const configFile = path.join(dir, 'daemon', 'local.json');
    mkdirSync(path.dirname(configFile), { recursive: true });
    writeFileSync(configFile, JSON.stringify({ keep: 'me', pgids: { emulator: 1 } }));
    const daemonLog = path.join(dir, 'daemon', 'supervisor.log');
    const lines: string[] = [];
    const handle: SupervisorHandle = launchSupervisor({
      mainFile: SUPERVISOR_MAIN,
      cwd: dir,
      env: { PATH },
      logFile: daemonLog,
      spec: {
        marker,
        stateFile,
        configFile,
        policy: { initialDelayMs: 150, factor: 2, maxDelayMs: 600, stableAfterMs: 5000, crashLoopFailures: 50, crashLoopWindowMs: 60_000 },
        graceMs: 3000,
        processes: [
          daemonProcess('server', SERVER, { PORT: String(port) }, `http://127.0.0.1:${port}/`),
          daemonProcess('crasher', CRASHER, { CRASH_AFTER_MS: '300' }),
        ],
      },
      onLog: (l) => lines.push(l),
    });
    const instances = await handle.ready;
    const server = instances.get('server');
    assert.ok(server && server.pid > 0, 'the first server instance is reported');
    const state = (): SupervisorState | null => readSupervisorState(stateFile);
    await until(() => state()?.processes.server?.state === 'RUNNING', 'server answering');
    assert.equal(state()?.pgid, handle.pgid);
    const grandchild = Number(await (await fetch(`http://127.0.0.1:${port}/`)).text());
    assert.ok(alive(grandchild), 'the server started its child');

    // kill -9, as the OCR process was killed.
    const killedAt = Date.now();
    process.kill(server.pid, 'SIGKILL');
    const exit = await server.exited;
    assert.deepEqual(exit, { code: null, signal: 'SIGKILL' }, 'the exit is reported to the starter');
    const back = await until(() => {
      const s = state()?.processes.server;
      return s && s.restarts === 1 && s.state === 'RUNNING' ? s : null;
    }, 'the restarted server answering');
    const recoveredMs = Date.now() - killedAt;
    assert.equal(back.lastRestartReason, 'signal SIGKILL');
    assert.ok(back.lastRecoveryMs !== null && back.lastRecoveryMs < 5000, `recovery ${back.lastRecoveryMs} ms`);
    assert.notEqual(back.pid, server.pid);
    assert.equal(await httpStatus(`http://127.0.0.1:${port}/`), 200);
    await until(() => !alive(grandchild), "the dead instance's child is swept with it", 5000);
    // The config names the live instance; everything else in it is kept.
    const config = JSON.parse(readFileSync(configFile, 'utf8')) as { keep: string; pgids: Record<string, number> };
    assert.equal(config.keep, 'me');
    assert.equal(config.pgids.emulator, 1);
    assert.equal(config.pgids.server, back.pgid);
    assert.ok(lines.some((l) => /server: pid \d+ died \(signal SIGKILL\)/.test(l)), lines.join('\n'));

    // The starter goes away (a detached start exits): the daemon carries on, restarting the crasher.
    handle.detach();
    const before = state()?.processes.crasher?.restarts ?? 0;
    await until(() => (state()?.processes.crasher?.restarts ?? 0) >= before + 2, 'restarts after the starter detached');

    // Stop as `stop` does: SIGTERM to the daemon's group.
    const stopped = await stopGroup(handle.pgid, marker, 15_000);
    assert.equal(stopped.outcome, 'term');
    const final = await until(state, 'the final state');
    assert.ok(final.stoppingAt !== null);
    assert.deepEqual(Object.values(final.processes).map((p) => p.state), ['STOPPED', 'STOPPED']);
    assert.ok(final.stopResults.length >= 1 && final.stopResults.every((r) => r.outcome !== 'kill'));
    assert.deepEqual(processesWithMarker(marker), []);
    // Nothing was restarted once the stop began.
    const log = readFileSync(daemonLog, 'utf8');
    const afterStop = log.slice(log.indexOf('SIGTERM: stopping supervision'));
    assert.ok(afterStop.length > 0 && !/restart #\d+: pid/.test(afterStop), log);
    t.diagnostic(`daemon: server answering ${recoveredMs} ms after kill -9 (supervisor measured ${back.lastRecoveryMs} ms); stop ${stopped.ms} ms`);
  });
});

describe('stopPlatform with a supervisor', () => {
  /** A fake platform under `root` (dev profile of a temporary root): one "emulator", a daemon with a server and a crasher. */
  async function fakePlatform(root: string, marker: string) {
    const p = profilePaths(root, 'dev');
    mkdirSync(p.logsDir, { recursive: true });
    const port = await freePort();
    const emulator = spawnGroup({ name: 'emulator', command: 'sleep', args: ['300'], cwd: root, env: { PATH }, logFile: path.join(p.logsDir, 'emulator.log'), marker });
    const record = { profile: 'dev', marker, pgids: { emulator: emulator.pgid } as Record<string, number>, supervisor: { pgid: 0, stateFile: p.supervisorState } };
    const daemon = launchSupervisor({
      mainFile: SUPERVISOR_MAIN,
      cwd: root,
      env: { PATH },
      logFile: path.join(p.logsDir, 'supervisor.log'),
      spec: {
        marker,
        stateFile: p.supervisorState,
        // Restarts as fast as possible: the stop must win the race against them.
        policy: { initialDelayMs: 0, factor: 1, maxDelayMs: 0, stableAfterMs: 5000, crashLoopFailures: 1000, crashLoopWindowMs: 1000 },
        graceMs: 3000,
        processes: [daemonProcess('server', SERVER, { PORT: String(port) }, `http://127.0.0.1:${port}/`), daemonProcess('crasher', CRASHER, { CRASH_AFTER_MS: '20' })],
      },
      onSpawned: (name, _pid, pgid) => {
        record.pgids[name] ??= pgid;
      },
    });
    record.supervisor.pgid = daemon.pgid;
    await daemon.ready;
    daemon.detach();
    writeFileSync(p.processesFile, JSON.stringify(record));
    const state = () => readSupervisorState(p.supervisorState);
    await until(() => state()?.processes.server?.state === 'RUNNING', 'server answering');
    return { p, daemon, state, record };
  }

  it('stops the supervisor first (no restart races the stop), then everything recorded', async () => {
    const root = path.join(dir, 'root-a');
    const marker = newMarker('platform-a');
    const { p, state } = await fakePlatform(root, marker);
    await until(() => (state()?.processes.crasher?.restarts ?? 0) >= 5, 'the crasher restarting');
    const results = await stopPlatform(root, 'dev');
    assert.deepEqual(processesWithMarker(marker), []);
    assert.equal(existsSync(p.processesFile), false);
    const terms = results.filter((r) => r.outcome === 'term').length;
    assert.ok(terms >= 2, `supervisor, emulator (and the live function servers): ${JSON.stringify(results)}`);
    assert.equal(results.filter((r) => r.outcome === 'kill').length, 0);
    const log = readFileSync(path.join(p.logsDir, 'supervisor.log'), 'utf8');
    assert.ok(!/restart #\d+: pid/.test(log.slice(log.indexOf('stopping supervision'))), 'no restart after the stop began');
  });

  it('still stops a restarted function server after the supervisor itself was killed', async () => {
    const root = path.join(dir, 'root-b');
    const marker = newMarker('platform-b');
    const { daemon, state, record } = await fakePlatform(root, marker);
    const first = state()?.processes.server?.pid ?? 0;
    process.kill(first, 'SIGKILL');
    const restarted = await until(() => {
      const s = state()?.processes.server;
      return s && s.restarts >= 1 && s.state === 'RUNNING' ? s : null;
    }, 'the server restarted');
    assert.notEqual(restarted.pgid, record.pgids.server, 'the record only knows the first instance');
    process.kill(daemon.pid, 'SIGKILL');
    await until(() => !alive(daemon.pid), 'the supervisor gone');
    assert.ok(alive(restarted.pid ?? 0), 'its children live on, unsupervised');
    await stopPlatform(root, 'dev');
    assert.deepEqual(processesWithMarker(marker), [], 'found through the state file');
  });
});
