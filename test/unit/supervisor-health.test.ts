/**
 * What `scriptorium health` makes of the supervisor's state: restarts per function server,
 * RESTARTING and CRASH_LOOPING instead of a bare DOWN, the supervisor as a component, and the
 * command's exit status with a state file on disk (no platform needed).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { LocalConfig } from '../../emulators/local-config.js';
import { DEFAULT_RESTART_POLICY, type SupervisedStatus, type SupervisorState } from '../../emulators/supervisor.js';
import { formatHealthTable, withSupervision, type ProbeResult, type SupervisionView } from '../../scripts/cli/commands/health.js';
import { main } from '../../scripts/cli/main.js';

const probe = (name: string, ok: boolean): ProbeResult => ({ name, url: `http://127.0.0.1:1/${name}`, ok, httpStatus: ok ? 405 : null, latencyMs: 3, error: ok ? null : 'connect ECONNREFUSED' });

function status(name: string, over: Partial<SupervisedStatus> = {}): SupervisedStatus {
  return {
    name,
    state: 'RUNNING',
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
    ...over,
  };
}

function state(processes: SupervisedStatus[], pid = 1): SupervisorState {
  return {
    pid,
    pgid: pid,
    marker: 'm',
    startedAt: '2025-01-01T10:00:00.000Z',
    updatedAt: '2025-01-01T10:05:00.000Z',
    stoppingAt: null,
    policy: DEFAULT_RESTART_POLICY,
    processes: Object.fromEntries(processes.map((p) => [p.name, p])),
    stopResults: [],
  };
}

const died = { code: null, signal: 'SIGKILL', at: '2025-01-01T10:04:00.000Z', uptimeMs: 240_000 };

describe('health with supervision', () => {
  const view = (processes: SupervisedStatus[], alive = true): SupervisionView => ({ stateFile: '/x/supervisor.json', state: state(processes), alive });

  it('shows restarts of a healthy function server, and the supervisor as a component', () => {
    const out = withSupervision(
      [probe('api', true), probe('function:ocr', true)],
      view([status('ocr', { restarts: 2, lastRestartAt: '2025-01-01T10:04:00.500Z', lastRestartReason: 'signal SIGKILL', lastExit: died })]),
    );
    assert.deepEqual(
      out.map((c) => [c.name, c.state, c.ok, c.restarts]),
      [
        ['api', 'up', true, null],
        ['function:ocr', 'up', true, 2],
        ['supervisor', 'up', true, null],
      ],
    );
    assert.equal(out[1]?.lastRestartReason, 'signal SIGKILL');
    const table = formatHealthTable(out, new Date('2025-01-01T12:00:00Z'));
    assert.match(table, /^COMPONENT +STATE +HTTP +TIME +RESTARTS +LAST RESTART +ERROR +URL$/m);
    assert.match(table, /^function:ocr +up +405 +3 ms +2 +10:04:00 UTC signal SIGKILL /m);
    assert.match(table, /^supervisor +up /m);
  });

  it('says RESTARTING for a dead server the supervisor is bringing back', () => {
    const out = withSupervision([probe('function:ocr', false)], view([status('ocr', { state: 'BACKOFF', pid: null, restarts: 0, lastExit: died, nextRestartAt: '2025-01-01T10:04:00.500Z' })]));
    const ocr = out[0];
    assert.equal(ocr?.state, 'RESTARTING');
    assert.equal(ocr?.ok, false);
    assert.match(ocr?.error ?? '', /^restarting after signal SIGKILL, next attempt at 2025-01-01T10:04:00\.500Z \(connect ECONNREFUSED\)$/);
  });

  it('says CRASH_LOOPING, and fails, even while an instance answers', () => {
    const out = withSupervision(
      [probe('function:embed', true)],
      view([status('embed', { crashLooping: true, restarts: 7, lastExit: { ...died, code: 1, signal: null }, nextRestartAt: '2025-01-01T10:05:30.000Z' })]),
    );
    assert.equal(out[0]?.state, 'CRASH_LOOPING');
    assert.equal(out[0]?.ok, false);
    assert.match(out[0]?.error ?? '', /crash-looping: 7 restarts, last death: exit code 1, next attempt at 2025-01-01T10:05:30\.000Z/);
  });

  it('reports a supervisor that is not running, and leaves everything alone without one', () => {
    const down = withSupervision([probe('function:ocr', true)], view([status('ocr')], false));
    assert.deepEqual(down.at(-1), {
      name: 'supervisor',
      url: '/x/supervisor.json',
      ok: false,
      httpStatus: null,
      latencyMs: 0,
      error: 'not running: function servers that die are not restarted',
      state: 'DOWN',
      restarts: null,
      lastRestartAt: null,
      lastRestartReason: null,
    });
    const none = withSupervision([probe('function:ocr', true)], null);
    assert.deepEqual(none.map((c) => [c.name, c.state, c.restarts]), [['function:ocr', 'up', null]]);
  });
});

describe('scriptorium health with a state file', () => {
  const tmp = mkdtempSync(path.join(tmpdir(), 'scriptorium-health-sup-'));
  let server: http.Server;
  let base = '';
  before(async () => {
    server = http.createServer((req, res) => res.writeHead(req.url === '/api/health' || req.url === '/' || req.url === '/_health' ? 200 : 404).end('{}'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('exits 1 when the supervisor is gone (its pid is not ours), with restarts in the JSON', async () => {
    const stateFile = path.join(tmp, 'supervisor.json');
    // pid 1 never carries the platform's marker: the supervisor counts as not running.
    writeFileSync(stateFile, JSON.stringify(state([status('ocr', { restarts: 3, lastRestartAt: '2025-01-01T10:04:00.500Z', lastRestartReason: 'exit code 1' })])));
    const host = new URL(base).host;
    const config: LocalConfig = {
      projectId: 'p',
      gcpProjectId: 'demo-x',
      bucket: 'b',
      apiUrl: `${base}/api`,
      firestoreEmulatorHost: host,
      pubsubEmulatorHost: host,
      authEmulatorHost: host,
      storageEmulatorHost: host,
      functions: { ocr: `${base}/ocr` },
      demoUser: { email: 'e', password: 'p', uid: 'u' },
      signingKeyFile: '/dev/null',
      logsDir: tmp,
      pgids: {},
      supervisorStateFile: stateFile,
      startedAt: '2025-01-01T10:00:00.000Z',
    };
    const configFile = path.join(tmp, 'local.json');
    writeFileSync(configFile, JSON.stringify(config));
    let stdout = '';
    const code = await main({ argv: ['health', '--json', '--config', configFile], stdout: { write: (s: string) => (stdout += s) }, stderr: { write: () => true }, env: {} });
    assert.equal(code, 1);
    const out = JSON.parse(stdout) as { ok: boolean; components: { name: string; ok: boolean; state: string; restarts: number | null; lastRestartReason: string | null }[] };
    assert.equal(out.ok, false);
    const ocr = out.components.find((c) => c.name === 'function:ocr');
    assert.deepEqual([ocr?.ok, ocr?.state, ocr?.restarts, ocr?.lastRestartReason], [true, 'up', 3, 'exit code 1']);
    const sup = out.components.find((c) => c.name === 'supervisor');
    assert.deepEqual([sup?.ok, sup?.state], [false, 'DOWN']);
  });
});
