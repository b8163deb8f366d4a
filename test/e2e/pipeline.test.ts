/**
 * The walking skeleton end to end on the running test platform: signed-URL upload to the storage
 * emulator → finalize notification → Pub/Sub → ingest → ocr → Firestore, with the real engines.
 */
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { Storage } from '@google-cloud/storage';
import { localConfigForTests } from '../helpers/platform.js';
import { api, createUpload, fixture, functionLog, outcomeOf, putSigned, signIn, signUp, testFirestore, uploadAndWait, waitForJob } from '../helpers/client.js';
import { finalizeEnvelope, pushEnvelope } from '../helpers/events.js';
import { wordRecall } from '../helpers/text-metrics.js';
import { pushPath } from '../../shared/topology.js';
import type { LocalConfig } from '../../emulators/local-config.js';
import type { GcsObject } from '../../shared/events/contracts.js';

let cfg: LocalConfig;
let token: string;

before(async () => {
  cfg = localConfigForTests();
  token = await signIn(cfg);
});

async function text(documentId: string): Promise<string> {
  const res = await api(cfg, token, 'GET', `/v1/documents/${documentId}/text`);
  assert.equal(res.status, 200, res.text);
  return res.text;
}

function storage(): Storage {
  return new Storage({ projectId: cfg.gcpProjectId, apiEndpoint: cfg.storageEmulatorHost });
}

/** Posts a push body straight to a function, as the Pub/Sub emulator would; resolves with the HTTP status. */
async function push(fn: string, topic: string, body: unknown): Promise<number> {
  const url = cfg.functions[fn];
  assert.ok(url, `no function ${fn} in the local config`);
  const res = await fetch(`${url}${pushPath(cfg.gcpProjectId, topic)}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  await res.arrayBuffer();
  return res.status;
}

describe('pipeline: scanned pages', () => {
  it('OCRs phototest.tif with word recall ≥ 0.95 and live, monotonic progress', async () => {
    const { job, seen, document, upload } = await uploadAndWait(cfg, token, 'phototest.tif', await fixture('ocr/phototest.tif'), 'image/tiff');
    assert.equal(job.status, 'COMPLETED', JSON.stringify(job.error));
    assert.equal(job.progress, 100);
    assert.equal(document.status, 'READY');
    assert.equal(document.pageCount, 1);
    assert.equal(document.language, 'eng');
    const recall = wordRecall((await fixture('ocr/phototest.txt')).toString('utf8'), await text(upload.documentId));
    assert.ok(recall >= 0.95, `recall ${recall}`);
    const progress = seen.map((j) => j.progress);
    assert.deepEqual(progress, [...progress].sort((a, b) => a - b), 'progress never goes backwards');
    assert.ok(seen.some((j) => j.status === 'RUNNING' && j.stage === 'ocr'), 'the listener saw the OCR stage');
    assert.ok(job.startedAt && job.finishedAt && job.createdAt <= job.startedAt && job.startedAt <= job.finishedAt);
    assert.equal(job.stages.ocr?.attempts, 1);
    assert.deepEqual(['ocr', 'embed', 'summarize'].map((n) => job.stages[n]?.attempts), [1, 1, 1], 'each stage ran once');
  });

  it('OCRs the page rotated 180° with the same recall', async () => {
    const { job, upload } = await uploadAndWait(cfg, token, 'phototest-rotated-180.png', await fixture('ocr/phototest-rotated-180.png'), 'image/png');
    assert.equal(job.status, 'COMPLETED', JSON.stringify(job.error));
    const recall = wordRecall((await fixture('ocr/phototest.txt')).toString('utf8'), await text(upload.documentId));
    assert.ok(recall >= 0.95, `recall ${recall}`);
  });
});

describe('pipeline: PDFs', () => {
  it('gives the 4-page PDF 4 pages from its text layer', async () => {
    const { job, document, upload } = await uploadAndWait(cfg, token, 'pdflatex-4-pages.pdf', await fixture('pdf/pdflatex-4-pages.pdf'), 'application/pdf');
    assert.equal(job.status, 'COMPLETED', JSON.stringify(job.error));
    assert.equal(document.pageCount, 4);
    assert.deepEqual(job.result?.pagesByMethod, { textLayer: 4, ocr: 0, extract: 0 });
    assert.equal((await text(upload.documentId)).split('\f').length, 4, 'pages are separated by form feeds');
  });

  it('fails the encrypted PDF with a clear reason and leaves nothing running', async () => {
    const { job, document } = await uploadAndWait(cfg, token, 'libreoffice-writer-password.pdf', await fixture('pdf/libreoffice-writer-password.pdf'), 'application/pdf');
    assert.equal(job.status, 'FAILED');
    assert.equal(job.error?.code, 'PDF_ENCRYPTED');
    assert.match(job.error?.message ?? '', /password|encrypt/i);
    assert.equal(job.error?.retryable, false);
    assert.equal(job.stages.ocr?.attempts, 1, 'a permanent error is not retried');
    assert.equal(job.stages.ocr?.status, 'FAILED');
    assert.equal(job.stages.embed, undefined, 'nothing after a failed OCR stage');
    assert.equal(document.status, 'FAILED');
  });
});

describe('pipeline: wrong inputs', () => {
  it('fails a WAV passed off as a PDF at ingest, by its bytes, once', async () => {
    const { job } = await uploadAndWait(cfg, token, 'speech.pdf', await fixture('audio/sense_and_sensibility_01_austen_64kb-0880.wav'), 'application/pdf');
    assert.equal(job.status, 'FAILED');
    assert.equal(job.stage, 'ingest');
    assert.equal(job.error?.code, 'CONTENT_TYPE_MISMATCH');
    assert.match(job.error?.message ?? '', /audio\/wav/);
    assert.equal(job.error?.retryable, false);
    assert.equal(job.input.family, 'audio');
  });

  it('fails a PDF declared as a PNG with CONTENT_TYPE_MISMATCH, naming both', async () => {
    const { job } = await uploadAndWait(cfg, token, 'scan.png', await fixture('pdf/minimal-document.pdf'), 'image/png');
    assert.equal(job.status, 'FAILED');
    assert.equal(job.error?.code, 'CONTENT_TYPE_MISMATCH');
    assert.match(job.error?.message ?? '', /image\/png.*application\/pdf/);
  });

  it('lets the storage emulator refuse an upload larger than signed, and creates nothing', async () => {
    const body = await fixture('ocr/phototest.tif');
    const upload = await createUpload(cfg, token, { fileName: 'small.tif', contentType: 'image/tiff', size: 1000 });
    const res = await putSigned(upload, body);
    assert.equal(res.status, 400);
    assert.match(await res.text(), /EntityTooLarge/);
    const [exists] = await storage().bucket(upload.bucket).file(upload.object).exists();
    assert.equal(exists, false);
    const job = (await testFirestore(cfg).doc(`jobs/${upload.jobId}`).get()).data();
    assert.equal(job?.status, 'PENDING');
    assert.equal(job?.stage, 'upload');
  });

  it('refuses a replay of a used signed URL (create-only)', async () => {
    const body = await fixture('pdf/minimal-document.pdf');
    const upload = await createUpload(cfg, token, { fileName: 'once.pdf', contentType: 'application/pdf', size: body.length });
    assert.equal((await putSigned(upload, body)).status, 200);
    const again = await putSigned(upload, body);
    assert.equal(again.status, 412);
    const { job } = await waitForJob(cfg, upload.jobId);
    assert.equal(job.status, 'COMPLETED');
  });

  it('refuses a body whose content type differs from the signed one', async () => {
    const body = await fixture('pdf/minimal-document.pdf');
    const upload = await createUpload(cfg, token, { fileName: 'typed.pdf', contentType: 'application/pdf', size: body.length });
    const res = await fetch(upload.uploadUrl, { method: 'PUT', headers: { ...upload.headers, 'content-type': 'image/png' }, body });
    assert.equal(res.status, 403);
  });
});

describe('pipeline: at-least-once delivery', () => {
  it('ignores a duplicated finalize notification after completion: no write, no second result', async () => {
    const body = await fixture('pdf/minimal-document.pdf');
    const { job, upload } = await uploadAndWait(cfg, token, 'dup.pdf', body, 'application/pdf');
    assert.equal(job.status, 'COMPLETED');
    const jobRef = testFirestore(cfg).doc(`jobs/${upload.jobId}`);
    const docRef = testFirestore(cfg).doc(`documents/${upload.documentId}`);
    const before = await Promise.all([jobRef.get(), docRef.get()]);
    const [meta] = await storage().bucket(upload.bucket).file(upload.object).getMetadata();
    const notification = finalizeEnvelope(meta as unknown as GcsObject);
    assert.equal(await push('ingest', 'object-events', notification), 204);
    assert.equal(await push('ingest', 'object-events', notification), 204);
    assert.deepEqual(await outcomeOf(cfg, 'ingest', notification.message.messageId), { action: 'duplicate', jobId: upload.jobId }, 'ingest saw it and called it a duplicate');
    const after = await Promise.all([jobRef.get(), docRef.get()]);
    assert.ok(after[0].updateTime?.isEqual(before[0].updateTime!), 'job untouched');
    assert.ok(after[1].updateTime?.isEqual(before[1].updateTime!), 'document untouched');
    const [files] = await storage().bucket(upload.bucket).getFiles({ prefix: `derived/${cfg.projectId}/${upload.documentId}/` });
    assert.deepEqual(files.map((f) => f.name.split('/').at(-1)).sort(), ['pages.json', 'summary.json', 'text.txt']);
  });

  it('processes a document once when the notification and the OCR request arrive twice mid-flight', async () => {
    const body = await fixture('pdf/pdflatex-4-pages.pdf');
    const upload = await createUpload(cfg, token, { fileName: 'race.pdf', contentType: 'application/pdf', size: body.length });
    assert.equal((await putSigned(upload, body)).status, 200);
    const [meta] = await storage().bucket(upload.bucket).file(upload.object).getMetadata();
    const object = meta as unknown as GcsObject;
    // A duplicate notification and a duplicate OCR request, racing the real ones.
    const dupNotification = finalizeEnvelope(object);
    const dupRequest = pushEnvelope('ocr-requests', {
      type: 'scriptorium.document.ocr.requested.v1',
      jobId: upload.jobId,
      projectId: cfg.projectId,
      documentId: upload.documentId,
      source: { bucket: object.bucket, object: object.name, generation: object.generation },
      contentType: 'application/pdf',
      requestedAt: new Date().toISOString(),
    });
    const dupStatuses = await Promise.all([push('ingest', 'object-events', dupNotification), push('ocr', 'ocr-requests', dupRequest)]);
    assert.deepEqual(dupStatuses, [204, 204]);
    const { job } = await waitForJob(cfg, upload.jobId);
    // Whichever copy came first did the work; the handlers saw and classified both duplicates.
    const ingestOutcome = await outcomeOf(cfg, 'ingest', dupNotification.message.messageId);
    assert.ok(['duplicate', 'dispatched'].includes(String(ingestOutcome?.action)), JSON.stringify(ingestOutcome));
    const ocrOutcome = await outcomeOf(cfg, 'ocr', dupRequest.message.messageId);
    assert.ok(['skipped', 'completed'].includes(String(ocrOutcome?.action)), JSON.stringify(ocrOutcome));
    assert.equal(job.stages.ocr?.attempts, 1, 'the engine ran once: the second copy found the job taken or done');
    assert.equal(job.announced, true);
    // The text the document points at is readable (a second run must not have replaced it).
    const res = await api(cfg, token, 'GET', `/v1/documents/${upload.documentId}/text`);
    assert.equal(res.status, 200, res.text);
    assert.equal(job.status, 'COMPLETED');
    assert.equal(job.result?.pageCount, 4);
    const logs = await testFirestore(cfg).collection(`jobs/${upload.jobId}/logs`).get();
    const completions = logs.docs.filter((d) => String(d.get('message')).startsWith('OCR completed'));
    assert.equal(completions.length, 1, 'completed exactly once');
  });

  it('acknowledges a malformed message instead of retrying it forever', async () => {
    const garbage = { subscription: 'projects/test/subscriptions/x', message: { data: Buffer.from('garbage').toString('base64'), messageId: `garbage-${Date.now()}` } };
    assert.equal(await push('ingest', 'object-events', garbage), 204);
    const wrongContract = pushEnvelope('object-events', { bucket: 'b', name: 'n', generation: '1', size: '1' }, { eventType: 'OBJECT_FINALIZE' });
    assert.equal(await push('ingest', 'object-events', wrongContract), 204);
    assert.equal(await push('ocr', 'ocr-requests', { nonsense: true }), 204);
    const errors = (await functionLog(cfg, 'ingest')).filter((e) => e.severity === 'ERROR' && (e.eventId === garbage.message.messageId || e.eventId === wrongContract.message.messageId));
    assert.deepEqual(errors.map((e) => (e.err as { code: string }).code).sort(), ['MALFORMED_MESSAGE', 'MESSAGE_CONTRACT_VIOLATION']);
  });
});

describe('api', () => {
  it('requires a signed-in caller', async () => {
    const res = await api(cfg, null, 'POST', '/v1/uploads', { projectId: cfg.projectId, fileName: 'a.pdf', contentType: 'application/pdf', size: 10 });
    assert.equal(res.status, 401);
    assert.equal((res.json as { code: string }).code, 'UNAUTHENTICATED');
  });

  it('refuses a forged token', async () => {
    const res = await api(cfg, 'not-a-token', 'GET', '/v1/jobs/x');
    assert.equal(res.status, 401);
  });

  it('refuses callers who are not members of the project', async () => {
    const stranger = await signUp(cfg, `stranger-${Date.now()}@example.com`);
    const res = await api(cfg, stranger, 'POST', '/v1/uploads', { projectId: cfg.projectId, fileName: 'a.pdf', contentType: 'application/pdf', size: 10 });
    assert.equal(res.status, 403);
  });

  it('refuses a declared size over the limit with 413', async () => {
    const res = await api(cfg, token, 'POST', '/v1/uploads', { projectId: cfg.projectId, fileName: 'huge.pdf', contentType: 'application/pdf', size: 50 * 1024 ** 3 });
    assert.equal(res.status, 413);
    assert.equal((res.json as { code: string }).code, 'UPLOAD_TOO_LARGE');
  });

  it('explains invalid bodies field by field', async () => {
    const res = await api(cfg, token, 'POST', '/v1/uploads', { projectId: cfg.projectId, fileName: '../x', contentType: 'nope', size: -1 });
    assert.equal(res.status, 400);
    const details = (res.json as { details: Record<string, unknown> }).details;
    assert.deepEqual(Object.keys(details).sort(), ['contentType', 'fileName', 'size']);
  });

  it('returns the same upload for a retried request with the same clientRequestId', async () => {
    const req = { projectId: cfg.projectId, fileName: 'retry.pdf', contentType: 'application/pdf', size: 100, clientRequestId: `retry-${Date.now()}` };
    const a = await api(cfg, token, 'POST', '/v1/uploads', req);
    const b = await api(cfg, token, 'POST', '/v1/uploads', req);
    assert.equal(a.status, 201);
    assert.equal(b.status, 200);
    assert.equal((a.json as { documentId: string }).documentId, (b.json as { documentId: string }).documentId);
    const c = await api(cfg, token, 'POST', '/v1/uploads', { ...req, size: 101 });
    assert.equal(c.status, 409);
  });

  it('answers 404 for malformed ids and for documents of projects the caller is not in', async () => {
    const upload = await createUpload(cfg, token, { fileName: 'mine.pdf', contentType: 'application/pdf', size: 10 });
    const stranger = await signUp(cfg, `prober-${Date.now()}@example.com`);
    for (const route of [`/v1/jobs/${upload.jobId}`, `/v1/documents/${upload.documentId}`, `/v1/documents/${upload.documentId}/text`]) {
      const res = await api(cfg, stranger, 'GET', route);
      assert.equal(res.status, 404, route);
    }
    for (const route of ['/v1/jobs/a%2Fb', `/v1/jobs/${upload.jobId}%2Flogs%2F000`, '/v1/documents/..%2Fprojects%2Fdemo']) {
      const res = await api(cfg, token, 'GET', route);
      assert.equal(res.status, 404, route);
      assert.doesNotMatch(res.text, /Firestore|path|zod/i);
    }
    assert.equal((await api(cfg, token, 'GET', `/v1/jobs/${upload.jobId}`)).status, 200);
  });

  it('answers 409 NOT_READY for the text of a document still awaiting upload', async () => {
    const upload = await createUpload(cfg, token, { fileName: 'later.pdf', contentType: 'application/pdf', size: 10 });
    const res = await api(cfg, token, 'GET', `/v1/documents/${upload.documentId}/text`);
    assert.equal(res.status, 409);
  });
});
