/**
 * The join checks and the joiner on synthetic signals (shared/engines/tts/audio.ts, join.ts):
 * the measurements find a click and a gap where there is one, and the joiner's output (WAV: no
 * ffmpeg needed) has neither: joins in silence of exactly the planned length, no step in the
 * waveform, even when a piece has no silence at its edge. Real voices are joined in
 * test/integration/tts-local.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { PermanentError } from '../../shared/errors/index.js';
import { audioFacts, fadeIn, fadeOut, measureJoins, parseWav, pcmFromWav, SILENCE_THRESHOLD, silentRuns, sniffAudioFormat, trimForJoin, wavFile } from '../../shared/engines/tts/audio.js';
import { DEFAULT_JOIN_PAUSES_MS, encoderRate, joinAudio } from '../../shared/engines/tts/join.js';

const RATE = 16000;
const ms = (n: number): number => Math.round((n / 1000) * RATE);

/**
 * Speech-like bursts: `syllables` tones of 120–180 ms at -12 dBFS (varying pitch, raised-cosine
 * envelopes) 60 ms apart, with `lead`/`tail` ms of low noise (-70 dBFS) around them.
 */
function speechLike(syllables: number, lead: number, tail: number, seed = 1): Int16Array {
  const parts: number[] = [];
  let s = seed;
  const noise = (): number => {
    s = (s * 16807) % 2147483647;
    return ((s / 2147483647) * 2 - 1) * 10; // ~-70 dBFS
  };
  for (let i = 0; i < ms(lead); i++) parts.push(noise());
  for (let k = 0; k < syllables; k++) {
    const len = ms(120 + ((k * 37) % 60));
    const f = 140 + ((k * 53) % 120);
    for (let i = 0; i < len; i++) parts.push(0.25 * 32767 * Math.sin((2 * Math.PI * f * i) / RATE) * (0.5 - 0.5 * Math.cos((2 * Math.PI * i) / len)) + noise());
    if (k < syllables - 1) for (let i = 0; i < ms(60); i++) parts.push(noise());
  }
  for (let i = 0; i < ms(tail); i++) parts.push(noise());
  return Int16Array.from(parts, (v) => Math.round(v));
}

/** A loud tone that starts and stops at full amplitude: no silence at either edge (worst case for a join). */
function hardEdges(durationMs: number, phase: number): Int16Array {
  const n = ms(durationMs);
  return Int16Array.from({ length: n }, (_, i) => Math.round(0.5 * 32767 * Math.sin((2 * Math.PI * 200 * i) / RATE + phase)));
}

function concat(...parts: Int16Array[]): Int16Array {
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tts-join-test-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('measurements', () => {
  test('a waveform cut mid-cycle and butted against another is a click', () => {
    // Ends at a positive peak, the next starts at a negative one: a jump of ~full scale.
    const a = hardEdges(200, 0).subarray(0, ms(200) - ms(1.25));
    const b = hardEdges(200, Math.PI);
    const joined = concat(a, b);
    const report = measureJoins(joined, RATE, [a.length / RATE]);
    const j = report.joins[0];
    assert.ok(j);
    assert.ok(j.click, `step ${j.step.toFixed(3)}`);
    assert.ok(j.step > 0.3);
    assert.equal(j.gapMs, 0, 'no silence at the join');
  });

  test('a join inside silence is no click, and its gap is measured', () => {
    const a = speechLike(4, 100, 0);
    const b = speechLike(3, 0, 100, 7);
    const joined = concat(a, new Int16Array(ms(300)), b);
    const report = measureJoins(joined, RATE, [(a.length + ms(150)) / RATE]);
    const j = report.joins[0];
    assert.ok(j);
    assert.equal(j.click, false);
    assert.ok(j.step < 0.01);
    // The tones' envelopes fade below the threshold a few ms before and after the inserted silence.
    assert.ok(j.gapMs >= 300 && j.gapMs <= 320, `${j.gapMs} ms`);
  });

  test('natural pauses are the silences that contain no join', () => {
    const sig = concat(speechLike(2, 50, 0), new Int16Array(ms(250)), speechLike(2, 0, 0), new Int16Array(ms(400)), speechLike(2, 0, 50));
    const report = measureJoins(sig, RATE, []);
    // The 60 ms gaps between syllables count too (they are ≥ 30 ms); the two long ones are there.
    const long = report.naturalPausesMs.filter((p) => p > 200);
    assert.equal(long.length, 2);
    assert.ok((long[0] ?? 0) >= 250 && (long[0] ?? 0) <= 270 && (long[1] ?? 0) >= 400 && (long[1] ?? 0) <= 420, long.join(', '));
    assert.equal(report.longestNaturalPauseMs, long[1]);
    assert.ok(silentRuns(sig, ms(30)).length >= 2);
  });

  test('fades are raised cosines: they start or end at zero and never overshoot', () => {
    const tone = hardEdges(20, Math.PI / 2); // starts at a peak
    const a = tone.slice();
    fadeIn(a, ms(5));
    assert.equal(a[0], 0);
    const b = tone.slice();
    fadeOut(b, ms(5));
    assert.equal(b.at(-1), 0);
    for (let i = 0; i < tone.length; i++) assert.ok(Math.abs(a[i] ?? 0) <= Math.abs(tone[i] ?? 0) && Math.abs(b[i] ?? 0) <= Math.abs(tone[i] ?? 0));
  });

  test('trimForJoin keeps a margin of quiet and reports it', () => {
    const piece = speechLike(3, 250, 200);
    const t = trimForJoin(piece, { start: true, end: true, keepHead: ms(15), keepTail: ms(30), fade: ms(5) });
    assert.equal(t.headSilence, ms(15));
    assert.equal(t.tailSilence, ms(30));
    assert.ok(t.samples.length < piece.length - ms(350));
    const silent = trimForJoin(new Int16Array(ms(100)), { start: true, end: true, keepHead: 0, keepTail: 0, fade: 0 });
    assert.equal(silent.samples.length, 0, 'silence alone trims to nothing');
  });
});

describe('WAV and formats', () => {
  test('wavFile and parseWav round-trip; a streaming header takes its size from the bytes', () => {
    const samples = speechLike(2, 10, 10);
    const file = wavFile(samples, 22050);
    const info = parseWav(file);
    assert.ok(info);
    assert.deepEqual([info.formatTag, info.channels, info.sampleRate, info.bitsPerSample, info.dataBytes], [1, 1, 22050, 16, samples.length * 2]);
    assert.deepEqual(pcmFromWav(file)?.samples, samples);
    assert.equal(sniffAudioFormat(file), 'wav');
    assert.equal(audioFacts(file)?.durationSeconds, samples.length / 22050);
    const streaming = Buffer.from(file);
    streaming.writeUInt32LE(0xffffffff, 40);
    assert.equal(parseWav(streaming)?.dataBytes, samples.length * 2);
    assert.equal(parseWav(Buffer.from('not a wav file at all')), undefined);
  });

  test('encoder rates', () => {
    assert.equal(encoderRate('wav', 22050), 22050);
    assert.equal(encoderRate('mp3', 16000), 16000);
    assert.equal(encoderRate('mp3', 20000), 22050);
    assert.equal(encoderRate('ogg', 32000), 48000);
    assert.equal(encoderRate('ogg', 22050), 24000);
  });
});

describe('joinAudio (WAV, no ffmpeg)', () => {
  test('joins in silence of the planned length, with no clicks, even across hard edges', async () => {
    const pieces = [
      { audio: wavFile(speechLike(5, 220, 180, 1), RATE), boundary: 'sentence' as const },
      { audio: wavFile(speechLike(4, 230, 160, 2), RATE), boundary: 'clause' as const },
      { audio: wavFile(hardEdges(300, 0.3), RATE), boundary: 'word' as const },
      { audio: wavFile(hardEdges(300, 2.1), RATE), boundary: 'break' as const, pauseAfterMs: 800 },
      { audio: wavFile(speechLike(3, 200, 200, 3), RATE), boundary: 'paragraph' as const },
      { audio: wavFile(speechLike(3, 200, 250, 4), RATE) },
    ];
    const outputPath = join(dir, 'joined.wav');
    const result = await joinAudio(pieces, { format: 'wav', outputPath });
    assert.equal(result.format, 'wav');
    assert.equal(result.contentType, 'audio/wav');
    assert.equal(result.sampleRateHertz, RATE);
    const file = await readFile(outputPath);
    assert.equal(result.bytes, file.length);
    const pcm = pcmFromWav(file);
    assert.ok(pcm);
    assert.equal(pcm.samples.length, result.samples);
    assert.equal(result.durationSeconds, result.samples / RATE);
    assert.deepEqual(
      result.joins.map((j) => j.boundary),
      ['sentence', 'clause', 'word', 'break', 'paragraph'],
    );
    // Planned gaps: the boundary's pause; the hard-edged pieces have no quiet to keep, so the
    // word join is the inserted pause alone and the break join exactly the break.
    assert.deepEqual(
      result.joins.map((j) => j.gapMs),
      [DEFAULT_JOIN_PAUSES_MS.sentence, DEFAULT_JOIN_PAUSES_MS.clause, DEFAULT_JOIN_PAUSES_MS.word, 800, DEFAULT_JOIN_PAUSES_MS.paragraph],
    );
    const report = measureJoins(pcm.samples, RATE, result.joins.map((j) => j.atSeconds));
    report.joins.forEach((j, i) => {
      assert.equal(j.click, false, `join ${i}: step ${j.step.toFixed(4)}`);
      // The fades bring hard edges to zero: the step next to a join is a fraction of the tone's slope.
      assert.ok(j.step < 0.05, `join ${i}: step ${j.step.toFixed(4)}`);
      assert.ok(Math.abs(j.gapMs - (result.joins[i]?.gapMs ?? 0)) <= 3, `join ${i}: measured ${j.gapMs} ms vs planned ${result.joins[i]?.gapMs ?? 0} ms`);
    });
    // The file's own start and end are left as the pieces had them.
    assert.equal(pcm.samples.slice(0, ms(200)).every((v) => Math.abs(v) < SILENCE_THRESHOLD), true, 'leading quiet kept');
  });

  test('a faster speaking rate shortens the pauses; custom pauses apply', async () => {
    const pieces = [{ audio: wavFile(speechLike(3, 200, 200, 5), RATE), boundary: 'sentence' as const }, { audio: wavFile(speechLike(3, 200, 200, 6), RATE) }];
    const fast = await joinAudio(pieces, { format: 'wav', outputPath: join(dir, 'fast.wav'), speakingRate: 2 });
    assert.equal(fast.joins[0]?.gapMs, Math.round(DEFAULT_JOIN_PAUSES_MS.sentence / 2));
    const custom = await joinAudio(pieces, { format: 'wav', outputPath: join(dir, 'custom.wav'), pausesMs: { sentence: 500 } });
    assert.equal(custom.joins[0]?.gapMs, 500);
  });

  test('silence before the first piece, and pieces given as files', async () => {
    const first = join(dir, 'first.wav');
    await writeFile(first, wavFile(speechLike(2, 100, 100, 8), RATE));
    const result = await joinAudio([{ audio: { path: first }, pauseBeforeMs: 500 }], { format: 'wav', outputPath: join(dir, 'lead.wav') });
    const pcm = pcmFromWav(await readFile(result.path));
    assert.ok(pcm);
    assert.equal(pcm.samples.length, ms(500) + speechLike(2, 100, 100, 8).length);
    assert.deepEqual(result.joins, []);
  });

  test('nothing to join is refused', async () => {
    await assert.rejects(joinAudio([], { format: 'wav', outputPath: join(dir, 'none.wav') }), (err) => err instanceof PermanentError && err.code === 'INVALID_ARGUMENT');
  });
});
