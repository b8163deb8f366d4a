/**
 * The real `gcloud storage` CLI against the storage emulator: uploads (multipart for a small file,
 * resumable for one above gcloud's 8 MiB threshold), listing, cat, download with hash validation,
 * and delete. gcloud is pointed at the emulator with environment variables only.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Storage } from '@google-cloud/storage';
import { startStorageEmulator, type StorageEmulator } from '../../emulators/storage/server.js';

const run = promisify(execFile);
const md5 = (b: Buffer): string => createHash('md5').update(b).digest('base64');

describe('storage emulator with the gcloud storage CLI', () => {
  let emu: StorageEmulator;
  let storage: Storage;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  const requests: string[] = [];
  const big = Buffer.alloc(9 * 1024 * 1024 + 123);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7919) % 251;
  const small = Buffer.from('hello from gcloud\n');

  const gcloud = async (...args: string[]): Promise<string> => {
    try {
      const { stdout } = await run('gcloud', ['storage', ...args], { env, timeout: 120_000, maxBuffer: 64 * 1024 * 1024, encoding: 'buffer' });
      return stdout.toString('utf8');
    } catch (e) {
      const err = e as { stderr?: Buffer; message: string };
      throw new Error(`gcloud storage ${args.join(' ')} failed: ${err.message}\n${err.stderr?.toString() ?? ''}`);
    }
  };

  before(async () => {
    emu = await startStorageEmulator({
      port: 0,
      log: (e) => {
        if (e.message === 'request') requests.push(`${String(e.method)} ${String(e.path)}?${String(e.query)}`);
      },
    });
    storage = new Storage({ apiEndpoint: emu.url, projectId: 'demo-x' });
    await storage.createBucket('gcloud-bkt');
    dir = await mkdtemp(join(tmpdir(), 'storage-gcloud-'));
    await writeFile(join(dir, 'token'), 'emulator-token');
    await writeFile(join(dir, 'small.txt'), small);
    await writeFile(join(dir, 'big.bin'), big);
    env = {
      ...process.env,
      CLOUDSDK_API_ENDPOINT_OVERRIDES_STORAGE: `${emu.url}/`,
      CLOUDSDK_AUTH_ACCESS_TOKEN_FILE: join(dir, 'token'),
      CLOUDSDK_CORE_PROJECT: 'demo-x',
      // A private config dir: no dependence on (or change to) the user's gcloud configuration.
      CLOUDSDK_CONFIG: join(dir, 'gcloud-config'),
      CLOUDSDK_CORE_DISABLE_PROMPTS: '1',
    };
  });
  after(async () => {
    await emu.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('cp uploads (multipart and resumable) with hashes gcloud validates', async () => {
    await gcloud('cp', join(dir, 'small.txt'), join(dir, 'big.bin'), 'gs://gcloud-bkt/up/');
    const [s] = await storage.bucket('gcloud-bkt').file('up/small.txt').getMetadata();
    assert.equal(s.md5Hash, md5(small));
    const [b] = await storage.bucket('gcloud-bkt').file('up/big.bin').getMetadata();
    assert.equal(b.size, String(big.length));
    assert.equal(b.md5Hash, md5(big));
    // gcloud's body shapes: a multipart POST for the small file, a resumable session for the big one.
    assert.ok(requests.some((r) => r.startsWith('POST /upload/storage/v1/b/gcloud-bkt/o?') && r.includes('uploadType=multipart')), requests.join('\n'));
    assert.ok(requests.some((r) => /^POST \/(resumable\/)?upload\/storage\/v1\/b\/gcloud-bkt\/o\?.*uploadType=resumable/.test(r)), requests.join('\n'));
    assert.ok(requests.some((r) => r.startsWith('PUT /upload/storage/v1/b/gcloud-bkt/o?') && r.includes('upload_id=')), requests.join('\n'));
  });

  it('ls -l lists objects with sizes', async () => {
    const out = await gcloud('ls', '-l', 'gs://gcloud-bkt/up/');
    assert.match(out, new RegExp(`\\b${small.length}\\s+\\S+\\s+gs://gcloud-bkt/up/small\\.txt`));
    assert.match(out, new RegExp(`\\b${big.length}\\s+\\S+\\s+gs://gcloud-bkt/up/big\\.bin`));
    assert.match(out, /TOTAL: 2 objects/);
  });

  it('cat prints an object written by the Node client', async () => {
    await storage.bucket('gcloud-bkt').file('node/hello.txt').save('written by node\n', { resumable: false });
    assert.equal(await gcloud('cat', 'gs://gcloud-bkt/node/hello.txt'), 'written by node\n');
  });

  it('cp downloads byte-identical data', async () => {
    await gcloud('cp', 'gs://gcloud-bkt/up/big.bin', join(dir, 'down.bin'));
    assert.ok((await readFile(join(dir, 'down.bin'))).equals(big));
  });

  it('rm deletes', async () => {
    await gcloud('rm', 'gs://gcloud-bkt/up/small.txt');
    assert.equal((await storage.bucket('gcloud-bkt').file('up/small.txt').exists())[0], false);
    assert.equal((await storage.bucket('gcloud-bkt').file('up/big.bin').exists())[0], true);
  });
});
