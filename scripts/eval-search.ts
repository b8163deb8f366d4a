/**
 * Retrieval evaluation of search against a running stack (the dev profile): the labelled queries of
 * test/fixtures/search/queries.json over the documents of test/fixtures/search (docs/ and the
 * fixtures corpus.json lists), which must have been uploaded to the stack's project first:
 *
 *   npx scriptorium upload test/fixtures/search/docs/ test/fixtures/ocr/phototest.txt \
 *     test/fixtures/ocr/8087_054.3B.txt test/fixtures/pdf/google-doc-document.pdf \
 *     test/fixtures/pdf/multicolumn.pdf test/fixtures/pdf/pdflatex-4-pages.pdf test/fixtures/html/habibi.html
 *   node dist/scripts/eval-search.js [--config .scriptorium/local.json] [--repeat 5] [--json out.json] [--no-api]
 *
 * For each configuration (hybrid with RRF, hybrid with a score blend, keyword only = plain BM25,
 * vector only) it runs `search` in this process on the stack's Firestore (same code as the api, the
 * local embedding engine loaded here) and reports nDCG@10 and recall@5 at document level (a
 * document's rank is that of its best chunk; relevance is binary), overall and per query kind. Then
 * it measures the api route itself: POST /v1/search latency, p50/p95 over `--repeat` rounds of all
 * queries (after one warm-up round, which also loads the api's query engine).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Firestore } from '@google-cloud/firestore';
import { readLocalConfig } from '../emulators/local-config.js';
import { createEmbeddingEngine } from '../shared/engines/embeddings/index.js';
import type { EmbeddingEngine } from '../shared/engines/embeddings/types.js';
import { sink } from '../shared/logger/index.js';
import { search, type SearchDeps } from '../shared/search/index.js';
import { signIn } from './bench-common.js';

interface LabelledQuery {
  readonly query: string;
  readonly relevant: readonly string[];
  readonly kind: string;
}

const { values: args } = parseArgs({
  options: {
    config: { type: 'string' },
    repeat: { type: 'string', default: '5' },
    json: { type: 'string' },
    fixtures: { type: 'string', default: 'test/fixtures/search' },
    'no-api': { type: 'boolean', default: false },
  },
});

sink.write = (line) => void process.stderr.write(line + '\n');

/** nDCG@k with binary relevance. */
export function ndcgAt(ranked: readonly string[], relevant: ReadonlySet<string>, k = 10): number {
  let dcg = 0;
  ranked.slice(0, k).forEach((d, i) => {
    if (relevant.has(d)) dcg += 1 / Math.log2(i + 2);
  });
  let ideal = 0;
  for (let i = 0; i < Math.min(k, relevant.size); i++) ideal += 1 / Math.log2(i + 2);
  return ideal > 0 ? dcg / ideal : 0;
}

export function recallAt(ranked: readonly string[], relevant: ReadonlySet<string>, k = 5): number {
  if (relevant.size === 0) return 0;
  return ranked.slice(0, k).filter((d) => relevant.has(d)).length / relevant.size;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
}

async function main(): Promise<void> {
  const cfg = readLocalConfig(args.config ?? process.env.SCRIPTORIUM_LOCAL_CONFIG ?? path.join(process.cwd(), '.scriptorium', 'local.json'));
  process.env.FIRESTORE_EMULATOR_HOST = cfg.firestoreEmulatorHost;
  const db = new Firestore({ projectId: cfg.gcpProjectId });
  const queries = JSON.parse(readFileSync(path.join(args.fixtures, 'queries.json'), 'utf8')) as LabelledQuery[];

  // Document ids → file names of the project's READY documents (the labels name files).
  const docs = await db.collection('documents').where('projectId', '==', cfg.projectId).get();
  const nameOf = new Map<string, string>();
  for (const d of docs.docs) if (d.get('status') === 'READY') nameOf.set(d.id, String(d.get('fileName')));
  const names = new Set(nameOf.values());
  const missing = [...new Set(queries.flatMap((q) => q.relevant))].filter((n) => !names.has(n));
  if (missing.length > 0) throw new Error(`not uploaded (or not READY) in project ${cfg.projectId}: ${missing.join(', ')}`);
  const chunkCount = (await db.collection('chunks').where('projectId', '==', cfg.projectId).where('current', '==', true).count().get()).data().count;
  process.stderr.write(`${nameOf.size} documents, ${chunkCount} chunks, ${queries.length} queries\n`);

  let engine: EmbeddingEngine | undefined;
  const engineDep = (): Promise<EmbeddingEngine> => Promise.resolve((engine ??= createEmbeddingEngine({ engine: 'local' })));
  const configs: Record<string, SearchDeps> = {
    'hybrid (RRF k=60)': { db, engine: engineDep, fusion: 'rrf' },
    'hybrid (blend 0.5)': { db, engine: engineDep, fusion: 'blend' },
    'keyword only (BM25)': { db, engine: engineDep, sides: { keyword: true, vector: false } },
    'vector only': { db, engine: engineDep, sides: { keyword: false, vector: true } },
  };
  const kinds = [...new Set(queries.map((q) => q.kind))];
  const table: Record<string, Record<string, { ndcg: number; recall: number; n: number }>> = {};
  const perQuery: Record<string, { query: string; ranked: string[] }[]> = {};
  for (const [label, deps] of Object.entries(configs)) {
    const rows: Record<string, { ndcg: number; recall: number; n: number }> = {};
    const add = (k: string, ndcg: number, recall: number): void => {
      const r = (rows[k] ??= { ndcg: 0, recall: 0, n: 0 });
      r.ndcg += ndcg;
      r.recall += recall;
      r.n += 1;
    };
    perQuery[label] = [];
    for (const q of queries) {
      const out = await search({ projectId: cfg.projectId, query: q.query, limit: 30 }, deps);
      const ranked = [...new Set(out.results.map((r) => nameOf.get(r.documentId) ?? r.fileName))];
      const rel = new Set(q.relevant);
      add('all', ndcgAt(ranked, rel), recallAt(ranked, rel));
      add(q.kind, ndcgAt(ranked, rel), recallAt(ranked, rel));
      perQuery[label].push({ query: q.query, ranked: ranked.slice(0, 5) });
    }
    table[label] = rows;
  }

  const fmt = (x: number): string => x.toFixed(3);
  const header = `| configuration | nDCG@10 | recall@5 | ${kinds.map((k) => `nDCG@10 ${k} (${queries.filter((q) => q.kind === k).length})`).join(' | ')} |`;
  const lines = [header, `|${'---|'.repeat(3 + kinds.length)}`];
  for (const [label, rows] of Object.entries(table)) {
    const all = rows.all ?? { ndcg: 0, recall: 0, n: 1 };
    lines.push(`| ${label} | ${fmt(all.ndcg / all.n)} | ${fmt(all.recall / all.n)} | ${kinds.map((k) => fmt((rows[k]?.ndcg ?? 0) / (rows[k]?.n ?? 1))).join(' | ')} |`);
  }
  process.stdout.write(`Retrieval (${queries.length} queries, ${nameOf.size} documents, ${chunkCount} chunks)\n\n${lines.join('\n')}\n\n`);

  if (args.json) writeFileSync(args.json, JSON.stringify({ table, perQuery }, null, 2));
  if (args['no-api']) return;

  // The api route, as a client sees it.
  const token = await signIn(cfg);
  const times: number[] = [];
  const server: number[] = [];
  const repeat = Math.max(1, Number(args.repeat));
  for (let round = 0; round <= repeat; round++) {
    for (const q of queries) {
      const t0 = performance.now();
      const res = await fetch(`${cfg.apiUrl}/v1/search`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ projectId: cfg.projectId, query: q.query }),
      });
      const body = (await res.json()) as { took?: { ms: number } };
      if (!res.ok) throw new Error(`POST /v1/search: ${res.status} ${JSON.stringify(body)}`);
      if (round > 0) {
        times.push(performance.now() - t0);
        server.push(body.took?.ms ?? NaN);
      }
    }
  }
  times.sort((a, b) => a - b);
  server.sort((a, b) => a - b);
  process.stdout.write(
    `POST /v1/search over ${times.length} requests (${repeat} rounds of ${queries.length} queries, after a warm-up round): ` +
      `client p50 ${fmt(percentile(times, 50))} ms, p95 ${fmt(percentile(times, 95))} ms; server took.ms p50 ${percentile(server, 50)}, p95 ${percentile(server, 95)}\n`,
  );
  if (args.json) writeFileSync(args.json, JSON.stringify({ table, perQuery, latency: { client: times, server } }, null, 2));
  await db.terminate();
}


main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`eval-search: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
