#!/usr/bin/env node
// The `scriptorium` bin. Plain JS so it runs without a TypeScript loader; the CLI itself is
// compiled into dist/ by `npm run build` (or `npm start`).
import { access } from 'node:fs/promises';

const entry = new URL('../dist/scripts/cli/main.js', import.meta.url);
try {
  await access(entry);
} catch {
  process.stderr.write('scriptorium: the CLI is not built: run npm run build (or npm start) first\n');
  process.exit(2);
}
const { runCli } = await import(entry.href);
await runCli();
