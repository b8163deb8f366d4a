/**
 * The usage model: what a job consumed, in the units Google bills, and what that comes to at list
 * prices. Pure (no I/O): the meter fills a {@link Units} record while a stage attempt runs, the job
 * repository writes it (with its estimated cost) in the transition that ends the attempt, and the
 * API and CLI read it back with {@link UsageRecordSchema}.
 *
 * Where the units are stored: `jobs/{id}.usage` (the job's total), `jobs/{id}.stages.{name}.usage`
 * (each stage's), and `projects/{p}/usage/{yyyy-mm-dd}` (the project's day, UTC). All three are
 * incremented together, so the project total is the sum over its jobs.
 */
import { z } from 'zod';

/** Every unit we meter, with what Google bills for it. One list for the meter, the prices and the views. */
export const USAGE_UNITS = {
  /** Document AI (Enterprise Document OCR) bills per page processed; the local engine's pages count the same. */
  ocrPages: 'OCR pages',
  /** Speech-to-Text v2 bills per second of audio (the service's billed seconds when it reports them). */
  sttAudioSeconds: 'speech-to-text audio seconds',
  /** Text-to-Speech bills per character of input, by voice tier. */
  ttsStandardCharacters: 'text-to-speech characters (standard voices)',
  ttsWavenetCharacters: 'text-to-speech characters (WaveNet voices)',
  ttsNeural2Characters: 'text-to-speech characters (Neural2 voices)',
  ttsStudioCharacters: 'text-to-speech characters (Studio voices)',
  ttsChirpHdCharacters: 'text-to-speech characters (Chirp HD voices)',
  /** Vertex AI text embeddings bill per 1,000 characters of input (whitespace not counted). */
  embeddingCharacters: 'embedding input characters',
  /** Gemini bills input and output tokens. */
  summaryInputTokens: 'summary input tokens',
  summaryOutputTokens: 'summary output tokens',
  /** Cloud Run functions bill instance time while a request is handled: vCPU-seconds and GiB-seconds, and requests. */
  functionVcpuSeconds: 'function vCPU-seconds',
  functionGibSeconds: 'function GiB-seconds',
  functionInvocations: 'function invocations',
  /** Firestore bills each document read, written and deleted. */
  firestoreReads: 'Firestore document reads',
  firestoreWrites: 'Firestore document writes',
  firestoreDeletes: 'Firestore document deletes',
  /** Cloud Storage operations: class A (writes, lists), class B (reads, metadata). */
  storageClassA: 'Cloud Storage class A operations',
  storageClassB: 'Cloud Storage class B operations',
} as const;

export type UsageUnit = keyof typeof USAGE_UNITS;
export const UNIT_NAMES = Object.keys(USAGE_UNITS) as UsageUnit[];

export function isUsageUnit(name: string): name is UsageUnit {
  return Object.hasOwn(USAGE_UNITS, name);
}

/** Quantities by unit; absent means zero. */
export type Units = Partial<Record<UsageUnit, number>>;

/**
 * What is stored (job, stage, project day). Lenient on read: unknown unit names (written by a newer
 * version) are kept, never refused, so an older reader still shows a newer job.
 */
export const UsageRecordSchema = z.object({
  units: z.record(z.string(), z.number()).default({}),
  /** Estimated cost of each unit line in USD (quantity × list price at the time it was recorded). */
  costUsd: z.record(z.string(), z.number()).default({}),
  totalUsd: z.number().default(0),
  /** Attempts whose usage was recorded (a retried stage records each attempt). */
  attempts: z.number().int().min(0).default(0),
  /** The price table the last record was priced with. */
  priceTable: z.string().nullable().default(null),
});
export type UsageRecord = z.infer<typeof UsageRecordSchema>;

export const EMPTY_USAGE: UsageRecord = { units: {}, costUsd: {}, totalUsd: 0, attempts: 0, priceTable: null };

/** `a + b`, unit by unit. */
export function addUnits(a: Units, b: Units): Units {
  const out: Units = { ...a };
  for (const [k, v] of Object.entries(b) as [UsageUnit, number][]) out[k] = (out[k] ?? 0) + v;
  return out;
}

/** The sum of records (e.g. a project's days, or a job's stages): units, cost lines and totals. */
export function sumRecords(records: readonly UsageRecord[]): UsageRecord {
  const units: Record<string, number> = {};
  const costUsd: Record<string, number> = {};
  let totalUsd = 0;
  let attempts = 0;
  let priceTable: string | null = null;
  for (const r of records) {
    for (const [k, v] of Object.entries(r.units)) units[k] = (units[k] ?? 0) + v;
    for (const [k, v] of Object.entries(r.costUsd)) costUsd[k] = (costUsd[k] ?? 0) + v;
    totalUsd += r.totalUsd;
    attempts += r.attempts;
    priceTable = r.priceTable ?? priceTable;
  }
  return { units, costUsd, totalUsd, attempts, priceTable };
}

/**
 * Characters Vertex AI bills for a text: Unicode code points, whitespace excluded (the rule of its
 * character-priced models). Used by the embedding meter and by the tests that check it.
 */
export function billableCharacters(text: string): number {
  let n = 0;
  for (const ch of text) if (!/\s/u.test(ch)) n++;
  return n;
}

/** Tokens of a text when the engine reports none (the local summarizer): Google's rule of thumb, ~4 characters a token. */
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

/** Text-to-Speech voice tiers, priced differently. */
export type TtsTier = 'standard' | 'wavenet' | 'neural2' | 'studio' | 'chirpHd';

/**
 * The tier of a Google voice name (`en-US-Neural2-C`, `en-US-Wavenet-D`, `en-US-Chirp3-HD-Aoede`,
 * `en-US-Studio-O`, `en-US-Standard-A`). Local voices (`flite-kal16`) and unknown names bill as
 * standard: the cheapest tier a comparable Google voice would be.
 */
export function ttsTier(voice: string): TtsTier {
  const v = voice.toLowerCase();
  if (/-chirp\d*-hd-|-chirp-hd-/.test(v)) return 'chirpHd';
  if (v.includes('-studio-')) return 'studio';
  if (v.includes('-neural2-') || v.includes('-news-') || v.includes('-polyglot-')) return 'neural2';
  if (v.includes('-wavenet-')) return 'wavenet';
  return 'standard';
}

export const TTS_TIER_UNIT: Record<TtsTier, UsageUnit> = {
  standard: 'ttsStandardCharacters',
  wavenet: 'ttsWavenetCharacters',
  neural2: 'ttsNeural2Characters',
  studio: 'ttsStudioCharacters',
  chirpHd: 'ttsChirpHdCharacters',
};

/**
 * Billed function time for one request: Cloud Run rounds each request up to the next 100 ms; a
 * function of `memoryMb` with `vcpu` CPUs is billed for both for that long.
 */
export function functionUnits(wallMs: number, memoryMb: number, vcpu: number): Units {
  const seconds = Math.ceil(Math.max(0, wallMs) / 100) / 10;
  return { functionVcpuSeconds: round6(seconds * vcpu), functionGibSeconds: round6((seconds * memoryMb) / 1024), functionInvocations: 1 };
}

/** Six decimals: enough for a micro-dollar, and keeps stored numbers readable. */
export function round6(n: number): number {
  return Math.round(n * 1e6) / 1e6;
}

/** The UTC day (`yyyy-mm-dd`) of an instant: the key of a project's daily usage document. */
export function usageDay(at: Date): string {
  return at.toISOString().slice(0, 10);
}
