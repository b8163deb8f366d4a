/**
 * Benchmark of the `local` embedding engine (USE-lite on TF.js/WASM) in this process: import and
 * load time, memory after load, throughput on short plain sentences, on the README's sentences and
 * on 120-word passages (wall time and per CPU-second), the longest event-loop stall while
 * embedding, and cosine sanity figures (paraphrases against unrelated sentences, and text outside
 * the English vocabulary). Texts are the repository's own prose (README.md and terraform/README.md with the
 * markdown stripped), so the figures are repeatable.
 *
 *   node dist/scripts/bench-embeddings.js [--sentences 256] [--passages 48] [--json out.json]
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';

import { sink } from '../shared/logger/index.js';

/** The repository root, from scripts/ (tsx) or dist/scripts/ (compiled). */
function findRoot(): string {
  for (let dir = path.dirname(fileURLToPath(import.meta.url)); ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'README.md'))) return dir;
    if (path.dirname(dir) === dir) throw new Error('no repository root found');
  }
}
const ROOT = findRoot();

const { values: args } = parseArgs({
  options: {
    sentences: { type: 'string', default: '256' },
    passages: { type: 'string', default: '48' },
    json: { type: 'string' },
  },
});

// The engine's own log lines go to stderr: stdout is the report.
sink.write = (line) => void process.stderr.write(line + '\n');

const PARAPHRASES: readonly (readonly [string, string])[] = [
  ['The cat sat on the mat.', 'A cat was sitting on the rug.'],
  ['How do I reset my password?', 'I forgot my password and need to change it.'],
  ['The stock market fell sharply today.', 'Share prices dropped steeply this afternoon.'],
  ['She is reading a book in the library.', 'A woman reads a novel at the library.'],
  ['The train to London is delayed.', 'The London train is running late.'],
  ['The invoice must be paid within thirty days.', 'Payment of the bill is due in 30 days.'],
  ['Upload the scanned contract to the portal.', 'Put the contract scan on the website.'],
  ['The meeting was moved to Thursday morning.', 'We rescheduled the meeting for Thursday am.'],
  ['Heavy rain caused flooding in the valley.', 'The valley flooded after a lot of rain.'],
  ['The doctor prescribed antibiotics for the infection.', 'She got antibiotics from her physician to treat the infection.'],
  ['Our servers were down for two hours last night.', 'The service had a two-hour outage overnight.'],
  ['He bought a new laptop for work.', 'He purchased a new computer for his job.'],
];

function prose(file: string): string {
  return readFileSync(path.join(ROOT, file), 'utf8')
    .replace(/```[\s\S]*?```/g, ' ')
    .replace(/`[^`]*`/g, ' ')
    .replace(/\|[^\n]*\|/g, ' ')
    .replace(/[#*>_[\]()]+/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

function take<T>(items: readonly T[], n: number): T[] {
  if (items.length === 0) throw new Error('no texts to benchmark');
  return Array.from({ length: n }, (_, i) => items[i % items.length] as T);
}

function cosine(a: readonly number[], b: readonly number[]): number {
  let dot = 0;
  for (let i = 0; i < a.length; i++) dot += (a[i] ?? 0) * (b[i] ?? 0);
  return dot; // unit vectors
}

const mib = (bytes: number): number => Math.round((bytes / 2 ** 20) * 10) / 10;
const round = (n: number, digits = 1): number => Math.round(n * 10 ** digits) / 10 ** digits;

async function main(): Promise<void> {
  const text = `${prose('README.md')} ${prose('terraform/README.md')}`;
  const sentencePool = text.split(/(?<=[.!?])\s+/).filter((s) => {
    const words = s.split(' ').length;
    return words >= 6 && words <= 40;
  });
  const words = text.split(' ');
  const passagePool: string[] = [];
  for (let i = 0; i + 120 <= words.length; i += 120) passagePool.push(words.slice(i, i + 120).join(' '));
  const sentences = take(sentencePool, Number(args.sentences));
  const passages = take(passagePool, Number(args.passages));

  const rssStart = process.memoryUsage().rss;
  let t = performance.now();
  const { createEmbeddingEngine } = await import('../shared/engines/embeddings/index.js');
  const { localEmbeddingModelState } = await import('../shared/engines/embeddings/local.js');
  const importMs = performance.now() - t;
  const engine = createEmbeddingEngine({ engine: 'local' });
  const rssBeforeLoad = process.memoryUsage().rss;

  t = performance.now();
  await engine.embed(['The first call loads the model.']);
  const firstEmbedMs = performance.now() - t;
  const state = localEmbeddingModelState();
  const memoryAfterLoad = process.memoryUsage();

  const loop = monitorEventLoopDelay({ resolution: 10 });
  // Wall time, and this process's CPU time: the model runs on one thread, so on an idle machine the
  // two agree, and on a busy one texts per CPU-second is what the model itself does.
  const timed = async (texts: readonly string[]): Promise<{ ms: number; perSecond: number; perCpuSecond: number; maxStallMs: number }> => {
    loop.reset();
    loop.enable();
    const started = performance.now();
    const cpu = process.cpuUsage();
    await engine.embed(texts);
    const used = process.cpuUsage(cpu);
    const ms = performance.now() - started;
    loop.disable();
    const cpuMs = (used.user + used.system) / 1000;
    return { ms: round(ms, 0), perSecond: round(texts.length / (ms / 1000)), perCpuSecond: round(texts.length / (cpuMs / 1000)), maxStallMs: round(loop.max / 1e6, 0) };
  };
  const shortSentences = take(PARAPHRASES.flat(), sentences.length);
  const shortRun = await timed(shortSentences);
  const sentenceRun = await timed(sentences);
  const passageRun = await timed(passages);
  const local = engine as typeof engine & { countTokens(texts: readonly string[]): Promise<number[]> };
  const sentenceTokens = await local.countTokens(sentences);
  const shortTokens = await local.countTokens(shortSentences);
  const passageTokens = await local.countTokens(passages);
  const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

  // Cosine sanity: each first sentence against its paraphrase and against every other second sentence.
  const vectors = await engine.embed(PARAPHRASES.flat());
  const firstOf = (p: number): number[] => vectors[2 * p] ?? [];
  const secondOf = (p: number): number[] => vectors[2 * p + 1] ?? [];
  const paraphrase: number[] = [];
  const unrelated: number[] = [];
  let top1 = 0;
  PARAPHRASES.forEach((_, p) => {
    const scores = PARAPHRASES.map((_q, q) => cosine(firstOf(p), secondOf(q)));
    paraphrase.push(scores[p] ?? 0);
    scores.forEach((s, q) => q !== p && unrelated.push(s));
    if (scores.indexOf(Math.max(...scores)) === p) top1++;
  });

  // Outside the English vocabulary: two unrelated Arabic sentences, and an Arabic one against an English one.
  const [arabicA, arabicB, english] = await engine.embed(['ذهب الولد إلى المدرسة صباحا', 'ارتفعت أسعار النفط في الأسواق العالمية', 'The boy went to school in the morning.']);
  const arabicUnrelated = cosine(arabicA ?? [], arabicB ?? []);
  const arabicEnglish = cosine(arabicA ?? [], english ?? []);

  const report = {
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? '?', node: process.version, loadAverage: loadavg().map((l) => round(l, 2)) },
    model: { name: engine.name, model: engine.model, dimensions: engine.dimensions, maxInputTokens: engine.maxInputTokens, backend: state.backend },
    load: {
      importMs: round(importMs, 0),
      loadMs: state.loadMs,
      firstEmbedMs: round(firstEmbedMs, 0),
      rssStartMiB: mib(rssStart),
      rssBeforeLoadMiB: mib(rssBeforeLoad),
      rssAfterLoadMiB: mib(memoryAfterLoad.rss),
      heapUsedAfterLoadMiB: mib(memoryAfterLoad.heapUsed),
      externalAfterLoadMiB: mib(memoryAfterLoad.external),
      arrayBuffersAfterLoadMiB: mib(memoryAfterLoad.arrayBuffers),
    },
    shortSentences: { count: shortSentences.length, meanWords: round(mean(shortSentences.map((s) => s.split(' ').length))), meanTokens: round(mean(shortTokens)), ...shortRun },
    sentences: { count: sentences.length, meanWords: round(mean(sentences.map((s) => s.split(' ').length))), meanTokens: round(mean(sentenceTokens)), ...sentenceRun },
    passages120Words: { count: passages.length, meanTokens: round(mean(passageTokens)), ...passageRun },
    rssAfterRunsMiB: mib(process.memoryUsage().rss),
    cosine: {
      pairs: PARAPHRASES.length,
      paraphraseMean: round(mean(paraphrase), 3),
      paraphraseMin: round(Math.min(...paraphrase), 3),
      unrelatedMean: round(mean(unrelated), 3),
      unrelatedMax: round(Math.max(...unrelated), 3),
      top1: `${top1}/${PARAPHRASES.length}`,
      arabicUnrelated: round(arabicUnrelated, 3),
      arabicVsEnglishTranslation: round(arabicEnglish, 3),
    },
  };

  const r = report;
  const lines = [
    `machine           ${r.machine.cpus} × ${r.machine.cpu}, Node ${r.machine.node}, load average ${r.machine.loadAverage.join(' ')}`,
    `model             ${r.model.model} (${r.model.dimensions}-d, ≤${r.model.maxInputTokens} tokens, TF.js backend ${r.model.backend ?? '?'})`,
    `import            ${r.load.importMs} ms (engine modules only; nothing heavy)`,
    `load              ${r.load.loadMs ?? '?'} ms (first embed ${r.load.firstEmbedMs} ms)`,
    `RSS               ${r.load.rssBeforeLoadMiB} MiB before load → ${r.load.rssAfterLoadMiB} MiB after (heap ${r.load.heapUsedAfterLoadMiB}, external ${r.load.externalAfterLoadMiB}); ${r.rssAfterRunsMiB} MiB after the runs`,
    `short sentences   ${r.shortSentences.perSecond}/s wall, ${r.shortSentences.perCpuSecond}/CPU-s (${r.shortSentences.count} × ~${r.shortSentences.meanWords} words, ~${r.shortSentences.meanTokens} tokens; longest event-loop stall ${r.shortSentences.maxStallMs} ms)`,
    `README sentences  ${r.sentences.perSecond}/s wall, ${r.sentences.perCpuSecond}/CPU-s (${r.sentences.count} × ~${r.sentences.meanWords} words, ~${r.sentences.meanTokens} tokens; longest event-loop stall ${r.sentences.maxStallMs} ms)`,
    `120-word passages ${r.passages120Words.perSecond}/s wall, ${r.passages120Words.perCpuSecond}/CPU-s (${r.passages120Words.count} × ~${r.passages120Words.meanTokens} tokens; longest event-loop stall ${r.passages120Words.maxStallMs} ms)`,
    `cosine            paraphrases mean ${r.cosine.paraphraseMean} (min ${r.cosine.paraphraseMin}); unrelated mean ${r.cosine.unrelatedMean} (max ${r.cosine.unrelatedMax}); nearest = paraphrase ${r.cosine.top1}`,
    `outside English   two unrelated Arabic sentences ${r.cosine.arabicUnrelated}; Arabic vs its English translation ${r.cosine.arabicVsEnglishTranslation}`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
  if (args.json) writeFileSync(args.json, JSON.stringify(report, null, 2) + '\n');
}

await main();
