/**
 * A document and a RUNNING job whose `stage` was dispatched (PENDING), with a real source object
 * outside `uploads/` (no trigger reacts to it): what ingest leaves for a stage, without ingest, so a
 * handler can be driven in-process against the emulators.
 */
import { randomBytes } from 'node:crypto';
import { Storage } from '@google-cloud/storage';
import type { Firestore } from '@google-cloud/firestore';
import type { DocumentRepository } from '../../shared/firestore/documents.js';
import type { JobRepository } from '../../shared/firestore/jobs.js';
import type { JobKind } from '../../shared/jobs/model.js';
import type { LocalConfig } from '../../emulators/local-config.js';

export interface Seeded {
  jobId: string;
  documentId: string;
  generation: string;
  object: string;
}

export interface SeedContext {
  readonly cfg: LocalConfig;
  readonly db: Firestore;
  readonly documents: DocumentRepository;
  readonly jobs: JobRepository;
}

export async function seedRunningJob(ctx: SeedContext, kind: JobKind, stage: string, body: Buffer, fileName: string, contentType: string, family: string): Promise<Seeded> {
  const { cfg, db, documents, jobs } = ctx;
  const suffix = randomBytes(10).toString('hex');
  const documentId = `doc_${suffix}`;
  const jobId = `job_${suffix}`;
  const object = `test-sources/${documentId}/${fileName}`;
  const file = new Storage({ projectId: cfg.gcpProjectId, apiEndpoint: cfg.storageEmulatorHost }).bucket(cfg.bucket).file(object);
  await file.save(body, { resumable: false, contentType });
  const generation = String(file.metadata.generation);
  await db.runTransaction(async (tx) => {
    documents.createIn(tx, {
      id: documentId, projectId: 'test', ownerUid: 'u', fileName, contentType, declaredSize: body.length, status: 'PROCESSING', jobId, currentVersion: 1,
      source: { bucket: cfg.bucket, object, generation, size: body.length, md5Hash: null, crc32c: null }, pageCount: null, language: null, text: null,
    });
    jobs.createIn(tx, {
      id: jobId, kind, projectId: 'test', documentId, ownerUid: 'u', agentId: null, status: 'RUNNING', stage, progress: 10, attempts: 0, error: null,
      input: { bucket: cfg.bucket, object, fileName, contentType, declaredSize: body.length, generation, uploadExpiresAt: null, md5Hash: null, crc32c: null, detectedType: contentType, family },
      dispatchedStage: stage, result: null, cancelRequested: false, retryOf: null, metrics: {},
    }, { level: 'INFO', message: 'seeded' });
    return Promise.resolve();
  });
  await jobs.update(jobId, () => ({ stages: [{ name: stage, status: 'PENDING' }] }));
  return { jobId, documentId, generation, object };
}
