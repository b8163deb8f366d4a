/**
 * A long recording end to end on the running local stack (`npm start`, or the test stack with
 * SCRIPTORIUM_LOCAL_CONFIG): an hour of English speech uploaded through the real client flow and
 * followed to the end of its job (transcription in slices, then chunks, embeddings, summary).
 *
 * The recording: real English prose (the licence texts Debian ships in /usr/share/common-licenses,
 * paragraph by paragraph) spoken by flite's kal16 voice with a pause between paragraphs, encoded as
 * a 64 kb/s mono MP3, as a lecture or an audiobook would be uploaded. Knowing what was said, and
 * when, the transcript is scored per paragraph: the transcript's segments whose middle falls in a
 * paragraph's time are that paragraph's hypothesis, so the word error rate also checks the
 * segment timestamps. `--file F --reference R` takes a recording of your own instead (scored as a
 * whole, without timings).
 *
 * Reports: the recording's length; the wall time to the transcript and to the end of the job; the
 * real-time factor; the invocations (slices) the transcription took and the longest one, against
 * the function's timeout; segments; word error rate; the transcribe function's peak memory; the
 * job's metered usage and estimated cost. A figure, not a timed test.
 *
 *   node dist/scripts/bench-long-audio.js [--minutes 60] [--timeout-minutes 120] [--json out.json]
 *   node dist/scripts/bench-long-audio.js --file talk.mp3 --reference talk.txt
 */
import { readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Firestore } from '@google-cloud/firestore';
import { readLocalConfig } from '../emulators/local-config.js';
import { topology } from '../shared/topology.js';
import { runProcess } from '../shared/engines/exec.js';
import { wordErrors } from '../shared/engines/stt/metrics.js';
import { toPlain } from '../shared/firestore/client.js';
import { isTerminal, JobSchema, type Job } from '../shared/jobs/model.js';
import { readWavInfo } from '../shared/media/wav.js';
import { TranscriptJsonSchema, type TranscriptJson } from '../shared/media/transcript.js';
import { createUpload, memorySampler, signIn } from './bench-common.js';

const LICENCES = '/usr/share/common-licenses';
/** Silence between two paragraphs: where a lecturer breathes, and where the splitter may cut. */
const PAUSE_SECONDS = 0.8;

interface Paragraph {
  readonly text: string;
  readonly start: number;
  readonly end: number;
}

/** Paragraphs of real prose: blank-line separated, whitespace collapsed, headings and rules skipped. */
async function prose(): Promise<string[]> {
  const out: string[] = [];
  const files = readdirSync(LICENCES).filter((f) => !f.includes('-') || /^(GPL-3|Apache-2\.0|LGPL-2\.1|MPL-2\.0|GFDL-1\.3|Artistic|CC0-1\.0)$/.test(f)).sort();
  for (const f of files) {
    const text = await readFile(path.join(LICENCES, f), 'utf8').catch(() => '');
    for (const p of text.split(/\n\s*\n/)) {
      const flat = p.replace(/\s+/g, ' ').trim();
      // Prose only: enough words, mostly letters (no tables of contents, rules or addresses).
      if (flat.split(' ').length < 12 || (flat.match(/[A-Za-z]/g)?.length ?? 0) < flat.length * 0.7) continue;
      out.push(flat);
    }
  }
  if (out.length === 0) throw new Error(`no prose found under ${LICENCES}`);
  return out;
}

/** Speaks paragraphs (cycling through them) until `seconds` of speech, then joins them with pauses into one MP3. */
async function makeRecording(dir: string, seconds: number): Promise<{ file: string; paragraphs: Paragraph[]; durationSeconds: number }> {
  const texts = await prose();
  const paragraphs: Paragraph[] = [];
  const list: string[] = [];
  const pause = path.join(dir, 'pause.wav');
  const silent = await runProcess('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-t', String(PAUSE_SECONDS), '-i', 'anullsrc=r=16000:cl=mono', '-c:a', 'pcm_s16le', '-y', pause], { timeoutMs: 30_000 });
  if (silent.code !== 0) throw new Error(silent.stderr);
  let t = 0;
  for (let i = 0; t < seconds; i++) {
    const text = texts[i % texts.length] ?? '';
    const txt = path.join(dir, `p${i}.txt`);
    const wav = path.join(dir, `p${i}.wav`);
    await writeFile(txt, text);
    // flite writes a whole file only to a path (not to stdout).
    const r = await runProcess('flite', ['-voice', 'kal16', '-f', txt, '-o', wav], { timeoutMs: 120_000 });
    if (r.code !== 0) throw new Error(`flite: ${r.stderr}`);
    const info = await readWavInfo(wav);
    if (!info) throw new Error(`flite wrote no WAV for paragraph ${i}`);
    paragraphs.push({ text, start: t, end: t + info.durationSeconds });
    t += info.durationSeconds + PAUSE_SECONDS;
    list.push(`file '${wav}'`, `file '${pause}'`);
  }
  const listFile = path.join(dir, 'list.txt');
  await writeFile(listFile, `${list.join('\n')}\n`);
  const file = path.join(dir, 'long-recording.mp3');
  const r = await runProcess('ffmpeg', ['-v', 'error', '-f', 'concat', '-safe', '0', '-i', listFile, '-ac', '1', '-c:a', 'libmp3lame', '-b:a', '64k', '-y', file], { timeoutMs: 600_000 });
  if (r.code !== 0) throw new Error(`ffmpeg: ${r.stderr}`);
  return { file, paragraphs, durationSeconds: t };
}

/** Word errors summed over paragraphs, each scored against the segments whose middle falls in its time (pauses included). */
function score(paragraphs: readonly Paragraph[], transcript: TranscriptJson): { wer: number; referenceWords: number; substitutions: number; deletions: number; insertions: number; unplaced: number } {
  const hyps: string[][] = paragraphs.map(() => []);
  let unplaced = 0;
  for (const s of transcript.segments) {
    const mid = (s.start + s.end) / 2;
    const i = paragraphs.findIndex((p, k) => mid >= p.start - PAUSE_SECONDS / 2 && mid < (paragraphs[k + 1]?.start ?? Infinity) - PAUSE_SECONDS / 2);
    if (i < 0) unplaced++;
    else hyps[i]?.push(s.text);
  }
  const totals = { referenceWords: 0, substitutions: 0, deletions: 0, insertions: 0 };
  paragraphs.forEach((p, i) => {
    const e = wordErrors(p.text, (hyps[i] ?? []).join(' '));
    totals.referenceWords += e.referenceWords;
    totals.substitutions += e.substitutions;
    totals.deletions += e.deletions;
    totals.insertions += e.insertions;
  });
  const wer = (totals.substitutions + totals.deletions + totals.insertions) / Math.max(1, totals.referenceWords);
  return { ...totals, wer: +wer.toFixed(3), unplaced };
}

async function readJob(db: Firestore, id: string): Promise<Job | null> {
  const snap = await db.doc(`jobs/${id}`).get();
  return snap.exists ? JobSchema.parse({ ...(toPlain(snap.data()) as object), id: snap.id }) : null;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { minutes: { type: 'string', default: '60' }, 'timeout-minutes': { type: 'string', default: '120' }, json: { type: 'string' }, file: { type: 'string' }, reference: { type: 'string' } } });
  const cfg = readLocalConfig();
  process.env.FIRESTORE_EMULATOR_HOST = cfg.firestoreEmulatorHost;
  const db = new Firestore({ projectId: cfg.gcpProjectId });
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bench-long-audio-'));
  try {
    let file: string;
    let paragraphs: Paragraph[] | null = null;
    let reference: string | null = null;
    const made = performance.now();
    if (values.file) {
      file = values.file;
      reference = values.reference ? await readFile(values.reference, 'utf8') : null;
    } else {
      const rec = await makeRecording(dir, Number(values.minutes) * 60);
      file = rec.file;
      paragraphs = rec.paragraphs;
    }
    const body = await readFile(file);
    console.error(`recording ready: ${file} (${(body.length / 1e6).toFixed(1)} MB) in ${((performance.now() - made) / 1000).toFixed(1)} s`);

    const token = await signIn(cfg);
    const memory = memorySampler(cfg);
    const started = performance.now();
    const up = await createUpload(cfg, token, { projectId: cfg.projectId, fileName: path.basename(file), contentType: 'audio/mpeg', size: body.length });
    const put = await fetch(up.uploadUrl, { method: 'PUT', headers: up.headers, body });
    if (!put.ok) throw new Error(`PUT: ${put.status} ${await put.text()}`);
    const deadline = Date.now() + Number(values['timeout-minutes']) * 60_000;
    let job: Job | null = null;
    let transcribedMs: number | null = null;
    let lastLine = '';
    while (Date.now() < deadline) {
      job = await readJob(db, up.jobId);
      if (job && transcribedMs === null && job.stages.transcribe?.status === 'COMPLETED') transcribedMs = performance.now() - started;
      const line = job ? `${job.status} ${job.stage} ${job.progress}% (transcribe ${job.stages.transcribe?.progress ?? 0}%, slices ${job.stages.transcribe?.metrics.slices ?? 0})` : 'no job yet';
      if (line !== lastLine) console.error(`${((performance.now() - started) / 1000).toFixed(0)} s: ${line}`);
      lastLine = line;
      if (job && isTerminal(job.status) && job.announced) break;
      await new Promise((r) => setTimeout(r, 5000));
    }
    const wallMs = performance.now() - started;
    const peaks = memory.stop();
    if (!job || !isTerminal(job.status)) throw new Error(`job ${up.jobId} did not finish in ${values['timeout-minutes']} min (${lastLine})`);

    // The invocations, from the job's log: each slice's end is logged as it hands over.
    const logs = (await db.collection(`jobs/${up.jobId}/logs`).orderBy('at').get()).docs.map((d) => toPlain(d.data()) as { at?: string; message?: string });
    const invocations: number[] = [];
    let began: number | null = null;
    for (const l of logs) {
      const at = Date.parse(l.at ?? '');
      if (/^transcribe attempt \d+ of \d+ started/.test(l.message ?? '')) began = at;
      else if (began !== null && /^transcribe continues in a new invocation|^transcribed /.test(l.message ?? '')) {
        invocations.push((at - began) / 1000);
        began = null;
      }
    }
    const res = await fetch(`${cfg.apiUrl}/v1/documents/${encodeURIComponent(up.documentId)}/transcript?format=json`, { headers: { authorization: `Bearer ${token}` } });
    const transcript = res.ok ? TranscriptJsonSchema.parse(await res.json()) : null;
    const st = job.stages.transcribe;
    const result = (st?.result ?? {}) as { durationSeconds?: number; segments?: number; chars?: number };
    const audioSeconds = result.durationSeconds ?? paragraphs?.at(-1)?.end ?? 0;
    const accuracy = transcript && paragraphs ? score(paragraphs, transcript) : transcript && reference ? { ...wordErrors(reference, transcript.text), unplaced: 0 } : null;
    const timeout = topology.functions.find((f) => f.name === 'transcribe')?.timeoutSeconds ?? 540;
    const report = {
      recording: { file: path.basename(file), bytes: (await stat(file)).size, audioSeconds: +audioSeconds.toFixed(1), paragraphs: paragraphs?.length ?? null },
      job: { id: up.jobId, status: job.status, error: job.error?.code ?? null },
      wallSecondsToTranscript: transcribedMs === null ? null : +(transcribedMs / 1000).toFixed(1),
      wallSecondsToJobEnd: +(wallMs / 1000).toFixed(1),
      realTimeFactorTranscription: transcribedMs === null ? null : +(transcribedMs / 1000 / Math.max(1, audioSeconds)).toFixed(3),
      transcribe: {
        invocations: (st?.metrics.slices ?? 0) + 1,
        functionTimeoutSeconds: timeout,
        longestInvocationSecondsFromLog: invocations.length > 0 ? +Math.max(...invocations).toFixed(1) : null,
        attempts: st?.attempts ?? null,
        segments: st?.metrics.segments ?? null,
        utterances: result.segments ?? null,
        characters: result.chars ?? null,
        engineSeconds: st?.metrics.engineMs !== undefined ? +(st.metrics.engineMs / 1000).toFixed(1) : null,
      },
      accuracy,
      stages: Object.fromEntries(Object.entries(job.stages).map(([n, s]) => [n, { status: s.status, attempts: s.attempts }])),
      peakMemoryMB: peaks,
      usage: job.usage ?? null,
      machine: { cpus: os.cpus().length, loadavg: os.loadavg().map((l) => +l.toFixed(2)) },
    };
    console.log(JSON.stringify(report, null, 2));
    if (values.json) await writeFile(values.json, JSON.stringify(report, null, 2));
    if (job.status !== 'COMPLETED') process.exitCode = 1;
  } finally {
    await rm(dir, { recursive: true, force: true });
    await db.terminate();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
