/**
 * The media helpers with the real ffmpeg/ffprobe: every supported container (made here from a
 * corpus recording), declared and undeclared raw PCM, the corpus's broken WAVs and other bad input
 * (each must fail with a clear permanent error, quickly), and splitting on silence.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { copyFile, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { PermanentError, TransientError } from '../../shared/errors/index.js';
import { normalizeAudio } from '../../shared/media/normalize.js';
import { probeMedia } from '../../shared/media/probe.js';
import { splitAudio } from '../../shared/media/segments.js';
import { isNormalizedWav, parseWavHeader, readWavInfo } from '../../shared/media/wav.js';
import { fixturePath } from '../helpers/paths.js';

const SPEECH = fixturePath('audio/sense_and_sensibility_01_austen_64kb-0870.wav');
const SPEECH_SECONDS = 7.1;

let work: string;

/** Runs ffmpeg quietly; the test inputs it makes are fixed, so a failure is a test bug. */
function ffmpeg(...args: string[]): void {
  execFileSync('ffmpeg', ['-nostdin', '-v', 'error', '-y', ...args]);
}

/** The three LibriVox clips with 1.5 s of digital silence between them (~19.4 s). */
function makeRecording(out: string): void {
  const clip = (n: string): string => fixturePath(`audio/sense_and_sensibility_01_austen_64kb-${n}.wav`);
  const gap = ['-f', 'lavfi', '-t', '1.5', '-i', 'anullsrc=r=16000:cl=mono'];
  ffmpeg('-i', clip('0870'), ...gap, '-i', clip('0880'), ...gap, '-i', clip('0890'), '-filter_complex', 'concat=n=5:v=0:a=1', '-c:a', 'pcm_s16le', '-fflags', '+bitexact', '-flags:a', '+bitexact', out);
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'stt-media-test-'));
});

after(async () => {
  await rm(work, { recursive: true, force: true });
});

const out = (name: string): string => join(work, name);

describe('every supported container normalizes to 16 kHz mono WAV', () => {
  const formats: { name: string; make: (file: string) => void; container: string; codec: string; channels: number; sampleRate: number; video?: boolean }[] = [
    { name: 'speech.wav', make: (f) => execFileSync('cp', [SPEECH, f]), container: 'wav', codec: 'pcm_s16le', channels: 1, sampleRate: 16000 },
    { name: 'speech.flac', make: (f) => ffmpeg('-i', SPEECH, '-ar', '44100', '-ac', '2', f), container: 'flac', codec: 'flac', channels: 2, sampleRate: 44100 },
    { name: 'speech.mp3', make: (f) => ffmpeg('-i', SPEECH, '-c:a', 'libmp3lame', '-b:a', '64k', f), container: 'mp3', codec: 'mp3', channels: 1, sampleRate: 16000 },
    { name: 'speech.ogg', make: (f) => ffmpeg('-i', SPEECH, '-c:a', 'libopus', f), container: 'ogg', codec: 'opus', channels: 1, sampleRate: 48000 },
    { name: 'speech.m4a', make: (f) => ffmpeg('-i', SPEECH, '-c:a', 'aac', f), container: 'mp4', codec: 'aac', channels: 1, sampleRate: 16000 },
    { name: 'speech.aac', make: (f) => ffmpeg('-i', SPEECH, '-c:a', 'aac', '-f', 'adts', f), container: 'aac', codec: 'aac', channels: 1, sampleRate: 16000 },
    { name: 'speech.webm', make: (f) => ffmpeg('-i', SPEECH, '-c:a', 'libopus', f), container: 'webm', codec: 'opus', channels: 1, sampleRate: 48000 },
    {
      name: 'speech.mp4',
      make: (f) => ffmpeg('-f', 'lavfi', '-t', String(SPEECH_SECONDS), '-i', 'color=c=blue:s=160x120:r=5', '-i', SPEECH, '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-ac', '2', '-ar', '44100', f),
      container: 'mp4',
      codec: 'aac',
      channels: 2,
      sampleRate: 44100,
      video: true,
    },
  ];

  for (const format of formats) {
    test(format.name, async () => {
      const input = out(format.name);
      format.make(input);
      const info = await probeMedia(input);
      assert.equal(info.container, format.container);
      assert.equal(info.audio?.codec, format.codec);
      assert.equal(info.audio?.channels, format.channels);
      assert.equal(info.audio?.sampleRate, format.sampleRate);
      assert.equal(info.hasVideo, format.video ?? false);
      // ADTS AAC declares no duration: ffprobe estimates it from the bit rate.
      const tolerance = format.container === 'aac' ? 0.5 : 0.15;
      assert.ok(info.durationSeconds !== undefined && Math.abs(info.durationSeconds - SPEECH_SECONDS) < tolerance, `probed ${info.durationSeconds}`);

      const normalized = await normalizeAudio(input, out(`${format.name}.16k.wav`));
      assert.ok(isNormalizedWav(normalized.wav));
      assert.equal(normalized.wav.dataOffset, 44, 'a plain 44-byte header');
      // Codec priming and padding (AAC, Opus, MP3) move the length by a few tens of milliseconds.
      assert.ok(Math.abs(normalized.durationSeconds - SPEECH_SECONDS) < 0.1, `normalized to ${normalized.durationSeconds} s`);
      assert.deepEqual(await readWavInfo(normalized.path), normalized.wav);
    });
  }

  test('WAV input comes out sample for sample', async () => {
    const normalized = await normalizeAudio(SPEECH, out('identity.wav'));
    assert.ok(readFileSync(normalized.path).equals(readFileSync(SPEECH)), 'a 16 kHz mono s16le WAV is copied exactly');
  });
});

describe('headerless PCM', () => {
  test('is read with its declared format', async () => {
    const normalized = await normalizeAudio(fixturePath('audio/goforward.raw'), out('goforward.wav'), { raw: { encoding: 's16le', sampleRate: 16000 } });
    assert.equal(normalized.source.container, 'raw');
    assert.equal(normalized.durationSeconds, 89160 / 32000);
    const declared8k = await normalizeAudio(fixturePath('audio/goforward.raw'), out('goforward-8k.wav'), { raw: { encoding: 's16le', sampleRate: 8000 } });
    assert.ok(Math.abs(declared8k.durationSeconds - (2 * 89160) / 32000) < 0.01, 'the declared rate decides the duration');
  });

  test('without a declaration it is refused, saying how to fix it', async () => {
    await assert.rejects(
      normalizeAudio(fixturePath('audio/goforward.raw'), out('undeclared.wav')),
      (err: unknown) => err instanceof PermanentError && err.code === 'UNSUPPORTED_CONTENT_TYPE' && /encoding and sample rate are declared/.test(err.message),
    );
  });

  test('an impossible declaration is refused before ffmpeg runs', async () => {
    await assert.rejects(normalizeAudio(fixturePath('audio/goforward.raw'), out('x.wav'), { raw: { encoding: 's16le', sampleRate: 1_092_676 } }), (err: unknown) => err instanceof PermanentError && /sample rate/.test(err.message));
  });
});

describe('bad input fails clearly, permanently and quickly', () => {
  const cases: { name: string; make: () => Promise<string>; code: string; message: RegExp }[] = [
    { name: 'bad.wav (a fmt chunk claiming 1.7 GB)', make: () => Promise.resolve(fixturePath('audio/bad.wav')), code: 'INPUT_CORRUPT', message: /WAV file cannot be read: Failed to read extradata/ },
    { name: 'evil.wav (no data chunk)', make: () => Promise.resolve(fixturePath('audio/evil.wav')), code: 'INPUT_CORRUPT', message: /no 'data' tag found/ },
    { name: 'null.wav (no samples)', make: () => Promise.resolve(fixturePath('audio/null.wav')), code: 'NO_AUDIO', message: /holds no audio samples/ },
    { name: 'awful.wav (441 samples at 1 MHz)', make: () => Promise.resolve(fixturePath('audio/awful.wav')), code: 'NO_AUDIO', message: /no audio samples|only \d+ ms/ },
    {
      name: 'random bytes named .wav',
      make: async () => {
        const f = out('random.wav');
        // Deterministic noise that starts with no known signature.
        await writeFile(f, Buffer.from(Array.from({ length: 50_000 }, (_, i) => (i * 7919 + 13) % 251)));
        return f;
      },
      code: 'UNSUPPORTED_CONTENT_TYPE',
      message: /not a supported audio or video file/,
    },
    {
      name: 'a PDF declared as audio',
      make: async () => {
        const f = out('document.mp3');
        await copyFile(fixturePath('pdf/minimal-document.pdf'), f);
        return f;
      },
      code: 'UNSUPPORTED_CONTENT_TYPE',
      message: /starts with bytes 255044462d/,
    },
    {
      name: 'an HLS playlist naming a local file',
      make: async () => {
        const f = out('playlist.wav');
        await writeFile(f, `#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n${SPEECH}\n#EXT-X-ENDLIST\n`);
        return f;
      },
      code: 'UNSUPPORTED_CONTENT_TYPE',
      message: /not a supported/,
    },
    {
      name: 'an empty file',
      make: async () => {
        const f = out('empty.wav');
        await writeFile(f, '');
        return f;
      },
      code: 'INPUT_CORRUPT',
      message: /empty/,
    },
    {
      name: 'a video without sound',
      make: async () => {
        const f = out('silent-film.mp4');
        ffmpeg('-f', 'lavfi', '-i', 'color=c=red:s=64x64:r=5', '-t', '2', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', f);
        return Promise.resolve(f);
      },
      code: 'NO_AUDIO',
      message: /has video but no audio track/,
    },
    {
      name: 'an MP3 cut after its first kilobyte',
      make: async () => {
        const mp3 = out('whole.mp3');
        ffmpeg('-i', SPEECH, '-c:a', 'libmp3lame', '-b:a', '64k', mp3);
        const f = out('truncated.mp3');
        await writeFile(f, readFileSync(mp3).subarray(0, 1024));
        return f;
      },
      // 1 KiB of 64 kb/s MP3 is ~0.1 s: decodes to almost nothing.
      code: 'NO_AUDIO',
      message: /only \d+ ms|no audio samples/,
    },
  ];

  for (const c of cases) {
    test(c.name, async () => {
      const input = await c.make();
      const target = out(`${c.name.replace(/\W+/g, '-')}.out.wav`);
      const started = performance.now();
      await assert.rejects(normalizeAudio(input, target), (err: unknown) => {
        assert.ok(err instanceof PermanentError, `${String(err)} should be permanent`);
        assert.equal(err.code, c.code, err.message);
        assert.match(err.message, c.message);
        return true;
      });
      assert.ok(performance.now() - started < 10_000, 'no hang');
      assert.deepEqual((await readdir(work)).filter((f) => f === target.slice(work.length + 1)), [], 'nothing left behind');
    });
  }

  test('a recording over the maximum duration', async () => {
    await assert.rejects(normalizeAudio(SPEECH, out('long.wav'), { maxDurationSeconds: 3 }), (err: unknown) => err instanceof PermanentError && err.code === 'INPUT_TOO_LARGE' && /7\.1 s; the limit is 3\.0 s/.test(err.message));
  });

  test('a WAV whose data chunk claims more than the file holds is read up to its end', async () => {
    const f = out('truncated.wav');
    await writeFile(f, readFileSync(SPEECH).subarray(0, 44 + 32000));
    const normalized = await normalizeAudio(f, out('truncated.16k.wav'));
    assert.equal(normalized.durationSeconds, 1);
  });

  test('an aborted call is transient', async () => {
    const controller = new AbortController();
    controller.abort(new Error('deadline'));
    await assert.rejects(normalizeAudio(SPEECH, out('aborted.wav'), { signal: controller.signal }), (err: unknown) => err instanceof TransientError);
  });
});

describe('splitting on silence', () => {
  test('cuts in the pauses, covers the recording exactly, sample for sample', async () => {
    const recording = out('three-clips.wav');
    makeRecording(recording);
    const info = await readWavInfo(recording);
    assert.ok(info);
    const result = await splitAudio(recording, out('segments'), { maxSegmentSeconds: 8 });
    assert.equal(result.durationSeconds, info.durationSeconds);
    assert.ok(result.silences.length >= 2, `pauses found: ${JSON.stringify(result.silences)}`);
    assert.ok(result.segments.length >= 3);
    let samples = 0;
    result.segments.forEach((s, i) => {
      assert.ok(s.end - s.start <= 8 + 1e-6);
      if (i < result.segments.length - 1) assert.equal(s.cut, 'silence', `segment ${i} ends in a pause`);
      const file = readFileSync(s.path);
      const header = parseWavHeader(file);
      assert.ok(header && isNormalizedWav(header));
      assert.ok(Math.abs(header.durationSeconds - (s.end - s.start)) < 1 / 16000 + 1e-9);
      samples += header.dataBytes;
    });
    assert.equal(samples, info.dataBytes, 'no sample lost or duplicated');
    // The 1.5 s gaps start at 7.1 s and 10.09 s: both cuts fall inside them.
    const cuts = result.segments.slice(0, -1).map((s) => s.end);
    assert.ok(cuts.some((t) => t > 7.1 && t < 8.6), `cuts: ${cuts.join(', ')}`);
  });

  test('continuous sound without pauses is cut at its quietest moments', async () => {
    const noise = out('noise.wav');
    // Pink noise whose loudness swings every 4 s: no pause anywhere, but quiet troughs.
    ffmpeg('-f', 'lavfi', '-i', 'anoisesrc=d=25:c=pink:r=16000:a=0.3', '-af', "volume='0.2+0.8*abs(sin(PI*t/4))':eval=frame", '-ac', '1', '-c:a', 'pcm_s16le', '-fflags', '+bitexact', '-flags:a', '+bitexact', noise);
    const result = await splitAudio(noise, out('noise-segments'), { maxSegmentSeconds: 10 });
    assert.equal(result.silences.length, 0);
    assert.ok(result.segments.length >= 3);
    for (const s of result.segments.slice(0, -1)) {
      assert.equal(s.cut, 'quiet');
      assert.ok(s.end - s.start <= 10 + 1e-6 && s.end - s.start >= 5 - 1e-6, JSON.stringify(s));
      // Troughs of |sin(πt/4)| are at multiples of 4 s.
      assert.ok(Math.abs(s.end / 4 - Math.round(s.end / 4)) * 4 < 0.6, `cut at ${s.end} is not near a trough`);
    }
  });

  test('refuses input that is not normalized audio', async () => {
    await assert.rejects(splitAudio(fixturePath('audio/goforward.raw'), out('nope')), (err: unknown) => err instanceof PermanentError && err.code === 'INPUT_CORRUPT');
  });
});
