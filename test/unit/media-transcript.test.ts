/**
 * Transcript formats (shared/media/transcript.ts): timestamps, SRT, WebVTT, JSON, plain text,
 * caption cue splitting and assembly of segment results. Pure functions, exact outputs.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  assembleTranscript,
  captionCues,
  formatTimestamp,
  formatTranscript,
  formatTranscriptJson,
  parseTranscriptJson,
  shiftSegments,
  toPlainText,
  toSrt,
  toTranscriptJson,
  toWebVtt,
  wrapLines,
} from '../../shared/media/transcript.js';
import type { Transcript, TranscriptSegment } from '../../shared/media/transcript.js';

const base = { language: 'en-US', durationSeconds: 10, engine: 'local', model: 'pocketsphinx-en-us' } as const;

function transcript(segments: TranscriptSegment[], durationSeconds = 10): Transcript {
  return { ...base, durationSeconds, segments };
}

describe('formatTimestamp', () => {
  test('SRT uses a comma, WebVTT a full stop, both HH:MM:SS and milliseconds', () => {
    assert.equal(formatTimestamp(0, 'srt'), '00:00:00,000');
    assert.equal(formatTimestamp(0, 'vtt'), '00:00:00.000');
    assert.equal(formatTimestamp(3661.5, 'srt'), '01:01:01,500');
    assert.equal(formatTimestamp(59.9999, 'vtt'), '00:01:00.000', 'rounds to the millisecond, carrying into minutes');
    assert.equal(formatTimestamp(1.0004, 'srt'), '00:00:01,000');
    assert.equal(formatTimestamp(1.0006, 'srt'), '00:00:01,001');
  });

  test('negative and non-finite times are 0; hours grow past two digits', () => {
    assert.equal(formatTimestamp(-3, 'srt'), '00:00:00,000');
    assert.equal(formatTimestamp(Number.NaN, 'vtt'), '00:00:00.000');
    assert.equal(formatTimestamp(100 * 3600 + 0.25, 'vtt'), '100:00:00.250');
  });
});

describe('SRT and WebVTT', () => {
  const t = transcript([
    { start: 0.5, end: 2.25, text: 'Hello there.' },
    { start: 3, end: 5.5, text: 'General <Kenobi> & co --> x' },
  ]);

  test('SRT: numbered cues, comma timestamps, a blank line between cues', () => {
    assert.equal(toSrt(t), '1\n00:00:00,500 --> 00:00:02,250\nHello there.\n\n2\n00:00:03,000 --> 00:00:05,500\nGeneral <Kenobi> & co -> x\n');
  });

  test('WebVTT: header, full-stop timestamps, &, < and > escaped', () => {
    assert.equal(toWebVtt(t), 'WEBVTT\n\n00:00:00.500 --> 00:00:02.250\nHello there.\n\n00:00:03.000 --> 00:00:05.500\nGeneral &lt;Kenobi&gt; &amp; co --&gt; x\n');
  });

  test('an empty transcript is an empty SRT and a bare WebVTT header', () => {
    const empty = transcript([]);
    assert.equal(toSrt(empty), '');
    assert.equal(toWebVtt(empty), 'WEBVTT\n');
    assert.equal(toPlainText(empty), '');
  });

  test('line breaks and control characters in text never make a blank line inside a cue', () => {
    const srt = toSrt(transcript([{ start: 0, end: 2, text: 'one\n\ntwo\u0007 three\r\n' }]));
    assert.equal(srt, '1\n00:00:00,000 --> 00:00:02,000\none two three\n');
  });

  test('formatTranscript gives every stored format with its content type', () => {
    assert.deepEqual(
      (['txt', 'json', 'srt', 'vtt'] as const).map((f) => formatTranscript(t, f).contentType),
      ['text/plain; charset=utf-8', 'application/json', 'application/x-subrip; charset=utf-8', 'text/vtt; charset=utf-8'],
    );
    assert.equal(formatTranscript(t, 'txt').body, 'Hello there.\nGeneral <Kenobi> & co --> x\n');
    assert.equal(formatTranscript(t, 'vtt').body, toWebVtt(t));
  });
});

describe('caption cues', () => {
  test('a long segment with word timings is cut at the 7-second and 84-character limits, on word boundaries', () => {
    // 20 words, one a second.
    const words = Array.from({ length: 20 }, (_, i) => ({ text: `w${String(i).padStart(2, '0')}`, start: i, end: i + 0.8 }));
    const cues = captionCues(transcript([{ start: 0, end: 19.8, text: words.map((w) => w.text).join(' '), words }], 20));
    assert.deepEqual(
      cues.map((c) => [c.start, c.end, c.lines.join('|')]),
      [
        [0, 6.8, 'w00 w01 w02 w03 w04 w05 w06'],
        [7, 13.8, 'w07 w08 w09 w10 w11 w12 w13'],
        [14, 19.8, 'w14 w15 w16 w17 w18 w19'],
      ],
    );
  });

  test('characters: at most two balanced lines of 42', () => {
    const text = 'The quick brown fox jumps over the lazy dog while the cat watches from the warm windowsill and yawns';
    const words = text.split(' ').map((w, i) => ({ text: w, start: i * 0.2, end: i * 0.2 + 0.15 }));
    const cues = captionCues(transcript([{ start: 0, end: 4, text, words }]));
    for (const cue of cues) {
      assert.ok(cue.lines.length <= 2, JSON.stringify(cue));
      for (const line of cue.lines) assert.ok(line.length <= 42, line);
    }
    assert.equal(cues.map((c) => c.lines.join(' ')).join(' '), text, 'every word, in order, once');
    const [first] = cues;
    assert.ok(first && first.lines.length === 2);
    const [a, b] = first.lines;
    assert.ok(a && b && Math.abs(a.length - b.length) < 15, `balanced: ${JSON.stringify(first.lines)}`);
  });

  test('a sentence end past half the room is a break', () => {
    const text = 'This first sentence is long enough to matter here. Then a second one.';
    const words = text.split(' ').map((w, i) => ({ text: w, start: i * 0.3, end: i * 0.3 + 0.25 }));
    const cues = captionCues(transcript([{ start: 0, end: 4, text, words }]));
    assert.deepEqual(
      cues.map((c) => c.lines.join(' ')),
      ['This first sentence is long enough to matter here.', 'Then a second one.'],
    );
  });

  test('without word timings, time is shared out by characters', () => {
    const text = Array.from({ length: 30 }, () => 'word').join(' ');
    const cues = captionCues(transcript([{ start: 10, end: 40, text }], 60));
    assert.ok(cues.length >= 2);
    assert.equal(cues[0]?.start, 10);
    assert.equal(cues.at(-1)?.end, 40);
    for (const c of cues) assert.ok(c.end - c.start <= 7 + 1e-9, `cue of ${c.end - c.start} s`);
  });

  test('cues never overlap, run in order and last at least a millisecond', () => {
    const cues = captionCues(
      transcript([
        { start: 2, end: 2, text: 'zero length' },
        { start: 1.9, end: 3, text: 'starts before the previous ended' },
        { start: 0.5, end: 1, text: 'out of order' },
      ]),
    );
    let floor = 0;
    for (const c of cues) {
      assert.ok(c.start >= floor, JSON.stringify(cues));
      assert.ok(c.end >= c.start + 0.001 - 1e-9);
      floor = c.end;
    }
    assert.equal(cues.length, 3);
  });

  test('wrapLines keeps a single over-long word whole and never exceeds the line count', () => {
    assert.deepEqual(wrapLines('short', 42), ['short']);
    assert.deepEqual(wrapLines('a'.repeat(50), 42), ['a'.repeat(50)]);
    assert.deepEqual(wrapLines('one two three four five six', 10, 2).length, 2);
    assert.deepEqual(wrapLines('', 10), []);
  });
});

describe('JSON', () => {
  const t = transcript([
    { start: 0.1234, end: 1.5, text: 'he was', confidence: 0.91234, words: [{ text: 'he', start: 0.1234, end: 0.4, confidence: 0.99 }, { text: 'was', start: 0.41, end: 1.5 }] },
    { start: 2, end: 3, text: 'not', language: 'en-GB' },
  ]);

  test('times rounded to the millisecond, ids, text, optional fields only when present', () => {
    assert.deepEqual(toTranscriptJson(t), {
      version: 1,
      language: 'en-US',
      durationSeconds: 10,
      engine: 'local',
      model: 'pocketsphinx-en-us',
      text: 'he was not',
      segments: [
        {
          id: 0,
          start: 0.123,
          end: 1.5,
          text: 'he was',
          confidence: 0.912,
          words: [
            { text: 'he', start: 0.123, end: 0.4, confidence: 0.99 },
            { text: 'was', start: 0.41, end: 1.5 },
          ],
        },
        { id: 1, start: 2, end: 3, text: 'not', language: 'en-GB' },
      ],
    });
  });

  test('round-trips through parseTranscriptJson; anything else is refused', () => {
    const back = parseTranscriptJson(formatTranscriptJson(t));
    assert.equal(back.segments.length, 2);
    assert.equal(back.segments[0]?.words?.[1]?.text, 'was');
    assert.equal(back.segments[1]?.language, 'en-GB');
    assert.equal(formatTranscriptJson(back), formatTranscriptJson(t), 'the same file once written');
    assert.throws(() => parseTranscriptJson('{"version":2}'));
    assert.throws(() => parseTranscriptJson('not json'), SyntaxError);
  });
});

describe('assembly', () => {
  test('shifts each part by its offset, orders parts, drops empty segments', () => {
    const a: TranscriptSegment[] = [{ start: 0.5, end: 2, text: ' first ', words: [{ text: 'first', start: 0.5, end: 2 }] }];
    const b: TranscriptSegment[] = [
      { start: 1, end: 3, text: 'second', words: [{ text: 'second', start: 1, end: 3 }] },
      { start: 3, end: 4, text: '   ' },
    ];
    const whole = assembleTranscript(
      [
        { offsetSeconds: 20, segments: b },
        { offsetSeconds: 0, segments: a },
      ],
      { language: 'en-US', durationSeconds: 30 },
    );
    assert.deepEqual(whole.segments, [
      { start: 0.5, end: 2, text: 'first', words: [{ text: 'first', start: 0.5, end: 2 }] },
      { start: 21, end: 23, text: 'second', words: [{ text: 'second', start: 21, end: 23 }] },
    ]);
  });

  test('times are clamped to the recording and never go backwards', () => {
    const whole = assembleTranscript(
      [
        { offsetSeconds: 0, segments: [{ start: 0, end: 10.2, text: 'a' }] },
        { offsetSeconds: 10, segments: [{ start: -0.1, end: 1, text: 'b', words: [{ text: 'b', start: -0.1, end: 5 }] }] },
      ],
      { language: 'en-US', durationSeconds: 10.5 },
    );
    assert.deepEqual(
      whole.segments.map((s) => [s.start, s.end]),
      [
        [0, 10.2],
        [9.9, 10.5],
      ],
    );
    assert.deepEqual(whole.segments[1]?.words?.[0], { text: 'b', start: 9.9, end: 10.5 });
  });

  test('shiftSegments with offset 0 is a copy', () => {
    const s: TranscriptSegment[] = [{ start: 1, end: 2, text: 'x' }];
    const shifted = shiftSegments(s, 0);
    assert.notEqual(shifted, s);
    assert.deepEqual(shifted, s);
  });
});
