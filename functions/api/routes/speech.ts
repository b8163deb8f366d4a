/**
 * Speech synthesis: `POST /v1/jobs` (a text-to-speech job; voice cloning and talking heads are
 * refused with 422 NOT_SUPPORTED), `GET /v1/voices`, `GET /v1/jobs/{id}/audio`.
 *
 * A job is created in three steps, each safe to repeat: the request (text or SSML and its options)
 * is written create-only to Cloud Storage (never into the job record: texts run to 100,000
 * characters), the job is created in a transaction (RUNNING, its `synthesize` stage PENDING; the
 * stored request's generation is its idempotency key), and its request is published on
 * `synthesize-requests`. With a `clientRequestId` the job id is derived from it, so a retried call
 * finds the job it made.
 */
import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import {
  API_JOB_TYPES,
  apiJobType,
  AudioLinkResponseSchema,
  CreateJobRequestSchema,
  CreateJobResponseSchema,
  NOT_SUPPORTED_REASONS,
  SpeechResultSchema,
  VoicesQuerySchema,
  VoicesResponseSchema,
  type AudioLinkResponse,
  type CreateJobResponse,
  type SpeechParams,
  type VoicesResponse,
} from '../../../shared/api/speech.js';
import { createTextToSpeechEngine, parseSsml, ssmlToSpeechParts, type TextToSpeechEngine } from '../../../shared/engines/tts/index.js';
import { HttpError, PermanentError } from '../../../shared/errors/index.js';
import { JOB_ID } from '../../../shared/ids.js';
import { announceOutcome, failJob } from '../../../shared/jobs/outcomes.js';
import { synthesizeRequest } from '../../../shared/stages/requests.js';
import { speechRequestObjectName } from '../../../shared/storage/names.js';
import { idGroup, invalid, json, requireRole, UPLOAD_ROLES, type ApiDeps, type Route, type RouteContext } from '../http.js';

/** Default of `SCRIPTORIUM_TTS_MAX_CHARS` when the config leaves it out (tests building deps by hand). */
const DEFAULT_MAX_CHARS = 100_000;
/** Body cap for `POST /v1/jobs`: the longest text at 4 UTF-8 bytes a character, plus room for JSON escapes and the other fields. */
const bodyCap = (maxChars: number): number => maxChars * 4 + 64 * 1024;

/** Signed download links live this long at most (a short-lived link, whatever the upload TTL is). */
const AUDIO_LINK_TTL_SECONDS = 900;

let engine: TextToSpeechEngine | undefined;

/** The engine `GET /v1/voices` lists: the deps' own, or the configured one (made once). */
function ttsEngine(deps: ApiDeps): TextToSpeechEngine {
  if (deps.tts) return deps.tts();
  const c = deps.config;
  engine ??= createTextToSpeechEngine({
    SCRIPTORIUM_TTS_ENGINE: c.SCRIPTORIUM_TTS_ENGINE ?? 'local',
    ...(c.SCRIPTORIUM_TTS_VOICE ? { SCRIPTORIUM_TTS_VOICE: c.SCRIPTORIUM_TTS_VOICE } : {}),
    ...(c.SCRIPTORIUM_TTS_LANGUAGE ? { SCRIPTORIUM_TTS_LANGUAGE: c.SCRIPTORIUM_TTS_LANGUAGE } : {}),
    ...(c.SCRIPTORIUM_TTS_ENDPOINT ? { SCRIPTORIUM_TTS_ENDPOINT: c.SCRIPTORIUM_TTS_ENDPOINT } : {}),
  });
  return engine;
}

/** `job_` + 20 hex: derived from the caller's request id when given (a retry finds the same job), random otherwise. */
export function speechJobId(idempotency?: { uid: string; projectId: string; clientRequestId: string }): string {
  if (!idempotency) return `job_${randomBytes(10).toString('hex')}`;
  return `job_${createHash('sha256').update(`speech\n${idempotency.uid}\n${idempotency.projectId}\n${idempotency.clientRequestId}`).digest('hex').slice(0, 20)}`;
}

/**
 * Checks what is to be said: exactly one of text and SSML, not blank, at most `maxChars`
 * characters, SSML well-formed with something to say. 400 otherwise, with a stable code.
 */
export function checkSpeechInput(params: Pick<SpeechParams, 'text' | 'ssml'>, maxChars: number): void {
  const { text, ssml } = params;
  if ((text === undefined) === (ssml === undefined)) throw new HttpError(400, 'INVALID_ARGUMENT', 'give exactly one of text and ssml', { text: ['text or ssml is required, not both'] });
  const input = text ?? ssml ?? '';
  const field = text !== undefined ? 'text' : 'ssml';
  if (input.length > maxChars) throw new HttpError(400, 'TEXT_TOO_LONG', `${field} is ${input.length} characters; the limit is ${maxChars}`, { limit: maxChars, length: input.length });
  if (input.trim() === '') throw new HttpError(400, 'INPUT_EMPTY', `${field} is empty: nothing to say`);
  if (ssml !== undefined) {
    let spoken: string;
    try {
      spoken = ssmlToSpeechParts(parseSsml(ssml))
        .map((p) => ('text' in p ? p.text : ''))
        .join(' ');
    } catch (err) {
      if (err instanceof PermanentError) throw new HttpError(400, 'INVALID_SSML', `invalid SSML: ${err.message}`);
      throw err;
    }
    if (spoken.trim() === '') throw new HttpError(400, 'INPUT_EMPTY', 'the SSML has no text to say');
  }
}

async function createJob({ req, caller, deps }: RouteContext): Promise<ReturnType<typeof json>> {
  const maxChars = deps.config.SCRIPTORIUM_TTS_MAX_CHARS ?? DEFAULT_MAX_CHARS;
  const parsed = CreateJobRequestSchema.safeParse(await req.readBody(bodyCap(maxChars)));
  if (!parsed.success) throw invalid('job request', parsed.error);
  const body = parsed.data;
  await requireRole(deps, caller, body.projectId, UPLOAD_ROLES);
  const type = apiJobType(body.type);
  // The schema only lets known types through; this is for the compiler.
  if (type === null) throw new HttpError(400, 'INVALID_ARGUMENT', `unknown job type ${body.type}`);
  if (type !== 'TTS') throw new HttpError(422, 'NOT_SUPPORTED', NOT_SUPPORTED_REASONS[type], { type, kind: API_JOB_TYPES[type] });
  checkSpeechInput(body, maxChars);
  const params: SpeechParams = {
    ...(body.text !== undefined ? { text: body.text } : {}),
    ...(body.ssml !== undefined ? { ssml: body.ssml } : {}),
    ...(body.voice ? { voice: body.voice } : {}),
    ...(body.language ? { language: body.language } : {}),
    ...(body.speakingRate !== undefined ? { speakingRate: body.speakingRate } : {}),
    format: body.format,
  };
  const jobId = speechJobId(body.clientRequestId ? { uid: caller.uid, projectId: body.projectId, clientRequestId: body.clientRequestId } : undefined);
  const bucket = deps.config.SCRIPTORIUM_BUCKET;
  const object = speechRequestObjectName(body.projectId, jobId);
  const bytes = Buffer.from(JSON.stringify(params), 'utf8');
  // Create-only: a retried request with the same id gets the request stored the first time.
  const stored = await deps.storage.writeDerived({ bucket, object, contentType: 'application/json', body: bytes, metadata: { jobId } });
  const inputChars = (params.text ?? params.ssml ?? '').length;
  const what = `${inputChars} characters of ${params.ssml !== undefined ? 'SSML' : 'text'} to ${params.format}${params.voice ? ` with ${params.voice}` : ''}${params.language ? ` in ${params.language}` : ''}${params.speakingRate !== undefined ? ` at rate ${params.speakingRate}` : ''}`;
  const created = await deps.db.runTransaction(async (tx) => {
    const snap = await tx.get(deps.jobs.ref(jobId));
    if (snap.exists) return false;
    deps.jobs.createIn(
      tx,
      {
        id: jobId,
        kind: API_JOB_TYPES.TTS,
        projectId: body.projectId,
        documentId: null,
        ownerUid: caller.uid,
        agentId: null,
        // RUNNING from the start: its stage is dispatched with its creation (the reaper watches RUNNING jobs).
        status: 'RUNNING',
        stage: 'synthesize',
        progress: 0,
        attempts: 0,
        error: null,
        input: {
          bucket: stored.bucket,
          object: stored.object,
          fileName: 'request.json',
          contentType: 'application/json',
          declaredSize: stored.size,
          generation: stored.generation,
          uploadExpiresAt: null,
          md5Hash: stored.md5Hash,
          crc32c: stored.crc32c,
          detectedType: null,
          family: null,
        },
        stages: { synthesize: { status: 'PENDING' } },
        dispatchedStage: null,
        result: null,
        cancelRequested: false,
        retryOf: null,
        metrics: {},
      },
      { level: 'INFO', message: `speech synthesis of ${what}` },
    );
    return true;
  });
  const job = await deps.jobs.get(jobId);
  if (!job || job.projectId !== body.projectId || job.kind !== API_JOB_TYPES.TTS) throw new HttpError(409, 'CONFLICT', 'this clientRequestId names another job');
  // A retried request republishes only while nothing has picked the job up (the runner acks duplicates anyway).
  if (created || (job.status === 'RUNNING' && job.stages.synthesize?.status === 'PENDING' && job.stages.synthesize.lease === null)) {
    try {
      const { topic, data } = synthesizeRequest(job, job.input.generation ?? stored.generation, new Date().toISOString());
      await deps.publisher.publish(topic, data, { jobId });
    } catch (err) {
      // Nothing would ever run the job: it fails now, visibly, and the caller can ask again.
      const out = await failJob(deps, jobId, null, { code: 'DISPATCH_FAILED', message: 'could not hand the job to the synthesize function; try again', retryable: false }, (j) => j.stages.synthesize?.status === 'PENDING' && j.stages.synthesize.lease === null);
      await announceOutcome(deps, out.job);
      deps.log.error('speech job dispatch failed', { jobId, err });
      throw new HttpError(503, 'UNAVAILABLE', 'could not start the job; try again');
    }
  }
  deps.log.info('speech job created', { jobId, projectId: body.projectId, uid: caller.uid, created, inputChars, format: params.format });
  const response: CreateJobResponse = { jobId, kind: job.kind, status: job.status, created };
  return json(created ? 201 : 200, response);
}

async function listVoices({ req, caller, deps }: RouteContext): Promise<ReturnType<typeof json>> {
  const parsed = VoicesQuerySchema.safeParse(req.query ?? {});
  if (!parsed.success) throw invalid('voices query', parsed.error);
  // Any signed-in caller: the list says nothing about any project.
  void caller;
  const tts = ttsEngine(deps);
  const voices = await tts.listVoices(parsed.data.language ? { languageCode: parsed.data.language } : {});
  const response: VoicesResponse = { engine: tts.name, voices: voices.map((v) => ({ ...v, languageCodes: [...v.languageCodes] })) };
  return json(200, response);
}

async function audioLink({ caller, deps, params }: RouteContext): Promise<ReturnType<typeof json>> {
  const job = await deps.jobs.get(params.id ?? '');
  if (!job || (await deps.projects.roleOf(job.projectId, caller.uid)) === null) throw new HttpError(404, 'NOT_FOUND', 'no such job');
  if (job.kind !== API_JOB_TYPES.TTS) throw new HttpError(404, 'NOT_FOUND', 'this job has no audio');
  if (job.status !== 'COMPLETED') throw new HttpError(409, 'NOT_READY', `the job is ${job.status}: its audio is there once it is COMPLETED`, { status: job.status });
  const result = SpeechResultSchema.safeParse(job.result);
  if (!result.success) throw new HttpError(500, 'INTERNAL', 'the job has no readable result');
  const r = result.data;
  const ttl = Math.min(AUDIO_LINK_TTL_SECONDS, deps.config.SCRIPTORIUM_SIGNED_URL_TTL_SECONDS);
  const signed = await deps.storage.signDownload({ bucket: r.bucket, object: r.object, generation: r.generation, ttlSeconds: ttl, responseContentDisposition: `attachment; filename="${job.id}.${r.format}"`, ...(deps.now ? { now: deps.now() } : {}) });
  const response: AudioLinkResponse = { url: signed.url, expiresAt: signed.expiresAt.toISOString(), format: r.format, contentType: r.contentType, sizeBytes: r.sizeBytes, durationSeconds: r.durationSeconds };
  return json(200, response);
}

const tag = 'Speech';

export const speechRoutes: readonly Route[] = [
  {
    pattern: /^\/v1\/jobs$/,
    path: '/v1/jobs',
    methods: { POST: createJob },
    docs: {
      POST: {
        summary: 'Create a job: TTS (text or SSML to one audio file). VOICE_CLONING and ANIMATED_TALKING_HEADS are refused with 422 NOT_SUPPORTED.',
        tag,
        body: CreateJobRequestSchema,
        status: 201,
        response: CreateJobResponseSchema,
        errors: [409, 413, 422, 503],
      },
    },
  },
  {
    pattern: /^\/v1\/voices$/,
    path: '/v1/voices',
    methods: { GET: listVoices },
    docs: { GET: { summary: "The configured text-to-speech engine's voices (optionally of one language).", tag, query: z.object({ language: z.string().optional() }), response: VoicesResponseSchema } },
  },
  {
    pattern: new RegExp(`^/v1/jobs/${idGroup('id', JOB_ID)}/audio$`),
    path: '/v1/jobs/{id}/audio',
    methods: { GET: audioLink },
    docs: { GET: { summary: "A short-lived signed download URL for a completed TTS job's audio.", tag, response: AudioLinkResponseSchema, errors: [409] } },
  },
];
