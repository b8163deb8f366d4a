/**
 * Burst benchmark on the running local stack (`npm start`, or the test stack with
 * SCRIPTORIUM_LOCAL_CONFIG): N documents (a mix of small real files from test/fixtures: text, HTML,
 * DOCX, PNG scans, PDFs; each upload its own document under its own name) uploaded all at once
 * through the real client flow, then followed to the end. Reports:
 * - the wall time from the first upload request to the last job's end, and the jobs stuck (not
 *   terminal when the wait ends, or with a stage still RUNNING): must be 0;
 * - the engine-only time for the same files on this machine: the local engines (OCR or text
 *   extraction, chunk embedding, summary) run directly in this process, one file after the other,
 *   timed per distinct file and summed over the N files, and the ratio platform / engine-only;
 * - the peak memory of each function process (VmHWM of every process of its group, sampled from
 *   /proc while the burst runs; the engines' child processes such as tesseract are counted in their own
 *   peak, not summed);
 * - the requests per second each engine saw (engine calls recorded by the stages' completions over
 *   the burst's wall time).
 * A figure, not a timed test: size N for the machine (2 cores here).
 *
 *   node dist/scripts/bench-burst.js [--files 200] [--timeout-minutes 60] [--json out.json]
 */
import { readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Firestore } from '@google-cloud/firestore';
import { readLocalConfig } from '../emulators/local-config.js';
import { createUpload, memorySampler, signIn } from './bench-common.js';
import { createLocalEmbeddingEngine } from '../shared/engines/embeddings/local.js';
import { extractText, isExtractFamily } from '../shared/engines/extract/index.js';
import { createLocalOcrEngine } from '../shared/engines/ocr/local.js';
import type { OcrContentType } from '../shared/engines/ocr/types.js';
import { createLocalSummaryEngine } from '../shared/engines/summary/local.js';
import { toPlain } from '../shared/firestore/client.js';
import { isTerminal, JobSchema, type Job } from '../shared/jobs/model.js';
import { chunkDocument } from '../shared/text/chunk.js';
import { CHUNK_MAX_TOKENS, CHUNK_OVERLAP_TOKENS } from '../functions/embed/handler.js';
import { SUMMARY_MAX_CHARS, SUMMARY_MAX_SENTENCES } from '../functions/summarize/handler.js';

/** The mix: small real files of every text family (see test/fixtures/SOURCES.md). */
const MIX: readonly { file: string; type: string; family: string }[] = [
  { file: 'ocr/phototest.txt', type: 'text/plain', family: 'text' },
  { file: 'search/docs/bicycle.txt', type: 'text/plain', family: 'text' },
  { file: 'html/habibi.html', type: 'text/html', family: 'html' },
  { file: 'docx/tables.docx', type: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document', family: 'docx' },
  { file: 'ocr/phototest-rotated-180.png', type: 'image/png', family: 'image' },
  { file: 'pdf/minimal-document.pdf', type: 'application/pdf', family: 'pdf' },
  { file: 'pdf/pdflatex-4-pages.pdf', type: 'application/pdf', family: 'pdf' },
  { file: 'search/docs/cheese.txt', type: 'text/plain', family: 'text' },
];


async function waitAll(db: Firestore, ids: readonly string[], timeoutMs: number): Promise<Map<string, Job>> {
  const done = new Map<string, Job>();
  const deadline = Date.now() + timeoutMs;
  // Polling in pages (200 listeners at once is more than the emulator serves well).
  while (done.size < ids.length && Date.now() < deadline) {
    const pending = ids.filter((id) => !done.has(id));
    for (let i = 0; i < pending.length; i += 100) {
      const refs = pending.slice(i, i + 100).map((id) => db.doc(`jobs/${id}`));
      for (const snap of await db.getAll(...refs)) {
        if (!snap.exists) continue;
        const job = JobSchema.parse({ ...(toPlain(snap.data()) as object), id: snap.id });
        if (isTerminal(job.status) && job.announced) done.set(snap.id, job);
      }
    }
    if (done.size < ids.length) await new Promise((r) => setTimeout(r, 1000));
  }
  return done;
}

/** The engines alone on one file: text (OCR or extraction), chunk embeddings, summary; ms. */
async function engineOnly(file: string, type: string, family: string, engines: Engines): Promise<{ ms: number; text: number; embed: number; summary: number; calls: Record<string, number> }> {
  const t0 = performance.now();
  let text: string;
  if (isExtractFamily(family)) {
    text = (await extractText(file, family)).text;
  } else {
    const r = await engines.ocr.extract({ path: file, contentType: type as OcrContentType });
    text = r.pages.map((p) => p.text).join('\f');
  }
  const t1 = performance.now();
  // As the embed stage chunks (functions/embed/handler.ts).
  const maxTokens = Math.min(CHUNK_MAX_TOKENS, engines.embed.maxInputTokens);
  const chunks = chunkDocument(text, { maxTokens, overlapTokens: Math.min(CHUNK_OVERLAP_TOKENS, Math.floor(maxTokens / 4)) });
  let embedCalls = 0;
  for (let i = 0; i < chunks.length; i += 32) {
    await engines.embed.embed(chunks.slice(i, i + 32).map((c) => c.text), { kind: 'document' });
    embedCalls++;
  }
  const t2 = performance.now();
  await engines.summary.summarize({ text, language: null, maxSentences: SUMMARY_MAX_SENTENCES, maxChars: SUMMARY_MAX_CHARS });
  const t3 = performance.now();
  return { ms: t3 - t0, text: t1 - t0, embed: t2 - t1, summary: t3 - t2, calls: { text: 1, embed: embedCalls, summary: 1 } };
}

interface Engines {
  readonly ocr: ReturnType<typeof createLocalOcrEngine>;
  readonly embed: ReturnType<typeof createLocalEmbeddingEngine>;
  readonly summary: ReturnType<typeof createLocalSummaryEngine>;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { files: { type: 'string', default: '200' }, 'timeout-minutes': { type: 'string', default: '60' }, json: { type: 'string' } } });
  const total = Number(values.files);
  const cfg = readLocalConfig();
  process.env.FIRESTORE_EMULATOR_HOST = cfg.firestoreEmulatorHost;
  const db = new Firestore({ projectId: cfg.gcpProjectId });
  const token = await signIn(cfg);
  const fixtures = await Promise.all(MIX.map(async (m) => ({ ...m, path: path.join('test', 'fixtures', m.file), body: await readFile(path.join('test', 'fixtures', m.file)) })));
  const run = Date.now().toString(36);

  // 1. The burst: every upload requested and PUT at once.
  const memory = memorySampler(cfg);
  const started = performance.now();
  const startedAt = Date.now();
  const uploads = await Promise.all(
    Array.from({ length: total }, async (_, i) => {
      const f = fixtures[i % fixtures.length];
      if (!f) throw new Error('empty mix');
      const up = await createUpload(cfg, token, { projectId: cfg.projectId, fileName: `burst-${run}-${i}-${path.basename(f.file)}`, contentType: f.type, size: f.body.length });
      const put = await fetch(up.uploadUrl, { method: 'PUT', headers: up.headers, body: f.body });
      if (!put.ok) throw new Error(`PUT ${f.file}: ${put.status}`);
      return { jobId: up.jobId, fixture: f };
    }),
  );
  const uploadedMs = performance.now() - started;
  const jobs = await waitAll(db, uploads.map((u) => u.jobId), Number(values['timeout-minutes']) * 60_000);
  const wallMs = performance.now() - started;
  const peaks = memory.stop();
  const stuck = uploads.filter((u) => {
    const j = jobs.get(u.jobId);
    return !j || Object.values(j.stages).some((s) => s.status === 'RUNNING' || s.lease !== null);
  });
  const failed = [...jobs.values()].filter((j) => j.status !== 'COMPLETED').map((j) => `${j.id}: ${j.status} ${j.error?.code ?? ''}`);
  const windowS = (Date.now() - startedAt) / 1000;

  // Engine calls the platform made: OCR/extraction once per document; one embedding call per 32 chunks; one summary.
  const ocrCalls = [...jobs.values()].filter((j) => (j.stages.ocr?.result as { engine?: string } | null)?.engine?.startsWith('extract') === false).length;
  const chunkCount = [...jobs.values()].reduce((s, j) => s + (Number((j.stages.embed?.result as { chunkCount?: number } | null)?.chunkCount) || 0), 0);
  const embedCalls = [...jobs.values()].reduce((s, j) => s + Math.ceil((Number((j.stages.embed?.result as { chunkCount?: number } | null)?.chunkCount) || 0) / 32), 0);
  const summaries = [...jobs.values()].filter((j) => j.stages.summarize?.status === 'COMPLETED').length;

  // 2. The engines alone on the same files, in this process, one after the other (after a warm-up
  // of each engine, as the platform's functions are warm after their first document).
  const engines: Engines = { ocr: createLocalOcrEngine(), embed: createLocalEmbeddingEngine(), summary: createLocalSummaryEngine() };
  const first = fixtures[0];
  if (first) await engineOnly(first.path, first.type, first.family, engines);
  const perFile = new Map<string, Awaited<ReturnType<typeof engineOnly>>>();
  for (const f of fixtures) perFile.set(f.file, await engineOnly(f.path, f.type, f.family, engines));
  const counts = new Map<string, number>();
  for (const u of uploads) counts.set(u.fixture.file, (counts.get(u.fixture.file) ?? 0) + 1);
  let engineMs = 0;
  for (const [file, n] of counts) engineMs += n * (perFile.get(file)?.ms ?? 0);

  const report = {
    files: total,
    mix: Object.fromEntries(counts),
    uploadsAcceptedSeconds: +(uploadedMs / 1000).toFixed(1),
    wallSeconds: +(wallMs / 1000).toFixed(1),
    completed: [...jobs.values()].filter((j) => j.status === 'COMPLETED').length,
    failed,
    stuck: stuck.length,
    engineOnlySequentialSeconds: +(engineMs / 1000).toFixed(1),
    ratioPlatformToEngineOnly: +(wallMs / engineMs).toFixed(2),
    engineOnlyPerFileMs: Object.fromEntries([...perFile].map(([f, r]) => [f, { total: Math.round(r.ms), text: Math.round(r.text), embed: Math.round(r.embed), summary: Math.round(r.summary) }])),
    peakMemoryMB: peaks,
    engineRequestsPerSecond: {
      ocr: +(ocrCalls / windowS).toFixed(2),
      embeddings: +(embedCalls / windowS).toFixed(2),
      summary: +(summaries / windowS).toFixed(2),
      chunksEmbeddedPerSecond: +(chunkCount / windowS).toFixed(2),
    },
    machine: { cpus: os.cpus().length, loadavg: os.loadavg().map((l) => +l.toFixed(2)) },
  };
  console.log(JSON.stringify(report, null, 2));
  if (values.json) await writeFile(values.json, JSON.stringify(report, null, 2));
  await db.terminate();
  if (stuck.length > 0) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
