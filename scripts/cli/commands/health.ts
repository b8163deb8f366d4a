/**
 * `scriptorium health`: does every component of the local stack answer? Needs no sign-in, so it
 * also works when the Auth emulator is the thing that is down.
 */
import type { LocalConfig } from '../../../emulators/local-config.js';
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

/** The table printed without `--json`. */
export function formatHealthTable(results: readonly ProbeResult[]): string {
  const rows = results.map((r) => [r.name, r.ok ? 'up' : 'DOWN', r.httpStatus === null ? '-' : String(r.httpStatus), `${r.latencyMs} ms`, r.error ?? '', r.url]);
  const header = ['COMPONENT', 'STATE', 'HTTP', 'TIME', 'ERROR', 'URL'];
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((row) => (row[i] ?? '').length)));
  return all.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ').trimEnd() + '\n').join('');
}

const USAGE = `Usage: scriptorium health [--json] [--config FILE]

Checks that every component of the local stack answers: the api (/health), the Firestore, Pub/Sub,
Auth and storage emulators, and every function server.

Options:
  --json          print {ok, components:[{name,url,ok,httpStatus,latencyMs,error}]} on stdout
  --config FILE   local stack config (default: $SCRIPTORIUM_LOCAL_CONFIG or .scriptorium/local.json)
  -h, --help      show this help

Exit status: 0 when every component answers, 1 otherwise.
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
  const results = await Promise.all(probesFor(config).map((p) => runProbe(p, 5000)));
  const ok = results.every((r) => r.ok);
  if (values.json) {
    ctx.stdout.write(`${JSON.stringify({ ok, components: results })}\n`);
  } else {
    ctx.stdout.write(formatHealthTable(results));
    const down = results.filter((r) => !r.ok).length;
    ctx.stderr.write(ok ? `all ${results.length} components answer\n` : `${down} of ${results.length} components do not answer\n`);
  }
  return ok ? EXIT.OK : EXIT.FAILURE;
}

/** `scriptorium health`. */
export const healthCommand: Command = { name: 'health', summary: 'check that every component of the local stack answers', usage: USAGE, run };
