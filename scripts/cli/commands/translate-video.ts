/**
 * `scriptorium translate-video FILE --to LANG [--out DIR] [--mix replace|duck] [--json]`: uploads a
 * video (or audio recording) for translation, follows the job (transcribe → translate → dub) and
 * writes `<name>.<LANG>.vtt`, `<name>.<LANG>.srt` and `<name>.<LANG>.mp4` into DIR.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseCommand } from '../args.js';
import { guessContentType } from '../content-type.js';
import { DEFAULT_STALL_TIMEOUT_MS, DEFAULT_STALL_WARN_MS, followJob } from '../follow.js';
import { EXIT, UsageError, CliFailure, type CliContext, type Command } from '../io.js';
import { ApiError, loadConfig, openFirebaseSession } from '../session.js';
import { getToFile, putFile } from '../transfer.js';
import { DownloadResponseSchema } from '../../../shared/api/documents-admin.js';
import { DUB_MIXES, LanguageTagSchema } from '../../../shared/jobs/media-input.js';

const USAGE = `Usage: scriptorium translate-video FILE --to LANG [--out DIR] [--mix replace|duck] [--timeout SECONDS] [--json] [--config FILE]

Uploads FILE (a video, or an audio recording) for translation into LANG, waits for the job
(transcription, translation, dubbing) and writes into DIR:
  <name>.<LANG>.vtt   WebVTT subtitles in LANG
  <name>.<LANG>.srt   SRT subtitles in LANG
  <name>.<LANG>.mp4   the video with its speech dubbed in LANG

Options:
  --to LANG         target language (BCP-47, e.g. es); the local engine has the Apertium pairs installed
  --out DIR         where the files go (default: the current directory)
  --mix M           replace (default: the dub replaces the original audio) or duck (over the original, lowered 18 dB)
  --timeout S       give up waiting after S seconds (default 1800)
  --json            print one JSON object (ids, status, files) instead of progress lines
  --config FILE     local stack config (default: $SCRIPTORIUM_LOCAL_CONFIG or .scriptorium/local.json)
  -h, --help        show this help

Exit status: 0 with the three files written; 1 when the job failed, was cancelled or timed out; 2 on usage errors.
`;

async function run(ctx: CliContext): Promise<number> {
  const { values, positionals } = parseCommand(ctx.argv, { to: { type: 'string' }, out: { type: 'string' }, mix: { type: 'string' }, timeout: { type: 'string' }, json: { type: 'boolean' } });
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
  const timeoutMs = values.timeout === undefined ? 1_800_000 : Number(values.timeout) * 1000;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new UsageError(`invalid --timeout '${values.timeout ?? ''}'`);
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
    let lastLine = '';
    const outcome = await followJob(
      session,
      created.jobId,
      timeoutMs,
      (job) => {
        const line = `${job.status} ${job.stage ?? ''} ${job.progress ?? 0}%`;
        if (line !== lastLine) say(line);
        lastLine = line;
      },
      { warnAfterMs: DEFAULT_STALL_WARN_MS, timeoutMs: DEFAULT_STALL_TIMEOUT_MS },
    );
    const ids = { documentId: created.documentId, jobId: created.jobId, to };
    if (outcome.kind !== 'terminal' || outcome.job.status !== 'COMPLETED') {
      const job = outcome.kind === 'terminal' ? outcome.job : outcome.last;
      const why = outcome.kind === 'terminal' ? `job ${outcome.job.status}${outcome.job.error ? `: ${outcome.job.error.code}: ${outcome.job.error.message}` : ''}` : outcome.kind === 'error' ? `following the job failed: ${outcome.error.message}` : `the job did not finish (${outcome.kind})`;
      if (json) ctx.stdout.write(`${JSON.stringify({ ...ids, status: job?.status ?? 'UNKNOWN', error: job?.error ?? { code: outcome.kind.toUpperCase(), message: why } })}\n`);
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
