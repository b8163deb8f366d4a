/**
 * Pipeline benchmark on the running local stack (`npm start`, or the test stack via
 * SCRIPTORIUM_LOCAL_CONFIG). For a few corpus files, N times each, it measures upload-to-COMPLETED
 * (from the start of the signed PUT to the Firestore listener seeing COMPLETED) and splits it into
 * engine time (measured inside the OCR function) and pipeline overhead (everything else: upload,
 * notification, Pub/Sub pushes, Firestore transactions, downloads, derived writes). It also reports
 * Firestore writes per document (metered on the job) and, as a baseline measured in the same run,
 * the engine alone on the same file in this process. The overhead is further split by the job's
 * log timestamps: PUT → ingest claim, ingest → OCR claim, OCR stage minus engine, completion → listener.
 *
 *   node dist/scripts/bench.js [--runs 5] [--json out.json]
 */
import { parseArgs } from 'node:util';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Timestamp } from '@google-cloud/firestore';
import { readLocalConfig, type LocalConfig } from '../emulators/local-config.js';
import { createUpload, fixture, putSigned, signIn, testFirestore, waitForJob } from './lib/stack-client.js';
import { createLocalOcrEngine } from '../shared/engines/ocr/local.js';
import type { OcrContentType } from '../shared/engines/ocr/types.js';

const FILES: readonly { file: string; type: OcrContentType; what: string }[] = [
  { file: 'pdf/minimal-document.pdf', type: 'application/pdf', what: '1 page, text layer' },
  { file: 'pdf/pdflatex-4-pages.pdf', type: 'application/pdf', what: '4 pages, text layer' },
  { file: 'ocr/phototest.tif', type: 'image/tiff', what: '1 scanned page, OCR' },
  { file: 'ocr/phototest-rotated-180.png', type: 'image/png', what: '1 page upside down, OCR' },
];

interface Run {
  file: string;
  /** Where the overhead goes, from the job's log timestamps (same machine clock as this process). */
  uploadToIngestMs: number;
  ingestToOcrMs: number;
  ocrStageOverheadMs: number;
  completedToListenerMs: number;
  totalMs: number;
  engineMs: number;
  overheadMs: number;
  putMs: number;
  firestoreWrites: number;
  pages: number;
}

/** Server timestamps (ms) of the job's log entries for ingest, the OCR claim and completion. */
async function logTimes(cfg: LocalConfig, jobId: string): Promise<{ ingest: number; claim: number; done: number }> {
  const logs = await testFirestore(cfg).collection(`jobs/${jobId}/logs`).orderBy('seq').get();
  const find = (prefix: string): number => {
    const entry = logs.docs.find((d) => String(d.get('message')).startsWith(prefix));
    const at: unknown = entry?.get('at');
    if (!(at instanceof Timestamp)) throw new Error(`job ${jobId}: no log entry starting ${prefix}`);
    return at.toMillis();
  };
  return { ingest: find('upload received'), claim: find('ocr attempt 1 '), done: find('OCR completed') };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] ?? 0) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2;
};

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' }, json: { type: 'string' } } });
  const runs = Number(values.runs);
  const cfg = readLocalConfig();
  const token = await signIn(cfg);
  const engine = createLocalOcrEngine();
  const work = await mkdtemp(path.join(tmpdir(), 'scriptorium-bench-'));
  const results: Run[] = [];
  const baselines: Record<string, number> = {};
  try {
    // Warm-up: first requests pay JIT and connection set-up in every process; not what we measure.
    {
      const body = await fixture('pdf/minimal-document.pdf');
      const up = await createUpload(cfg, token, { fileName: 'warmup.pdf', contentType: 'application/pdf', size: body.length });
      await putSigned(up, body);
      await waitForJob(cfg, up.jobId);
    }
    for (const { file, type } of FILES) {
      const body = await fixture(file);
      const local = path.join(work, path.basename(file));
      await writeFile(local, body);
      const direct: number[] = [];
      for (let i = 0; i < runs; i++) {
        const t = performance.now();
        await engine.extract({ path: local, contentType: type });
        direct.push(performance.now() - t);
      }
      baselines[file] = median(direct);
      for (let i = 0; i < runs; i++) {
        const up = await createUpload(cfg, token, { fileName: path.basename(file), contentType: type, size: body.length });
        const wall0 = Date.now();
        const t0 = performance.now();
        const put = await putSigned(up, body);
        const t1 = performance.now();
        if (!put.ok) throw new Error(`PUT ${file}: ${put.status}`);
        const { job } = await waitForJob(cfg, up.jobId, 120_000, false);
        const t2 = performance.now();
        const wall2 = Date.now();
        const at = await logTimes(cfg, up.jobId);
        // Writes are counted once the job is settled (its outcome announced: the last write it gets).
        const settled = (await waitForJob(cfg, up.jobId)).job;
        if (job.status !== 'COMPLETED') throw new Error(`${file}: ${job.status} ${JSON.stringify(job.error)}`);
        const engineMs = job.metrics.engineMs ?? 0;
        results.push({
          uploadToIngestMs: at.ingest - wall0,
          ingestToOcrMs: at.claim - at.ingest,
          ocrStageOverheadMs: at.done - at.claim - engineMs,
          completedToListenerMs: wall2 - at.done,
          file,
          totalMs: t2 - t0, engineMs, overheadMs: t2 - t0 - engineMs, putMs: t1 - t0, firestoreWrites: settled.metrics.firestoreWrites ?? 0, pages: Number(job.result?.pageCount ?? 0) });
      }
    }
  } finally {
    await rm(work, { recursive: true, force: true });
    await testFirestore(cfg).terminate();
  }

  const rows = FILES.map(({ file, what }) => {
    const rs = results.filter((r) => r.file === file);
    const base = baselines[file] ?? 0;
    const total = median(rs.map((r) => r.totalMs));
    return {
      file,
      what,
      pages: rs[0]?.pages ?? 0,
      totalMs: Math.round(total),
      engineMs: Math.round(median(rs.map((r) => r.engineMs))),
      overheadMs: Math.round(median(rs.map((r) => r.overheadMs))),
      putMs: Math.round(median(rs.map((r) => r.putMs))),
      firestoreWrites: median(rs.map((r) => r.firestoreWrites)),
      uploadToIngestMs: Math.round(median(rs.map((r) => r.uploadToIngestMs))),
      ingestToOcrMs: Math.round(median(rs.map((r) => r.ingestToOcrMs))),
      ocrStageOverheadMs: Math.round(median(rs.map((r) => r.ocrStageOverheadMs))),
      completedToListenerMs: Math.round(median(rs.map((r) => r.completedToListenerMs))),
      directEngineMs: Math.round(base),
      totalVsDirectEngine: base > 0 ? Number((total / base).toFixed(2)) : null,
    };
  });
  const overall = { runsPerFile: runs, medianOverheadMs: Math.round(median(results.map((r) => r.overheadMs))), p90OverheadMs: Math.round([...results.map((r) => r.overheadMs)].sort((a, b) => a - b)[Math.floor(results.length * 0.9)] ?? 0), medianFirestoreWrites: median(results.map((r) => r.firestoreWrites)), targetOverheadMs: 300 };
  console.table(rows.map(({ uploadToIngestMs: _a, ingestToOcrMs: _b, ocrStageOverheadMs: _c, completedToListenerMs: _d, ...main }) => main));
  console.log('where the overhead goes (medians, ms): PUT start → ingest claimed; ingest → OCR claimed; OCR stage minus engine; COMPLETED → listener');
  console.table(rows.map(({ file, uploadToIngestMs, ingestToOcrMs, ocrStageOverheadMs, completedToListenerMs }) => ({ file, uploadToIngestMs, ingestToOcrMs, ocrStageOverheadMs, completedToListenerMs })));
  console.log(JSON.stringify(overall));
  if (values.json) await writeFile(values.json, JSON.stringify({ rows, overall, runs: results }, null, 2));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
