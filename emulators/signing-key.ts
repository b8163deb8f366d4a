/**
 * The local URL-signing service account. In production the functions sign V4 URLs through IAM
 * signBlob with their runtime service account; offline there is no IAM, so the platform generates
 * an RSA key once per profile, hands the file to the functions (SCRIPTORIUM_SIGNING_KEY_FILE) and
 * tells the storage emulator to trust it (`--trust-key-file`), which then verifies signatures the
 * way Cloud Storage would.
 */
import { generateKeyPairSync, randomBytes, randomInt } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

/** The fields of a Google service-account key file that signing needs. */
export const ServiceAccountKeySchema = z.object({
  type: z.literal('service_account'),
  project_id: z.string(),
  private_key_id: z.string(),
  private_key: z.string().startsWith('-----BEGIN PRIVATE KEY-----'),
  client_email: z.string(),
  client_id: z.string(),
});
/** A parsed service-account key file. */
export type ServiceAccountKey = z.infer<typeof ServiceAccountKeySchema>;

/** The signer's e-mail for a GCP project. */
export function signerEmail(gcpProjectId: string): string {
  return `scriptorium-signer@${gcpProjectId}.iam.gserviceaccount.com`;
}

/**
 * Returns the key at `file`, creating it (RSA-2048, PKCS#8 PEM) if it is missing, unreadable or
 * belongs to another project. Reused across starts so URLs signed before a restart stay valid and
 * a persisted storage emulator keeps trusting the same key.
 */
export function ensureSigningKey(file: string, gcpProjectId: string): ServiceAccountKey {
  try {
    const existing = ServiceAccountKeySchema.parse(JSON.parse(readFileSync(file, 'utf8')));
    if (existing.project_id === gcpProjectId && existing.client_email === signerEmail(gcpProjectId)) return existing;
  } catch {
    // Missing or malformed: generate a new one below.
  }
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const key: ServiceAccountKey = {
    type: 'service_account',
    project_id: gcpProjectId,
    private_key_id: randomBytes(20).toString('hex'),
    private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    client_email: signerEmail(gcpProjectId),
    // Real client ids are 21 decimal digits.
    client_id: `1${Array.from({ length: 20 }, () => randomInt(10)).join('')}`,
  };
  mkdirSync(path.dirname(file), { recursive: true });
  // Write then rename: a concurrent reader never sees half a key.
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(key, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
  return key;
}
