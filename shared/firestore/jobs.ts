/**
 * Job repository. Every change to a job goes through {@link JobRepository.update}: a transaction that
 * reads the job, asks the caller what to change, refuses moves the state machine forbids (a terminal
 * job never moves again), keeps progress monotonic, stamps times, and appends a bounded log entry.
 */
import { FieldValue, type DocumentReference, type Firestore, type Transaction } from '@google-cloud/firestore';
import { PermanentError, type JobError } from '../errors/index.js';
import { canTransition, isStageTerminal, isTerminal, JobSchema, logSlot, type Job, type JobStatus, type Lease, type StageState, type StageStatus } from '../jobs/model.js';
import { firstUploadCheck } from '../jobs/reaper.js';
import { paths } from './paths.js';
import { recordUsage, type UsageCharge } from '../cost/record.js';
import { toPlain } from './client.js';
import { directReads, type CreateWrites, type DocReader } from './reads.js';

export interface JobLogEntry {
  readonly level: 'INFO' | 'WARNING' | 'ERROR';
  readonly message: string;
  readonly fields?: Record<string, unknown>;
}

/** A change to one stage's state (`stages.{name}`); absent fields stay as they are. */
export interface StagePatch {
  readonly name: string;
  readonly status?: StageStatus;
  /** 0–100, never decreasing. */
  readonly progress?: number;
  readonly attempts?: 'increment' | number;
  readonly lease?: Lease | null;
  readonly error?: JobError | null;
  readonly result?: Record<string, unknown>;
  readonly metrics?: Record<string, number>;
  /** Stamps `reapedAt` with the commit time (the reaper re-dispatched the stage). */
  readonly reaped?: true;
}

/** What a guarded update may change. Absent fields stay as they are. */
export interface JobChange {
  /** Set by ingest once the bytes say what the job is (a recording: `speech.transcribe`). */
  readonly kind?: Job['kind'];
  readonly status?: JobStatus;
  readonly stage?: string;
  readonly progress?: number;
  /** `'increment'` adds one; a number sets it (e.g. 0 when a new stage starts). */
  readonly attempts?: 'increment' | number;
  readonly error?: JobError | null;
  readonly result?: Record<string, unknown>;
  readonly input?: Partial<Job['input']>;
  readonly dispatchedStage?: string | null;
  /** Set by a cancel request (the running attempt stops between steps; claims cancel instead of starting). */
  readonly cancelRequested?: true;
  /** Stage changes: a stage's status never moves once terminal (the whole change is then refused). */
  readonly stages?: readonly StagePatch[];
  readonly metrics?: Record<string, number>;
  readonly log?: JobLogEntry;
  /** Further writes in the same transaction (e.g. the document record). */
  readonly also?: (tx: Transaction) => void;
  /** An attempt's usage, added (priced) to the job, the stage and the project's day in this transaction (shared/cost/record.ts). */
  readonly usage?: UsageCharge;
}

export interface UpdateOutcome {
  /** The job after the update (or as it was, when nothing was applied). */
  readonly job: Job;
  readonly applied: boolean;
  /** Why nothing was applied: the decider declined, or the state machine refused. */
  readonly reason?: 'declined' | 'forbidden-transition';
}

/** Wraps a transaction so the writes made through it are counted. */
function countingTransaction(tx: Transaction, counter: { writes: number }): Transaction {
  const counted = new Set<PropertyKey>(['set', 'update', 'create', 'delete']);
  return new Proxy(tx, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]): unknown => {
        if (counted.has(prop)) counter.writes++;
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

/** Counts a write made outside {@link JobRepository.update} (e.g. a plain field write) on the job's meter. */
export const countedWrite = (): FieldValue => FieldValue.increment(1);

export type NewJob = Omit<Job, 'createdAt' | 'updatedAt' | 'startedAt' | 'finishedAt' | 'logCount' | 'stages' | 'announced' | 'input'> & {
  /** Version 1 and current unless said otherwise. */
  readonly input: Omit<Job['input'], 'version' | 'current' | 'translate' | 'audio' | 'uploadCheckAt' | 'uploadReingests'> & Partial<Pick<Job['input'], 'version' | 'current' | 'translate' | 'audio' | 'uploadCheckAt'>>;
  /** Stages created with the job (a re-embedding starts with its stage PENDING). */
  readonly stages?: Readonly<Record<string, { readonly status: 'PENDING' }>>;
};

export class JobRepository {
  /** `reads`: how single documents are read (the API batches them: ./reads.ts). */
  constructor(
    private readonly db: Firestore,
    private readonly reads: DocReader = directReads,
  ) {}

  ref(jobId: string): DocumentReference {
    return this.db.doc(paths.job(jobId));
  }

  parse(id: string, data: unknown): Job {
    return JobSchema.parse({ ...(toPlain(data) as Record<string, unknown>), id });
  }

  async get(jobId: string): Promise<Job | null> {
    const snap = await this.reads.read(this.ref(jobId));
    return snap.exists ? this.parse(jobId, snap.data()) : null;
  }

  /** Writes a new job inside `tx` (with `create`: fails if the id exists). */
  createIn(tx: CreateWrites, job: NewJob, log: JobLogEntry): void {
    const now = FieldValue.serverTimestamp();
    const { id, ...data } = job;
    // Three writes in the creating transaction: this job, its first log entry and the document record.
    const metrics = { ...data.metrics, firestoreWrites: (data.metrics.firestoreWrites ?? 0) + 2 + (job.documentId ? 1 : 0) };
    const stages = Object.fromEntries(Object.entries(job.stages ?? {}).map(([n, st]) => [n, { status: st.status, progress: 0, attempts: 0, lease: null, error: null, startedAt: null, finishedAt: null, result: null, metrics: {}, announced: false, reapedAt: null }]));
    // A job awaiting an upload gets the reaper's first look for it (a lost notification): see shared/jobs/reaper.ts.
    const uploadCheckAt = data.status === 'PENDING' && data.input.uploadExpiresAt !== null ? firstUploadCheck(new Date()) : null;
    tx.create(this.ref(id), { ...data, input: { version: 1, current: true, translate: null, audio: null, uploadCheckAt, uploadReingests: 0, ...data.input }, metrics, stages, announced: false, createdAt: now, updatedAt: now, startedAt: null, finishedAt: null, logCount: 1 });
    tx.set(this.ref(id).collection('logs').doc(logSlot(0)), { seq: 0, at: now, ...log, status: job.status, stage: job.stage, progress: job.progress });
  }

  /**
   * Guarded update. `decide` sees the current job and returns the change, or null to leave it. It also
   * gets the transaction's read time: Firestore's clock, the same for every function instance, so
   * leases are set and compared without trusting any one machine's clock.
   * It may run more than once (transactions retry on contention), so it must be pure. `prepare`
   * makes further reads in the same transaction first (its results reach `decide` by closure).
   */
  async update(jobId: string, decide: (job: Job, readTime: Date) => JobChange | null, prepare?: (tx: Transaction, job: Job) => Promise<void>): Promise<UpdateOutcome> {
    return this.db.runTransaction(async (tx) => {
      const snap = await tx.get(this.ref(jobId));
      if (!snap.exists) throw new PermanentError('JOB_NOT_FOUND', `job ${jobId} does not exist`);
      const job = this.parse(jobId, snap.data());
      // Reads the change depends on (a transaction reads everything before it writes).
      await prepare?.(tx, job);
      const change = decide(job, snap.readTime.toDate());
      if (change === null) return { job, applied: false, reason: 'declined' } as const;
      const status = change.status ?? job.status;
      if (isTerminal(job.status) || (change.status !== undefined && !canTransition(job.status, status))) {
        return { job, applied: false, reason: 'forbidden-transition' } as const;
      }
      // A terminal stage never changes status again (a retry of the job is a new job).
      for (const sp of change.stages ?? []) {
        const cur = job.stages[sp.name];
        if (cur && isStageTerminal(cur.status) && sp.status !== undefined && sp.status !== cur.status) {
          return { job, applied: false, reason: 'forbidden-transition' } as const;
        }
      }
      const now = FieldValue.serverTimestamp();
      const patch: Record<string, unknown> = { updatedAt: now, status };
      if (change.stage !== undefined) patch.stage = change.stage;
      if (change.kind !== undefined) patch.kind = change.kind;
      // Progress never goes backwards: a late progress write after a later stage must not undo it.
      if (change.progress !== undefined) patch.progress = Math.max(job.progress, Math.min(100, change.progress));
      if (change.attempts === 'increment') patch.attempts = job.attempts + 1;
      else if (change.attempts !== undefined) patch.attempts = change.attempts;
      if (change.error !== undefined) patch.error = change.error;
      if (change.result !== undefined) patch.result = change.result;
      if (change.dispatchedStage !== undefined) patch.dispatchedStage = change.dispatchedStage;
      if (change.cancelRequested) patch.cancelRequested = true;
      const stagesAfter: Record<string, StageState> = { ...job.stages };
      for (const sp of change.stages ?? []) stagesAfter[sp.name] = applyStagePatch(patch, job.stages[sp.name], sp, now, new Date().toISOString());
      // A terminal job holds no lease and runs nothing more: whoever ends it ends every attempt too,
      // and a stage still pending or running then will never finish (CANCELLED).
      if (isTerminal(status)) {
        for (const [name, st] of Object.entries(stagesAfter)) {
          if (st.lease !== null) patch[`stages.${name}.lease`] = null;
          if (!isStageTerminal(st.status)) {
            patch[`stages.${name}.status`] = 'CANCELLED';
            if (st.finishedAt === null) patch[`stages.${name}.finishedAt`] = now;
          }
          stagesAfter[name] = { ...st, lease: null, ...(isStageTerminal(st.status) ? {} : { status: 'CANCELLED' as const, finishedAt: st.finishedAt ?? new Date().toISOString() }) };
        }
      }
      if (change.input !== undefined) for (const [k, v] of Object.entries(change.input)) patch[`input.${k}`] = v;
      if (change.metrics !== undefined) for (const [k, v] of Object.entries(change.metrics)) patch[`metrics.${k}`] = v;
      if (status === 'RUNNING' && job.startedAt === null) patch.startedAt = now;
      if (isTerminal(status)) {
        patch.finishedAt = now;
        if (status === 'COMPLETED') patch.progress = 100;
      }
      if (change.log) {
        const seq = job.logCount;
        patch.logCount = seq + 1;
        tx.set(this.ref(jobId).collection('logs').doc(logSlot(seq)), {
          seq,
          at: now,
          level: change.log.level,
          message: change.log.message,
          ...(change.log.fields ? { fields: change.log.fields } : {}),
          status,
          stage: (patch.stage as string | undefined) ?? job.stage,
          progress: (patch.progress as number | undefined) ?? job.progress,
        });
      }
      // Per-job metering of Firestore writes (a cost driver): this job, its log entry, and whatever `also` writes.
      const counter = { writes: 1 + (change.log ? 1 : 0) };
      change.also?.(countingTransaction(tx, counter));
      const usage = change.usage ? recordUsage(tx, this.db, job, change.usage, counter.writes, snap.readTime.toDate(), patch) : null;
      if (usage) {
        counter.writes += usage.writes;
        const st = stagesAfter[change.usage?.stage ?? ''];
        if (st) stagesAfter[change.usage?.stage ?? ''] = { ...st, usage: usage.stage };
      }
      patch['metrics.firestoreWrites'] = FieldValue.increment(counter.writes);
      tx.update(this.ref(jobId), patch);
      // The job as it now stands (server timestamps approximated by this clock).
      const stamp = new Date().toISOString();
      const after: Job = {
        ...job,
        kind: change.kind ?? job.kind,
        status,
        stage: change.stage ?? job.stage,
        progress: typeof patch.progress === 'number' ? patch.progress : job.progress,
        attempts: typeof patch.attempts === 'number' ? patch.attempts : job.attempts,
        error: change.error !== undefined ? change.error : job.error,
        result: change.result ?? job.result,
        dispatchedStage: change.dispatchedStage !== undefined ? change.dispatchedStage : job.dispatchedStage,
        cancelRequested: change.cancelRequested ?? job.cancelRequested,
        stages: stagesAfter,
        input: { ...job.input, ...change.input },
        metrics: { ...job.metrics, ...change.metrics, firestoreWrites: (job.metrics.firestoreWrites ?? 0) + counter.writes },
        ...(usage ? { usage: usage.job } : {}),
        logCount: typeof patch.logCount === 'number' ? patch.logCount : job.logCount,
        updatedAt: stamp,
        startedAt: job.startedAt ?? (status === 'RUNNING' ? stamp : null),
        finishedAt: isTerminal(status) ? stamp : job.finishedAt,
      };
      return { job: after, applied: true } as const;
    });
  }
}

/** Stage names become Firestore field-path segments: plain identifiers only. */
const STAGE_NAME = /^[a-z][a-z0-9_]{0,31}$/;

/**
 * Writes one stage patch as dotted field updates into `patch` and returns the stage as it will be.
 * Creating a stage writes it whole; otherwise only the changed fields are written.
 */
function applyStagePatch(patch: Record<string, unknown>, cur: StageState | undefined, sp: StagePatch, now: FieldValue, stamp: string): StageState {
  if (!STAGE_NAME.test(sp.name)) throw new PermanentError('INVALID_STAGE', `invalid stage name ${sp.name}`);
  const base: StageState = cur ?? { status: 'PENDING', progress: 0, attempts: 0, lease: null, error: null, startedAt: null, finishedAt: null, result: null, metrics: {}, announced: false, reapedAt: null };
  const status = sp.status ?? base.status;
  const next: StageState = {
    ...base,
    status,
    progress: status === 'COMPLETED' ? 100 : sp.progress !== undefined ? Math.max(base.progress, Math.min(100, sp.progress)) : base.progress,
    attempts: sp.attempts === 'increment' ? base.attempts + 1 : (sp.attempts ?? base.attempts),
    lease: isStageTerminal(status) ? null : sp.lease !== undefined ? sp.lease : base.lease,
    error: sp.error !== undefined ? sp.error : base.error,
    result: sp.result ?? base.result,
    metrics: { ...base.metrics, ...sp.metrics },
    startedAt: base.startedAt ?? (status === 'RUNNING' ? stamp : null),
    finishedAt: isStageTerminal(status) && !isStageTerminal(base.status) ? stamp : base.finishedAt,
    reapedAt: sp.reaped ? stamp : base.reapedAt,
  };
  const prefix = `stages.${sp.name}`;
  if (!cur) {
    patch[prefix] = { ...next, startedAt: next.startedAt === null ? null : now, finishedAt: next.finishedAt === null ? null : now, reapedAt: next.reapedAt === null ? null : now };
    return next;
  }
  const fields: (keyof StageState)[] = ['status', 'progress', 'attempts', 'lease', 'error', 'result'];
  for (const f of fields) if (JSON.stringify(next[f]) !== JSON.stringify(cur[f])) patch[`${prefix}.${f}`] = next[f];
  for (const [k, v] of Object.entries(sp.metrics ?? {})) patch[`${prefix}.metrics.${k}`] = v;
  if (cur.startedAt === null && next.startedAt !== null) patch[`${prefix}.startedAt`] = now;
  if (cur.finishedAt === null && next.finishedAt !== null) patch[`${prefix}.finishedAt`] = now;
  if (sp.reaped) patch[`${prefix}.reapedAt`] = now;
  return next;
}
