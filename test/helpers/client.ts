/** Moved to scripts/lib/stack-client.ts (benchmarks use it too; tools never import from test/). */
export * from '../../scripts/lib/stack-client.js';
