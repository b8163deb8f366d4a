/**
 * Integration and e2e tests run against the test platform started by `npm test`
 * (`node dist/emulators/cli.js start --profile test --detach`), which writes `.scriptorium/test.json`.
 * `SCRIPTORIUM_LOCAL_CONFIG` names that file (scripts/test.sh sets it).
 */
import path from 'node:path';
import { readLocalConfig, STATE_DIR, type LocalConfig } from '../../emulators/local-config.js';

let cached: LocalConfig | undefined;

/**
 * The running test platform's config. Without `SCRIPTORIUM_LOCAL_CONFIG` it reads
 * `.scriptorium/test.json` under the working directory, never the dev stack's `local.json`: tests
 * create and delete data, and must not do so in a developer's stack by accident.
 */
export function localConfigForTests(): LocalConfig {
  cached ??= readLocalConfig(process.env.SCRIPTORIUM_LOCAL_CONFIG ?? path.join(process.cwd(), STATE_DIR, 'test.json'));
  return cached;
}
