/**
 * Object bytes. Uploads are streamed through a {@link BlobWriter} that hashes as it goes (MD5,
 * CRC32C and optionally SHA-256) so no upload path ever needs the whole body in one buffer before
 * it can answer; in memory mode the chunks are kept as a list, in persist mode they go straight to
 * a file under `<persistDir>/blobs/`.
 */
import { createHash, randomUUID, type Hash } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { copyFile, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Crc32c } from './crc32c.js';

/** Where an object's bytes live. Memory buffers are never mutated once committed, so copies share them. */
export type BlobRef = { readonly kind: 'memory'; readonly data: Buffer } | { readonly kind: 'file'; readonly file: string };

/** Hashes in the encodings the JSON API uses (base64; CRC32C big-endian). */
export interface Digests {
  readonly size: number;
  readonly md5Hash: string;
  readonly crc32c: string;
  /** Hex SHA-256, only when requested (signed `x-goog-content-sha256`). */
  readonly sha256Hex?: string;
}

/** Incremental MD5 + CRC32C (+ SHA-256) over a byte stream. */
export class Hasher {
  private readonly md5: Hash = createHash('md5');
  private readonly crc = new Crc32c();
  private readonly sha256: Hash | undefined;
  private bytes = 0;

  constructor(withSha256 = false) {
    this.sha256 = withSha256 ? createHash('sha256') : undefined;
  }

  update(chunk: Buffer): void {
    this.md5.update(chunk);
    this.crc.update(chunk);
    this.sha256?.update(chunk);
    this.bytes += chunk.length;
  }

  get size(): number {
    return this.bytes;
  }

  digests(): Digests {
    return {
      size: this.bytes,
      md5Hash: this.md5.digest('base64'),
      crc32c: this.crc.toString(),
      ...(this.sha256 ? { sha256Hex: this.sha256.digest('hex') } : {}),
    };
  }
}

/** Receives an object's bytes in order; `finish` seals it, `abort` discards it. */
export interface BlobWriter {
  readonly size: number;
  write(chunk: Buffer): Promise<void>;
  finish(): Promise<{ ref: BlobRef; digests: Digests }>;
  abort(): Promise<void>;
}

/** Storage for object bytes (memory or a directory). */
export interface BlobStore {
  createWriter(opts?: { sha256?: boolean }): Promise<BlobWriter>;
  /** Bytes `start..end` inclusive (whole blob by default). */
  read(ref: BlobRef, start?: number, end?: number): Readable;
  /** A ref whose lifetime is independent of `ref` (for copies). */
  duplicate(ref: BlobRef): Promise<BlobRef>;
  remove(ref: BlobRef): Promise<void>;
}

class MemoryWriter implements BlobWriter {
  private readonly chunks: Buffer[] = [];
  private readonly hasher: Hasher;
  constructor(sha256: boolean) {
    this.hasher = new Hasher(sha256);
  }
  get size(): number {
    return this.hasher.size;
  }
  write(chunk: Buffer): Promise<void> {
    this.hasher.update(chunk);
    this.chunks.push(chunk);
    return Promise.resolve();
  }
  finish(): Promise<{ ref: BlobRef; digests: Digests }> {
    const data = Buffer.concat(this.chunks);
    this.chunks.length = 0;
    return Promise.resolve({ ref: { kind: 'memory', data }, digests: this.hasher.digests() });
  }
  abort(): Promise<void> {
    this.chunks.length = 0;
    return Promise.resolve();
  }
}

class FileWriter implements BlobWriter {
  private readonly hasher: Hasher;
  private failure: Error | undefined;
  constructor(
    private readonly stream: WriteStream,
    private readonly path: string,
    private readonly file: string,
    sha256: boolean,
  ) {
    this.hasher = new Hasher(sha256);
    // Remember write errors (disk full...) and surface them on the next call instead of crashing.
    stream.on('error', (e) => {
      this.failure = e;
    });
  }
  get size(): number {
    return this.hasher.size;
  }
  /** Rethrows a stream error recorded by the listener (a method, so it is re-read after awaits). */
  private check(): void {
    if (this.failure) throw this.failure;
  }
  async write(chunk: Buffer): Promise<void> {
    this.check();
    this.hasher.update(chunk);
    if (!this.stream.write(chunk)) await Promise.race([once(this.stream, 'drain'), once(this.stream, 'error')]);
    this.check();
  }
  async finish(): Promise<{ ref: BlobRef; digests: Digests }> {
    this.check();
    await new Promise<void>((resolve, reject) => {
      this.stream.end((err?: Error | null) => (err ? reject(err) : resolve()));
    });
    this.check();
    return { ref: { kind: 'file', file: this.file }, digests: this.hasher.digests() };
  }
  async abort(): Promise<void> {
    this.stream.destroy();
    await rm(this.path, { force: true });
  }
}

/** Blobs held in process memory (the default, non-persistent mode). */
export class MemoryBlobStore implements BlobStore {
  createWriter(opts: { sha256?: boolean } = {}): Promise<BlobWriter> {
    return Promise.resolve(new MemoryWriter(opts.sha256 ?? false));
  }
  read(ref: BlobRef, start = 0, end?: number): Readable {
    if (ref.kind !== 'memory') throw new Error('memory store given a file blob');
    const stop = end === undefined ? ref.data.length : end + 1;
    return Readable.from([ref.data.subarray(start, stop)]);
  }
  duplicate(ref: BlobRef): Promise<BlobRef> {
    return Promise.resolve(ref);
  }
  remove(): Promise<void> {
    return Promise.resolve();
  }
}

/** Blobs as files in one directory, named by random UUIDs (object metadata points at them). */
export class FileBlobStore implements BlobStore {
  constructor(readonly dir: string) {}

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
  }

  pathOf(file: string): string {
    return join(this.dir, file);
  }

  async createWriter(opts: { sha256?: boolean } = {}): Promise<BlobWriter> {
    const file = randomUUID();
    const path = this.pathOf(file);
    const stream = createWriteStream(path, { flags: 'wx' });
    await once(stream, 'open');
    return new FileWriter(stream, path, file, opts.sha256 ?? false);
  }

  read(ref: BlobRef, start = 0, end?: number): Readable {
    if (ref.kind !== 'file') return new MemoryBlobStore().read(ref, start, end);
    return createReadStream(this.pathOf(ref.file), end === undefined ? { start } : { start, end });
  }

  async duplicate(ref: BlobRef): Promise<BlobRef> {
    if (ref.kind !== 'file') return ref;
    const file = randomUUID();
    await copyFile(this.pathOf(ref.file), this.pathOf(file));
    return { kind: 'file', file };
  }

  async remove(ref: BlobRef): Promise<void> {
    if (ref.kind === 'file') await rm(this.pathOf(ref.file), { force: true });
  }
}
