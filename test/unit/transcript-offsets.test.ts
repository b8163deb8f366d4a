import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { segmentOffsets, timeSpanOf, toPlainText, type Transcript } from '../../shared/media/transcript.js';

const transcript: Transcript = {
  language: 'en-US',
  durationSeconds: 12,
  segments: [
    { start: 0.5, end: 3.2, text: ' he was not an ill disposed young man ' },
    { start: 3.4, end: 3.6, text: '   ' },
    { start: 4.0, end: 7.5, text: 'unless to be rather cold hearted' },
    { start: 8.0, end: 11.9, text: 'and rather selfish is to be ill disposed' },
  ],
};

describe('transcript offsets: a chunk of the transcript text back to times in the recording', () => {
  it('gives each non-empty segment its range in the plain text', () => {
    const text = toPlainText(transcript);
    const offsets = segmentOffsets(transcript);
    assert.equal(offsets.length, 3, 'the blank segment has no line');
    for (const [i, o] of offsets.entries()) {
      const seg = transcript.segments.filter((s) => s.text.trim() !== '')[i];
      assert.equal(text.slice(o.charStart, o.charEnd), seg?.text.trim());
      assert.equal(o.start, seg?.start);
    }
  });

  it('maps a span of the text to the times of the segments it covers', () => {
    const text = toPlainText(transcript);
    const offsets = segmentOffsets(transcript);
    const from = text.indexOf('cold');
    const to = text.indexOf('selfish') + 'selfish'.length;
    assert.deepEqual(timeSpanOf(offsets, from, to), { start: 4.0, end: 11.9 });
    assert.deepEqual(timeSpanOf(offsets, 0, 5), { start: 0.5, end: 3.2 });
    assert.equal(timeSpanOf(offsets, text.length + 5, text.length + 9), null);
  });
});
