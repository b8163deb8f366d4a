/**
 * The `scriptorium` CLI end to end: the built bin (`node scripts/scriptorium.mjs`) run as a child
 * process against the running test platform, exactly as a user would run it.
 *
 * Needs SCRIPTORIUM_LOCAL_CONFIG pointing at the test platform's config (`.scriptorium/test.json`,
 * which `npm test` sets up) and `npm run build` done. Without them the suite fails, never skips:
 * a skipped integration suite reads as green.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readLocalConfig, type LocalConfig } from '../../emulators/local-config.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { runCli, type CliRun } from '../helpers/cli-run.js';

const ROOT = REPO_ROOT;
const PDF = path.join(ROOT, 'test', 'fixtures', 'pdf', 'minimal-document.pdf');

let configFile = '';
let cfg: LocalConfig;

/** Runs the bin with SCRIPTORIUM_LOCAL_CONFIG set; never rejects on a non-zero exit. */
function cli(args: readonly string[], opts: { cwd?: string; timeoutMs?: number } = {}): Promise<CliRun> {
  return runCli(args, { ...opts, configFile });
}

function parseJson<T>(run: CliRun): T {
  try {
    return JSON.parse(run.stdout) as T;
  } catch {
    throw new Error(`stdout is not one JSON object:\n${run.stdout}\nstderr:\n${run.stderr}`);
  }
}

interface UploadJson {
  documentId: string;
  jobId: string;
  status: string;
  error?: { code: string; message: string };
  pages?: number;
  language?: string;
  elapsedMs: number;
}

void describe('scriptorium CLI against the test platform', () => {
  let uploaded: UploadJson;

  before(async () => {
    const file = process.env.SCRIPTORIUM_LOCAL_CONFIG;
    if (!file) {
      throw new Error('SCRIPTORIUM_LOCAL_CONFIG is not set: these tests need the running test platform (run them through `npm test`, which starts it and points SCRIPTORIUM_LOCAL_CONFIG at .scriptorium/test.json)');
    }
    configFile = path.resolve(file);
    if (!existsSync(configFile)) throw new Error(`SCRIPTORIUM_LOCAL_CONFIG=${file} does not exist: is the test platform running?`);
    cfg = readLocalConfig(configFile);
    if (!existsSync(path.join(ROOT, 'dist', 'scripts', 'cli', 'main.js'))) throw new Error('the CLI is not built: run `npm run build` first');
    const health = await fetch(`${cfg.apiUrl}/health`).catch((err: unknown) => err);
    if (!(health instanceof Response)) throw new Error(`the api at ${cfg.apiUrl} does not answer: is the test platform running? (${String(health)})`);
    await health.body?.cancel();
  });

  void it('health: every component answers (exit 0)', async () => {
    const table = await cli(['health']);
    assert.equal(table.code, 0, table.stdout + table.stderr);
    assert.match(table.stdout, /^api +up /m);
    const json = await cli(['health', '--json']);
    assert.equal(json.code, 0, json.stdout + json.stderr);
    const out = parseJson<{ ok: boolean; components: { name: string; ok: boolean }[] }>(json);
    assert.equal(out.ok, true);
    const names = out.components.map((c) => c.name);
    for (const name of ['api', 'firestore-emulator', 'pubsub-emulator', 'auth-emulator', 'storage-emulator']) assert.ok(names.includes(name), name);
    for (const fn of Object.keys(cfg.functions)) assert.ok(names.includes(`function:${fn}`), fn);
  });

  void it('upload --json: the PDF is processed, one page', async () => {
    const run = await cli(['upload', PDF, '--json', '--timeout', '150']);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    uploaded = parseJson<UploadJson>(run);
    assert.equal(uploaded.status, 'COMPLETED');
    assert.equal(uploaded.pages, 1);
    assert.match(uploaded.documentId, /\S/);
    assert.match(uploaded.jobId, /\S/);
    assert.equal(typeof uploaded.elapsedMs, 'number');
    assert.equal(uploaded.error, undefined);
    if (uploaded.language !== undefined) assert.equal(typeof uploaded.language, 'string');
    // Exactly one line of JSON on stdout; progress went to stderr.
    assert.equal(run.stdout.trim().split('\n').length, 1);
    assert.match(run.stderr, /uploaded minimal-document\.pdf/);
    // The listener and the firebase app are released: the process exits by itself, promptly
    // (the bin's safety net would force an exit 3 s after the command returned).
    assert.ok(run.wallMs - uploaded.elapsedMs < 2900, `process took ${Math.round(run.wallMs - uploaded.elapsedMs)} ms beyond the command`);
  });

  void it('text: prints the extracted text', async () => {
    assert.ok(uploaded, 'needs the upload test');
    const run = await cli(['text', uploaded.documentId]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /Lorem\s+ipsum\s+dolor\s+sit\s+amet/);
  });

  void it('text: a missing document is a clear failure (exit 1)', async () => {
    const run = await cli(['text', 'doc_does_not_exist']);
    assert.equal(run.code, 1);
    assert.equal(run.stdout, '');
    assert.match(run.stderr, /document doc_does_not_exist not found/);
  });

  void it('summary: the summary the pipeline wrote on the document', async () => {
    assert.ok(uploaded, 'needs the upload test');
    // The upload waited for the whole pipeline (OCR, then embedding and summary), so it is there.
    const json = await cli(['summary', uploaded.documentId, '--json']);
    assert.equal(json.code, 0, json.stdout + json.stderr);
    const out = parseJson<{ documentId: string; status: string; summary: { text: string; engine: string; model: string }; chunkCount: number | null }>(json);
    assert.equal(out.documentId, uploaded.documentId);
    assert.equal(out.status, 'READY');
    assert.match(out.summary.text, /\S/);
    assert.match(out.summary.engine, /\S/);
    const human = await cli(['summary', uploaded.documentId]);
    assert.equal(human.code, 0, human.stderr);
    assert.equal(human.stdout.trimEnd(), out.summary.text.trimEnd());
    const missing = await cli(['summary', 'doc_does_not_exist']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /document doc_does_not_exist not found/);
  });

  void it('upload DIR --json: every file of the directory, one JSON array', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'scriptorium-cli-batch-'));
    try {
      writeFileSync(path.join(dir, 'one.pdf'), readFileSync(PDF));
      // Other bytes than one.pdf (a trailing comment line): a file of its own, not a duplicate.
      writeFileSync(path.join(dir, 'two.pdf'), Buffer.concat([readFileSync(PDF), Buffer.from('\n%two\n')]));
      writeFileSync(path.join(dir, '.hidden.pdf'), readFileSync(PDF));
      const run = await cli(['upload', dir, '--json', '--concurrency', '2', '--timeout', '150']);
      assert.equal(run.code, 0, run.stdout + run.stderr);
      const out = parseJson<(UploadJson & { file: string; error: unknown })[]>(run);
      assert.deepEqual(
        out.map((e) => [path.basename(e.file), e.status, e.error]),
        [
          ['one.pdf', 'COMPLETED', null],
          ['two.pdf', 'COMPLETED', null],
        ],
      );
      assert.notEqual(out[0]?.documentId, out[1]?.documentId);
      assert.match(run.stderr, /skipped 1 dotfile/);
      assert.match(run.stderr, /^2 files: 2 COMPLETED in /m);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  void it('job: the state, as JSON and for humans', async () => {
    assert.ok(uploaded, 'needs the upload test');
    const json = await cli(['job', uploaded.jobId, '--json']);
    assert.equal(json.code, 0, json.stderr);
    const job = parseJson<Record<string, unknown>>(json);
    assert.equal(job.id, uploaded.jobId);
    assert.equal(job.status, 'COMPLETED');
    assert.equal(job.progress, 100);
    assert.equal(job.documentId, uploaded.documentId);
    assert.equal(typeof job.attempts, 'number');
    assert.match(String(job.createdAt), /^\d{4}-\d\d-\d\dT/);
    assert.match(String(job.finishedAt), /^\d{4}-\d\d-\d\dT/);

    const human = await cli(['job', uploaded.jobId]);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /^status +COMPLETED$/m);
    assert.match(human.stdout, /^progress +100%$/m);
    // Whoever wrote it, a job the user cannot read (or that does not exist) is exit 1.
    const missing = await cli(['job', 'job_does_not_exist']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /job job_does_not_exist not found/);
  });

  void it('upload-url --json: a PUT with the given headers is accepted', async () => {
    const size = statSync(PDF).size;
    const run = await cli(['upload-url', 'via-url.pdf', '--type', 'application/pdf', '--size', String(size), '--json']);
    assert.equal(run.code, 0, run.stderr);
    const out = parseJson<{ uploadUrl: string; headers: Record<string, string>; documentId: string; jobId: string; expiresAt: string }>(run);
    assert.deepEqual(Object.keys(out).sort(), ['documentId', 'expiresAt', 'headers', 'jobId', 'uploadUrl']);
    const put = await fetch(out.uploadUrl, { method: 'PUT', headers: out.headers, body: readFileSync(PDF) });
    assert.ok(put.ok, `PUT ${put.status}: ${await put.text()}`);
    const job = await cli(['job', out.jobId, '--json']);
    assert.equal(job.code, 0, job.stderr);
  });

  void it('upload-url: the printed curl command line works', async (t) => {
    if (spawnSync('curl', ['--version']).error) {
      t.skip('curl is not installed');
      return;
    }
    const dir = mkdtempSync(path.join(tmpdir(), 'scriptorium-cli-'));
    try {
      const name = 'by curl.pdf';
      writeFileSync(path.join(dir, name), readFileSync(PDF));
      const run = await cli(['upload-url', name, '--type', 'application/pdf', '--size', String(statSync(PDF).size)], { cwd: dir });
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /^curl -X PUT /m);
      // The whole output is a shell script (comment lines + the command); fail on an HTTP error.
      const script = run.stdout.replace(/^curl /m, 'curl --silent --show-error --fail ');
      const sh = spawnSync('sh', ['-c', script], { cwd: dir, encoding: 'utf8' });
      assert.equal(sh.status, 0, `curl failed: ${sh.stderr}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  void it('upload --no-wait: exits after the upload with the ids', async () => {
    const run = await cli(['upload', PDF, '--no-wait', '--json']);
    assert.equal(run.code, 0, run.stderr);
    const out = parseJson<UploadJson>(run);
    assert.equal(out.status, 'UPLOADED');
    assert.match(out.jobId, /\S/);
  });

  void it('upload: an API refusal is exit 1 with its code (not a member of the project)', async () => {
    const run = await cli(['upload', PDF, '--project', 'no-such-project-for-cli', '--json']);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /HTTP 403 PERMISSION_DENIED/);
    const out = parseJson<UploadJson & { error: { code: string; httpStatus?: number } }>(run);
    assert.equal(out.status, 'ERROR');
    assert.equal(out.error.code, 'PERMISSION_DENIED');
    assert.equal(out.error.httpStatus, 403);
  });

  void it('usage errors exit 2', async () => {
    const missing = await cli(['upload', path.join(ROOT, 'no-such-file.pdf')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /no such file/);
    const unknown = await cli(['upload', PDF, '--frobnicate']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /Unknown option '--frobnicate'/);
    const none = await cli([]);
    assert.equal(none.code, 2);
  });
});

void describe('scriptorium versions and reembed', () => {
  void it('upload --document adds a version; versions lists both; text --version reads the old one; reembed re-embeds with progress', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'cli-versions-'));
    try {
      const tag = `cliver${Date.now().toString(36)}`;
      const v1 = path.join(dir, 'notes.txt');
      const v2 = path.join(dir, 'notes-2.txt');
      writeFileSync(v1, `The ${tag} notes mention amber lanterns.\n`);
      writeFileSync(v2, `The ${tag} notes now mention cobalt kettles.\n`);
      const first = await cli(['upload', v1, '--json']);
      assert.equal(first.code, 0, first.stderr);
      const documentId = parseJson<UploadJson>(first).documentId;
      const second = await cli(['upload', v2, '--document', documentId, '--json']);
      assert.equal(second.code, 0, second.stderr);
      assert.equal(parseJson<UploadJson>(second).documentId, documentId);

      const listed = await cli(['versions', documentId, '--json']);
      assert.equal(listed.code, 0, listed.stderr);
      const versions = parseJson<{ currentVersion: number; versions: { version: number; status: string; fileName: string }[] }>(listed);
      assert.equal(versions.currentVersion, 2);
      assert.deepEqual(versions.versions.map((v) => [v.version, v.status, v.fileName]), [[1, 'READY', 'notes.txt'], [2, 'READY', 'notes-2.txt']]);
      const table = await cli(['versions', documentId]);
      assert.match(table.stdout, /^\*2\s+READY\s+notes-2\.txt/m);

      const old = await cli(['text', documentId, '--version', '1']);
      assert.equal(old.code, 0, old.stderr);
      assert.match(old.stdout, /amber lanterns/);
      const current = await cli(['text', documentId]);
      assert.match(current.stdout, /cobalt kettles/);

      const reembed = await cli(['reembed', documentId, '--force', '--json']);
      assert.equal(reembed.code, 0, reembed.stderr);
      const out = parseJson<{ model: string; jobs: { documentId: string; status: string }[]; skipped: unknown[] }>(reembed);
      assert.deepEqual(out.jobs.map((j) => [j.documentId, j.status]), [[documentId, 'COMPLETED']]);
      assert.match(reembed.stderr, /re-embedding: 1\/1 jobs done, 100%/);
      const again = await cli(['reembed', documentId, '--json']);
      assert.equal(again.code, 0, again.stderr);
      assert.equal(parseJson<{ jobs: unknown[]; skipped: unknown[] }>(again).skipped.length, 1, 'already on the model');

      const usage = await cli(['upload', v1, v2, '--document', documentId]);
      assert.equal(usage.code, 2, 'one FILE per new version');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
