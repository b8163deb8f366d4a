/**
 * The supervisor's restart decisions as pure functions of a clock value: the backoff schedule, the
 * crash-loop window, the reset after a stable run.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backoffDelay, decideRestart, DEFAULT_RESTART_POLICY, describeExit, FRESH_HISTORY, type RestartHistory, type RestartPolicy } from '../../emulators/supervisor.js';

const policy: RestartPolicy = DEFAULT_RESTART_POLICY;

/** Feeds failures (at `times`, each after `uptimeMs`) through decideRestart; the delays and the final history. */
function run(times: readonly number[], uptimeMs: number | readonly number[], p: RestartPolicy = policy): { delays: number[]; history: RestartHistory; entered: number[] } {
  let history = FRESH_HISTORY;
  const delays: number[] = [];
  const entered: number[] = [];
  times.forEach((t, i) => {
    const up = typeof uptimeMs === 'number' ? uptimeMs : (uptimeMs[i] ?? 0);
    const d = decideRestart(p, history, t, up);
    history = d.history;
    delays.push(d.delayMs);
    if (d.enteredCrashLoop) entered.push(i);
  });
  return { delays, history, entered };
}

describe('backoff schedule', () => {
  it('doubles from 500 ms and is capped at 30 s', () => {
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6, 7, 8, 20].map((n) => backoffDelay(policy, n)),
      [500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000],
    );
  });

  it('never overflows, and treats 0 or less as the first failure', () => {
    assert.equal(backoffDelay(policy, 10_000), 30_000);
    assert.equal(backoffDelay(policy, 0), 500);
    assert.equal(backoffDelay(policy, -3), 500);
    assert.equal(backoffDelay({ ...policy, initialDelayMs: 0 }, 5000), 0);
  });

  it('follows a custom policy', () => {
    const p = { ...policy, initialDelayMs: 100, factor: 3, maxDelayMs: 1000 };
    assert.deepEqual([1, 2, 3, 4].map((n) => backoffDelay(p, n)), [100, 300, 900, 1000]);
  });
});

describe('restart decisions', () => {
  it('backs off on consecutive quick failures', () => {
    // Instances that die 1 s after they start, restarted at once (times are the deaths).
    const { delays, history } = run([0, 1500, 3500, 7500], 1000);
    assert.deepEqual(delays, [500, 1000, 2000, 4000]);
    assert.equal(history.consecutive, 4);
    assert.equal(history.crashLooping, false);
  });

  it('enters the crash loop at the 5th quick failure within a minute, then waits the maximum', () => {
    const { delays, history, entered } = run([0, 2000, 5000, 9000, 15_000, 46_000, 77_000], 1000);
    assert.deepEqual(entered, [4], 'the fifth failure starts it');
    assert.deepEqual(delays, [500, 1000, 2000, 4000, 30_000, 30_000, 30_000]);
    assert.equal(history.crashLooping, true, 'sticky while instances keep dying quickly');
  });

  it('does not call failures spread wider than the window a crash loop', () => {
    // Five quick failures, but 20 s apart: at most 3 inside any 60 s window.
    const { history, entered } = run([0, 20_000, 40_000, 60_000, 80_000], 1000);
    assert.deepEqual(entered, []);
    assert.equal(history.crashLooping, false);
    assert.ok(history.quickFailures.length <= 3, `window holds ${history.quickFailures.length}`);
    // The backoff still grows: these are consecutive failures without a stable run.
    assert.equal(history.consecutive, 5);
  });

  it('starts over after a stable run, and a stable run ends a crash loop', () => {
    const looping = run([0, 1000, 2000, 3000, 4000], 100).history;
    assert.equal(looping.crashLooping, true);
    // The next instance ran 45 s (stable after 30 s) before it died.
    const d = decideRestart(policy, looping, 50_000, 45_000);
    assert.equal(d.quick, false);
    assert.equal(d.delayMs, 500);
    assert.deepEqual(d.history, { consecutive: 1, quickFailures: [], crashLooping: false });
  });

  it('counts the uptime boundary as stable', () => {
    assert.equal(decideRestart(policy, FRESH_HISTORY, 0, policy.stableAfterMs).quick, false);
    assert.equal(decideRestart(policy, FRESH_HISTORY, 0, policy.stableAfterMs - 1).quick, true);
  });
});

describe('exit descriptions', () => {
  it('names the signal, else the exit code', () => {
    assert.equal(describeExit({ code: null, signal: 'SIGKILL' }), 'signal SIGKILL');
    assert.equal(describeExit({ code: 3, signal: null }), 'exit code 3');
    assert.equal(describeExit({ code: 0, signal: null }), 'exit code 0');
    assert.equal(describeExit({ code: null, signal: null }), 'spawn failure');
  });
});
