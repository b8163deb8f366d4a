/**
 * The `local` translation engine: Apertium (Debian's `apertium` with its language-pair packages),
 * offline, rule-based (shallow transfer). One `apertium -u MODE` run per batch: the texts go one
 * per line (a newline is a "superblank" Apertium carries through untouched), so the output has one
 * line per input and each translation stays on its segment. `-u` drops the `*`/`#`/`@` marks of
 * unknown words (they are passed through as they are).
 *
 * Pairs: whatever modes are installed under the modes directory (`eng-spa.mode`, `en-gl.mode`…):
 * mode names mix ISO 639-1 and 639-3 codes, so both are tried for a requested pair. Measured here
 * (Debian 12): apertium-eng-spa (en↔es), apertium-eng-cat (en↔ca), apertium-en-gl (en↔gl),
 * apertium-es-pt (es↔pt); see README "Video translation".
 */
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { PermanentError, TransientError } from '../../errors/index.js';
import { RunError, runProcess } from '../exec.js';
import { withTempDir } from '../tts/common.js';
import { TRANSLATE_ERROR_CODES, primarySubtag } from './types.js';
import type { LanguagePair, TranslateOptions, TranslateResult, TranslationEngine } from './types.js';

export interface LocalTranslationOptions {
  /** The `apertium` program (default `apertium`). */
  readonly command?: string;
  /** Where the installed modes are (default Debian's `/usr/share/apertium/modes`). */
  readonly modesDir?: string;
  /** Time limit of one run (default 120 s: loading a pair takes ~0.5 s, translating runs at thousands of words a second). */
  readonly timeoutMs?: number;
}

export const APERTIUM_MODES_DIR = '/usr/share/apertium/modes';

/** ISO 639-1 → 639-3 for the languages Debian's Apertium pairs name with three letters. */
const ISO3: Readonly<Record<string, string>> = {
  en: 'eng', es: 'spa', ca: 'cat', gl: 'glg', pt: 'por', it: 'ita', fr: 'fra', ro: 'ron', oc: 'oci', an: 'arg', ast: 'ast', eu: 'eus', de: 'deu', nl: 'nld', sv: 'swe', da: 'dan', nb: 'nob', nn: 'nno', eo: 'epo', cy: 'cym', br: 'bre',
};
const ISO1: Readonly<Record<string, string>> = Object.fromEntries(Object.entries(ISO3).map(([a, b]) => [b, a]));

/** A language code as Apertium writes it (2 or 3 letters) → ISO 639-1 where there is one. */
function toIso1(code: string): string {
  return ISO1[code] ?? code;
}

/** An installed pair and the mode that translates it. */
export interface InstalledPair extends LanguagePair {
  readonly mode: string;
}

/** Mode names (without `.mode`) → the pairs they translate, by `from-to` key; variants (`spa-eng_US`, `eng-cat_valencia`) are skipped. */
export function pairsFromModes(modeNames: readonly string[]): Map<string, InstalledPair> {
  const out = new Map<string, InstalledPair>();
  for (const name of [...modeNames].sort()) {
    const m = /^([a-z]{2,3})-([a-z]{2,3})$/.exec(name);
    if (!m?.[1] || !m[2]) continue;
    const pair = { from: toIso1(m[1]), to: toIso1(m[2]), mode: name };
    const key = `${pair.from}-${pair.to}`;
    if (!out.has(key)) out.set(key, pair);
  }
  return out;
}

export function createLocalTranslationEngine(options: LocalTranslationOptions = {}): TranslationEngine {
  const command = options.command ?? 'apertium';
  const modesDir = options.modesDir ?? APERTIUM_MODES_DIR;
  const timeoutMs = options.timeoutMs ?? 120_000;
  let installed: Promise<Map<string, InstalledPair>> | undefined;
  const modes = (): Promise<Map<string, InstalledPair>> =>
    (installed ??= readdir(modesDir).then(
      (files) => pairsFromModes(files.filter((f) => f.endsWith('.mode')).map((f) => f.slice(0, -'.mode'.length))),
      // No modes directory: Apertium (or every pair) is not installed; every pair is then unsupported.
      () => new Map<string, InstalledPair>(),
    ));
  const keyOf = (pair: LanguagePair): string | undefined => {
    const from = primarySubtag(pair.from);
    const to = primarySubtag(pair.to);
    return from && to ? `${toIso1(from)}-${toIso1(to)}` : undefined;
  };

  return {
    name: 'local',
    model: 'apertium',
    // A batch is one process run: big enough that the ~0.5 s of loading a pair is paid rarely, small
    // enough that cancelling waits for little and progress moves.
    maxBatchItems: 25,
    maxBatchChars: 8000,
    async supports(pair) {
      const key = keyOf(pair);
      return key !== undefined && (await modes()).has(key);
    },
    async pairs() {
      return [...(await modes()).values()].map(({ from, to }) => ({ from, to }));
    },
    async translate(texts: readonly string[], opts: TranslateOptions): Promise<TranslateResult> {
      if (!opts.from) throw new PermanentError(TRANSLATE_ERROR_CODES.invalidArgument, 'the local (Apertium) engine needs the source language');
      const pair = { from: opts.from, to: opts.to };
      const key = keyOf(pair);
      const known = await modes();
      const mode = key ? known.get(key)?.mode : undefined;
      if (!key || !known.has(key) || !mode) {
        const have = [...known.keys()].join(', ') || 'none installed';
        throw new PermanentError(TRANSLATE_ERROR_CODES.pairNotSupported, `the local (Apertium) engine does not translate ${opts.from} → ${opts.to} (installed pairs: ${have})`);
      }
      if (opts.signal?.aborted) throw new TransientError(TRANSLATE_ERROR_CODES.engineFailed, 'translation aborted');
      if (texts.length === 0) return { texts: [], engineMs: 0 };
      // One text per line: line breaks inside a text would shift every later translation.
      const lines = texts.map((t) => t.replace(/\s*[\r\n]+\s*/g, ' ').trim());
      const started = performance.now();
      const out = await withTempDir('apertium-', async (dir) => {
        const input = join(dir, 'in.txt');
        await writeFile(input, lines.join('\n') + '\n', 'utf8');
        let r;
        try {
          r = await runProcess(command, ['-u', mode, input], { timeoutMs, ...(opts.signal ? { signal: opts.signal } : {}) });
        } catch (err) {
          if (err instanceof RunError && err.kind === 'not-found') throw new PermanentError(TRANSLATE_ERROR_CODES.engineMisconfigured, `${command} is not installed (Debian package apertium)`, err);
          throw new TransientError(TRANSLATE_ERROR_CODES.engineFailed, `apertium did not finish: ${err instanceof Error ? err.message : String(err)}`, err);
        }
        if (r.code !== 0) throw new TransientError(TRANSLATE_ERROR_CODES.engineFailed, `apertium ${mode} exited with ${r.signal ?? String(r.code)}: ${r.stderr.trim().slice(-300)}`);
        return r.stdout;
      });
      const translated = out.replace(/\n+$/, '').split('\n').map((l) => l.trim());
      if (translated.length !== lines.length) {
        throw new TransientError(TRANSLATE_ERROR_CODES.engineFailed, `apertium ${mode} returned ${translated.length} lines for ${lines.length} texts`);
      }
      // Empty inputs stay empty (Apertium prints nothing for them, which the split keeps as '').
      return { texts: translated.map((t, i) => (lines[i] === '' ? '' : t)), engineMs: Math.round(performance.now() - started) };
    },
    close() {
      return Promise.resolve();
    },
  };
}
