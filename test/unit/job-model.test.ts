import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { canTransition, isTerminal, JOB_STATUSES, logSlot, LOG_CAPACITY, overallProgress, type JobStatus } from '../../shared/jobs/model.js';

describe('job state machine', () => {
  const table: [JobStatus, JobStatus, boolean][] = [
    ['PENDING', 'RUNNING', true],
    ['PENDING', 'FAILED', true],
    ['PENDING', 'CANCELLED', true],
    ['PENDING', 'COMPLETED', false],
    ['RUNNING', 'RUNNING', true],
    ['RUNNING', 'COMPLETED', true],
    ['RUNNING', 'FAILED', true],
    ['RUNNING', 'CANCELLED', true],
    ['RUNNING', 'PENDING', false],
  ];
  for (const [from, to, allowed] of table) {
    it(`${allowed ? 'allows' : 'refuses'} ${from} → ${to}`, () => assert.equal(canTransition(from, to), allowed));
  }

  it('never moves a terminal job', () => {
    for (const from of JOB_STATUSES.filter(isTerminal)) {
      for (const to of JOB_STATUSES) assert.equal(canTransition(from, to), false, `${from} → ${to}`);
    }
  });

  it('treats exactly COMPLETED, FAILED and CANCELLED as terminal', () => {
    assert.deepEqual(JOB_STATUSES.filter(isTerminal), ['COMPLETED', 'FAILED', 'CANCELLED']);
  });
});

describe('overallProgress', () => {
  it('maps OCR page fractions into 10–95 and clamps', () => {
    assert.equal(overallProgress('ocr', 0), 10);
    assert.equal(overallProgress('ocr', 0.5), 53);
    assert.equal(overallProgress('ocr', 1), 95);
    assert.equal(overallProgress('ocr', 7), 95);
    assert.equal(overallProgress('done', 0), 100);
  });
});

describe('job log ring', () => {
  it('reuses slots after LOG_CAPACITY entries, so the subcollection stays bounded', () => {
    assert.equal(logSlot(0), '000');
    assert.equal(logSlot(LOG_CAPACITY), '000');
    assert.equal(logSlot(LOG_CAPACITY + 7), logSlot(7));
    const slots = new Set(Array.from({ length: LOG_CAPACITY * 3 }, (_, i) => logSlot(i)));
    assert.equal(slots.size, LOG_CAPACITY);
  });
});

describe('pipelineProgress', () => {
  it('maps the pipeline\'s stages into 10–95 by weight, and a completed stage counts whole', async () => {
    const { pipelineProgress } = await import('../../shared/jobs/model.js');
    assert.equal(pipelineProgress({}), 10);
    // Weights: ocr 50, embed 25, summarize 10 of the 85 points between 10 and 95.
    assert.equal(pipelineProgress({ ocr: { status: 'RUNNING', progress: 50 } }), 35);
    assert.equal(pipelineProgress({ ocr: { status: 'COMPLETED', progress: 0 } }), 60);
    assert.equal(pipelineProgress({ ocr: { status: 'COMPLETED', progress: 100 }, embed: { status: 'RUNNING', progress: 40 }, summarize: { status: 'COMPLETED', progress: 100 } }), 80);
    assert.equal(pipelineProgress({ ocr: { status: 'COMPLETED', progress: 100 }, embed: { status: 'COMPLETED', progress: 100 }, summarize: { status: 'COMPLETED', progress: 100 } }), 95);
  });
});
