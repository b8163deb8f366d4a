/**
 * CLI for the storage emulator:
 *
 *   node dist/emulators/storage/main.js --port 9199 [--host 127.0.0.1] [--persist DIR]
 *     [--pubsub-emulator-host H:P] [--trust-key-file SA.json ...] [--max-upload-bytes N]
 *     [--faults-file FILE]   (tests: drop notifications as shared/faults.ts publish rules say)
 *
 * Logs JSON lines to stdout; readiness probe `GET /_health`; exits 0 on SIGTERM/SIGINT after
 * in-flight requests finish. `--pubsub-emulator-host` defaults to $PUBSUB_EMULATOR_HOST.
 */
import { parseArgs } from 'node:util';
import { loadTrustedServiceAccount, startStorageEmulator, type StorageEmulator } from './server.js';

const log = (entry: Record<string, unknown>): void => {
  process.stdout.write(JSON.stringify({ time: new Date().toISOString(), component: 'storage-emulator', ...entry }) + '\n');
};

async function main(): Promise<void> {
  // Handlers first: a stop requested while still starting is honoured once the server is up.
  const state: { emulator?: StorageEmulator; stopSignal?: string } = {};
  const stop = (signal: string): void => {
    if (state.stopSignal) return;
    state.stopSignal = signal;
    if (!state.emulator) return;
    log({ severity: 'INFO', message: 'stopping', signal });
    state.emulator.close().then(
      () => process.exit(0),
      (e: unknown) => {
        log({ severity: 'ERROR', message: 'error while stopping', error: e instanceof Error ? e.message : String(e) });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '9199' },
      host: { type: 'string', default: '127.0.0.1' },
      persist: { type: 'string' },
      'pubsub-emulator-host': { type: 'string' },
      'trust-key-file': { type: 'string', multiple: true, default: [] },
      'max-upload-bytes': { type: 'string' },
      'faults-file': { type: 'string' },
    },
    strict: true,
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid --port ${values.port}`);
  const pubsub = values['pubsub-emulator-host'] ?? process.env.PUBSUB_EMULATOR_HOST;
  const maxUpload = values['max-upload-bytes'] === undefined ? undefined : Number(values['max-upload-bytes']);
  state.emulator = await startStorageEmulator({
    host: values.host,
    port,
    log,
    trustedServiceAccounts: values['trust-key-file'].map(loadTrustedServiceAccount),
    ...(values.persist ? { persistDir: values.persist } : {}),
    ...(pubsub ? { pubsubEmulatorHost: pubsub } : {}),
    ...(maxUpload !== undefined && Number.isFinite(maxUpload) ? { maxUploadBytes: maxUpload } : {}),
    ...(values['faults-file'] ? { faultsFile: values['faults-file'] } : {}),
  });
  if (state.stopSignal) {
    const pending = state.stopSignal;
    delete state.stopSignal;
    stop(pending);
  }
}

main().catch((e: unknown) => {
  log({ severity: 'ERROR', message: 'storage emulator failed to start', error: e instanceof Error ? e.message : String(e) });
  process.exit(1);
});
