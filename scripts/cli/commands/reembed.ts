/**
 * `scriptorium reembed`: after a change of embedding model, re-embeds a project's documents whose
 * chunks another model made (`POST /v1/reembed`, a page at a time), then follows the jobs to the end
 * with one overall progress line.
 */
import { parseCommand, parseSeconds } from '../args.js';
import { EXIT, UsageError, CliFailure, type CliContext, type Command } from '../io.js';
import { ApiError, loadConfig, openFirebaseSession, type Session } from '../session.js';
import { DocumentIdSchema, ProjectIdSchema } from '../../../shared/ids.js';
import type { ReembedResponse } from '../../../shared/api/contracts.js';

const USAGE = `Usage: scriptorium reembed [DOCUMENT_ID...] [--project ID] [--force] [--no-wait] [--timeout SECONDS] [--json] [--config FILE]

Re-embeds documents with the embedding model the platform is configured with now (after a change of
SCRIPTORIUM_EMBEDDING_ENGINE/MODEL): one job per document, which re-chunks and re-embeds its current
version in the embed function, with progress. Documents already embedded by that model are skipped
unless --force. Search keeps answering meanwhile: its vector side only compares vectors of the
configured model, so a document not yet re-embedded is found by its keywords only.

Options:
  DOCUMENT_ID...        only these documents (default: every READY document of the project)
  --project ID          Scriptorium project (default: the local stack's demo project)
  --force               re-embed documents already embedded by the configured model too
  --no-wait             start the jobs and print them, without following them
  --timeout SECONDS     how long to follow the jobs (default 1800)
  --json                print one JSON object on stdout: {model, jobs: [{documentId, jobId, status, error}], skipped: [{documentId, reason}]}
  --config FILE         local stack config (default: $SCRIPTORIUM_LOCAL_CONFIG or .scriptorium/local.json)
  -h, --help            show this help

Exit status: 0 when every job COMPLETED (or none was needed), 1 when any failed or was not followed
to its end, 2 on usage errors.
`;

export interface ReembedJobResult {
  readonly documentId: string;
  readonly jobId: string;
  readonly status: string;
  readonly error: { readonly code: string; readonly message: string } | null;
}

const TERMINAL = new Set(['COMPLETED', 'FAILED', 'CANCELLED']);

/** Follows the jobs by reading them every `pollMs` until all are terminal or `timeoutMs` passed; `onProgress` gets (done, total, mean progress %). */
export async function followJobs(session: Pick<Session, 'getJob'>, jobs: readonly { documentId: string; jobId: string }[], opts: { timeoutMs: number; pollMs?: number; onProgress?: (done: number, total: number, percent: number) => void }): Promise<ReembedJobResult[]> {
  const state = new Map<string, ReembedJobResult & { progress: number }>(jobs.map((j) => [j.jobId, { ...j, status: 'RUNNING', error: null, progress: 0 }]));
  const end = performance.now() + opts.timeoutMs;
  for (;;) {
    const open = [...state.values()].filter((j) => !TERMINAL.has(j.status));
    await Promise.all(
      open.map(async (j) => {
        const view = await session.getJob(j.jobId);
        if (view) state.set(j.jobId, { ...j, status: view.status, error: view.error ? { code: view.error.code, message: view.error.message } : null, progress: view.progress ?? j.progress });
      }),
    );
    const all = [...state.values()];
    const done = all.filter((j) => TERMINAL.has(j.status)).length;
    opts.onProgress?.(done, all.length, all.length === 0 ? 100 : Math.round(all.reduce((n, j) => n + (TERMINAL.has(j.status) ? 100 : j.progress), 0) / all.length));
    if (done === all.length || performance.now() > end) return all.map(({ progress: _progress, ...r }) => r);
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 1000));
  }
}

async function run(ctx: CliContext): Promise<number> {
  const { values, positionals } = parseCommand(ctx.argv, {
    project: { type: 'string' },
    force: { type: 'boolean' },
    'no-wait': { type: 'boolean' },
    timeout: { type: 'string' },
    json: { type: 'boolean' },
  });
  if (values.help) {
    ctx.stdout.write(USAGE);
    return EXIT.OK;
  }
  for (const id of positionals) if (!DocumentIdSchema.safeParse(id).success) throw new UsageError(`invalid DOCUMENT_ID '${id}': expected doc_ and 20 hex digits`);
  if (positionals.length > 100) throw new UsageError('at most 100 DOCUMENT_IDs at once (without any, every document of the project is taken)');
  if (values.project !== undefined && !ProjectIdSchema.safeParse(values.project).success) throw new UsageError(`invalid --project '${values.project}'`);
  const timeoutMs = values.timeout === undefined ? 1_800_000 : parseSeconds('timeout', values.timeout);
  const session = await (ctx.openSession ?? openFirebaseSession)(loadConfig(values.config, ctx.env));
  try {
    const projectId = values.project ?? session.config.projectId;
    let model = '';
    const jobs: ReembedResponse['jobs'] = [];
    const skipped: ReembedResponse['skipped'] = [];
    let pageToken: string | undefined;
    do {
      let page: ReembedResponse;
      try {
        page = await session.api.reembed({ projectId, ...(positionals.length > 0 ? { documentIds: positionals } : {}), ...(values.force ? { force: true } : {}), ...(pageToken ? { pageToken } : {}) });
      } catch (err) {
        if (err instanceof ApiError) throw new CliFailure(err.explain('start the re-embedding'));
        throw err;
      }
      model = page.model;
      jobs.push(...page.jobs);
      skipped.push(...page.skipped);
      pageToken = page.nextPageToken;
    } while (pageToken);
    ctx.stderr.write(`re-embedding ${jobs.length} document(s) with ${model}; ${skipped.length} skipped\n`);
    let results: ReembedJobResult[] = jobs.map((j) => ({ documentId: j.documentId, jobId: j.jobId, status: 'RUNNING', error: null }));
    if (!values['no-wait'] && jobs.length > 0) {
      const tty = ctx.stderr.isTTY === true;
      let last = '';
      results = await followJobs(session, jobs, {
        timeoutMs,
        onProgress: (done, total, percent) => {
          const line = `re-embedding: ${done}/${total} jobs done, ${percent}%`;
          if (line === last) return;
          last = line;
          ctx.stderr.write(tty ? `\r${line}` : `${line}\n`);
        },
      });
      if (tty) ctx.stderr.write('\n');
    }
    if (values.json) {
      ctx.stdout.write(`${JSON.stringify({ model, jobs: results, skipped })}\n`);
    } else {
      for (const r of results) ctx.stdout.write(`${r.documentId}  ${r.jobId}  ${r.status}${r.error ? `  ${r.error.code}: ${r.error.message}` : ''}\n`);
      for (const s of skipped) ctx.stdout.write(`${s.documentId}  skipped: ${s.reason}\n`);
    }
    const ok = values['no-wait'] || results.every((r) => r.status === 'COMPLETED');
    return ok ? EXIT.OK : EXIT.FAILURE;
  } finally {
    await session.close();
  }
}

/** `scriptorium reembed`. */
export const reembedCommand: Command = { name: 'reembed', summary: 're-embed documents with the configured embedding model', usage: USAGE, run };
