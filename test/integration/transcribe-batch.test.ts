/**
 * Long recordings with the google engine go to Speech-to-Text v2 batch recognition from Cloud
 * Storage, driven through the transcribe handler against the real Firestore and storage emulators
 * and a local Speech server that speaks the real protocol (BatchRecognize, GetOperation,
 * CancelOperation) and reads the `gs://` object from the storage emulator, as the service reads the
 * bucket. The recording is transcribed for real (pocketsphinx behind the fake).
 *
 * Checked: one operation per recording, however many invocations poll it (each ends at its slice
 * and publishes its continuation); the FLAC it reads (16 kHz mono, next to the source); progress
 * from the service's percentage; the transcript and its files; billing once; checkpoints gone at the
 * end; a failed operation is not polled again (a retry starts a new one); a permanent failure fails
 * the job once; a cancelled job asks the service to cancel; short recordings stay synchronous.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PubSub } from '@google-cloud/pubsub';
import type { Firestore } from '@google-cloud/firestore';
import * as grpc from '@grpc/grpc-js';
import { localConfigForTests } from '../helpers/platform.js';
import { testFirestore } from '../helpers/client.js';
import { fixturePath } from '../helpers/paths.js';
import { pushEnvelope } from '../helpers/events.js';
import { seedRunningJob, type Seeded } from '../helpers/seed.js';
import { fastThrottle } from '../helpers/throttle.js';
import { FAKE_PROJECT, startFakeSpeech, type FakeSpeech } from '../../scripts/fakes/fake-speech.js';
import { handleTranscribe, type TranscribeOutcome } from '../../functions/transcribe/handler.js';
import { JobRepository } from '../../shared/firestore/jobs.js';
import { DocumentRepository } from '../../shared/firestore/documents.js';
import { createPublisher, type Publisher } from '../../shared/events/publisher.js';
import { createStorageGateway, type StorageGateway } from '../../shared/storage/index.js';
import { createLogger } from '../../shared/logger/index.js';
import { createGoogleSttEngine, type GoogleSttEngine } from '../../shared/engines/stt/google.js';
import { runProcess } from '../../shared/engines/exec.js';
import { probeMedia } from '../../shared/media/probe.js';
import type { LocalConfig } from '../../emulators/local-config.js';

let cfg: LocalConfig;
let db: Firestore;
let jobs: JobRepository;
let documents: DocumentRepository;
let storage: StorageGateway;
let publisher: Publisher;
let fake: FakeSpeech;
let engine: GoogleSttEngine;
let recording: Buffer;
const log = createLogger({ test: 'transcribe-batch' });

/** Continuations are kept for the test to deliver; the other events are recorded, not published (the platform's functions must not race these jobs). */
const kept: unknown[] = [];
function keeping(inner: Publisher): Publisher {
  return {
    publish: (topic, data, attributes) => {
      if (topic === 'transcribe-requests') {
        kept.push(data);
        return Promise.resolve('kept');
      }
      return topic === 'document-events' ? Promise.resolve('recorded') : inner.publish(topic, data, attributes);
    },
  };
}

before(async () => {
  cfg = localConfigForTests();
  process.env.PUBSUB_EMULATOR_HOST = cfg.pubsubEmulatorHost;
  process.env.STORAGE_EMULATOR_HOST = cfg.storageEmulatorHost;
  db = testFirestore(cfg);
  jobs = new JobRepository(db);
  documents = new DocumentRepository(db);
  storage = createStorageGateway({ projectId: cfg.gcpProjectId });
  publisher = keeping(createPublisher(new PubSub({ projectId: cfg.gcpProjectId })));
  fake = await startFakeSpeech({
    pollsUntilDone: 4,
    // The service reads the bucket: here, the storage emulator.
    readObject: async (uri) => {
      const m = /^gs:\/\/([^/]+)\/(.+)$/.exec(uri);
      if (!m) return undefined;
      return storage.read({ bucket: m[1] ?? '', object: m[2] ?? '' }).catch(() => undefined);
    },
  });
  engine = createGoogleSttEngine({ project: FAKE_PROJECT, apiEndpoint: fake.endpoint, retryDelayMs: 5, throttle: fastThrottle() });
  // Two real read passages with a second of silence between them (~11 s).
  const dir = await mkdtemp(path.join(tmpdir(), 'batch-audio-'));
  const out = path.join(dir, 'joined.mp3');
  const inputs = ['0870', '0880'].map((n) => fixturePath(`audio/sense_and_sensibility_01_austen_64kb-${n}.wav`));
  const r = await runProcess('ffmpeg', ['-v', 'error', '-i', inputs[0] ?? '', '-i', inputs[1] ?? '', '-f', 'lavfi', '-t', '1', '-i', 'anullsrc=r=22050:cl=stereo',
    '-filter_complex', '[0:a]aresample=22050,aformat=channel_layouts=stereo[a];[1:a]aresample=22050,aformat=channel_layouts=stereo[b];[a][2:a][b]concat=n=3:v=0:a=1[o]',
    '-map', '[o]', '-c:a', 'libmp3lame', '-b:a', '64k', out], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  recording = await readFile(out);
  await rm(dir, { recursive: true, force: true });
});

after(async () => {
  await engine.close();
  await fake.close();
});

const deps = (overrides: { batchMinSeconds?: number } = {}) => ({
  jobs, documents, storage, publisher, log, config: { SCRIPTORIUM_MAX_ATTEMPTS: 3 }, engine: () => engine, concurrency: 1, batchMinSeconds: overrides.batchMinSeconds ?? 5, batchPollMs: 150, progressIntervalMs: 0,
});

function seed(): Promise<Seeded> {
  return seedRunningJob({ cfg, db, documents, jobs }, 'speech.transcribe', 'transcribe', recording, 'reading.mp3', 'audio/mpeg', 'audio');
}

function envelope(s: Seeded) {
  return pushEnvelope('transcribe-requests', { type: 'scriptorium.media.transcribe.requested.v1', jobId: s.jobId, projectId: 'test', documentId: s.documentId, source: { bucket: cfg.bucket, object: s.object, generation: s.generation }, contentType: 'audio/mpeg', requestedAt: new Date().toISOString() });
}

/** Delivers the request, then each continuation the handler publishes, until an outcome other than `continued` (or `limit` deliveries). */
async function drive(s: Seeded, d: ReturnType<typeof deps>, limit = 20): Promise<TranscribeOutcome[]> {
  kept.length = 0;
  const outcomes: TranscribeOutcome[] = [];
  let delivery: unknown = envelope(s);
  for (let i = 0; i < limit; i++) {
    let out: TranscribeOutcome;
    try {
      out = await handleTranscribe(delivery, d);
    } catch (err) {
      // A transient failure: Pub/Sub would deliver the same message again.
      outcomes.push({ action: 'failed', jobId: s.jobId, error: { code: 'THROWN', message: String(err), retryable: true } });
      continue;
    }
    outcomes.push(out);
    if (out.action !== 'continued') break;
    const next = kept.shift();
    assert.ok(next, 'a continuation was published');
    delivery = pushEnvelope('transcribe-requests', next as Parameters<typeof pushEnvelope<'transcribe-requests'>>[1]);
  }
  return outcomes;
}

async function checkpoints(jobId: string): Promise<string[]> {
  return (await jobs.ref(jobId).collection('checkpoints').get()).docs.map((d) => d.id);
}

const batchRequests = () => fake.requests.filter((r) => r.method === 'BatchRecognize');

describe('batch recognition of long recordings (google engine)', () => {
  it('one operation, polled across invocations that each end at their slice; the transcript, its files, progress and billing', async () => {
    const s = await seed();
    const before = batchRequests().length;
    const pollsBefore = fake.polls.length;
    const progress: number[] = [];
    const unsubscribe = jobs.ref(s.jobId).onSnapshot((snap) => {
      const p = (snap.data() as { stages?: { transcribe?: { progress?: number } } } | undefined)?.stages?.transcribe?.progress;
      if (typeof p === 'number') progress.push(p);
    });
    process.env.SCRIPTORIUM_STAGE_SLICE_SECONDS = '0.4';
    let outcomes: TranscribeOutcome[];
    try {
      outcomes = await drive(s, deps());
    } finally {
      delete process.env.SCRIPTORIUM_STAGE_SLICE_SECONDS;
      unsubscribe();
    }
    assert.equal(outcomes.at(-1)?.action, 'completed', JSON.stringify(outcomes));
    assert.ok(outcomes.filter((o) => o.action === 'continued').length >= 1, `continued at least once: ${outcomes.map((o) => o.action).join(', ')}`);
    const started = batchRequests().slice(before);
    assert.equal(started.length, 1, 'one operation for the recording');
    assert.ok(fake.polls.length - pollsBefore >= 5, 'polled until done');
    assert.equal(fake.requests.slice(-1)[0]?.method, 'BatchRecognize', 'no synchronous request');
    // What the service read: FLAC, 16 kHz mono, next to the source's derived files.
    const uri = started[0]?.uris[0] ?? '';
    assert.match(uri, new RegExp(`^gs://${cfg.bucket}/.*${s.documentId}.*/audio\\.flac$`));
    assert.equal(started[0]?.decoding.kind, 'auto');
    const dir = await mkdtemp(path.join(tmpdir(), 'batch-flac-'));
    try {
      const flac = path.join(dir, 'audio.flac');
      await writeFile(flac, await storage.read({ bucket: cfg.bucket, object: uri.slice(`gs://${cfg.bucket}/`.length) }));
      const probe = await probeMedia(flac);
      assert.equal(probe.audio?.codec, 'flac');
      assert.equal(probe.audio?.sampleRate, 16000);
      assert.equal(probe.audio?.channels, 1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }

    const job = await jobs.get(s.jobId);
    assert.equal(job?.stages.transcribe?.status, 'COMPLETED');
    const result = job?.stages.transcribe?.result as { batchOperation?: string; durationSeconds?: number; text?: { bucket: string; object: string; generation: string }; transcript?: Record<string, unknown> } | null | undefined;
    assert.match(result?.batchOperation ?? '', /^projects\/demo-scriptorium\/locations\/global\/operations\//);
    assert.ok(Math.abs((result?.durationSeconds ?? 0) - 11) < 2, `duration ${result?.durationSeconds}`);
    assert.ok(result?.text);
    const text = (await storage.read(result.text)).toString('utf8');
    // pocketsphinx behind the fake: real words of the reading, in time order.
    assert.ok(text.split(/\s+/).filter((w) => w.length > 0).length >= 10, text);
    assert.deepEqual(Object.keys(result.transcript ?? {}).sort(), ['json', 'srt', 'vtt']);
    // Progress followed the service's percentage, never backwards, under 100 until completed.
    const running = progress.filter((p) => p > 0 && p < 100);
    assert.ok(running.length >= 1, `progress seen: ${progress.join(', ')}`);
    for (let i = 1; i < running.length; i++) assert.ok((running[i] ?? 0) >= (running[i - 1] ?? 0), `progress monotonic: ${running.join(', ')}`);
    // Billed once: the service's billed seconds.
    assert.equal(job?.usage?.units.sttAudioSeconds, Math.ceil(result.durationSeconds ?? 0));
    assert.deepEqual(await checkpoints(s.jobId), [], 'the operation checkpoint is gone once the stage completed');
  });

  it('an operation that failed transiently is not polled again: the retry starts a new one and completes', async () => {
    const s = await seed();
    const before = batchRequests().length;
    const original = fake.respond;
    let failures = 1;
    fake.respond = (req, audio, index) => {
      if (req.method === 'BatchRecognize' && failures > 0) {
        failures--;
        return { error: { code: grpc.status.UNAVAILABLE, message: 'The service is currently unavailable.' } };
      }
      return original(req, audio, index);
    };
    try {
      const outcomes = await drive(s, deps());
      assert.equal(outcomes.at(-1)?.action, 'completed', JSON.stringify(outcomes));
      assert.ok(outcomes.some((o) => o.action === 'failed'), 'the first attempt failed transiently');
    } finally {
      fake.respond = original;
    }
    assert.equal(batchRequests().length - before, 2, 'a new operation after the failed one');
    const job = await jobs.get(s.jobId);
    assert.equal(job?.stages.transcribe?.attempts, 2);
    assert.deepEqual(await checkpoints(s.jobId), []);
  });

  it('a permanent failure of the operation fails the job once, with the service\'s reason', async () => {
    const s = await seed();
    const before = batchRequests().length;
    const original = fake.respond;
    fake.respond = () => ({ error: { code: grpc.status.INVALID_ARGUMENT, message: 'Audio data does not appear to be in a supported encoding.' } });
    try {
      const outcomes = await drive(s, deps());
      assert.equal(outcomes.at(-1)?.action, 'failed');
    } finally {
      fake.respond = original;
    }
    assert.equal(batchRequests().length - before, 1, 'never retried');
    const job = await jobs.get(s.jobId);
    assert.equal(job?.status, 'FAILED');
    assert.equal(job?.error?.code, 'INPUT_CORRUPT', JSON.stringify(job?.error));
    assert.equal(job?.stages.transcribe?.attempts, 1);
    assert.deepEqual(await checkpoints(s.jobId), [], 'a failed operation leaves no checkpoint for a retry to poll');
  });

  it('cancelling the job while the operation runs cancels the operation too', async () => {
    const s = await seed();
    const cancelsBefore = fake.cancels.length;
    const started = batchRequests().length;
    // Ask for the cancel once the operation exists (the job's checkpoint appears).
    const unsubscribe = jobs.ref(s.jobId).collection('checkpoints').onSnapshot((snap) => {
      if (snap.size > 0) void jobs.update(s.jobId, () => ({ cancelRequested: true }));
    });
    let outcomes: TranscribeOutcome[];
    try {
      outcomes = await drive(s, { ...deps(), heartbeatMs: 100 } as ReturnType<typeof deps>);
    } finally {
      unsubscribe();
    }
    assert.equal(outcomes.at(-1)?.action, 'cancelled', JSON.stringify(outcomes));
    assert.equal(batchRequests().length - started, 1);
    const job = await jobs.get(s.jobId);
    assert.equal(job?.status, 'CANCELLED');
    assert.equal(fake.cancels.length - cancelsBefore, 1, 'CancelOperation was sent');
    assert.match(fake.cancels.at(-1) ?? '', /\/operations\//);
    assert.equal(job?.stages.transcribe?.result ?? null, null, 'nothing written after the cancel');
  });

  it('a recording shorter than the threshold is transcribed synchronously, segment by segment', async () => {
    const s = await seed();
    const before = fake.requests.length;
    const outcomes = await drive(s, deps({ batchMinSeconds: 300 }));
    assert.equal(outcomes.at(-1)?.action, 'completed', JSON.stringify(outcomes));
    const sent = fake.requests.slice(before);
    assert.ok(sent.length >= 1);
    assert.ok(sent.every((r) => r.method === 'Recognize'), sent.map((r) => r.method).join(', '));
    const result = (await jobs.get(s.jobId))?.stages.transcribe?.result as { batchOperation?: string } | undefined;
    assert.equal(result?.batchOperation, undefined);
  });
});
