/**
 * What `upload FILE...` uploads: the files named on the command line and, for directories, every
 * regular file under them (recursively, in name order). Dotfiles found while recursing, non-regular
 * files (FIFOs, sockets, devices) and symbolic-link loops are skipped; a file seen twice (listed
 * twice, or reached again through a link) is uploaded once. A file that cannot be uploaded (not
 * readable, empty, an unusable name) becomes an error entry in place, so it gets its own result.
 *
 * A wrong command line is a {@link UsageError} before anything is uploaded: an operand that does
 * not exist, is not a file or directory, or (named explicitly) is empty or has an unusable name.
 *
 * The file system is passed in so tests can simulate what root cannot (EACCES).
 */
import { constants as fsConstants } from 'node:fs';
import { access, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { FileNameSchema } from '../../shared/api/contracts.js';
import { UsageError } from './io.js';
import { errorCode } from './session.js';

/** The parts of `fs.Stats` the expansion uses. */
export interface StatLike {
  isFile(): boolean;
  isDirectory(): boolean;
  readonly size: number;
  readonly dev: number;
  readonly ino: number;
}

/** The file-system calls the expansion makes (symbolic links are followed, as `stat` does). */
export interface ExpandFs {
  stat(p: string): Promise<StatLike>;
  readdir(p: string): Promise<string[]>;
  /** Resolves when the file can be opened for reading. */
  canRead(p: string): Promise<void>;
}

/** The real file system. */
export const NODE_FS: ExpandFs = {
  stat: (p) => stat(p),
  readdir: (p) => readdir(p),
  canRead: (p) => access(p, fsConstants.R_OK),
};

/** A file to upload, or one that cannot be (with the reason). `path` is as given or found. */
export type UploadEntry =
  | { readonly kind: 'file'; readonly path: string; readonly name: string; readonly size: number }
  | { readonly kind: 'error'; readonly path: string; readonly code: string; readonly message: string };

/** Something left out on purpose (not an error): reported on stderr, not in the results. */
export interface SkippedPath {
  readonly path: string;
  readonly reason: string;
}

/** Outcome of {@link expandUploadPaths}. */
export interface Expansion {
  /** In command-line order, each directory's entries sorted by name. */
  readonly entries: readonly UploadEntry[];
  readonly skipped: readonly SkippedPath[];
  /** Dotfiles and dot-directories left out while recursing (counted, not listed). */
  readonly dotfiles: number;
  /** Exactly one operand, and not a directory: the entry is that file (or why it cannot be uploaded). */
  readonly single: boolean;
}

/** Describes a file-system error for the user: `permission denied (EACCES)`. */
export function describeFsError(err: unknown): string {
  const code = errorCode(err);
  const known: Record<string, string> = {
    ENOENT: 'no such file',
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    ELOOP: 'too many levels of symbolic links',
    ENOTDIR: 'not a directory',
    EISDIR: 'is a directory',
    EIO: 'input/output error',
  };
  if (code && known[code]) return `${known[code]} (${code})`;
  return err instanceof Error ? err.message : String(err);
}

/** Expands `upload`'s FILE operands; see the module comment for the rules. */
export async function expandUploadPaths(operands: readonly string[], fs: ExpandFs = NODE_FS): Promise<Expansion> {
  const entries: UploadEntry[] = [];
  const skipped: SkippedPath[] = [];
  let dotfiles = 0;
  const seenFiles = new Map<string, string>();
  const seenDirs = new Set<string>();
  const key = (st: StatLike) => `${st.dev}:${st.ino}`;

  const addFile = async (p: string, st: StatLike, explicit: boolean): Promise<void> => {
    const first = seenFiles.get(key(st));
    if (first !== undefined) {
      skipped.push({ path: p, reason: first === p ? 'listed more than once' : `the same file as ${first}` });
      return;
    }
    seenFiles.set(key(st), p);
    const name = path.basename(p);
    const nameCheck = FileNameSchema.safeParse(name);
    if (!nameCheck.success) {
      const why = nameCheck.error.issues[0]?.message ?? 'not accepted';
      if (explicit) throw new UsageError(`unusable file name '${name}': ${why}`);
      entries.push({ kind: 'error', path: p, code: 'INVALID_FILE_NAME', message: `unusable file name: ${why}` });
      return;
    }
    if (st.size === 0) {
      if (explicit) throw new UsageError(`${p} is empty: there is nothing to upload`);
      entries.push({ kind: 'error', path: p, code: 'EMPTY_FILE', message: 'the file is empty: there is nothing to upload' });
      return;
    }
    try {
      await fs.canRead(p);
    } catch (err) {
      entries.push({ kind: 'error', path: p, code: 'UNREADABLE', message: `cannot read the file: ${describeFsError(err)}` });
      return;
    }
    entries.push({ kind: 'file', path: p, name, size: st.size });
  };

  const walk = async (dir: string, st: StatLike, ancestors: ReadonlySet<string>): Promise<void> => {
    const k = key(st);
    if (seenDirs.has(k)) {
      skipped.push({ path: dir, reason: ancestors.has(k) ? 'symbolic link loop' : 'directory already visited' });
      return;
    }
    seenDirs.add(k);
    let names: string[];
    try {
      names = await fs.readdir(dir);
    } catch (err) {
      entries.push({ kind: 'error', path: dir, code: 'UNREADABLE', message: `cannot read the directory: ${describeFsError(err)}` });
      return;
    }
    const inside = new Set([...ancestors, k]);
    // Code-unit order, not locale order: the same on every machine.
    for (const name of names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) {
      if (name.startsWith('.')) {
        dotfiles += 1;
        continue;
      }
      const p = path.join(dir, name);
      let child: StatLike;
      try {
        child = await fs.stat(p);
      } catch (err) {
        const code = errorCode(err);
        if (code === 'ELOOP') skipped.push({ path: p, reason: 'symbolic link loop' });
        // readdir listed it, so a missing target is a dangling link (or a file removed meanwhile).
        else if (code === 'ENOENT') entries.push({ kind: 'error', path: p, code: 'UNREADABLE', message: 'cannot read the file: dangling symbolic link or removed meanwhile (ENOENT)' });
        else entries.push({ kind: 'error', path: p, code: 'UNREADABLE', message: `cannot read: ${describeFsError(err)}` });
        continue;
      }
      if (child.isDirectory()) await walk(p, child, inside);
      else if (child.isFile()) await addFile(p, child, false);
      else skipped.push({ path: p, reason: 'not a regular file' });
    }
  };

  let directories = 0;
  for (const operand of operands) {
    let st: StatLike;
    try {
      st = await fs.stat(operand);
    } catch (err) {
      const code = errorCode(err);
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP') throw new UsageError(`cannot read ${operand}: ${code === 'ENOENT' ? 'no such file' : describeFsError(err)}`);
      entries.push({ kind: 'error', path: operand, code: 'UNREADABLE', message: `cannot read: ${describeFsError(err)}` });
      continue;
    }
    if (st.isDirectory()) {
      directories += 1;
      const before = entries.length;
      await walk(operand, st, new Set());
      if (entries.length === before && !skipped.some((s) => s.path === operand)) skipped.push({ path: operand, reason: 'no files to upload in this directory' });
    } else if (st.isFile()) {
      await addFile(operand, st, true);
    } else {
      throw new UsageError(`${operand} is not a regular file or a directory`);
    }
  }
  return { entries, skipped, dotfiles, single: operands.length === 1 && directories === 0 && entries.length === 1 };
}
