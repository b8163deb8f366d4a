/**
 * `scriptorium speak "TEXT" | --file F [--ssml] [--voice V] [--language L] [--rate R]
 * [--format mp3|ogg|wav] --out FILE [--json]`: a text-to-speech job (`POST /v1/jobs`, type TTS),
 * followed to its end (Firestore listener, progress on stderr, `--timeout` and `--stall-timeout` as
 * every command that follows a job), its audio downloaded through the short-lived signed URL of
 * `GET /v1/jobs/:id/audio` to FILE.
 *
 * `scriptorium voices [--language L] [--json]`: the voices of the configured engine.
 */
import { randomUUID } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { AudioFormatSchema, LanguageTagSchema, VoiceNameSchema, type AudioLinkResponse, type CreateJobRequest } from '../../../shared/api/speech.js';
import { ProjectIdSchema } from '../../../shared/ids.js';
import { parseCommand } from '../args.js';
import { EXIT, UsageError, CliFailure, type CliContext, type Command } from '../io.js';
import { FOLLOW_ARG_OPTIONS, LONG_FOLLOW_TIMEOUT_MS, changedLines, followVerdict, followWithStall, jobProgressDisplay, parseFollowSettings, stallTimeoutUsage } from '../job-follow.js';
import { formatKeyValues } from '../job-view.js';
import { formatBytes, renderJobProgress } from '../progress.js';
import { ApiError, loadConfig, openFirebaseSession } from '../session.js';

const USAGE = `Usage: scriptorium speak ("TEXT" | --file FILE) --out FILE [--ssml] [--voice V] [--language L] [--rate R] [--format mp3|ogg|wav] [--project ID] [--timeout SECONDS] [--stall-timeout SECONDS] [--json] [--config FILE]

Turns text (or SSML) into one audio file: creates a text-to-speech job, follows its progress
(chunk by chunk for long texts) and downloads the audio to --out.

Options:
  --file FILE       read the text from FILE (UTF-8) instead of the argument ("-": stdin)
  --ssml            the text is SSML (a <speak> document)
  --out FILE        where to write the audio (required)
  --voice V         a voice from \`scriptorium voices\` (default: the engine's)
  --language L      BCP-47 language tag (default: the voice's)
  --rate R          speaking rate, 0.25–2 (1 is normal)
  --format F        mp3 (default), ogg or wav
  --project ID      project (default: the stack's demo project)
  --timeout SECONDS give up waiting after this long (default ${LONG_FOLLOW_TIMEOUT_MS / 1000}; the job goes on): status ERROR
                    (error.code TIMEOUT)
${stallTimeoutUsage('the wait ends')}
  --json            print one JSON object on stdout at the end (job id, status, file, result);
                    status is the job's, STALLED (error.code STALLED) or ERROR (error.code
                    TIMEOUT or LISTEN_FAILED) when the CLI stopped waiting first
  --config FILE     local stack config (default: $SCRIPTORIUM_LOCAL_CONFIG or .scriptorium/local.json)
  -h, --help        show this help

Exit status: 0 with the file written; 1 when the job failed or was cancelled, made no progress for
--stall-timeout (STALLED), did not end within --timeout, the api refused the request (too long,
empty, invalid SSML) or the download failed; 2 on usage errors. No file is written unless the job
COMPLETED.
`;

/** The one JSON object `speak --json` prints. */
export interface SpeakJson {
  readonly jobId: string;
  readonly status: string;
  readonly out: string | null;
  readonly result: Readonly<Record<string, unknown>> | null;
  readonly error: { code: string; message: string } | null;
  readonly metrics: Readonly<Record<string, unknown>> | null;
}

async function readInput(file: string | undefined, positionals: readonly string[]): Promise<string> {
  if (file !== undefined) {
    if (positionals.length > 0) throw new UsageError('give the text as an argument or with --file, not both');
    if (file === '-') {
      const chunks: Buffer[] = [];
      for await (const c of process.stdin) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(String(c)));
      return Buffer.concat(chunks).toString('utf8');
    }
    try {
      return await readFile(file, 'utf8');
    } catch (err) {
      throw new UsageError(`cannot read --file ${file}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'missing TEXT (or --file)' : `expected one TEXT argument, got ${positionals.length} (quote the text)`);
  return positionals[0] as string;
}

function checked<T>(schema: { safeParse(v: unknown): { success: true; data: T } | { success: false } }, name: string, value: string | undefined): T | undefined {
  if (value === undefined) return undefined;
  const r = schema.safeParse(value);
  if (!r.success) throw new UsageError(`invalid --${name} '${value}'`);
  return r.data;
}

async function download(link: AudioLinkResponse, out: string): Promise<number> {
  const res = await fetch(link.url, { signal: AbortSignal.timeout(300_000) });
  if (!res.ok) throw new CliFailure(`downloading the audio failed: HTTP ${res.status}`);
  const body = Buffer.from(await res.arrayBuffer());
  if (body.length !== link.sizeBytes) throw new CliFailure(`downloaded ${body.length} bytes, expected ${link.sizeBytes}`);
  // Written beside the target, then renamed: no half-written file under the target's name.
  const tmp = `${out}.${randomUUID().slice(0, 8)}.part`;
  try {
    await writeFile(tmp, body);
    await rename(tmp, out);
  } catch (err) {
    await rm(tmp, { force: true });
    throw new CliFailure(`cannot write ${out}: ${err instanceof Error ? err.message : String(err)}`);
  }
  return body.length;
}

async function run(ctx: CliContext): Promise<number> {
  const { values, positionals } = parseCommand(ctx.argv, {
    file: { type: 'string' },
    ssml: { type: 'boolean' },
    out: { type: 'string', short: 'o' },
    voice: { type: 'string' },
    language: { type: 'string' },
    rate: { type: 'string' },
    format: { type: 'string' },
    project: { type: 'string' },
    ...FOLLOW_ARG_OPTIONS,
    json: { type: 'boolean' },
  });
  if (values.help) {
    ctx.stdout.write(USAGE);
    return EXIT.OK;
  }
  if (!values.out) throw new UsageError('missing --out FILE');
  const format = checked(AudioFormatSchema, 'format', values.format) ?? 'mp3';
  const voice = checked(VoiceNameSchema, 'voice', values.voice);
  const language = checked(LanguageTagSchema, 'language', values.language);
  const rate = values.rate === undefined ? undefined : Number(values.rate);
  if (rate !== undefined && (!Number.isFinite(rate) || rate < 0.25 || rate > 2)) throw new UsageError(`--rate must be between 0.25 and 2, got '${values.rate ?? ''}'`);
  const settings = parseFollowSettings(values, ctx.env, LONG_FOLLOW_TIMEOUT_MS);
  const text = await readInput(values.file, positionals);
  const config = loadConfig(values.config, ctx.env);
  const projectId = checked(ProjectIdSchema, 'project', values.project) ?? config.projectId;
  const out = values.out;

  const session = await (ctx.openSession ?? openFirebaseSession)(config);
  try {
    const request: CreateJobRequest = {
      projectId,
      type: 'TTS',
      ...(values.ssml ? { ssml: text } : { text }),
      ...(voice ? { voice } : {}),
      ...(language ? { language } : {}),
      ...(rate !== undefined ? { speakingRate: rate } : {}),
      format,
      // Retries of this one call must not make a second job.
      clientRequestId: `cli-${randomUUID()}`,
    };
    let jobId: string;
    try {
      jobId = (await session.api.createSpeechJob(request)).jobId;
    } catch (err) {
      if (err instanceof ApiError) throw new CliFailure(`the api refused the speech job (${err.describe()})`);
      throw err;
    }
    // Without a terminal speak keeps its own lines (the bar line whenever it changes); the stall
    // lines and the redrawn line on a terminal are those of every command that follows a job.
    const display = jobProgressDisplay(
      ctx.stderr,
      Boolean(ctx.stderr.isTTY),
      changedLines((job) => renderJobProgress({ jobId, status: job.status, stage: job.stage, progress: job.progress, columns: 80 })),
    );
    const outcome = await followWithStall(session, jobId, settings, display);
    display.finish();
    const verdict = followVerdict(jobId, outcome, settings.timeoutMs, session.userEmail);
    const job = verdict.job;
    const metrics = (job?.raw.metrics ?? null) as Record<string, unknown> | null;
    if (verdict.status !== 'COMPLETED' || job === null) {
      const error = verdict.error ? { code: verdict.error.code, message: verdict.error.message } : null;
      const report: SpeakJson = { jobId, status: verdict.status, out: null, result: null, error, metrics };
      if (values.json) ctx.stdout.write(`${JSON.stringify(report)}\n`);
      // A job that ended badly is one line (as ever); when the CLI stopped waiting first the reason
      // is an error line even with --json, as upload and job --follow print it.
      if (outcome.kind !== 'terminal') ctx.stderr.write(`error: ${verdict.message ?? verdict.status}\n`);
      else if (!values.json) ctx.stderr.write(`${verdict.message ?? verdict.status}\n`);
      return EXIT.FAILURE;
    }
    let link: AudioLinkResponse;
    try {
      link = await session.api.speechAudio(jobId);
    } catch (err) {
      if (err instanceof ApiError) throw new CliFailure(`cannot get the audio of job ${jobId} (${err.describe()})`);
      throw err;
    }
    const bytes = await download(link, out);
    if (values.json) {
      const report: SpeakJson = { jobId, status: job.status, out, result: job.result, error: null, metrics };
      ctx.stdout.write(`${JSON.stringify(report)}\n`);
    } else {
      const r = job.result ?? {};
      ctx.stdout.write(
        formatKeyValues([
          ['job', jobId],
          ['file', out],
          ['format', link.format],
          ['duration', `${link.durationSeconds.toFixed(1)} s`],
          ['size', formatBytes(bytes)],
          ['voice', typeof r.voice === 'string' ? r.voice : null],
          ['chunks', typeof r.chunks === 'number' ? String(r.chunks) : null],
        ]),
      );
    }
    return EXIT.OK;
  } finally {
    await session.close();
  }
}

/** `scriptorium speak`. */
export const speakCommand: Command = { name: 'speak', summary: 'turn text or SSML into an audio file (text-to-speech job)', usage: USAGE, run };

const VOICES_USAGE = `Usage: scriptorium voices [--language L] [--json] [--config FILE]

Lists the voices of the configured text-to-speech engine (name, languages, availability).

Options:
  --language L    only voices speaking this BCP-47 language (en matches en-US, en-GB…)
  --json          print the api's JSON answer
  --config FILE   local stack config (default: $SCRIPTORIUM_LOCAL_CONFIG or .scriptorium/local.json)
  -h, --help      show this help
`;

async function runVoices(ctx: CliContext): Promise<number> {
  const { values, positionals } = parseCommand(ctx.argv, { language: { type: 'string' }, json: { type: 'boolean' } });
  if (values.help) {
    ctx.stdout.write(VOICES_USAGE);
    return EXIT.OK;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0] ?? ''}'`);
  const language = checked(LanguageTagSchema, 'language', values.language);
  const session = await (ctx.openSession ?? openFirebaseSession)(loadConfig(values.config, ctx.env));
  try {
    const answer = await session.api.voices(language);
    if (values.json) {
      ctx.stdout.write(`${JSON.stringify(answer)}\n`);
    } else {
      const width = Math.max(4, ...answer.voices.map((v) => v.name.length));
      const lines = answer.voices.map((v) => `${v.name.padEnd(width)}  ${v.languageCodes.join(',').padEnd(10)}  ${(v.gender ?? '').padEnd(7)}  ${v.available ? 'available' : `unavailable: ${v.unavailableReason ?? ''}`}${v.description ? `  (${v.description})` : ''}`);
      ctx.stdout.write(`engine ${answer.engine}\n${lines.join('\n')}${lines.length ? '\n' : ''}`);
    }
    return EXIT.OK;
  } catch (err) {
    if (err instanceof ApiError) throw new CliFailure(`cannot list voices (${err.describe()})`);
    throw err;
  } finally {
    await session.close();
  }
}

/** `scriptorium voices`. */
export const voicesCommand: Command = { name: 'voices', summary: "list the text-to-speech engine's voices", usage: VOICES_USAGE, run: runVoices };
