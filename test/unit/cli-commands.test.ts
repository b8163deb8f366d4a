/**
 * Unit tests of the CLI's commands, run in-process through `main()`: usage errors (exit 2), help,
 * and each command against a fake api/storage HTTP server and a fake signed-in session (no
 * emulators needed; the integration test covers the real stack).
 */
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { main, COMMANDS } from '../../scripts/cli/main.js';
import { CliFailure, type CliContext } from '../../scripts/cli/io.js';
import { ApiClient, type Session } from '../../scripts/cli/session.js';
import { toDocumentView, toJobView, type JobView } from '../../scripts/cli/job-view.js';
import type { LocalConfig } from '../../emulators/local-config.js';
import { problemBody } from '../../shared/http/problem.js';

/** A captured output stream. */
class Capture {
  text = '';
  constructor(
    readonly isTTY = false,
    readonly columns = 80,
  ) {}
  write(s: string): boolean {
    this.text += s;
    return true;
  }
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(argv: string[], openSession?: CliContext['openSession'], env: Record<string, string | undefined> = {}): Promise<Run> {
  const stdout = new Capture();
  const stderr = new Capture();
  const code = await main({ argv, stdout, stderr, env, openSession });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

const tmp = mkdtempSync(path.join(tmpdir(), 'scriptorium-cli-test-'));
const pdf = path.join(tmp, 'doc.pdf');
writeFileSync(pdf, Buffer.alloc(5000, 7));
const empty = path.join(tmp, 'empty.pdf');
writeFileSync(empty, '');
const emptyDir = path.join(tmp, 'empty-dir');
mkdirSync(emptyDir);

/** What the fake api/storage server saw and how it should answer. */
const fake = {
  uploads: [] as Record<string, unknown>[],
  puts: [] as { headers: http.IncomingHttpHeaders; bytes: number; url: string }[],
  createStatus: 201,
  createError: null as { code: string; message: string } | null,
  /** How many create-upload requests to answer 503 before answering normally. */
  createFailures: 0,
  /** Replaces the create-upload answer (to test contract checking). */
  createBody: null as unknown,
  putStatus: 200,
  text: new Map<string, string>(),
  /** Document records `GET /v1/documents/:id` answers with. */
  documents: new Map<string, Record<string, unknown>>(),
  auth: [] as (string | undefined)[],
  /** PUTs in flight now, and the most seen at once. */
  putsActive: 0,
  putsPeak: 0,
  /** Job ids `POST /v1/jobs/:id/retry` was called for, and what it answers. */
  retries: [] as string[],
  retryAnswer: null as { status: number; body: unknown } | null,
};

let server: http.Server;
/** A loopback port nothing listens on (bound, then released). */
let closedPort = 0;
let base = '';
let configFile = '';

function config(): LocalConfig {
  return {
    projectId: 'demo-project',
    gcpProjectId: 'demo-scriptorium',
    bucket: 'demo-scriptorium-documents',
    apiUrl: `${base}/api`,
    firestoreEmulatorHost: new URL(base).host,
    pubsubEmulatorHost: new URL(base).host,
    authEmulatorHost: new URL(base).host,
    storageEmulatorHost: new URL(base).host,
    functions: { api: `${base}/api`, ingest: `${base}/ingest` },
    demoUser: { email: 'demo@example.com', password: 'pw', uid: 'u1' },
    signingKeyFile: '/dev/null',
    logsDir: tmp,
    pgids: {},
    startedAt: new Date().toISOString(),
  };
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

before(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    if (req.method === 'PUT') {
      fake.putsActive += 1;
      fake.putsPeak = Math.max(fake.putsPeak, fake.putsActive);
    }
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = req.url ?? '/';
      const body = Buffer.concat(chunks);
      if (url.startsWith('/api/')) fake.auth.push(req.headers.authorization);
      if (req.method === 'POST' && url === '/api/v1/uploads') {
        const request = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
        fake.uploads.push(request);
        if (fake.createError) return json(res, fake.createStatus, problemBody(fake.createStatus, fake.createError.code, fake.createError.message));
        if (fake.createFailures > 0) {
          fake.createFailures -= 1;
          return json(res, 503, problemBody(503, 'UNAVAILABLE', 'try again'));
        }
        if (fake.createBody !== null) return json(res, 200, fake.createBody);
        const n = fake.uploads.length;
        return json(res, 201, {
          documentId: `doc${n}`,
          jobId: `job${n}`,
          uploadUrl: `${base}/storage/b/o${n}?X-Goog-Signature=abc`,
          method: 'PUT',
          headers: { 'content-type': String(request.contentType), 'x-goog-content-length-range': `${String(request.size)},${String(request.size)}`, 'x-goog-if-generation-match': '0' },
          expiresAt: '2030-01-01T00:00:00.000Z',
          bucket: 'b',
          object: `o${n}`,
        });
      }
      if (req.method === 'PUT' && url.startsWith('/storage/')) {
        fake.puts.push({ headers: req.headers, bytes: body.length, url });
        fake.putsActive -= 1;
        if (fake.putStatus !== 200) {
          res.writeHead(fake.putStatus, { 'content-type': 'application/xml' }).end('<?xml version="1.0"?><Error><Code>EntityTooLarge</Code><Message>too big</Message></Error>');
          return;
        }
        return json(res, 200, {});
      }
      const retry = /^\/api\/v1\/jobs\/([^/]+)\/retry$/.exec(url);
      if (req.method === 'POST' && retry) {
        fake.retries.push(decodeURIComponent(retry[1] ?? ''));
        const answer = fake.retryAnswer ?? { status: 409, body: problemBody(409, 'JOB_NOT_RETRYABLE', 'not scripted') };
        return json(res, answer.status, answer.body);
      }
      const text = /^\/api\/v1\/documents\/([^/]+)\/text$/.exec(url);
      if (req.method === 'GET' && text) {
        const value = fake.text.get(decodeURIComponent(text[1] ?? ''));
        if (value === undefined) return json(res, 404, problemBody(404, 'NOT_FOUND', 'no such document'));
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end(value);
        return;
      }
      const doc = /^\/api\/v1\/documents\/([^/]+)$/.exec(url);
      if (req.method === 'GET' && doc) {
        const id = decodeURIComponent(doc[1] ?? '');
        const record = fake.documents.get(id);
        if (record === undefined) return json(res, 404, problemBody(404, 'NOT_FOUND', 'no such document'));
        return json(res, 200, { id, ...record });
      }
      if (url === '/api/health' || url === '/' || url === '/_health') return json(res, 200, { ok: true });
      if (url.startsWith('/emulator/')) return json(res, 200, {});
      return json(res, 404, problemBody(404, 'NOT_FOUND', url));
    });
  });
  const probe = http.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  closedPort = (probe.address() as AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  configFile = path.join(tmp, 'local.json');
  writeFileSync(configFile, JSON.stringify(config()));
});

after(() => {
  server.close();
  rmSync(tmp, { recursive: true, force: true });
});

beforeEach(() => {
  fake.uploads = [];
  fake.puts = [];
  fake.createStatus = 201;
  fake.createError = null;
  fake.createBody = null;
  fake.createFailures = 0;
  fake.putStatus = 200;
  fake.auth = [];
  fake.putsActive = 0;
  fake.putsPeak = 0;
  fake.retries = [];
  fake.retryAnswer = null;
});

/** A scripted job: the updates the fake listener delivers, and what the fake Firestore holds. */
interface Script {
  updates?: Record<string, unknown>[];
  /** Per uploaded file name (as sent in the create-upload request); wins over `updates`. */
  updatesByFile?: Record<string, Record<string, unknown>[]>;
  listenError?: Error & { code?: string };
  job?: Record<string, unknown> | Error;
  document?: Record<string, unknown>;
}

function fakeSession(script: Script): { open: CliContext['openSession']; state: { closed: number; unsubscribed: number; watching: string[]; active: number; peak: number } } {
  const state = { closed: 0, unsubscribed: 0, watching: [] as string[], active: 0, peak: 0 };
  const open = (cfg: LocalConfig): Promise<Session> =>
    Promise.resolve({
      config: cfg,
      userEmail: cfg.demoUser.email,
      api: new ApiClient(cfg.apiUrl, () => Promise.resolve('fake-token')),
      watchJob(jobId: string, onChange: (job: JobView | null) => void, onError: (e: Error) => void) {
        state.watching.push(jobId);
        state.active += 1;
        state.peak = Math.max(state.peak, state.active);
        let stopped = false;
        // The fake api numbers jobs job1, job2, ... in the order of the create-upload requests.
        const fileName = String(fake.uploads[Number(jobId.replace(/^job/, '')) - 1]?.fileName);
        const updates = script.updatesByFile?.[fileName] ?? script.updates ?? [];
        // Deliver asynchronously, like the SDK.
        void (async () => {
          onChange(null);
          for (const u of updates) {
            await new Promise((r) => setTimeout(r, 5));
            if (stopped) return;
            onChange(toJobView(jobId, u));
          }
          if (script.listenError && !stopped) onError(script.listenError);
        })();
        return () => {
          stopped = true;
          state.active -= 1;
          state.unsubscribed += 1;
        };
      },
      getJob(jobId: string) {
        if (script.job instanceof Error) return Promise.reject(script.job);
        return Promise.resolve(script.job ? toJobView(jobId, script.job) : null);
      },
      getDocument(documentId: string) {
        return Promise.resolve(script.document ? toDocumentView(documentId, script.document) : null);
      },
      close() {
        state.closed += 1;
        return Promise.resolve();
      },
    });
  return { open, state };
}

/** Base64 MD5 of a file, as Cloud Storage reports it. */
function md5(file: string): string {
  return createHash('md5').update(readFileSync(file)).digest('base64');
}

const neverOpen: CliContext['openSession'] = () => Promise.reject(new Error('a usage error must not sign in'));

void describe('usage errors exit 2 without signing in', () => {
  const cases: [string, string[], RegExp][] = [
    ['no command', [], /Usage: scriptorium/],
    ['unknown command', ['frobnicate'], /unknown command 'frobnicate'/],
    ['unknown option', ['upload', pdf, '--bogus'], /Unknown option '--bogus'/],
    ['upload without FILE', ['upload'], /missing FILE/],
    ['upload of a missing file', ['upload', path.join(tmp, 'nope.pdf')], /no such file/],
    ['upload of an empty directory', ['upload', emptyDir], /no files to upload in .*empty-dir/],
    ['upload of a missing file among others', ['upload', pdf, path.join(tmp, 'nope.pdf')], /nope\.pdf: no such file/],
    ['upload of an empty file', ['upload', empty], /is empty/],
    ['upload with a zero concurrency', ['upload', pdf, '--concurrency', '0'], /--concurrency must be a positive integer/],
    ['upload with too much concurrency', ['upload', pdf, '--concurrency', '100'], /--concurrency must be at most 64/],
    ['upload with a bad timeout', ['upload', pdf, '--timeout', '0'], /--timeout must be a positive number/],
    ['upload with a bad type', ['upload', pdf, '--type', 'pdf'], /invalid --type/],
    ['upload with a bad project', ['upload', pdf, '--project', 'Not_Valid'], /invalid --project/],
    ['upload with a missing option value', ['upload', pdf, '--type'], /argument missing/],
    ['upload-url without NAME', ['upload-url', '--type', 'application/pdf', '--size', '3'], /missing NAME/],
    ['upload-url without --type', ['upload-url', 'a.pdf', '--size', '3'], /missing --type/],
    ['upload-url without --size', ['upload-url', 'a.pdf', '--type', 'application/pdf'], /missing --size/],
    ['upload-url with a negative size', ['upload-url', 'a.pdf', '--type', 'application/pdf', '--size=-3'], /--size must be a positive integer/],
    ['upload-url with a fractional size', ['upload-url', 'a.pdf', '--type', 'application/pdf', '--size', '1.5'], /--size must be a positive integer/],
    ['upload-url with a zero size', ['upload-url', 'a.pdf', '--type', 'application/pdf', '--size', '0'], /--size must be a positive integer/],
    ['text without id', ['text'], /missing DOCUMENT_ID/],
    ['summary without id', ['summary'], /missing DOCUMENT_ID/],
    ['summary with two ids', ['summary', 'a', 'b'], /expected one DOCUMENT_ID/],
    ['job with two ids', ['job', 'a', 'b'], /expected one JOB_ID/],
    ['job --timeout without --follow', ['job', 'j1', '--timeout', '5'], /--timeout needs --follow/],
    ['job --stall-timeout without --follow', ['job', 'j1', '--stall-timeout', '5'], /--stall-timeout needs --follow/],
    ['job --follow with a bad --stall-timeout', ['job', 'j1', '--follow', '--stall-timeout', 'soon'], /--stall-timeout must be a number of seconds \(0 to disable\)/],
    ['job --follow with a bad --timeout', ['job', 'j1', '--follow', '--timeout', '0'], /--timeout must be a positive number/],
    ['retry --stall-timeout without --follow', ['retry', 'job_0123456789abcdef0123', '--stall-timeout', '5'], /--stall-timeout needs --follow/],
    ['retry --follow with a bad --timeout', ['retry', 'job_0123456789abcdef0123', '--follow', '--timeout', 'x'], /--timeout must be a positive number/],
    ['retry --follow of a bad id', ['retry', 'nope', '--follow'], /invalid job id 'nope'/],
    ['health with an argument', ['health', 'now'], /unexpected argument/],
    ['speak with a bad --stall-timeout', ['speak', 'Hello.', '--out', path.join(tmp, 'x.mp3'), '--stall-timeout', 'soon'], /--stall-timeout must be a number of seconds \(0 to disable\), got 'soon'/],
    ['speak with a negative --stall-timeout', ['speak', 'Hello.', '--out', path.join(tmp, 'x.mp3'), '--stall-timeout=-1'], /--stall-timeout must be a number of seconds \(0 to disable\)/],
    ['speak with a bad --timeout', ['speak', 'Hello.', '--out', path.join(tmp, 'x.mp3'), '--timeout', '0'], /--timeout must be a positive number of seconds, got '0'/],
    ['speak with --stall-timeout without a value', ['speak', 'Hello.', '--out', path.join(tmp, 'x.mp3'), '--stall-timeout'], /argument missing/],
    ['translate-video with a bad --stall-timeout', ['translate-video', pdf, '--to', 'es', '--stall-timeout', '10m'], /--stall-timeout must be a number of seconds \(0 to disable\), got '10m'/],
    ['translate-video with a bad --timeout', ['translate-video', pdf, '--to', 'es', '--timeout', 'abc'], /--timeout must be a positive number of seconds, got 'abc'/],
    ['reembed with a bad --stall-timeout', ['reembed', '--stall-timeout', 'later'], /--stall-timeout must be a number of seconds \(0 to disable\), got 'later'/],
    ['reembed with a bad --timeout', ['reembed', '--timeout=-5'], /--timeout must be a positive number of seconds/],
  ];
  for (const [name, argv, message] of cases) {
    void it(name, async () => {
      const r = await run(argv, neverOpen);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, message);
      assert.equal(r.stdout, '');
    });
  }
});

void describe('the follow settings of speak, translate-video and reembed come from the environment as upload\'s', () => {
  const commands: [string, string[]][] = [
    ['speak', ['speak', 'Hello.', '--out', path.join(tmp, 'x.mp3')]],
    ['translate-video', ['translate-video', pdf, '--to', 'es']],
    ['reembed', ['reembed']],
  ];
  for (const [name, argv] of commands) {
    void it(`${name}: a bad $SCRIPTORIUM_STALL_TIMEOUT or $SCRIPTORIUM_STALL_WARN is a usage error (exit 2), before signing in`, async () => {
      const timeout = await run(argv, neverOpen, { SCRIPTORIUM_STALL_TIMEOUT: '10m' });
      assert.equal(timeout.code, 2, timeout.stderr);
      assert.match(timeout.stderr, /SCRIPTORIUM_STALL_TIMEOUT must be a number of seconds \(0 to disable\), got '10m'/);
      assert.equal(timeout.stdout, '');
      const warn = await run(argv, neverOpen, { SCRIPTORIUM_STALL_WARN: 'often' });
      assert.equal(warn.code, 2, warn.stderr);
      assert.match(warn.stderr, /SCRIPTORIUM_STALL_WARN must be a number of seconds/);
    });
    void it(`${name}: --help shows --timeout and --stall-timeout`, async () => {
      const r = await run([name, '--help']);
      assert.equal(r.code, 0);
      assert.match(r.stdout, /\[--timeout SECONDS\] \[--stall-timeout SECONDS\]/);
      assert.match(r.stdout, /^ {2}--stall-timeout SECONDS$/m);
      assert.match(r.stdout, /"stalled: no progress for N s"/);
      assert.match(r.stdout, /STALLED/);
    });
  }
});

void describe('help', () => {
  void it('prints the main usage with every command', async () => {
    for (const argv of [['--help'], ['-h'], ['help']]) {
      const r = await run(argv);
      assert.equal(r.code, 0);
      for (const name of COMMANDS.keys()) assert.match(r.stdout, new RegExp(`^  ${name} `, 'm'));
    }
  });

  void it('prints each command usage', async () => {
    for (const name of COMMANDS.keys()) {
      for (const argv of [[name, '--help'], [name, '-h'], ['help', name]]) {
        const r = await run(argv, neverOpen);
        assert.equal(r.code, 0, `${argv.join(' ')}: ${r.stderr}`);
        assert.match(r.stdout, new RegExp(`^Usage: scriptorium ${name}`));
      }
    }
  });
});

void describe('config', () => {
  void it('a missing config is a clear failure (exit 1)', async () => {
    const r = await run(['text', 'd1', '--config', path.join(tmp, 'missing.json')], neverOpen);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /missing\.json is missing\): run `npm start` first/);
  });

  void it('SCRIPTORIUM_LOCAL_CONFIG is used, and a global --config before the command wins', async () => {
    const bad = path.join(tmp, 'bad.json');
    writeFileSync(bad, '{"projectId": 1}');
    const viaEnv = await run(['text', 'd1'], neverOpen, { SCRIPTORIUM_LOCAL_CONFIG: bad });
    assert.equal(viaEnv.code, 1);
    assert.match(viaEnv.stderr, /invalid local config .*bad\.json/);
    fake.text.set('d1', 'hello');
    const { open } = fakeSession({});
    const global = await run(['--config', configFile, 'text', 'd1'], open, { SCRIPTORIUM_LOCAL_CONFIG: bad });
    assert.equal(global.code, 0, global.stderr);
  });
});

void describe('health', () => {
  void it('exit 0 and a table when everything answers', async () => {
    const r = await run(['health', '--config', configFile]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^COMPONENT +STATE/);
    for (const name of ['api', 'firestore-emulator', 'pubsub-emulator', 'auth-emulator', 'storage-emulator', 'function:api', 'function:ingest']) {
      assert.match(r.stdout, new RegExp(`^${name} +up `, 'm'));
    }
  });

  void it('exit 1 and JSON naming the component that is down', async () => {
    const down = path.join(tmp, 'down.json');
    writeFileSync(down, JSON.stringify({ ...config(), functions: { api: `${base}/api`, ocr: `http://127.0.0.1:${closedPort}` } }));
    const r = await run(['health', '--json', '--config', down]);
    assert.equal(r.code, 1);
    const out = JSON.parse(r.stdout) as { ok: boolean; components: { name: string; ok: boolean; httpStatus: number | null; error: string | null; latencyMs: number; url: string }[] };
    assert.equal(out.ok, false);
    const ocr = out.components.find((c) => c.name === 'function:ocr');
    assert.equal(ocr?.ok, false);
    assert.equal(ocr?.httpStatus, null);
    assert.ok(ocr?.error);
    assert.ok(out.components.filter((c) => c.name !== 'function:ocr').every((c) => c.ok));
    // A function server's 404 still counts: it answers HTTP.
    assert.equal(out.components.find((c) => c.name === 'function:api')?.ok, true);
  });
});

void describe('upload', () => {
  void it('uploads, follows the job and prints one JSON object', async () => {
    const { open, state } = fakeSession({
      updates: [
        { status: 'PENDING', stage: 'upload', progress: 0 },
        { status: 'RUNNING', stage: 'ingest', progress: 5 },
        { status: 'RUNNING', stage: 'ocr', progress: 50 },
        { status: 'COMPLETED', stage: 'done', progress: 100, result: { pageCount: 9 } },
      ],
      document: { pageCount: 1, language: 'eng' },
    });
    const r = await run(['upload', pdf, '--json', '--config', configFile], open);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.deepEqual(Object.keys(out).sort(), ['documentId', 'elapsedMs', 'jobId', 'language', 'pages', 'status']);
    assert.equal(out.status, 'COMPLETED');
    assert.equal(out.pages, 1, 'pages come from the document record');
    assert.equal(out.language, 'eng');
    assert.equal(out.documentId, 'doc1');
    assert.equal(out.jobId, 'job1');
    assert.equal(typeof out.elapsedMs, 'number');

    assert.equal(fake.uploads.length, 1);
    const request = fake.uploads[0] ?? {};
    assert.equal(request.projectId, 'demo-project');
    assert.equal(request.fileName, 'doc.pdf');
    assert.equal(request.contentType, 'application/pdf');
    assert.equal(request.size, 5000);
    assert.match(String(request.clientRequestId), /^cli-[0-9a-f-]{36}$/);
    // The MD5 is declared, so the api signs it into the URL.
    assert.equal(request.md5Hash, md5(pdf));
    assert.deepEqual(fake.auth, ['Bearer fake-token']);

    const put = fake.puts[0];
    assert.equal(put?.bytes, 5000);
    assert.equal(put?.headers['content-type'], 'application/pdf');
    assert.equal(put?.headers['x-goog-content-length-range'], '5000,5000');
    assert.equal(put?.headers['x-goog-if-generation-match'], '0');
    assert.equal(put?.headers['content-length'], '5000');

    assert.deepEqual(state.watching, ['job1']);
    assert.equal(state.unsubscribed, 1);
    assert.equal(state.closed, 1);
    assert.match(r.stderr, /uploaded doc\.pdf: 4\.9 KiB/);
    assert.match(r.stderr, /job job1: RUNNING \(ocr\)/);
  });

  void it('falls back to the job result for pages, and prints key/values without --json', async () => {
    const { open } = fakeSession({ updates: [{ status: 'COMPLETED', stage: 'done', progress: 100, result: { pageCount: 3, language: 'deu' } }] });
    const r = await run(['upload', pdf, '--project', 'other-project', '--type', 'Application/X-Test', '--config', configFile], open);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^status +COMPLETED$/m);
    assert.match(r.stdout, /^pages +3$/m);
    assert.match(r.stdout, /^language +deu$/m);
    assert.equal(fake.uploads[0]?.projectId, 'other-project');
    assert.equal(fake.uploads[0]?.contentType, 'application/x-test');
    assert.match(r.stderr, /scriptorium text doc1/);
  });

  void it('draws a progress bar on a TTY', async () => {
    const { open } = fakeSession({ updates: [{ status: 'RUNNING', stage: 'ocr', progress: 50 }, { status: 'COMPLETED', stage: 'done', progress: 100 }] });
    const stdout = new Capture();
    const stderr = new Capture(true, 100);
    const code = await main({ argv: ['upload', pdf, '--config', configFile], stdout, stderr, env: {}, openSession: open });
    assert.equal(code, 0, stderr.text);
    assert.match(stderr.text, /\rupload doc\.pdf \[#+\] 100%/);
    assert.match(stderr.text, /\rjob job1 COMPLETED done +\[#+\] 100%/);
  });

  void it('exit 1 with the error when the job FAILED', async () => {
    const { open, state } = fakeSession({
      updates: [{ status: 'FAILED', stage: 'ocr', progress: 10, error: { code: 'PDF_ENCRYPTED', message: 'the PDF is encrypted', retryable: false } }],
    });
    const r = await run(['upload', pdf, '--json', '--config', configFile], open);
    assert.equal(r.code, 1);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.equal(out.status, 'FAILED');
    assert.deepEqual(out.error, { code: 'PDF_ENCRYPTED', message: 'the PDF is encrypted', retryable: false });
    assert.equal('pages' in out, false);
    assert.match(r.stderr, /job job1 FAILED: PDF_ENCRYPTED: the PDF is encrypted/);
    assert.equal(state.closed, 1);
  });

  void it('exit 1 when the job is CANCELLED', async () => {
    const { open } = fakeSession({ updates: [{ status: 'CANCELLED', stage: 'ocr', progress: 10, error: null }] });
    const r = await run(['upload', pdf, '--config', configFile], open);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /job job1 CANCELLED/);
  });

  void it('exit 1 with the API error code and message (413)', async () => {
    fake.createStatus = 413;
    fake.createError = { code: 'FILE_TOO_LARGE', message: 'at most 100 MiB' };
    const { open, state } = fakeSession({});
    const r = await run(['upload', pdf, '--json', '--config', configFile], open);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /HTTP 413 FILE_TOO_LARGE: at most 100 MiB/);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.equal(out.status, 'ERROR');
    assert.equal(out.documentId, null);
    assert.deepEqual(out.error, { code: 'FILE_TOO_LARGE', message: 'the api refused to create the upload (HTTP 413 FILE_TOO_LARGE: at most 100 MiB)', httpStatus: 413 });
    assert.equal(fake.puts.length, 0);
    assert.equal(state.closed, 1);
  });

  void it('--json still prints one object when nothing could start', async () => {
    const missing = await run(['upload', pdf, '--json', '--config', path.join(tmp, 'missing.json')], neverOpen);
    assert.equal(missing.code, 1);
    assert.deepEqual((JSON.parse(missing.stdout) as { error: { code: string } }).error.code, 'NO_LOCAL_STACK');
    const failing: CliContext['openSession'] = () => Promise.reject(new CliFailure('cannot sign in', 'SIGN_IN_FAILED'));
    const signIn = await run(['upload', pdf, '--json', '--config', configFile], failing);
    assert.equal(signIn.code, 1);
    const out = JSON.parse(signIn.stdout) as Record<string, unknown>;
    assert.equal(out.status, 'ERROR');
    assert.deepEqual(out.error, { code: 'SIGN_IN_FAILED', message: 'cannot sign in' });
    assert.match(signIn.stderr, /^error: cannot sign in$/m);
  });

  void it('retries a transient api failure with the same clientRequestId', async () => {
    fake.createFailures = 1;
    const { open } = fakeSession({ updates: [{ status: 'COMPLETED', stage: 'done', progress: 100 }] });
    const r = await run(['upload', pdf, '--json', '--config', configFile], open);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(fake.uploads.length, 2);
    assert.equal(fake.uploads[0]?.clientRequestId, fake.uploads[1]?.clientRequestId);
    assert.equal(fake.puts.length, 1);
  });

  void it('gives up after the retries (503 is exit 1 with the code)', async () => {
    fake.createFailures = 10;
    const r = await run(['upload', pdf, '--json', '--config', configFile], fakeSession({}).open);
    assert.equal(r.code, 1);
    assert.equal(fake.uploads.length, 3);
    assert.match(r.stderr, /HTTP 503 UNAVAILABLE: try again/);
  });

  void it('exit 1 when the api answers outside the contract', async () => {
    fake.createBody = { ok: true };
    const r = await run(['upload', pdf, '--config', configFile], fakeSession({}).open);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error: cannot create the upload: the api's answer does not match the contract \(documentId: .*\) \(HTTP 200\)$/m);
    assert.equal(fake.puts.length, 0);
  });

  void it('exit 1 when the api cannot be reached', async () => {
    const unreachable = path.join(tmp, 'unreachable.json');
    writeFileSync(unreachable, JSON.stringify({ ...config(), apiUrl: `http://127.0.0.1:${closedPort}` }));
    const r = await run(['upload', pdf, '--json', '--config', unreachable], fakeSession({}).open);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot create the upload: cannot reach the api at http:\/\/127\.0\.0\.1:\d+\/v1\/uploads: .*ECONNREFUSED/);
    assert.equal((JSON.parse(r.stdout) as { error: { code: string } }).error.code, 'UNREACHABLE');
  });

  void it('exit 1 with the storage reason when the PUT is refused', async () => {
    fake.putStatus = 400;
    const { open, state } = fakeSession({});
    const r = await run(['upload', pdf, '--config', configFile], open);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /storage refused the upload \(HTTP 400\): EntityTooLarge: too big/);
    assert.deepEqual(state.watching, []);
  });

  void it('exit 1 after --timeout, with the listener unsubscribed', async () => {
    const { open, state } = fakeSession({ updates: [{ status: 'RUNNING', stage: 'ocr', progress: 20 }] });
    const r = await run(['upload', pdf, '--timeout', '0.2', '--json', '--config', configFile], open);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /gave up waiting for job job1 after 200 ms \(last seen: RUNNING, ocr\)/);
    assert.equal((JSON.parse(r.stdout) as { status: string }).status, 'ERROR');
    assert.equal(state.unsubscribed, 1);
    assert.equal(state.closed, 1);
  });

  void it('exit 1 when the listener is denied', async () => {
    const denied = Object.assign(new Error('Missing or insufficient permissions.'), { code: 'permission-denied' });
    const { open } = fakeSession({ listenError: denied });
    const r = await run(['upload', pdf, '--config', configFile], open);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot read job job1 as demo@example\.com \(permission-denied/);
  });

  void it('--no-wait exits 0 after the upload with the ids', async () => {
    const { open, state } = fakeSession({});
    const r = await run(['upload', pdf, '--no-wait', '--json', '--config', configFile], open);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.equal(out.status, 'UPLOADED');
    assert.equal(out.documentId, 'doc1');
    assert.equal(out.jobId, 'job1');
    assert.deepEqual(state.watching, []);
    assert.equal(fake.puts.length, 1);
  });
});

void describe('upload of several files', () => {
  const dir = path.join(tmp, 'batch');
  const files: Record<string, number> = { 'a.pdf': 1000, 'b.png': 2000, 'sub/c.txt': 300, 'sub/d.tif': 4000, 'sub/e.pdf': 500 };
  before(() => {
    for (const [name, size] of Object.entries(files)) {
      mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
      writeFileSync(path.join(dir, name), Buffer.alloc(size, name.charCodeAt(0)));
    }
    writeFileSync(path.join(dir, '.DS_Store'), 'x');
    writeFileSync(path.join(dir, 'sub', 'empty.pdf'), '');
  });
  const done = (pageCount = 1) => [
    { status: 'RUNNING', stage: 'ocr', progress: 40 },
    { status: 'RUNNING', stage: 'embed+summarize', progress: 80 },
    { status: 'COMPLETED', stage: 'done', progress: 100, result: { pageCount } },
  ];
  type Entry = { file: string; documentId: string | null; jobId: string | null; status: string; error: { code: string; message: string; retryable?: boolean } | null; pages?: number; language?: string; elapsedMs: number };

  void it('walks the directory, uploads with bounded concurrency, waits for every job and prints one JSON array', async () => {
    const { open, state } = fakeSession({ updates: done(2) });
    const r = await run(['upload', dir, pdf, '--concurrency', '2', '--json', '--config', configFile], open);
    assert.equal(r.code, 1, 'the empty file found in the directory is an error of its own');
    assert.equal(r.stdout.trim().split('\n').length, 1, 'one line of JSON');
    const out = JSON.parse(r.stdout) as Entry[];
    assert.ok(Array.isArray(out));
    assert.deepEqual(
      out.map((e) => [path.relative(tmp, e.file), e.status]),
      [
        ['batch/a.pdf', 'COMPLETED'],
        ['batch/b.png', 'COMPLETED'],
        ['batch/sub/c.txt', 'COMPLETED'],
        ['batch/sub/d.tif', 'COMPLETED'],
        ['batch/sub/e.pdf', 'COMPLETED'],
        ['batch/sub/empty.pdf', 'ERROR'],
        ['doc.pdf', 'COMPLETED'],
      ],
    );
    const a = out[0];
    assert.deepEqual(Object.keys(a ?? {}), ['file', 'documentId', 'jobId', 'status', 'error', 'pages', 'elapsedMs']);
    assert.equal(a?.error, null);
    assert.equal(a?.pages, 2);
    assert.match(String(a?.documentId), /^doc\d$/);
    const emptyEntry = out[5];
    assert.deepEqual(emptyEntry && { ...emptyEntry, elapsedMs: 0 }, {
      file: path.join(dir, 'sub', 'empty.pdf'),
      documentId: null,
      jobId: null,
      status: 'ERROR',
      error: { code: 'EMPTY_FILE', message: `${path.join(dir, 'sub', 'empty.pdf')}: the file is empty: there is nothing to upload` },
      elapsedMs: 0,
    });
    // Every uploadable file went through once, with its own MD5 and content type, never more than 2 at a time.
    assert.equal(fake.uploads.length, 6);
    const byName = new Map(fake.uploads.map((u) => [String(u.fileName), u]));
    assert.deepEqual([...byName.keys()].sort(), ['a.pdf', 'b.png', 'c.txt', 'd.tif', 'doc.pdf', 'e.pdf']);
    assert.equal(byName.get('d.tif')?.contentType, 'image/tiff');
    assert.equal(byName.get('c.txt')?.size, 300);
    assert.equal(byName.get('a.pdf')?.md5Hash, md5(path.join(dir, 'a.pdf')));
    assert.equal(new Set(fake.uploads.map((u) => u.clientRequestId)).size, 6, 'one clientRequestId per file');
    assert.equal(fake.puts.length, 6);
    assert.ok(fake.putsPeak <= 2, `peak PUTs ${fake.putsPeak}`);
    assert.equal(state.watching.length, 6);
    assert.ok(state.peak <= 2 && state.peak >= 1, `peak listeners ${state.peak}`);
    assert.equal(state.unsubscribed, 6);
    assert.equal(state.closed, 1, 'one session for the whole batch');
    // Without a terminal: a line per finished file, then the counts.
    const lines = r.stderr.split('\n').filter((l) => /^\[\d\/7\] /.test(l));
    assert.equal(lines.length, 7, r.stderr);
    assert.match(r.stderr, /^\[\d\/7\] .*batch\/sub\/empty\.pdf: ERROR: .*the file is empty/m);
    assert.match(r.stderr, /^\[\d\/7\] .*batch\/a\.pdf: COMPLETED \(document doc\d, job job\d, 2 pages, /m);
    assert.match(r.stderr, /^skipped 1 dotfile/m);
    assert.match(r.stderr, /^7 files: 6 COMPLETED, 1 ERROR in /m);
  });

  void it('exit 0 when every job COMPLETED; a table without --json', async () => {
    const { open } = fakeSession({ updates: done() });
    const r = await run(['upload', path.join(dir, 'a.pdf'), path.join(dir, 'sub', 'c.txt'), '--config', configFile], open);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^FILE +STATUS +DOCUMENT +JOB +PAGES +LANGUAGE +ELAPSED +ERROR$/m);
    assert.match(r.stdout, /^.*batch\/a\.pdf +COMPLETED +doc\d +job\d +1 /m);
    assert.match(r.stdout, /^.*batch\/sub\/c\.txt +COMPLETED +doc\d +job\d +1 /m);
    assert.match(r.stderr, /^2 files: 2 COMPLETED in /m);
  });

  void it('exit 1 when one job FAILED: every other file still goes through', async () => {
    const { open } = fakeSession({
      updates: done(),
      updatesByFile: { 'b.png': [{ status: 'FAILED', stage: 'ocr', progress: 20, error: { code: 'OCR_FAILED', message: 'unreadable image', retryable: false } }] },
    });
    const r = await run(['upload', path.join(dir, 'a.pdf'), path.join(dir, 'b.png'), path.join(dir, 'sub', 'e.pdf'), '--json', '--config', configFile], open);
    assert.equal(r.code, 1);
    const out = JSON.parse(r.stdout) as Entry[];
    assert.deepEqual(
      out.map((e) => e.status),
      ['COMPLETED', 'FAILED', 'COMPLETED'],
    );
    assert.deepEqual(out[1]?.error, { code: 'OCR_FAILED', message: 'unreadable image', retryable: false });
    assert.equal(out[1]?.pages, undefined);
    assert.match(r.stderr, /b\.png: FAILED \(document doc\d, job job\d, .*\): OCR_FAILED: unreadable image \(not retryable\)/);
    assert.match(r.stderr, /^3 files: 2 COMPLETED, 1 FAILED in /m);
  });

  void it('per-file API refusals and timeouts are ERROR entries with their code', async () => {
    const { open, state } = fakeSession({ updates: [{ status: 'RUNNING', stage: 'ocr', progress: 20 }] });
    const r = await run(['upload', path.join(dir, 'a.pdf'), path.join(dir, 'b.png'), '--timeout', '0.2', '--json', '--config', configFile], open);
    assert.equal(r.code, 1);
    const out = JSON.parse(r.stdout) as Entry[];
    assert.deepEqual(
      out.map((e) => [e.status, e.error?.code]),
      [
        ['ERROR', 'TIMEOUT'],
        ['ERROR', 'TIMEOUT'],
      ],
    );
    assert.equal(state.unsubscribed, 2);

    fake.puts = [];
    fake.createStatus = 413;
    fake.createError = { code: 'FILE_TOO_LARGE', message: 'at most 100 MiB' };
    const refused = await run(['upload', path.join(dir, 'a.pdf'), path.join(dir, 'b.png'), '--json', '--config', configFile], fakeSession({}).open);
    assert.equal(refused.code, 1);
    const entries = JSON.parse(refused.stdout) as Entry[];
    assert.deepEqual(entries[0]?.error, { code: 'FILE_TOO_LARGE', message: 'the api refused to create the upload (HTTP 413 FILE_TOO_LARGE: at most 100 MiB)', httpStatus: 413 });
    assert.equal(fake.puts.length, 0);
  });

  void it('--no-wait: UPLOADED entries, exit 0, no listener', async () => {
    const { open, state } = fakeSession({});
    const r = await run(['upload', path.join(dir, 'sub'), '--no-wait', '--json', '--config', configFile], open);
    assert.equal(r.code, 1, 'sub/empty.pdf cannot be uploaded');
    const out = JSON.parse(r.stdout) as Entry[];
    assert.deepEqual(
      out.map((e) => e.status),
      ['UPLOADED', 'UPLOADED', 'UPLOADED', 'ERROR'],
    );
    assert.deepEqual(state.watching, []);
    const ok = await run(['upload', path.join(dir, 'a.pdf'), path.join(dir, 'b.png'), '--no-wait', '--config', configFile], fakeSession({}).open);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /a\.pdf +UPLOADED +doc\d +job\d/);
  });

  void it('--json prints one array when nothing could start', async () => {
    const failing: CliContext['openSession'] = () => Promise.reject(new CliFailure('cannot sign in', 'SIGN_IN_FAILED'));
    const r = await run(['upload', path.join(dir, 'a.pdf'), path.join(dir, 'sub'), '--json', '--config', configFile], failing);
    assert.equal(r.code, 1);
    const out = JSON.parse(r.stdout) as Entry[];
    assert.equal(out.length, 5);
    assert.deepEqual(
      out.map((e) => e.error?.code),
      ['SIGN_IN_FAILED', 'SIGN_IN_FAILED', 'SIGN_IN_FAILED', 'SIGN_IN_FAILED', 'EMPTY_FILE'],
    );
  });

  void it('one overall progress line on a TTY, failures printed above it', async () => {
    const { open } = fakeSession({
      updates: done(),
      updatesByFile: { 'c.txt': [{ status: 'FAILED', stage: 'ocr', progress: 20, error: { code: 'X', message: 'bad text', retryable: false } }] },
    });
    const stdout = new Capture();
    const stderr = new Capture(true, 120);
    const code = await main({ argv: ['upload', path.join(dir, 'a.pdf'), path.join(dir, 'sub', 'c.txt'), '--config', configFile], stdout, stderr, env: {}, openSession: open });
    assert.equal(code, 1);
    // Escape sequences made visible: the line is redrawn with \r and cleared with ESC [K.
    const text = stderr.text.replaceAll('\x1b', '<ESC>');
    assert.match(text, /\rupload \[-+\] 0\/2 files +0 B \/ 1\.3 KiB {2}jobs 0\/2 done<ESC>\[K/);
    assert.match(text, /\r<ESC>\[K\[\d\/2\] .*c\.txt: FAILED .*X: bad text \(not retryable\)\n\rupload /);
    assert.match(text, /\rupload \[#+\] 2\/2 files +1\.3 KiB \/ 1\.3 KiB {2}jobs 2\/2 done, 1 failed<ESC>\[K\n2 files: 1 COMPLETED, 1 FAILED in /);
    assert.doesNotMatch(stderr.text, /a\.pdf: COMPLETED/, 'successes are counted, not listed, on a terminal');
    assert.doesNotMatch(stderr.text, /\rjob job/, 'no per-job bars in a batch');
    assert.match(stdout.text, /c\.txt +FAILED/);
  });
});

void describe('summary', () => {
  const ready = {
    status: 'READY',
    jobId: 'job9',
    fileName: 'paper.pdf',
    chunkCount: 12,
    embedding: { engine: 'local', model: 'use-lite', dimensions: 512 },
    summary: { text: 'The paper shows that X. It also shows Y.', engine: 'local', model: 'extractive-v1' },
  };

  void it('prints the summary, with its engine on stderr', async () => {
    fake.documents.set('d1', ready);
    const { open, state } = fakeSession({});
    const r = await run(['summary', 'd1', '--config', configFile], open);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'The paper shows that X. It also shows Y.\n');
    assert.match(r.stderr, /^summary by local \(extractive-v1\); 12 chunks embedded with local \(use-lite, 512 dimensions\)$/m);
    assert.equal(state.closed, 1);
    assert.deepEqual(fake.auth, ['Bearer fake-token']);
  });

  void it('--json prints one object', async () => {
    fake.documents.set('d1', ready);
    const r = await run(['summary', 'd1', '--json', '--config', configFile], fakeSession({}).open);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { documentId: 'd1', status: 'READY', summary: ready.summary, chunkCount: 12, embedding: ready.embedding });
  });

  void it('neutralizes control characters on a terminal', async () => {
    fake.documents.set('d1', { ...ready, summary: { ...ready.summary, text: 'evil \u001b]0;title\u0007 text' } });
    const stdout = new Capture(true);
    const code = await main({ argv: ['summary', 'd1', '--config', configFile], stdout, stderr: new Capture(), env: {}, openSession: fakeSession({}).open });
    assert.equal(code, 0);
    assert.equal(stdout.text, 'evil \uFFFD]0;title\uFFFD text\n');
  });

  void it('exit 1 with a clear message when there is no summary yet', async () => {
    fake.documents.set('d2', { status: 'PROCESSING', jobId: 'job2', summary: null, chunkCount: null, embedding: null });
    const { open, state } = fakeSession({});
    const r = await run(['summary', 'd2', '--json', '--config', configFile], open);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^error: document d2 has no summary yet \(status PROCESSING\); follow it with: scriptorium job job2$/m);
    assert.equal(state.closed, 1);
    // A record written before the intelligence stages has no such fields at all.
    fake.documents.set('d3', { status: 'FAILED', jobId: 'job3' });
    const failed = await run(['summary', 'd3', '--config', configFile], fakeSession({}).open);
    assert.equal(failed.code, 1);
    assert.match(failed.stderr, /document d3 has no summary: its processing ended FAILED/);
  });

  void it('exit 1 when the document does not exist', async () => {
    const r = await run(['summary', 'nope', '--config', configFile], fakeSession({}).open);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^error: document nope not found \(HTTP 404 NOT_FOUND: no such document\)$/m);
  });
});

void describe('upload-url', () => {
  void it('--json prints the URL, headers and ids', async () => {
    const { open, state } = fakeSession({});
    const r = await run(['upload-url', 'some/dir/scan.png', '--type', 'image/png', '--size', '1234', '--json', '--config', configFile], open);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.deepEqual(Object.keys(out), ['uploadUrl', 'headers', 'documentId', 'jobId', 'expiresAt']);
    assert.deepEqual(out.headers, { 'content-type': 'image/png', 'x-goog-content-length-range': '1234,1234', 'x-goog-if-generation-match': '0' });
    assert.equal(fake.uploads[0]?.fileName, 'scan.png');
    assert.equal(fake.uploads[0]?.size, 1234);
    assert.equal(state.closed, 1);
  });

  void it('prints a runnable curl command', async () => {
    const { open } = fakeSession({});
    const r = await run(['upload-url', 'my scan.png', '--type', 'image/png', '--size', '10', '--config', configFile], open);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0] ?? '', /^# document doc1, job job1; URL expires 2030-/);
    assert.equal(
      lines[1],
      `curl -X PUT -H 'content-type: image/png' -H 'x-goog-content-length-range: 10,10' -H 'x-goog-if-generation-match: 0' --data-binary '@my scan.png' '${base}/storage/b/o1?X-Goog-Signature=abc'`,
    );
  });

  void it('exit 1 on an API error', async () => {
    fake.createStatus = 400;
    fake.createError = { code: 'UNSUPPORTED_CONTENT_TYPE', message: 'nope' };
    const { open } = fakeSession({});
    const r = await run(['upload-url', 'a.bin', '--type', 'application/x-nope', '--size', '10', '--json', '--config', configFile], open);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /HTTP 400 UNSUPPORTED_CONTENT_TYPE: nope/);
  });
});

void describe('text', () => {
  void it('prints the text as is', async () => {
    fake.text.set('d 1', 'Hello, World!\nsecond line\n');
    const { open, state } = fakeSession({});
    const r = await run(['text', 'd 1', '--config', configFile], open);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'Hello, World!\nsecond line\n');
    assert.equal(state.closed, 1);
  });

  void it('exit 1 with a clear message when not found', async () => {
    const { open, state } = fakeSession({});
    const r = await run(['text', 'nope', '--config', configFile], open);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^error: document nope not found \(HTTP 404 NOT_FOUND: no such document\)$/m);
    assert.equal(state.closed, 1);
  });
});

void describe('job', () => {
  const job = { status: 'RUNNING', stage: 'ocr', progress: 45, attempts: 1, error: null, kind: 'document.process', createdAt: '2024-01-01T00:00:00.000Z' };

  void it('--json prints the job document', async () => {
    const { open, state } = fakeSession({ job });
    const r = await run(['job', 'j1', '--json', '--config', configFile], open);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { ...job, id: 'j1' });
    assert.equal(state.closed, 1);
  });

  void it('prints it human-readable', async () => {
    const { open } = fakeSession({ job });
    const r = await run(['job', 'j1', '--config', configFile], open);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^status +RUNNING$/m);
    assert.match(r.stdout, /^progress +45%$/m);
    assert.match(r.stdout, /^attempts +1$/m);
  });

  void it('exit 1 when it cannot be read', async () => {
    const denied = Object.assign(new Error('Missing or insufficient permissions.'), { code: 'permission-denied' });
    const { open, state } = fakeSession({ job: denied });
    const r = await run(['job', 'nope', '--config', configFile], open);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /job nope not found, or not readable by demo@example\.com/);
    assert.equal(state.closed, 1);
    const missing = await run(['job', 'nope', '--config', configFile], fakeSession({}).open);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /job nope not found/);
  });
  const moving = [
    { ...job, progress: 45 },
    { ...job, progress: 80, stage: 'embed' },
    { ...job, status: 'COMPLETED', stage: 'done', progress: 100, finishedAt: '2024-01-01T00:01:00.000Z' },
  ];

  void it('--follow: follows the job to COMPLETED (exit 0), progress on stderr, then its final state', async () => {
    const { open, state } = fakeSession({ job, updates: moving });
    const r = await run(['job', 'j1', '--follow', '--config', configFile], open);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(state.watching, ['j1']);
    assert.equal(state.unsubscribed, 1);
    assert.equal(state.closed, 1);
    // One line per status or stage change (the same line as upload's), not per progress step.
    assert.deepEqual(r.stderr.split('\n').filter(Boolean), ['job j1: RUNNING (ocr) 45%', 'job j1: RUNNING (embed) 80%', 'job j1: COMPLETED (done) 100%']);
    assert.match(r.stdout, /^status +COMPLETED$/m);
    assert.match(r.stdout, /^progress +100%$/m);
    assert.match(r.stdout, /^finished +2024-01-01T00:01:00\.000Z$/m);
  });

  void it('--follow --json: the final job document; FAILED is exit 1 with its error on stderr', async () => {
    const failed = { ...job, status: 'FAILED', error: { code: 'PDF_ENCRYPTED', message: 'the PDF is encrypted', retryable: false } };
    const { open } = fakeSession({ job, updates: [job, failed] });
    const r = await run(['job', 'j1', '--follow', '--json', '--config', configFile], open);
    assert.equal(r.code, 1);
    assert.deepEqual(JSON.parse(r.stdout), { ...failed, id: 'j1' });
    assert.match(r.stderr, /^error: job j1 FAILED: PDF_ENCRYPTED: the PDF is encrypted \(not retryable\)$/m);
    const cancelled = await run(['job', 'j1', '--follow', '--config', configFile], fakeSession({ job, updates: [{ ...job, status: 'CANCELLED' }] }).open);
    assert.equal(cancelled.code, 1);
    assert.match(cancelled.stdout, /^status +CANCELLED$/m);
  });

  void it('--follow: a job already ended is shown at once, with the exit status of its end', async () => {
    const done = { ...job, status: 'COMPLETED', progress: 100 };
    const r = await run(['job', 'j1', '--follow', '--json', '--config', configFile], fakeSession({ job: done, updates: [done] }).open);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { status: string }).status, 'COMPLETED');
  });

  void it('--follow: a missing job fails at once, without listening', async () => {
    const { open, state } = fakeSession({});
    const r = await run(['job', 'nope', '--follow', '--config', configFile], open);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /job nope not found/);
    assert.deepEqual(state.watching, []);
    assert.equal(state.closed, 1);
  });

  void it('--follow --timeout: exit 1 with ERROR/TIMEOUT and the last state seen', async () => {
    const { open, state } = fakeSession({ job, updates: [job] });
    const r = await run(['job', 'j1', '--follow', '--json', '--timeout', '0.2', '--config', configFile], open);
    assert.equal(r.code, 1);
    const out = JSON.parse(r.stdout) as { jobId: string; status: string; error: { code: string }; job: { status: string } };
    assert.deepEqual([out.jobId, out.status, out.error.code, out.job.status], ['j1', 'ERROR', 'TIMEOUT', 'RUNNING']);
    assert.match(r.stderr, /^error: gave up waiting for job j1 after 200 ms \(last seen: RUNNING, ocr\)/m);
    assert.equal(state.unsubscribed, 1);
  });

  void it('--follow: a bad $SCRIPTORIUM_STALL_TIMEOUT is a usage error', async () => {
    const r = await run(['job', 'j1', '--follow', '--config', configFile], neverOpen, { SCRIPTORIUM_STALL_TIMEOUT: '10m' });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /SCRIPTORIUM_STALL_TIMEOUT must be a number of seconds/);
  });
});

void describe('retry', () => {
  const oldId = 'job_00000000000000000001';
  const newId = 'job_00000000000000000002';
  const running = { status: 'RUNNING', stage: 'ocr', progress: 0, attempts: 0, retryOf: oldId };

  void it('without --follow: prints the api answer, listens to nothing', async () => {
    fake.retryAnswer = { status: 201, body: { jobId: newId, retryOf: oldId, created: true, status: 'RUNNING' } };
    const { open, state } = fakeSession({});
    const r = await run(['retry', oldId, '--config', configFile], open);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${newId} retries ${oldId} (RUNNING)\n`);
    assert.deepEqual(fake.retries, [oldId]);
    assert.deepEqual(state.watching, []);
  });

  void it('--follow: follows the new job to its end and prints its final state', async () => {
    fake.retryAnswer = { status: 201, body: { jobId: newId, retryOf: oldId, created: true, status: 'RUNNING' } };
    const { open, state } = fakeSession({ updates: [running, { ...running, status: 'COMPLETED', stage: 'done', progress: 100 }] });
    const r = await run(['retry', oldId, '--follow', '--config', configFile], open);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(state.watching, [newId], 'the new job is followed, not the old one');
    assert.match(r.stderr, new RegExp(`^${newId} retries ${oldId} \\(RUNNING\\); following it$`, 'm'));
    assert.match(r.stderr, new RegExp(`^job ${newId}: COMPLETED \\(done\\) 100%$`, 'm'));
    assert.match(r.stdout, new RegExp(`^job +${newId}$`, 'm'));
    assert.match(r.stdout, /^status +COMPLETED$/m);
    assert.equal(state.closed, 1);
  });

  void it('--follow --json: the new job FAILED again is exit 1, its document on stdout', async () => {
    fake.retryAnswer = { status: 200, body: { jobId: newId, retryOf: oldId, created: false, status: 'RUNNING' } };
    const failed = { ...running, status: 'FAILED', error: { code: 'OCR_FAILED', message: 'unreadable', retryable: false } };
    const r = await run(['retry', oldId, '--follow', '--json', '--config', configFile], fakeSession({ updates: [running, failed] }).open);
    assert.equal(r.code, 1);
    assert.deepEqual(JSON.parse(r.stdout), { ...failed, id: newId });
    assert.match(r.stderr, new RegExp(`^${newId} already retries ${oldId}`, 'm'));
    assert.match(r.stderr, new RegExp(`^error: job ${newId} FAILED: OCR_FAILED: unreadable`, 'm'));
  });

  void it('--follow: an api refusal is exit 1 and nothing is followed', async () => {
    fake.retryAnswer = { status: 409, body: problemBody(409, 'JOB_NOT_RETRYABLE', `job ${oldId} is RUNNING`) };
    const { open, state } = fakeSession({});
    const r = await run(['retry', oldId, '--follow', '--config', configFile], open);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /JOB_NOT_RETRYABLE/);
    assert.equal(r.stdout, '');
    assert.deepEqual(state.watching, []);
  });
});
