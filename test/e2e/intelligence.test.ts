/**
 * Document intelligence end to end on the test platform with the local engines: text ready → one
 * event → the embedding and summary functions in parallel → chunks with vectors in Firestore, a
 * summary on the document, the job COMPLETED when both are done.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Storage } from '@google-cloud/storage';
import { localConfigForTests } from '../helpers/platform.js';
import { fixture, functionLog, outcomeOf, signIn, testFirestore, uploadAndWait } from '../helpers/client.js';
import { pushEnvelope } from '../helpers/events.js';
import { pushPath } from '../../shared/topology.js';
import { ChunkRepository } from '../../shared/firestore/chunks.js';
import type { LocalConfig } from '../../emulators/local-config.js';
import type { Job } from '../../shared/jobs/model.js';

let cfg: LocalConfig;
let token: string;

before(async () => {
  cfg = localConfigForTests();
  token = await signIn(cfg);
});

async function push(fn: string, topic: string, body: unknown): Promise<number> {
  const url = cfg.functions[fn];
  assert.ok(url, `no function ${fn}`);
  const res = await fetch(`${url}${pushPath(cfg.gcpProjectId, topic)}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  await res.arrayBuffer();
  return res.status;
}

const ms = (iso: string | null | undefined): number => (iso ? Date.parse(iso) : NaN);

/** The text-ready event of a completed job, rebuilt from its record (as the OCR stage publishes it). */
function textReadyOf(job: Job) {
  const r = job.stages.ocr?.result as { text: { bucket: string; object: string; generation: string }; pageCount: number; language: string };
  return pushEnvelope('document-events', {
    type: 'scriptorium.document.text.ready.v1',
    jobId: job.id,
    projectId: job.projectId,
    documentId: job.documentId ?? '',
    generation: job.input.generation ?? '',
    text: r.text,
    pageCount: r.pageCount,
    language: r.language,
    occurredAt: new Date().toISOString(),
  });
}

describe('document intelligence: fan-out after text is ready', () => {
  let job: Job;
  let documentId: string;

  it('turns a PDF into chunks with vectors and a summary, through two parallel stages', async () => {
    const { job: done, document, upload, seen } = await uploadAndWait(cfg, token, 'paper.pdf', await fixture('pdf/pdflatex-4-pages.pdf'), 'application/pdf');
    job = done;
    documentId = upload.documentId;
    assert.equal(job.status, 'COMPLETED', JSON.stringify(job.error));
    assert.equal(job.stage, 'done');
    assert.deepEqual(['ocr', 'embed', 'summarize'].map((s) => job.stages[s]?.status), ['COMPLETED', 'COMPLETED', 'COMPLETED']);
    assert.equal(document.status, 'READY');
    assert.ok(document.chunkCount && document.chunkCount > 0, `chunkCount ${document.chunkCount}`);
    assert.equal(document.embedding?.engine, 'local');
    assert.equal(document.embedding?.dimensions, 512);
    assert.ok(document.summary && document.summary.text.length > 40, JSON.stringify(document.summary));
    // Extractive: every summary sentence is a verbatim span of the document's text, in order.
    const text = await (await fetch(`${cfg.apiUrl}/v1/documents/${documentId}/text`, { headers: { authorization: `Bearer ${token}` } })).text();
    const ref = (job.stages.summarize?.result as { summary: { object: { bucket: string; object: string } } }).summary.object;
    const [raw] = await new Storage({ projectId: cfg.gcpProjectId, apiEndpoint: cfg.storageEmulatorHost }).bucket(ref.bucket).file(ref.object).download();
    const stored = JSON.parse(raw.toString('utf8')) as { sentences: { text: string; start: number; end: number }[] };
    assert.ok(stored.sentences.length >= 1 && stored.sentences.length <= 5);
    let last = -1;
    for (const sentence of stored.sentences) {
      assert.equal(text.slice(sentence.start, sentence.end), sentence.text);
      assert.ok(sentence.start > last, 'in document order');
      last = sentence.start;
    }
    // Live progress through the stages, never backwards.
    const progress = seen.map((j) => j.progress);
    assert.deepEqual(progress, [...progress].sort((a, b) => a - b));
    assert.ok(seen.some((j) => j.stage === 'embed+summarize' || j.stage === 'embed' || j.stage === 'summarize'), 'the listener saw the parallel stages');

    const chunks = await new ChunkRepository(testFirestore(cfg)).list(documentId, document.currentVersion);
    assert.equal(chunks.length, document.chunkCount);
    for (const c of chunks) {
      assert.equal(c.projectId, cfg.projectId);
      assert.equal(text.slice(c.charStart, c.charEnd), c.text, 'a chunk is a view of the text');
      assert.ok(c.pageStart >= 1 && c.pageEnd <= 4 && c.pageStart <= c.pageEnd);
      assert.equal(c.embeddingDimensions, 512);
      assert.ok(c.termCount > 0);
    }
    const snap = await testFirestore(cfg).doc(`chunks/${chunks[0]?.id ?? ''}`).get();
    const vector = snap.get('embedding') as { toArray(): number[] };
    assert.equal(vector.toArray().length, 512);
  });

  it('runs the two stages in parallel: both start from the one event, neither waits for the other', async () => {
    const ocrDone = ms(job.stages.ocr?.finishedAt);
    const embed = job.stages.embed;
    const summarize = job.stages.summarize;
    assert.ok(embed && summarize);
    const [es, ef, ss, sf] = [ms(embed.startedAt), ms(embed.finishedAt), ms(summarize.startedAt), ms(summarize.finishedAt)];
    console.log(`stage times after OCR finished: embed ${es - ocrDone}–${ef - ocrDone} ms, summarize ${ss - ocrDone}–${sf - ocrDone} ms`);
    assert.ok(es >= ocrDone && ss >= ocrDone, 'both start after the text is ready');
    // Started from the same event by two functions: whichever starts second does so without waiting
    // for the first to finish (a chain would start the second only after the first's completion).
    assert.ok(Math.max(es, ss) < Math.max(ef, sf), 'the later stage started before the other had finished');
    const embedLog = (await functionLog(cfg, 'embed')).filter((e) => e.jobId === job.id);
    const summarizeLog = (await functionLog(cfg, 'summarize')).filter((e) => e.jobId === job.id);
    assert.ok(embedLog.length > 0 && summarizeLog.length > 0, 'each function logged its own stage');
  });

  it('leaves chunk counts unchanged when the text-ready event is redelivered', async () => {
    const before = await new ChunkRepository(testFirestore(cfg)).list(documentId, 1);
    const event = textReadyOf(job);
    assert.equal(await push('embed', 'document-events', event), 204);
    assert.equal(await push('summarize', 'document-events', event), 204);
    assert.equal((await outcomeOf(cfg, 'embed', event.message.messageId))?.action, 'skipped');
    assert.equal((await outcomeOf(cfg, 'summarize', event.message.messageId))?.action, 'skipped');
    const after = await new ChunkRepository(testFirestore(cfg)).list(documentId, 1);
    assert.equal(after.length, before.length);
  });

  it('acknowledges other document events without work', async () => {
    const event = pushEnvelope('document-events', { type: 'scriptorium.document.failed.v1', jobId: job.id, projectId: job.projectId, documentId, error: { code: 'X', message: 'x', retryable: false }, occurredAt: new Date().toISOString() });
    assert.equal(await push('embed', 'document-events', event), 204);
    assert.match(String((await outcomeOf(cfg, 'embed', event.message.messageId))?.reason), /not for the embed stage/);
  });
});
