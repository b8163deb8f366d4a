/**
 * The `local` text-to-speech engine with the real programs: flite (kal16) and festival
 * (festvox-us-slt-hts), espeak-ng when it is installed. Checks what comes out with tools that are
 * not the engine's: ffprobe for formats and durations, ffmpeg to decode, pocketsphinx to hear
 * whether the speech is intelligible, and the join measurements on the decoded audio of a long
 * text synthesized in chunks.
 *
 * Needs flite, festival with festvox-us-slt-hts, ffmpeg; the intelligibility tests need
 * pocketsphinx with pocketsphinx-en-us and are skipped without it.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';

import { z } from 'zod';

import { PermanentError, TransientError } from '../../shared/errors/index.js';
import { audioFacts, int16From, measureJoins, pcmFromWav } from '../../shared/engines/tts/audio.js';
import { createLocalTextToSpeechEngine } from '../../shared/engines/tts/local.js';
import { synthesizeLong } from '../../shared/engines/tts/long.js';
import type { LongSynthesisProgress } from '../../shared/engines/tts/long.js';
import type { AudioFormat, SynthesisRequest, TextToSpeechEngine } from '../../shared/engines/tts/types.js';
import { words } from '../helpers/text-metrics.js';

const run = promisify(execFile);

const engine = createLocalTextToSpeechEngine();
let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tts-local-test-'));
});
after(async () => {
  await engine.close();
  await rm(dir, { recursive: true, force: true });
});

/** A program on PATH? */
async function installed(program: string): Promise<boolean> {
  try {
    await run('sh', ['-c', `command -v ${program}`]);
    return true;
  } catch {
    return false;
  }
}

const ProbeSchema = z.object({
  streams: z.array(z.object({ codec_name: z.string(), sample_rate: z.string(), channels: z.number() })),
  format: z.object({ format_name: z.string(), duration: z.string() }),
});

/** What ffprobe says about a file. */
async function ffprobe(path: string): Promise<{ codec: string; sampleRate: number; channels: number; container: string; duration: number }> {
  const { stdout } = await run('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_name,sample_rate,channels:format=format_name,duration', '-of', 'json', path]);
  const p = ProbeSchema.parse(JSON.parse(stdout));
  const s = p.streams[0];
  assert.ok(s, `${path} has an audio stream`);
  return { codec: s.codec_name, sampleRate: Number(s.sample_rate), channels: s.channels, container: p.format.format_name, duration: Number(p.format.duration) };
}

/** The file decoded by ffmpeg to mono 16-bit PCM at `rate`. */
async function decode(path: string, rate: number): Promise<Int16Array> {
  const raw = `${path}.raw`;
  await run('ffmpeg', ['-nostdin', '-loglevel', 'error', '-y', '-i', path, '-ac', '1', '-ar', String(rate), '-f', 's16le', raw]);
  const samples = int16From(await readFile(raw));
  await rm(raw, { force: true });
  return samples;
}

async function save(name: string, audio: Buffer): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, audio);
  return path;
}

/** Word error rate of `hypothesis` against `reference` (word-level Levenshtein / reference words). */
function wordErrorRate(reference: string, hypothesis: string): number {
  const ref = words(reference);
  const hyp = words(hypothesis);
  let prev = Array.from({ length: hyp.length + 1 }, (_, j) => j);
  for (let i = 1; i <= ref.length; i++) {
    const cur = [i];
    for (let j = 1; j <= hyp.length; j++) {
      cur[j] = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + (ref[i - 1] === hyp[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return (prev[hyp.length] ?? 0) / Math.max(1, ref.length);
}

async function transcribe(wav16k: string): Promise<string> {
  const { stdout } = await run('pocketsphinx_continuous', ['-infile', wav16k, '-logfn', '/dev/null'], { maxBuffer: 1024 * 1024 });
  return stdout.trim();
}

const SHORT = 'We will meet at the station at nine in the morning. Then we will take the train to the city and visit the museum.';

/** Original prose for the long-text tests: three paragraphs, ~650 characters. */
const PROSE = [
  'The old lighthouse stood at the edge of the cliff, where the path gave out among the heather. Every night its beam swept across the water, and every morning the keeper climbed the stairs to polish the lens.',
  'Nobody remembered when the keeper had first arrived. Some said he came with the fishing fleet, others that he had been a schoolteacher in the town across the bay. What mattered was that the light never failed.',
  'In the winter storms the waves broke over the rocks below, throwing spray as high as the gallery. The keeper wrote in his log by the light of a small lamp: the wind, the barometer, the ships that passed.',
].join('\n\n');

describe('voices', () => {
  test('flite and festival are available; espeak-ng voices exist, available only when it is installed', async () => {
    const voices = await engine.listVoices();
    const byName = new Map(voices.map((v) => [v.name, v]));
    assert.deepEqual(
      [byName.get('flite-kal16')?.available, byName.get('flite-kal16')?.gender, byName.get('flite-kal16')?.naturalSampleRateHertz],
      [true, 'male', 16000],
    );
    assert.deepEqual([byName.get('festival-slt-hts')?.available, byName.get('festival-slt-hts')?.gender], [true, 'female']);
    const espeak = voices.filter((v) => v.synthesizer === 'espeak-ng');
    assert.ok(espeak.length > 5);
    assert.ok(espeak.every((v) => !v.languageCodes.some((c) => c.startsWith('en'))), 'espeak-ng never speaks English here');
    const hasEspeak = await installed('espeak-ng');
    assert.ok(espeak.every((v) => v.available === hasEspeak));
    if (!hasEspeak) assert.match(espeak[0]?.unavailableReason ?? '', /not installed/);
    const english = await engine.listVoices({ languageCode: 'en-GB' });
    assert.deepEqual(
      english.map((v) => v.name),
      ['flite-kal16', 'festival-slt-hts'],
    );
    assert.deepEqual(
      (await engine.listVoices({ languageCode: 'de-DE' })).map((v) => v.name),
      ['espeak-ng-de'],
    );
  });
});

describe('flite', () => {
  test('WAV at the voice rate, duration plausible and as ffprobe reads it', async () => {
    const started = performance.now();
    const r = await engine.synthesize({ input: { text: SHORT } });
    const wall = performance.now() - started;
    assert.equal(r.voice, 'flite-kal16');
    assert.equal(r.languageCode, 'en-US');
    assert.equal(r.format, 'wav');
    assert.equal(r.sampleRateHertz, 16000);
    assert.equal(r.inputBytes, Buffer.byteLength(SHORT));
    // Read speech runs at ~12–20 characters a second.
    assert.ok(r.durationSeconds > SHORT.length / 25 && r.durationSeconds < SHORT.length / 8, `${r.durationSeconds} s for ${SHORT.length} characters`);
    const probe = await ffprobe(await save('flite.wav', r.audio));
    assert.deepEqual([probe.codec, probe.sampleRate, probe.channels], ['pcm_s16le', 16000, 1]);
    assert.ok(Math.abs(probe.duration - r.durationSeconds) < 0.001);
    console.log(`flite: ${SHORT.length} characters → ${r.durationSeconds.toFixed(2)} s of speech in ${wall.toFixed(0)} ms`);
  });

  for (const [format, codec] of [
    ['mp3', 'mp3'],
    ['ogg', 'opus'],
  ] as const) {
    test(`${format}: the codec ffprobe sees, a duration that matches the decoded audio`, async () => {
      const wav = await engine.synthesize({ input: { text: SHORT } });
      const r = await engine.synthesize({ input: { text: SHORT }, format });
      assert.equal(r.format, format);
      const path = await save(`flite.${format}`, r.audio);
      const probe = await ffprobe(path);
      assert.equal(probe.codec, codec);
      assert.equal(probe.channels, 1);
      const decoded = await decode(path, 16000);
      const decodedSeconds = decoded.length / 16000;
      // The duration read from the file's own structure is what a decoder outputs (±1 frame), and the speech's length.
      assert.ok(Math.abs(r.durationSeconds - decodedSeconds) < 0.04, `${format}: ${r.durationSeconds} s vs ${decodedSeconds} s decoded`);
      assert.ok(Math.abs(r.durationSeconds - wav.durationSeconds) < 0.04, `${format}: ${r.durationSeconds} s vs ${wav.durationSeconds} s as WAV`);
      assert.equal(audioFacts(r.audio)?.format, format);
    });
  }

  test('another sample rate is resampled', async () => {
    const r = await engine.synthesize({ input: { text: 'A short sentence.' }, sampleRateHertz: 24000 });
    assert.equal(r.sampleRateHertz, 24000);
    assert.equal((await ffprobe(await save('flite-24k.wav', r.audio))).sampleRate, 24000);
  });

  test('speaking rate: twice as fast is about half as long', async () => {
    const normal = await engine.synthesize({ input: { text: SHORT } });
    const fast = await engine.synthesize({ input: { text: SHORT }, speakingRate: 2 });
    const slow = await engine.synthesize({ input: { text: SHORT }, speakingRate: 0.5 });
    const ratio = fast.durationSeconds / normal.durationSeconds;
    assert.ok(ratio > 0.45 && ratio < 0.6, `2×: ${ratio.toFixed(2)}`);
    const slowRatio = slow.durationSeconds / normal.durationSeconds;
    assert.ok(slowRatio > 1.7 && slowRatio < 2.2, `0.5×: ${slowRatio.toFixed(2)}`);
  });

  test('SSML: tags are not read out, a <break> is silence of its length', async () => {
    const plain = await engine.synthesize({ input: { text: 'Fish and chips. Then pudding.' } });
    const ssml = await engine.synthesize({ input: { ssml: '<speak><p>Fish &amp; chips.</p><break time="1500ms"/><p><prosody rate="slow">Then pudding.</prosody></p></speak>' } });
    const pcm = pcmFromWav(ssml.audio);
    assert.ok(pcm);
    const report = measureJoins(pcm.samples, pcm.sampleRate, []);
    const longest = report.longestNaturalPauseMs;
    assert.ok(longest >= 1450 && longest <= 1600, `the break: ${longest} ms of silence`);
    // Same words ('&' folded to 'and' by the voice), plus the break's extra silence; no tag names read out.
    const extra = ssml.durationSeconds - plain.durationSeconds;
    assert.ok(extra > 0.9 && extra < 1.5, `${extra.toFixed(2)} s longer than the plain text`);
  });

  test('a text over 5,000 bytes is planned into chunks, synthesized with progress and joined without gaps or clicks', async () => {
    const text = Array.from({ length: 10 }, () => PROSE).join('\n\n');
    assert.ok(Buffer.byteLength(text) > 6000);
    const progress: LongSynthesisProgress[] = [];
    const outputPath = join(dir, 'long.mp3');
    const started = performance.now();
    const result = await synthesizeLong(engine, { input: { text }, format: 'mp3' }, { outputPath, onProgress: (p) => void progress.push(p) });
    const wall = performance.now() - started;
    assert.equal(result.chunks.length, 2);
    assert.ok(result.chunks.every((c) => c.bytes <= 5000));
    assert.deepEqual(
      progress.map((p) => p.chunksDone),
      [1, 2, 2],
    );
    assert.equal(progress.at(-1)?.fraction, 1);
    assert.ok(progress.every((p, i) => i === 0 || p.fraction >= (progress[i - 1]?.fraction ?? 0)));

    // One playable MP3 whose duration is what it decodes to.
    const probe = await ffprobe(outputPath);
    assert.deepEqual([probe.codec, probe.channels, probe.sampleRate], ['mp3', 1, 16000]);
    assert.equal(result.bytes, (await readFile(outputPath)).length);
    const decoded = await decode(outputPath, 16000);
    assert.ok(Math.abs(decoded.length / 16000 - result.durationSeconds) < 0.1, `${result.durationSeconds} s vs ${decoded.length / 16000} s decoded`);

    // As long as the same text said in one go (flite takes it whole): no time lost or added at joins.
    const whole = await createLocalTextToSpeechEngine({ maxInputBytes: 100_000 }).synthesize({ input: { text } });
    const drift = result.durationSeconds / whole.durationSeconds - 1;
    assert.ok(Math.abs(drift) < 0.02, `joined ${result.durationSeconds.toFixed(2)} s vs one pass ${whole.durationSeconds.toFixed(2)} s`);

    // The join: in a pause no longer than the voice's own pauses (+50 ms), without a click.
    const report = measureJoins(decoded, 16000, result.joins.map((j) => j.atSeconds));
    for (const j of report.joins) {
      assert.equal(j.click, false, `click at ${j.atSeconds.toFixed(2)} s: step ${j.step.toFixed(4)}`);
      assert.ok(j.gapMs > 150 && j.gapMs <= report.longestNaturalPauseMs + 50, `gap ${j.gapMs.toFixed(0)} ms, longest natural pause ${report.longestNaturalPauseMs.toFixed(0)} ms`);
    }
    console.log(
      `flite long text: ${text.length} characters, ${result.chunks.length} chunks → ${result.durationSeconds.toFixed(1)} s MP3 (${result.bytes} bytes) in ${wall.toFixed(0)} ms ` +
        `(synthesis ${result.synthesisMs} ms, join ${result.joinMs} ms); joins ${report.joins.map((j) => `${j.gapMs.toFixed(0)} ms/step ${j.step.toFixed(4)}`).join(', ')}; ` +
        `natural pauses up to ${report.longestNaturalPauseMs.toFixed(0)} ms; drift vs one pass ${(drift * 100).toFixed(2)} %`,
    );
  });

  test('cancelling stops between chunks and leaves no file', async () => {
    const controller = new AbortController();
    const outputPath = join(dir, 'cancelled.wav');
    const small = createLocalTextToSpeechEngine({ maxInputBytes: 200 });
    const done: number[] = [];
    await assert.rejects(
      synthesizeLong(small, { input: { text: PROSE }, format: 'wav' }, { outputPath, signal: controller.signal, onProgress: (p) => {
        done.push(p.chunksDone);
        if (p.chunksDone === 1) controller.abort(new Error('job cancelled'));
      } }),
      (err) => err instanceof TransientError && /job cancelled/.test(err.message),
    );
    assert.deepEqual(done, [1]);
    assert.equal(existsSync(outputPath), false);
  });
});

describe('festival', () => {
  test('the natural voice: 32 kHz WAV, plausible duration; faster with a higher rate', async () => {
    const sentence = 'The keeper wrote in his log every night.';
    const started = performance.now();
    const r = await engine.synthesize({ input: { text: sentence }, voice: 'festival-slt-hts' });
    const wall = performance.now() - started;
    assert.equal(r.voice, 'festival-slt-hts');
    assert.equal(r.sampleRateHertz, 32000);
    assert.ok(r.durationSeconds > sentence.length / 25 && r.durationSeconds < sentence.length / 8, `${r.durationSeconds} s`);
    const probe = await ffprobe(await save('festival.wav', r.audio));
    assert.deepEqual([probe.codec, probe.sampleRate], ['pcm_s16le', 32000]);
    const fast = await engine.synthesize({ input: { text: sentence }, voice: 'festival-slt-hts', speakingRate: 1.5 });
    const ratio = fast.durationSeconds / r.durationSeconds;
    assert.ok(ratio > 0.58 && ratio < 0.76, `1.5×: ${ratio.toFixed(2)}`);
    console.log(`festival: ${sentence.length} characters → ${r.durationSeconds.toFixed(2)} s in ${wall.toFixed(0)} ms (1.5×: ${fast.durationSeconds.toFixed(2)} s)`);
  });

  test('chunks joined without gaps or clicks', async () => {
    // Two paragraphs in chunks of a few sentences, so the voice's own sentence pauses are there to compare with.
    const text = PROSE.split('\n\n').slice(0, 2).join('\n\n');
    const small = createLocalTextToSpeechEngine({ maxInputBytes: 260 });
    const outputPath = join(dir, 'festival-long.wav');
    const result = await synthesizeLong(small, { input: { text }, voice: 'festival-slt-hts', format: 'wav' }, { outputPath });
    assert.ok(result.chunks.length >= 2, `${result.chunks.length} chunks`);
    const pcm = pcmFromWav(await readFile(outputPath));
    assert.ok(pcm);
    assert.equal(pcm.sampleRate, 32000);
    const report = measureJoins(pcm.samples, pcm.sampleRate, result.joins.map((j) => j.atSeconds));
    assert.ok(report.longestNaturalPauseMs > 250, 'the chunks hold sentence pauses of their own');
    for (const j of report.joins) {
      assert.equal(j.click, false, `step ${j.step.toFixed(4)}`);
      assert.ok(j.gapMs > 150 && j.gapMs <= report.longestNaturalPauseMs + 50, `gap ${j.gapMs.toFixed(0)} ms, natural up to ${report.longestNaturalPauseMs.toFixed(0)} ms`);
    }
    console.log(
      `festival chunks: ${result.chunks.map((c) => `${c.bytes} B/${c.boundary}`).join(', ')}; joins ${report.joins.map((j) => `${j.gapMs.toFixed(0)} ms/step ${j.step.toFixed(4)}`).join(', ')}; ` +
        `natural pauses up to ${report.longestNaturalPauseMs.toFixed(0)} ms; ${text.length} characters in ${result.synthesisMs} ms of synthesis`,
    );
  });
});

describe('intelligibility (pocketsphinx)', () => {
  for (const voice of ['flite-kal16', 'festival-slt-hts']) {
    test(`${voice}: most words come back`, async (t) => {
      if (!(await installed('pocketsphinx_continuous'))) {
        t.skip('pocketsphinx_continuous is not installed');
        return;
      }
      // pocketsphinx's en-us model takes 16 kHz mono.
      const r = await engine.synthesize({ input: { text: SHORT }, voice, sampleRateHertz: 16000 });
      const heard = await transcribe(await save(`${voice}-16k.wav`, r.audio));
      const wer = wordErrorRate(SHORT, heard);
      console.log(`${voice}: word error rate ${(wer * 100).toFixed(0)} % ("${heard}")`);
      assert.ok(wer <= 0.25, `${(wer * 100).toFixed(0)} % word errors: "${heard}"`);
    });
  }
});

describe('espeak-ng (the fallback for other languages)', () => {
  test('German through espeak-ng when installed; LANGUAGE_NOT_SUPPORTED when not', async () => {
    const request: SynthesisRequest = { input: { text: 'Guten Morgen. Wie geht es Ihnen heute?' }, languageCode: 'de-DE' };
    if (await installed('espeak-ng')) {
      const r = await engine.synthesize(request);
      assert.equal(r.voice, 'espeak-ng-de');
      assert.equal(r.languageCode, 'de-DE');
      assert.ok(r.durationSeconds > 1 && r.durationSeconds < 6, `${r.durationSeconds} s`);
    } else {
      await assert.rejects(engine.synthesize(request), (err) => err instanceof PermanentError && err.code === 'LANGUAGE_NOT_SUPPORTED' && /espeak-ng is not installed/.test(err.message));
    }
  });
});

describe('refusals', () => {
  const cases: [string, SynthesisRequest, string, TextToSpeechEngine?][] = [
    ['an unknown voice', { input: { text: 'Hello.' }, voice: 'flite-nobody' }, 'VOICE_NOT_FOUND'],
    ['a voice that does not speak the language', { input: { text: 'Hallo.' }, voice: 'flite-kal16', languageCode: 'de' }, 'INVALID_ARGUMENT'],
    ['a language no voice speaks', { input: { text: 'Hello.' }, languageCode: 'tlh' }, 'LANGUAGE_NOT_SUPPORTED'],
    ['empty text', { input: { text: '  \n' } }, 'INPUT_EMPTY'],
    ['SSML without words', { input: { ssml: '<speak><break time="1s"/></speak>' } }, 'INPUT_EMPTY'],
    ['broken SSML', { input: { ssml: '<speak><p>unclosed</speak>' } }, 'INVALID_SSML'],
    ['a speaking rate out of range', { input: { text: 'Hello.' }, speakingRate: 3 }, 'INVALID_ARGUMENT'],
    ['an unknown format', { input: { text: 'Hello.' }, format: 'flac' as AudioFormat }, 'INVALID_ARGUMENT'],
    ['input over the limit', { input: { text: 'word '.repeat(1001) } }, 'INPUT_TOO_LARGE'],
    ['a missing program', { input: { text: 'Hello.' } }, 'ENGINE_MISCONFIGURED', createLocalTextToSpeechEngine({ commands: { flite: '/nonexistent/flite' } })],
  ];
  for (const [what, request, code, custom] of cases) {
    test(`${what}: PermanentError ${code}`, async () => {
      await assert.rejects((custom ?? engine).synthesize(request), (err) => err instanceof PermanentError && err.code === code);
    });
  }
});
