/**
 * `scriptorium health`: does every component of the local stack answer? Needs no sign-in, so it
 * also works when the Auth emulator is the thing that is down. With the supervisor's state file
 * (named in the local config) it also shows, per function server, how often it was restarted,
 * when and why last, and whether it is crash-looping; and whether the supervisor itself runs. For a
 * scheduled function (the supervisor calls it on its schedule) it shows the last run and its result.
 */
import type { LocalConfig } from '../../../emulators/local-config.js';
import { markedGroupMembers } from '../../../emulators/processes.js';
import { describePeriod, type ScheduleStatus } from '../../../emulators/supervisor-schedule.js';
import { describeExit, readSupervisorState, type SupervisorState } from '../../../emulators/supervisor.js';
import { API_ROUTES } from '../../../shared/api/contracts.js';
import { parseCommand } from '../args.js';
import { EXIT, UsageError, CliFailure, type CliContext, type Command } from '../io.js';
import { describeFetchError, hostUrl, loadConfig } from '../session.js';

/** One component to probe. */
export interface Probe {
  readonly name: string;
  readonly url: string;
  /** Which answers count as up. */
  readonly accept: 'ok' | 'any';
  /** Tried when the first URL does not count as up (the Auth emulator's config endpoint). */
  readonly fallbackUrl?: string;
}

/** The result of one probe. */
export interface ProbeResult {
  readonly name: string;
  readonly url: string;
  readonly ok: boolean;
  /** HTTP status, when there was an answer. */
  readonly httpStatus: number | null;
  readonly latencyMs: number;
  readonly error: string | null;
}

/** The probes for a local config: emulators, the api's `/health`, and every function server. */
export function probesFor(config: LocalConfig): Probe[] {
  const probes: Probe[] = [
    { name: 'api', url: `${config.apiUrl.replace(/\/+$/, '')}${API_ROUTES.health}`, accept: 'ok' },
    { name: 'firestore-emulator', url: `${hostUrl(config.firestoreEmulatorHost)}/`, accept: 'ok' },
    { name: 'pubsub-emulator', url: `${hostUrl(config.pubsubEmulatorHost)}/`, accept: 'ok' },
    {
      name: 'auth-emulator',
      url: `${hostUrl(config.authEmulatorHost)}/`,
      accept: 'ok',
      fallbackUrl: `${hostUrl(config.authEmulatorHost)}/emulator/v1/projects/${encodeURIComponent(config.gcpProjectId)}/config`,
    },
    { name: 'storage-emulator', url: `${hostUrl(config.storageEmulatorHost)}/_health`, accept: 'ok' },
  ];
  // A function server counts as up when it answers HTTP at all (its root may well be a 404).
  for (const [name, url] of Object.entries(config.functions).sort(([a], [b]) => a.localeCompare(b))) {
    probes.push({ name: `function:${name}`, url: hostUrl(url), accept: 'any' });
  }
  return probes;
}

async function fetchOnce(url: string, timeoutMs: number): Promise<{ status: number } | { error: string }> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    // The body is not needed, but must be consumed or cancelled so the socket is released.
    await res.body?.cancel();
    return { status: res.status };
  } catch (err) {
    return { error: describeFetchError(err) };
  }
}

/** Runs one probe (and its fallback). */
export async function runProbe(probe: Probe, timeoutMs: number): Promise<ProbeResult> {
  const started = performance.now();
  const counts = (status: number) => (probe.accept === 'any' ? true : status >= 200 && status < 300);
  let url = probe.url;
  let answer = await fetchOnce(url, timeoutMs);
  if (probe.fallbackUrl && !('status' in answer && counts(answer.status))) {
    const second = await fetchOnce(probe.fallbackUrl, timeoutMs);
    if ('status' in second && counts(second.status)) {
      url = probe.fallbackUrl;
      answer = second;
    }
  }
  const latencyMs = Math.round(performance.now() - started);
  if ('error' in answer) return { name: probe.name, url, ok: false, httpStatus: null, latencyMs, error: answer.error };
  const ok = counts(answer.status);
  return { name: probe.name, url, ok, httpStatus: answer.status, latencyMs, error: ok ? null : `HTTP ${answer.status}` };
}

/** A component's health: its probe, and for a supervised function server its restarts. */
export interface ComponentHealth extends ProbeResult {
  /** `up`, `DOWN`, `RESTARTING` (dead, the supervisor is bringing it back) or `CRASH_LOOPING`. */
  readonly state: string;
  /** Restarts since the platform started (null: not supervised, or no supervisor state). */
  readonly restarts: number | null;
  readonly lastRestartAt: string | null;
  /** How the instance before the last restart ended: `signal SIGKILL`, `exit code 1`. */
  readonly lastRestartReason: string | null;
  /** A scheduled function's schedule and last run (absent for everything else). */
  readonly schedule?: ScheduleStatus;
}

/** What `health` knows of the supervisor: its state file, and whether its process is alive. */
export interface SupervisionView {
  readonly stateFile: string;
  readonly state: SupervisorState | null;
  readonly alive: boolean;
}

/** Reads the supervisor's state and checks its process (by pgid and the platform's marker). */
export function readSupervision(stateFile: string): SupervisionView {
  const state = readSupervisorState(stateFile);
  let alive = false;
  try {
    alive = state !== null && state.stoppingAt === null && markedGroupMembers(state.pgid, state.marker).length > 0;
  } catch {
    // No /proc (not Linux): liveness unknown, reported as not running.
  }
  return { stateFile, state, alive };
}

/**
 * Adds the supervisor's view to the probe results: restarts of each function server, RESTARTING or
 * CRASH_LOOPING instead of a bare DOWN, and a `supervisor` component. A crash-looping function
 * is not healthy even while an instance happens to answer.
 */
export function withSupervision(results: readonly ProbeResult[], supervision: SupervisionView | null): ComponentHealth[] {
  const out: ComponentHealth[] = results.map((r) => {
    const plain: ComponentHealth = { ...r, state: r.ok ? 'up' : 'DOWN', restarts: null, lastRestartAt: null, lastRestartReason: null };
    const s = r.name.startsWith('function:') ? supervision?.state?.processes[r.name.slice('function:'.length)] : undefined;
    if (!s) return plain;
    // The schedule is shown, never judged: a failed run says nothing of the function server's health
    // (Firestore may have been briefly away), and the next period calls again.
    const restarts = { restarts: s.restarts, lastRestartAt: s.lastRestartAt, lastRestartReason: s.lastRestartReason, ...(s.schedule ? { schedule: s.schedule } : {}) };
    const died = s.lastExit ? describeExit({ code: s.lastExit.code, signal: s.lastExit.signal as NodeJS.Signals | null }) : 'unknown';
    const next = s.nextRestartAt ? `, next attempt at ${s.nextRestartAt}` : '';
    if (s.crashLooping) {
      return { ...plain, ...restarts, ok: false, state: 'CRASH_LOOPING', error: `crash-looping: ${s.restarts} restarts, last death: ${died}${next}` };
    }
    if (!r.ok && (s.state === 'BACKOFF' || s.state === 'STARTING') && (s.restarts > 0 || s.lastExit)) {
      return { ...plain, ...restarts, state: 'RESTARTING', error: `restarting after ${died}${next}${r.error ? ` (${r.error})` : ''}` };
    }
    return { ...plain, ...restarts };
  });
  if (supervision) {
    const ok = supervision.alive;
    const error = ok ? null : supervision.state === null ? 'no supervisor state: function servers that die are not restarted' : 'not running: function servers that die are not restarted';
    out.push({ name: 'supervisor', url: supervision.stateFile, ok, httpStatus: null, latencyMs: 0, error, state: ok ? 'up' : 'DOWN', restarts: null, lastRestartAt: null, lastRestartReason: null });
  }
  return out;
}

/** `2025-01-31T10:00:00.000Z` → `10:00:00` (the date when not today, in UTC like the logs). */
function shortTime(iso: string, now: Date): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const time = d.toISOString().slice(11, 19);
  return d.toISOString().slice(0, 10) === now.toISOString().slice(0, 10) ? time : `${d.toISOString().slice(0, 10)} ${time}`;
}

/** The table printed without `--json`. */
export function formatHealthTable(results: readonly (ProbeResult | ComponentHealth)[], now = new Date()): string {
  const rows = results.map((r) => {
    const h = 'state' in r ? r : null;
    const restarts = h?.restarts === null || h?.restarts === undefined ? '-' : String(h.restarts);
    const last = h?.lastRestartAt ? `${shortTime(h.lastRestartAt, now)} UTC ${h.lastRestartReason ?? ''}`.trimEnd() : '-';
    return [r.name, h?.state ?? (r.ok ? 'up' : 'DOWN'), r.httpStatus === null ? '-' : String(r.httpStatus), `${r.latencyMs} ms`, restarts, last, r.error ?? '', r.url];
  });
  const header = ['COMPONENT', 'STATE', 'HTTP', 'TIME', 'RESTARTS', 'LAST RESTART', 'ERROR', 'URL'];
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((row) => (row[i] ?? '').length)));
  return all.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ').trimEnd() + '\n').join('');
}

/**
 * One line per scheduled function, printed under the table: its period, the last run and how it
 * went, the next one. Empty when no function is scheduled (or the supervisor's state is unknown).
 */
export function formatScheduleLines(results: readonly (ProbeResult | ComponentHealth)[], now = new Date()): string {
  const lines: string[] = [];
  for (const r of results) {
    const sch = 'schedule' in r ? r.schedule : undefined;
    if (!sch) continue;
    const every = `every ${describePeriod(sch.periodMs)} (${sch.source === 'override' ? 'SCRIPTORIUM_SCHEDULE_SECONDS' : `cron "${sch.cron}"`})`;
    const last = sch.lastRun
      ? `last run ${shortTime(sch.lastRun.at, now)} UTC ${sch.lastRun.ok ? 'ok' : 'FAILED'}: ${sch.lastRun.status === null ? '' : `HTTP ${sch.lastRun.status} `}in ${sch.lastRun.ms} ms ${sch.lastRun.detail}`.trimEnd()
      : 'no run yet';
    const inFlight = sch.inFlightSince ? `; a run in flight since ${shortTime(sch.inFlightSince, now)} UTC` : '';
    const next = sch.nextRunAt ? `; next ${shortTime(sch.nextRunAt, now)} UTC` : '';
    lines.push(`scheduled ${r.name} ${every}: ${last}${inFlight}${next}; ${sch.runs} run(s), ${sch.failures} failed\n`);
  }
  return lines.join('');
}

const USAGE = `Usage: scriptorium health [--json] [--config FILE]

Checks that every component of the local stack answers: the api (/health), the Firestore, Pub/Sub,
Auth and storage emulators, and every function server. The local platform restarts a function
server that dies (with a growing delay, up to 30 s); for each one the table shows how often it was
restarted, when and why last (exit code or signal), and the state RESTARTING while it comes back
or CRASH_LOOPING after 5 deaths within a minute (it is still retried, every 30 s: see its log under
.scriptorium/<profile>/logs/). The supervisor doing this is a component of its own. It also calls
each scheduled function (the reaper) on its schedule, as Cloud Scheduler does in production: a line
under the table shows the last run and its result (a failed run does not make health fail).

Options:
  --json          print {ok, components:[{name,url,ok,state,httpStatus,latencyMs,error,restarts,
                  lastRestartAt,lastRestartReason,schedule?}]} on stdout (restarts: null when not
                  supervised; schedule: a scheduled function's period, last run, next run)
  --config FILE   local stack config (default: $SCRIPTORIUM_LOCAL_CONFIG or .scriptorium/local.json)
  -h, --help      show this help

Exit status: 0 when every component answers (and none is crash-looping), 1 otherwise.
`;

async function run(ctx: CliContext): Promise<number> {
  const { values, positionals } = parseCommand(ctx.argv, { json: { type: 'boolean' } });
  if (values.help) {
    ctx.stdout.write(USAGE);
    return EXIT.OK;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
  let config: LocalConfig;
  try {
    config = loadConfig(values.config, ctx.env);
  } catch (err) {
    if (values.json && err instanceof CliFailure) {
      ctx.stdout.write(`${JSON.stringify({ ok: false, error: err.message, components: [] })}\n`);
      return EXIT.FAILURE;
    }
    throw err;
  }
  const probed = await Promise.all(probesFor(config).map((p) => runProbe(p, 5000)));
  const results = withSupervision(probed, config.supervisorStateFile ? readSupervision(config.supervisorStateFile) : null);
  const ok = results.every((r) => r.ok);
  if (values.json) {
    ctx.stdout.write(`${JSON.stringify({ ok, components: results })}\n`);
  } else {
    ctx.stdout.write(formatHealthTable(results));
    ctx.stdout.write(formatScheduleLines(results));
    const down = results.filter((r) => !r.ok).length;
    ctx.stderr.write(ok ? `all ${results.length} components answer\n` : `${down} of ${results.length} components do not answer or are crash-looping\n`);
  }
  return ok ? EXIT.OK : EXIT.FAILURE;
}

/** `scriptorium health`. */
export const healthCommand: Command = { name: 'health', summary: 'check that every component of the local stack answers', usage: USAGE, run };
