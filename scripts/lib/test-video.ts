/**
 * Test videos made at run time with ffmpeg from the fixtures: an English reading (the three LibriVox
 * sentences of test/fixtures/audio, each followed by 1.5 s of silence, repeated to the length
 * wanted) over a still picture (test/fixtures/ocr/phototest.tif), H.264 + AAC in MP4.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runProcess } from '../../shared/engines/exec.js';
import { fixturePath } from './paths.js';

const READINGS = ['sense_and_sensibility_01_austen_64kb-0870', 'sense_and_sensibility_01_austen_64kb-0880', 'sense_and_sensibility_01_austen_64kb-0890'];

async function ffmpeg(args: string[]): Promise<void> {
  const r = await runProcess('ffmpeg', ['-v', 'error', '-nostdin', '-y', ...args], { timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`ffmpeg failed: ${r.stderr}`);
}

/** An MP4 of whole readings lasting `minSeconds` or more (~20 s per round of the three), or exactly `exactSeconds`. */
export async function makeTestVideo(minSeconds = 15, exactSeconds?: number): Promise<{ body: Buffer; durationSeconds: number; speech: Buffer }> {
  const dir = await mkdtemp(join(tmpdir(), 'test-video-'));
  try {
    const rounds = Math.max(1, Math.ceil(Math.max(minSeconds, exactSeconds ?? 0) / 19.9));
    const inputs = Array.from({ length: rounds }, () => READINGS).flat();
    const speech = join(dir, 'speech.wav');
    const pads = inputs.map((_, i) => `[${i}:a]apad=pad_dur=1.5[a${i}]`).join(';');
    await ffmpeg([
      ...inputs.flatMap((r) => ['-i', fixturePath(`audio/${r}.wav`)]),
      '-filter_complex', `${pads};${inputs.map((_, i) => `[a${i}]`).join('')}concat=n=${inputs.length}:v=0:a=1[a]`,
      '-map', '[a]', ...(exactSeconds ? ['-t', String(exactSeconds)] : []), '-ar', '16000', '-ac', '1', speech,
    ]);
    const probe = await runProcess('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', speech]);
    const durationSeconds = Number(probe.stdout.trim());
    const out = join(dir, 'video.mp4');
    await ffmpeg([
      '-loop', '1', '-framerate', '2', '-t', String(durationSeconds), '-i', fixturePath('ocr/phototest.tif'), '-i', speech,
      '-vf', 'scale=640:360:force_original_aspect_ratio=decrease,pad=640:360:(ow-iw)/2:(oh-ih)/2,format=yuv420p',
      '-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'stillimage', '-c:a', 'aac', '-b:a', '64k', '-movflags', '+faststart', out,
    ]);
    return { body: await readFile(out), durationSeconds, speech: await readFile(speech) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** ffprobe's streams and duration of a media file. */
export async function probeStreams(path: string): Promise<{ streams: { codec_type: string; codec_name: string; duration?: string }[]; format: { duration: string } }> {
  const r = await runProcess('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_type,codec_name,duration:format=duration', '-of', 'json', path]);
  if (r.code !== 0) throw new Error(`ffprobe failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as { streams: { codec_type: string; codec_name: string; duration?: string }[]; format: { duration: string } };
}

/** Mono 8 kHz s16 samples of a file's first audio stream (for comparing tracks). */
export async function pcm8k(path: string): Promise<Int16Array> {
  const dir = await mkdtemp(join(tmpdir(), 'test-pcm-'));
  try {
    const out = join(dir, 'a.raw');
    await ffmpeg(['-i', path, '-map', '0:a:0', '-ac', '1', '-ar', '8000', '-f', 's16le', out]);
    const b = await readFile(out);
    return new Int16Array(b.buffer, b.byteOffset, Math.floor(b.length / 2));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
