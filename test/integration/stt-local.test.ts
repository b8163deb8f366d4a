/**
 * The local speech-to-text engine with the real pocketsphinx and ffmpeg, on real read speech (the
 * corpus's LibriVox clips, whose reference transcripts sit beside them): word error rate and
 * real-time factor per file are measured and reported as test diagnostics, bounded by assertions.
 * Also the whole path (transcribeAudio: normalize, split, transcribe, assemble, subtitles), bad
 * input, unsupported languages and aborts.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { PermanentError, TransientError } from '../../shared/errors/index.js';
import { createLocalSttEngine } from '../../shared/engines/stt/local.js';
import { wordErrors } from '../../shared/engines/stt/metrics.js';
import { transcribeAudio } from '../../shared/engines/stt/transcribe.js';
import type { TranscribeProgress } from '../../shared/engines/stt/transcribe.js';
import type { SttResult } from '../../shared/engines/stt/types.js';
import { toPlainText, toSrt, toWebVtt } from '../../shared/media/transcript.js';
import { fixturePath } from '../helpers/paths.js';

const CLIPS = ['0870', '0880', '0890'] as const;
const clipWav = (n: string): string => fixturePath(`audio/sense_and_sensibility_01_austen_64kb-${n}.wav`);
const clipText = (n: string): string => readFileSync(fixturePath(`audio/sense_and_sensibility_01_austen_64kb-${n}.txt`), 'utf8');

const engine = createLocalSttEngine();
let work: string;

function ffmpeg(...args: string[]): void {
  execFileSync('ffmpeg', ['-nostdin', '-v', 'error', '-y', ...args]);
}

/** Clips 0880 and 0890 with 1.5 s of silence between them (9.79 s; 0890 starts at 4.49 s). */
function makeRecording(out: string): void {
  const gap = ['-f', 'lavfi', '-t', '1.5', '-i', 'anullsrc=r=16000:cl=mono'];
  ffmpeg('-i', clipWav('0880'), ...gap, '-i', clipWav('0890'), '-filter_complex', 'concat=n=3:v=0:a=1', '-c:a', 'pcm_s16le', '-fflags', '+bitexact', '-flags:a', '+bitexact', out);
}

const text = (r: SttResult): string => r.segments.map((s) => s.text).join(' ');
/** Each clip's transcript, kept for the tests that compare against it (transcribing costs seconds). */
const byClip = new Map<string, SttResult>();

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'stt-local-test-'));
});

after(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('LibriVox read speech', () => {
  const totals = { errors: 0, words: 0, audio: 0, engine: 0 };

  for (const clip of CLIPS) {
    test(`clip ${clip}: word error rate, timings, confidences`, async (t) => {
      const result = await engine.transcribe({ path: clipWav(clip) });
      byClip.set(clip, result);
      const reference = clipText(clip);
      const e = wordErrors(reference, text(result));
      const rtf = result.engineMs / 1000 / result.durationSeconds;
      t.diagnostic(`clip ${clip}: ${result.durationSeconds.toFixed(2)} s, WER ${(e.wer * 100).toFixed(1)} % (S ${e.substitutions}, D ${e.deletions}, I ${e.insertions} of ${e.referenceWords}), RTF ${rtf.toFixed(2)} (${result.engineMs} ms)`);
      t.diagnostic(`  ref: ${reference.trim()}`);
      t.diagnostic(`  hyp: ${text(result)}`);
      totals.errors += e.substitutions + e.deletions + e.insertions;
      totals.words += e.referenceWords;
      totals.audio += result.durationSeconds;
      totals.engine += result.engineMs / 1000;

      assert.equal(result.engine, 'local');
      assert.equal(result.model, 'pocketsphinx-en-us');
      assert.equal(result.language, 'en-US');
      // Measured 21–38 % per clip; the bound leaves room for nothing but noise.
      assert.ok(e.wer <= 0.5, `WER ${e.wer}`);
      let last = 0;
      for (const segment of result.segments) {
        assert.ok(segment.start >= last - 1e-9 && segment.end >= segment.start && segment.end <= result.durationSeconds + 1e-9, JSON.stringify(segment));
        assert.ok(segment.words && segment.words.length > 0);
        assert.equal(segment.words.map((w) => w.text).join(' '), segment.text);
        for (const w of segment.words) {
          assert.ok(w.start >= segment.start - 1e-9 && w.end <= segment.end + 1e-9 && w.end >= w.start, JSON.stringify(w));
          assert.ok(w.confidence !== undefined && w.confidence >= 0 && w.confidence <= 1);
          assert.doesNotMatch(w.text, /^<|\(\d+\)$|^\[|^\+/, 'no fillers or pronunciation variants');
        }
        last = segment.end;
      }
    });
  }

  test('all clips together', (t) => {
    const wer = totals.errors / totals.words;
    t.diagnostic(`all clips: ${totals.audio.toFixed(1)} s of audio, WER ${(wer * 100).toFixed(1)} % over ${totals.words} words, RTF ${(totals.engine / totals.audio).toFixed(2)}`);
    assert.ok(totals.words > 0 && wer <= 0.4, `WER ${wer}`);
  });
});

describe('transcribeAudio: any format, any length', () => {
  test('an MP3 transcribes about as well as the WAV it was made from', async (t) => {
    const mp3 = join(work, 'clip.mp3');
    // 64 kb/s: ffmpeg's default for 16 kHz mono (24 kb/s) costs pocketsphinx far more (63 % WER
    // instead of 34 % measured on the three clips joined).
    ffmpeg('-i', clipWav('0880'), '-c:a', 'libmp3lame', '-b:a', '64k', mp3);
    const fromMp3 = await transcribeAudio(engine, { path: mp3 });
    const fromWav = byClip.get('0880') ?? (await engine.transcribe({ path: clipWav('0880') }));
    const werMp3 = wordErrors(clipText('0880'), toPlainText(fromMp3.transcript)).wer;
    const werWav = wordErrors(clipText('0880'), text(fromWav)).wer;
    t.diagnostic(`0880 as MP3 64 kb/s: WER ${(werMp3 * 100).toFixed(1)} % (WAV ${(werWav * 100).toFixed(1)} %)`);
    assert.ok(werMp3 <= werWav + 0.15);
  });

  test('declared headerless PCM (goforward.raw)', async (t) => {
    // English of any region uses the US model, and keeps the language asked for.
    const result = await transcribeAudio(engine, { path: fixturePath('audio/goforward.raw'), raw: { encoding: 's16le', sampleRate: 16000 }, language: 'en-GB' });
    assert.equal(result.transcript.language, 'en-GB');
    const hyp = toPlainText(result.transcript);
    t.diagnostic(`goforward.raw: "${hyp.trim()}"`);
    assert.ok(wordErrors(readFileSync(fixturePath('audio/goforward.txt'), 'utf8'), hyp).wer <= 0.25, hyp);
  });

  test('a longer recording: split in its pauses, transcribed two segments at a time, times in the recording', async (t) => {
    const recording = join(work, 'two-clips.wav');
    makeRecording(recording);
    const progress: TranscribeProgress[] = [];
    const result = await transcribeAudio(engine, { path: recording }, { maxSegmentSeconds: 7, concurrency: 2, onProgress: (p) => void progress.push(p) });
    const { transcript } = result;
    const reference = ['0880', '0890'].map(clipText).join(' ');
    const e = wordErrors(reference, toPlainText(transcript));
    t.diagnostic(
      `two clips joined: ${result.durationSeconds.toFixed(1)} s in ${result.segmentCount} segments (${result.cuts.join(', ')}), WER ${(e.wer * 100).toFixed(1)} %, ` +
        `prepare ${result.prepareMs} ms, engine ${result.engineMs} ms, total ${result.totalMs} ms (RTF ${(result.totalMs / 1000 / result.durationSeconds).toFixed(2)} wall with 2 at a time)`,
    );
    assert.ok(result.segmentCount >= 2);
    assert.deepEqual(result.cuts.at(-1), 'end');
    assert.ok(result.cuts.slice(0, -1).every((c) => c === 'silence'));
    assert.ok(e.wer <= 0.45, `WER ${e.wer}`);
    assert.equal(transcript.engine, 'local');
    assert.equal(transcript.language, 'en-US');
    assert.deepEqual(progress[0], { segmentsDone: 0, segmentCount: result.segmentCount, secondsDone: 0, durationSeconds: result.durationSeconds });
    assert.equal(progress.length, result.segmentCount + 1);
    assert.equal(progress.at(-1)?.segmentsDone, result.segmentCount);
    assert.ok(Math.abs((progress.at(-1)?.secondsDone ?? 0) - result.durationSeconds) < 1e-6);
    // The second clip starts at 2.99 + 1.5 = 4.49 s, "selfish" ~2.7 s into it: timed in the recording, not in its segment.
    const selfish = transcript.segments.flatMap((s) => s.words ?? []).find((w) => w.text === 'selfish');
    assert.ok(selfish && selfish.start > 4.49 + 2 && selfish.end <= result.durationSeconds, JSON.stringify(selfish));
    let last = 0;
    for (const s of transcript.segments) {
      assert.ok(s.start >= last && s.end <= result.durationSeconds);
      last = s.start;
    }

    const srt = toSrt(transcript);
    const srtCues = srt.trim().split('\n\n');
    srtCues.forEach((cue, i) => assert.match(cue, new RegExp(`^${i + 1}\\n\\d\\d:\\d\\d:\\d\\d,\\d{3} --> \\d\\d:\\d\\d:\\d\\d,\\d{3}\\n[^\\n]+(\\n[^\\n]+)?$`), cue));
    const vtt = toWebVtt(transcript);
    assert.ok(vtt.startsWith('WEBVTT\n\n'));
    assert.equal(vtt.split('\n\n').length - 1, srtCues.length);
    t.diagnostic(`first cue: ${JSON.stringify(srtCues[0])}`);
  });

  test('silence only: an empty transcript, not an error', async () => {
    const silence = join(work, 'silence.wav');
    ffmpeg('-f', 'lavfi', '-i', 'anullsrc=r=16000:cl=mono', '-t', '3', '-c:a', 'pcm_s16le', silence);
    const result = await transcribeAudio(engine, { path: silence });
    assert.deepEqual(result.transcript.segments, []);
    assert.equal(toPlainText(result.transcript), '');
  });
});

describe('failures', () => {
  test('a language without a model fails at once, before any work', async () => {
    const started = performance.now();
    await assert.rejects(transcribeAudio(engine, { path: clipWav('0880'), language: 'de-DE' }), (err: unknown) => err instanceof PermanentError && err.code === 'LANGUAGE_NOT_SUPPORTED' && /de-DE/.test(err.message));
    await assert.rejects(engine.transcribe({ path: clipWav('0880'), language: 'fr' }), (err: unknown) => err instanceof PermanentError && err.code === 'LANGUAGE_NOT_SUPPORTED' && /installed: en-US/.test(err.message));
    assert.ok(performance.now() - started < 1000);
  });

  for (const name of ['bad.wav', 'null.wav', 'evil.wav', 'awful.wav']) {
    test(`corpus ${name}: a clear permanent error, quickly`, async () => {
      const started = performance.now();
      await assert.rejects(transcribeAudio(engine, { path: fixturePath(`audio/${name}`) }), (err: unknown) => {
        assert.ok(err instanceof PermanentError, String(err));
        assert.ok(['INPUT_CORRUPT', 'NO_AUDIO'].includes(err.code), err.code);
        return true;
      });
      assert.ok(performance.now() - started < 10_000);
    });
  }

  test('random bytes named .wav', async () => {
    const f = join(work, 'random.wav');
    await writeFile(f, Buffer.from(Array.from({ length: 20_000 }, (_, i) => (i * 7919 + 13) % 251)));
    await assert.rejects(transcribeAudio(engine, { path: f }), (err: unknown) => err instanceof PermanentError && err.code === 'UNSUPPORTED_CONTENT_TYPE');
  });

  test('the engine refuses audio that is not normalized, and audio over its limit', async () => {
    const stereo = join(work, 'stereo.wav');
    ffmpeg('-i', clipWav('0880'), '-ac', '2', '-ar', '44100', stereo);
    await assert.rejects(engine.transcribe({ path: stereo }), (err: unknown) => err instanceof PermanentError && err.code === 'INPUT_CORRUPT' && /44100 Hz, 2 channel/.test(err.message));
    await assert.rejects(createLocalSttEngine({ maxInputSeconds: 2 }).transcribe({ path: clipWav('0880') }), (err: unknown) => err instanceof PermanentError && err.code === 'INPUT_TOO_LARGE');
  });

  test('a missing recognizer is transient (an installation problem, not the recording)', async () => {
    await assert.rejects(createLocalSttEngine({ binary: 'pocketsphinx_not_installed' }).transcribe({ path: clipWav('0880') }), (err: unknown) => err instanceof TransientError && err.code === 'ENGINE_UNAVAILABLE');
    const broken = createLocalSttEngine({ models: { en: { name: 'x', language: 'en-US', hmm: '/nonexistent', lm: '/nonexistent', dict: '/nonexistent' } } });
    await assert.rejects(broken.transcribe({ path: clipWav('0880') }), (err: unknown) => err instanceof TransientError && err.code === 'ENGINE_UNAVAILABLE' && /pocketsphinx-en-us/.test(err.message));
  });

  test('aborting kills pocketsphinx and rejects at once with a transient error', async () => {
    const recording = join(work, 'abort-me.wav');
    makeRecording(recording);
    const controller = new AbortController();
    const started = performance.now();
    const running = engine.transcribe({ path: recording }, { signal: controller.signal });
    setTimeout(() => controller.abort(new Error('job cancelled')), 300);
    await assert.rejects(running, (err: unknown) => err instanceof TransientError && /job cancelled/.test(err.message));
    assert.ok(performance.now() - started < 2000, `took ${performance.now() - started} ms`);
    const left = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).split('\n').filter((l) => l.includes(recording));
    assert.deepEqual(left, [], 'no recognizer left running');
    await assert.rejects(transcribeAudio(engine, { path: recording }, { signal: controller.signal }), TransientError);
  });
});
