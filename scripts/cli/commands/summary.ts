/**
 * `scriptorium summary DOCUMENT_ID`: the document's summary, from its record on the api
 * (`GET /v1/documents/:id`), with the engine and model that wrote it.
 */
import { parseCommand } from '../args.js';
import { EXIT, UsageError, CliFailure, type CliContext, type Command } from '../io.js';
import { ApiError, loadConfig, openFirebaseSession, type ApiDocument } from '../session.js';
import { neutralizeControls } from './text.js';

const USAGE = `Usage: scriptorium summary DOCUMENT_ID [--json] [--config FILE]

Prints a document's summary on stdout (from GET /v1/documents/:id); the engine and model that wrote
it, and how the document was embedded, go to stderr.

Options:
  --json          print one JSON object on stdout instead:
                  {documentId, status, summary: {text, engine, model}, chunkCount, embedding}
                  (embedding is {engine, model, dimensions} or null; chunkCount may be null)
  --config FILE   local stack config (default: $SCRIPTORIUM_LOCAL_CONFIG or .scriptorium/local.json)
  -h, --help      show this help

Exit status: 0 with the summary; 1 when the document does not exist, is not readable, or has no
summary yet (still processing, or its processing failed).
`;

/** What `summary --json` prints. */
export interface SummaryJson {
  readonly documentId: string;
  readonly status: string;
  readonly summary: { readonly text: string; readonly engine: string; readonly model: string };
  readonly chunkCount: number | null;
  readonly embedding: { readonly engine: string; readonly model: string; readonly dimensions: number } | null;
}

/** Why a document has no summary, for the user (the summary arrives before or with READY). */
export function noSummaryMessage(doc: Pick<ApiDocument, 'id' | 'status' | 'jobId'>): string {
  const follow = doc.jobId ? `; follow it with: scriptorium job ${doc.jobId}` : '';
  switch (doc.status) {
    case 'READY':
      return `document ${doc.id} has no summary (status READY)`;
    case 'FAILED':
    case 'CANCELLED':
      return `document ${doc.id} has no summary: its processing ended ${doc.status}${doc.jobId ? ` (see: scriptorium job ${doc.jobId})` : ''}`;
    default:
      return `document ${doc.id} has no summary yet (status ${doc.status})${follow}`;
  }
}

/** The stderr line describing where the summary comes from: `summary by local/… ; 12 chunks embedded with …`. */
export function describeSummarySource(doc: Pick<ApiDocument, 'summary' | 'chunkCount' | 'embedding'>): string {
  const parts: string[] = [];
  if (doc.summary) parts.push(`summary by ${doc.summary.engine} (${doc.summary.model})`);
  if (doc.embedding) {
    const chunks = doc.chunkCount === null ? '' : `${doc.chunkCount} chunk${doc.chunkCount === 1 ? '' : 's'} `;
    parts.push(`${chunks}embedded with ${doc.embedding.engine} (${doc.embedding.model}, ${doc.embedding.dimensions} dimensions)`);
  } else if (doc.chunkCount !== null) {
    parts.push(`${doc.chunkCount} chunk${doc.chunkCount === 1 ? '' : 's'}`);
  }
  return parts.join('; ');
}

async function run(ctx: CliContext): Promise<number> {
  const { values, positionals } = parseCommand(ctx.argv, { json: { type: 'boolean' } });
  if (values.help) {
    ctx.stdout.write(USAGE);
    return EXIT.OK;
  }
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'missing DOCUMENT_ID' : `expected one DOCUMENT_ID, got ${positionals.length} arguments`);
  const documentId = positionals[0] as string;
  const config = loadConfig(values.config, ctx.env);
  const session = await (ctx.openSession ?? openFirebaseSession)(config);
  let doc: ApiDocument;
  try {
    doc = await session.api.document(documentId);
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    if (err.status === 404) throw new CliFailure(`document ${documentId} not found (${err.describe()})`);
    throw new CliFailure(`cannot get document ${documentId} (${err.describe()})`);
  } finally {
    await session.close();
  }
  const summary = doc.summary;
  if (!summary) throw new CliFailure(noSummaryMessage(doc), 'NO_SUMMARY');
  if (values.json) {
    const out: SummaryJson = { documentId: doc.id, status: doc.status, summary, chunkCount: doc.chunkCount, embedding: doc.embedding };
    ctx.stdout.write(`${JSON.stringify(out)}\n`);
    return EXIT.OK;
  }
  // The summary quotes someone's file: on a terminal its control characters are neutralized (as `text` does).
  const text = summary.text.endsWith('\n') ? summary.text : `${summary.text}\n`;
  ctx.stdout.write(ctx.stdout.isTTY ? neutralizeControls(text) : text);
  const source = describeSummarySource(doc);
  if (source) ctx.stderr.write(`${source}\n`);
  return EXIT.OK;
}

/** `scriptorium summary`. */
export const summaryCommand: Command = { name: 'summary', summary: "print a document's summary", usage: USAGE, run };
