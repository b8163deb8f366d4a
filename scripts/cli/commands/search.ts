/**
 * `scriptorium search "QUERY"`: hybrid search over the project's documents (POST /v1/search).
 */
import { parseCommand, parsePositiveInt } from '../args.js';
import { EXIT, UsageError, CliFailure, type CliContext, type Command } from '../io.js';
import { ApiError, loadConfig, openFirebaseSession } from '../session.js';
import type { SearchHit } from '../../../shared/api/contracts.js';
import { neutralizeControls } from './text.js';

const USAGE = `Usage: scriptorium search QUERY [--project ID] [--limit N] [--json] [--config FILE]

Searches the project's processed documents (POST /v1/search): keyword (BM25) and semantic (vector)
matches, fused. Prints rank, score, file name, page and a snippet with the matched words in «».

Options:
  --project ID    project to search (default: the local stack's project)
  --limit N       results, 1-50 (default 10)
  --json          print the results as a JSON array on stdout instead:
                  [{documentId, fileName, chunkId, page, pageEnd, score, snippet, highlights}, ...]
                  (highlights: [{start, end}] UTF-16 offsets into snippet)
  --config FILE   local stack config (default: $SCRIPTORIUM_LOCAL_CONFIG or .scriptorium/local.json)
  -h, --help      show this help

Exit status: 0 with results or none (none is not an error), 1 when the api refuses or fails.
`;

/** `snippet` with its highlights wrapped in «», control characters neutralized (terminal-safe). */
export function markSnippet(hit: Pick<SearchHit, 'snippet' | 'highlights'>): string {
  let out = '';
  let at = 0;
  for (const h of [...hit.highlights].sort((a, b) => a.start - b.start)) {
    if (h.start < at || h.end > hit.snippet.length) continue;
    out += hit.snippet.slice(at, h.start) + '«' + hit.snippet.slice(h.start, h.end) + '»';
    at = h.end;
  }
  return neutralizeControls(out + hit.snippet.slice(at));
}

/** The human listing: one header line per hit (rank, score, file, page) and its snippet indented. */
export function formatHits(hits: readonly SearchHit[]): string {
  if (hits.length === 0) return 'no results\n';
  const width = String(hits.length).length;
  return hits
    .map((h, i) => {
      const pages = h.pageEnd > h.page ? `pp. ${h.page}-${h.pageEnd}` : `p. ${h.page}`;
      return `${String(i + 1).padStart(width)}. ${h.score.toFixed(4)}  ${neutralizeControls(h.fileName)}  ${pages}  (${h.documentId})\n${' '.repeat(width + 2)}${markSnippet(h)}\n`;
    })
    .join('');
}

async function run(ctx: CliContext): Promise<number> {
  const { values, positionals } = parseCommand(ctx.argv, { json: { type: 'boolean' }, project: { type: 'string' }, limit: { type: 'string' } });
  if (values.help) {
    ctx.stdout.write(USAGE);
    return EXIT.OK;
  }
  if (positionals.length === 0) throw new UsageError('missing QUERY');
  const query = positionals.join(' ');
  if (query.trim().length === 0) throw new UsageError('QUERY is empty');
  if (query.length > 500) throw new UsageError(`QUERY is ${query.length} characters; at most 500`);
  const limit = values.limit === undefined ? undefined : parsePositiveInt('limit', values.limit);
  if (limit !== undefined && limit > 50) throw new UsageError(`--limit must be at most 50, got ${limit}`);
  const config = loadConfig(values.config, ctx.env);
  const projectId = values.project ?? config.projectId;
  const session = await (ctx.openSession ?? openFirebaseSession)(config);
  try {
    const res = await session.api.search({ projectId, query, ...(limit === undefined ? {} : { limit }) });
    if (values.json) {
      ctx.stdout.write(JSON.stringify(res.results) + '\n');
    } else {
      ctx.stdout.write(formatHits(res.results));
      const modes = [res.modes.keyword ? 'keyword' : null, res.modes.vector ? 'vector' : null].filter(Boolean).join('+') || 'none';
      ctx.stderr.write(`${res.results.length} result${res.results.length === 1 ? '' : 's'} in ${res.took.ms} ms (${modes})\n`);
    }
    return EXIT.OK;
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    if (err.status === 403) throw new CliFailure(`you (${session.userEmail}) are not a member of project ${projectId} (${err.describe()})`);
    throw new CliFailure(`search failed (${err.describe()})`);
  } finally {
    await session.close();
  }
}

/** `scriptorium search`. */
export const searchCommand: Command = { name: 'search', summary: "search the project's documents (keyword + semantic)", usage: USAGE, run };
