/**
 * `scriptorium transcript DOCUMENT_ID [--format txt|json|srt|vtt]`: a recording's transcript, from
 * the api (`GET /v1/documents/:id/transcript`).
 */
import { parseCommand } from '../args.js';
import { EXIT, UsageError, CliFailure, type CliContext, type Command } from '../io.js';
import { ApiError, loadConfig, openFirebaseSession } from '../session.js';
import { DocumentIdSchema } from '../../../shared/ids.js';
import { neutralizeControls } from './text.js';

const FORMATS = ['txt', 'json', 'srt', 'vtt'] as const;

const USAGE = `Usage: scriptorium transcript DOCUMENT_ID [--format txt|json|srt|vtt] [--config FILE]

Prints the transcript of a recording (an audio or video upload) on stdout: plain text (one line per
utterance; the default), JSON with segment and word timings, SRT or WebVTT subtitles.

Options:
  --format F      txt (default), json, srt or vtt
  --config FILE   local stack config (default: $SCRIPTORIUM_LOCAL_CONFIG or .scriptorium/local.json)
  -h, --help      show this help

Exit status: 0 with the transcript; 1 when the document does not exist, is not a recording, or has
no transcript yet; 2 on usage errors.
`;

async function run(ctx: CliContext): Promise<number> {
  const { values, positionals } = parseCommand(ctx.argv, { format: { type: 'string' } });
  if (values.help) {
    ctx.stdout.write(USAGE);
    return EXIT.OK;
  }
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'missing DOCUMENT_ID' : `expected one DOCUMENT_ID, got ${positionals.length} arguments`);
  const documentId = positionals[0] as string;
  if (!DocumentIdSchema.safeParse(documentId).success) throw new UsageError(`invalid DOCUMENT_ID '${documentId}': expected doc_ and 20 hex digits`);
  const format = (values.format ?? 'txt') as (typeof FORMATS)[number];
  if (!FORMATS.includes(format)) throw new UsageError(`invalid --format '${values.format ?? ''}': txt, json, srt or vtt`);
  const session = await (ctx.openSession ?? openFirebaseSession)(loadConfig(values.config, ctx.env));
  try {
    const body = await session.api.transcript(documentId, format);
    ctx.stdout.write(ctx.stdout.isTTY ? neutralizeControls(body) : body);
    return EXIT.OK;
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    if (err.status === 404) throw new CliFailure(`document ${documentId} not found (${err.describe()})`);
    if (err.status === 409) throw new CliFailure(`no transcript for document ${documentId} (${err.describe()})`);
    throw new CliFailure(`cannot get the transcript of document ${documentId} (${err.describe()})`);
  } finally {
    await session.close();
  }
}

/** `scriptorium transcript`. */
export const transcriptCommand: Command = { name: 'transcript', summary: "print a recording's transcript (txt, json, srt, vtt)", usage: USAGE, run };
