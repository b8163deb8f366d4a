/**
 * The joiner: concatenates the audio of a plan's chunks into one file, without gaps or clicks at
 * the joins, and reports what it made.
 *
 * How, and why:
 * - Every piece is decoded to 16-bit mono PCM at one sample rate (WAV pieces already in that form
 *   are read directly; anything else goes through ffmpeg) and the file is encoded once at the end.
 *   Concatenating MP3 or Ogg files as they are would put the encoder's delay and padding (tens of
 *   ms of silence, a frame boundary) at every join, and re-encoding lossy chunks would add a
 *   generation of loss: chunks meant for joining should be synthesized as WAV.
 * - At each join the silence the synthesizer left at the end of one piece and the start of the
 *   next is cut down to a short margin (a voice's pieces start and end with ~0.1–0.25 s of silence:
 *   two of those back to back are a pause no speaker makes), and a pause of the length the
 *   boundary calls for is put in its place: a sentence end gets a sentence's pause, a clause a
 *   comma's, a cut between words almost none, an SSML `<break>` exactly what it asked for. The
 *   defaults sit within the local voices' own pauses inside one request, measured as runs below
 *   -50 dBFS: flite kal16 makes ~320 ms after a sentence and ~230 ms after a comma, festival slt
 *   ~220–390 ms after a sentence; so a join sounds like one of the voice's own pauses. They shrink
 *   with a faster speaking rate, as the voices' own pauses do.
 * - Each trimmed side gets a 5 ms raised-cosine fade. Cuts fall in silence, so the fade is
 *   normally inaudible; when a piece has no silence at its edge (some engines' output), it keeps
 *   the waveform from jumping at the join, which is what a click is.
 * - The first piece's start and the last piece's end are left as the engine made them.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';

import { PermanentError, ScriptoriumError, TransientError } from '../../errors/index.js';
import { audioFacts, bytesOf, int16From, pcmFromWav, parseWav, trimForJoin, wavHeader } from './audio.js';
import { abortError, checkAborted, errorText, runTool, withTempDir } from './common.js';
import type { ChunkBoundary } from './plan.js';
import { AUDIO_CONTENT_TYPES, TTS_ERROR_CODES } from './types.js';
import type { AudioFormat } from './types.js';

/** One piece to join: a chunk's audio and what separates it from the next piece. */
export interface JoinPiece {
  /** Audio bytes (WAV, MP3, Ogg, or anything ffmpeg decodes), or a file holding them. */
  readonly audio: Uint8Array | { readonly path: string };
  /** What follows this piece (the plan's chunk boundary); default `sentence`. Ignored on the last piece. */
  readonly boundary?: ChunkBoundary;
  /** Extra silence after this piece, ms (the plan's `pauseAfterMs`: SSML breaks at the cut). */
  readonly pauseAfterMs?: number;
  /** Silence before this piece, ms (the plan's `pauseBeforeMs`, only ever on the first chunk). */
  readonly pauseBeforeMs?: number;
}

/** Total silence at a join by boundary, ms at speaking rate 1. */
export const DEFAULT_JOIN_PAUSES_MS: Readonly<Record<ChunkBoundary, number>> = {
  paragraph: 360,
  sentence: 330,
  clause: 220,
  word: 60,
  break: 0,
  end: 0,
};

export interface JoinOptions {
  readonly format: AudioFormat;
  /** Where to write the joined file (overwritten). */
  readonly outputPath: string;
  /** Sample rate of the file; default the highest of the pieces' (raised to one the encoder takes). */
  readonly sampleRateHertz?: number;
  /** The speaking rate the pieces were made at: pauses are divided by it. Default 1. */
  readonly speakingRate?: number;
  /** Overrides of {@link DEFAULT_JOIN_PAUSES_MS}. */
  readonly pausesMs?: Partial<Record<ChunkBoundary, number>>;
  /** Quiet kept before a piece's first loud sample at a join, ms. Default 15. */
  readonly keepHeadMs?: number;
  /** Quiet kept after a piece's last loud sample at a join, ms. Default 30. */
  readonly keepTailMs?: number;
  /** Fade at each trimmed side, ms. Default 5. */
  readonly fadeMs?: number;
  /** Encoder bitrate for mp3 (default 48) and ogg (Opus, default 32), kbit/s. */
  readonly bitrateKbps?: number;
  readonly signal?: AbortSignal;
  /** Directory for temporary files (default the OS's). */
  readonly workDir?: string;
  /** Default `ffmpeg` on PATH. */
  readonly ffmpegPath?: string;
}

/** Where a join was put in the output. */
export interface JoinPlacement {
  /** Middle of the silence at the join, seconds from the start of the file. */
  readonly atSeconds: number;
  /** Silence at the join (kept margins plus the inserted pause), ms. */
  readonly gapMs: number;
  readonly boundary: ChunkBoundary;
}

export interface JoinResult {
  readonly path: string;
  readonly format: AudioFormat;
  readonly contentType: string;
  /** Duration of the written file, read from it (WAV header, Ogg granules, MP3 frames). */
  readonly durationSeconds: number;
  /** Size of the written file. */
  readonly bytes: number;
  readonly sampleRateHertz: number;
  readonly channels: 1;
  /** PCM samples encoded (before any encoder padding). */
  readonly samples: number;
  readonly joins: JoinPlacement[];
  /** Wall time of the join, ms. */
  readonly joinMs: number;
}

const MP3_RATES = [8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000];
const OPUS_RATES = [8000, 12000, 16000, 24000, 48000];

/** The lowest rate `format`'s encoder takes at or above `rate` (WAV takes any). */
export function encoderRate(format: AudioFormat, rate: number): number {
  if (format === 'wav') return rate;
  const rates = format === 'mp3' ? MP3_RATES : OPUS_RATES;
  return rates.find((r) => r >= rate) ?? 48000;
}

/**
 * Joins `pieces` into one file at `options.outputPath` (see the module comment). Throws
 * PermanentError `INVALID_ARGUMENT` for no pieces; a piece ffmpeg cannot decode is a TransientError
 * `ENGINE_FAILED` (it came from an engine, not from a user); a missing ffmpeg (needed unless every
 * piece is 16-bit mono WAV at the output rate and the output is WAV) a PermanentError
 * `ENGINE_MISCONFIGURED`; an abort a TransientError.
 */
export async function joinAudio(pieces: readonly JoinPiece[], options: JoinOptions): Promise<JoinResult> {
  const started = performance.now();
  if (pieces.length === 0) throw new PermanentError(TTS_ERROR_CODES.invalidArgument, 'nothing to join: no audio pieces');
  const { format, signal } = options;
  const ffmpeg = options.ffmpegPath ?? 'ffmpeg';
  return withTempDir(
    'tts-join-',
    async (dir) => {
      checkAborted(signal);
      // Only the pieces' headers are read up front (for their sample rates); each piece is read
      // whole when its turn comes, so an hour of chunks is never in memory at once.
      const heads = await Promise.all(pieces.map((p) => head(p.audio)));
      const rate = encoderRate(format, options.sampleRateHertz ?? Math.max(...heads.map((h) => audioFacts(h)?.sampleRate ?? 0), 8000));
      const ms = (n: number): number => Math.round((n / 1000) * rate);
      const speakingRate = options.speakingRate && options.speakingRate > 0 ? options.speakingRate : 1;
      const pauses = { ...DEFAULT_JOIN_PAUSES_MS, ...options.pausesMs };
      const keepHead = ms(options.keepHeadMs ?? 15);
      const keepTail = ms(options.keepTailMs ?? 30);
      const fade = ms(options.fadeMs ?? 5);

      const raw = join(dir, 'joined.pcm');
      const out = await open(raw, 'w');
      let written = 0;
      const joins: JoinPlacement[] = [];
      try {
        /** Silence owed before the next piece (samples), and where the gap began. */
        let owed = 0;
        let gapStart = 0;
        let pendingBoundary: ChunkBoundary | undefined;
        for (const [i, piece] of pieces.entries()) {
          checkAborted(signal);
          const pcm = await decode(await whole(piece.audio), rate, dir, i, ffmpeg, signal);
          const last = i === pieces.length - 1;
          const trimmed = trimForJoin(pcm, { start: i > 0, end: !last, keepHead, keepTail, fade });
          const before = ms(piece.pauseBeforeMs ?? 0);
          if (pendingBoundary === undefined && before > 0) {
            // Silence asked for before the first words: put before the piece as it is.
            await writeSamples(out, new Int16Array(before));
            written += before;
          }
          owed += pendingBoundary === undefined ? 0 : before;
          if (pendingBoundary !== undefined) {
            // The pause at the join: what the boundary calls for, less the quiet the pieces kept.
            const silence = Math.max(0, owed - trimmed.headSilence);
            await writeSamples(out, new Int16Array(silence));
            written += silence;
            const gapEnd = written + trimmed.headSilence;
            joins.push({ atSeconds: (gapStart + gapEnd) / 2 / rate, gapMs: Math.round(((gapEnd - gapStart) / rate) * 1000), boundary: pendingBoundary });
          }
          await writeSamples(out, trimmed.samples);
          written += trimmed.samples.length;
          if (!last) {
            const boundary = piece.boundary ?? 'sentence';
            const target = ms((boundary === 'break' ? 0 : (pauses[boundary] ?? 0) / speakingRate) + (piece.pauseAfterMs ?? 0));
            gapStart = written - trimmed.tailSilence;
            owed = Math.max(0, target - trimmed.tailSilence);
            pendingBoundary = boundary;
          }
        }
      } finally {
        await out.close();
      }
      let bytes: number;
      let facts: ReturnType<typeof audioFacts>;
      try {
        checkAborted(signal);
        bytes = await encode(raw, written, rate, options, ffmpeg);
        // A WAV's duration is its sample count; compressed files are read back (MP3 frames, Ogg
        // granule positions), so the duration is what a decoder will output.
        facts = format === 'wav' ? undefined : audioFacts(await readFile(options.outputPath), format);
        checkAborted(signal);
      } catch (err) {
        // No half-written file is left for a caller to upload by mistake.
        await rm(options.outputPath, { force: true });
        throw err;
      }
      return {
        path: options.outputPath,
        format,
        contentType: AUDIO_CONTENT_TYPES[format],
        durationSeconds: facts?.durationSeconds ?? written / rate,
        bytes,
        sampleRateHertz: rate,
        channels: 1,
        samples: written,
        joins,
        joinMs: Math.round(performance.now() - started),
      };
    },
    options.workDir,
  );
}

/** The first 64 KiB of a piece: enough for any header audioFacts reads a sample rate from. */
async function head(audio: JoinPiece['audio']): Promise<Buffer> {
  if (!('path' in audio)) return Buffer.from(audio.buffer, audio.byteOffset, audio.byteLength);
  const handle = await open(audio.path, 'r');
  try {
    const buf = Buffer.alloc(64 * 1024);
    const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

async function whole(audio: JoinPiece['audio']): Promise<Buffer> {
  return 'path' in audio ? readFile(audio.path) : Buffer.from(audio.buffer, audio.byteOffset, audio.byteLength);
}

async function writeSamples(handle: FileHandle, samples: Int16Array): Promise<void> {
  if (samples.length > 0) await handle.write(bytesOf(samples));
}

/** A piece as mono 16-bit PCM at `rate`: read directly when it already is, else through ffmpeg. */
async function decode(source: Buffer, rate: number, dir: string, index: number, ffmpeg: string, signal: AbortSignal | undefined): Promise<Int16Array> {
  const direct = pcmFromWav(source);
  if (direct && direct.sampleRate === rate) return direct.samples;
  const input = join(dir, `piece-${index}`);
  const output = join(dir, `piece-${index}.pcm`);
  await writeFile(input, source);
  const seconds = parseWav(source)?.durationSeconds ?? audioFacts(source)?.durationSeconds ?? 600;
  try {
    await runTool(ffmpeg, ['-nostdin', '-hide_banner', '-loglevel', 'error', '-y', '-i', input, '-ac', '1', '-ar', String(rate), '-f', 's16le', '-c:a', 'pcm_s16le', output], {
      what: `decoding audio piece ${index + 1}`,
      timeoutMs: 60_000 + seconds * 1000,
      ...(signal ? { signal } : {}),
    });
    return int16From(await readFile(output));
  } catch (err) {
    if (err instanceof ScriptoriumError) throw err;
    throw new TransientError(TTS_ERROR_CODES.engineFailed, `decoding audio piece ${index + 1}: ${errorText(err)}`, err);
  } finally {
    await rm(input, { force: true });
    await rm(output, { force: true });
  }
}

/** Writes the PCM in `raw` as `options.format` to `options.outputPath`; returns the file's size. */
async function encode(raw: string, samples: number, rate: number, options: JoinOptions, ffmpeg: string): Promise<number> {
  const { format, outputPath, signal } = options;
  if (format === 'wav') {
    // No encoder needed: a header, then the samples as they are, streamed (an hour is ~170 MB).
    await writeFile(outputPath, wavHeader(rate, samples * 2));
    try {
      await pipeline(createReadStream(raw), createWriteStream(outputPath, { flags: 'a' }), ...(signal ? [{ signal }] : []));
    } catch (err) {
      if (signal?.aborted) throw abortError(signal, err);
      throw new TransientError(TTS_ERROR_CODES.engineFailed, `writing ${outputPath}: ${errorText(err)}`, err);
    }
    return (await stat(outputPath)).size;
  }
  return encodePcmFile(raw, rate, rate, format, outputPath, { ...(options.bitrateKbps ? { bitrateKbps: options.bitrateKbps } : {}), ...(signal ? { signal } : {}), ffmpegPath: ffmpeg, seconds: samples / rate });
}

export interface EncodeOptions {
  readonly bitrateKbps?: number;
  readonly signal?: AbortSignal;
  readonly ffmpegPath?: string;
  /** Length of the audio, to size the timeout. */
  readonly seconds?: number;
}

/**
 * Encodes raw mono 16-bit PCM at `inRate` (a file) as `format` at `outRate` with ffmpeg; returns
 * the output's size. MP3: LAME at 48 kbit/s by default (mono speech); Ogg: Opus at 32 kbit/s in
 * its speech (voip) mode at complexity 5; WAV: 16-bit PCM (resampled when the rates differ).
 */
export async function encodePcmFile(raw: string, inRate: number, outRate: number, format: AudioFormat, outputPath: string, options: EncodeOptions = {}): Promise<number> {
  const codec =
    format === 'mp3'
      ? ['-c:a', 'libmp3lame', '-b:a', `${options.bitrateKbps ?? 48}k`, '-f', 'mp3']
      : format === 'ogg'
        ? // Complexity 5, not libopus's default 10: measured here on 13 minutes of speech, 9.4 s of
          // CPU instead of 15.7 s for a file 2 % smaller; the difference in quality at 32 kbit/s
          // speech is slight, and an hour of audio must encode within a function's time.
          ['-c:a', 'libopus', '-b:a', `${options.bitrateKbps ?? 32}k`, '-application', 'voip', '-compression_level', '5', '-f', 'ogg']
        : ['-c:a', 'pcm_s16le', '-f', 'wav', '-bitexact'];
  await runTool(
    options.ffmpegPath ?? 'ffmpeg',
    ['-nostdin', '-hide_banner', '-loglevel', 'error', '-y', '-f', 's16le', '-ar', String(inRate), '-ac', '1', '-i', raw, '-ar', String(outRate), ...codec, outputPath],
    { what: `encoding ${format}`, timeoutMs: 60_000 + (options.seconds ?? 600) * 1000, ...(options.signal ? { signal: options.signal } : {}) },
  );
  return (await stat(outputPath)).size;
}
