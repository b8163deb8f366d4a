/**
 * Search latency benchmark (issue 6: "search latency p50/p95 over 10,000 chunks, target p95 under
 * 300 ms"), on a Firestore emulator of its own.
 *
 * What it does, in one process:
 * 1. Starts `gcloud emulators firestore start` on 127.0.0.1:`--port` (default 18400) and waits until
 *    it answers — or, with FIRESTORE_EMULATOR_HOST set, uses that emulator (under a project id of its
 *    own, cleared before and after the run). The emulator it started is stopped at the end, on an
 *    error and on Ctrl-C (its whole process group: gcloud leaves a java child), unless `--keep`.
 * 2. Builds a corpus from real text: the fixture documents of the search evaluation
 *    (test/fixtures/search/docs, read as data), the OCR fixtures' ground-truth texts and the prose of
 *    README.md and terraform/README.md. Their paragraphs are recombined into sections, each chunked
 *    exactly as the embed stage chunks (chunkDocument, same token budget and overlap), until there are
 *    `--distinct` distinct chunk texts; those are embedded with the real local engine (USE-lite,
 *    512-d). Documents (~33 chunks each, 300 for 10,000 chunks) are a header chunk of their own (a
 *    one-line record with a unique reference, e.g. `SCR-2019-0042`, embedded too) followed by sections
 *    drawn from that set: every chunk text occurs in several documents, and a repeated text reuses
 *    the vector of its one embedding (the same text gives the same vector, so nothing is faked; what
 *    it does change is term document frequencies, each `distinct / chunks` times as high as in a
 *    corpus of all-different texts). Embedding 10,000 different chunks would take 18–30 min here
 *    (5.6–9.4 chunks/s measured, depending on the machine's load).
 * 3. Writes the chunks with ChunkRepository.replace (the embed stage's writer), and each document's
 *    READY record (search keeps only chunks of a document's currentVersion), in steps — 1,000,
 *    5,000, then `--chunks` — and at each size measures `search()` (the api's code, in this process)
 *    in three modes, hybrid, vector only and keyword only (SearchDeps `sides`), over the same
 *    interleaved query set (sentences from the documents, keyword pairs and triples, references and
 *    numbers, the labelled queries of the search evaluation), after a warm-up. For every query it
 *    records the latency, this process's CPU time, and the Firestore operations the query made (by
 *    wrapping the client's query methods), converted to billed read units.
 * 4. Prints a table and writes the figures as JSON to `--out`.
 *
 * The emulator is not Firestore: it has no indexes. An `array-contains` filter scans every chunk of
 * the collection and every element of its `terms` array (measured: 0.4–3.7 ms per stored chunk of
 * ~50 distinct terms on 2 cores, depending on their load; an equality-only count of the same chunks
 * takes 60–600 ms at 10,000), and the keyword side runs T + F such queries per search (T counted
 * terms ≤ 24, F candidate terms ≤ 3; 2–26 in this query set). Keyword and hybrid latencies here are therefore emulator scan
 * times growing linearly with the corpus, an upper bound that says nothing about production, which
 * answers from the composite indexes in terraform/firestore.tf. The run measures that growth (the
 * step sizes, and a probe of each query shape at each size) so the scan cost can be told apart from
 * the search's own (this process's CPU per search is reported too).
 * Because one keyword-side search at 10,000 chunks costs the emulator half a minute or more, every
 * (size, mode) cell is time-boxed (`--cell-seconds`): it runs the query set in its interleaved order
 * while the box has room for the next query (keyword side: predicted from the query's scans and the
 * probe; vector side: the cell's average), and reports how many it measured, of which kinds.
 *
 *   node dist/scripts/bench-search.js [--chunks 10000] [--queries 100] [--distinct 500]
 *     [--cell-seconds 45] [--sizes 1000,5000] [--port 18400] [--out result.json] [--keep]
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { AggregateField, Firestore, Query, type AggregateQuerySnapshot, type AggregateSpec, type QuerySnapshot, type VectorQuerySnapshot } from '@google-cloud/firestore';

import { groupMembers, spawnGroup, stopGroup, tcpOpen, waitForHttp, type ManagedProcess } from '../emulators/processes.js';
import { CHUNK_MAX_TOKENS, CHUNK_OVERLAP_TOKENS } from '../functions/embed/handler.js';
import { createEmbeddingEngine } from '../shared/engines/embeddings/index.js';
import { localEmbeddingModelState } from '../shared/engines/embeddings/local.js';
import { CHUNKS, ChunkRepository, type NewChunk } from '../shared/firestore/chunks.js';
import { COLLECTIONS } from '../shared/firestore/paths.js';
import { sink } from '../shared/logger/index.js';
import { preselectTerms } from '../shared/search/bm25.js';
import { documentTermsLanguage, searchTerms } from '../shared/search/query.js';
import { search, type SearchDeps, type SearchOutcome } from '../shared/search/search.js';
import { chunkDocument } from '../shared/text/chunk.js';
import { stripBidiControls } from '../shared/text/normalize.js';
import { termFrequencies } from '../shared/text/terms.js';

// ---------------------------------------------------------------------------------------------
// Options

const { values: args } = parseArgs({
  options: {
    chunks: { type: 'string', default: '10000' },
    queries: { type: 'string', default: '100' },
    distinct: { type: 'string', default: '500' },
    'cell-seconds': { type: 'string', default: '45' },
    sizes: { type: 'string' },
    port: { type: 'string', default: '18400' },
    out: { type: 'string' },
    keep: { type: 'boolean', default: false },
    seed: { type: 'string', default: '6' },
  },
});

function intOption(name: string, value: string | undefined, min: number): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min) throw new Error(`--${name} must be an integer ≥ ${min}, got ${String(value)}`);
  return n;
}

const TOTAL_CHUNKS = intOption('chunks', args.chunks, 10);
const QUERY_COUNT = intOption('queries', args.queries, 4);
const DISTINCT = Math.min(intOption('distinct', args.distinct, 10), TOTAL_CHUNKS);
const CELL_MS = intOption('cell-seconds', args['cell-seconds'], 1) * 1000;
const PORT = intOption('port', args.port, 1024);
const SEED = intOption('seed', args.seed, 0);
/** Sizes measured on the way to TOTAL_CHUNKS: the scan cost shows in how latency grows with them. */
const SIZES = [...new Set([...(args.sizes ?? '1000,5000').split(',').filter((s) => s.trim() !== '').map((s) => intOption('sizes', s.trim(), 10)), TOTAL_CHUNKS])]
  .filter((s) => s <= TOTAL_CHUNKS)
  .sort((a, b) => a - b);

/** GCP project id of the emulator database (the `demo-` prefix: never a real project). */
const GCP_PROJECT = 'demo-scriptorium-bench-search';
/** Scriptorium project the chunks belong to. */
const PROJECT_ID = 'bench-search';
/** Chunks per document (the brief: 200–400 documents for 10,000 chunks). */
const CHUNKS_PER_DOCUMENT = 33;
/** Texts per embed call, as the embed stage does. */
const EMBED_BATCH = 32;
/** Documents written at once. */
const WRITE_CONCURRENCY = 4;
/** Ports of the running stacks: never started on, never cleared. */
const RESERVED_PORTS = (port: number): boolean => (port >= 8080 && port <= 8095) || (port >= 18080 && port <= 18095);

// The engine's and the stages' log lines go to stderr: stdout is the report.
sink.write = (line) => void process.stderr.write(line + '\n');
const progress = (line: string): void => void process.stderr.write(`[bench-search] ${line}\n`);

/** The repository root, from scripts/ (tsx) or dist/scripts/ (compiled). */
function findRoot(): string {
  for (let dir = path.dirname(fileURLToPath(import.meta.url)); ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'README.md'))) return dir;
    if (path.dirname(dir) === dir) throw new Error('no repository root found');
  }
}
const ROOT = findRoot();

// ---------------------------------------------------------------------------------------------
// Small helpers

/** mulberry32: a seeded generator, so the corpus and the query set are the same in every run. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pick<T>(items: readonly T[], random: () => number): T {
  const item = items[Math.floor(random() * items.length)];
  if (item === undefined) throw new Error('pick from an empty list');
  return item;
}

const round = (n: number, digits = 1): number => Math.round(n * 10 ** digits) / 10 ** digits;
const mib = (bytes: number): number => round(bytes / 2 ** 20);

/** Nearest-rank percentile of an ascending list (as scripts/eval-search.ts). */
function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
}

function median(xs: readonly number[]): number {
  return percentile([...xs].sort((a, b) => a - b), 50);
}

interface Stats {
  readonly n: number;
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly mean: number;
  readonly min: number;
  readonly max: number;
}

function stats(xs: readonly number[]): Stats {
  const s = [...xs].sort((a, b) => a - b);
  const mean = s.reduce((a, b) => a + b, 0) / Math.max(1, s.length);
  return { n: s.length, p50: round(percentile(s, 50)), p95: round(percentile(s, 95)), p99: round(percentile(s, 99)), mean: round(mean), min: round(s[0] ?? NaN), max: round(s.at(-1) ?? NaN) };
}

// ---------------------------------------------------------------------------------------------
// Memory: this process's RSS, sampled (the peak of a phase is what a function's memory limit meets),
// and the emulator's (its JVM holds the whole corpus).

let peakRss = process.memoryUsage().rss;
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
}, 200);
sampler.unref();

function takePeakRss(): number {
  const peak = Math.max(peakRss, process.memoryUsage().rss);
  peakRss = process.memoryUsage().rss;
  return peak;
}

/** Resident memory of every live process in the emulator's group (gcloud's Python and the JVM). */
function groupRssBytes(pgid: number): number {
  let total = 0;
  for (const pid of groupMembers(pgid)) {
    try {
      const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      total += Number(m?.[1] ?? 0) * 1024;
    } catch {
      // The process ended between the listing and the read.
    }
  }
  return total;
}

// ---------------------------------------------------------------------------------------------
// The emulator

interface Emulator {
  readonly host: string;
  /** Set when this run started it (and so stops it). */
  readonly proc?: ManagedProcess;
  readonly marker?: string;
  readonly startMs?: number;
}

async function clearProject(host: string): Promise<void> {
  // The emulator's own endpoint: deletes every document of this project id's database, nothing else.
  const res = await fetch(`http://${host}/emulator/v1/projects/${GCP_PROJECT}/databases/(default)/documents`, { method: 'DELETE' });
  if (!res.ok) throw new Error(`clearing ${GCP_PROJECT} on ${host}: HTTP ${res.status}`);
}

async function startEmulator(): Promise<Emulator> {
  const existing = process.env.FIRESTORE_EMULATOR_HOST;
  if (existing) {
    progress(`using the Firestore emulator at ${existing} (FIRESTORE_EMULATOR_HOST), database ${GCP_PROJECT}, cleared first`);
    await clearProject(existing);
    return { host: existing };
  }
  if (RESERVED_PORTS(PORT)) throw new Error(`--port ${PORT} belongs to a running stack's range (8080–8095, 18080–18095)`);
  const host = `127.0.0.1:${PORT}`;
  if (await tcpOpen('127.0.0.1', PORT)) throw new Error(`something already listens on ${host}: choose another --port, or set FIRESTORE_EMULATOR_HOST to use it`);
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.endsWith('_EMULATOR_HOST')) env[k] = v;
  const marker = `bench-search-${process.pid}-${Date.now()}`;
  const logFile = path.join(tmpdir(), `scriptorium-bench-search-${PORT}.log`);
  const started = performance.now();
  const proc = spawnGroup({
    name: 'firestore',
    command: 'gcloud',
    args: ['emulators', 'firestore', 'start', `--host-port=${host}`],
    cwd: tmpdir(),
    // Offline: no gcloud prompts or update checks.
    env: { ...env, CLOUDSDK_CORE_DISABLE_PROMPTS: '1', CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK: 'true' },
    logFile,
    marker,
  });
  emulatorToStop = { proc, marker };
  progress(`starting the Firestore emulator on ${host} (log ${logFile})`);
  await waitForHttp(proc, { url: `http://${host}/`, timeoutMs: 90_000, intervalMs: 250 });
  const startMs = Math.round(performance.now() - started);
  progress(`emulator ready in ${startMs} ms (process group ${proc.pgid})`);
  return { host, proc, marker, startMs };
}

/** The emulator this run started, for the cleanup on any exit path. */
let emulatorToStop: { proc: ManagedProcess; marker: string } | undefined;
let cleanupPromise: Promise<void> | undefined;

/** Stops what this run started (once, whichever exit path gets here first). */
function cleanup(host: string | undefined): Promise<void> {
  cleanupPromise ??= (async () => {
    clearInterval(sampler);
    if (args.keep) {
      if (emulatorToStop) progress(`--keep: emulator left running at ${host ?? '?'} (stop it with: kill -- -${emulatorToStop.proc.pgid})`);
      return;
    }
    if (emulatorToStop) {
      const r = await stopGroup(emulatorToStop.proc.pgid, emulatorToStop.marker);
      progress(`emulator stopped (${r.outcome}, ${r.ms} ms)`);
    } else if (host) {
      // Someone else's emulator: leave it as it was (without our 10,000 chunks in its memory).
      await clearProject(host).catch((err: unknown) => progress(`could not clear ${GCP_PROJECT}: ${String(err)}`));
    }
  })();
  return cleanupPromise;
}

// ---------------------------------------------------------------------------------------------
// Counting Firestore operations. search() builds its queries from the client it is given, so the
// client's own methods are wrapped (for this process only) and every result is counted while a
// meter is active. Read units follow Firestore's billing: a query is billed its documents returned
// (1 when none), an aggregation 1 read per 1,000 index entries it matches (at least 1), a lookup its
// documents. Vector queries are counted by documents returned; their per-index-entry charge is
// not modelled.

interface Meter {
  aggregations: number;
  aggregationEntries: number;
  aggregationReads: number;
  queries: number;
  queryDocs: number;
  vectorQueries: number;
  vectorDocs: number;
  lookupDocs: number;
}

const newMeter = (): Meter => ({ aggregations: 0, aggregationEntries: 0, aggregationReads: 0, queries: 0, queryDocs: 0, vectorQueries: 0, vectorDocs: 0, lookupDocs: 0 });
const readUnits = (m: Meter): number => m.aggregationReads + m.queryDocs + m.vectorDocs + m.lookupDocs;
/** array-contains queries of one search: its term counts (every aggregation but the project total) and candidate fetches. */
const scanCount = (m: Meter): number => Math.max(0, m.aggregations - 1) + m.queries;

let activeMeter: Meter | undefined;

function instrument(db: Firestore): void {
  const queryProto = Query.prototype as { get: (this: Query) => Promise<QuerySnapshot> };
  const queryGet = queryProto.get;
  queryProto.get = async function (this: Query): Promise<QuerySnapshot> {
    const snap = await queryGet.call(this);
    if (activeMeter) {
      activeMeter.queries++;
      activeMeter.queryDocs += Math.max(1, snap.size);
    }
    return snap;
  };

  // AggregateQuery and VectorQuery are not exported as values: their prototypes come from instances.
  const probe = db.collection('_bench_probe');
  const aggregateProto = Object.getPrototypeOf(probe.count()) as { get: (this: unknown) => Promise<AggregateQuerySnapshot<AggregateSpec>> };
  const aggregateGet = aggregateProto.get;
  aggregateProto.get = async function (this: unknown): Promise<AggregateQuerySnapshot<AggregateSpec>> {
    const snap = await aggregateGet.call(this);
    if (activeMeter) {
      // Every aggregation search() runs has a count(); the only other is a sum of per-chunk term
      // counts (each ≥ 1), so the smallest value is the number of matched index entries.
      const values = Object.values(snap.data()).filter((v): v is number => typeof v === 'number');
      const entries = values.length > 0 ? Math.min(...values) : 0;
      activeMeter.aggregations++;
      activeMeter.aggregationEntries += entries;
      activeMeter.aggregationReads += Math.max(1, Math.ceil(entries / 1000));
    }
    return snap;
  };

  const vectorProto = Object.getPrototypeOf(probe.findNearest({ vectorField: 'v', queryVector: [1], limit: 1, distanceMeasure: 'COSINE' })) as { get: (this: unknown) => Promise<VectorQuerySnapshot> };
  const vectorGet = vectorProto.get;
  vectorProto.get = async function (this: unknown): Promise<VectorQuerySnapshot> {
    const snap = await vectorGet.call(this);
    if (activeMeter) {
      activeMeter.vectorQueries++;
      activeMeter.vectorDocs += Math.max(1, snap.size);
    }
    return snap;
  };

  const getAll = db.getAll.bind(db);
  db.getAll = async (...refs: Parameters<typeof getAll>) => {
    const snaps = await getAll(...refs);
    if (activeMeter) activeMeter.lookupDocs += snaps.length;
    return snaps;
  };
}

// ---------------------------------------------------------------------------------------------
// The corpus

interface Source {
  readonly name: string;
  readonly paragraphs: string[];
}

/** Markdown to its prose paragraphs: code, tables and markup dropped, blank lines kept. */
function markdownProse(md: string): string {
  return md
    .replace(/```[\s\S]*?```/g, '\n\n')
    .replace(/^\|.*\|\s*$/gm, '')
    .replace(/`[^`\n]*`/g, ' ')
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/^#+\s*/gm, '\n')
    .replace(/[*_>]+/g, ' ');
}

function paragraphs(text: string): string[] {
  return text
    .split(/\n\s*\n/)
    .map((p) => p.replace(/\s+/g, ' ').trim())
    .filter((p) => p.split(' ').length >= 8);
}

function loadSources(): Source[] {
  const out: Source[] = [];
  const fixtureDir = path.join(ROOT, 'test', 'fixtures');
  const docs = path.join(fixtureDir, 'search', 'docs');
  for (const f of readdirSync(docs).filter((f) => f.endsWith('.txt')).sort()) out.push({ name: f, paragraphs: paragraphs(readFileSync(path.join(docs, f), 'utf8')) });
  const ocr = path.join(fixtureDir, 'ocr');
  for (const f of readdirSync(ocr).filter((f) => f.endsWith('.txt')).sort()) out.push({ name: `ocr/${f}`, paragraphs: paragraphs(readFileSync(path.join(ocr, f), 'utf8')) });
  for (const f of ['README.md', path.join('terraform', 'README.md')]) out.push({ name: f, paragraphs: paragraphs(markdownProse(readFileSync(path.join(ROOT, f), 'utf8'))) });
  return out.filter((s) => s.paragraphs.length > 0);
}

/** One distinct chunk text, embedded once; every chunk with this text reuses its vector. */
interface Distinct {
  readonly text: string;
  readonly tokenEstimate: number;
  readonly termFreqs: Record<string, number>;
  readonly termCount: number;
  vector?: number[];
}

/** A chunk of a section: its distinct text and offsets within the section. */
interface SectionChunk {
  readonly distinct: number;
  readonly charStart: number;
  readonly charEnd: number;
}

interface Section {
  readonly length: number;
  readonly chunks: readonly SectionChunk[];
}

/** A chunk of a document before embedding: its text (shared) and its place in the document. */
interface PlannedChunk {
  readonly distinct: Distinct;
  readonly charStart: number;
  readonly charEnd: number;
}

interface BenchDocument {
  readonly id: string;
  readonly reference: string;
  readonly fileName: string;
  readonly chunks: PlannedChunk[];
}

/** A READY document of one version, as the pipeline leaves it (the fields of DocumentSchema). */
function documentRecord(doc: BenchDocument, embedding: { engine: string; model: string; dimensions: number }): Record<string, unknown> {
  const now = new Date().toISOString();
  const size = doc.chunks.reduce((a, c) => Math.max(a, c.charEnd), 0);
  return {
    projectId: PROJECT_ID,
    ownerUid: 'bench-search',
    fileName: doc.fileName,
    contentType: 'text/plain',
    declaredSize: size,
    status: 'READY',
    jobId: `bench-job-${doc.id}`,
    currentVersion: 1,
    latestVersion: 1,
    source: { bucket: 'bench-search', object: `${doc.id}/v1/${doc.fileName}`, generation: null, size, md5Hash: null, crc32c: null },
    pageCount: 1 + Math.floor((doc.chunks.length - 1) / 4),
    language: 'en',
    text: null,
    chunkCount: doc.chunks.length,
    embedding,
    summary: null,
    activeJobId: null,
    createdAt: now,
    updatedAt: now,
  };
}

/** The records ChunkRepository writes, as the embed stage makes them (with the shared text's vector). */
function newChunks(doc: BenchDocument): NewChunk[] {
  return doc.chunks.map((c, index) => {
    const d = c.distinct;
    if (!d.vector) throw new Error(`${doc.id} chunk ${index}: not embedded`);
    // Pages: four chunks a page, so results cite pages as they do for real documents.
    const page = 1 + Math.floor(index / 4);
    return { index, text: d.text, pageStart: page, pageEnd: page, charStart: c.charStart, charEnd: c.charEnd, tokenEstimate: d.tokenEstimate, termFreqs: d.termFreqs, termCount: d.termCount, vector: d.vector };
  });
}

interface Corpus {
  readonly distinct: Distinct[];
  readonly headers: Distinct[];
  readonly sections: Section[];
  /** Documents of each size step, in order: the first step's, then the next step's additions, … */
  readonly steps: BenchDocument[][];
  readonly pool: readonly string[];
}

function distinctOf(text: string): Distinct {
  // Terms in the language the embed stage would use: the fixtures hold Arabic documents too.
  const tf = termFrequencies(text, { language: documentTermsLanguage(undefined, text) });
  return { text, tokenEstimate: 0, termFreqs: Object.fromEntries(tf.counts), termCount: tf.tokenCount };
}

function buildSections(pool: readonly string[], target: number, random: () => number): { distinct: Distinct[]; sections: Section[] } {
  const distinct: Distinct[] = [];
  const byText = new Map<string, number>();
  const sections: Section[] = [];
  const maxTokens = CHUNK_MAX_TOKENS;
  const options = { maxTokens, overlapTokens: Math.min(CHUNK_OVERLAP_TOKENS, Math.floor(maxTokens / 4)) };
  // Recombined paragraphs almost always make new chunk texts; the bound only guards a tiny pool.
  for (let attempt = 0; distinct.length < target && attempt < target * 20; attempt++) {
    const count = 2 + Math.floor(random() * 4);
    const text = Array.from({ length: count }, () => pick(pool, random)).join('\n\n');
    const chunks: SectionChunk[] = [];
    for (const c of chunkDocument(text, options)) {
      let index = byText.get(c.text);
      if (index === undefined) {
        if (distinct.length >= target) break;
        index = distinct.length;
        byText.set(c.text, index);
        distinct.push({ ...distinctOf(c.text), tokenEstimate: c.tokenEstimate });
      }
      chunks.push({ distinct: index, charStart: c.charStart, charEnd: c.charEnd });
    }
    if (chunks.length > 0) sections.push({ length: chunks.at(-1)?.charEnd ?? 0, chunks });
  }
  return { distinct, sections };
}

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

/** The one synthetic chunk of a document: a record line with a reference no other document has. */
function headerText(n: number, reference: string, firstParagraph: string, random: () => number): string {
  const subject = firstParagraph.split(' ').slice(0, 10).join(' ').replace(/[.,;:]+$/, '');
  return `Record ${reference}, archive box ${1 + (n % 97)}: ${subject}. Filed on ${1 + Math.floor(random() * 28)} ${pick(MONTHS, random)} ${2000 + (n % 25)}.`;
}

function buildCorpus(): Corpus {
  const random = rng(SEED);
  const sources = loadSources();
  const pool = sources.flatMap((s) => s.paragraphs);
  const { distinct, sections } = buildSections(pool, DISTINCT, random);
  const headers: Distinct[] = [];
  const steps: BenchDocument[][] = [];
  let written = 0;
  let n = 0;
  for (const size of SIZES) {
    const stepChunks = size - written;
    const docs = Math.max(1, Math.round(stepChunks / CHUNKS_PER_DOCUMENT));
    const step: BenchDocument[] = [];
    for (let d = 0; d < docs; d++) {
      // Chunk counts spread evenly, so every step ends exactly at its size.
      const quota = Math.floor(stepChunks / docs) + (d < stepChunks % docs ? 1 : 0);
      const reference = `SCR-${2000 + (n % 25)}-${String(n + 1).padStart(4, '0')}`;
      const id = `bench-doc-${String(n + 1).padStart(4, '0')}`;
      const first = pick(sections, random);
      const firstChunk = first.chunks[0];
      const header = distinctOf(headerText(n, reference, distinct[firstChunk?.distinct ?? 0]?.text ?? '', random));
      headers.push(header);
      // The document's text would be the header, then its sections, blank lines between.
      const chunks: PlannedChunk[] = [{ distinct: header, charStart: 0, charEnd: header.text.length }];
      let offset = header.text.length + 2;
      let section = first;
      while (chunks.length < quota) {
        for (const c of section.chunks) {
          if (chunks.length >= quota) break;
          const dd = distinct[c.distinct];
          if (dd) chunks.push({ distinct: dd, charStart: offset + c.charStart, charEnd: offset + c.charEnd });
        }
        offset += section.length + 2;
        section = pick(sections, random);
      }
      step.push({ id, reference, fileName: `record-${reference}.txt`, chunks });
      n++;
    }
    written = size;
    steps.push(step);
  }
  return { distinct, headers, sections, steps, pool };
}

// ---------------------------------------------------------------------------------------------
// Queries

type QueryKind = 'sentence' | 'keywords' | 'reference' | 'labelled';

interface BenchQuery {
  readonly query: string;
  readonly kind: QueryKind;
}

const WORD = /^[A-Za-z][a-z]{4,}$/;

function buildQueries(corpus: Corpus, count: number): BenchQuery[] {
  const random = rng(SEED + 1);
  const english = corpus.pool.filter((p) => !/\p{Script=Arabic}/u.test(p));
  // Sentences as they occur in the documents (6–25 words).
  const sentences = [...new Set(english.flatMap((p) => p.split(/(?<=[.!?])\s+/)).filter((s) => s.split(' ').length >= 6 && s.split(' ').length <= 25))];
  // References and numbers of the texts (`INV-2024-0415`, `2:255`, `ISO 9001`, `1883`), and the
  // documents' own record references (unique: one chunk each), those of the first step, which exist at every size.
  const inText = [...new Set(corpus.pool.flatMap((p) => [...p.matchAll(/[\p{L}\p{N}]*\p{N}[\p{L}\p{N}]*(?:[-:./][\p{L}\p{N}]+)+|\b[A-Z]{2,5} \d{3,5}\b|\b1[5-9]\d\d\b/gu)].map((m) => m[0])))].filter((r) => r.length >= 4);
  const records = (corpus.steps[0] ?? []).map((d) => d.reference);
  let labelled: BenchQuery[] = [];
  try {
    const file = path.join(ROOT, 'test', 'fixtures', 'search', 'queries.json');
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    if (Array.isArray(parsed)) labelled = parsed.flatMap((q: unknown) => (q && typeof q === 'object' && 'query' in q && typeof q.query === 'string' ? [{ query: q.query, kind: 'labelled' as const }] : []));
  } catch {
    // The labelled set is an extra; without it the other kinds fill the set.
  }
  const makers: Record<QueryKind, () => string | undefined> = {
    sentence: () => pick(sentences, random),
    keywords: () => {
      const words = [...new Set(pick(english, random).split(/[^A-Za-z]+/).filter((w) => WORD.test(w)).map((w) => w.toLowerCase()))];
      if (words.length < 3) return undefined;
      const k = 2 + Math.floor(random() * 2);
      const start = Math.floor(random() * (words.length - k + 1));
      return words.slice(start, start + k).join(' ');
    },
    reference: () => (random() < 0.5 && records.length > 0 ? pick(records, random) : inText.length > 0 ? pick(inText, random) : undefined),
    labelled: () => (labelled.length > 0 ? pick(labelled, random).query : undefined),
  };
  // Shares of the set (3 keywords, 3 sentences, 2 references, 2 labelled in every 10), interleaved so
  // that any prefix (what a time-boxed cell measures) is a mix. A keyword query comes first: where a
  // cell has time for one query only (the keyword side at 10,000 chunks on the emulator), it is a
  // short one (~6 scans, not the ~25 of a long sentence), which keeps the run within its budget.
  const order: QueryKind[] = ['keywords', 'sentence', 'reference', 'labelled', 'sentence', 'keywords', 'reference', 'sentence', 'keywords', 'labelled'];
  const out: BenchQuery[] = [];
  const seen = new Set<string>();
  for (let i = 0, misses = 0; out.length < count && misses < 10_000; i++) {
    const kind = order[i % order.length] ?? 'sentence';
    const q = makers[kind]();
    if (q === undefined || seen.has(q)) {
      misses++;
      continue;
    }
    seen.add(q);
    out.push({ query: q, kind });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Measuring

type Mode = 'hybrid' | 'vector' | 'keyword';
const MODES: readonly Mode[] = ['hybrid', 'vector', 'keyword'];

interface QueryRun {
  readonly query: string;
  readonly kind: QueryKind;
  readonly ms: number;
  readonly cpuMs: number;
  readonly results: number;
  readonly modes: SearchOutcome['modes'];
  readonly meter: Meter;
}

interface Cell {
  readonly size: number;
  readonly mode: Mode;
  /** Queries whose requested side did not run (vector side for Arabic; no keyword term), left out of the figures. */
  readonly skipped: number;
  readonly timeBoxed: boolean;
  readonly wallMs: number;
  readonly latencyMs: Stats;
  readonly cpuMs: Stats;
  readonly readUnits: { readonly mean: number; readonly max: number };
  /** array-contains queries per search (term counts + candidate fetches): what the emulator scans for. */
  readonly scans: Stats;
  /** Queries measured, by kind. */
  readonly kinds: Partial<Record<QueryKind, number>>;
  readonly operations: { readonly aggregations: number; readonly aggregationEntries: number; readonly queries: number; readonly queryDocs: number; readonly vectorQueries: number; readonly vectorDocs: number; readonly lookupDocs: number };
  readonly peakRssMiB: number;
  /** Mean number of results per search (10 at most): a guard that the corpus is what search reads. */
  readonly meanResults: number;
  readonly runs: QueryRun[];
}

async function runQuery(q: BenchQuery, deps: SearchDeps): Promise<QueryRun> {
  const meter = newMeter();
  activeMeter = meter;
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  try {
    const out = await search({ projectId: PROJECT_ID, query: q.query }, deps);
    const ms = performance.now() - t0;
    const used = process.cpuUsage(cpu);
    return { query: q.query, kind: q.kind, ms: round(ms), cpuMs: round((used.user + used.system) / 1000), results: out.results.length, modes: out.modes, meter };
  } finally {
    activeMeter = undefined;
  }
}

function answered(mode: Mode, run: QueryRun): boolean {
  if (mode === 'vector') return run.modes.vector;
  if (mode === 'keyword') return run.modes.keyword;
  return true;
}

/**
 * What a keyword-side search of `query` should cost the emulator at a size where one array-contains
 * scan takes `scanMs`: one scan per counted term, plus up to 3 candidate fetches (run one after
 * another, as the emulator does in effect: measured within a factor ~1.5 either way).
 */
function predictKeywordMs(query: string, scanMs: number): number {
  const counted = preselectTerms(searchTerms(query)).length;
  return (counted + Math.min(3, counted)) * scanMs;
}

async function measureCell(size: number, mode: Mode, queries: readonly BenchQuery[], deps: SearchDeps, scanMs: number): Promise<Cell> {
  takePeakRss();
  const runs: QueryRun[] = [];
  const started = performance.now();
  let timeBoxed = false;
  for (const q of queries) {
    // Another query only if the box has room for it: for the keyword side its scans at this size's
    // probe cost (one search at 5,000+ chunks takes the emulator from half a minute to minutes, a
    // long sentence several), for the vector side the cell's average so far. The cell stays a
    // prefix of the query order: it stops at the first query that does not fit.
    const elapsed = performance.now() - started;
    const next = mode === 'vector' ? elapsed / Math.max(1, runs.length) : predictKeywordMs(q.query, scanMs);
    if (runs.length > 0 && elapsed + next > CELL_MS) {
      timeBoxed = true;
      break;
    }
    runs.push(await runQuery(q, deps));
  }
  const wallMs = Math.round(performance.now() - started);
  const counted = runs.filter((r) => answered(mode, r));
  const sum = (f: (m: Meter) => number): number => round(counted.reduce((a, r) => a + f(r.meter), 0) / Math.max(1, counted.length));
  const reads = counted.map((r) => readUnits(r.meter));
  return {
    size,
    mode,
    skipped: runs.length - counted.length,
    timeBoxed,
    wallMs,
    latencyMs: stats(counted.map((r) => r.ms)),
    cpuMs: stats(counted.map((r) => r.cpuMs)),
    readUnits: { mean: round(reads.reduce((a, b) => a + b, 0) / Math.max(1, reads.length)), max: Math.max(0, ...reads) },
    scans: stats(counted.map((r) => scanCount(r.meter))),
    kinds: counted.reduce<Partial<Record<QueryKind, number>>>((k, r) => ({ ...k, [r.kind]: (k[r.kind] ?? 0) + 1 }), {}),
    operations: {
      aggregations: sum((m) => m.aggregations),
      aggregationEntries: sum((m) => m.aggregationEntries),
      queries: sum((m) => m.queries),
      queryDocs: sum((m) => m.queryDocs),
      vectorQueries: sum((m) => m.vectorQueries),
      vectorDocs: sum((m) => m.vectorDocs),
      lookupDocs: sum((m) => m.lookupDocs),
    },
    peakRssMiB: mib(takePeakRss()),
    meanResults: round(counted.reduce((a, r) => a + r.results, 0) / Math.max(1, counted.length)),
    runs,
  };
}

interface Probe {
  readonly size: number;
  /** count() + sum(termCount) of the project's current chunks (equality filters only). */
  readonly totalAggregationMs: number;
  /** count() of chunks whose `terms` contain one frequent term (the emulator's scan). */
  readonly arrayContainsCountMs: number;
  readonly arrayContainsTerm: string;
  readonly arrayContainsMatches: number;
  /** findNearest, 50 neighbours, the same pre-filters as search(). */
  readonly findNearestMs: number;
}

/**
 * Each query shape search() uses, alone, twice (the faster kept; once when the first takes over 5 s):
 * what the emulator charges per shape at this size.
 */
async function probe(db: Firestore, size: number, term: string, vector: readonly number[], model: string): Promise<Probe> {
  const project = db.collection(CHUNKS).where('projectId', '==', PROJECT_ID).where('current', '==', true);
  const best = async (f: () => Promise<unknown>): Promise<number> => {
    let ms = Infinity;
    for (let i = 0; i < 2; i++) {
      const t = performance.now();
      await f();
      ms = Math.min(ms, performance.now() - t);
      if (ms > 5000) break;
    }
    return round(ms);
  };
  let matches = 0;
  const totalAggregationMs = await best(() => project.aggregate({ n: AggregateField.count(), sum: AggregateField.sum('termCount') }).get());
  const arrayContainsCountMs = await best(async () => {
    matches = (await project.where('terms', 'array-contains', term).count().get()).data().count;
  });
  const findNearestMs = await best(() =>
    project
      .where('embeddingModel', '==', model)
      .select('documentId', 'fileName', 'text', 'pageStart', 'pageEnd', 'termCount')
      .findNearest({ vectorField: 'embedding', queryVector: [...vector], limit: 50, distanceMeasure: 'COSINE', distanceResultField: '_distance' })
      .get(),
  );
  return { size, totalAggregationMs, arrayContainsCountMs, arrayContainsTerm: term, arrayContainsMatches: matches, findNearestMs };
}

// ---------------------------------------------------------------------------------------------
// Main

async function main(): Promise<void> {
  const t0 = performance.now();
  const rssStart = process.memoryUsage().rss;
  // Other work on the machine slows the emulator and this process alike: both loads are reported.
  const loadAtStart = loadavg().map((l) => round(l, 2));
  let emulator: Emulator | undefined;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      progress(`${signal}: stopping`);
      void cleanup(emulator?.host ?? process.env.FIRESTORE_EMULATOR_HOST).finally(() => process.exit(130));
    });
  }
  try {
    // The emulator starts (~5–10 s of JVM start) while the corpus is built and embedded.
    const emulatorPromise = startEmulator();
    emulatorPromise.catch(() => {
      // Awaited below; this only keeps an early failure from being reported as unhandled meanwhile.
    });

    const corpusStarted = performance.now();
    const corpus = buildCorpus();
    const queries = buildQueries(corpus, QUERY_COUNT);
    const corpusMs = Math.round(performance.now() - corpusStarted);
    const allDocs = corpus.steps.flat();
    const chunkTotal = allDocs.reduce((a, d) => a + d.chunks.length, 0);
    progress(`corpus: ${corpus.pool.length} source paragraphs → ${corpus.sections.length} sections, ${corpus.distinct.length} distinct chunk texts; ${allDocs.length} documents, ${chunkTotal} chunks (${corpusMs} ms); ${queries.length} queries`);

    // Embedding, with the engine the api and the embed stage use locally.
    const engine = createEmbeddingEngine({ engine: 'local' });
    const t = performance.now();
    await engine.embed(['The first call loads the model.']);
    const firstEmbedMs = Math.round(performance.now() - t);
    const rssAfterLoad = process.memoryUsage().rss;
    const embedAll = async (items: Distinct[], label: string): Promise<{ count: number; ms: number; perSecond: number; meanTokenEstimate: number }> => {
      const started = performance.now();
      for (let i = 0; i < items.length; i += EMBED_BATCH) {
        const batch = items.slice(i, i + EMBED_BATCH);
        // Bidi controls carry no meaning for the model (as in the embed stage).
        const vectors = await engine.embed(batch.map((d) => stripBidiControls(d.text)), { kind: 'document' });
        batch.forEach((d, j) => (d.vector = vectors[j]));
        if ((i / EMBED_BATCH) % 5 === 4) progress(`embedding ${label}: ${Math.min(items.length, i + EMBED_BATCH)}/${items.length}`);
      }
      const ms = Math.round(performance.now() - started);
      const tokens = items.reduce((a, d) => a + d.tokenEstimate, 0) / Math.max(1, items.length);
      return { count: items.length, ms, perSecond: round(items.length / (ms / 1000)), meanTokenEstimate: round(tokens) };
    };
    const bodyEmbedding = await embedAll(corpus.distinct, 'distinct chunks');
    const headerEmbedding = await embedAll(corpus.headers, 'document headers');
    const embeddingPeakRss = takePeakRss();
    progress(`embedded ${bodyEmbedding.count} distinct chunks in ${bodyEmbedding.ms} ms (${bodyEmbedding.perSecond}/s), ${headerEmbedding.count} headers in ${headerEmbedding.ms} ms`);

    // Query vectors alone: the part of the vector side spent in this process before Firestore.
    const queryEmbedMs: number[] = [];
    for (const q of queries) {
      const started = performance.now();
      await engine.embed([q.query], { kind: 'query' });
      queryEmbedMs.push(performance.now() - started);
    }

    emulator = await emulatorPromise;
    process.env.FIRESTORE_EMULATOR_HOST = emulator.host;
    // The client the functions use (shared/firestore/client.ts), with its settings.
    const db = new Firestore({ projectId: GCP_PROJECT, ignoreUndefinedProperties: true });
    instrument(db);
    const repo = new ChunkRepository(db);
    const deps: Record<Mode, SearchDeps> = {
      hybrid: { db, engine: () => Promise.resolve(engine) },
      vector: { db, engine: () => Promise.resolve(engine), sides: { keyword: false, vector: true } },
      keyword: { db, engine: () => Promise.resolve(engine), sides: { keyword: true, vector: false } },
    };
    const embedding = { engine: engine.name, model: engine.model, dimensions: engine.dimensions };

    // The probe term: the word (4+ letters) in most distinct chunks; the emulator scans alike for any term.
    const df = new Map<string, number>();
    for (const d of corpus.distinct) for (const term of Object.keys(d.termFreqs)) if (/^\p{L}{4,}$/u.test(term)) df.set(term, (df.get(term) ?? 0) + 1);
    const probeTerm = [...df.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0]?.[0] ?? 'search';
    const probeVector = corpus.distinct[0]?.vector ?? [];

    const writes: { size: number; documents: number; chunks: number; ms: number; chunksPerSecond: number; emulatorRssMiB?: number }[] = [];
    const probes: Probe[] = [];
    const cells: Cell[] = [];
    let stored = 0;
    for (const [stepIndex, step] of corpus.steps.entries()) {
      const size = SIZES[stepIndex] ?? 0;
      // Write this step's documents with the embed stage's writer, a few at a time.
      const started = performance.now();
      let next = 0;
      const worker = async (): Promise<void> => {
        for (let i = next++; i < step.length; i = next++) {
          const doc = step[i];
          if (!doc) continue;
          // Search reads current chunks only: every version here is current. (A variable, not a literal
          // argument: the repository's context has had `current` in some revisions and not in others.)
          const context = { projectId: PROJECT_ID, documentId: doc.id, version: 1, current: true, contentType: 'text/plain', fileName: doc.fileName, embedding };
          await repo.replace(context, newChunks(doc));
          // Search keeps only chunks of their document's currentVersion, read from the document
          // record: each document gets the record of a READY single-version upload.
          await db.collection(COLLECTIONS.documents).doc(doc.id).set(documentRecord(doc, embedding));
        }
      };
      await Promise.all(Array.from({ length: WRITE_CONCURRENCY }, worker));
      const chunks = step.reduce((a, d) => a + d.chunks.length, 0);
      stored += chunks;
      const ms = Math.round(performance.now() - started);
      const emulatorRss = emulator.proc ? groupRssBytes(emulator.proc.pgid) : undefined;
      writes.push({ size, documents: step.length, chunks, ms, chunksPerSecond: round(chunks / (ms / 1000)), ...(emulatorRss === undefined ? {} : { emulatorRssMiB: mib(emulatorRss) }) });
      const check = (await db.collection(CHUNKS).where('projectId', '==', PROJECT_ID).where('current', '==', true).count().get()).data().count;
      if (check !== stored || stored !== size) throw new Error(`after writing step ${stepIndex + 1}: ${check} chunks stored, ${stored} written, ${size} expected`);
      progress(`${size} chunks stored (${chunks} written in ${ms} ms)`);

      probes.push(await probe(db, size, probeTerm, probeVector, engine.model));
      progress(`probe at ${size}: ${JSON.stringify(probes.at(-1))}`);

      // Warm-up, not counted: connections, JIT and the first request of each query shape. At the
      // first size only for the keyword side (there it costs a second or two; at 10,000 chunks a minute).
      const warmups = stepIndex === 0 ? queries.filter((q) => q.kind === 'keywords').slice(0, 2) : [];
      for (const mode of MODES) for (const q of mode === 'vector' ? queries.slice(0, 2) : warmups) await runQuery(q, deps[mode]);

      for (const mode of MODES) {
        const cell = await measureCell(size, mode, queries, deps[mode], probes.at(-1)?.arrayContainsCountMs ?? 0);
        cells.push(cell);
        // The vector side always has neighbours to give, so an empty answer to every query there
        // means the stored corpus no longer matches what search reads (a filter or field it added):
        // the latency of finding nothing would be a wrong figure. (A keyword query may rightly find nothing.)
        if (mode !== 'keyword' && cell.latencyMs.n > 0 && cell.meanResults === 0) throw new Error(`${mode} search at ${size} chunks found nothing for any query: check what search() filters on`);
        progress(`${size} ${mode}: n ${cell.latencyMs.n}${cell.timeBoxed ? ' (time-boxed)' : ''}, p50 ${cell.latencyMs.p50} ms, p95 ${cell.latencyMs.p95} ms (${cell.wallMs} ms)`);
      }
    }
    const emulatorRssEnd = emulator.proc ? mib(groupRssBytes(emulator.proc.pgid)) : undefined;

    // Growth with size, per mode: the median over the queries measured at both sizes of their
    // latency ratio (cells are prefixes of one query order, so the smaller cell covers the larger one's queries).
    const first = SIZES[0] ?? 0;
    const scaling = MODES.map((mode) => {
      const base = cells.find((c) => c.size === first && c.mode === mode);
      const ratios = SIZES.slice(1).map((size) => {
        const cell = cells.find((c) => c.size === size && c.mode === mode);
        const baseMs = new Map(base?.runs.filter((r) => answered(mode, r)).map((r) => [r.query, r.ms]));
        const rs = (cell?.runs ?? []).filter((r) => answered(mode, r) && (baseMs.get(r.query) ?? 0) > 0).map((r) => r.ms / (baseMs.get(r.query) ?? 1));
        return { size, chunkRatio: round(size / first, 2), medianLatencyRatio: round(median(rs), 2), queries: rs.length };
      });
      return { mode, from: first, ratios };
    });

    const totalMs = Math.round(performance.now() - t0);
    const report = {
      machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? '?', memoryGiB: round(totalmem() / 2 ** 30), node: process.version, loadAverageAtStart: loadAtStart, loadAverage: loadavg().map((l) => round(l, 2)) },
      emulator: { host: emulator.host, startedHere: emulator.proc !== undefined, ...(emulator.startMs === undefined ? {} : { startMs: emulator.startMs }), ...(emulatorRssEnd === undefined ? {} : { rssMiBAtEnd: emulatorRssEnd }) },
      options: { chunks: TOTAL_CHUNKS, queries: queries.length, distinct: DISTINCT, cellSeconds: CELL_MS / 1000, sizes: SIZES, seed: SEED, chunkMaxTokens: CHUNK_MAX_TOKENS, chunkOverlapTokens: CHUNK_OVERLAP_TOKENS },
      corpus: {
        sources: 'test/fixtures/search/docs/*.txt, test/fixtures/ocr/*.txt, README.md, terraform/README.md (prose paragraphs)',
        sourceParagraphs: corpus.pool.length,
        sections: corpus.sections.length,
        distinctChunkTexts: corpus.distinct.length,
        documents: allDocs.length,
        chunks: chunkTotal,
        headerChunks: corpus.headers.length,
        meanTermsPerChunk: round(allDocs.reduce((a, d) => a + d.chunks.reduce((b, c) => b + Object.keys(c.distinct.termFreqs).length, 0), 0) / Math.max(1, chunkTotal)),
        vectorsReused: `${chunkTotal - corpus.headers.length} body chunks share the vectors of ${corpus.distinct.length} distinct texts (each text embedded once; identical text, identical vector)`,
        buildMs: corpusMs,
      },
      embedding: {
        model: engine.model,
        dimensions: engine.dimensions,
        modelLoadMs: localEmbeddingModelState().loadMs ?? null,
        firstEmbedMs,
        distinctChunks: bodyEmbedding,
        headers: headerEmbedding,
        estimatedMsForAllChunksDistinct: Math.round((chunkTotal / Math.max(0.001, bodyEmbedding.perSecond)) * 1000),
        queryEmbedMs: stats(queryEmbedMs),
      },
      writes,
      probes,
      cells: cells.map(({ runs: _runs, ...c }) => c),
      scaling,
      memory: {
        rssStartMiB: mib(rssStart),
        rssAfterModelLoadMiB: mib(rssAfterLoad),
        peakRssWhileEmbeddingMiB: mib(embeddingPeakRss),
        peakRssWhileSearchingMiB: Math.max(...cells.map((c) => c.peakRssMiB)),
        rssEndMiB: mib(process.memoryUsage().rss),
        heapUsedEndMiB: mib(process.memoryUsage().heapUsed),
      },
      totalSeconds: round(totalMs / 1000),
      caveats: [
        'Firestore emulator, not Firestore: no indexes. array-contains scans every chunk and every element of its terms array, so keyword and hybrid latencies grow linearly with the corpus (see probes and scaling) and are an upper bound, not a production figure; production answers them from the composite indexes in terraform/firestore.tf.',
        'findNearest on the emulator is a brute-force scan of every vector in this process\'s database as well.',
        `Cells are time-boxed to ${CELL_MS / 1000} s: a cell measures a prefix of the interleaved query order (n below), stopping at the first query that would not fit (keyword side: predicted from its scan count and the probe); percentiles over a handful of queries are indicative only.`,
        `Chunk texts repeat: ${corpus.distinct.length} distinct texts fill ${chunkTotal - corpus.headers.length} body chunks, so term document frequencies are inflated and candidate queries hit their 200-chunk cap more often than in a corpus of all-different chunks. Header chunks (one per document, synthetic record lines with unique references) are distinct.`,
        'Read units follow Firestore billing (query: documents returned, ≥ 1; aggregation: 1 per 1,000 matched index entries, ≥ 1; lookups: documents); the per-entry charge of vector queries is not modelled.',
        'Everything shares 2 CPU cores: the emulator JVM and this process (search, gRPC, the embedding model for each query vector).',
      ],
      queries: queries.map((q) => ({ query: q.query, kind: q.kind })),
      perQuery: cells.map((c) => ({ size: c.size, mode: c.mode, runs: c.runs.map((r) => ({ query: r.query, kind: r.kind, ms: r.ms, cpuMs: r.cpuMs, results: r.results, modes: r.modes, readUnits: readUnits(r.meter), meter: r.meter })) })),
    };

    printReport(report.options, report, cells, probes, scaling);
    if (args.out) {
      writeFileSync(args.out, JSON.stringify(report, null, 2) + '\n');
      progress(`JSON written to ${args.out}`);
    }
    await db.terminate();
  } finally {
    await cleanup(emulator?.host ?? process.env.FIRESTORE_EMULATOR_HOST);
  }
}

// ---------------------------------------------------------------------------------------------
// The printed report

interface PrintedReport {
  readonly machine: { cpus: number; cpu: string; memoryGiB: number; node: string; loadAverageAtStart: number[]; loadAverage: number[] };
  readonly emulator: { host: string; startedHere: boolean; startMs?: number; rssMiBAtEnd?: number };
  readonly corpus: { sourceParagraphs: number; sections: number; distinctChunkTexts: number; documents: number; chunks: number; headerChunks: number; meanTermsPerChunk: number };
  readonly embedding: {
    model: string;
    dimensions: number;
    modelLoadMs: number | null;
    firstEmbedMs: number;
    distinctChunks: { count: number; ms: number; perSecond: number; meanTokenEstimate: number };
    headers: { count: number; ms: number; perSecond: number };
    estimatedMsForAllChunksDistinct: number;
    queryEmbedMs: Stats;
  };
  readonly writes: readonly { size: number; documents: number; chunks: number; ms: number; chunksPerSecond: number; emulatorRssMiB?: number }[];
  readonly memory: { rssStartMiB: number; rssAfterModelLoadMiB: number; peakRssWhileEmbeddingMiB: number; peakRssWhileSearchingMiB: number; rssEndMiB: number };
  readonly totalSeconds: number;
  readonly caveats: readonly string[];
}

function printReport(options: { queries: number; cellSeconds: number }, r: PrintedReport, cells: readonly Cell[], probes: readonly Probe[], scaling: readonly { mode: Mode; from: number; ratios: { size: number; chunkRatio: number; medianLatencyRatio: number; queries: number }[] }[]): void {
  const e = r.embedding;
  const lines: string[] = [
    `machine     ${r.machine.cpus} × ${r.machine.cpu}, ${r.machine.memoryGiB} GiB, Node ${r.machine.node}; load average (1, 5, 15 min) ${r.machine.loadAverageAtStart.join(' ')} at start, ${r.machine.loadAverage.join(' ')} at the end`,
    `emulator    ${r.emulator.startedHere ? `started here on ${r.emulator.host} in ${r.emulator.startMs ?? '?'} ms` : `existing, ${r.emulator.host}`}${r.emulator.rssMiBAtEnd === undefined ? '' : `; RSS ${r.emulator.rssMiBAtEnd} MiB at the end`}`,
    `corpus      ${r.corpus.chunks} chunks in ${r.corpus.documents} documents (${r.corpus.headerChunks} header chunks + body chunks from ${r.corpus.distinctChunkTexts} distinct texts: ${r.corpus.sections} sections of ${r.corpus.sourceParagraphs} real paragraphs); ~${r.corpus.meanTermsPerChunk} distinct terms a chunk`,
    `embedding   ${e.model} (${e.dimensions}-d): model load ${e.modelLoadMs ?? '?'} ms (first embed ${e.firstEmbedMs} ms); ${e.distinctChunks.count} distinct chunks (~${e.distinctChunks.meanTokenEstimate} est. tokens) in ${(e.distinctChunks.ms / 1000).toFixed(1)} s = ${e.distinctChunks.perSecond} chunks/s; ${e.headers.count} headers at ${e.headers.perSecond}/s`,
    `            vectors REUSED: embedding all ${r.corpus.chunks} chunks as distinct texts would take ~${Math.round(e.estimatedMsForAllChunksDistinct / 60_000)} min at that rate; query embedding p50 ${e.queryEmbedMs.p50} ms, p95 ${e.queryEmbedMs.p95} ms`,
    ...r.writes.map((w) => `writes      → ${w.size} chunks: ${w.chunks} chunks (${w.documents} documents, ChunkRepository.replace × ${WRITE_CONCURRENCY} at once) in ${(w.ms / 1000).toFixed(1)} s = ${w.chunksPerSecond} chunks/s${w.emulatorRssMiB === undefined ? '' : `; emulator RSS ${w.emulatorRssMiB} MiB`}`),
    `memory      this process: RSS ${r.memory.rssStartMiB} MiB at start, ${r.memory.rssAfterModelLoadMiB} after model load, peak ${r.memory.peakRssWhileEmbeddingMiB} embedding, peak ${r.memory.peakRssWhileSearchingMiB} searching, ${r.memory.rssEndMiB} at the end`,
    '',
    `search() latency, ms (${options.queries} queries, interleaved kinds; each cell time-boxed to ${options.cellSeconds} s; n = queries measured)`,
  ];
  const header = ['chunks', 'mode', 'n', 'kinds', 'p50', 'p95', 'p99', 'mean', 'max', 'CPU p50', 'scans', 'reads/query', 'aggs', 'agg entries', 'queries', 'docs', 'vector docs', 'lookups', 'skipped'];
  const kinds = (k: Cell['kinds']): string => (['keywords', 'sentence', 'reference', 'labelled'] as const).map((kind) => `${k[kind] ?? 0}${kind[0] ?? ''}`).join(' ');
  const rows = cells.map((c) => [
    String(c.size),
    c.mode,
    `${c.latencyMs.n}${c.timeBoxed ? '*' : ''}`,
    kinds(c.kinds),
    String(c.latencyMs.p50),
    String(c.latencyMs.p95),
    String(c.latencyMs.p99),
    String(c.latencyMs.mean),
    String(c.latencyMs.max),
    String(c.cpuMs.p50),
    String(c.scans.mean),
    String(c.readUnits.mean),
    String(c.operations.aggregations),
    String(c.operations.aggregationEntries),
    String(c.operations.queries),
    String(c.operations.queryDocs),
    String(c.operations.vectorDocs),
    String(c.operations.lookupDocs),
    String(c.skipped),
  ]);
  lines.push(...table(header, rows));
  lines.push('  * time-boxed: the cell stopped before the end of the query set. kinds: queries measured (k keywords, s sentence, r reference, l labelled).');
  lines.push('  CPU p50: this process\'s CPU per search (query embedding, BM25, fusion, snippets, gRPC). scans: array-contains queries per search (mean).');
  lines.push('  reads/query: billed read units (mean); aggs … lookups: operations per search (means).');
  lines.push('  skipped: queries whose requested side did not run (Arabic queries on the local English-only vector side), left out of the figures.');
  lines.push('');
  lines.push('The emulator alone, per query shape (best of 2), ms');
  lines.push(
    ...table(
      ['chunks', 'count+sum (equality)', 'array-contains count', 'term (matches)', 'findNearest 50', 'array-contains ms / 1,000 chunks'],
      probes.map((p) => [String(p.size), String(p.totalAggregationMs), String(p.arrayContainsCountMs), `${p.arrayContainsTerm} (${p.arrayContainsMatches})`, String(p.findNearestMs), String(round((p.arrayContainsCountMs / p.size) * 1000))]),
    ),
  );
  const last = probes.at(-1);
  // Scans per search depend on the query, not the size: those measured in every keyword-side cell.
  const scans = cells.filter((c) => c.mode !== 'vector').flatMap((c) => c.runs.filter((r) => r.modes.keyword).map((r) => scanCount(r.meter)));
  if (last && scans.length > 0) {
    const s = stats(scans);
    const at = (n: number): string => ((n * last.arrayContainsCountMs) / 1000).toFixed(0);
    lines.push(
      `  Keyword-side searches measured made ${s.min}–${s.max} array-contains scans (p50 ${s.p50}, mean ${s.mean}; ${s.n} searches); one scan costs the emulator ` +
        `${(last.arrayContainsCountMs / 1000).toFixed(1)} s at ${last.size} chunks: ~${at(s.min)}–${at(s.max)} s a search there if they ran one after another.`,
    );
  }
  if (scaling.some((s) => s.ratios.length > 0)) {
    lines.push('');
    lines.push('Growth with corpus size: median per-query latency ratio (queries measured at both sizes)');
    lines.push(...table(['mode', 'from', 'to', 'chunks ×', 'latency ×', 'queries'], scaling.flatMap((s) => s.ratios.map((x) => [s.mode, String(s.from), String(x.size), String(x.chunkRatio), String(x.medianLatencyRatio), String(x.queries)]))));
  }
  lines.push('');
  lines.push('Caveats');
  for (const c of r.caveats) lines.push(`- ${c}`);
  lines.push('');
  lines.push(`total ${r.totalSeconds} s`);
  process.stdout.write(lines.join('\n') + '\n');
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  // Numbers right-aligned, words left-aligned (the first column, sizes, reads as a label).
  const left = header.map((_, i) => i === 0 || rows.some((r) => !/^[\d.,*]+$|^NaN$|^Infinity$/.test(r[i] ?? '')));
  const line = (cells: readonly string[]): string => `| ${cells.map((c, i) => (left[i] ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join(' | ')} |`;
  return [line(header), `|${widths.map((w, i) => '-'.repeat(w + 1) + (left[i] ? '-' : ':')).join('|')}|`, ...rows.map(line)];
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench-search: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
