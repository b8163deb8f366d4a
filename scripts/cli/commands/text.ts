/**
 * `scriptorium text DOCUMENT_ID`: the extracted text, from the api.
 */
import { parseCommand } from '../args.js';
import { EXIT, UsageError, CliFailure, type CliContext, type Command } from '../io.js';
import { ApiError, loadConfig, openFirebaseSession } from '../session.js';

const USAGE = `Usage: scriptorium text DOCUMENT_ID [--version N] [--config FILE]

Prints the text extracted from a document on stdout (GET /v1/documents/:id/text): its current
version's, or with --version N that version's (scriptorium versions DOCUMENT_ID lists them).

Options:
  --version N     an earlier (or later) version of the document
  --config FILE   local stack config (default: $SCRIPTORIUM_LOCAL_CONFIG or .scriptorium/local.json)
  -h, --help      show this help

Exit status: 0 with the text, 1 when the document does not exist, is not readable or not processed yet.
`;

async function run(ctx: CliContext): Promise<number> {
  const { values, positionals } = parseCommand(ctx.argv, { version: { type: 'string' } });
  if (values.help) {
    ctx.stdout.write(USAGE);
    return EXIT.OK;
  }
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'missing DOCUMENT_ID' : `expected one DOCUMENT_ID, got ${positionals.length} arguments`);
  const documentId = positionals[0] as string;
  const version = values.version === undefined ? undefined : Number(values.version);
  if (version !== undefined && (!Number.isInteger(version) || version < 1 || !/^[0-9]+$/.test(values.version ?? ''))) throw new UsageError(`invalid --version '${values.version ?? ''}': a version number, 1 or more`);
  const config = loadConfig(values.config, ctx.env);
  const session = await (ctx.openSession ?? openFirebaseSession)(config);
  try {
    const text = version === undefined ? await session.api.documentText(documentId) : await session.api.versionText(documentId, version);
    // The text comes from someone's file: on a terminal its control characters (ESC sequences can
    // retitle, recolour or rewrite the screen) are shown as U+FFFD. Piped, it is written as is.
    ctx.stdout.write(ctx.stdout.isTTY ? neutralizeControls(text) : text);
    return EXIT.OK;
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    if (err.status === 404) throw new CliFailure(`document ${documentId}${version === undefined ? '' : ` version ${version}`} not found (${err.describe()})`);
    if (err.status === 409 || err.status === 425) throw new CliFailure(`the text of document ${documentId} is not ready yet (${err.describe()})`);
    throw new CliFailure(`cannot get the text of document ${documentId} (${err.describe()})`);
  } finally {
    await session.close();
  }
}

/** Replaces C0/C1 control characters other than tab, newline, form feed and carriage return. */
export function neutralizeControls(text: string): string {
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  return text.replace(/[\u0000-\u0008\u000B\u000E-\u001F\u007F-\u009F]/g, '\uFFFD');
}

/** `scriptorium text`. */
export const textCommand: Command = { name: 'text', summary: "print a document's extracted text", usage: USAGE, run };
