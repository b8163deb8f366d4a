/**
 * Video translation end to end on the test platform, local engines (pocketsphinx, Apertium,
 * espeak-ng, ffmpeg): an English video made from the LibriVox fixtures and a still picture is
 * uploaded with `translate: {to: 'es'}`; the job runs transcribe → translate → dub and leaves
 * Spanish subtitles (SRT, WebVTT) timed within the video and a dubbed MP4 with a video and an audio
 * stream as long as the video, whose audio is new speech (not silent, not the original). A
 * cancelled job ends CANCELLED; a pair Apertium does not have fails once with
 * LANGUAGE_PAIR_NOT_SUPPORTED. The local STT has no Spanish model, so the dub's language is not
 * checked by recognition: the subtitles' words and the track's difference from the original are.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { localConfigForTests } from '../helpers/platform.js';
import { api, putSigned, signIn, testFirestore, waitForJob } from '../helpers/client.js';
import { makeTestVideo, pcm8k, probeStreams } from '../helpers/video.js';
import { runCli } from '../helpers/cli-run.js';
import { CreateUploadResponseSchema, type CreateUploadResponse } from '../../shared/api/contracts.js';
import type { LocalConfig } from '../../emulators/local-config.js';
import type { Job } from '../../shared/jobs/model.js';

let cfg: LocalConfig;
let token: string;
let video: Awaited<ReturnType<typeof makeTestVideo>>;

before(async () => {
  cfg = localConfigForTests();
  token = await signIn(cfg);
  video = await makeTestVideo(15);
});

async function uploadVideo(fileName: string, body: Buffer, translate: Record<string, unknown>): Promise<CreateUploadResponse> {
  const res = await api(cfg, token, 'POST', '/v1/uploads', { projectId: cfg.projectId, fileName, contentType: 'video/mp4', size: body.length, translate });
  assert.equal(res.status, 201, res.text);
  const upload = CreateUploadResponseSchema.parse(res.json);
  const put = await putSigned(upload, body);
  assert.ok(put.ok, `PUT ${put.status}`);
  return upload;
}

async function download(route: string): Promise<{ status: number; body: Buffer; type: string | null }> {
  const res = await fetch(`${cfg.apiUrl}${route}`, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()), type: res.headers.get('content-type') };
}

/** Cue timings (seconds) of an SRT or WebVTT file. */
function cueTimes(text: string): { start: number; end: number }[] {
  const t = (h: string, m: string, s: string, ms: string): number => Number(h) * 3600 + Number(m) * 60 + Number(s) + Number(ms) / 1000;
  return [...text.matchAll(/(\d{2}):(\d{2}):(\d{2})[,.](\d{3}) --> (\d{2}):(\d{2}):(\d{2})[,.](\d{3})/g)].map((m) => ({ start: t(m[1]!, m[2]!, m[3]!, m[4]!), end: t(m[5]!, m[6]!, m[7]!, m[8]!) }));
}

function rms(samples: Int16Array): number {
  let sum = 0;
  for (const s of samples) sum += s * s;
  return Math.sqrt(sum / Math.max(1, samples.length));
}

/** Normalized correlation of two tracks over their common length (1: the same signal). */
function correlation(a: Int16Array, b: Int16Array): number {
  const n = Math.min(a.length, b.length);
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < n; i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    ab += x * y;
    aa += x * x;
    bb += y * y;
  }
  return ab / Math.sqrt(aa * bb || 1);
}

describe('video translation (video.translate): transcribe → translate → dub', () => {
  it('translates an English video into Spanish subtitles and a dubbed MP4', async () => {
    const started = performance.now();
    const upload = await uploadVideo('reading.mp4', video.body, { to: 'es' });
    const { job, seen } = await waitForJob(cfg, upload.jobId, 300_000);
    const seconds = (performance.now() - started) / 1000;
    assert.equal(job.status, 'COMPLETED', JSON.stringify(job.error));
    assert.equal(job.kind, 'video.translate');
    assert.deepEqual(['transcribe', 'translate', 'dub'].map((s) => job.stages[s]?.status), ['COMPLETED', 'COMPLETED', 'COMPLETED']);
    assert.equal(job.stages.embed, undefined, 'a translation is not embedded');
    assert.ok(seen.some((j) => j.stage === 'dub' && j.status === 'RUNNING'), 'the listener saw the dub stage');
    console.log(`translated a ${video.durationSeconds.toFixed(1)} s video in ${seconds.toFixed(1)} s; Firestore writes ${job.metrics.firestoreWrites ?? '?'}`);

    const vtt = await download(`/v1/documents/${upload.documentId}/translation?lang=es&format=vtt`);
    assert.equal(vtt.status, 200);
    assert.match(vtt.type ?? '', /^text\/vtt/);
    const vttText = vtt.body.toString('utf8');
    assert.match(vttText, /^WEBVTT\r?\n/);
    const srt = await download(`/v1/documents/${upload.documentId}/translation?format=srt`);
    assert.equal(srt.status, 200);
    const srtText = srt.body.toString('utf8');
    assert.match(srtText, /^1\r?\n\d{2}:\d{2}:\d{2},\d{3} --> /);
    // Spanish words, as Apertium writes them (articles, prepositions, conjunctions).
    const spanish = (srtText.toLowerCase().match(/\b(el|la|los|las|de|del|y|que|en|un|una|su|por|con|para|es)\b/g) ?? []).length;
    assert.ok(spanish >= 5, `Spanish function words in the subtitles: ${spanish}\n${srtText}`);
    const times = [...cueTimes(vttText), ...cueTimes(srtText)];
    assert.ok(times.length >= 2);
    for (const c of times) assert.ok(c.start >= 0 && c.end > c.start && c.end <= video.durationSeconds + 0.5, JSON.stringify(c));
    console.log(`subtitles:\n${srtText}`);

    // The dubbed video never passes through the API: 303 to a short-lived signed URL, fetched without credentials.
    const redirect = await fetch(`${cfg.apiUrl}/v1/documents/${upload.documentId}/translation?lang=es&format=mp4`, { headers: { authorization: `Bearer ${token}` }, redirect: 'manual' });
    assert.equal(redirect.status, 303);
    const location = redirect.headers.get('location') ?? '';
    const linkBody = (await redirect.json()) as { url: string; expiresAt: string; fileName: string };
    assert.equal(linkBody.url, location);
    assert.match(linkBody.fileName, /\.es\.mp4$/);
    assert.ok(Date.parse(linkBody.expiresAt) > Date.now());
    const fetched = await fetch(location);
    assert.equal(fetched.status, 200);
    assert.match(fetched.headers.get('content-disposition') ?? '', /attachment; filename=".*\.es\.mp4"/);
    const mp4 = { body: Buffer.from(await fetched.arrayBuffer()) };
    // The download route signs the same object.
    const viaDownload = await api(cfg, token, 'GET', `/v1/documents/${upload.documentId}/download?what=dub.mp4`);
    assert.equal(viaDownload.status, 200);
    const linked = await fetch((viaDownload.json as { url: string }).url);
    assert.deepEqual(Buffer.from(await linked.arrayBuffer()), mp4.body);
    const subs = await api(cfg, token, 'GET', `/v1/documents/${upload.documentId}/download?what=translation.srt`);
    assert.equal(subs.status, 200);
    assert.equal(Buffer.from(await (await fetch((subs.json as { url: string }).url)).arrayBuffer()).toString('utf8'), srtText);
    const dir = await mkdtemp(join(tmpdir(), 'vt-e2e-'));
    try {
      const dubbed = join(dir, 'dubbed.mp4');
      const original = join(dir, 'original.wav');
      await writeFile(dubbed, mp4.body);
      await writeFile(original, video.speech);
      const probe = await probeStreams(dubbed);
      const kinds = probe.streams.map((s) => s.codec_type).sort();
      assert.deepEqual(kinds, ['audio', 'video']);
      const duration = Number(probe.format.duration);
      assert.ok(Math.abs(duration - video.durationSeconds) < 1, `dubbed ${duration} s, video ${video.durationSeconds} s`);
      // The dubbed track is speech (not silent) and not the original reading.
      const dub = await pcm8k(dubbed);
      const orig = await pcm8k(original);
      assert.ok(rms(dub) > 300, `dub RMS ${rms(dub)}`);
      const r = correlation(dub, orig);
      assert.ok(Math.abs(r) < 0.3, `correlation with the original ${r}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    // Transcript of the original stays available.
    assert.equal((await api(cfg, token, 'GET', `/v1/documents/${upload.documentId}/transcript?format=srt`)).status, 200);
    // Another language than the one asked for is not there.
    assert.equal((await api(cfg, token, 'GET', `/v1/documents/${upload.documentId}/translation?lang=fr`)).status, 404);
    assert.equal((await api(cfg, token, 'GET', `/v1/documents/${upload.documentId}/translation?format=avi`)).status, 400);
  });

  it('scriptorium translate-video uploads, follows the job and writes the subtitles and the dubbed MP4 (streamed from its signed URL)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vt-cli-'));
    try {
      const file = join(dir, 'lecture.mp4');
      await writeFile(file, video.body);
      const out = join(dir, 'out');
      const run = await runCli(['translate-video', file, '--to', 'es', '--out', out, '--json'], { timeoutMs: 400_000 });
      assert.equal(run.code, 0, run.stderr);
      const report = JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '{}') as { status: string; files: Record<string, string>; documentId: string };
      assert.equal(report.status, 'COMPLETED');
      assert.deepEqual(Object.keys(report.files).sort(), ['mp4', 'srt', 'vtt']);
      assert.equal(report.files.mp4, join(out, 'lecture.es.mp4'));
      assert.match(await readFile(join(out, 'lecture.es.vtt'), 'utf8'), /^WEBVTT/);
      assert.match(await readFile(join(out, 'lecture.es.srt'), 'utf8'), /^1\r?\n\d{2}:/);
      const probe = await probeStreams(join(out, 'lecture.es.mp4'));
      assert.deepEqual(probe.streams.map((s) => s.codec_type).sort(), ['audio', 'video']);
      assert.ok(Math.abs(Number(probe.format.duration) - video.durationSeconds) < 1);
      // Nothing half-written is left beside the files.
      assert.deepEqual((await readdir(out)).sort(), ['lecture.es.mp4', 'lecture.es.srt', 'lecture.es.vtt']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('fails a language pair the local engine does not have once, with LANGUAGE_PAIR_NOT_SUPPORTED', async () => {
    const upload = await uploadVideo('reading-ja.mp4', video.body, { to: 'ja' });
    const { job } = await waitForJob(cfg, upload.jobId, 300_000);
    assert.equal(job.status, 'FAILED');
    assert.equal(job.error?.code, 'LANGUAGE_PAIR_NOT_SUPPORTED', JSON.stringify(job.error));
    assert.equal(job.stages.translate?.attempts, 1, 'one attempt, never retried');
    assert.equal(job.stages.dub, undefined);
    assert.equal((await api(cfg, token, 'GET', `/v1/documents/${upload.documentId}/translation?format=vtt`)).status, 409);
  });

  it('ends CANCELLED when cancelled mid-job', async () => {
    const upload = await uploadVideo('reading-cancel.mp4', video.body, { to: 'es' });
    // Cancel once the job is running (its transcription or a later stage has started).
    const db = testFirestore(cfg);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the job never started running')), 120_000);
      const unsubscribe = db.doc(`jobs/${upload.jobId}`).onSnapshot((snap) => {
        const data = snap.data() as Partial<Job> | undefined;
        if (data?.status === 'RUNNING' && Object.values(data.stages ?? {}).some((s) => s.status === 'RUNNING')) {
          clearTimeout(timer);
          unsubscribe();
          resolve();
        }
      });
    });
    await db.doc(`jobs/${upload.jobId}`).update({ cancelRequested: true });
    const { job } = await waitForJob(cfg, upload.jobId, 300_000);
    assert.equal(job.status, 'CANCELLED', JSON.stringify({ status: job.status, stage: job.stage, error: job.error }));
    assert.equal(job.stages.dub?.status === 'COMPLETED', false);
  });

  it('refuses a translation of headerless PCM at upload', async () => {
    const res = await api(cfg, token, 'POST', '/v1/uploads', { projectId: cfg.projectId, fileName: 'a.raw', contentType: 'application/octet-stream', size: 100, translate: { to: 'es' }, audio: { encoding: 'LINEAR16', sampleRateHertz: 16000 } });
    assert.equal(res.status, 400, res.text);
    const bad = await api(cfg, token, 'POST', '/v1/uploads', { projectId: cfg.projectId, fileName: 'a.mp4', contentType: 'video/mp4', size: 100, translate: { to: 'not a language' } });
    assert.equal(bad.status, 400, bad.text);
  });
});
