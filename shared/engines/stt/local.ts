/**
 * The offline speech-to-text engine: CMU pocketsphinx 0.8 (`pocketsphinx_continuous`, Debian
 * packages `pocketsphinx` and `pocketsphinx-en-us`) as a child process, one per input.
 *
 * Measured choices (2 cores, Debian 12, pocketsphinx 0.8+5prealpha):
 * - `-time yes` prints, per utterance its voice-activity detector finds, the hypothesis and then one
 *   line per word: `word(2) start end posterior`. Utterances become segments; the words keep their
 *   times and posteriors (as confidences). Alternate-pronunciation marks (`(2)`) and fillers
 *   (`<s>`, `</s>`, `<sil>`, `[NOISE]`, `++…++`) are dropped.
 * - Model loading costs ~0.5 s per process, so 55-second segments cost ~1 % extra over one process
 *   per recording, and keep each process's time bounded and progress frequent.
 * - Decoding runs at ~0.3–0.5× real time on an idle core; beams, language weight and noise
 *   options were tried (see shared/PLATFORM-FACTS.md) and did not lower the word error rate, so
 *   the model's defaults are used.
 * - The model is US English; English in any region is accepted and transcribed with it. Other
 *   languages need a model (acoustic model, language model, dictionary): the `models` option
 *   takes more; without one a language fails with LANGUAGE_NOT_SUPPORTED before any work.
 */
import { stat } from 'node:fs/promises';

import { PermanentError, ScriptoriumError, TransientError } from '../../errors/index.js';
import { readNormalizedWav } from '../../media/wav.js';
import { RunError, runProcess } from '../exec.js';
import type { TranscriptSegment, TranscriptWord } from '../../media/transcript.js';
import { abortError, checkAborted, errorText, normalizeLanguageTag, primaryLanguage, requestedLanguage } from './common.js';
import { STT_ERROR_CODES } from './types.js';
import type { SpeechToTextEngine, SttInput, SttOptions, SttResult } from './types.js';

/** A pocketsphinx model: the files `-hmm`, `-lm` and `-dict` take. */
export interface PocketsphinxModel {
  /** Name reported as the result's `model`. */
  readonly name: string;
  /** BCP-47 tag of the model's language, e.g. `en-US`. */
  readonly language: string;
  /** Acoustic model directory. */
  readonly hmm: string;
  /** Language model (ARPA or binary). */
  readonly lm: string;
  /** Pronunciation dictionary. */
  readonly dict: string;
}

/** The US English model Debian's `pocketsphinx-en-us` installs. */
export const DEBIAN_EN_US_MODEL: PocketsphinxModel = {
  name: 'pocketsphinx-en-us',
  language: 'en-US',
  hmm: '/usr/share/pocketsphinx/model/en-us/en-us',
  lm: '/usr/share/pocketsphinx/model/en-us/en-us.lm.bin',
  dict: '/usr/share/pocketsphinx/model/en-us/cmudict-en-us.dict',
};

/** Settings of {@link createLocalSttEngine}. */
export interface LocalSttEngineOptions {
  /** Language of inputs that name none (default `en-US`). */
  readonly language?: string;
  /** Models by primary language subtag (default `{ en: DEBIAN_EN_US_MODEL }`). */
  readonly models?: Readonly<Record<string, PocketsphinxModel>>;
  /** The recognizer binary (default `pocketsphinx_continuous`, from PATH). */
  readonly binary?: string;
  /** Longest input, in seconds (default 600): bounds one process's run time. */
  readonly maxInputSeconds?: number;
  /** Time limit of one run: a fixed part plus a factor of the audio's duration (default 30 s + 4 × duration). */
  readonly timeout?: { readonly baseMs: number; readonly perAudioSecond: number };
}

const DEFAULTS = { language: 'en-US', binary: 'pocketsphinx_continuous', maxInputSeconds: 600, timeout: { baseMs: 30_000, perAudioSecond: 4 } } as const;

const { languageNotSupported, tooLarge, engineFailed, engineUnavailable } = STT_ERROR_CODES;

/**
 * Creates the `local` engine. Inputs must be normalized WAV (see normalizeAudio); segments come
 * from pocketsphinx's utterances, with word times and confidences. Failures: PermanentError
 * LANGUAGE_NOT_SUPPORTED (no model for the language) / INPUT_CORRUPT (not normalized WAV) /
 * INPUT_TOO_LARGE (over `maxInputSeconds`); TransientError ENGINE_UNAVAILABLE (pocketsphinx or its
 * model files missing) / ENGINE_FAILED (crash, timeout, abort).
 */
export function createLocalSttEngine(options: LocalSttEngineOptions = {}): SpeechToTextEngine {
  const models = options.models ?? { en: DEBIAN_EN_US_MODEL };
  const defaultLanguage = requestedLanguage(options.language, DEFAULTS.language);
  const binary = options.binary ?? DEFAULTS.binary;
  const maxInputSeconds = options.maxInputSeconds ?? DEFAULTS.maxInputSeconds;
  const timeout = options.timeout ?? DEFAULTS.timeout;
  const modelFor = (language: string): PocketsphinxModel | undefined => {
    const primary = primaryLanguage(language);
    return primary === undefined ? undefined : models[primary];
  };
  const defaultModel = modelFor(defaultLanguage);

  return {
    name: 'local',
    model: defaultModel?.name ?? Object.values(models)[0]?.name ?? 'pocketsphinx',
    defaultLanguage,
    languages: Object.values(models).map((m) => normalizeLanguageTag(m.language) ?? m.language),
    maxInputSeconds,
    supportsLanguage: (language) => modelFor(language) !== undefined,
    async transcribe(input: SttInput, callOptions: SttOptions = {}): Promise<SttResult> {
      const started = performance.now();
      const { signal } = callOptions;
      checkAborted(signal);
      const language = requestedLanguage(input.language, defaultLanguage);
      const model = modelFor(language);
      if (!model) {
        const installed = Object.values(models).map((m) => m.language).join(', ') || 'none';
        throw new PermanentError(languageNotSupported, `the local speech engine has no model for ${language} (installed: ${installed}); use the google engine for other languages`);
      }
      const wav = await readNormalizedWav(input.path);
      if (wav.durationSeconds > maxInputSeconds + 0.001) {
        throw new PermanentError(tooLarge, `the input lasts ${wav.durationSeconds.toFixed(1)} s; the local engine takes at most ${maxInputSeconds} s per call (split it into segments)`);
      }
      await checkModel(model);
      let r;
      try {
        r = await runProcess(binary, ['-infile', input.path, '-time', 'yes', '-hmm', model.hmm, '-lm', model.lm, '-dict', model.dict], {
          timeoutMs: timeout.baseMs + Math.ceil(wav.durationSeconds * timeout.perAudioSecond * 1000),
          signal,
          maxStderrBytes: 16 * 1024,
        });
      } catch (err) {
        if (err instanceof RunError) {
          if (err.kind === 'aborted') throw abortError(signal, err);
          if (err.kind === 'not-found') throw new TransientError(engineUnavailable, `${binary} is not installed (apt-get install pocketsphinx pocketsphinx-en-us)`, err);
          throw new TransientError(engineFailed, err.message, err);
        }
        throw err;
      }
      if (r.code !== 0) {
        const why = r.signal ? `killed by ${r.signal}` : lastError(r.stderr) || `exit ${String(r.code)}`;
        throw new TransientError(engineFailed, `pocketsphinx failed: ${why}`);
      }
      return {
        engine: 'local',
        model: model.name,
        language,
        durationSeconds: wav.durationSeconds,
        segments: parsePocketsphinxOutput(r.stdout, wav.durationSeconds),
        engineMs: Math.round(performance.now() - started),
      };
    },
  };
}

/** Missing model files are an installation problem of this machine: transient, like a missing binary. */
async function checkModel(model: PocketsphinxModel): Promise<void> {
  for (const file of [model.hmm, model.lm, model.dict]) {
    try {
      await stat(file);
    } catch (err) {
      if (err instanceof ScriptoriumError) throw err;
      throw new TransientError(engineUnavailable, `pocketsphinx model file ${file} is missing (apt-get install pocketsphinx-en-us): ${errorText(err)}`, err);
    }
  }
}

/** pocketsphinx logs `ERROR: "file.c", line N: message`; the last such line says why it stopped. */
function lastError(stderr: string): string {
  const errors = stderr.split('\n').filter((l) => /^(ERROR|FATAL_ERROR)/.test(l));
  return (errors.at(-1) ?? stderr.trim().split('\n').at(-1) ?? '').slice(0, 300);
}

const WORD_LINE = /^(\S+) (-?\d+(?:\.\d+)?) (-?\d+(?:\.\d+)?) (-?\d+(?:\.\d+)?(?:e[-+]?\d+)?)$/;
/** Silence, sentence boundaries and noise models: not words. */
const FILLER = /^(?:<[^>]*>|\[[^\]]*\]|\+\+.*\+\+|\+[^+]*\+)$/;

/**
 * Segments from `pocketsphinx_continuous -time yes` output: one per utterance (a `<s>` … `</s>`
 * block, or the word lines after one hypothesis line), words without pronunciation variants and
 * fillers, times clipped to `durationSeconds` when given, confidence the mean word posterior.
 * Utterances with no words are dropped.
 */
export function parsePocketsphinxOutput(stdout: string, durationSeconds = Infinity): TranscriptSegment[] {
  const segments: TranscriptSegment[] = [];
  let words: TranscriptWord[] = [];
  const close = (): void => {
    const first = words[0];
    const last = words.at(-1);
    if (first && last) {
      const confidences = words.map((w) => w.confidence).filter((c): c is number => c !== undefined);
      segments.push({
        start: first.start,
        end: last.end,
        text: words.map((w) => w.text).join(' '),
        ...(confidences.length > 0 ? { confidence: round3(confidences.reduce((a, b) => a + b, 0) / confidences.length) } : {}),
        words,
      });
    }
    words = [];
  };
  const clip = (t: number): number => Math.min(durationSeconds, Math.max(0, t));
  for (const raw of stdout.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    const m = WORD_LINE.exec(line);
    if (!m) {
      // A hypothesis line starts the next utterance.
      close();
      continue;
    }
    const token = m[1] ?? '';
    if (token === '</s>') {
      close();
      continue;
    }
    if (token === '<s>') {
      close();
      continue;
    }
    if (FILLER.test(token)) continue;
    const text = token.replace(/\(\d+\)$/, '');
    const start = clip(Number(m[2]));
    const end = Math.max(start, clip(Number(m[3])));
    const posterior = Number(m[4]);
    words.push({ text, start, end, ...(Number.isFinite(posterior) ? { confidence: round3(Math.min(1, Math.max(0, posterior))) } : {}) });
  }
  close();
  return segments;
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
