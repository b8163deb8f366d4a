/**
 * Process-wide dependencies of a function, built on first use (never at import: cold start pays only
 * for what a function touches) from the validated config.
 */
import { PubSub } from '@google-cloud/pubsub';
import type { Firestore } from '@google-cloud/firestore';
import { config, type Config } from '../config/index.js';
import { firestore } from '../firestore/client.js';
import { JobRepository } from '../firestore/jobs.js';
import { DocumentRepository } from '../firestore/documents.js';
import { ProjectRepository } from '../firestore/projects.js';
import { createPublisher, type Publisher } from '../events/publisher.js';
import { createStorageGateway, type StorageGateway } from '../storage/index.js';
import { logger, type Logger } from '../logger/index.js';
import { faultInjector, withPublishFaults, type FaultInjector } from '../faults.js';

export interface Runtime {
  readonly config: Config;
  readonly db: Firestore;
  readonly jobs: JobRepository;
  readonly documents: DocumentRepository;
  readonly projects: ProjectRepository;
  readonly publisher: Publisher;
  readonly storage: StorageGateway;
  readonly log: Logger;
  /** Fault injection on the local platform (shared/faults.ts); null everywhere else. */
  readonly faults: FaultInjector | null;
}

let runtime: Runtime | undefined;

export function getRuntime(): Runtime {
  if (runtime) return runtime;
  const cfg = config();
  const db = firestore(cfg.GOOGLE_CLOUD_PROJECT);
  const faults = faultInjector(cfg);
  runtime = {
    config: cfg,
    db,
    jobs: new JobRepository(db),
    documents: new DocumentRepository(db),
    projects: new ProjectRepository(db),
    publisher: withPublishFaults(createPublisher(new PubSub({ projectId: cfg.GOOGLE_CLOUD_PROJECT })), faults),
    // Signed upload URLs address STORAGE_EMULATOR_HOST (with its port) locally, storage.googleapis.com in production.
    storage: createStorageGateway({ projectId: cfg.GOOGLE_CLOUD_PROJECT, signingKeyFile: cfg.SCRIPTORIUM_SIGNING_KEY_FILE, storageEmulatorHost: cfg.STORAGE_EMULATOR_HOST }),
    log: logger,
    faults,
  };
  return runtime;
}
