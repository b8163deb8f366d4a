/**
 * Repository paths for tests and tools, the same whether they run from sources (tsx) or from `dist/`
 * (compiled, as `npm test` and the benchmarks run them): fixtures are never copied into dist/.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'test', 'fixtures'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`no repository root above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

export const REPO_ROOT = findRoot();
export const FIXTURES = path.join(REPO_ROOT, 'test', 'fixtures');

/** Absolute path of a fixture, e.g. `fixturePath('ocr/phototest.tif')`. */
export function fixturePath(relative: string): string {
  return path.join(FIXTURES, relative);
}
