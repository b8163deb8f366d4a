/**
 * API load test on the running local stack (`npm start`, or the test stack with
 * SCRIPTORIUM_LOCAL_CONFIG): N distinct users (provisioned through the users API as editors of the
 * demo project, each signed in with the Auth emulator) send requests at once through autocannon, one
 * connection per user, for each scenario:
 * - `health`: `GET /health`, no credential, no Firestore: the baseline of the HTTP path itself;
 * - `read`: `GET /v1/documents/:id`, a simple authenticated read (token verification, the user's
 *   record, the member record, the document);
 * - `upload`: `POST /v1/uploads`, a signed upload creation (validation, a document and a job created
 *   in one transaction, a V4 URL signed).
 * Reports p50/p95/p99 latency, requests per second, the status codes and the error rate, and each
 * scenario's p50 over the baseline's measured in the same run. A figure, not a timed test.
 *
 * By default users send back to back through autocannon (a closed loop): the run measures
 * saturation, where latency ≈ users ÷ throughput. With `--think-ms T` each user waits a random think
 * time (exponential, mean T) between an answer and its next request, users not synchronised, as
 * people using a client are (autocannon's fixed per-connection rate fires every connection in the
 * same instant, a burst each second, so this mode has its own driver and exact percentiles).
 * Each scenario also reports the CPU time per request of each local component (the API process and
 * every emulator, from /proc), which says where the machine's two cores go.
 *
 *   node dist/scripts/bench-api.js [--users 100] [--seconds 20] [--only read,upload] [--think-ms T] [--json out.json]
 */
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { readLocalConfig, type LocalConfig } from '../emulators/local-config.js';
import { API_ROUTES, CreateUploadResponseSchema } from '../shared/api/contracts.js';
import { cpuPerRequest, groupCpuMs } from './bench-common.js';

interface Scenario {
  readonly name: string;
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly body?: string;
  readonly authenticated: boolean;
}

interface Figures {
  readonly scenario: string;
  readonly connections: number;
  readonly seconds: number;
  readonly requests: number;
  readonly requestsPerSecond: number;
  readonly latencyMs: { readonly p50: number; readonly p95: number; readonly p99: number; readonly mean: number; readonly max: number };
  readonly statuses: Record<string, number>;
  readonly errors: number;
  readonly timeouts: number;
  /** Share of requests answered other than 2xx, or not answered. */
  readonly errorRate: number;
  /** CPU time per request of each local component (API, emulators) over the run, ms. */
  readonly cpuMsPerRequest: Record<string, number>;
}

async function signIn(cfg: LocalConfig, email: string, password: string): Promise<{ token: string; uid: string }> {
  const res = await fetch(`http://${cfg.authEmulatorHost}/identitytoolkit.googleapis.com/v1/accounts:signInWithPassword?key=local`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password, returnSecureToken: true }),
  });
  const body = (await res.json()) as { idToken?: string; localId?: string };
  if (!body.idToken || !body.localId) throw new Error(`sign-in of ${email} failed: ${res.status}`);
  return { token: body.idToken, uid: body.localId };
}

/** One API call for the set-up; a 429 (the admin's own rate limit while provisioning) is waited out as Retry-After asks. */
async function call(cfg: LocalConfig, token: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  for (let tries = 1; ; tries++) {
    const out = await callOnce(cfg, token, method, path, body);
    if (out.status !== 429 || tries >= 20) return out;
    await new Promise((resolve) => setTimeout(resolve, Math.max(1, Number(out.retryAfter) || 1) * 1000));
  }
}

async function callOnce(cfg: LocalConfig, token: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown; retryAfter: string | null }> {
  const res = await fetch(`${cfg.apiUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = text;
  }
  return { status: res.status, json, retryAfter: res.headers.get('retry-after') };
}

/** Runs `fn` over `items`, `width` at a time. */
async function pool<T, R>(items: readonly T[], width: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      for (let i = next++; i < items.length; i = next++) out[i] = await fn(items[i] as T, i);
    }),
  );
  return out;
}

/** N users, editors of the project, each with a fresh ID token. Re-running reuses the accounts. */
async function provisionUsers(cfg: LocalConfig, adminToken: string, n: number): Promise<string[]> {
  const password = 'load-test-password';
  const indexes = Array.from({ length: n }, (_, i) => i);
  return pool(indexes, 8, async (i) => {
    const email = `load-${String(i).padStart(3, '0')}@example.test`;
    const created = await call(cfg, adminToken, 'POST', '/v1/users', { email, role: 'editor', password });
    // 409: provisioned by an earlier run (its password is the same).
    if (created.status !== 201 && created.status !== 200 && created.status !== 409) throw new Error(`creating ${email}: ${created.status} ${JSON.stringify(created.json)}`);
    const { token, uid } = await signIn(cfg, email, password);
    const member = await call(cfg, adminToken, 'PUT', `/v1/projects/${cfg.projectId}/members/${uid}`, { role: 'editor', email });
    if (member.status !== 200 && member.status !== 201) throw new Error(`adding ${email} to ${cfg.projectId}: ${member.status} ${JSON.stringify(member.json)}`);
    return token;
  });
}

async function run(cfg: LocalConfig, scenario: Scenario, tokens: readonly string[], seconds: number): Promise<Figures> {
  let client = 0;
  const cpuBefore = cfg.pgids ? groupCpuMs(cfg.pgids) : {};
  const result = await autocannon({
    url: `${cfg.apiUrl}${scenario.path}`,
    method: scenario.method,
    connections: tokens.length,
    duration: seconds,
    timeout: 30,
    ...(scenario.body !== undefined ? { body: scenario.body } : {}),
    headers: scenario.body !== undefined ? { 'content-type': 'application/json' } : {},
    // One connection per user: each sends its own user's token.
    setupClient: (c) => {
      const token = tokens[client++ % tokens.length] ?? '';
      if (scenario.authenticated) c.setHeaders({ authorization: `Bearer ${token}`, ...(scenario.body !== undefined ? { 'content-type': 'application/json' } : {}) });
    },
  });
  const statuses: Record<string, number> = {};
  const codes = result.statusCodeStats as unknown as Record<string, { count: number }> | undefined;
  for (const [code, stat] of Object.entries(codes ?? {})) statuses[code] = stat.count;
  const answered = Object.values(statuses).reduce((a, b) => a + b, 0);
  const ok = Object.entries(statuses).filter(([code]) => code.startsWith('2')).reduce((a, [, n]) => a + n, 0);
  const total = answered + result.errors;
  const cpuMsPerRequest = cpuPerRequest(cpuBefore, cfg.pgids ? groupCpuMs(cfg.pgids) : {}, total);
  return {
    scenario: scenario.name,
    connections: tokens.length,
    seconds,
    requests: total,
    requestsPerSecond: Math.round((total / seconds) * 10) / 10,
    latencyMs: { p50: result.latency.p50, p95: percentileOf(result, 95), p99: result.latency.p99, mean: Math.round(result.latency.average), max: result.latency.max },
    statuses,
    errors: result.errors,
    timeouts: result.timeouts,
    errorRate: total === 0 ? 0 : Math.round(((total - ok) / total) * 10000) / 10000,
    cpuMsPerRequest,
  };
}

/** The q-th percentile (0–100) of sorted values, nearest rank. */
function nearestRank(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((q / 100) * sorted.length) - 1))] ?? 0;
}

/**
 * Users who think between requests: each user sends a request, reads the answer, then waits a
 * random think time (exponential, mean `thinkMs`) before the next, users starting spread over the
 * first think time. Unlike a fixed per-connection rate, arrivals are not synchronised, as people's
 * are not. Latencies are exact (every request is recorded).
 */
async function runWithThinkTime(cfg: LocalConfig, scenario: Scenario, tokens: readonly string[], seconds: number, thinkMs: number): Promise<Figures> {
  const cpuBefore = cfg.pgids ? groupCpuMs(cfg.pgids) : {};
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let errors = 0;
  let timeouts = 0;
  const started = performance.now();
  const end = started + seconds * 1000;
  const think = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, -Math.log(1 - Math.random()) * thinkMs));
  await Promise.all(
    tokens.map(async (token) => {
      await new Promise((resolve) => setTimeout(resolve, Math.random() * thinkMs));
      while (performance.now() < end) {
        const t0 = performance.now();
        try {
          const res = await fetch(`${cfg.apiUrl}${scenario.path}`, {
            method: scenario.method,
            headers: { ...(scenario.authenticated ? { authorization: `Bearer ${token}` } : {}), ...(scenario.body !== undefined ? { 'content-type': 'application/json' } : {}) },
            ...(scenario.body !== undefined ? { body: scenario.body } : {}),
            signal: AbortSignal.timeout(30_000),
          });
          await res.arrayBuffer();
          statuses[String(res.status)] = (statuses[String(res.status)] ?? 0) + 1;
        } catch (err) {
          errors++;
          if (err instanceof Error && err.name === 'TimeoutError') timeouts++;
        }
        latencies.push(performance.now() - t0);
        await think();
      }
    }),
  );
  const wall = (performance.now() - started) / 1000;
  const sorted = [...latencies].sort((a, b) => a - b);
  const total = latencies.length;
  const ok = Object.entries(statuses).filter(([code]) => code.startsWith('2')).reduce((a, [, n]) => a + n, 0);
  const cpuMsPerRequest = cpuPerRequest(cpuBefore, cfg.pgids ? groupCpuMs(cfg.pgids) : {}, total);
  const r = (x: number): number => Math.round(x * 10) / 10;
  return {
    scenario: `${scenario.name} (think time ${thinkMs} ms)`,
    connections: tokens.length,
    seconds,
    requests: total,
    requestsPerSecond: r(total / wall),
    latencyMs: { p50: r(nearestRank(sorted, 50)), p95: r(nearestRank(sorted, 95)), p99: r(nearestRank(sorted, 99)), mean: r(latencies.reduce((a, b) => a + b, 0) / Math.max(1, total)), max: r(sorted.at(-1) ?? 0) },
    statuses,
    errors,
    timeouts,
    errorRate: total === 0 ? 0 : Math.round(((total - ok) / total) * 10000) / 10000,
    cpuMsPerRequest,
  };
}

/**
 * autocannon reports p50, p75, p90, p97.5, p99 (not p95): p95 is read between p90 and p97.5, linearly.
 * The histogram is not exposed, so this is an interpolation, said so in the report.
 */
function percentileOf(result: autocannon.Result, p: 95): number {
  const { p90, p97_5 } = result.latency;
  return Math.round((p90 + ((p97_5 - p90) * (p - 90)) / 7.5) * 10) / 10;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { users: { type: 'string', default: '100' }, seconds: { type: 'string', default: '20' }, only: { type: 'string' }, 'think-ms': { type: 'string' }, json: { type: 'string' } } });
  const thinkMs = values['think-ms'] === undefined ? null : Number(values['think-ms']);
  if (thinkMs !== null && (!Number.isFinite(thinkMs) || thinkMs <= 0)) throw new Error('--think-ms must be > 0');
  const users = Number(values.users);
  const seconds = Number(values.seconds);
  if (!Number.isInteger(users) || users < 1 || users > 1000) throw new Error('--users must be 1..1000');
  if (!Number.isFinite(seconds) || seconds < 1) throw new Error('--seconds must be ≥ 1');
  const cfg = readLocalConfig();
  const admin = await signIn(cfg, cfg.demoUser.email, cfg.demoUser.password);
  const started = Date.now();
  const tokens = await provisionUsers(cfg, admin.token, users);
  process.stderr.write(`${users} users provisioned and signed in (${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
  const upload = await call(cfg, admin.token, 'POST', API_ROUTES.createUpload, { projectId: cfg.projectId, fileName: 'load-read.pdf', contentType: 'application/pdf', size: 1000 });
  const target = CreateUploadResponseSchema.parse(upload.json);
  const scenarios: Scenario[] = [
    { name: 'health (baseline, no auth, no Firestore)', method: 'GET', path: '/health', authenticated: false },
    { name: 'read: GET /v1/documents/:id', method: 'GET', path: API_ROUTES.document(target.documentId), authenticated: true },
    { name: 'upload: POST /v1/uploads (signed URL)', method: 'POST', path: API_ROUTES.createUpload, body: JSON.stringify({ projectId: cfg.projectId, fileName: 'load.pdf', contentType: 'application/pdf', size: 1000 }), authenticated: true },
  ];
  // `--only read,upload`: the scenarios whose name starts with one of these words (add `health` for the baseline).
  const only = values.only?.split(',').map((w) => w.trim()).filter((w) => w.length > 0);
  const figures: Figures[] = [];
  for (const s of scenarios.filter((x) => !only || only.some((w) => x.name.startsWith(w)))) {
    process.stderr.write(`running ${s.name} for ${seconds} s with ${users} connections…\n`);
    figures.push(thinkMs === null ? await run(cfg, s, tokens, seconds) : await runWithThinkTime(cfg, s, tokens, seconds, thinkMs));
  }
  const baseline = figures.find((f) => f.scenario.startsWith('health'))?.latencyMs.p50 ?? 0;
  const lines = figures.map((f) => {
    const ratio = baseline > 0 ? ` (${(f.latencyMs.p50 / baseline).toFixed(1)}× baseline p50)` : '';
    const cpu = Object.entries(f.cpuMsPerRequest).filter(([, ms]) => ms >= 0.05).sort((a, b) => b[1] - a[1]).map(([n, ms]) => `${n} ${ms}`).join(', ');
    return `${f.scenario}: ${f.requests} requests, ${f.requestsPerSecond}/s; latency p50 ${f.latencyMs.p50} ms, p95 ${thinkMs === null ? "≈" : ""}${f.latencyMs.p95} ms, p99 ${f.latencyMs.p99} ms, max ${f.latencyMs.max} ms${ratio}; statuses ${JSON.stringify(f.statuses)}; errors ${f.errors} (timeouts ${f.timeouts}); error rate ${(f.errorRate * 100).toFixed(2)} %; CPU ms per request: ${cpu || 'n/a'}`;
  });
  process.stdout.write(`${lines.join('\n')}\n${thinkMs === null ? "(p95 interpolated between autocannon's p90 and p97.5)" : '(exact percentiles over every request)'}\n`);
  if (values.json) await writeFile(values.json, `${JSON.stringify({ users, seconds, thinkMs, figures }, null, 2)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
