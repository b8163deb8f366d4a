/**
 * Headerless PCM is transcribed only when its format is declared at upload (`audio: {encoding,
 * sampleRateHertz, channels}` on POST /v1/uploads): the transcribe stage reads it with ffmpeg's raw
 * demuxer (`-f s16le -ar … -ac …`). Without the declaration the same bytes fail once,
 * UNSUPPORTED_CONTENT_TYPE.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { localConfigForTests } from '../helpers/platform.js';
import { api, fixture, putSigned, signIn, waitForJob } from '../helpers/client.js';
import { CreateUploadResponseSchema } from '../../shared/api/contracts.js';
import type { LocalConfig } from '../../emulators/local-config.js';

let cfg: LocalConfig;
let token: string;

before(async () => {
  cfg = localConfigForTests();
  token = await signIn(cfg);
});

async function uploadRaw(body: Buffer, audio?: Record<string, unknown>) {
  const res = await api(cfg, token, 'POST', '/v1/uploads', { projectId: cfg.projectId, fileName: 'goforward.raw', contentType: 'application/octet-stream', size: body.length, ...(audio ? { audio } : {}) });
  assert.equal(res.status, 201, res.text);
  const upload = CreateUploadResponseSchema.parse(res.json);
  assert.ok((await putSigned(upload, body)).ok);
  return { upload, ...(await waitForJob(cfg, upload.jobId, 180_000)) };
}

describe('headerless PCM: declared at upload or refused', () => {
  it('transcribes 16 kHz 16-bit mono PCM declared as LINEAR16', async () => {
    const { job, upload } = await uploadRaw(await fixture('audio/goforward.raw'), { encoding: 'LINEAR16', sampleRateHertz: 16000, channels: 1 });
    assert.equal(job.status, 'COMPLETED', JSON.stringify(job.error));
    assert.equal(job.kind, 'speech.transcribe');
    assert.deepEqual(job.input.audio, { encoding: 'LINEAR16', sampleRateHertz: 16000, channels: 1 });
    const result = job.stages.transcribe?.result as { durationSeconds: number };
    assert.ok(Math.abs(result.durationSeconds - 2.79) < 0.1, `duration ${result.durationSeconds}`);
    const text = (await api(cfg, token, 'GET', `/v1/documents/${upload.documentId}/transcript`)).text.toLowerCase();
    console.log(`transcript of goforward.raw: ${JSON.stringify(text.trim())}`);
    assert.match(text, /forward|ten|meters/);
  });

  it('fails the same bytes undeclared, once, UNSUPPORTED_CONTENT_TYPE', async () => {
    const { job } = await uploadRaw(await fixture('audio/goforward.raw'));
    assert.equal(job.status, 'FAILED');
    assert.equal(job.error?.code, 'UNSUPPORTED_CONTENT_TYPE');
    assert.deepEqual(job.stages, {}, 'refused at ingest: no stage ran');
  });

  it('refuses a declaration that cannot be right at upload', async () => {
    const res = await api(cfg, token, 'POST', '/v1/uploads', { projectId: cfg.projectId, fileName: 'a.raw', contentType: 'application/octet-stream', size: 10, audio: { encoding: 'LINEAR16', sampleRateHertz: 1000 } });
    assert.equal(res.status, 400, res.text);
  });
});
