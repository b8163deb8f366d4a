/**
 * Resumable stages against the real Firestore and storage emulators and real engines: an attempt
 * that dies after k units (a crash injected right after the k-th unit's checkpoint, as a process
 * killed there would leave it) is redelivered, the next attempt does only the units not done (the
 * engine's calls are counted), the stage's result says how many were resumed, the output equals an
 * uninterrupted run's, and the checkpoints are gone once the stage completes.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PubSub } from '@google-cloud/pubsub';
import { Storage } from '@google-cloud/storage';
import type { Firestore } from '@google-cloud/firestore';
import { localConfigForTests } from '../helpers/platform.js';
import { fixture, testFirestore } from '../helpers/client.js';
import { fixturePath } from '../helpers/paths.js';
import { pushEnvelope } from '../helpers/events.js';
import { seedRunningJob, type Seeded } from '../helpers/seed.js';
import { FAKE_PROCESSOR, startFakeDocumentAi, textFromInput, type FakeDocumentAi } from '../../scripts/fakes/fake-documentai.js';
import { handleOcr } from '../../functions/ocr/handler.js';
import { handleEmbed } from '../../functions/embed/handler.js';
import { handleTranscribe } from '../../functions/transcribe/handler.js';
import { JobRepository } from '../../shared/firestore/jobs.js';
import { DocumentRepository } from '../../shared/firestore/documents.js';
import { ChunkRepository } from '../../shared/firestore/chunks.js';
import { createPublisher, type Publisher } from '../../shared/events/publisher.js';
import { createStorageGateway, type StorageGateway } from '../../shared/storage/index.js';
import { createLogger } from '../../shared/logger/index.js';
import { TransientError } from '../../shared/errors/index.js';
import { createLocalOcrEngine } from '../../shared/engines/ocr/local.js';
import { createGoogleOcrEngine } from '../../shared/engines/ocr/google.js';
import { createEmbeddingEngine } from '../../shared/engines/embeddings/index.js';
import { createLocalSttEngine } from '../../shared/engines/stt/index.js';
import { Throttle } from '../../shared/engines/throttle.js';
import { runProcess } from '../../shared/engines/exec.js';
import type { OcrEngine } from '../../shared/engines/ocr/types.js';
import type { EmbeddingEngine } from '../../shared/engines/embeddings/types.js';
import type { SpeechToTextEngine } from '../../shared/engines/stt/types.js';
import type { Job, JobKind } from '../../shared/jobs/model.js';
import type { LocalConfig } from '../../emulators/local-config.js';

let cfg: LocalConfig;
let db: Firestore;
let jobs: JobRepository;
let documents: DocumentRepository;
let chunks: ChunkRepository;
let storage: StorageGateway;
let publisher: Publisher;
let fake: FakeDocumentAi;
const log = createLogger({ test: 'resume' });

/** Text-ready and stage events are recorded, not published: the platform's own functions must not race these jobs. */
function recorded(inner: Publisher): Publisher {
  return { publish: (topic, data, attributes) => (topic === 'document-events' ? Promise.resolve('recorded') : inner.publish(topic, data, attributes)) };
}

before(async () => {
  cfg = localConfigForTests();
  process.env.PUBSUB_EMULATOR_HOST = cfg.pubsubEmulatorHost;
  process.env.STORAGE_EMULATOR_HOST = cfg.storageEmulatorHost;
  db = testFirestore(cfg);
  jobs = new JobRepository(db);
  documents = new DocumentRepository(db);
  chunks = new ChunkRepository(db);
  storage = createStorageGateway({ projectId: cfg.gcpProjectId });
  publisher = recorded(createPublisher(new PubSub({ projectId: cfg.gcpProjectId })));
  fake = await startFakeDocumentAi();
});

after(async () => {
  await fake.close();
});

const deps = () => ({ jobs, documents, storage, publisher, log, config: { SCRIPTORIUM_MAX_ATTEMPTS: 3 } });

/** A document and a RUNNING job whose `stage` was dispatched (PENDING), with a real source object outside `uploads/`. */
function seed(kind: JobKind, stage: string, body: Buffer, fileName: string, contentType: string, family: string): Promise<Seeded> {
  return seedRunningJob({ cfg, db, documents, jobs }, kind, stage, body, fileName, contentType, family);
}

function ocrEnvelope(s: Seeded, contentType: string) {
  return pushEnvelope('ocr-requests', { type: 'scriptorium.document.ocr.requested.v1', jobId: s.jobId, projectId: 'test', documentId: s.documentId, source: { bucket: cfg.bucket, object: s.object, generation: s.generation }, contentType, requestedAt: new Date().toISOString() });
}

/** The crash: thrown right after the unit's checkpoint is written, as if the process died there. */
const crash = () => new TransientError('SIMULATED_CRASH', 'the instance died (simulated)');

/** Wraps an OCR engine: records the pages it recognised (not the resumed ones) and crashes after `crashAfter` of them. */
function watchedOcr(inner: OcrEngine, crashAfter?: number): OcrEngine & { recognised: number[] } {
  const recognised: number[] = [];
  return {
    name: inner.name,
    recognised,
    extract: (input, options = {}) =>
      inner.extract(input, {
        ...options,
        onPages: async (pages, pageCount) => {
          await options.onPages?.(pages, pageCount);
          recognised.push(...pages.map((p) => p.page.pageNumber));
          if (crashAfter !== undefined && recognised.length >= crashAfter) throw crash();
        },
      }),
  };
}

async function stageText(job: Job | null, stage: string): Promise<string> {
  const ref = job?.stages[stage]?.result?.text as { bucket: string; object: string; generation: string } | undefined;
  assert.ok(ref, `${stage} result names its text`);
  return (await storage.read(ref)).toString('utf8');
}

async function checkpointCount(jobId: string): Promise<number> {
  return (await jobs.ref(jobId).collection('checkpoints').get()).size;
}

describe('resumable OCR', () => {
  it('local engine: a redelivery after a crash at page 2 of 4 recognises pages 3–4 only, and the text is a clean run\'s', async () => {
    const pdf = await fixture('pdf/pdflatex-4-pages.pdf');
    const clean = await seed('document.process', 'ocr', pdf, 'four.pdf', 'application/pdf', 'pdf');
    const cleanEngine = watchedOcr(createLocalOcrEngine());
    assert.equal((await handleOcr(ocrEnvelope(clean, 'application/pdf'), { ...deps(), engine: cleanEngine })).action, 'completed');
    assert.deepEqual(cleanEngine.recognised, [1, 2, 3, 4]);

    const s = await seed('document.process', 'ocr', pdf, 'four.pdf', 'application/pdf', 'pdf');
    const envelope = ocrEnvelope(s, 'application/pdf');
    const first = watchedOcr(createLocalOcrEngine(), 2);
    await assert.rejects(handleOcr(envelope, { ...deps(), engine: first }), /simulated/);
    assert.deepEqual(first.recognised, [1, 2]);
    assert.equal(await checkpointCount(s.jobId), 2);

    const second = watchedOcr(createLocalOcrEngine());
    assert.equal((await handleOcr(envelope, { ...deps(), engine: second })).action, 'completed');
    assert.deepEqual(second.recognised, [3, 4], 'pages 1–2 are not recognised again');
    const job = await jobs.get(s.jobId);
    assert.equal(job?.stages.ocr?.result?.resumedFrom, 2);
    assert.equal(job?.stages.ocr?.metrics.resumedPages, 2);
    assert.equal(await stageText(job, 'ocr'), await stageText(await jobs.get(clean.jobId), 'ocr'));
    assert.equal(await checkpointCount(s.jobId), 0, 'checkpoints are removed with the completion');
  });

  it('google engine: Document AI gets only the requests not done before the crash', async () => {
    const pdf = await fixture('pdf/pdflatex-4-pages.pdf');
    fake.respond = textFromInput;
    // One page per request, so each request is a unit; a private throttle so other tests' state does not matter.
    const engine = () => createGoogleOcrEngine({ processor: FAKE_PROCESSOR, apiEndpoint: fake.endpoint, maxPagesPerRequest: 1, throttle: new Throttle('documentai', { concurrency: 2, ratePerSecond: 100, burst: 5 }) });

    const clean = await seed('document.process', 'ocr', pdf, 'four.pdf', 'application/pdf', 'pdf');
    const before0 = fake.requests.length;
    assert.equal((await handleOcr(ocrEnvelope(clean, 'application/pdf'), { ...deps(), engine: engine() })).action, 'completed');
    assert.equal(fake.requests.length - before0, 4);

    const s = await seed('document.process', 'ocr', pdf, 'four.pdf', 'application/pdf', 'pdf');
    const envelope = ocrEnvelope(s, 'application/pdf');
    const before1 = fake.requests.length;
    await assert.rejects(handleOcr(envelope, { ...deps(), engine: watchedOcr(engine(), 3) }), /simulated/);
    assert.equal(fake.requests.length - before1, 3);
    const before2 = fake.requests.length;
    assert.equal((await handleOcr(envelope, { ...deps(), engine: engine() })).action, 'completed');
    assert.equal(fake.requests.length - before2, 1, 'only page 4 is sent again');
    const job = await jobs.get(s.jobId);
    assert.equal(job?.stages.ocr?.result?.resumedFrom, 3);
    assert.equal(job?.stages.ocr?.result?.language, (await jobs.get(clean.jobId))?.stages.ocr?.result?.language);
    assert.equal(await stageText(job, 'ocr'), await stageText(await jobs.get(clean.jobId), 'ocr'));
    assert.equal(await checkpointCount(s.jobId), 0);
  });
});

/** Deterministic text of more than one embedding batch (32 chunks). */
const LONG_TEXT = Array.from({ length: 120 }, (_, i) =>
  `Paragraph ${i + 1}. The ledger for year ${1800 + i} lists ${i * 7 + 3} deliveries of grain, ${i % 13} wagons of timber and the wages of ${i % 9 + 2} carters. ` +
  `The steward noted that the ${['north', 'south', 'east', 'west'][i % 4]} field yielded ${(i * 31) % 97} bushels, and that the mill wheel was repaired in ${['spring', 'summer', 'autumn', 'winter'][i % 4]}.`,
).join('\n\n');

/** A job as OCR leaves it (text written, OCR COMPLETED, embed PENDING) and its text-ready event. */
async function seedForEmbed() {
  const s = await seed('document.process', 'ocr', Buffer.from(LONG_TEXT), 'ledger.txt', 'text/plain', 'text');
  const textObject = `derived/test/${s.documentId}/${s.generation}/text.txt`;
  const bucket = new Storage({ projectId: cfg.gcpProjectId, apiEndpoint: cfg.storageEmulatorHost }).bucket(cfg.bucket);
  await bucket.file(textObject).save(LONG_TEXT, { resumable: false, contentType: 'text/plain; charset=utf-8' });
  const text = { bucket: cfg.bucket, object: textObject, generation: String(bucket.file(textObject).metadata.generation) };
  await documents.ref(s.documentId).update({ text: { ...text, size: LONG_TEXT.length, md5Hash: null, crc32c: null }, pageCount: 1, language: 'eng' });
  await documents.versionRef(s.documentId, 1).set({ text: { ...text, size: LONG_TEXT.length, md5Hash: null, crc32c: null }, pageCount: 1, language: 'eng' }, { merge: true });
  await jobs.update(s.jobId, () => ({ stages: [{ name: 'ocr', status: 'COMPLETED', result: { pageCount: 1, language: 'eng', text } }, { name: 'embed', status: 'PENDING' }, { name: 'summarize', status: 'PENDING' }] }));
  const event = pushEnvelope('document-events', { type: 'scriptorium.document.text.ready.v1', jobId: s.jobId, projectId: 'test', documentId: s.documentId, generation: s.generation, text, pageCount: 1, language: 'eng', occurredAt: new Date().toISOString() });
  return { ...s, event };
}

function watchedEmbedding(inner: EmbeddingEngine, crashOnCall?: number): EmbeddingEngine & { calls: number; texts: number } {
  const engine = {
    name: inner.name,
    model: inner.model,
    dimensions: inner.dimensions,
    maxInputTokens: inner.maxInputTokens,
    calls: 0,
    texts: 0,
    embed: (texts: readonly string[], options?: Parameters<EmbeddingEngine['embed']>[1]) => {
      engine.calls++;
      if (crashOnCall !== undefined && engine.calls === crashOnCall) return Promise.reject(crash());
      engine.texts += texts.length;
      return inner.embed(texts, options);
    },
  };
  return engine;
}

async function storedChunks(documentId: string): Promise<{ index: number; text: string; vector: number[] }[]> {
  const snap = await db.collection('chunks').where('documentId', '==', documentId).get();
  return snap.docs
    .map((d) => {
      const data = d.data() as { index: number; text: string; embedding: { toArray(): number[] } };
      return { index: data.index, text: data.text, vector: data.embedding.toArray() };
    })
    .sort((a, b) => a.index - b.index);
}

describe('resumable embedding', () => {
  it('does not embed again the batches an earlier attempt wrote, and ends with a clean run\'s chunks', async () => {
    const local = createEmbeddingEngine({ engine: 'local' });
    const clean = await seedForEmbed();
    const cleanEngine = watchedEmbedding(local);
    assert.equal((await handleEmbed(clean.event, { ...deps(), chunks, engine: () => cleanEngine })).action, 'completed');
    const total = cleanEngine.texts;
    assert.ok(cleanEngine.calls >= 2 && total > 32, `several batches (${cleanEngine.calls})`);

    const s = await seedForEmbed();
    // Batch 1 is embedded and written, the second call dies.
    const first = watchedEmbedding(local, 2);
    await assert.rejects(handleEmbed(s.event, { ...deps(), chunks, engine: () => first }), /simulated/);
    assert.equal(first.texts, 32);
    const second = watchedEmbedding(local);
    assert.equal((await handleEmbed(s.event, { ...deps(), chunks, engine: () => second })).action, 'completed');
    assert.equal(second.texts, total - 32, 'only the chunks not written before are embedded');
    const job = await jobs.get(s.jobId);
    assert.equal(job?.stages.embed?.result?.resumedFrom, 32);
    const a = await storedChunks(clean.documentId);
    const b = await storedChunks(s.documentId);
    assert.equal(b.length, a.length);
    assert.deepEqual(b.map((c) => c.text), a.map((c) => c.text));
    for (let i = 0; i < a.length; i++) {
      const va = a[i]?.vector ?? [];
      const vb = b[i]?.vector ?? [];
      const maxDiff = Math.max(...va.map((x, k) => Math.abs(x - (vb[k] ?? Infinity))));
      assert.ok(maxDiff < 1e-5, `chunk ${i}: vectors differ by ${maxDiff}`);
    }
  });
});

function watchedStt(inner: SpeechToTextEngine, maxInputSeconds: number, crashAfter?: number): SpeechToTextEngine & { calls: number } {
  const engine: SpeechToTextEngine & { calls: number } = {
    name: inner.name,
    model: inner.model,
    defaultLanguage: inner.defaultLanguage,
    languages: inner.languages,
    // Short segments: several units in a short recording.
    maxInputSeconds,
    supportsLanguage: (l) => inner.supportsLanguage(l),
    calls: 0,
    transcribe: async (input, options) => {
      if (crashAfter !== undefined && engine.calls >= crashAfter) throw crash();
      engine.calls++;
      return inner.transcribe(input, options);
    },
  };
  return engine;
}

describe('resumable transcription', () => {
  let recording: Buffer;
  before(async () => {
    // Three real recordings with a second of silence between them (~17 s).
    const dir = await mkdtemp(path.join(tmpdir(), 'resume-audio-'));
    const out = path.join(dir, 'joined.wav');
    const inputs = ['0870', '0880', '0890'].map((n) => fixturePath(`audio/sense_and_sensibility_01_austen_64kb-${n}.wav`));
    const r = await runProcess('ffmpeg', ['-v', 'error', '-i', inputs[0] ?? '', '-i', inputs[1] ?? '', '-i', inputs[2] ?? '', '-f', 'lavfi', '-t', '1', '-i', 'anullsrc=r=16000:cl=mono',
      '-filter_complex', '[0:a]aresample=16000,aformat=channel_layouts=mono[a];[1:a]aresample=16000,aformat=channel_layouts=mono[b];[2:a]aresample=16000,aformat=channel_layouts=mono[c];[3:a]asplit=2[s1][s2];[a][s1][b][s2][c]concat=n=5:v=0:a=1[o]',
      '-map', '[o]', '-ar', '16000', '-ac', '1', out], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr);
    recording = await readFile(out);
    await rm(dir, { recursive: true, force: true });
  });

  function envelope(s: Seeded) {
    return pushEnvelope('transcribe-requests', { type: 'scriptorium.media.transcribe.requested.v1', jobId: s.jobId, projectId: 'test', documentId: s.documentId, source: { bucket: cfg.bucket, object: s.object, generation: s.generation }, contentType: 'audio/wav', requestedAt: new Date().toISOString() });
  }

  it('transcribes only the segments not done before the crash; the transcript is a clean run\'s', async () => {
    const local = createLocalSttEngine();
    const clean = await seed('speech.transcribe', 'transcribe', recording, 'joined.wav', 'audio/wav', 'audio');
    const cleanEngine = watchedStt(local, 4);
    assert.equal((await handleTranscribe(envelope(clean), { ...deps(), engine: () => cleanEngine, concurrency: 1 })).action, 'completed');
    const segments = cleanEngine.calls;
    assert.ok(segments >= 3, `several segments (${segments})`);

    const s = await seed('speech.transcribe', 'transcribe', recording, 'joined.wav', 'audio/wav', 'audio');
    const first = watchedStt(local, 4, 2);
    await assert.rejects(handleTranscribe(envelope(s), { ...deps(), engine: () => first, concurrency: 1 }), /simulated/);
    assert.equal(first.calls, 2);
    assert.equal(await checkpointCount(s.jobId), 2);
    const second = watchedStt(local, 4);
    assert.equal((await handleTranscribe(envelope(s), { ...deps(), engine: () => second, concurrency: 1 })).action, 'completed');
    assert.equal(second.calls, segments - 2, 'segments 1–2 are not transcribed again');
    const job = await jobs.get(s.jobId);
    assert.equal(job?.stages.transcribe?.result?.resumedFrom, 2);
    assert.equal(await stageText(job, 'transcribe'), await stageText(await jobs.get(clean.jobId), 'transcribe'));
    assert.equal(await checkpointCount(s.jobId), 0);
  });

  it('transcribes a recording in slices: each invocation pauses when its time is used up and publishes its continuation; nothing is transcribed twice', async () => {
    const local = createLocalSttEngine();
    const clean = await seed('speech.transcribe', 'transcribe', recording, 'joined.wav', 'audio/wav', 'audio');
    const cleanEngine = watchedStt(local, 4);
    assert.equal((await handleTranscribe(envelope(clean), { ...deps(), engine: () => cleanEngine, concurrency: 1 })).action, 'completed');
    const segments = cleanEngine.calls;

    const s = await seed('speech.transcribe', 'transcribe', recording, 'joined.wav', 'audio/wav', 'audio');
    // Continuations are kept here and delivered by the test (the platform's own function must not race it).
    const continuations: unknown[] = [];
    const capturing: Publisher = {
      publish: (topic, data, attributes) => {
        if (topic !== 'transcribe-requests') return publisher.publish(topic, data, attributes);
        continuations.push(data);
        return Promise.resolve('kept');
      },
    };
    const engine = watchedStt(local, 4);
    process.env.SCRIPTORIUM_STAGE_SLICE_SECONDS = '1';
    const outcomes: string[] = [];
    try {
      let delivery: unknown = envelope(s);
      for (let i = 0; i < segments + 2; i++) {
        const out = await handleTranscribe(delivery, { ...deps(), publisher: capturing, engine: () => engine, concurrency: 1 });
        outcomes.push(out.action);
        if (out.action !== 'continued') break;
        const next = continuations.shift();
        assert.ok(next, 'a continuation was published');
        delivery = pushEnvelope('transcribe-requests', next as Parameters<typeof pushEnvelope<'transcribe-requests'>>[1]);
      }
    } finally {
      delete process.env.SCRIPTORIUM_STAGE_SLICE_SECONDS;
    }
    // A 1 s slice ends after a segment or two (each slice transcribes at least one): several
    // invocations, every one but the last continued.
    assert.equal(outcomes.at(-1), 'completed', outcomes.join(', '));
    assert.ok(outcomes.slice(0, -1).every((o) => o === 'continued'), outcomes.join(', '));
    assert.ok(outcomes.length >= 3 && outcomes.length <= segments, `${outcomes.length} invocations for ${segments} segments`);
    assert.equal(engine.calls, segments, 'every segment transcribed once');
    const job = await jobs.get(s.jobId);
    assert.equal(job?.stages.transcribe?.status, 'COMPLETED', 'transcription done (the job goes on to its next stages)');
    assert.equal(job?.stages.transcribe?.attempts, 1, 'slices are not failed attempts');
    assert.equal(await stageText(job, 'transcribe'), await stageText(await jobs.get(clean.jobId), 'transcribe'));
  });
});

describe('throttled OCR (google engine against the fake Document AI)', () => {
  /** Answers RESOURCE_EXHAUSTED to the first `refusals` requests, then reads the input; records when each request arrived. */
  function quotaThenText(refusals: number): { times: number[]; respond: typeof textFromInput } {
    const times: number[] = [];
    let seen = 0;
    return {
      times,
      respond: async (request, index) => {
        times.push(performance.now());
        return seen++ < refusals ? { error: { code: 8, message: 'Quota exceeded for quota metric online requests per minute' } } : textFromInput(request, index);
      },
    };
  }

  it('retries RESOURCE_EXHAUSTED inside the attempt with backoff: the job completes on one attempt, at a bounded rate', async () => {
    const pdf = await fixture('pdf/pdflatex-4-pages.pdf');
    const q = quotaThenText(4);
    fake.respond = q.respond;
    const throttle = new Throttle('documentai', { concurrency: 1, ratePerSecond: 20, burst: 1 }, { baseDelayMs: 50, maxDelayMs: 400, maxRetries: 6, maxWaitMs: 10_000 });
    const engine = createGoogleOcrEngine({ processor: FAKE_PROCESSOR, apiEndpoint: fake.endpoint, maxPagesPerRequest: 1, retries: 0, throttle });
    const s = await seed('document.process', 'ocr', pdf, 'four.pdf', 'application/pdf', 'pdf');
    assert.equal((await handleOcr(ocrEnvelope(s, 'application/pdf'), { ...deps(), engine })).action, 'completed');
    const job = await jobs.get(s.jobId);
    assert.equal(job?.attempts, 1, 'one attempt: the refusals were absorbed inside it');
    assert.equal(throttle.counters.quotaRefusals, 4);
    assert.equal(q.times.length, 8, '4 refusals + 4 pages');
    // The rate the engine saw never exceeds the bucket's 20/s (1 per 50 ms), refusals included.
    const gaps = q.times.slice(1).map((t, i) => t - (q.times[i] ?? t));
    assert.ok(Math.min(...gaps) >= 40, `closest requests ${Math.min(...gaps).toFixed(1)} ms apart`);
    const rate = (q.times.length - 1) / (((q.times.at(-1) ?? 0) - (q.times[0] ?? 0)) / 1000);
    assert.ok(rate <= 21, `engine saw ${rate.toFixed(1)} req/s`);
    log.info('throttled OCR: requests per second at the fake', { rate: Number(rate.toFixed(2)), refusals: 4 });
  });

  it('ends an attempt still refused after its retries as throttled: not counted, and the redelivery completes', async () => {
    const pdf = await fixture('pdf/pdflatex-4-pages.pdf');
    const q = quotaThenText(3);
    fake.respond = q.respond;
    // Two retries per call: the first attempt's first request is refused three times and gives up.
    const throttle = new Throttle('documentai', { concurrency: 1, ratePerSecond: 50, burst: 1 }, { baseDelayMs: 10, maxDelayMs: 40, maxRetries: 2, maxWaitMs: 10_000 });
    const engine = createGoogleOcrEngine({ processor: FAKE_PROCESSOR, apiEndpoint: fake.endpoint, maxPagesPerRequest: 2, retries: 0, throttle });
    const s = await seed('document.process', 'ocr', pdf, 'four.pdf', 'application/pdf', 'pdf');
    const envelope = ocrEnvelope(s, 'application/pdf');
    await assert.rejects(handleOcr(envelope, { ...deps(), engine }), (err: unknown) => err instanceof TransientError && err.code === 'ENGINE_THROTTLED');
    let job = await jobs.get(s.jobId);
    assert.equal(job?.status, 'RUNNING');
    assert.equal(job?.attempts, 0, 'the throttled attempt is not counted');
    assert.equal(job?.stages.ocr?.attempts, 0);
    assert.equal(job?.stages.ocr?.metrics.throttledAttempts, 1);
    assert.equal(job?.stages.ocr?.lease, null, 'the lease is released for the redelivery');
    assert.equal((await handleOcr(envelope, { ...deps(), engine })).action, 'completed');
    job = await jobs.get(s.jobId);
    assert.equal(job?.attempts, 1);
    assert.equal(job?.status, 'RUNNING', 'OCR done, the next stages pending');
    assert.equal(job?.stages.ocr?.status, 'COMPLETED');
  });
});
