/**
 * What the fault-injection suite shares: a platform of its own (its own port offset and its own state
 * folder, so the test platform `npm test` runs is never touched), fault specs written to the file the
 * functions read (shared/faults.ts), real uploads through the client flow, the checks every scenario
 * ends with, and the fault → completion table.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Storage } from '@google-cloud/storage';
import { PDFDocument } from 'pdf-lib';
import type { LocalConfig } from '../../emulators/local-config.js';
import { profilePaths } from '../../emulators/platform.js';
import { readSupervisorState } from '../../emulators/supervisor.js';
import type { FaultSpec } from '../../shared/faults.js';
import { isTerminal, pipelineFor, type Job } from '../../shared/jobs/model.js';
import { createUpload, fixture, getDocument, putSigned, signIn, testFirestore, waitForJob } from '../helpers/client.js';
import { REPO_ROOT } from '../helpers/paths.js';

/** Port offset of the suite's platform: apart from `npm test`'s (0) and from the helpers' worktrees. */
export const FAULTS_PORT_OFFSET = process.env.SCRIPTORIUM_FAULTS_PORT_OFFSET ?? '500';

/**
 * A repository root of the suite's own in a temporary folder: links to this checkout's `dist`,
 * `node_modules`, `shared` and `package.json`, so the platform keeps its state (`.scriptorium/`)
 * there, apart from the test platform of this checkout.
 */
export function suiteRoot(): string {
  const root = mkdtempSync(path.join(os.tmpdir(), 'scriptorium-faults-'));
  for (const name of ['dist', 'node_modules', 'shared', 'package.json']) symlinkSync(path.join(REPO_ROOT, name), path.join(root, name));
  return root;
}

/** Writes the spec the functions read (atomically: a reader never sees half a file). */
export function armFaults(cfg: LocalConfig, spec: Partial<FaultSpec>): void {
  const file = cfg.faultsFile;
  assert.ok(file, 'the platform names no faults file (test profile only)');
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify({ engines: [], publish: [], ...spec }));
  renameSync(tmp, file);
}

export function disarmFaults(cfg: LocalConfig): void {
  if (cfg.faultsFile) rmSync(cfg.faultsFile, { force: true });
}

/** A unique rule id. */
export const ruleId = (what: string): string => `${what}-${randomBytes(4).toString('hex')}`;

/** A scanned (image-only) PDF of real page images, so every page goes through tesseract; `salt` makes its bytes unique. */
export async function scannedPdf(salt: string): Promise<Buffer> {
  const pdf = await PDFDocument.create();
  pdf.setTitle(`fault-suite scan ${salt}`);
  const pages = ['ocr/phototest-rotated-180.png', 'ocr/habibi-scan.png', 'ocr/arabic-library-page.png', 'ocr/habibi-scan.png', 'ocr/phototest-rotated-180.png'];
  for (const p of pages) {
    const img = await pdf.embedPng(await fixture(p));
    const page = pdf.addPage([img.width, img.height]);
    page.drawImage(img, { x: 0, y: 0, width: img.width, height: img.height });
  }
  return Buffer.from(await pdf.save({ useObjectStreams: false }));
}

/** The suite's documents: a multi-page scan, a text file and a recording (real fixtures). */
export interface Sample {
  readonly name: string;
  readonly fileName: string;
  readonly contentType: string;
  readonly body: () => Promise<Buffer>;
}

export const SAMPLES = {
  scan: { name: 'scan', fileName: 'scan.pdf', contentType: 'application/pdf', body: () => scannedPdf('') },
  text: { name: 'text', fileName: 'bicycle.txt', contentType: 'text/plain', body: () => fixture('search/docs/bicycle.txt') },
  audio: { name: 'audio', fileName: 'austen.wav', contentType: 'audio/wav', body: () => fixture('audio/sense_and_sensibility_01_austen_64kb-0880.wav') },
} as const satisfies Record<string, Sample>;

/** An upload started: the job id and the moment the bytes were sent. */
export interface Started {
  readonly jobId: string;
  readonly documentId: string;
  readonly sample: Sample;
  readonly putAt: number;
}

let token: string | undefined;

/** Uploads a sample through the client flow (signed URL, PUT) without waiting for the job. */
export async function upload(cfg: LocalConfig, sample: Sample, fileName = sample.fileName): Promise<Started> {
  token ??= await signIn(cfg);
  const body = await sample.body();
  const up = await createUpload(cfg, token, { fileName, contentType: sample.contentType, size: body.length });
  const put = await putSigned(up, body);
  assert.ok(put.ok, `signed PUT failed: ${put.status} ${await put.text()}`);
  return { jobId: up.jobId, documentId: up.documentId, sample, putAt: Date.now() };
}

/** Forgets the cached ID token (after a platform restart the Auth emulator starts anew). */
export function forgetToken(): void {
  token = undefined;
}

/** The full text a completed job produced (its text object, read from the storage emulator). */
export async function jobText(cfg: LocalConfig, job: Job): Promise<string> {
  const text = (job.result as { text?: { bucket: string; object: string; generation: string } } | null)?.text;
  assert.ok(text, `job ${job.id} has no text in its result`);
  const [bytes] = await new Storage({ projectId: cfg.gcpProjectId, apiEndpoint: cfg.storageEmulatorHost }).bucket(text.bucket).file(text.object, { generation: Number(text.generation) }).download();
  return bytes.toString('utf8');
}

/** The job log's completion line of each stage (the runner logs it in the completing transaction). */
const COMPLETION: Record<string, RegExp> = {
  ocr: /^(OCR completed|text extracted)/,
  transcribe: /^transcribed /,
  embed: /^embedded /,
  summarize: /^summarized /,
};

/** How many times each stage of the job completed, from its log in Firestore. */
export async function completions(cfg: LocalConfig, jobId: string): Promise<Record<string, number>> {
  const logs = await testFirestore(cfg).collection(`jobs/${jobId}/logs`).get();
  const messages = logs.docs.map((d) => String(d.get('message')));
  const job = await testFirestore(cfg).doc(`jobs/${jobId}`).get();
  const kind = job.get('kind') as Job['kind'];
  return Object.fromEntries(pipelineFor(kind).map((s) => [s.name, messages.filter((m) => COMPLETION[s.name]?.test(m)).length]));
}

/** Every job of the project that is not terminal, or has a stage still RUNNING or holding a lease. */
export async function unsettledJobs(cfg: LocalConfig): Promise<string[]> {
  const snap = await testFirestore(cfg).collection('jobs').where('projectId', '==', cfg.projectId).get();
  const out: string[] = [];
  for (const d of snap.docs) {
    const status = d.get('status') as Job['status'];
    const stages = (d.get('stages') ?? {}) as Record<string, { status: string; lease: unknown }>;
    const busy = Object.entries(stages).filter(([, s]) => s.status === 'RUNNING' || (s.status === 'PENDING' && status === 'COMPLETED') || (s.lease !== null && s.lease !== undefined));
    if (!isTerminal(status) || busy.length > 0) out.push(`${d.id}: ${status} ${busy.map(([n, s]) => `${n}=${s.status}`).join(' ')}`);
  }
  return out;
}

/** One row of the fault → completion table. */
export interface Row {
  readonly scenario: string;
  readonly fault: string;
  readonly outcome: string;
  /** From the fault's moment to the job's terminal state, in ms. */
  readonly faultToTerminalMs: number;
  readonly attempts: Record<string, number>;
}

export const rows: Row[] = [];

/**
 * Waits for a job to end and checks what every scenario must hold: the expected terminal status (and
 * error code), each stage completed at most once (exactly once when the job completed), the text
 * complete (equal to a clean run's when one is given). Records the table row.
 */
export async function settle(
  cfg: LocalConfig,
  started: Started,
  expect: { scenario: string; fault: string; faultAt: number; status: 'COMPLETED' | 'FAILED'; errorCode?: string; cleanText?: string; timeoutMs?: number },
): Promise<Job> {
  const { job } = await waitForJob(cfg, started.jobId, expect.timeoutMs ?? 600_000);
  const terminalAt = Date.now();
  const attempts = Object.fromEntries(Object.entries(job.stages).map(([n, s]) => [n, s.attempts]));
  rows.push({ scenario: expect.scenario, fault: expect.fault, outcome: `${job.status}${job.error ? ` ${job.error.code}` : ''}`, faultToTerminalMs: terminalAt - expect.faultAt, attempts });
  assert.equal(job.status, expect.status, `${expect.scenario}: job ${job.id} ended ${job.status} ${JSON.stringify(job.error)}`);
  if (expect.errorCode) assert.equal(job.error?.code, expect.errorCode, JSON.stringify(job.error));
  const done = await completions(cfg, job.id);
  for (const [stage, n] of Object.entries(done)) {
    if (job.status === 'COMPLETED') assert.equal(n, 1, `${expect.scenario}: ${stage} completed ${n} times (${JSON.stringify(done)})`);
    else assert.ok(n <= 1, `${expect.scenario}: ${stage} completed ${n} times`);
  }
  if (job.status === 'COMPLETED') {
    const text = await jobText(cfg, job);
    assert.ok(text.trim().length > 0, 'the text is not empty');
    if (expect.cleanText !== undefined) assert.equal(text, expect.cleanText, `${expect.scenario}: the text differs from a clean run's`);
    const doc = await getDocument(cfg, started.documentId);
    assert.equal(doc.status, 'READY');
  }
  return job;
}

/** The pid and pgid of a function server now (the supervisor's state; restarts change them). */
export function functionProcess(root: string, name: string): { pid: number; pgid: number } {
  const state = readSupervisorState(profilePaths(root, 'test').supervisorState);
  const s = state?.processes[name];
  assert.ok(s?.pid && s.pgid, `no live ${name} process in the supervisor's state`);
  return { pid: s.pid, pgid: s.pgid };
}

/** Resolves once the job's stage reports at least `pages` pages done (while RUNNING). */
export async function whenPagesDone(cfg: LocalConfig, jobId: string, stage: string, pages: number, timeoutMs = 300_000): Promise<void> {
  const db = testFirestore(cfg);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      unsubscribe();
      reject(new Error(`${stage} of ${jobId} did not reach page ${pages} in ${timeoutMs} ms`));
    }, timeoutMs);
    const unsubscribe = db.doc(`jobs/${jobId}`).onSnapshot((snap) => {
      const st = (snap.get('stages') as Record<string, { status: string; metrics?: { pagesDone?: number } }> | undefined)?.[stage];
      if (st?.status === 'RUNNING' && (st.metrics?.pagesDone ?? 0) >= pages) {
        clearTimeout(timer);
        unsubscribe();
        resolve();
      } else if (st && st.status !== 'RUNNING' && st.status !== 'PENDING') {
        clearTimeout(timer);
        unsubscribe();
        reject(new Error(`${stage} of ${jobId} ended ${st.status} before page ${pages}`));
      }
    }, reject);
  });
}

/** Prints the table and writes it (JSON) under the suite's `.scriptorium/` and this checkout's. */
export function report(name: string, extra: Record<string, unknown> = {}): string {
  const lines = [
    '| scenario | fault | outcome | fault → terminal | attempts per stage |',
    '|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.scenario} | ${r.fault} | ${r.outcome} | ${(r.faultToTerminalMs / 1000).toFixed(1)} s | ${Object.entries(r.attempts).map(([n, a]) => `${n} ${a}`).join(', ')} |`),
  ];
  const out = path.join(REPO_ROOT, '.scriptorium', `${name}.json`);
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify({ at: new Date().toISOString(), rows, ...extra }, null, 2));
  return lines.join('\n');
}

/** Reads a JSON file, or null. */
export function readJson(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as unknown;
  } catch {
    return null;
  }
}
