/**
 * `scriptorium upload-url NAME`: creates an upload and prints the signed URL as a ready-to-run curl
 * command (for uploading from elsewhere, or by hand).
 */
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { ContentTypeSchema, FileNameSchema, ProjectIdSchema } from '../../../shared/api/contracts.js';
import { parseCommand, parsePositiveInt } from '../args.js';
import { EXIT, UsageError, CliFailure, type CliContext, type Command } from '../io.js';
import { ApiError, loadConfig, openFirebaseSession } from '../session.js';
import { curlPutCommand } from '../shell.js';

const USAGE = `Usage: scriptorium upload-url NAME --type CONTENT_TYPE --size BYTES [--project ID] [--json] [--config FILE]

Creates an upload (a document and its job) and prints the signed URL as a curl command line that
PUTs the file NAME with exactly the headers the signature requires. NAME need not exist yet.

Options:
  --type CONTENT_TYPE   content type of the file (required)
  --size BYTES          exact size of the file in bytes (required; the URL accepts only this size)
  --project ID          Scriptorium project (default: the local stack's demo project)
  --json                print {uploadUrl, headers, documentId, jobId, expiresAt} on stdout
  --config FILE         local stack config (default: $SCRIPTORIUM_LOCAL_CONFIG or .scriptorium/local.json)
  -h, --help            show this help
`;

async function run(ctx: CliContext): Promise<number> {
  const { values, positionals } = parseCommand(ctx.argv, {
    type: { type: 'string' },
    size: { type: 'string' },
    project: { type: 'string' },
    json: { type: 'boolean' },
  });
  if (values.help) {
    ctx.stdout.write(USAGE);
    return EXIT.OK;
  }
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'missing NAME' : `expected one NAME, got ${positionals.length} arguments`);
  const name = positionals[0] as string;
  const fileName = path.basename(name);
  if (!FileNameSchema.safeParse(fileName).success) throw new UsageError(`unusable file name '${fileName}'`);
  if (values.type === undefined) throw new UsageError('missing --type CONTENT_TYPE');
  const contentType = ContentTypeSchema.safeParse(values.type);
  if (!contentType.success) throw new UsageError(`invalid --type '${values.type}': expected type/subtype`);
  if (values.size === undefined) throw new UsageError('missing --size BYTES');
  const size = parsePositiveInt('size', values.size);
  if (values.project !== undefined && !ProjectIdSchema.safeParse(values.project).success) {
    throw new UsageError(`invalid --project '${values.project}': 2–63 characters of a-z, 0-9 and -`);
  }

  const config = loadConfig(values.config, ctx.env);
  const session = await (ctx.openSession ?? openFirebaseSession)(config);
  try {
    const created = await session.api.createUpload({
      projectId: values.project ?? config.projectId,
      fileName,
      contentType: contentType.data,
      size,
      clientRequestId: `cli-${randomUUID()}`,
    });
    if (values.json) {
      const { uploadUrl, headers, documentId, jobId, expiresAt } = created;
      ctx.stdout.write(`${JSON.stringify({ uploadUrl, headers, documentId, jobId, expiresAt })}\n`);
    } else {
      // Comment lines first: the whole output stays a runnable shell script (`... | sh`).
      ctx.stdout.write(`# document ${created.documentId}, job ${created.jobId}; URL expires ${created.expiresAt}\n`);
      ctx.stdout.write(`${curlPutCommand(created.uploadUrl, created.headers, name)}\n`);
    }
    return EXIT.OK;
  } catch (err) {
    if (err instanceof ApiError) throw new CliFailure(err.explain('create the upload'));
    throw err;
  } finally {
    await session.close();
  }
}

/** `scriptorium upload-url`. */
export const uploadUrlCommand: Command = { name: 'upload-url', summary: 'create an upload and print its signed URL as a curl command', usage: USAGE, run };
