/**
 * Speech synthesis end to end on the running test platform with the local engine (flite kal16,
 * festival slt-hts): `POST /v1/jobs` → synthesize-requests → the synthesize function (stage runner)
 * → audio in the storage emulator → `GET /v1/jobs/:id/audio` (signed URL) → download. The audio is
 * judged by tools that are not the engine: ffprobe (one playable file, its duration) and the local
 * speech-to-text engine (pocketsphinx), whose transcript is scored against the text (WER).
 *
 * The texts are the project's own English paragraphs of the search evaluation set
 * (test/fixtures/search/docs, written for this project).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Storage } from '@google-cloud/storage';
import { z } from 'zod';
import { AudioLinkResponseSchema, CreateJobResponseSchema, SpeechResultSchema, VoicesResponseSchema } from '../../shared/api/speech.js';
import { createLocalSttEngine, transcribeAudio, wordErrors } from '../../shared/engines/stt/index.js';
import { toPlainText } from '../../shared/media/transcript.js';
import { derivedPrefix } from '../../shared/storage/names.js';
import type { Job } from '../../shared/jobs/model.js';
import type { LocalConfig } from '../../emulators/local-config.js';
import { localConfigForTests } from '../helpers/platform.js';
import { api, signIn, signUp, testFirestore, waitForJob } from '../helpers/client.js';

const run = promisify(execFile);

let cfg: LocalConfig;
let token: string;
let dir: string;

before(async () => {
  cfg = localConfigForTests();
  token = await signIn(cfg);
  dir = await mkdtemp(path.join(tmpdir(), 'speech-e2e-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The project's English paragraphs, in name order, until the text is over `minBytes`. */
async function englishText(minBytes: number): Promise<string> {
  const docs = path.join(process.cwd(), 'test/fixtures/search/docs');
  const names = (await readdir(docs)).filter((n) => !/arabic|ayat|austen/.test(n)).sort();
  const parts: string[] = [];
  for (const n of names) {
    parts.push((await readFile(path.join(docs, n), 'utf8')).trim());
    if (Buffer.byteLength(parts.join('\n\n')) > minBytes) break;
  }
  const text = parts.join('\n\n');
  assert.ok(Buffer.byteLength(text) > minBytes, `only ${Buffer.byteLength(text)} bytes of text`);
  return text;
}

async function createJob(body: Record<string, unknown>): Promise<{ status: number; json: unknown; text: string }> {
  return api(cfg, token, 'POST', '/v1/jobs', { projectId: cfg.projectId, type: 'TTS', ...body });
}

async function startJob(body: Record<string, unknown>): Promise<string> {
  const res = await createJob(body);
  assert.equal(res.status, 201, res.text);
  return CreateJobResponseSchema.parse(res.json).jobId;
}

const ProbeSchema = z.object({
  streams: z.array(z.object({ codec_type: z.string(), codec_name: z.string() })),
  format: z.object({ format_name: z.string(), duration: z.string() }),
});

/** ffprobe's view of a file: one audio stream, its codec, container and duration. */
async function ffprobe(file: string): Promise<{ codec: string; container: string; duration: number; streams: number }> {
  const { stdout } = await run('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_type,codec_name:format=format_name,duration', '-of', 'json', file]);
  const p = ProbeSchema.parse(JSON.parse(stdout));
  const audio = p.streams.filter((s) => s.codec_type === 'audio');
  assert.ok(audio[0], `${file} has an audio stream`);
  return { codec: audio[0].codec_name, container: p.format.format_name, duration: Number(p.format.duration), streams: p.streams.length };
}

/** Downloads a completed job's audio through the signed URL `GET /v1/jobs/:id/audio` hands out. */
async function downloadAudio(jobId: string, name: string): Promise<{ file: string; link: z.infer<typeof AudioLinkResponseSchema> }> {
  const res = await api(cfg, token, 'GET', `/v1/jobs/${jobId}/audio`);
  assert.equal(res.status, 200, res.text);
  const link = AudioLinkResponseSchema.parse(res.json);
  assert.ok(Date.parse(link.expiresAt) - Date.now() <= 900_000, 'the link is short-lived (≤ 15 min)');
  const got = await fetch(link.url);
  assert.equal(got.status, 200);
  const body = Buffer.from(await got.arrayBuffer());
  assert.equal(body.length, link.sizeBytes);
  const file = path.join(dir, name);
  await writeFile(file, body);
  return { file, link };
}

/** Objects under a job's derived prefix (where its audio goes). */
async function derivedObjects(jobId: string): Promise<string[]> {
  const storage = new Storage({ projectId: cfg.gcpProjectId, apiEndpoint: cfg.storageEmulatorHost });
  const [files] = await storage.bucket(cfg.bucket).getFiles({ prefix: `derived/${cfg.projectId}/${jobId}/` });
  return files.map((f) => f.name);
}

/** The local STT engine's transcript of an audio file (normalized and segmented as the transcribe stage does). */
async function transcribe(file: string): Promise<string> {
  // One segment at a time and a generous deadline: the test machine's cores are shared, and
  // pocketsphinx slows down far past real time under load (the engine's default deadline is for production).
  const engine = createLocalSttEngine({ timeout: { baseMs: 120_000, perAudioSecond: 30 } });
  const out = await transcribeAudio(engine, { path: file }, { workDir: dir, concurrency: 1 });
  return toPlainText(out.transcript);
}

describe('speech synthesis: long text', () => {
  it('turns a text over 5,000 bytes into one playable file whose duration fits the text and whose words come back', async () => {
    const text = await englishText(5_000);
    const bytes = Buffer.byteLength(text);
    const started = performance.now();
    const jobId = await startJob({ text, format: 'mp3', voice: 'flite-kal16' });
    const { job, seen } = await waitForJob(cfg, jobId, 300_000);
    const wallS = (performance.now() - started) / 1000;
    assert.equal(job.status, 'COMPLETED', JSON.stringify(job.error));
    assert.equal(job.documentId, null);
    const result = SpeechResultSchema.parse(job.result);
    assert.ok(result.chunks >= 2, `${bytes} bytes should need at least 2 requests of 5,000 bytes, got ${result.chunks}`);
    assert.equal(result.format, 'mp3');
    assert.equal(result.voice, 'flite-kal16');
    assert.equal(result.inputChars, text.length);
    assert.equal(job.stages.synthesize?.attempts, 1);
    const progress = seen.map((j) => j.progress);
    assert.deepEqual(progress, [...progress].sort((a, b) => a - b), 'progress never goes backwards');
    assert.ok(seen.some((j) => j.status === 'RUNNING' && j.progress > 10 && j.progress < 100), `progress seen between chunks: ${progress.join(',')}`);
    // The audio is a derived object keyed on the stored request's generation.
    assert.equal(result.object, `${derivedPrefix({ projectId: cfg.projectId, documentId: jobId, sourceGeneration: job.input.generation ?? '' })}speech.mp3`);

    const { file, link } = await downloadAudio(jobId, 'long.mp3');
    const probe = await ffprobe(file);
    assert.equal(probe.streams, 1, 'one audio stream, nothing else');
    assert.equal(probe.codec, 'mp3');
    assert.ok(Math.abs(probe.duration - result.durationSeconds) < 0.5, `ffprobe ${probe.duration} s vs result ${result.durationSeconds} s`);
    assert.equal(link.sizeBytes, (await stat(file)).size);
    // Read speech runs at roughly 10–25 characters a second (flite kal16: ~15).
    const cps = text.length / probe.duration;
    assert.ok(cps > 8 && cps < 30, `${probe.duration.toFixed(1)} s for ${text.length} characters (${cps.toFixed(1)} characters per second of audio)`);

    const heard = await transcribe(file);
    const errors = wordErrors(text, heard);
    const writes = job.metrics.firestoreWrites ?? 0;
    console.log(
      `speech e2e: ${text.length} characters (${bytes} bytes) → ${result.chunks} chunks, ${probe.duration.toFixed(1)} s of mp3 (${result.sizeBytes} bytes); ` +
        `job wall ${wallS.toFixed(1)} s, synthesis ${job.metrics.charsPerSecond ?? 0} characters/s (engine ${job.metrics.engineMs ?? 0} ms, join ${job.metrics.joinMs ?? 0} ms); ` +
        `Firestore writes ${writes}; WER ${(errors.wer * 100).toFixed(1)} % over ${errors.referenceWords} words (S ${errors.substitutions}, D ${errors.deletions}, I ${errors.insertions})`,
    );
    // pocketsphinx on flite: a few per cent on short everyday sentences; this text has numbers,
    // names, chess notation and trade words outside pocketsphinx's vocabulary (measured: WER 47 %,
    // 65 % of the words recovered). Most of the words must come back.
    const recovered = (errors.referenceWords - errors.substitutions - errors.deletions) / errors.referenceWords;
    console.log(`speech e2e: ${(recovered * 100).toFixed(1)} % of the words recovered`);
    assert.ok(recovered > 0.5, `${(recovered * 100).toFixed(1)} % of the words recovered`);
    assert.ok(errors.wer < 0.6, `WER ${(errors.wer * 100).toFixed(1)} %`);
    assert.ok(writes > 0 && writes <= 30, `Firestore writes per job: ${writes}`);
  });
});

describe('speech synthesis: SSML', () => {
  it('speaks SSML with a break and a substitution to a WAV file', async () => {
    const ssml = '<speak><p>The meeting starts at nine.</p><break time="1500ms"/><p>Bring the <sub alias="World Wide Web Consortium">W3C</sub> report.</p></speak>';
    const jobId = await startJob({ ssml, format: 'wav' });
    const { job } = await waitForJob(cfg, jobId, 120_000);
    assert.equal(job.status, 'COMPLETED', JSON.stringify(job.error));
    const { file } = await downloadAudio(jobId, 'ssml.wav');
    const probe = await ffprobe(file);
    assert.equal(probe.codec, 'pcm_s16le');
    // Two short sentences plus the 1.5 s break.
    assert.ok(probe.duration > 3 && probe.duration < 12, `${probe.duration} s`);
    const heard = (await transcribe(file)).toLowerCase();
    assert.match(heard, /world|wide|web/, `the alias is said, not the letters: "${heard}"`);
  });
});

describe('speech synthesis: cancellation', () => {
  it('stops between chunks, ends CANCELLED and writes no audio', async () => {
    // festival speaks a few hundred characters a second: three chunks take long enough to cancel between.
    const text = await englishText(10_500);
    const jobId = await startJob({ text, voice: 'festival-slt-hts', format: 'wav' });
    const db = testFirestore(cfg);
    // Wait for the first chunk's progress, then ask for the cancel (as a cancel request would).
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        unsubscribe();
        reject(new Error('no progress within 180 s'));
      }, 180_000);
      const unsubscribe = db.doc(`jobs/${jobId}`).onSnapshot((snap) => {
        const p = (snap.get('stages.synthesize.progress') as number | undefined) ?? 0;
        if (p > 0) {
          clearTimeout(timer);
          unsubscribe();
          resolve();
        }
      }, reject);
    });
    await db.doc(`jobs/${jobId}`).update({ cancelRequested: true });
    const { job } = await waitForJob(cfg, jobId, 180_000);
    assert.equal(job.status, 'CANCELLED', JSON.stringify(job.error));
    assert.equal(job.stages.synthesize?.status, 'CANCELLED');
    assert.equal(job.result, null);
    const chunksDone = job.metrics.chunksDone ?? 0;
    assert.ok(chunksDone < (job.metrics.chunkCount ?? 0), `stopped before the last chunk (${chunksDone} of ${job.metrics.chunkCount ?? 0})`);
    // Nothing is written after the cancel: no audio object now, nor a little later.
    assert.deepEqual(await derivedObjects(jobId), []);
    await new Promise((r) => setTimeout(r, 3000));
    assert.deepEqual(await derivedObjects(jobId), []);
    const res = await api(cfg, token, 'GET', `/v1/jobs/${jobId}/audio`);
    assert.equal(res.status, 409, res.text);
  });
});

describe('speech synthesis: bad input', () => {
  const cases: { name: string; body: Record<string, unknown>; status: number; code: string }[] = [
    { name: 'empty text', body: { text: '' }, status: 400, code: 'INPUT_EMPTY' },
    { name: 'blank text', body: { text: '  \n ' }, status: 400, code: 'INPUT_EMPTY' },
    { name: 'text over the maximum', body: { text: 'word '.repeat(20_001) }, status: 400, code: 'TEXT_TOO_LONG' },
    { name: 'unclosed SSML', body: { ssml: '<speak>Hello <emphasis>world</speak>' }, status: 400, code: 'INVALID_SSML' },
    { name: 'SSML with nothing to say', body: { ssml: '<speak><break time="1s"/></speak>' }, status: 400, code: 'INPUT_EMPTY' },
    { name: 'text and SSML', body: { text: 'a', ssml: '<speak>a</speak>' }, status: 400, code: 'INVALID_ARGUMENT' },
    { name: 'unknown format', body: { text: 'hello', format: 'flac' }, status: 400, code: 'INVALID_ARGUMENT' },
    { name: 'rate out of range', body: { text: 'hello', speakingRate: 5 }, status: 400, code: 'INVALID_ARGUMENT' },
    { name: 'voice cloning', body: { type: 'VOICE_CLONING', text: 'hello' }, status: 422, code: 'NOT_SUPPORTED' },
    { name: 'talking heads', body: { type: 'ANIMATED_TALKING_HEADS', text: 'hello' }, status: 422, code: 'NOT_SUPPORTED' },
    { name: 'talking heads by kind name', body: { type: 'video.talking-head', text: 'hello' }, status: 422, code: 'NOT_SUPPORTED' },
  ];
  for (const c of cases) {
    it(`answers ${c.status} ${c.code} for ${c.name}`, async () => {
      const res = await createJob(c.body);
      assert.equal(res.status, c.status, res.text);
      assert.equal(z.object({ code: z.string() }).parse(res.json).code, c.code);
    });
  }

  it('refuses callers who are not editors of the project', async () => {
    const outsider = await signUp(cfg, `speech-outsider-${Date.now()}@example.test`);
    const res = await api(cfg, outsider, 'POST', '/v1/jobs', { projectId: cfg.projectId, type: 'TTS', text: 'hello' });
    assert.equal(res.status, 403, res.text);
  });

  it('fails a job with an unknown voice once, without retries', async () => {
    const jobId = await startJob({ text: 'Hello there.', voice: 'no-such-voice' });
    const { job } = await waitForJob(cfg, jobId, 120_000);
    assert.equal(job.status, 'FAILED');
    assert.equal(job.error?.code, 'VOICE_NOT_FOUND', JSON.stringify(job.error));
    assert.equal(job.stages.synthesize?.attempts, 1, 'a permanent error is not retried');
    assert.equal(job.attempts, 1);
    assert.deepEqual(await derivedObjects(jobId), []);
  });

  it('is idempotent with a clientRequestId', async () => {
    const body = { text: 'Idempotent request.', clientRequestId: `speech-${Date.now()}` };
    const first = await createJob(body);
    assert.equal(first.status, 201, first.text);
    const again = await createJob(body);
    assert.equal(again.status, 200, again.text);
    const a = CreateJobResponseSchema.parse(first.json);
    const b = CreateJobResponseSchema.parse(again.json);
    assert.equal(b.jobId, a.jobId);
    assert.equal(b.created, false);
    const { job } = await waitForJob(cfg, a.jobId, 120_000);
    assert.equal(job.status, 'COMPLETED');
    assert.equal(job.stages.synthesize?.attempts, 1);
  });
});

describe('speech synthesis: voices and the CLI', () => {
  it('lists the local voices', async () => {
    const res = await api(cfg, token, 'GET', '/v1/voices?language=en-US');
    assert.equal(res.status, 200, res.text);
    const v = VoicesResponseSchema.parse(res.json);
    assert.equal(v.engine, 'local');
    const names = v.voices.filter((x) => x.available).map((x) => x.name);
    assert.ok(names.includes('flite-kal16') && names.includes('festival-slt-hts'), names.join(', '));
    assert.ok(v.voices.every((x) => x.languageCodes.some((l) => l.toLowerCase().startsWith('en'))));
  });

  it('scriptorium speak writes the audio file and reports the job as JSON', async () => {
    const out = path.join(dir, 'cli.ogg');
    const cli = path.join(process.cwd(), 'scripts/scriptorium.mjs');
    const { stdout } = await run(process.execPath, [cli, '--config', process.env.SCRIPTORIUM_LOCAL_CONFIG ?? '.scriptorium/test.json', 'speak', 'The library opens at ten in the morning.', '--format', 'ogg', '--out', out, '--json'], { timeout: 120_000 });
    const report = z.object({ jobId: z.string(), status: z.literal('COMPLETED'), out: z.string(), result: SpeechResultSchema }).parse(JSON.parse(stdout));
    assert.equal(report.out, out);
    const probe = await ffprobe(out);
    assert.equal(probe.codec, 'opus');
    assert.equal((await stat(out)).size, report.result.sizeBytes);
    const job = (await testFirestore(cfg).doc(`jobs/${report.jobId}`).get()).data() as Partial<Job> | undefined;
    assert.equal(job?.kind, 'speech.synthesize');
  });
});
