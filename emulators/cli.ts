/**
 * Command line of the local platform.
 *
 *   node dist/emulators/cli.js start  [--profile dev|test] [--persist] [--detach]
 *   node dist/emulators/cli.js stop   [--profile dev|test]
 *   node dist/emulators/cli.js status [--profile dev|test]
 *
 * `start` stays in the foreground until Ctrl-C or SIGTERM, then stops everything; with `--detach`
 * it returns once the platform is ready and leaves it running for a later `stop` (which may run
 * in any process: it works from the pgids recorded under `.scriptorium/<profile>/`). Either way
 * the function servers are children of a supervisor daemon that restarts them when they die
 * (emulators/supervisor-daemon.ts): it outlives a detached start, and `stop` ends it first.
 * The profile defaults to `dev`.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { platformStatus, profilePaths, PROFILES, readProcessesFile, startPlatform, stopPlatform, type Profile, type RunningPlatform } from './platform.js';
import { processesWithMarker, type StopResult } from './processes.js';

/** The repository root: the nearest folder above this file holding the scriptorium package.json. */
function findRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: unknown }).name === 'scriptorium') return dir;
      } catch {
        // Unreadable package.json: keep looking upwards.
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) return process.cwd();
    dir = parent;
  }
}

// Our own client libraries (seed, topology) must not probe for a metadata server offline.
process.env.METADATA_SERVER_DETECTION ??= 'none';

const out = (line: string) => process.stdout.write(`${line}\n`);
const rel = (root: string, file: string) => path.relative(process.cwd(), file) || path.relative(root, file);

function summary(root: string, profile: Profile, platform: RunningPlatform): void {
  const c = platform.config;
  const t = platform.timings;
  out('');
  out(`Scriptorium local platform (${profile}) is up — GCP project ${c.gcpProjectId}`);
  out(`  API          ${c.apiUrl}`);
  out(`  functions    ${Object.entries(c.functions).map(([n, u]) => `${n} ${u}`).join(', ')}`);
  out(`  Firestore    ${c.firestoreEmulatorHost}`);
  out(`  Pub/Sub      ${c.pubsubEmulatorHost}`);
  out(`  Auth         ${c.authEmulatorHost}`);
  out(`  Storage      ${c.storageEmulatorHost} (bucket ${c.bucket})`);
  out(`  demo user    ${c.demoUser.email} / ${c.demoUser.password} (uid ${c.demoUser.uid}), admin of project "${c.projectId}"`);
  out(`  config       ${rel(root, platform.configFile)}`);
  out(`  logs         ${rel(root, c.logsDir)}/`);
  const parts = Object.entries(t).filter(([k]) => k !== 'total').map(([k, v]) => `${k} ${v}`);
  out(`  ready after  ${parts.join(', ')} (ms since start)`);
  out(`  startup      ${(t.total ?? 0) / 1000} s platform, ${Math.round(process.uptime() * 1000) / 1000} s since this process started`);
}

function reportStop(results: readonly StopResult[], survivors: readonly number[]): void {
  const term = results.filter((r) => r.outcome === 'term').length;
  const kill = results.filter((r) => r.outcome === 'kill').length;
  out(`stopped ${term + kill} process group(s)${kill > 0 ? ` (${kill} needed SIGKILL)` : ''}`);
  if (survivors.length > 0) out(`warning: processes still running: ${survivors.join(', ')}`);
}

async function stopAndReport(root: string, profile: Profile): Promise<number> {
  const rec = readProcessesFile(root, profile);
  if (!rec) {
    out(`nothing to stop (${profile}): no process record`);
    await stopPlatform(root, profile);
    return 0;
  }
  const results = await stopPlatform(root, profile, out);
  // Double-check with a scan of every process, not just the recorded groups.
  const survivors = processesWithMarker(rec.marker);
  reportStop(results, survivors);
  return survivors.length > 0 ? 1 : 0;
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      profile: { type: 'string', default: 'dev' },
      persist: { type: 'boolean', default: false },
      detach: { type: 'boolean', default: false },
      root: { type: 'string' },
    },
  });
  const command = positionals[0] ?? 'start';
  const profile = values.profile as Profile;
  if (!PROFILES.includes(profile)) throw new Error(`unknown profile ${values.profile} (dev or test)`);
  const root = values.root ?? findRoot();

  switch (command) {
    case 'start': {
      out(`starting the ${profile} platform${values.persist ? ' (persistent)' : ''}…`);
      // Signals are handled from the first moment: Ctrl-C during the start aborts it (the platform
      // then stops what it had started); once up, it stops everything and exits.
      const aborter = new AbortController();
      let platform: RunningPlatform | undefined;
      let resolveStopped: (code: number) => void = () => {};
      const stopped = new Promise<number>((resolve) => {
        resolveStopped = resolve;
      });
      let stopping = false;
      const onSignal = (signal: NodeJS.Signals) => {
        if (stopping) {
          out(`${signal} again: leaving now; run \`stop --profile ${profile}\` to clean up`);
          process.exit(130);
        }
        stopping = true;
        if (!platform) {
          out(`\n${signal}: aborting the start…`);
          aborter.abort(new Error(`interrupted by ${signal}`));
          return;
        }
        out(`\n${signal}: stopping…`);
        stopAndReport(root, profile).then(resolveStopped, (err: unknown) => {
          out(`stop failed: ${(err as Error).message}`);
          resolveStopped(1);
        });
      };
      for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, onSignal);
      try {
        platform = await startPlatform({
          profile,
          root,
          persist: values.persist,
          log: out,
          signal: aborter.signal,
          // In the foreground, function deaths and restarts show here; detached, in logs/supervisor.log.
          ...(values.detach ? {} : { supervisorLog: (line: string) => out(`supervisor: ${line}`) }),
        });
      } catch (err) {
        if (aborter.signal.aborted) {
          out('start aborted; everything it had started is stopped');
          return 130;
        }
        throw err;
      }
      summary(root, profile, platform);
      if (values.detach) {
        out(`  stop with    node ${rel(root, path.join(root, 'dist', 'emulators', 'cli.js'))} stop --profile ${profile}`);
        return 0;
      }
      out('  Ctrl-C stops everything.');
      // Also keeps the event loop alive (the children are unref'd). Watches for `stop` run from
      // another shell, which removes the processes file: then this foreground process ends too.
      const processesFile = profilePaths(root, profile).processesFile;
      const watch = setInterval(() => {
        if (!stopping && !existsSync(processesFile)) {
          stopping = true;
          out('the platform was stopped from elsewhere');
          resolveStopped(0);
        }
      }, 1000);
      const code = await stopped;
      clearInterval(watch);
      return code;
    }
    case 'stop':
      return stopAndReport(root, profile);
    case 'status': {
      const rows = await platformStatus(root, profile);
      if (rows.length === 0) {
        out(`${profile}: not running`);
        return 1;
      }
      for (const r of rows) {
        if (r.name === 'supervisor') {
          out(`${r.name.padEnd(12)} pgid ${String(r.pgid).padEnd(7)} ${r.alive ? 'running' : 'gone: function servers that die are not restarted'}`);
          continue;
        }
        const answer = r.http === null ? 'no answer' : r.url?.startsWith('tcp:') ? 'listening' : `HTTP ${r.http}`;
        const s = r.supervised;
        const restarts = s ? `, ${s.restarts} restart${s.restarts === 1 ? '' : 's'}${s.lastRestartReason ? ` (last ${s.lastRestartAt ?? ''} after ${s.lastRestartReason})` : ''}${s.crashLooping ? ', CRASH_LOOPING' : ''}` : '';
        out(`${r.name.padEnd(12)} pgid ${String(r.pgid).padEnd(7)} ${r.alive ? 'running' : 'gone   '} ${r.url ?? ''} (${answer}${restarts})`);
      }
      return rows.every((r) => r.alive) ? 0 : 1;
    }
    default:
      throw new Error(`unknown command ${command} (start, stop or status)`);
  }
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exitCode = 1;
}
// Client libraries may keep sockets open; the platform's own processes are detached and unaffected.
process.exit();
