/** Pure parts of speech-synthesis jobs: request checks, job ids, job types, the pipeline, object names. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { apiJobType, CreateJobRequestSchema, NOT_SUPPORTED_REASONS } from '../../shared/api/speech.js';
import { HttpError } from '../../shared/errors/index.js';
import { JOB_ID } from '../../shared/ids.js';
import { pipelineFor, pipelineProgress, UNSUPPORTED_JOB_KINDS } from '../../shared/jobs/model.js';
import { speechAudioObjectName, speechRequestObjectName } from '../../shared/storage/names.js';
import { checkSpeechInput, speechJobId } from '../../functions/api/routes/speech.js';

function codeOf(fn: () => void): string | null {
  try {
    fn();
    return null;
  } catch (err) {
    assert.ok(err instanceof HttpError, String(err));
    assert.equal(err.status, 400);
    return err.code;
  }
}

describe('checkSpeechInput', () => {
  const cases: { name: string; input: { text?: string; ssml?: string }; max?: number; code: string | null }[] = [
    { name: 'plain text', input: { text: 'Hello.' }, code: null },
    { name: 'SSML', input: { ssml: '<speak>Hello <break time="1s"/> there.</speak>' }, code: null },
    { name: 'an SSML fragment without <speak>', input: { ssml: 'Hello <emphasis>there</emphasis>.' }, code: null },
    { name: 'empty text', input: { text: '' }, code: 'INPUT_EMPTY' },
    { name: 'whitespace only', input: { text: ' \n\t ' }, code: 'INPUT_EMPTY' },
    { name: 'SSML without text', input: { ssml: '<speak><break time="2s"/></speak>' }, code: 'INPUT_EMPTY' },
    { name: 'unclosed SSML', input: { ssml: '<speak>Hello' }, code: 'INVALID_SSML' },
    { name: 'mismatched SSML', input: { ssml: '<speak><p>Hello</s></speak>' }, code: 'INVALID_SSML' },
    { name: 'neither', input: {}, code: 'INVALID_ARGUMENT' },
    { name: 'both', input: { text: 'a', ssml: '<speak>a</speak>' }, code: 'INVALID_ARGUMENT' },
    { name: 'text at the limit', input: { text: 'a'.repeat(10) }, max: 10, code: null },
    { name: 'text over the limit', input: { text: 'a'.repeat(11) }, max: 10, code: 'TEXT_TOO_LONG' },
    { name: 'SSML over the limit (markup counts)', input: { ssml: '<speak>abc</speak>' }, max: 10, code: 'TEXT_TOO_LONG' },
  ];
  for (const c of cases) {
    it(`${c.code ?? 'accepts'}: ${c.name}`, () => {
      assert.equal(codeOf(() => checkSpeechInput(c.input, c.max ?? 100_000)), c.code);
    });
  }
});

describe('speech job ids and types', () => {
  it('derives the same job id from the same caller, project and request id, and another otherwise', () => {
    const a = speechJobId({ uid: 'u1', projectId: 'demo', clientRequestId: 'r1' });
    assert.match(a, JOB_ID);
    assert.equal(speechJobId({ uid: 'u1', projectId: 'demo', clientRequestId: 'r1' }), a);
    assert.notEqual(speechJobId({ uid: 'u2', projectId: 'demo', clientRequestId: 'r1' }), a);
    assert.notEqual(speechJobId({ uid: 'u1', projectId: 'demo', clientRequestId: 'r2' }), a);
    assert.notEqual(speechJobId(), speechJobId());
  });

  it('maps API type names and kind names to the same type', () => {
    assert.equal(apiJobType('TTS'), 'TTS');
    assert.equal(apiJobType('speech.synthesize'), 'TTS');
    assert.equal(apiJobType('voice.clone'), 'VOICE_CLONING');
    assert.equal(apiJobType('ANIMATED_TALKING_HEADS'), 'ANIMATED_TALKING_HEADS');
    assert.equal(apiJobType('document.process'), null);
    assert.ok(UNSUPPORTED_JOB_KINDS.has('voice.clone') && UNSUPPORTED_JOB_KINDS.has('video.talking-head'));
    assert.ok(NOT_SUPPORTED_REASONS.VOICE_CLONING.includes('not supported'));
  });

  it('refuses unknown fields and types, defaults the format to mp3', () => {
    assert.equal(CreateJobRequestSchema.safeParse({ projectId: 'demo', type: 'TTS', text: 'x', extra: 1 }).success, false);
    assert.equal(CreateJobRequestSchema.safeParse({ projectId: 'demo', type: 'OCR', text: 'x' }).success, false);
    const ok = CreateJobRequestSchema.parse({ projectId: 'demo', type: 'TTS', text: 'x' });
    assert.equal(ok.format, 'mp3');
  });
});

describe('the speech.synthesize pipeline', () => {
  it('is one synthesize stage whose progress maps onto 10–95 of the job', () => {
    const p = pipelineFor('speech.synthesize');
    assert.deepEqual(p.map((s) => s.name), ['synthesize']);
    assert.equal(pipelineProgress({ synthesize: { status: 'RUNNING', progress: 0 } }, p), 10);
    assert.equal(pipelineProgress({ synthesize: { status: 'RUNNING', progress: 50 } }, p), 53);
    assert.equal(pipelineProgress({ synthesize: { status: 'COMPLETED', progress: 100 } }, p), 95);
  });
});

describe('speech object names', () => {
  it('keeps requests outside uploads/ and keys the audio on the request generation', () => {
    const req = speechRequestObjectName('demo', 'job_0123456789abcdef0123');
    assert.equal(req, 'speech/demo/job_0123456789abcdef0123/request.json');
    assert.ok(!req.startsWith('uploads/'), 'no notification fires for it');
    assert.equal(speechAudioObjectName({ projectId: 'demo', jobId: 'job_0123456789abcdef0123', requestGeneration: '42' }, 'ogg'), 'derived/demo/job_0123456789abcdef0123/42/speech.ogg');
  });
});
