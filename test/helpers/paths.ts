/** Moved to scripts/lib/paths.ts (benchmarks use them too; tools never import from test/). */
export * from '../../scripts/lib/paths.js';
