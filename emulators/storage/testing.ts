/**
 * Helpers for running against the storage emulator offline: a locally generated service-account
 * key signs V4 URLs without any network (with shared/storage/v4-signer.ts, or `@google-cloud/storage`
 * for a default-port host), and the emulator trusts its public half.
 */
import { generateKeyPairSync } from 'node:crypto';
import type { SigningKey } from '../../shared/storage/v4-signer.js';
import type { TrustedServiceAccount } from './server.js';

/** A generated service account: `credentials` for client libraries, `trusted` for the emulator. */
export interface LocalServiceAccount {
  /** Service-account JSON (as in a key file): pass as `credentials` or write to disk. */
  readonly credentials: {
    type: 'service_account';
    project_id: string;
    private_key_id: string;
    private_key: string;
    client_email: string;
    client_id: string;
    token_uri: string;
  };
  readonly trusted: TrustedServiceAccount;
  /** The private half for `signV4Url` (shared/storage/v4-signer.ts). */
  readonly signingKey: SigningKey;
}

/** Generates an RSA-2048 service account key pair (~50–200 ms). */
export function generateServiceAccount(projectId = 'demo-test', name = 'emulator-signer'): LocalServiceAccount {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  const clientEmail = `${name}@${projectId}.iam.gserviceaccount.com`;
  return {
    credentials: {
      type: 'service_account',
      project_id: projectId,
      private_key_id: 'local',
      private_key: privateKey,
      client_email: clientEmail,
      client_id: '0',
      // Never contacted: signing is local and the emulator ignores access tokens.
      token_uri: 'http://127.0.0.1:1/token',
    },
    trusted: { clientEmail, publicKeyPem: publicKey },
    signingKey: { clientEmail, privateKey },
  };
}
