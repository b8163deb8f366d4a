/**
 * `scriptorium versions DOCUMENT_ID`: every version of a document (`GET /v1/documents/:id/versions`),
 * the current one marked; `scriptorium text DOCUMENT_ID --version N` prints an old version's text.
 */
import { parseCommand } from '../args.js';
import { EXIT, UsageError, CliFailure, type CliContext, type Command } from '../io.js';
import { ApiError, loadConfig, openFirebaseSession, type ApiVersions } from '../session.js';
import { DocumentIdSchema } from '../../../shared/ids.js';
import { neutralizeControls } from './text.js';

const USAGE = `Usage: scriptorium versions DOCUMENT_ID [--json] [--config FILE]

Lists the versions of a document, oldest first: each upload of it (scriptorium upload FILE
--document DOCUMENT_ID adds one) with its status, file and job. The current version (the one the
document shows and search answers from) is marked with *. Old versions keep their text:
scriptorium text DOCUMENT_ID --version N.

Options:
  --json          print the api's answer as one JSON object:
                  {documentId, currentVersion, latestVersion, versions: [{version, status, fileName, jobId, ...}]}
  --config FILE   local stack config (default: $SCRIPTORIUM_LOCAL_CONFIG or .scriptorium/local.json)
  -h, --help      show this help

Exit status: 0 with the list, 1 when the document does not exist or is not readable.
`;

/** The table `versions` prints (file names neutralized: they are someone's input). */
export function formatVersions(list: ApiVersions): string {
  const rows = list.versions.map((v) => [
    `${v.version === list.currentVersion ? '*' : ' '}${v.version}`,
    v.status,
    neutralizeControls(v.fileName),
    v.jobId,
    v.pageCount === null || v.pageCount === undefined ? '-' : String(v.pageCount),
    v.chunkCount === null || v.chunkCount === undefined ? '-' : String(v.chunkCount),
    v.createdAt ?? '-',
  ]);
  const header = ['VERSION', 'STATUS', 'FILE', 'JOB', 'PAGES', 'CHUNKS', 'CREATED'];
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return all.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ').trimEnd() + '\n').join('');
}

async function run(ctx: CliContext): Promise<number> {
  const { values, positionals } = parseCommand(ctx.argv, { json: { type: 'boolean' } });
  if (values.help) {
    ctx.stdout.write(USAGE);
    return EXIT.OK;
  }
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'missing DOCUMENT_ID' : `expected one DOCUMENT_ID, got ${positionals.length} arguments`);
  const documentId = positionals[0] as string;
  if (!DocumentIdSchema.safeParse(documentId).success) throw new UsageError(`invalid DOCUMENT_ID '${documentId}': expected doc_ and 20 hex digits`);
  const session = await (ctx.openSession ?? openFirebaseSession)(loadConfig(values.config, ctx.env));
  try {
    const list = await session.api.documentVersions(documentId);
    ctx.stdout.write(values.json ? `${JSON.stringify(list)}\n` : formatVersions(list));
    return EXIT.OK;
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    if (err.status === 404) throw new CliFailure(`document ${documentId} not found (${err.describe()})`);
    throw new CliFailure(`cannot list the versions of document ${documentId} (${err.describe()})`);
  } finally {
    await session.close();
  }
}

/** `scriptorium versions`. */
export const versionsCommand: Command = { name: 'versions', summary: "list a document's versions", usage: USAGE, run };
