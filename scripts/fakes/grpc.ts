import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/** Binds a fake service's server to a free loopback port (plaintext); resolves with the port. */
export function bindLoopback(server: grpc.Server): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound)));
  });
}

/** A gRPC error with the status `code`, as a service answers it. */
export function statusError(code: grpc.status, message: string): grpc.ServerErrorResponse {
  return Object.assign(new Error(message), { code, details: message });
}

/** Shuts `server` down, letting calls in flight finish for up to a second: hanging calls would keep a graceful shutdown waiting forever. */
export async function shutdownWithin(server: grpc.Server, graceMs = 1000): Promise<void> {
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => server.forceShutdown(), graceMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

const require = createRequire(import.meta.url);

/** The protos a Google client package ships (`<package>/build/protos`). */
const protoDir = (pkg: string): string => join(dirname(require.resolve(pkg)), '..', 'protos');

/**
 * Loads `file` from the protos the client package `pkg` ships (with google-gax's common protos),
 * read as google-gax reads them on the client side, so both ends agree on every message.
 */
export function loadClientProto(pkg: string, file: string): protoLoader.PackageDefinition {
  return protoLoader.loadSync(file, { includeDirs: [protoDir(pkg), protoDir('google-gax')], keepCase: false, longs: String, enums: String, defaults: true, oneofs: true });
}
