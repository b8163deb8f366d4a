/**
 * Bulk ingestion benchmark on the running local stack (`npm start`, or the test stack with
 * SCRIPTORIUM_LOCAL_CONFIG): uploads N documents (a mix of formats from test/fixtures) with bounded
 * concurrency through the real client flow (API → signed PUT → ingest → text → embed ∥ summarize)
 * and reports documents and pages per minute, per-stage times, and Firestore writes per document
 * (the job's own meter plus the chunks written). A figure, not a timed test.
 *
 *   node dist/scripts/bench-ingest.js [--files 200] [--concurrency 8] [--json out.json]
 */
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Firestore } from '@google-cloud/firestore';
import { readLocalConfig } from '../emulators/local-config.js';
import { API_ROUTES, CreateUploadResponseSchema } from '../shared/api/contracts.js';
import { toPlain } from '../shared/firestore/client.js';
import { isTerminal, JobSchema, type Job } from '../shared/jobs/model.js';
import { signIn } from './bench-common.js';

const MIX: readonly { file: string; type: string }[] = [
  { file: 'pdf/minimal-document.pdf', type: 'application/pdf' },
  { file: 'pdf/pdflatex-4-pages.pdf', type: 'application/pdf' },
  { file: 'pdf/google-doc-document.pdf', type: 'application/pdf' },
  { file: 'html/habibi.html', type: 'text/html' },
  { file: 'docx/tables.docx', type: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document' },
  { file: 'ocr/phototest.txt', type: 'text/plain' },
];


async function waitTerminal(db: Firestore, jobId: string, timeoutMs: number): Promise<Job> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      unsubscribe();
      reject(new Error(`job ${jobId} not done in ${timeoutMs} ms`));
    }, timeoutMs);
    const unsubscribe = db.doc(`jobs/${jobId}`).onSnapshot((snap) => {
      if (!snap.exists) return;
      const job = JobSchema.parse({ ...(toPlain(snap.data()) as object), id: jobId });
      if (isTerminal(job.status) && job.announced) {
        clearTimeout(timer);
        unsubscribe();
        resolve(job);
      }
    }, reject);
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { files: { type: 'string', default: '200' }, concurrency: { type: 'string', default: '8' }, json: { type: 'string' } } });
  const total = Number(values.files);
  const concurrency = Number(values.concurrency);
  const cfg = readLocalConfig();
  process.env.FIRESTORE_EMULATOR_HOST = cfg.firestoreEmulatorHost;
  const db = new Firestore({ projectId: cfg.gcpProjectId });
  const token = await signIn(cfg);
  const fixtures = await Promise.all(MIX.map(async (m) => ({ ...m, body: await readFile(path.join('test', 'fixtures', m.file)) })));
  const results: { file: string; job: Job; ms: number }[] = [];
  const failures: string[] = [];
  let next = 0;
  const started = performance.now();
  const worker = async (): Promise<void> => {
    for (let i = next++; i < total; i = next++) {
      const f = fixtures[i % fixtures.length];
      if (!f) continue;
      const t0 = performance.now();
      const res = await fetch(`${cfg.apiUrl}${API_ROUTES.createUpload}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ projectId: cfg.projectId, fileName: `bench-${i}-${path.basename(f.file)}`, contentType: f.type, size: f.body.length, md5Hash: createHash('md5').update(f.body).digest('base64') }),
      });
      const upload = CreateUploadResponseSchema.parse(await res.json());
      const put = await fetch(upload.uploadUrl, { method: 'PUT', headers: upload.headers, body: f.body });
      if (!put.ok) {
        failures.push(`${f.file}: PUT ${put.status}`);
        continue;
      }
      const job = await waitTerminal(db, upload.jobId, 600_000);
      if (job.status !== 'COMPLETED') failures.push(`${f.file}: ${job.status} ${job.error?.code ?? ''}`);
      results.push({ file: f.file, job, ms: performance.now() - t0 });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const wallMs = performance.now() - started;
  const done = results.filter((r) => r.job.status === 'COMPLETED');
  const pages = done.reduce((s, r) => s + (Number((r.job.result as { pageCount?: number } | null)?.pageCount) || 0), 0);
  const writes = done.map((r) => (r.job.metrics.firestoreWrites ?? 0) + (Number((r.job.stages.embed?.result as { chunkCount?: number } | null)?.chunkCount) || 0));
  const stageMs = (name: string) => {
    const xs = done.map((r) => Date.parse(r.job.stages[name]?.finishedAt ?? '') - Date.parse(r.job.stages[name]?.startedAt ?? '')).filter(Number.isFinite).sort((a, b) => a - b);
    return { p50: xs[Math.floor(xs.length / 2)] ?? 0, p95: xs[Math.floor(xs.length * 0.95)] ?? 0 };
  };
  const perDoc = done.map((r) => r.ms).sort((a, b) => a - b);
  const report = {
    files: total,
    concurrency,
    completed: done.length,
    failures,
    wallSeconds: +(wallMs / 1000).toFixed(1),
    documentsPerMinute: +((done.length / wallMs) * 60_000).toFixed(1),
    pagesPerMinute: +((pages / wallMs) * 60_000).toFixed(1),
    uploadToDoneMs: { p50: Math.round(perDoc[Math.floor(perDoc.length / 2)] ?? 0), p95: Math.round(perDoc[Math.floor(perDoc.length * 0.95)] ?? 0) },
    stageMs: { ocr: stageMs('ocr'), embed: stageMs('embed'), summarize: stageMs('summarize') },
    firestoreWritesPerDocument: { mean: +(writes.reduce((a, b) => a + b, 0) / Math.max(1, writes.length)).toFixed(1), min: Math.min(...writes), max: Math.max(...writes) },
  };
  console.log(JSON.stringify(report, null, 2));
  if (values.json) await writeFile(values.json, JSON.stringify(report, null, 2));
  await db.terminate();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
