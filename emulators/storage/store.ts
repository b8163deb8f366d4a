/**
 * The emulator's state: buckets (with CORS and notification configs) and the live generation of
 * each object. Every mutation is applied to the in-memory maps synchronously — so a precondition
 * check and the write it guards can never interleave with another request — and then, in persist
 * mode, written to disk (one JSON file per bucket and per object, replaced atomically by rename)
 * before the caller answers the request.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FileBlobStore, MemoryBlobStore, type BlobRef, type BlobStore } from './blobs.js';
import { notFoundBucket } from './errors.js';

/** One entry of a bucket's CORS configuration (JSON API shape). */
export interface CorsRule {
  origin?: string[];
  method?: string[];
  responseHeader?: string[];
  maxAgeSeconds?: number;
}

/** A bucket notification config (stored in camelCase; rendered snake_case like GCS). */
export interface NotificationRecord {
  id: string;
  /** Always `projects/P/topics/T` (the `//pubsub.googleapis.com/` prefix is added when rendered). */
  topic: string;
  eventTypes?: string[];
  objectNamePrefix?: string;
  payloadFormat: 'JSON_API_V1' | 'NONE';
  customAttributes?: Record<string, string>;
  etag: string;
}

export interface BucketRecord {
  name: string;
  projectNumber: string;
  timeCreated: string;
  updated: string;
  metageneration: number;
  location: string;
  storageClass: string;
  cors?: CorsRule[];
  labels?: Record<string, string>;
  versioning?: { enabled: boolean };
  notifications: NotificationRecord[];
  nextNotificationId: number;
}

/** Object fields a client may set (insert, patch): the same names in requests and in records. */
export interface WritableObjectFields {
  contentEncoding?: string;
  contentDisposition?: string;
  contentLanguage?: string;
  cacheControl?: string;
  customTime?: string;
  metadata?: Record<string, string>;
  temporaryHold?: boolean;
  eventBasedHold?: boolean;
}

/** The live generation of an object. Only the current generation is kept (no versioning). */
export interface ObjectRecord extends WritableObjectFields {
  bucket: string;
  name: string;
  /** Decimal string: microseconds since the epoch, strictly increasing across the emulator. */
  generation: string;
  metageneration: number;
  contentType: string;
  storageClass: string;
  size: number;
  md5Hash: string;
  crc32c: string;
  timeCreated: string;
  updated: string;
  componentCount?: number;
  blob: BlobRef;
}

/** Throws (a StorageApiError) when the current state does not allow the write. */
export type Precondition = (existing: ObjectRecord | undefined) => void;

type Log = (entry: Record<string, unknown>) => void;

const objectFileName = (bucket: string, name: string): string =>
  createHash('sha256').update(bucket).update('\n').update(name).digest('hex') + '.json';

async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  await writeFile(tmp, JSON.stringify(value));
  await rename(tmp, path);
}

async function readJsonDir<T>(dir: string): Promise<T[]> {
  const out: T[] = [];
  for (const f of await readdir(dir)) {
    if (!f.endsWith('.json')) {
      await rm(join(dir, f), { force: true }); // leftover temp file of an interrupted write
      continue;
    }
    out.push(JSON.parse(await readFile(join(dir, f), 'utf8')) as T);
  }
  return out;
}

/** Buckets, objects and their persistence. */
export class Store {
  readonly blobs: BlobStore;
  private readonly buckets = new Map<string, BucketRecord>();
  private readonly objects = new Map<string, Map<string, ObjectRecord>>();
  /** Sorted object names per bucket, rebuilt lazily after inserts/deletes (listing is by name order). */
  private readonly sortedNames = new Map<string, string[]>();
  private lastGeneration = 0;
  /** Disk writes run one after another so the file left on disk is always the latest state. */
  private diskQueue: Promise<void> = Promise.resolve();

  private constructor(
    private readonly dir: string | undefined,
    private readonly log: Log,
  ) {
    this.blobs = dir ? new FileBlobStore(join(dir, 'blobs')) : new MemoryBlobStore();
  }

  /** Opens a store; with `persistDir` it loads what an earlier run left there. */
  static async open(persistDir: string | undefined, log: Log): Promise<Store> {
    const store = new Store(persistDir, log);
    if (persistDir) await store.load(persistDir);
    return store;
  }

  private async load(dir: string): Promise<void> {
    const blobs = this.blobs as FileBlobStore;
    await blobs.init();
    await mkdir(join(dir, 'buckets'), { recursive: true });
    await mkdir(join(dir, 'objects'), { recursive: true });
    for (const b of await readJsonDir<BucketRecord>(join(dir, 'buckets'))) {
      this.buckets.set(b.name, b);
      this.objects.set(b.name, new Map());
    }
    const referenced = new Set<string>();
    const present = new Set(await readdir(blobs.dir));
    for (const o of await readJsonDir<ObjectRecord>(join(dir, 'objects'))) {
      const inBucket = this.objects.get(o.bucket);
      if (!inBucket || o.blob.kind !== 'file' || !present.has(o.blob.file)) {
        this.log({ severity: 'WARNING', message: 'dropping object with missing bucket or data', bucket: o.bucket, object: o.name });
        await rm(join(dir, 'objects', objectFileName(o.bucket, o.name)), { force: true });
        continue;
      }
      inBucket.set(o.name, o);
      referenced.add(o.blob.file);
      this.lastGeneration = Math.max(this.lastGeneration, Number(o.generation));
    }
    // Blob files nobody points at are uploads interrupted by a crash or stop: reclaim the space.
    for (const f of present) if (!referenced.has(f)) await rm(join(blobs.dir, f), { force: true });
    this.log({ severity: 'INFO', message: 'storage state loaded', persistDir: dir, buckets: this.buckets.size, objects: referenced.size });
  }

  private enqueueDisk(op: () => Promise<void>): Promise<void> {
    const run = this.diskQueue.then(op);
    this.diskQueue = run.catch(() => undefined);
    return run;
  }

  /** Unique, increasing generation numbers shaped like GCS's (microseconds since the epoch). */
  nextGeneration(): string {
    this.lastGeneration = Math.max(Date.now() * 1000, this.lastGeneration + 1);
    return String(this.lastGeneration);
  }

  getBucket(name: string): BucketRecord | undefined {
    return this.buckets.get(name);
  }

  listBuckets(): BucketRecord[] {
    return [...this.buckets.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Inserts or replaces a bucket record (callers mutate a copy, then save it). */
  async saveBucket(b: BucketRecord): Promise<void> {
    this.buckets.set(b.name, b);
    if (!this.objects.has(b.name)) this.objects.set(b.name, new Map());
    const dir = this.dir;
    if (dir) await this.enqueueDisk(() => writeJsonAtomic(join(dir, 'buckets', `${b.name}.json`), b));
  }

  async deleteBucket(name: string): Promise<void> {
    this.buckets.delete(name);
    this.objects.delete(name);
    this.sortedNames.delete(name);
    const dir = this.dir;
    if (dir) await this.enqueueDisk(() => rm(join(dir, 'buckets', `${name}.json`), { force: true }));
  }

  objectCount(bucket: string): number {
    return this.objects.get(bucket)?.size ?? 0;
  }

  getObject(bucket: string, name: string): ObjectRecord | undefined {
    return this.objects.get(bucket)?.get(name);
  }

  /** Object names of a bucket in lexicographic (UTF-16 code unit) order. */
  sortedObjectNames(bucket: string): string[] {
    let names = this.sortedNames.get(bucket);
    if (!names) {
      names = [...(this.objects.get(bucket)?.keys() ?? [])].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      this.sortedNames.set(bucket, names);
    }
    return names;
  }

  /**
   * Makes `rec` the live generation if `check` passes against the current one, then persists it
   * and frees the bytes of the generation it replaced. Returns the replaced generation.
   */
  async commitObject(rec: ObjectRecord, check: Precondition): Promise<ObjectRecord | undefined> {
    const inBucket = this.objects.get(rec.bucket);
    if (!inBucket) throw notFoundBucket(rec.bucket); // deleted while the upload was in flight
    const previous = inBucket.get(rec.name);
    check(previous);
    inBucket.set(rec.name, rec);
    if (!previous) this.sortedNames.delete(rec.bucket);
    await this.persistObject(rec);
    if (previous && previous.blob !== rec.blob) await this.blobs.remove(previous.blob);
    return previous;
  }

  /** Replaces the metadata of the live generation (same bytes). */
  async updateObjectMetadata(rec: ObjectRecord): Promise<void> {
    this.objects.get(rec.bucket)?.set(rec.name, rec);
    await this.persistObject(rec);
  }

  /** Deletes the live generation if `check` passes; returns it. */
  async deleteObject(bucket: string, name: string, check: Precondition): Promise<ObjectRecord | undefined> {
    const inBucket = this.objects.get(bucket);
    const existing = inBucket?.get(name);
    check(existing);
    if (!inBucket || !existing) return undefined;
    inBucket.delete(name);
    this.sortedNames.delete(bucket);
    const dir = this.dir;
    if (dir) await this.enqueueDisk(() => rm(join(dir, 'objects', objectFileName(bucket, name)), { force: true }));
    await this.blobs.remove(existing.blob);
    return existing;
  }

  private async persistObject(rec: ObjectRecord): Promise<void> {
    const dir = this.dir;
    if (dir) await this.enqueueDisk(() => writeJsonAtomic(join(dir, 'objects', objectFileName(rec.bucket, rec.name)), rec));
  }

  /** Waits for queued disk writes (used when closing). */
  async flush(): Promise<void> {
    await this.diskQueue;
  }
}
