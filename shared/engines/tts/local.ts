/**
 * The `local` text-to-speech engine: Debian's voices, offline.
 *
 * Voices, and why these:
 * - `flite-kal16` (flite, the kal16 diphone voice, 16 kHz, male): fast and intelligible. flite
 *   itself took 0.11 s of CPU for 1,870 characters here (~17,000 characters/s); through this
 *   engine, temporary files included, ~6,000 characters/s for one request on a loaded 2-core
 *   machine. Transcribed back by pocketsphinx it lost 2 % of the words of a 261-character text
 *   (platform notes) and 8 % of the test sentence in test/integration/tts-local.test.ts. The default.
 * - `festival-slt-hts` (festival with festvox-us-slt-hts, 32 kHz, female): the natural-sounding
 *   one (0 % and 13 % word errors in the same two checks) and slow: ~260 characters per second
 *   of CPU here (text2wave, 7.1 s for 1,870 characters), plus ~0.2–1 s to start festival. Run
 *   through `festival --script` with a small driver (below) that does what `text2wave` does
 *   (tts_file over the text, the utterances' waves appended), once per request however many
 *   pieces the request has.
 * - `espeak-ng-<lang>` (espeak-ng, 22.05 kHz): only for languages the two above lack (they are
 *   English only). Its English was unintelligible to the recognizer (83 % word errors, platform
 *   notes), so it never speaks English here. espeak-ng may not be installed: its voices are then
 *   listed as unavailable and asking for them fails with LANGUAGE_NOT_SUPPORTED; nothing else is
 *   affected. Checked with Debian 12's espeak-ng 1.51 unpacked outside the system (not installed
 *   here): German, Arabic and Indonesian requests are spoken by espeak-ng-de/-ar/-id.
 *
 * Input:
 * - flite and festival read bytes as Latin-1-ish ASCII: UTF-8 punctuation comes out as noise
 *   ("quoted" in curly quotes is read as garbage symbols). Their text is folded to ASCII first:
 *   typographic quotes and dashes to ASCII ones, letters to their base letters (café → cafe),
 *   anything else to a space.
 * - SSML is not understood by these programs: it is reduced to text (ssml.ts says how each element
 *   is treated) and `<break>`s become real silence of the asked length, cut into the audio between
 *   the pieces of text around them (each piece synthesized separately, its own leading and
 *   trailing silence trimmed as the joiner does). Prosody, emphasis and phonemes are lost.
 *
 * Speaking rate: flite `--setf duration_stretch=1/rate`; festival's HTS engine `-r rate` (its
 * speed factor: `Parameter.set 'Duration_Stretch` was tried and changes nothing for this HTS
 * voice); espeak-ng `-s 175×rate` words per minute. Measured: flite at rate 2 and 0.5 gives ~0.5×
 * and ~2× the duration, festival at rate 0.7 and 1.5 gives 1.43× and 0.67×.
 *
 * Output: the voice's PCM is wrapped as WAV directly, or encoded with ffmpeg (MP3, Ogg Opus, or a
 * different sample rate).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { PermanentError, ScriptoriumError, TransientError } from '../../errors/index.js';
import { RunError, runProcess } from '../exec.js';
import { audioFacts, bytesOf, pcmFromWav, trimForJoin, wavFile } from './audio.js';
import { abortError, checkAborted, errorText, formatOf, runTool, sampleRateOf, speakingRateOf, withTempDir } from './common.js';
import { encodePcmFile, encoderRate } from './join.js';
import { parseSsml, ssmlToSpeechParts } from './ssml.js';
import type { SpeechPart } from './ssml.js';
import { GOOGLE_MAX_INPUT_BYTES, TTS_ERROR_CODES, utf8Bytes } from './types.js';
import type { AudioFormat, ListVoicesOptions, SynthesisOptions, SynthesisRequest, SynthesisResult, TextToSpeechEngine, TtsVoice, VoiceGender } from './types.js';

export type LocalSynthesizer = 'flite' | 'festival' | 'espeak-ng';

/** The name of the default local voice. */
export const DEFAULT_LOCAL_VOICE = 'flite-kal16';

export interface LocalTextToSpeechOptions {
  /** Voice used when a request names none (default {@link DEFAULT_LOCAL_VOICE}). */
  readonly defaultVoice?: string;
  /**
   * Largest request in UTF-8 bytes (default 5000, Google's limit, so plans and progress look the
   * same on both engines; the programs themselves take any length).
   */
  readonly maxInputBytes?: number;
  /** Program names or paths (defaults `flite`, `festival`, `espeak-ng`, `ffmpeg`). */
  readonly commands?: Partial<Record<LocalSynthesizer | 'ffmpeg', string>>;
  /** Extra environment for espeak-ng (e.g. ESPEAK_DATA_PATH for a copy outside /usr). */
  readonly espeakEnv?: Readonly<Record<string, string>>;
  /** Deadline of one synthesizer run: this plus 20 ms per character (default 30,000 ms). */
  readonly timeoutMs?: number;
  /** Directory for temporary files (default the OS's). */
  readonly workDir?: string;
}

interface LocalVoice extends TtsVoice {
  readonly synthesizer: LocalSynthesizer;
  /** espeak-ng's name for the voice (its language column). */
  readonly espeakVoice?: string;
}

const FLITE_VOICE: LocalVoice = {
  name: 'flite-kal16',
  languageCodes: ['en-US'],
  gender: 'male',
  engine: 'local',
  synthesizer: 'flite',
  naturalSampleRateHertz: 16000,
  available: true,
  description: 'fast (thousands of characters per second), intelligible, mechanical',
};

const FESTIVAL_VOICE: LocalVoice = {
  name: 'festival-slt-hts',
  languageCodes: ['en-US'],
  gender: 'female',
  engine: 'local',
  synthesizer: 'festival',
  naturalSampleRateHertz: 32000,
  available: true,
  description: 'natural (HTS), a few hundred characters per second plus ~1 s to start',
};

/** festival's name for the HTS voice, as `(voice.list)` prints it. */
const FESTIVAL_VOICE_ID = 'cmu_us_slt_arctic_hts';

/**
 * espeak-ng voices listed (as unavailable) when espeak-ng is not installed, so a caller sees which
 * languages installing it would add: the platform's languages and other widely spoken ones, named
 * as espeak-ng 1.51 (Debian 12) lists them.
 */
const ESPEAK_KNOWN: readonly (readonly [string, string[]])[] = [
  ['ar', []], ['bn', []], ['cmn', ['zh-cmn', 'zh']], ['de', []], ['es', []], ['fa', []], ['fr-fr', ['fr']], ['hi', []],
  ['id', []], ['it', []], ['ja', []], ['ms', []], ['nl', []], ['pl', []], ['pt', ['pt-pt']], ['pt-br', ['pt']], ['ru', []],
  ['sw', []], ['tr', []], ['uk', []], ['ur', []], ['vi', []],
];

const ESPEAK_RATE = 22050;
/** espeak-ng's default speed, words per minute, and the range it accepts. */
const ESPEAK_WPM = { normal: 175, min: 80, max: 450 } as const;

/** Creates the `local` engine. Cheap: the programs are probed on the first `listVoices` or `synthesize`. */
export function createLocalTextToSpeechEngine(options: LocalTextToSpeechOptions = {}): TextToSpeechEngine {
  const maxInputBytes = options.maxInputBytes ?? GOOGLE_MAX_INPUT_BYTES;
  const defaultVoice = options.defaultVoice ?? DEFAULT_LOCAL_VOICE;
  const command = (name: LocalSynthesizer | 'ffmpeg'): string => options.commands?.[name] ?? name;
  const baseTimeout = options.timeoutMs ?? 30_000;
  // Each program is probed once, on first need: a request for a flite voice never waits for
  // festival to start (~0.2–0.7 s) just to be listed.
  const probes = new Map<LocalSynthesizer, Promise<Availability & { voices?: LocalVoice[] }>>();
  const probe = (tool: LocalSynthesizer, signal?: AbortSignal): Promise<Availability & { voices?: LocalVoice[] }> => {
    let p = probes.get(tool);
    if (!p) {
      p = probeSynthesizer(tool, command(tool), options.espeakEnv, signal).then(
        (result) => {
          // A probe that failed for a passing reason (a timeout on a loaded machine) is not remembered.
          if (result.transient) probes.delete(tool);
          return result;
        },
        (err: unknown) => {
          probes.delete(tool);
          throw err;
        },
      );
      probes.set(tool, p);
    }
    return p;
  };

  /** The voices of one program, with their availability. */
  const voicesOf = async (tool: LocalSynthesizer, signal?: AbortSignal): Promise<LocalVoice[]> => {
    const p = await probe(tool, signal);
    if (tool === 'espeak-ng') return p.voices ?? [];
    const base = tool === 'flite' ? FLITE_VOICE : FESTIVAL_VOICE;
    return [{ ...base, available: p.ok, ...(p.reason ? { unavailableReason: p.reason } : {}) }];
  };

  /** The voice a request gets (see {@link chooseVoice}), probing only the programs it needs. */
  const resolve = async (name: string | undefined, languageCode: string | undefined, signal: AbortSignal | undefined): Promise<{ voice: LocalVoice; languageCode: string }> => {
    const englishFirst = name === undefined ? !languageCode || /^en\b/i.test(languageCode) : !name.startsWith('espeak-ng-');
    const order: LocalSynthesizer[] = englishFirst ? ['flite', 'festival', 'espeak-ng'] : ['espeak-ng', 'flite', 'festival'];
    if (name === FESTIVAL_VOICE.name || (name === undefined && defaultVoice === FESTIVAL_VOICE.name)) order.unshift('festival');
    const known: LocalVoice[] = [];
    for (const tool of [...new Set(order)]) {
      known.push(...(await voicesOf(tool, signal)));
      const choice = tryChooseVoice(known, name, languageCode, defaultVoice);
      if (choice) return choice;
    }
    return chooseVoice(known, name, languageCode, defaultVoice);
  };

  return {
    name: 'local',
    maxInputBytes,

    async listVoices(listOptions: ListVoicesOptions = {}): Promise<TtsVoice[]> {
      const { signal } = listOptions;
      const all = (await Promise.all((['flite', 'festival', 'espeak-ng'] as const).map((tool) => voicesOf(tool, signal)))).flat();
      const wanted = listOptions.languageCode;
      return (wanted ? all.filter((v) => speaks(v, wanted) !== undefined) : all).map(publicVoice);
    },

    async synthesize(request: SynthesisRequest, callOptions: SynthesisOptions = {}): Promise<SynthesisResult> {
      const started = performance.now();
      const { signal } = callOptions;
      try {
        checkAborted(signal);
        const format = formatOf(request.format);
        const rate = speakingRateOf(request.speakingRate);
        const outRate = sampleRateOf(request.sampleRateHertz);
        if (outRate !== undefined && format !== 'wav' && encoderRate(format, outRate) !== outRate) {
          throw new PermanentError(TTS_ERROR_CODES.invalidArgument, `${format} cannot be encoded at ${outRate} Hz`);
        }
        const source = 'ssml' in request.input ? request.input.ssml : request.input.text;
        const inputBytes = utf8Bytes(source);
        if (inputBytes > maxInputBytes) {
          throw new PermanentError(TTS_ERROR_CODES.inputTooLarge, `the input is ${inputBytes} bytes; one request takes at most ${maxInputBytes} (plan it into chunks first)`);
        }
        const parts = 'ssml' in request.input ? ssmlToSpeechParts(parseSsml(request.input.ssml)) : [{ text: request.input.text }];
        if (!parts.some((p) => 'text' in p && /[\p{L}\p{N}]/u.test(p.text))) {
          throw new PermanentError(TTS_ERROR_CODES.inputEmpty, 'nothing to say: the input has no letters or digits');
        }
        const { voice, languageCode } = await resolve(request.voice ?? (request.languageCode ? undefined : defaultVoice), request.languageCode, signal);
        const chars = parts.reduce((n, p) => n + ('text' in p ? p.text.length : 0), 0);
        const timeoutMs = baseTimeout + chars * 20;

        return await withTempDir(
          'tts-local-',
          async (dir) => {
            const pcm = await render(voice, parts, rate, dir, { command, espeakEnv: options.espeakEnv, timeoutMs, signal });
            checkAborted(signal);
            const audio = await output(pcm, format, outRate, dir, command('ffmpeg'), signal);
            const facts = audioFacts(audio, format);
            return {
              audio,
              format,
              durationSeconds: facts?.durationSeconds ?? pcm.samples.length / pcm.sampleRate,
              sampleRateHertz: outRate ?? (format === 'wav' ? pcm.sampleRate : encoderRate(format, pcm.sampleRate)),
              voice: voice.name,
              languageCode,
              inputBytes,
              engineMs: Math.round(performance.now() - started),
            };
          },
          options.workDir,
        );
      } catch (err) {
        throw toEngineError(err);
      }
    },

    close(): Promise<void> {
      return Promise.resolve();
    },
  };
}

function publicVoice(v: LocalVoice): TtsVoice {
  const { espeakVoice: _espeak, ...rest } = v;
  return rest;
}

// ---------------------------------------------------------------------------------------------
// Voices

/**
 * The language code of `voice` that serves `wanted` (exact tag first, then the same primary
 * language: `en-GB` is served by an `en-US` voice, the only English the local voices have), or
 * undefined.
 */
function speaks(voice: TtsVoice, wanted: string): string | undefined {
  const w = wanted.toLowerCase();
  const exact = voice.languageCodes.find((c) => c.toLowerCase() === w);
  if (exact) return exact;
  const primary = w.split(/[-_]/)[0] ?? '';
  return voice.languageCodes.find((c) => c.toLowerCase().split(/[-_]/)[0] === primary);
}

/** The voice {@link chooseVoice} would pick, or undefined where it would throw. */
function tryChooseVoice(all: readonly LocalVoice[], name: string | undefined, languageCode: string | undefined, defaultVoice: string): { voice: LocalVoice; languageCode: string } | undefined {
  try {
    return chooseVoice(all, name, languageCode, defaultVoice);
  } catch {
    return undefined;
  }
}

/**
 * A request's voice: the one it names (which must speak the language asked for, and be
 * available), or the first available voice speaking the language, the configured default first.
 * English (any region) is spoken by the en-US voices, the only English here.
 */
function chooseVoice(all: readonly LocalVoice[], name: string | undefined, languageCode: string | undefined, defaultVoice: string): { voice: LocalVoice; languageCode: string } {
  if (name !== undefined) {
    const voice = all.find((v) => v.name === name);
    if (!voice) throw new PermanentError(TTS_ERROR_CODES.voiceNotFound, `no local voice is called ${JSON.stringify(name)} (voices: ${all.map((v) => v.name).join(', ')})`);
    const code = languageCode === undefined ? voice.languageCodes[0] : speaks(voice, languageCode);
    if (code === undefined) {
      throw new PermanentError(TTS_ERROR_CODES.invalidArgument, `voice ${voice.name} speaks ${voice.languageCodes.join(', ')}, not ${languageCode ?? ''}`);
    }
    if (!voice.available) throw unavailable(voice);
    return { voice, languageCode: languageCode ?? code };
  }
  const wanted = languageCode ?? 'en-US';
  // The configured default first when it speaks the language, then the English voices, then espeak-ng.
  const candidates = [...all].sort((a, b) => Number(b.name === defaultVoice) - Number(a.name === defaultVoice)).filter((v) => speaks(v, wanted) !== undefined);
  const voice = candidates.find((v) => v.available);
  if (voice) return { voice, languageCode: wanted };
  const known = candidates[0];
  if (known) throw unavailable(known);
  throw new PermanentError(TTS_ERROR_CODES.languageNotSupported, `no local voice speaks ${wanted}`);
}

function unavailable(voice: LocalVoice): PermanentError {
  const why = voice.unavailableReason ?? 'its program is not installed';
  // espeak-ng is the only way to other languages: without it the language is not supported here.
  if (voice.synthesizer === 'espeak-ng') return new PermanentError(TTS_ERROR_CODES.languageNotSupported, `no usable local voice speaks ${voice.languageCodes.join('/')}: ${voice.name} is unavailable (${why})`);
  return new PermanentError(TTS_ERROR_CODES.engineMisconfigured, `local voice ${voice.name} is unavailable: ${why}`);
}

interface Availability {
  readonly ok: boolean;
  readonly reason?: string;
  /** The failure may pass (a timeout, a crash): probe again next time. */
  readonly transient?: boolean;
}

async function probeSynthesizer(
  tool: LocalSynthesizer,
  cmd: string,
  espeakEnv: Readonly<Record<string, string>> | undefined,
  signal: AbortSignal | undefined,
): Promise<Availability & { voices?: LocalVoice[] }> {
  switch (tool) {
    case 'flite':
      return probeTool(cmd, ['-lv'], signal, undefined, (out) => (/\bkal16\b/.test(out) ? undefined : 'flite has no kal16 voice'));
    case 'festival':
      return probeTool(cmd, ['-b', '(print (voice.list))'], signal, undefined, (out) =>
        out.includes(FESTIVAL_VOICE_ID) ? undefined : `festival has no ${FESTIVAL_VOICE_ID} voice (apt-get install festvox-us-slt-hts)`,
      );
    case 'espeak-ng': {
      const r = await probeTool(cmd, ['--voices'], signal, espeakEnv, () => undefined);
      if (!r.ok || r.stdout === undefined) {
        const reason = r.reason ?? `${cmd} is not installed`;
        return { ...r, ok: false, reason, voices: ESPEAK_KNOWN.map(([language, others]) => espeakVoice(language, undefined, others, false, reason)) };
      }
      return { ok: true, voices: parseEspeakVoices(r.stdout) };
    }
  }
}

async function probeTool(
  cmd: string,
  args: readonly string[],
  signal: AbortSignal | undefined,
  env: Readonly<Record<string, string>> | undefined,
  check: (stdout: string) => string | undefined,
): Promise<Availability & { stdout?: string }> {
  try {
    const r = await runProcess(cmd, args, { timeoutMs: 15_000, ...(signal ? { signal } : {}), ...(env ? { env } : {}) });
    if (r.code !== 0) return { ok: false, reason: `${cmd} ${args.join(' ')} exited with ${r.code ?? r.signal}`, transient: true };
    const problem = check(r.stdout + r.stderr);
    return problem ? { ok: false, reason: problem } : { ok: true, stdout: r.stdout };
  } catch (err) {
    if (err instanceof RunError && err.kind === 'not-found') return { ok: false, reason: `${cmd} is not installed` };
    if (err instanceof RunError && err.kind === 'aborted') throw abortError(signal, err);
    return { ok: false, reason: `${cmd} could not be checked: ${errorText(err)}`, transient: true };
  }
}

function espeakVoice(language: string, gender: VoiceGender | undefined, others: readonly string[], available: boolean, reason?: string): LocalVoice {
  return {
    name: `espeak-ng-${language}`,
    languageCodes: [language, ...others.filter((o) => o !== language)],
    ...(gender ? { gender } : {}),
    engine: 'local',
    synthesizer: 'espeak-ng',
    naturalSampleRateHertz: ESPEAK_RATE,
    available,
    ...(reason ? { unavailableReason: reason } : {}),
    description: 'fallback (robotic; poorly intelligible to speech recognition)',
    espeakVoice: language,
  };
}

/**
 * Voices from `espeak-ng --voices` (columns: Pty, Language, Age/Gender, VoiceName, File, Other
 * Languages as `(code priority)` pairs). MBROLA voices (file `mb/...`) need the separate mbrola
 * program and its voice data, so they are left out, and so is English: flite and festival speak it.
 */
export function parseEspeakVoices(listing: string): LocalVoice[] {
  const out: LocalVoice[] = [];
  const seen = new Set<string>();
  for (const line of listing.split('\n').slice(1)) {
    const m = /^\s*\d+\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s*(.*)$/.exec(line);
    if (!m?.[1] || !m[2] || !m[4]) continue;
    const [language, ageGender, file, others] = [m[1], m[2], m[4], m[5] ?? ''];
    if (file.startsWith('mb/') || /^en\b/i.test(language) || seen.has(language)) continue;
    seen.add(language);
    const g = ageGender.split('/')[1];
    const gender: VoiceGender | undefined = g === 'M' ? 'male' : g === 'F' ? 'female' : undefined;
    const extra = [...others.matchAll(/\(([^\s()]+)\s+\d+\)/g)].map((x) => x[1] ?? '').filter(Boolean);
    out.push(espeakVoice(language, gender, extra, true));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Synthesis

interface RenderContext {
  readonly command: (name: LocalSynthesizer | 'ffmpeg') => string;
  readonly espeakEnv: Readonly<Record<string, string>> | undefined;
  readonly timeoutMs: number;
  readonly signal: AbortSignal | undefined;
}

interface Pcm {
  readonly samples: Int16Array;
  readonly sampleRate: number;
}

/** The voice's audio for `parts`: each text synthesized, pauses as silence, joined sample-exactly. */
async function render(voice: LocalVoice, parts: readonly SpeechPart[], rate: number, dir: string, ctx: RenderContext): Promise<Pcm> {
  const texts = parts.filter((p): p is { text: string } => 'text' in p).map((p) => (voice.synthesizer === 'espeak-ng' ? p.text : asciiForEnglishVoice(p.text)));
  const files = texts.map((_, i) => ({ input: join(dir, `part-${i}.txt`), output: join(dir, `part-${i}.wav`) }));
  await Promise.all(texts.map((t, i) => writeFile(files[i]?.input ?? '', `${t}\n`, 'utf8')));

  if (voice.synthesizer === 'festival') {
    await runFestival(files, rate, dir, ctx);
  } else {
    // One process per text piece: flite starts in ~10 ms, espeak-ng in ~20 ms.
    for (const f of files) {
      checkAborted(ctx.signal);
      if (voice.synthesizer === 'flite') {
        await runTool(ctx.command('flite'), ['-voice', 'kal16', '--setf', `duration_stretch=${(1 / rate).toFixed(4)}`, '-f', f.input, '-o', f.output], {
          what: 'flite',
          timeoutMs: ctx.timeoutMs,
          ...(ctx.signal ? { signal: ctx.signal } : {}),
        });
      } else {
        const wpm = Math.round(Math.min(ESPEAK_WPM.max, Math.max(ESPEAK_WPM.min, ESPEAK_WPM.normal * rate)));
        await runTool(ctx.command('espeak-ng'), ['-v', voice.espeakVoice ?? 'en', '-s', String(wpm), '-b', '1', '-f', f.input, '-w', f.output], {
          what: 'espeak-ng',
          timeoutMs: ctx.timeoutMs,
          ...(ctx.signal ? { signal: ctx.signal } : {}),
          ...(ctx.espeakEnv ? { env: ctx.espeakEnv } : {}),
        });
      }
    }
  }

  const pieces: Pcm[] = [];
  for (const f of files) {
    const pcm = pcmFromWav(await readFile(f.output));
    if (!pcm) throw new TransientError(TTS_ERROR_CODES.engineFailed, `${voice.synthesizer} wrote no 16-bit mono WAV`);
    pieces.push(pcm);
  }
  const sampleRate = pieces[0]?.sampleRate ?? voice.naturalSampleRateHertz ?? 16000;
  if (pieces.some((p) => p.sampleRate !== sampleRate)) throw new TransientError(TTS_ERROR_CODES.engineFailed, `${voice.synthesizer} wrote pieces at different sample rates`);
  return { samples: assemble(parts, pieces, sampleRate), sampleRate };
}

/**
 * Pieces of speech and pauses in order. Where a pause separates two pieces, the silence each
 * piece has at that side is cut to a short margin (with a 5 ms fade) and the pause made up to the
 * asked length, as the joiner does; the audio's own start and end are kept.
 */
function assemble(parts: readonly SpeechPart[], pieces: readonly Pcm[], rate: number): Int16Array {
  const ms = (n: number): number => Math.round((n / 1000) * rate);
  const out: Int16Array[] = [];
  let k = 0;
  let owed = 0;
  let total = 0;
  let textSeen = false;
  const push = (a: Int16Array): void => {
    out.push(a);
    total += a.length;
  };
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] as SpeechPart;
    if ('pauseMs' in part) {
      owed += ms(part.pauseMs);
      continue;
    }
    const piece = pieces[k++]?.samples ?? new Int16Array(0);
    const moreText = parts.slice(i + 1).some((p) => 'text' in p);
    const trimmed = trimForJoin(piece, { start: textSeen, end: moreText, keepHead: ms(15), keepTail: ms(30), fade: ms(5) });
    if (textSeen) push(new Int16Array(Math.max(0, owed - trimmed.headSilence)));
    else if (owed > 0) push(new Int16Array(owed)); // a pause before any words: said as silence
    push(trimmed.samples);
    owed = moreText ? -trimmed.tailSilence : 0;
    textSeen = true;
  }
  if (owed > 0) push(new Int16Array(owed)); // a pause after the last words
  const joined = new Int16Array(total);
  let at = 0;
  for (const a of out) {
    joined.set(a, at);
    at += a.length;
  }
  return joined;
}

/**
 * The festival driver: for each piece, tts_file over its text with a hook that appends each
 * utterance's wave to the piece's WAV file, as text2wave does, so one festival start serves every
 * piece of a request. Paths are quoted as Scheme strings.
 */
async function runFestival(files: readonly { input: string; output: string }[], rate: number, dir: string, ctx: RenderContext): Promise<void> {
  const q = (s: string): string => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
  const script = [
    '(load (path-append datadir "init.scm"))',
    `(voice_${FESTIVAL_VOICE_ID})`,
    // The HTS engine's speed factor: festival's Duration_Stretch is not used by HTS voices.
    rate === 1 ? '' : `(set! hts_engine_params (append hts_engine_params (list (list "-r" ${rate.toFixed(4)}))))`,
    '(define (scriptorium_synth infile outfile)',
    '  (let ((fp (fopen outfile "wb")) (total 0) (last nil))',
    '    (set! tts_hooks',
    '      (list utt.synth',
    '        (lambda (utt)',
    "          (if (eq? total 0) (wave.save.header fp (utt.wave utt) 'riff nil (list (list \"numsamples\" 0))))",
    "          (set! total (+ total (get_param 'num_samples (wave.info (utt.wave utt)) 0)))",
    "          (wave.save.data.fp (utt.wave utt) fp 'riff nil)",
    '          (set! last utt)',
    '          utt)))',
    '    (tts_file infile nil)',
    "    (if last (begin (fseek fp 0 0) (wave.save.header fp (utt.wave last) 'riff nil (list (list \"numsamples\" total)))))",
    '    (fclose fp)))',
    ...files.map((f) => `(scriptorium_synth ${q(f.input)} ${q(f.output)})`),
  ].join('\n');
  const path = join(dir, 'driver.scm');
  await writeFile(path, script, 'utf8');
  await runTool(ctx.command('festival'), ['--script', path], { what: 'festival', timeoutMs: ctx.timeoutMs + 10_000, ...(ctx.signal ? { signal: ctx.signal } : {}) });
  // A piece festival said nothing for (only symbols) leaves an empty file: give it silence.
  for (const f of files) {
    const bytes = await readFile(f.output).catch(() => Buffer.alloc(0));
    if (bytes.length === 0) await writeFile(f.output, wavFile(new Int16Array(0), FESTIVAL_VOICE.naturalSampleRateHertz ?? 32000));
  }
}

/** The request's output: WAV wrapped here, anything else encoded by ffmpeg. */
async function output(pcm: Pcm, format: AudioFormat, outRate: number | undefined, dir: string, ffmpeg: string, signal: AbortSignal | undefined): Promise<Buffer> {
  if (format === 'wav' && (outRate === undefined || outRate === pcm.sampleRate)) return wavFile(pcm.samples, pcm.sampleRate);
  const raw = join(dir, 'speech.pcm');
  const out = join(dir, `speech.${format}`);
  await writeFile(raw, bytesOf(pcm.samples));
  await encodePcmFile(raw, pcm.sampleRate, outRate ?? encoderRate(format, pcm.sampleRate), format, out, {
    ffmpegPath: ffmpeg,
    seconds: pcm.samples.length / pcm.sampleRate,
    ...(signal ? { signal } : {}),
  });
  return readFile(out);
}

/**
 * Text for flite and festival, which read ASCII: typographic punctuation to ASCII, letters to
 * their base letters, other characters to spaces (see the module comment).
 */
export function asciiForEnglishVoice(text: string): string {
  return text
    .normalize('NFKC')
    .replace(/⁄/gu, '/')
    .replace(/[‘’‚‛′`´]/gu, "'")
    .replace(/[“”„‟″«»]/gu, '"')
    .replace(/\s*[—–―]\s*/gu, ', ')
    .replace(/…/gu, '...')
    .replace(/[‐‑‒−]/gu, '-')
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .replace(/ß/gu, 'ss')
    .replace(/[æÆ]/gu, (c) => (c === 'æ' ? 'ae' : 'AE'))
    .replace(/[øØ]/gu, (c) => (c === 'ø' ? 'o' : 'O'))
    .replace(/[^\x20-\x7e\n\t]/gu, ' ');
}

function toEngineError(err: unknown): unknown {
  if (err instanceof ScriptoriumError) return err;
  return new TransientError(TTS_ERROR_CODES.engineFailed, `local speech synthesis failed: ${errorText(err)}`, err);
}
