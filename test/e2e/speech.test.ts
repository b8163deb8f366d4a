/**
 * Speech end to end on the test platform with the local engine (pocketsphinx): a recording uploaded
 * like any document is routed by its bytes to transcription, its transcript becomes the document's
 * text (chunks, vectors, summary, search), and the transcript is kept as JSON with timings, SRT and
 * WebVTT. Broken recordings fail for good with a clear reason.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Storage } from '@google-cloud/storage';
import { localConfigForTests } from '../helpers/platform.js';
import { api, fixture, signIn, uploadAndWait } from '../helpers/client.js';
import { wordErrorRate } from '../../shared/engines/stt/index.js';
import type { LocalConfig } from '../../emulators/local-config.js';
import type { SearchResponse } from '../../shared/api/contracts.js';

let cfg: LocalConfig;
let token: string;

before(async () => {
  cfg = localConfigForTests();
  token = await signIn(cfg);
});

async function read(ref: { bucket: string; object: string }): Promise<string> {
  const [body] = await new Storage({ projectId: cfg.gcpProjectId, apiEndpoint: cfg.storageEmulatorHost }).bucket(ref.bucket).file(ref.object).download();
  return body.toString('utf8');
}

describe('speech: recordings become transcripts, then searchable documents', () => {
  it('transcribes a WAV through the speech pipeline (transcribe, then embed and summarize)', async () => {
    const reference = (await fixture('audio/sense_and_sensibility_01_austen_64kb-0870.txt')).toString('utf8');
    const { job, document, seen, upload } = await uploadAndWait(cfg, token, 'reading.wav', await fixture('audio/sense_and_sensibility_01_austen_64kb-0870.wav'), 'audio/wav');
    assert.equal(job.status, 'COMPLETED', JSON.stringify(job.error));
    assert.equal(job.kind, 'speech.transcribe');
    assert.deepEqual(['transcribe', 'embed', 'summarize'].map((s) => job.stages[s]?.status), ['COMPLETED', 'COMPLETED', 'COMPLETED']);
    assert.equal(job.stages.ocr, undefined, 'no OCR for a recording');
    assert.ok(seen.some((j) => j.stage === 'transcribe' && j.status === 'RUNNING'), 'the listener saw the transcription stage');
    assert.equal(document.status, 'READY');
    assert.equal(document.language, 'eng');
    assert.ok(document.chunkCount && document.chunkCount >= 1);

    const text = (await api(cfg, token, 'GET', `/v1/documents/${upload.documentId}/text`)).text;
    const wer = wordErrorRate(reference, text);
    console.log(`transcript: ${JSON.stringify(text.trim())}; WER ${(100 * wer).toFixed(1)} % against the LibriVox reference`);
    assert.ok(wer <= 0.6, `word error rate ${wer}`);

    const result = job.stages.transcribe?.result as { durationSeconds: number; transcript: { json: { bucket: string; object: string }; srt: { bucket: string; object: string }; vtt: { bucket: string; object: string } } };
    assert.ok(result.durationSeconds > 6 && result.durationSeconds < 8, `duration ${result.durationSeconds}`);
    const srt = await read(result.transcript.srt);
    assert.match(srt, /^1\r?\n\d{2}:\d{2}:\d{2},\d{3} --> \d{2}:\d{2}:\d{2},\d{3}\r?\n\S/);
    const vtt = await read(result.transcript.vtt);
    assert.match(vtt, /^WEBVTT\r?\n\r?\n/);
    assert.match(vtt, /\d{2}:\d{2}\.\d{3} --> /);
    const json = JSON.parse(await read(result.transcript.json)) as { segments: { start: number; end: number; text: string }[] };
    assert.ok(json.segments.length >= 1 && json.segments.every((s) => s.end >= s.start));

    // The recording answers searches like any document.
    const word = text.split(/\s+/).filter((w) => w.length >= 6)[0] ?? '';
    const res = await api(cfg, token, 'POST', '/v1/search', { projectId: cfg.projectId, query: word, documentId: upload.documentId });
    assert.equal(res.status, 200, res.text);
    const hits = (res.json as SearchResponse).results;
    assert.ok(hits.length >= 1, `search for ${word}`);
    // ... pointing at the time in the recording.
    const hit = hits[0];
    assert.ok(hit?.timeStart !== undefined && hit.timeEnd !== undefined && hit.timeStart >= 0 && hit.timeEnd <= result.durationSeconds + 0.5 && hit.timeStart < hit.timeEnd, JSON.stringify(hit));

    // The API serves the transcript in each format.
    const asSrt = await api(cfg, token, 'GET', `/v1/documents/${upload.documentId}/transcript?format=srt`);
    assert.equal(asSrt.status, 200);
    assert.equal(asSrt.text, srt);
    const asJson = await api(cfg, token, 'GET', `/v1/documents/${upload.documentId}/transcript?format=json`);
    assert.equal(asJson.status, 200);
    assert.ok(Array.isArray((asJson.json as { segments: unknown[] }).segments));
    assert.equal((await api(cfg, token, 'GET', `/v1/documents/${upload.documentId}/transcript`)).text, text);
    assert.equal((await api(cfg, token, 'GET', `/v1/documents/${upload.documentId}/transcript?format=mp3`)).status, 400);
  });

  it('fails a broken recording for good with a clear reason', async () => {
    const { job, document } = await uploadAndWait(cfg, token, 'broken.wav', await fixture('audio/evil.wav'), 'audio/wav');
    assert.equal(job.status, 'FAILED');
    assert.equal(job.error?.retryable, false);
    assert.match(job.error?.code ?? '', /INPUT_CORRUPT|NO_AUDIO|UNSUPPORTED_CONTENT_TYPE/);
    assert.equal(document.status, 'FAILED');
  });
});
