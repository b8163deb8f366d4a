/**
 * `scriptorium translate-video FILE --to LANG [--out DIR] [--mix replace|duck] [--json]`: uploads a
 * video (or audio recording) for translation, follows the job (transcribe → translate → dub; with
 * `--timeout` and `--stall-timeout` as every command that follows a job) and writes
 * `<name>.<LANG>.vtt`, `<name>.<LANG>.srt` and `<name>.<LANG>.mp4` into DIR once it COMPLETED.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseCommand } from '../args.js';
import { guessContentType } from '../content-type.js';
import { EXIT, UsageError, CliFailure, type CliContext, type Command } from '../io.js';
import { FOLLOW_ARG_OPTIONS, LONG_FOLLOW_TIMEOUT_MS, changedLines, followVerdict, followWithStall, jobProgressDisplay, parseFollowSettings, stallTimeoutUsage } from '../job-follow.js';
import { ApiError, loadConfig, openFirebaseSession } from '../session.js';
import { getToFile, putFile } from '../transfer.js';
import { DownloadResponseSchema } from '../../../shared/api/documents-admin.js';
import { DUB_MIXES, LanguageTagSchema } from '../../../shared/jobs/media-input.js';

const USAGE = `Usage: scriptorium translate-video FILE --to LANG [--out DIR] [--mix replace|duck] [--timeout SECONDS] [--stall-timeout SECONDS] [--json] [--config FILE]

Uploads FILE (a video, or an audio recording) for translation into LANG, waits for the job
(transcription, translation, dubbing) and writes into DIR:
  <name>.<LANG>.vtt   WebVTT subtitles in LANG
  <name>.<LANG>.srt   SRT subtitles in LANG
  <name>.<LANG>.mp4   the video with its speech dubbed in LANG

Options:
  --to LANG         target language (BCP-47, e.g. es); the local engine has the Apertium pairs installed
  --out DIR         where the files go (default: the current directory)
  --mix M           replace (default: the dub replaces the original audio) or duck (over the original, lowered 18 dB)
  --timeout SECONDS give up waiting after this long (default ${LONG_FOLLOW_TIMEOUT_MS / 1000}; the job goes on): status ERROR
                    (error.code TIMEOUT)
${stallTimeoutUsage('the wait ends')}
  --json            print one JSON object (ids, status, files; or ids, status, error) instead of
                    progress lines (stall warnings and errors still go to stderr); status is the
                    job's, STALLED or ERROR when the CLI stopped waiting first
  --config FILE     local stack config (default: $SCRIPTORIUM_LOCAL_CONFIG or .scriptorium/local.json)
  -h, --help        show this help

Exit status: 0 with the three files written; 1 when the job failed or was cancelled, made no progress
for --stall-timeout (STALLED) or did not end within --timeout (no file is written then); 2 on usage
errors.
`;

async function run(ctx: CliContext): Promise<number> {
  const { values, positionals } = parseCommand(ctx.argv, { to: { type: 'string' }, out: { type: 'string' }, mix: { type: 'string' }, ...FOLLOW_ARG_OPTIONS, json: { type: 'boolean' } });
  if (values.help) {
    ctx.stdout.write(USAGE);
    return EXIT.OK;
  }
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'missing FILE' : `expected one FILE, got ${positionals.length} arguments`);
  const file = positionals[0] as string;
  if (!values.to || !LanguageTagSchema.safeParse(values.to).success) throw new UsageError(`--to needs a language tag such as es (got '${values.to ?? ''}')`);
  const to = values.to;
  const mix = values.mix ?? 'replace';
  if (!(DUB_MIXES as readonly string[]).includes(mix)) throw new UsageError(`invalid --mix '${mix}': replace or duck`);
  const settings = parseFollowSettings(values, ctx.env, LONG_FOLLOW_TIMEOUT_MS);
  let size: number;
  try {
    const st = await stat(file);
    if (!st.isFile()) throw new UsageError(`${file} is not a file`);
    size = st.size;
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`cannot read ${file}`);
  }
  const outDir = values.out ?? '.';
  const name = path.basename(file).replace(/\.[^.]*$/, '');
  const json = values.json === true;
  const say = (line: string): void => {
    if (!json) ctx.stderr.write(`${line}\n`);
  };
  const started = performance.now();
  const session = await (ctx.openSession ?? openFirebaseSession)(loadConfig(values.config, ctx.env));
  try {
    const created = await session.api.createUpload({
      projectId: session.config.projectId,
      fileName: path.basename(file),
      contentType: guessContentType(file),
      size,
      translate: { to, mix: mix as (typeof DUB_MIXES)[number] },
      clientRequestId: `cli-${randomUUID()}`,
    });
    say(`uploading ${file} (${size} bytes) as document ${created.documentId}, job ${created.jobId}`);
    await putFile({ url: created.uploadUrl, headers: created.headers, file, size });
    // Its own progress lines (none with --json), never a redrawn bar; the stall lines are those of
    // every command that follows a job, and shown with --json too (stderr, not the JSON on stdout).
    const display = jobProgressDisplay(ctx.stderr, false, json ? () => null : changedLines((job) => `${job.status} ${job.stage ?? ''} ${job.progress ?? 0}%`));
    const outcome = await followWithStall(session, created.jobId, settings, display);
    display.finish();
    const verdict = followVerdict(created.jobId, outcome, settings.timeoutMs, session.userEmail);
    const ids = { documentId: created.documentId, jobId: created.jobId, to };
    if (verdict.status !== 'COMPLETED') {
      // Nothing is written: the files exist only for a COMPLETED job.
      const why = outcome.kind === 'terminal' ? `job ${outcome.job.status}${outcome.job.error ? `: ${outcome.job.error.code}: ${outcome.job.error.message}` : ''}` : (verdict.message ?? verdict.status);
      if (json) ctx.stdout.write(`${JSON.stringify({ ...ids, status: verdict.status, error: verdict.error })}\n`);
      throw new CliFailure(why);
    }
    await mkdir(outDir, { recursive: true });
    const files: Record<string, string> = {};
    for (const format of ['vtt', 'srt'] as const) {
      const target = path.join(outDir, `${name}.${to}.${format}`);
      await writeFile(target, await session.api.translation(created.documentId, to, format));
      files[format] = target;
      say(`wrote ${target}`);
    }
    // The dubbed video comes from a short-lived signed URL (it never passes through the API), streamed to disk.
    const link = await session.api.request('GET', `/v1/documents/${encodeURIComponent(created.documentId)}/download?what=dub.mp4`, DownloadResponseSchema);
    const mp4 = path.join(outDir, `${name}.${to}.mp4`);
    const bytes = await getToFile(link.url, mp4);
    files.mp4 = mp4;
    say(`wrote ${mp4} (${bytes} bytes)`);
    const elapsedMs = Math.round(performance.now() - started);
    if (json) ctx.stdout.write(`${JSON.stringify({ ...ids, status: 'COMPLETED', files, elapsedMs })}\n`);
    return EXIT.OK;
  } catch (err) {
    if (err instanceof ApiError) throw new CliFailure(`translation of ${file} failed (${err.describe()})`);
    throw err;
  } finally {
    await session.close();
  }
}

/** `scriptorium translate-video`. */
export const translateVideoCommand: Command = { name: 'translate-video', summary: 'translate a video: subtitles (vtt, srt) and a dubbed mp4 in another language', usage: USAGE, run };
