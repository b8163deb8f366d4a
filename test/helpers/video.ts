/** Moved to scripts/lib/test-video.ts (benchmarks use it too; tools never import from test/). */
export * from '../../scripts/lib/test-video.js';
