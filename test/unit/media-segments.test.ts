/**
 * Pure media logic: segment planning from silence detections, silencedetect parsing, container
 * sniffing and WAV headers (including the corpus's broken WAVs, read as bytes).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';

import { normalizeSilences, parseSilenceDetect, planSegments } from '../../shared/media/segments.js';
import type { PlannedSegment, Silence } from '../../shared/media/segments.js';
import { sniffAudioContainer } from '../../shared/media/probe.js';
import { isNormalizedWav, parseWavHeader, sampleRange, wavHeader } from '../../shared/media/wav.js';
import { fixturePath } from '../helpers/paths.js';

/** Segments cover [0, duration] in order, without gaps, none over the maximum. */
function assertCovers(plan: readonly PlannedSegment[], duration: number, max: number): void {
  assert.ok(plan.length > 0);
  assert.equal(plan[0]?.start, 0);
  assert.ok(Math.abs((plan.at(-1)?.end ?? 0) - duration) < 1e-9);
  plan.forEach((s, i) => {
    assert.equal(s.index, i);
    assert.ok(s.end > s.start, `segment ${i} is empty: ${JSON.stringify(s)}`);
    assert.ok(s.end - s.start <= max + 1e-6, `segment ${i} lasts ${s.end - s.start} s > ${max}`);
    if (i > 0) assert.equal(s.start, plan[i - 1]?.end, `gap before segment ${i}`);
  });
  assert.equal(plan.at(-1)?.cut, 'end');
}

describe('planSegments', () => {
  test('a recording within the maximum is one segment', () => {
    assert.deepEqual(planSegments(42, [], { maxSegmentSeconds: 55 }), [{ index: 0, start: 0, end: 42, cut: 'end', silent: false }]);
    assert.deepEqual(planSegments(0, []), []);
  });

  test('cuts at the middle of the longest pause in the second half of the window', () => {
    const silences: Silence[] = [
      { start: 10, end: 12 }, // first half: not preferred even though long
      { start: 30, end: 30.4 },
      { start: 40, end: 41 }, // longest in the second half
      { start: 50, end: 50.5 },
    ];
    const plan = planSegments(100, silences, { maxSegmentSeconds: 55 });
    assert.equal(plan[0]?.end, 40.5);
    assert.equal(plan[0]?.cut, 'silence');
    assertCovers(plan, 100, 55);
  });

  test('falls back to the latest pause anywhere in the window, beyond the minimum length', () => {
    const plan = planSegments(100, [{ start: 2, end: 3 }, { start: 8, end: 9 }], { maxSegmentSeconds: 55, minSegmentSeconds: 5 });
    assert.equal(plan[0]?.end, 8.5);
    assert.equal(plan[0]?.cut, 'silence');
    assertCovers(plan, 100, 55);
  });

  test('a pause that would leave a segment under the minimum is not used', () => {
    const plan = planSegments(60, [{ start: 1, end: 2 }], { maxSegmentSeconds: 55, minSegmentSeconds: 5 });
    assert.equal(plan[0]?.end, 55);
    assert.equal(plan[0]?.cut, 'hard');
  });

  test('no pause and no loudness: hard cuts at the maximum', () => {
    const plan = planSegments(130, [], { maxSegmentSeconds: 55 });
    assert.deepEqual(
      plan.map((s) => [s.start, s.end, s.cut]),
      [
        [0, 55, 'hard'],
        [55, 110, 'hard'],
        [110, 130, 'end'],
      ],
    );
  });

  test('no pause but a loudness profile: the quietest frame in the second half of the window', () => {
    const frameSeconds = 0.05;
    const levels = Array.from({ length: 130 / frameSeconds }, () => -20);
    levels[Math.round(40 / frameSeconds)] = -50; // 40.00–40.05 s
    levels[Math.round(10 / frameSeconds)] = -90; // quieter, but in the first half
    const plan = planSegments(130, [], { maxSegmentSeconds: 55 }, { startSeconds: 0, frameSeconds, levels });
    assert.equal(plan[0]?.cut, 'quiet');
    assert.ok(Math.abs((plan[0]?.end ?? 0) - 40.025) < 1e-9, String(plan[0]?.end));
    assertCovers(plan, 130, 55);
  });

  test('a long pause covering whole windows yields segments marked silent', () => {
    const plan = planSegments(200, [{ start: 10, end: 190 }], { maxSegmentSeconds: 55 });
    assertCovers(plan, 200, 55);
    assert.equal(plan[0]?.silent, false, 'the first segment holds the speech before the pause');
    assert.ok(plan.some((s) => s.silent), JSON.stringify(plan));
    assert.equal(plan.at(-1)?.silent, false);
  });

  test('invariants hold over random pause layouts', () => {
    let seed = 42;
    const random = (): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let run = 0; run < 200; run++) {
      const duration = 1 + random() * 600;
      const max = 5 + random() * 60;
      const silences: Silence[] = Array.from({ length: Math.floor(random() * 40) }, () => {
        const start = random() * duration;
        return { start, end: start + random() * 5 };
      });
      const plan = planSegments(duration, silences, { maxSegmentSeconds: max });
      assertCovers(plan, duration, max);
      for (const s of plan.slice(0, -1)) {
        if (s.cut === 'silence') {
          assert.ok(
            normalizeSilences(silences, duration).some((p) => p.start - 1e-9 <= s.end && s.end <= p.end + 1e-9),
            `cut at ${s.end} is not in a pause`,
          );
        }
      }
    }
  });

  test('refuses a non-positive maximum', () => {
    assert.throws(() => planSegments(10, [], { maxSegmentSeconds: 0 }), RangeError);
  });
});

describe('parseSilenceDetect', () => {
  test('reads ametadata lines, closes a pause still open at the end, clips to the recording', () => {
    const output = [
      'frame:0    pts:0       pts_time:0',
      'lavfi.silence_start=-0.0005',
      'frame:55   pts:112640  pts_time:7.04',
      'lavfi.silence_end=0.5',
      'lavfi.silence_duration=0.5',
      'lavfi.silence_start=6.78512',
      'lavfi.silence_end=7.36662',
      'lavfi.silence_duration=0.5815',
      'lavfi.silence_start=14.2',
      '',
    ].join('\n');
    assert.deepEqual(parseSilenceDetect(output, 15.39), [
      { start: 0, end: 0.5 },
      { start: 6.78512, end: 7.36662 },
      { start: 14.2, end: 15.39 },
    ]);
  });

  test('merges overlapping pauses and ignores noise', () => {
    assert.deepEqual(
      normalizeSilences(
        [
          { start: 5, end: 7 },
          { start: 1, end: 2 },
          { start: 6, end: 8 },
          { start: 3, end: 3 },
        ],
        10,
      ),
      [
        { start: 1, end: 2 },
        { start: 5, end: 8 },
      ],
    );
    assert.deepEqual(parseSilenceDetect('garbage\nlavfi.silence_end=3\n', 10), []);
  });
});

describe('sniffAudioContainer', () => {
  const bytes = (...parts: (string | number[])[]): Buffer => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));

  test('names every supported container from its signature', () => {
    assert.equal(sniffAudioContainer(readFileSync(fixturePath('audio/sense_and_sensibility_01_austen_64kb-0880.wav')).subarray(0, 64)), 'wav');
    assert.equal(sniffAudioContainer(bytes('RF64', [0xff, 0xff, 0xff, 0xff], 'WAVEds64')), 'wav');
    assert.equal(sniffAudioContainer(bytes('fLaC', [0, 0, 0, 0x22])), 'flac');
    assert.equal(sniffAudioContainer(bytes('OggS', [0, 2, 0, 0, 0, 0, 0, 0])), 'ogg');
    assert.equal(sniffAudioContainer(bytes([0x1a, 0x45, 0xdf, 0xa3, 0x9f, 0x42, 0x86, 0x81])), 'webm');
    assert.equal(sniffAudioContainer(bytes([0, 0, 0, 0x1c], 'ftypM4A ')), 'mp4');
    assert.equal(sniffAudioContainer(bytes([0, 0, 0, 0x20], 'ftypisom')), 'mp4');
    assert.equal(sniffAudioContainer(bytes([0xff, 0xfb, 0x90, 0x64, 0, 0])), 'mp3', 'MPEG-1 layer III frame header');
    assert.equal(sniffAudioContainer(bytes([0xff, 0xf1, 0x60, 0x40, 0x3f, 0x5f])), 'aac', 'ADTS header');
  });

  test('finds the MP3 frame behind an ID3v2 tag', () => {
    const tag = bytes('ID3', [4, 0, 0, 0, 0, 0, 10], 'TSSE......');
    assert.equal(sniffAudioContainer(Buffer.concat([tag, bytes([0xff, 0xfb, 0x90, 0x64])])), 'mp3');
    // A tag larger than what was read: still an MP3 in practice.
    assert.equal(sniffAudioContainer(bytes('ID3', [4, 0, 0, 0, 0x7f, 0x7f, 0x7f])), 'mp3');
  });

  test('refuses headerless PCM, text, PDFs and random bytes', () => {
    assert.equal(sniffAudioContainer(readFileSync(fixturePath('audio/goforward.raw')).subarray(0, 4096)), undefined);
    assert.equal(sniffAudioContainer(Buffer.from('#EXTM3U\n#EXT-X-VERSION:3\nfile:///etc/passwd\n')), undefined, 'an HLS playlist is not audio');
    assert.equal(sniffAudioContainer(Buffer.from('%PDF-1.7\n')), undefined);
    assert.equal(sniffAudioContainer(bytes([0xff, 0xff, 0xff, 0xff])), undefined, 'an invalid MPEG frame header');
    assert.equal(sniffAudioContainer(Buffer.alloc(0)), undefined);
  });
});

describe('WAV headers', () => {
  test('reads the canonical header of a corpus recording', () => {
    const file = readFileSync(fixturePath('audio/sense_and_sensibility_01_austen_64kb-0880.wav'));
    const info = parseWavHeader(file);
    assert.ok(info);
    assert.deepEqual({ ...info, durationSeconds: Math.round(info.durationSeconds * 1000) / 1000 }, {
      format: 1,
      channels: 1,
      sampleRate: 16000,
      bitsPerSample: 16,
      blockAlign: 2,
      dataOffset: 44,
      dataBytes: file.length - 44,
      durationSeconds: 2.99,
    });
    assert.ok(isNormalizedWav(info));
  });

  test('the corpus broken WAVs: bad.wav and evil.wav unreadable, null.wav empty, awful.wav absurd', () => {
    const read = (name: string) => parseWavHeader(readFileSync(fixturePath(`audio/${name}`)));
    // bad.wav: a fmt chunk claiming 1.7 GB; evil.wav: no data chunk at all.
    assert.equal(read('bad.wav'), undefined);
    assert.equal(read('evil.wav'), undefined);
    const empty = read('null.wav');
    assert.equal(empty?.dataBytes, 0);
    const awful = read('awful.wav');
    assert.equal(awful?.sampleRate, 1_092_676);
    assert.ok(awful && !isNormalizedWav(awful));
  });

  test('skips chunks before data, resolves WAVE_FORMAT_EXTENSIBLE, clips a data size larger than the file', () => {
    const fmt = Buffer.alloc(40);
    fmt.writeUInt16LE(0xfffe, 0);
    fmt.writeUInt16LE(2, 2);
    fmt.writeUInt32LE(48000, 4);
    fmt.writeUInt32LE(48000 * 4, 8);
    fmt.writeUInt16LE(4, 12);
    fmt.writeUInt16LE(16, 14);
    fmt.writeUInt16LE(22, 16);
    fmt.writeUInt16LE(1, 24); // subformat: PCM
    const list = Buffer.concat([Buffer.from('LIST'), Buffer.from([5, 0, 0, 0]), Buffer.from('INFOx'), Buffer.from([0])]); // odd size + pad byte
    const data = Buffer.concat([Buffer.from('data'), Buffer.from([0xff, 0xff, 0xff, 0xff]), Buffer.alloc(10)]);
    const file = Buffer.concat([Buffer.from('RIFF'), Buffer.alloc(4), Buffer.from('WAVE'), Buffer.from('fmt '), Buffer.from([40, 0, 0, 0]), fmt, list, data]);
    const info = parseWavHeader(file);
    assert.ok(info);
    assert.equal(info.format, 1);
    assert.equal(info.channels, 2);
    assert.equal(info.dataOffset, file.length - 10);
    assert.equal(info.dataBytes, 8, 'clipped to the file, whole frames only');
  });

  test('wavHeader writes what parseWavHeader reads; sampleRange aligns to frames', () => {
    const info = parseWavHeader(Buffer.concat([wavHeader(32000), Buffer.alloc(32000)]));
    assert.ok(info && isNormalizedWav(info));
    assert.equal(info.durationSeconds, 1);
    assert.deepEqual(sampleRange(info, 0.25, 0.5), { start: 8000, end: 16000 });
    assert.deepEqual(sampleRange(info, 0.9, 5), { start: 28800, end: 32000 }, 'clipped to the data');
    assert.deepEqual(sampleRange(info, 0.00003, 0.00009), { start: 0, end: 2 }, 'rounded to whole samples');
  });
});
