/**
 * Entry point of the supervisor daemon (see supervisor-daemon.ts). Started by the local platform
 * with an IPC channel; never run by hand.
 */
import { runSupervisorDaemon } from './supervisor-daemon.js';

try {
  await runSupervisorDaemon();
} catch (err) {
  // Its log file is where this goes: the starter shows that file's tail when the start fails.
  process.stderr.write(`supervisor failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
}
