/**
 * Audio bytes without a program: WAV reading and writing, durations of WAV, Ogg Opus and MP3 read
 * from their own structures, and the PCM work the joiner does (trimming silence at a join, fades,
 * and the measurements that check a join: silent gaps and sample steps). Pure (no I/O), so the
 * `google` engine needs no ffmpeg to report a chunk's duration, and the join checks are testable
 * on synthetic signals.
 *
 * PCM here is always mono, signed 16-bit, in an Int16Array.
 */
import type { AudioFormat } from './types.js';

// ---------------------------------------------------------------------------------------------
// WAV

export interface WavInfo {
  /** WAVE format tag: 1 PCM, 3 IEEE float, 6 A-law, 7 µ-law, 0xFFFE extensible. */
  readonly formatTag: number;
  readonly channels: number;
  readonly sampleRate: number;
  readonly bitsPerSample: number;
  /** Offset of the sample data in the buffer. */
  readonly dataOffset: number;
  /** Bytes of sample data actually present. */
  readonly dataBytes: number;
  readonly durationSeconds: number;
}

/**
 * Reads a RIFF/WAVE header. The `data` size is taken from the bytes present when the header says
 * more or says 0 or 0xFFFFFFFF (streaming writers, such as festival writing to a pipe, leave it so).
 * Undefined when the buffer is not a WAV file with `fmt ` and `data` chunks.
 */
export function parseWav(buf: Uint8Array): WavInfo | undefined {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length < 12 || b.toString('latin1', 0, 4) !== 'RIFF' || b.toString('latin1', 8, 12) !== 'WAVE') return undefined;
  let at = 12;
  let fmt: { formatTag: number; channels: number; sampleRate: number; bitsPerSample: number; blockAlign: number } | undefined;
  while (at + 8 <= b.length) {
    const id = b.toString('latin1', at, at + 4);
    const size = b.readUInt32LE(at + 4);
    const body = at + 8;
    if (id === 'fmt ' && body + 16 <= b.length) {
      let formatTag = b.readUInt16LE(body);
      // WAVE_FORMAT_EXTENSIBLE: the real tag is the first two bytes of the sub-format GUID.
      if (formatTag === 0xfffe && size >= 40 && body + 26 <= b.length) formatTag = b.readUInt16LE(body + 24);
      fmt = { formatTag, channels: b.readUInt16LE(body + 2), sampleRate: b.readUInt32LE(body + 4), blockAlign: b.readUInt16LE(body + 12), bitsPerSample: b.readUInt16LE(body + 14) };
    } else if (id === 'data') {
      if (!fmt || fmt.sampleRate === 0 || fmt.blockAlign === 0) return undefined;
      const present = b.length - body;
      const dataBytes = size === 0 || size === 0xffffffff || size > present ? present : size;
      const frames = Math.floor(dataBytes / fmt.blockAlign);
      return { formatTag: fmt.formatTag, channels: fmt.channels, sampleRate: fmt.sampleRate, bitsPerSample: fmt.bitsPerSample, dataOffset: body, dataBytes, durationSeconds: frames / fmt.sampleRate };
    }
    at = body + size + (size & 1);
  }
  return undefined;
}

/** Samples of a mono 16-bit PCM WAV, or undefined for any other kind of WAV (decode those with ffmpeg). */
export function pcmFromWav(buf: Uint8Array): { samples: Int16Array; sampleRate: number } | undefined {
  const info = parseWav(buf);
  if (!info || info.formatTag !== 1 || info.channels !== 1 || info.bitsPerSample !== 16) return undefined;
  return { samples: int16From(buf.subarray(info.dataOffset, info.dataOffset + info.dataBytes)), sampleRate: info.sampleRate };
}

/** Whether typed arrays are little-endian here (every platform Node runs on in practice). */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Little-endian 16-bit samples from bytes (copied: the bytes need not be aligned). */
export function int16From(bytes: Uint8Array): Int16Array {
  const n = Math.floor(bytes.byteLength / 2);
  if (LITTLE_ENDIAN) {
    const copy = new Uint8Array(n * 2);
    copy.set(bytes.subarray(0, n * 2));
    return new Int16Array(copy.buffer);
  }
  const out = new Int16Array(n);
  const view = new DataView(bytes.buffer, bytes.byteOffset, n * 2);
  for (let i = 0; i < n; i++) out[i] = view.getInt16(i * 2, true);
  return out;
}

/** The little-endian bytes of samples (a view, not a copy, on little-endian machines). */
export function bytesOf(samples: Int16Array): Buffer {
  if (LITTLE_ENDIAN) return Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength);
  const out = Buffer.alloc(samples.length * 2);
  for (let i = 0; i < samples.length; i++) out.writeInt16LE(samples[i] ?? 0, i * 2);
  return out;
}

/** A 44-byte canonical header for mono 16-bit PCM of `dataBytes` bytes. */
export function wavHeader(sampleRate: number, dataBytes: number): Buffer {
  const h = Buffer.alloc(44);
  h.write('RIFF', 0, 'latin1');
  h.writeUInt32LE(36 + dataBytes, 4);
  h.write('WAVE', 8, 'latin1');
  h.write('fmt ', 12, 'latin1');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20);
  h.writeUInt16LE(1, 22);
  h.writeUInt32LE(sampleRate, 24);
  h.writeUInt32LE(sampleRate * 2, 28);
  h.writeUInt16LE(2, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36, 'latin1');
  h.writeUInt32LE(dataBytes, 40);
  return h;
}

/** A mono 16-bit PCM WAV file. */
export function wavFile(samples: Int16Array, sampleRate: number): Buffer {
  return Buffer.concat([wavHeader(sampleRate, samples.length * 2), bytesOf(samples)]);
}

// ---------------------------------------------------------------------------------------------
// Formats and durations

/** The format of audio bytes, by their first bytes. */
export function sniffAudioFormat(buf: Uint8Array): AudioFormat | undefined {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length >= 12 && b.toString('latin1', 0, 4) === 'RIFF' && b.toString('latin1', 8, 12) === 'WAVE') return 'wav';
  if (b.length >= 4 && b.toString('latin1', 0, 4) === 'OggS') return 'ogg';
  if (b.length >= 3 && b.toString('latin1', 0, 3) === 'ID3') return 'mp3';
  if (b.length >= 4 && mp3Frame(b, 0)) return 'mp3';
  return undefined;
}

/** Stream facts read from the bytes: duration and sample rate. */
export interface AudioFacts {
  readonly format: AudioFormat;
  readonly durationSeconds: number;
  readonly sampleRate: number;
}

/** Duration and sample rate of WAV, Ogg Opus or MP3 bytes; undefined when they cannot be read. */
export function audioFacts(buf: Uint8Array, format: AudioFormat | undefined = sniffAudioFormat(buf)): AudioFacts | undefined {
  switch (format) {
    case 'wav': {
      const info = parseWav(buf);
      return info ? { format, durationSeconds: info.durationSeconds, sampleRate: info.sampleRate } : undefined;
    }
    case 'ogg': {
      const facts = oggOpusFacts(buf);
      return facts ? { format, ...facts } : undefined;
    }
    case 'mp3': {
      const facts = mp3Facts(buf);
      return facts ? { format, ...facts } : undefined;
    }
    default:
      return undefined;
  }
}

/**
 * Ogg Opus: the duration is the last page's granule position minus the pre-skip, at 48 kHz
 * (RFC 7845 §4: granule positions always count 48 kHz samples, whatever the input rate). The
 * sample rate reported is the input rate `OpusHead` records (0 there means unknown: 48000).
 */
function oggOpusFacts(buf: Uint8Array): { durationSeconds: number; sampleRate: number } | undefined {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  let at = 0;
  let preSkip: number | undefined;
  let inputRate = 48000;
  let lastGranule = -1n;
  while (at + 27 <= b.length && b.toString('latin1', at, at + 4) === 'OggS') {
    const segments = b[at + 26] ?? 0;
    if (at + 27 + segments > b.length) break;
    let bodyBytes = 0;
    for (let i = 0; i < segments; i++) bodyBytes += b[at + 27 + i] ?? 0;
    const body = at + 27 + segments;
    if (preSkip === undefined) {
      if (b.toString('latin1', body, body + 8) !== 'OpusHead' || body + 16 > b.length) return undefined;
      preSkip = b.readUInt16LE(body + 10);
      inputRate = b.readUInt32LE(body + 12) || 48000;
    }
    const granule = b.readBigInt64LE(at + 6);
    // -1 marks a page on which no packet ends.
    if (granule >= 0n) lastGranule = granule;
    at = body + bodyBytes;
  }
  if (preSkip === undefined || lastGranule < 0n) return undefined;
  const samples = Number(lastGranule) - preSkip;
  return { durationSeconds: Math.max(0, samples) / 48000, sampleRate: inputRate };
}

const MP3_BITRATES_V1_L3 = [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320];
const MP3_BITRATES_V2_L3 = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];
const MP3_RATES: Readonly<Record<number, readonly number[]>> = { 3: [44100, 48000, 32000], 2: [22050, 24000, 16000], 0: [11025, 12000, 8000] };

interface Mp3Frame {
  readonly length: number;
  readonly samples: number;
  readonly sampleRate: number;
  readonly mpeg1: boolean;
  readonly mono: boolean;
}

/** The Layer III frame header at `at`, if one is there (other layers are not speech output). */
function mp3Frame(b: Buffer, at: number): Mp3Frame | undefined {
  if (at + 4 > b.length) return undefined;
  const h = b.readUInt32BE(at);
  if ((h & 0xffe00000) >>> 0 !== 0xffe00000) return undefined;
  const version = (h >>> 19) & 3; // 3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5
  const layer = (h >>> 17) & 3; // 1: Layer III
  const bitrateIndex = (h >>> 12) & 15;
  const rateIndex = (h >>> 10) & 3;
  if (version === 1 || layer !== 1 || bitrateIndex === 0 || bitrateIndex === 15 || rateIndex === 3) return undefined;
  const sampleRate = MP3_RATES[version]?.[rateIndex];
  const kbps = (version === 3 ? MP3_BITRATES_V1_L3 : MP3_BITRATES_V2_L3)[bitrateIndex];
  if (!sampleRate || !kbps) return undefined;
  const padding = (h >>> 9) & 1;
  const mpeg1 = version === 3;
  const samples = mpeg1 ? 1152 : 576;
  const length = Math.floor(((samples / 8) * kbps * 1000) / sampleRate) + padding;
  return { length, samples, sampleRate, mpeg1, mono: ((h >>> 6) & 3) === 3 };
}

/**
 * MP3: frames counted (or the Xing/Info header's frame count when present), minus the encoder
 * delay and padding the LAME tag records: what a gapless decoder (ffmpeg's among them) outputs.
 */
function mp3Facts(buf: Uint8Array): { durationSeconds: number; sampleRate: number } | undefined {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  let at = 0;
  if (b.length >= 10 && b.toString('latin1', 0, 3) === 'ID3') {
    const size = ((b[6] ?? 0) << 21) | ((b[7] ?? 0) << 14) | ((b[8] ?? 0) << 7) | (b[9] ?? 0);
    at = 10 + size + ((b[5] ?? 0) & 0x10 ? 10 : 0);
  }
  // Find the first frame: two consecutive valid headers, so a stray sync pattern is not taken for one.
  let first: Mp3Frame | undefined;
  for (; at + 4 <= b.length; at++) {
    const f = mp3Frame(b, at);
    if (f && (at + f.length >= b.length || mp3Frame(b, at + f.length))) {
      first = f;
      break;
    }
  }
  if (!first) return undefined;
  const sideInfo = first.mpeg1 ? (first.mono ? 17 : 32) : first.mono ? 9 : 17;
  const tag = b.toString('latin1', at + 4 + sideInfo, at + 8 + sideInfo);
  if (tag === 'Xing' || tag === 'Info') {
    const flags = b.readUInt32BE(at + 8 + sideInfo);
    if (flags & 1) {
      const frames = b.readUInt32BE(at + 12 + sideInfo);
      let skip = 0;
      let offset = at + 12 + sideInfo + 4;
      if (flags & 2) offset += 4;
      if (flags & 4) offset += 100;
      if (flags & 8) offset += 4;
      // LAME tag: 9-byte encoder string, then at +21 the 12-bit delay and 12-bit padding.
      if (offset + 24 <= b.length && /^(LAME|Lavc|Lavf|L3.99)/.test(b.toString('latin1', offset, offset + 4))) {
        const d = ((b[offset + 21] ?? 0) << 16) | ((b[offset + 22] ?? 0) << 8) | (b[offset + 23] ?? 0);
        skip = (d >>> 12) + (d & 0xfff);
      }
      return { durationSeconds: Math.max(0, frames * first.samples - skip) / first.sampleRate, sampleRate: first.sampleRate };
    }
  }
  let frames = 0;
  for (let f: Mp3Frame | undefined = first; f; f = mp3Frame(b, at)) {
    frames++;
    at += f.length;
  }
  return { durationSeconds: (frames * first.samples) / first.sampleRate, sampleRate: first.sampleRate };
}

// ---------------------------------------------------------------------------------------------
// Silence, trimming and fades

/** -50 dBFS: below what any voice here produces while speaking, above their noise floor. */
export const SILENCE_THRESHOLD = Math.round(32768 * 10 ** (-50 / 20));

/** Index of the first sample at or above `threshold` (absolute), or `samples.length`. */
export function firstLoud(samples: Int16Array, threshold = SILENCE_THRESHOLD): number {
  for (let i = 0; i < samples.length; i++) if (Math.abs(samples[i] ?? 0) >= threshold) return i;
  return samples.length;
}

/** One past the last sample at or above `threshold`, or 0. */
export function lastLoud(samples: Int16Array, threshold = SILENCE_THRESHOLD): number {
  for (let i = samples.length - 1; i >= 0; i--) if (Math.abs(samples[i] ?? 0) >= threshold) return i + 1;
  return 0;
}

/** Fades the first `n` samples in, in place (raised cosine: no corner at either end). */
export function fadeIn(samples: Int16Array, n: number): void {
  const len = Math.min(n, samples.length);
  for (let i = 0; i < len; i++) samples[i] = Math.round((samples[i] ?? 0) * (0.5 - 0.5 * Math.cos((Math.PI * i) / len)));
}

/** Fades the last `n` samples out, in place. */
export function fadeOut(samples: Int16Array, n: number): void {
  const len = Math.min(n, samples.length);
  const start = samples.length - len;
  for (let i = 0; i < len; i++) samples[start + i] = Math.round((samples[start + i] ?? 0) * (0.5 + 0.5 * Math.cos((Math.PI * (i + 1)) / len)));
}

/** What {@link trimForJoin} kept of a piece and how much silence it left at each trimmed side. */
export interface Trimmed {
  readonly samples: Int16Array;
  /** Samples below the threshold left before the first loud sample (trimmed start only, else 0). */
  readonly headSilence: number;
  /** Samples below the threshold left after the last loud sample (trimmed end only, else 0). */
  readonly tailSilence: number;
}

export interface TrimOptions {
  /** Trim the start (the piece follows a join). */
  readonly start: boolean;
  /** Trim the end (a join follows the piece). */
  readonly end: boolean;
  /** Samples of quiet kept before the first loud sample: soft onsets (an /h/, an /f/) start below the threshold. */
  readonly keepHead: number;
  /** Samples kept after the last loud sample: decays and releases. */
  readonly keepTail: number;
  /** Fade length at each trimmed side, in samples. */
  readonly fade: number;
  readonly threshold?: number;
}

/**
 * A piece of speech made ready for a join: the silence at the trimmed sides cut down to
 * `keepHead`/`keepTail`, and a short fade at each trimmed side so the cut never makes a step in
 * the waveform (a click) even when the piece has no silence to cut in. A piece with no loud
 * sample at all is returned empty (it is silence: the pause at the join stands for it).
 */
export function trimForJoin(samples: Int16Array, options: TrimOptions): Trimmed {
  const threshold = options.threshold ?? SILENCE_THRESHOLD;
  const first = options.start ? firstLoud(samples, threshold) : 0;
  const last = options.end ? lastLoud(samples, threshold) : samples.length;
  if (last <= first) return { samples: new Int16Array(0), headSilence: 0, tailSilence: 0 };
  const from = options.start ? Math.max(0, first - options.keepHead) : 0;
  const to = options.end ? Math.min(samples.length, last + options.keepTail) : samples.length;
  const out = samples.slice(from, to);
  if (options.start) fadeIn(out, options.fade);
  if (options.end) fadeOut(out, options.fade);
  return { samples: out, headSilence: options.start ? first - from : 0, tailSilence: options.end ? to - last : 0 };
}

// ---------------------------------------------------------------------------------------------
// Measuring joins

/** A run of samples [start, end) all below the silence threshold. */
export interface SilentRun {
  readonly start: number;
  readonly end: number;
}

/** Runs of at least `minSamples` consecutive samples below `threshold`. */
export function silentRuns(samples: Int16Array, minSamples: number, threshold = SILENCE_THRESHOLD): SilentRun[] {
  const out: SilentRun[] = [];
  let start = -1;
  for (let i = 0; i <= samples.length; i++) {
    const quiet = i < samples.length && Math.abs(samples[i] ?? 0) < threshold;
    if (quiet && start < 0) start = i;
    else if (!quiet && start >= 0) {
      if (i - start >= minSamples) out.push({ start, end: i });
      start = -1;
    }
  }
  return out;
}

/** The quality of one join, measured on the joined audio. */
export interface JoinMeasure {
  /** Where the join is, in seconds from the start. */
  readonly atSeconds: number;
  /** Length of the silence the join lies in, ms (0: the join is not in silence). */
  readonly gapMs: number;
  /** Largest sample-to-sample step within ±`windowMs` of the join, as a fraction of full scale. */
  readonly step: number;
  /** Whether `step` is a click: a step larger than the signal around the join makes anywhere near it. */
  readonly click: boolean;
}

export interface JoinReport {
  readonly joins: JoinMeasure[];
  /** Silences of at least `minPauseMs` that contain no join: the pauses the voice made itself, ms. */
  readonly naturalPausesMs: number[];
  /** The longest natural pause (0 when there is none), ms. */
  readonly longestNaturalPauseMs: number;
}

export interface MeasureOptions {
  /** Silences shorter than this are not pauses (stop closures, gaps between words), ms. Default 30. */
  readonly minPauseMs?: number;
  /** Half-width of the window a click is looked for in, ms. Default 3. */
  readonly windowMs?: number;
  /** How far a join may lie from a silence and still be in it (encoder alignment), ms. Default 20. */
  readonly toleranceMs?: number;
  readonly threshold?: number;
}

/**
 * Measures joins at `joinSeconds` in `samples`: the silence each lies in (its gap), the steps in
 * the waveform next to it (a click is a step that stands out: larger than 4× the largest step in
 * the 20 ms on either side outside the window, and at least 1 % of full scale), and the pauses
 * elsewhere, which are what a join's gap should be compared with.
 */
export function measureJoins(samples: Int16Array, sampleRate: number, joinSeconds: readonly number[], options: MeasureOptions = {}): JoinReport {
  const ms = (n: number): number => (n / sampleRate) * 1000;
  const toSamples = (m: number): number => Math.round((m / 1000) * sampleRate);
  const threshold = options.threshold ?? SILENCE_THRESHOLD;
  const runs = silentRuns(samples, toSamples(options.minPauseMs ?? 30), threshold);
  const window = toSamples(options.windowMs ?? 3);
  const tolerance = toSamples(options.toleranceMs ?? 20);
  const context = toSamples(20);
  const used = new Set<SilentRun>();
  const joins = joinSeconds.map((seconds) => {
    const at = Math.round(seconds * sampleRate);
    const run = runs.find((r) => r.start - tolerance <= at && at <= r.end + tolerance);
    if (run) used.add(run);
    const step = maxStep(samples, at - window, at + window);
    const around = Math.max(maxStep(samples, at - window - context, at - window), maxStep(samples, at + window, at + window + context));
    return { atSeconds: seconds, gapMs: run ? ms(run.end - run.start) : 0, step, click: step >= 0.01 && step > 4 * around };
  });
  // The file's leading and trailing silence are not pauses.
  const natural = runs.filter((r) => !used.has(r) && r.start > 0 && r.end < samples.length).map((r) => ms(r.end - r.start));
  return { joins, naturalPausesMs: natural, longestNaturalPauseMs: natural.length > 0 ? Math.max(...natural) : 0 };
}

/** Largest |x[i] - x[i-1]| for i in (from, to], as a fraction of full scale. */
export function maxStep(samples: Int16Array, from: number, to: number): number {
  let best = 0;
  for (let i = Math.max(1, from + 1); i <= Math.min(samples.length - 1, to); i++) {
    best = Math.max(best, Math.abs((samples[i] ?? 0) - (samples[i - 1] ?? 0)));
  }
  return best / 32768;
}
