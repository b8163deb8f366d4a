/**
 * The stage runner: the one cycle every processing stage (OCR today; embedding, summaries, speech
 * next) goes through, so each stage only says what it works on and what it produces.
 *
 * 1. Decode the delivery against its topic's contract. The message only names the work (job,
 *    document, project, source generation); everything the stage reads comes from the job and
 *    document records, and a message that does not describe its job is acknowledged untouched.
 * 2. Claim an attempt on `jobs/{id}.stages.{name}` in a transaction that takes a lease (attempt id,
 *    Pub/Sub message id, expiry on Firestore's clock), which the attempt renews while it works
 *    (heartbeat). Stale, terminal and duplicate deliveries are acknowledged without work; another
 *    copy meeting a live lease too (the holder's own message still guarantees progress), while the
 *    holder's own message redelivered is retried later, not acknowledged; an expired lease (a dead
 *    holder) is taken over. Cancel requests and the attempt cap are honoured here.
 * 3. Check the document record names the job back (same project, source), then run the work with a
 *    progress reporter (throttled writes; it aborts the work when the job is cancelled or the lease
 *    was taken over) and an abort signal. Outputs are create-only derived objects, so a retry reuses
 *    what an earlier attempt wrote.
 * 4. Complete in one transaction only the lease holder can make: the stage's result, the document
 *    fields it produced, and the job's completion when every stage of the pipeline is done.
 * 5. Announce a terminal job on `document-events` (then mark it announced); any later delivery that
 *    meets a terminal, unannounced job repairs a lost announcement.
 * Permanent errors fail the stage and the job once and are acknowledged; transient ones release the
 * lease, are recorded on the stage and rethrown (Pub/Sub redelivers with backoff) until the cap.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Transaction } from '@google-cloud/firestore';
import type { DocumentEvent } from '../events/contracts.js';
import type { Publisher } from '../events/publisher.js';
import { countedWrite } from '../firestore/jobs.js';
import { isRetryable, PermanentError, toJobError, TransientError, type JobError } from '../errors/index.js';
import { versionView, type DocumentRecord, type DocumentRepository, type Promotion } from '../firestore/documents.js';
import type { JobChange, JobRepository, UpdateOutcome } from '../firestore/jobs.js';
import { activeStages, isStageTerminal, isTerminal, pipelineFor, pipelineProgress, stagesReady, type Job, type Pipeline } from '../jobs/model.js';
import { announceOutcome, DOCUMENT_MISSING, failJob, isDocumentGone } from '../jobs/outcomes.js';
import type { Logger } from '../logger/index.js';
import { topology, type TopicName } from '../topology.js';
import { isThrottled, MAX_THROTTLED_ATTEMPTS } from '../engines/throttle.js';
import { UsageMeter } from '../cost/meter.js';
import { functionUsage } from '../cost/functions.js';
import { currentPriceTable, type PriceTable } from '../cost/prices.js';
import type { UsageCharge } from '../cost/record.js';
import { addUnits } from '../cost/usage.js';

/** What a delivery asks for. Only identifies the work; it is checked against the job record. */
export interface StageRequest {
  readonly jobId: string;
  readonly projectId: string;
  /** Null for a job without a document (speech synthesis): the job's `documentId` is null too. */
  readonly documentId: string | null;
  /** The source generation the work is for: the job's idempotency key (stale requests are skipped). */
  readonly generation: string;
  readonly messageId: string;
}

/** Document fields a stage may write with its completion. */
export type DocumentPatch = Partial<Pick<DocumentRecord, 'pageCount' | 'language' | 'text' | 'chunkCount' | 'embedding' | 'summary'>>;

export interface StageContext {
  /** The job as claimed; what the work reads (source object, content type) comes from here. */
  readonly job: Job;
  /**
   * The job's document as it reads for the job's version (that version's source, text, language),
   * checked to name this job, project and source. `job.input.version` is the version.
   */
  readonly document: DocumentRecord;
  /** 1-based attempt number of this stage. */
  readonly attempt: number;
  readonly signal: AbortSignal;
  /** A private temp directory, removed after the attempt. */
  readonly workDir: string;
  readonly log: Logger;
  /**
   * Reports the stage's progress (0–1). At most one write per interval; never fails the work. When
   * the job was cancelled or another attempt took the stage over, `signal` is aborted.
   */
  progress(this: void, fraction: number, metrics?: Record<string, number>): Promise<void>;
  /**
   * The attempt's usage meter (shared/cost): the work adds what its engine calls consumed (wrap
   * engines with meteredStt/meteredEmbeddings/...); Firestore operations and function time are
   * counted by the runner. Written with the transition that ends the attempt, whatever its outcome.
   */
  readonly usage: UsageMeter;
  /**
   * Reads the job now (unthrottled, a read, no write) and stops the work if it was cancelled or taken
   * over: aborts `signal` and throws. For work that must not write anything once cancelled (between
   * chunks, before an upload); progress alone notices a cancel at most once per progress interval.
   */
  checkpoint(this: void): Promise<void>;
  /**
   * Milliseconds left of this invocation's working time (its slice, see {@link sliceMsFor}): work
   * that can stop between units and resume from checkpoints (transcription) throws
   * {@link ContinueLater} when it runs out, instead of running into the function's timeout.
   */
  timeLeftMs(this: void): number;
}

/** What the work of a job without a document gets: no document record is read or written. */
export type JobStageContext = Omit<StageContext, 'document'>;

export interface StageOutput {
  /** Stored as `stages.{name}.result` (and, when the job completes, merged into `job.result`). */
  readonly result: Record<string, unknown>;
  readonly metrics?: Record<string, number>;
  readonly document?: DocumentPatch;
  /** The completion's log line. */
  readonly message: string;
}

export type Decoded = { readonly request: StageRequest; readonly matches?: (job: Job) => boolean } | { readonly ignore: string };

/** A stage's completion event, published when the job goes on (the next stages start from it). */
export interface StageAnnouncement {
  readonly topic: 'document-events';
  readonly data: DocumentEvent;
}

export interface StageDefinition {
  readonly name: string;
  /**
   * The event that tells the next stages this one is done (built from the job as completed, never
   * from the message). Published after the completing transaction, then marked on the stage; a
   * redelivery that meets the stage completed and unannounced publishes it again.
   */
  announce?(job: Job): StageAnnouncement;
  /** How long a claim holds the stage without a heartbeat (see {@link leaseFor}). */
  readonly leaseMs: number;
  /** Decodes a delivery (PermanentError when it breaks its contract); `ignore` for events not meant for this stage. */
  decode(eventData: unknown): Decoded;
  work(ctx: StageContext): Promise<StageOutput>;
  /**
   * Housekeeping once the stage's completion is committed (e.g. deleting its checkpoints). Failures
   * are only logged: the completion stands, and what is left expires on its own.
   */
  afterComplete?(job: Job, log: Logger): Promise<void>;
  /**
   * The request that starts this stage again, for a work that stopped at its slice's end
   * ({@link ContinueLater}): published as the slice ends, so the next invocation resumes from the
   * checkpoints. Stages without it never slice.
   */
  continuation?(job: Job, now: Date): { readonly topic: TopicName; readonly data: unknown };
}

/**
 * Thrown by a stage's work that stopped at the end of its slice with its progress checkpointed
 * (at least one unit more than when the slice began): the runner ends the invocation without
 * counting an attempt and publishes {@link StageDefinition.continuation}, so long work (an hour of
 * audio) proceeds in invocations that each end well inside the function's timeout.
 */
export class ContinueLater extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ContinueLater';
  }
}

/** Slices one job's stage may take before it fails (each made progress: this bounds a stage at ~40 × its slice). */
export const MAX_SLICES = 40;

/**
 * Working time of one invocation of a slicing stage: 70 % of its function's timeout (the rest covers
 * the download, the final writes and the completion), or SCRIPTORIUM_STAGE_SLICE_SECONDS when set
 * (tests make it short to see several slices on a short recording).
 */
export function sliceMsFor(functionName: string, env: NodeJS.ProcessEnv = process.env): number {
  const override = Number(env.SCRIPTORIUM_STAGE_SLICE_SECONDS ?? '');
  if (Number.isFinite(override) && override > 0) return override * 1000;
  return Math.round((topology.functions.find((f) => f.name === functionName)?.timeoutSeconds ?? 540) * 0.7 * 1000);
}

/**
 * A stage of jobs without a document (`job.documentId` null, e.g. `speech.synthesize`): the same
 * cycle (claim, lease, heartbeat, attempts, cancel, progress, completion, announcement) minus the
 * document record's reads and writes. Its requests carry `documentId: null`.
 */
export interface DocumentlessStageDefinition extends Omit<StageDefinition, 'work'> {
  readonly documentless: true;
  work(ctx: JobStageContext): Promise<StageOutput>;
}

function isDocumentless(def: StageDefinition | DocumentlessStageDefinition): def is DocumentlessStageDefinition {
  return 'documentless' in def && def.documentless;
}

export interface StageDeps {
  readonly jobs: JobRepository;
  readonly documents: DocumentRepository;
  readonly publisher: Publisher;
  readonly log: Logger;
  readonly config: { readonly SCRIPTORIUM_MAX_ATTEMPTS: number };
  /** Minimum time between progress writes (each is a Firestore transaction). */
  readonly progressIntervalMs?: number;
  /** Overrides the stage's lease length (tests). */
  readonly leaseMs?: number;
  /** How often a running attempt renews its lease when no progress write did (default a quarter of the lease). */
  readonly heartbeatMs?: number;
  /** Prices for the usage estimate (default SCRIPTORIUM_PRICE_TABLE over shared/cost/prices.json). */
  readonly prices?: PriceTable;
}

export type StageOutcome =
  | { readonly action: 'skipped'; readonly reason: string; readonly jobId: string }
  | { readonly action: 'completed'; readonly jobId: string; readonly result: Record<string, unknown> }
  | { readonly action: 'failed'; readonly jobId: string; readonly error: JobError }
  | { readonly action: 'cancelled'; readonly jobId: string }
  /** The work stopped at its slice's end (checkpointed) and its continuation was published. */
  | { readonly action: 'continued'; readonly jobId: string; readonly slices: number };

/** Why an attempt stopped early: the job was cancelled, or another attempt took the stage over. */
class Stopped extends Error {
  constructor(readonly why: 'cancelled' | 'lease-lost') {
    super(why);
  }
}

/** Whether the work's signal was aborted because the job was cancelled (not a takeover, not a timeout). */
export function abortedByCancel(signal: AbortSignal): boolean {
  return signal.aborted && signal.reason instanceof Stopped && signal.reason.why === 'cancelled';
}

/** A lease lasts this long without a heartbeat: a dead attempt is noticed within it. */
export const LEASE_MS = 120_000;

/**
 * A stage's lease: {@link LEASE_MS}, renewed by the running attempt every quarter of it (with its
 * progress writes, or by a heartbeat when the work is silent), so a live attempt, however slow, keeps
 * it, and a dead one loses it within two minutes instead of after the function's whole timeout.
 * Never longer than the function's timeout plus a margin: an attempt cannot outlive that.
 */
export function leaseFor(functionName: string): number {
  const timeoutMs = ((topology.functions.find((f) => f.name === functionName)?.timeoutSeconds ?? 540) + 60) * 1000;
  return Math.min(LEASE_MS, timeoutMs);
}

/** The job's document record names another job, project or source: the job fails alone. */
export const DOCUMENT_MISMATCH = 'DOCUMENT_MISMATCH';

export async function runStage(def: StageDefinition | DocumentlessStageDefinition, eventData: unknown, deps: StageDeps): Promise<StageOutcome> {
  // Everything the attempt does (claim, progress, work, completion) counts on its meter.
  const meter = new UsageMeter();
  return meter.run(() => runMetered(def, eventData, deps, meter));
}

async function runMetered(def: StageDefinition | DocumentlessStageDefinition, eventData: unknown, deps: StageDeps, meter: UsageMeter): Promise<StageOutcome> {
  const decoded = def.decode(eventData);
  if ('ignore' in decoded) return { action: 'skipped', reason: decoded.ignore, jobId: '' };
  const { request: req } = decoded;
  const { jobId } = req;
  const name = def.name;
  const log = deps.log.child({ jobId, documentId: req.documentId, stage: name });
  const max = deps.config.SCRIPTORIUM_MAX_ATTEMPTS;
  const leaseMs = deps.leaseMs ?? def.leaseMs;
  const attemptId = randomUUID();
  /** The request describes this job: same document and project, and whatever else the stage checks. */
  const describes = (job: Job): boolean => job.documentId === req.documentId && job.projectId === req.projectId && (decoded.matches?.(job) ?? true);
  const ours = (job: Job): boolean => job.stages[name]?.lease?.id === attemptId;
  const markDocument = (job: Job, status: DocumentRecord['status']) => (tx: Transaction) => deps.documents.updateForJob(tx, job, { status });
  /** The attempt's usage so far, with its function time, for the transition that ends it (at most once: it is lease-guarded). */
  const charge = (): UsageCharge => ({ stage: name, units: addUnits(meter.snapshot(), functionUsage(name, meter.elapsedMs())), prices: deps.prices ?? currentPriceTable() });
  /** The document record vanished: fail the job alone (nothing else can end it) and announce. */
  const documentGone = async (): Promise<StageOutcome> => {
    const out = await failJob(deps, jobId, null, DOCUMENT_MISSING, undefined, name);
    await announceOutcome(deps, out.job);
    return { action: 'failed', jobId, error: DOCUMENT_MISSING };
  };

  // 2. Claim an attempt. The decider sees the job as it is in this transaction, at Firestore's time.
  let claim: UpdateOutcome;
  try {
    claim = await deps.jobs.update(jobId, (job, readTime): JobChange | null => {
      if (!describes(job) || job.input.generation !== req.generation) return null;
      const stage = job.stages[name];
      if (!stage || isStageTerminal(stage.status)) return null;
      const t = readTime.getTime();
      // A live lease (its holder heartbeats) is never taken over: another copy of the request is
      // acknowledged (the holder's own message covers it), the holder's own message redelivered is
      // not (below), so it stays as the safety net until the holder ends. An expired lease means
      // the holder died: whatever message brings the request takes over.
      if (stage.lease && Date.parse(stage.lease.expiresAt) > t) return null;
      if (job.cancelRequested) {
        return { status: 'CANCELLED', stages: [{ name, status: 'CANCELLED' }], log: { level: 'INFO', message: `cancelled before ${name} started` }, also: markDocument(job, 'CANCELLED') };
      }
      if (stage.attempts >= max) {
        const last = stage.error ? ` (last error ${stage.error.code}: ${stage.error.message})` : '';
        const error: JobError = { code: 'ATTEMPTS_EXHAUSTED', message: `${name} failed ${stage.attempts} times${last}`, retryable: false };
        return { status: 'FAILED', error, stages: [{ name, status: 'FAILED', error }], log: { level: 'ERROR', message: `${name}: gave up after ${stage.attempts} attempts` }, also: markDocument(job, 'FAILED') };
      }
      return {
        status: 'RUNNING',
        stage: activeStages({ ...job.stages, [name]: { status: 'RUNNING' } }, pipelineFor(job.kind)),
        // Receiving the request proves it was dispatched: whoever dispatched it need not (and must not) again.
        dispatchedStage: name,
        // The job's own count is every attempt of every stage; each stage keeps its own too.
        attempts: 'increment',
        stages: [{ name, status: 'RUNNING', attempts: 'increment', lease: { id: attemptId, messageId: req.messageId, expiresAt: new Date(t + leaseMs).toISOString() } }],
        log: { level: 'INFO', message: `${name} attempt ${stage.attempts + 1} of ${max} started` },
      };
    });
  } catch (err) {
    if (isDocumentGone(err)) return documentGone();
    throw err;
  }
  if (!claim.applied) {
    if (!describes(claim.job)) {
      // Not this job's request (forged, or a bug upstream): acknowledged, and nothing is touched.
      log.error(`${name} request does not match its job record: ignored`);
      return { action: 'skipped', reason: 'the request does not match the job record', jobId };
    }
    // A terminal job whose announcement was lost gets it now; so does a completed stage whose event was lost.
    if (isTerminal(claim.job.status)) await announceOutcome(deps, claim.job);
    else await announceStage(def, deps, claim.job);
    const st = claim.job.stages[name];
    if (st?.lease && !isStageTerminal(st.status) && st.lease.messageId === req.messageId && !isTerminal(claim.job.status)) {
      // Pub/Sub redelivered the message a live attempt is working on (its push outlived the ack
      // deadline): not acknowledged, so if that attempt dies the message is still there to retry.
      throw new TransientError('ATTEMPT_IN_PROGRESS', `${name} of job ${jobId} is being worked on by a live attempt (lease until ${st.lease.expiresAt})`);
    }
    const busy = st?.lease && !isStageTerminal(st.status) ? ' (another attempt holds it)' : '';
    return { action: 'skipped', reason: `job is ${claim.job.status}, ${name} is ${st?.status ?? 'not started'}${busy}`, jobId };
  }
  if (isTerminal(claim.job.status)) {
    await announceOutcome(deps, claim.job);
    return claim.job.status === 'CANCELLED' ? { action: 'cancelled', jobId } : { action: 'failed', jobId, error: claim.job.error ?? toJobError(new Error('failed')) };
  }
  const claimed = claim.job;
  const attempt = claimed.stages[name]?.attempts ?? 1;

  // 3. The work. Only its failures (and the document check) are classified as the stage's failures.
  const controller = new AbortController();
  const lease = leaseKeeper(deps, name, jobId, attemptId, req.messageId, leaseMs);
  const heartbeat = lease.start(ours, controller, log);
  let output: StageOutput;
  const workDir = await mkdtemp(path.join(tmpdir(), `scriptorium-${name}-`));
  const sliceEnds = Date.now() + sliceMsFor(name);
  const base: JobStageContext = { job: claimed, attempt, signal: controller.signal, workDir, log, progress: progressReporter(deps, name, jobId, ours, controller, log, lease), checkpoint: checkpointer(deps, jobId, ours, controller), usage: meter, timeLeftMs: () => sliceEnds - Date.now() };
  try {
    if (isDocumentless(def)) {
      output = await def.work(base);
    } else {
      if (req.documentId === null) throw new PermanentError(DOCUMENT_MISSING.code, DOCUMENT_MISSING.message);
      const [record, version] = await Promise.all([deps.documents.get(req.documentId), deps.documents.getVersion(req.documentId, claimed.input.version)]);
      if (!record || !version) throw new PermanentError(DOCUMENT_MISSING.code, DOCUMENT_MISSING.message);
      // A version's processing is its version's job; a re-embedding is the document's active job.
      // (The current version's job is named by the document record too.)
      const owner = claimed.kind === 'document.embed' ? record.activeJobId === claimed.id : version.jobId === claimed.id && (!claimed.input.current || record.jobId === claimed.id);
      if (record.projectId !== claimed.projectId || !owner || version.source.bucket !== claimed.input.bucket || version.source.object !== claimed.input.object) {
        throw new PermanentError(DOCUMENT_MISMATCH, 'the document record does not belong to this job');
      }
      const document = versionView(record, version);
      output = await def.work({ ...base, document });
    }
  } catch (err) {
    return await attemptFailed(err, attempt);
  } finally {
    heartbeat.stop();
    await rm(workDir, { recursive: true, force: true });
  }

  // 4. Completion, by the lease holder only; the job completes with its last stage. A later version
  // of a document becomes current with it: the promotion's reads happen first in the transaction.
  // A holder, not a variable: it is filled inside the transaction's callback.
  const promotion: { value: Promotion | null } = { value: null };
  const readPromotion = async (tx: Transaction, job: Job): Promise<void> => {
    promotion.value = job.kind === 'document.process' && !job.input.current && job.documentId ? await deps.documents.readPromotion(tx, job.documentId, job.input.version) : null;
  };
  let done: UpdateOutcome;
  try {
    done = await deps.jobs.update(
      jobId,
      (job): JobChange | null => {
        if (!ours(job)) return null;
        const pipeline = pipelineFor(job.kind);
        const completed: Record<string, { status: StageStatusLike; progress: number }> = { ...job.stages, [name]: { status: 'COMPLETED', progress: 100 } };
        // The stages this completion makes ready start now (PENDING; they run from the announcement).
        const next = stagesReady(completed, pipeline);
        const stagesAfter = { ...completed, ...Object.fromEntries(next.map((n) => [n, { status: 'PENDING' as const, progress: 0 }])) };
        const allDone = pipeline.every((s) => stagesAfter[s.name]?.status === 'COMPLETED');
        const results = Object.fromEntries(Object.entries(job.stages).map(([n, s]) => [n, s.result] as const));
        const promote = allDone ? promotion.value : null;
        const patch = { ...output.document, ...(allDone ? { status: 'READY' as const } : {}) };
        return {
          ...(allDone ? { status: 'COMPLETED', stage: 'done', result: mergeResults(pipeline, results, name, output.result) } : { progress: pipelineProgress(stagesAfter, pipeline), stage: activeStages(stagesAfter, pipeline) }),
          error: null,
          stages: [{ name, status: 'COMPLETED', result: output.result, ...(output.metrics ? { metrics: output.metrics } : {}) }, ...next.map((n) => ({ name: n, status: 'PENDING' as const }))],
          ...(output.metrics ? { metrics: output.metrics } : {}),
          usage: charge(),
          log: { level: 'INFO', message: output.message + (promote?.promote ? `; version ${job.input.version} is now current (was ${promote.from})` : '') },
          also: (tx) => {
            deps.documents.updateForJob(tx, job, patch);
            if (promote && req.documentId !== null) deps.documents.promoteIn(tx, req.documentId, promote, patch);
          },
        };
      },
      readPromotion,
    );
  } catch (err) {
    // A transient failure here is retried like any other: the redelivery reuses the derived objects.
    if (isDocumentGone(err)) return documentGone();
    throw err;
  }
  if (!done.applied) {
    if (isTerminal(done.job.status)) {
      await announceOutcome(deps, done.job);
      return { action: 'skipped', reason: `job became ${done.job.status} while ${name} ran`, jobId };
    }
    // Another attempt took the stage over (we were presumed dead). Not acknowledging keeps this
    // message alive until that attempt has ended, in case it dies too.
    throw new TransientError('LEASE_LOST', `another attempt took over ${name} while this one ran`);
  }
  // 5. Outside the work's error handling: a failed announcement is retried (and repaired) by redelivery.
  if (done.job.status === 'COMPLETED' && promotion.value?.promote && req.documentId !== null) {
    // Housekeeping after the switch (search is already right without it), before the announcement so
    // whoever waits for the job finds it done; failures are only logged.
    try {
      const retired = await deps.documents.retireChunks(req.documentId, done.job.input.version);
      log.info(`version ${done.job.input.version} is current; ${retired} chunk(s) of other versions retired`);
    } catch (err) {
      log.warn('retiring the chunks of earlier versions failed (search skips them anyway)', { err });
    }
  }
  if (def.afterComplete) {
    try {
      await def.afterComplete(done.job, log);
    } catch (err) {
      log.warn(`${name}: housekeeping after completion failed`, { err });
    }
  }
  if (isTerminal(done.job.status)) await announceOutcome(deps, done.job);
  else await announceStage(def, deps, done.job);
  log.info(`${name} completed`, { metrics: output.metrics });
  return { action: 'completed', jobId, result: output.result };

  /** The job's and the stage's attempt counts with this attempt given back (a slice or a throttled attempt is not a failure). */
  function uncounted(job: Job): { attempts: number; stageAttempts: number } {
    return { attempts: Math.max(0, job.attempts - 1), stageAttempts: Math.max(0, (job.stages[name]?.attempts ?? 1) - 1) };
  }

  /**
   * The work stopped at its slice's end with more checkpointed: not a failed attempt. The lease is
   * released, the attempt uncounted, and the stage's request published again; if that publish is
   * lost, the reaper re-dispatches the stage (RUNNING, no lease, idle).
   */
  async function continueLater(stop: ContinueLater, slices: number): Promise<StageOutcome> {
    const out = await deps.jobs.update(jobId, (job) =>
      ours(job)
        ? {
            attempts: uncounted(job).attempts,
            stages: [{ name, lease: null, attempts: uncounted(job).stageAttempts, metrics: { slices } }],
            usage: charge(),
            log: { level: 'INFO', message: `${name} continues in a new invocation (slice ${slices}): ${stop.message}` },
          }
        : null,
    );
    if (!out.applied) return { action: 'skipped', reason: `the job changed while ${name} ran its slice`, jobId };
    const next = def.continuation?.(out.job, new Date());
    if (next) await deps.publisher.publish(next.topic, next.data, { jobId });
    log.info(`${name}: slice ${slices} ended, continuation published`, { slices });
    return { action: 'continued', jobId, slices };
  }

  async function attemptFailed(err: unknown, attempts: number): Promise<StageOutcome> {
    if (err instanceof ContinueLater && def.continuation && !controller.signal.aborted) {
      const slices = (claimed.stages[name]?.metrics.slices ?? 0) + 1;
      if (slices <= MAX_SLICES) return continueLater(err, slices);
      err = new PermanentError('SLICE_LIMIT', `${name} was still not done after ${MAX_SLICES} invocations of ${Math.round(sliceMsFor(name) / 1000)} s`, err);
    }
    const reason: unknown = controller.signal.reason;
    if (controller.signal.aborted && reason instanceof Stopped) {
      if (reason.why === 'lease-lost') throw new TransientError('LEASE_LOST', `another attempt took over ${name} while this one ran`, err);
      let out: UpdateOutcome;
      try {
        out = await deps.jobs.update(jobId, (job) =>
          ours(job) && job.cancelRequested ? { status: 'CANCELLED', stages: [{ name, status: 'CANCELLED' }], usage: charge(), log: { level: 'INFO', message: `cancelled during ${name}` }, also: markDocument(job, 'CANCELLED') } : null,
        );
      } catch (e) {
        if (isDocumentGone(e)) return documentGone();
        throw e;
      }
      if (out.applied) await announceOutcome(deps, out.job);
      return out.applied ? { action: 'cancelled', jobId } : { action: 'skipped', reason: `the job ended otherwise while ${name} ran`, jobId };
    }
    const error = toJobError(err);
    // The engine refused for quota even after its own backoff (shared/engines/throttle.ts): the
    // attempt ends as transient but is not a failed one (both attempt counts go back down), up to
    // MAX_THROTTLED_ATTEMPTS per stage; beyond that it counts like any other transient failure.
    const throttled = isThrottled(err) ? (claimed.stages[name]?.metrics.throttledAttempts ?? 0) + 1 : 0;
    if (throttled > 0 && throttled <= MAX_THROTTLED_ATTEMPTS) {
      await deps.jobs.update(jobId, (job) =>
        ours(job)
          ? {
              error,
              attempts: uncounted(job).attempts,
              stages: [{ name, error, lease: null, attempts: uncounted(job).stageAttempts, metrics: { throttledAttempts: throttled } }],
              // Not a failed attempt, but what it consumed before the refusal is billed all the same.
              usage: charge(),
              log: { level: 'WARNING', message: `${name} throttled by its engine (${throttled} of ${MAX_THROTTLED_ATTEMPTS} uncounted); will retry: ${error.message}` },
            }
          : null,
      );
      log.warn(`${name} throttled; attempt not counted`, { throttledAttempts: throttled });
      throw err instanceof TransientError ? err : new TransientError(error.code, error.message, err);
    }
    if (!isRetryable(err) || attempts >= max) {
      const final: JobError = isRetryable(err) ? { code: error.code, message: `${error.message} (gave up after ${attempts} attempts)`, retryable: false } : error;
      // A document that is not this job's (or is gone) is left alone: only the job fails.
      const documentId = error.code === DOCUMENT_MISMATCH || error.code === DOCUMENT_MISSING.code ? null : req.documentId;
      const out = await failJob(deps, jobId, documentId, final, ours, name, charge);
      if (out.applied) await announceOutcome(deps, out.job);
      log.warn(`${name} failed`, { error: final });
      return out.applied ? { action: 'failed', jobId, error: final } : { action: 'skipped', reason: `job is ${out.job.status}; another attempt holds ${name} or it ended`, jobId };
    }
    // Transient: note it on the stage (still RUNNING), release the lease, and let Pub/Sub redeliver with backoff.
    await deps.jobs.update(jobId, (job) => (ours(job) ? { error, stages: [{ name, error, lease: null }], usage: charge(), log: { level: 'WARNING', message: `${name} attempt ${attempts} failed, will retry: ${error.code}: ${error.message}` } } : null));
    throw err instanceof TransientError ? err : new TransientError(error.code, error.message, err);
  }
}

type StageStatusLike = Job['stages'][string]['status'];

/** Publishes a completed stage's event for a job that goes on, then marks it (at least once). */
async function announceStage(def: StageDefinition, deps: StageDeps, job: Job): Promise<void> {
  const st = job.stages[def.name];
  if (!def.announce || isTerminal(job.status) || st?.status !== 'COMPLETED' || st.announced) return;
  const { topic, data } = def.announce(job);
  await deps.publisher.publish(topic, data, { jobId: job.id });
  await deps.jobs.ref(job.id).update({ [`stages.${def.name}.announced`]: true, 'metrics.firestoreWrites': countedWrite() });
}

/** The stage's results merged into the job's result: the last stage's fields win over none (names do not overlap). */
function mergeResults(pipeline: Pipeline, results: Record<string, Record<string, unknown> | null>, name: string, result: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const s of pipeline) Object.assign(out, s.name === name ? result : (results[s.name] ?? {}));
  return out;
}

/** Keeps an attempt's lease alive: renewed with each progress write, and by a heartbeat when the work is silent. */
interface LeaseKeeper {
  /** The renewed lease for a write made at Firestore time `readTime`; marks the lease renewed. */
  renewed(readTime: Date): { id: string; messageId: string; expiresAt: string };
  start(ours: (job: Job) => boolean, controller: AbortController, log: Logger): { stop(): void };
}

function leaseKeeper(deps: StageDeps, name: string, jobId: string, attemptId: string, messageId: string, leaseMs: number): LeaseKeeper {
  const every = deps.heartbeatMs ?? Math.max(250, Math.floor(leaseMs / 4));
  let last = performance.now();
  const keeper: LeaseKeeper = {
    renewed(readTime) {
      last = performance.now();
      return { id: attemptId, messageId, expiresAt: new Date(readTime.getTime() + leaseMs).toISOString() };
    },
    start(ours, controller, log) {
      let beating = false;
      const timer = setInterval(() => {
        // A progress write renewed it lately, or a heartbeat is still on its way.
        if (beating || controller.signal.aborted || performance.now() - last < every) return;
        beating = true;
        deps.jobs
          .update(jobId, (job, readTime) => (ours(job) && !job.cancelRequested ? { stages: [{ name, lease: keeper.renewed(readTime) }] } : null))
          .then((out) => {
            if (!out.applied) controller.abort(new Stopped(out.job.cancelRequested ? 'cancelled' : 'lease-lost'));
          })
          .catch((err: unknown) => {
            // One missed heartbeat is not fatal (the lease lasts four of them); the next one retries.
            log.warn('lease heartbeat failed', { err });
          })
          .finally(() => {
            beating = false;
          });
      }, Math.max(50, Math.floor(every / 4)));
      // The heartbeat alone must not keep a process alive (tests, shutdown).
      timer.unref();
      return { stop: () => clearInterval(timer) };
    },
  };
  return keeper;
}

/** An unthrottled cancel/takeover check for one attempt (one read): aborts the work and throws when it must stop. */
function checkpointer(deps: StageDeps, jobId: string, ours: (job: Job) => boolean, controller: AbortController): StageContext['checkpoint'] {
  return async () => {
    if (!controller.signal.aborted) {
      const job = await deps.jobs.get(jobId);
      if (!job || job.cancelRequested || !ours(job)) controller.abort(new Stopped(job?.cancelRequested ? 'cancelled' : 'lease-lost'));
    }
    if (controller.signal.aborted) throw new TransientError('STOPPED', `work stopped: ${String(controller.signal.reason instanceof Stopped ? controller.signal.reason.why : 'aborted')}`);
  };
}

/** Throttled progress writes for one attempt (each renews the lease); aborts the work when the job was cancelled or taken over. */
function progressReporter(deps: StageDeps, name: string, jobId: string, ours: (job: Job) => boolean, controller: AbortController, log: Logger, lease: LeaseKeeper): StageContext['progress'] {
  let lastWrite = 0;
  const interval = deps.progressIntervalMs ?? 750;
  return async (fraction, metrics) => {
    const t = performance.now();
    // The end of the stage is written by its completion; between, at most one write per interval.
    if (fraction >= 1 || t - lastWrite < interval || controller.signal.aborted) return;
    lastWrite = t;
    const pct = Math.round(100 * Math.min(1, Math.max(0, fraction)));
    try {
      const out = await deps.jobs.update(jobId, (job, readTime) => {
        if (job.cancelRequested || !ours(job)) return null;
        const stagesAfter = { ...job.stages, [name]: { ...(job.stages[name] ?? { status: 'RUNNING' as const }), progress: pct } };
        return { progress: pipelineProgress(stagesAfter, pipelineFor(job.kind)), stages: [{ name, progress: pct, lease: lease.renewed(readTime), ...(metrics ? { metrics } : {}) }], ...(metrics ? { metrics } : {}) };
      });
      if (!out.applied) controller.abort(new Stopped(out.job.cancelRequested ? 'cancelled' : 'lease-lost'));
    } catch (err) {
      // Progress is informative: a failed progress write must not fail the work itself.
      log.warn('progress write failed', { err });
    }
  };
}
