/**
 * Bucket notifications from the storage emulator to the real Pub/Sub emulator, checked with the
 * real `@google-cloud/pubsub` client: production message format, prefix and event-type filters,
 * and that every write path (JSON insert, resumable, XML signed PUT, copy, compose, delete,
 * metadata patch, overwrite) notifies before it answers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PubSub, type Message, type Subscription } from '@google-cloud/pubsub';
import { Storage, type Bucket } from '@google-cloud/storage';
import { startStorageEmulator, type StorageEmulator } from '../../emulators/storage/server.js';
import { generateServiceAccount } from '../../emulators/storage/testing.js';
import { signV4Url } from '../../shared/storage/v4-signer.js';

process.env.METADATA_SERVER_DETECTION ??= 'none';

const PROJECT = 'demo-test';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Starts the Pub/Sub emulator in its own process group (gcloud leaves its java child behind otherwise). */
async function startPubsubEmulator(): Promise<{ host: string; proc: ChildProcess; stop: () => Promise<void> }> {
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const proc = spawn('gcloud', ['beta', 'emulators', 'pubsub', 'start', `--host-port=${host}`, `--project=${PROJECT}`], {
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (proc.pid !== undefined && proc.exitCode === null) {
      try {
        process.kill(-proc.pid, 'SIGTERM');
      } catch {
        // already gone
      }
      await Promise.race([exited, sleep(5000, undefined, { ref: false })]);
      try {
        process.kill(-proc.pid, 'SIGKILL');
      } catch {
        // exited on SIGTERM
      }
    }
  };
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`Pub/Sub emulator exited early: ${stderr}`);
    try {
      const res = await fetch(`http://${host}/`, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`Pub/Sub emulator not ready after 60 s: ${stderr}`);
    }
    await sleep(100);
  }
  return { host, proc, stop };
}

/** Collects messages from a streaming pull subscription and waits for ones matching a predicate. */
class Inbox {
  readonly messages: Message[] = [];
  private waiters: (() => void)[] = [];
  constructor(sub: Subscription) {
    sub.on('message', (m: Message) => {
      m.ack();
      this.messages.push(m);
      for (const w of this.waiters.splice(0)) w();
    });
  }
  async waitFor(pred: (m: Message) => boolean, timeoutMs = 15_000): Promise<Message> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.find(pred);
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching message; got ${JSON.stringify(this.messages.map((m) => m.attributes))}`);
      // Unref: a pending timeout must not keep the test process alive after the message came.
      await Promise.race([new Promise<void>((r) => this.waiters.push(r)), sleep(left, undefined, { ref: false })]);
    }
  }
  of(objectId: string, eventType?: string): Message[] {
    return this.messages.filter((m) => m.attributes.objectId === objectId && (!eventType || m.attributes.eventType === eventType));
  }
}

const payload = (m: Message): Record<string, unknown> => JSON.parse(m.data.toString('utf8')) as Record<string, unknown>;

describe('storage emulator → Pub/Sub emulator notifications', () => {
  let pubsubProc: Awaited<ReturnType<typeof startPubsubEmulator>>;
  let pubsub: PubSub;
  let emu: StorageEmulator;
  let storage: Storage;
  let bucket: Bucket;
  let uploads: Inbox;
  let everything: Inbox;
  const subscriptions: Subscription[] = [];
  const logs: Record<string, unknown>[] = [];
  const sa = generateServiceAccount(PROJECT);

  before(async () => {
    pubsubProc = await startPubsubEmulator();
    process.env.PUBSUB_EMULATOR_HOST = pubsubProc.host;
    pubsub = new PubSub({ projectId: PROJECT });
    const [t1] = await pubsub.createTopic('uploads-finalized');
    const [t2] = await pubsub.createTopic('all-events');
    const [s1] = await t1.createSubscription('uploads-finalized-pull');
    const [s2] = await t2.createSubscription('all-events-pull');
    subscriptions.push(s1, s2);
    uploads = new Inbox(s1);
    everything = new Inbox(s2);

    emu = await startStorageEmulator({ port: 0, pubsubEmulatorHost: pubsubProc.host, trustedServiceAccounts: [sa.trusted], log: (e) => logs.push(e) });
    storage = new Storage({ apiEndpoint: emu.url, projectId: PROJECT, credentials: sa.credentials });
    [bucket] = await storage.createBucket('notified');
    // As the Node client sends it (snake_case body, //pubsub.googleapis.com/ topic).
    await bucket.createNotification('uploads-finalized', { eventTypes: ['OBJECT_FINALIZE', 'OBJECT_DELETE'], objectNamePrefix: 'uploads/', payloadFormat: 'JSON_API_V1' });
    await bucket.createNotification(`projects/${PROJECT}/topics/all-events`, { payloadFormat: 'JSON_API_V1' });
  });

  after(async () => {
    await emu?.close();
    // Streaming pulls keep the process alive until closed.
    await Promise.all(subscriptions.map((s) => s.close()));
    await pubsub?.close();
    await pubsubProc?.stop();
  });

  it('lists the configs in GCS format and refuses a topic that does not exist', async () => {
    const [configs] = await bucket.getNotifications();
    assert.equal(configs.length, 2);
    const m = configs[0]?.metadata as Record<string, unknown>;
    assert.equal(m.topic, `//pubsub.googleapis.com/projects/${PROJECT}/topics/uploads-finalized`);
    assert.deepEqual(m.event_types, ['OBJECT_FINALIZE', 'OBJECT_DELETE']);
    assert.equal(m.object_name_prefix, 'uploads/');
    assert.equal(m.payload_format, 'JSON_API_V1');
    await assert.rejects(bucket.createNotification('no-such-topic'), (e: unknown) => (e as { code?: number }).code === 400);
  });

  it('OBJECT_FINALIZE in production format for a resumable file.save()', async () => {
    const file = bucket.file('uploads/doc one.pdf');
    await file.save('%PDF-1.7 hello', { contentType: 'application/pdf', metadata: { metadata: { owner: 'u1' } } });
    const [meta] = await file.getMetadata();
    const m = await uploads.waitFor((x) => x.attributes.objectId === 'uploads/doc one.pdf');
    assert.equal(m.attributes.eventType, 'OBJECT_FINALIZE');
    assert.equal(m.attributes.bucketId, 'notified');
    assert.equal(m.attributes.objectGeneration, meta.generation);
    assert.equal(m.attributes.payloadFormat, 'JSON_API_V1');
    assert.equal(m.attributes.notificationConfig, 'projects/_/buckets/notified/notificationConfigs/1');
    assert.ok(!Number.isNaN(Date.parse(m.attributes.eventTime ?? '')));
    const body = payload(m);
    assert.equal(body.kind, 'storage#object');
    assert.equal(body.name, 'uploads/doc one.pdf');
    assert.equal(body.bucket, 'notified');
    assert.equal(body.generation, meta.generation);
    assert.equal(body.size, '14');
    assert.equal(body.md5Hash, meta.md5Hash);
    assert.equal(body.contentType, 'application/pdf');
    assert.deepEqual(body.metadata, { owner: 'u1' });
    // The all-events config (no filters, id 2) got it too.
    const all = await everything.waitFor((x) => x.attributes.objectId === 'uploads/doc one.pdf');
    assert.equal(all.attributes.notificationConfig, 'projects/_/buckets/notified/notificationConfigs/2');
  });

  it('honours objectNamePrefix and eventTypes filters', async () => {
    await bucket.file('elsewhere/x.txt').save('x', { resumable: false });
    await bucket.file('uploads/x.txt').save('x', { resumable: false });
    await bucket.file('uploads/x.txt').setMetadata({ metadata: { touched: 'yes' } });
    await bucket.file('uploads/sentinel.txt').save('s', { resumable: false });
    await uploads.waitFor((x) => x.attributes.objectId === 'uploads/sentinel.txt');
    const update = await everything.waitFor((x) => x.attributes.objectId === 'uploads/x.txt' && x.attributes.eventType === 'OBJECT_METADATA_UPDATE');
    assert.deepEqual(payload(update).metadata, { touched: 'yes' });
    assert.equal(payload(update).metageneration, '2');
    await everything.waitFor((x) => x.attributes.objectId === 'elsewhere/x.txt');
    // Published before the uploads answered, so anything that matched would have arrived by now.
    assert.equal(uploads.of('elsewhere/x.txt').length, 0, 'prefix filter');
    assert.equal(uploads.of('uploads/x.txt', 'OBJECT_METADATA_UPDATE').length, 0, 'eventTypes filter');
    assert.equal(uploads.of('uploads/x.txt', 'OBJECT_FINALIZE').length, 1);
  });

  it('every write path notifies: signed XML PUT, copy, compose, overwrite (with delete of the old generation), delete', async () => {
    // Signed for the emulator's host:port, which it compares exactly.
    const { url } = signV4Url({ key: sa.signingKey, method: 'PUT', endpoint: emu.url, bucket: 'notified', object: 'uploads/signed.txt', headers: { 'content-type': 'text/plain' }, expiresInSeconds: 600 });
    const put = await fetch(url, { method: 'PUT', headers: { 'content-type': 'text/plain' }, body: 'via signed url' });
    assert.equal(put.status, 200);
    const signed = await uploads.waitFor((x) => x.attributes.objectId === 'uploads/signed.txt');
    assert.equal(signed.attributes.objectGeneration, put.headers.get('x-goog-generation'));

    await bucket.file('uploads/signed.txt').copy(bucket.file('uploads/copied.txt'));
    await uploads.waitFor((x) => x.attributes.objectId === 'uploads/copied.txt');
    await bucket.combine(['uploads/signed.txt', 'uploads/copied.txt'], 'uploads/composed.txt');
    await uploads.waitFor((x) => x.attributes.objectId === 'uploads/composed.txt');

    const [old] = await bucket.file('uploads/signed.txt').getMetadata();
    await bucket.file('uploads/signed.txt').save('overwritten', { resumable: false });
    const [cur] = await bucket.file('uploads/signed.txt').getMetadata();
    const fin = await uploads.waitFor((x) => x.attributes.objectId === 'uploads/signed.txt' && x.attributes.objectGeneration === cur.generation);
    assert.equal(fin.attributes.overwroteGeneration, old.generation);
    const del = await uploads.waitFor((x) => x.attributes.eventType === 'OBJECT_DELETE' && x.attributes.objectGeneration === old.generation);
    assert.equal(del.attributes.overwrittenByGeneration, cur.generation);

    await bucket.file('uploads/copied.txt').delete();
    const gone = await uploads.waitFor((x) => x.attributes.objectId === 'uploads/copied.txt' && x.attributes.eventType === 'OBJECT_DELETE');
    assert.equal(payload(gone).name, 'uploads/copied.txt');
    assert.equal(logs.filter((l) => l.severity === 'ERROR').length, 0, JSON.stringify(logs.filter((l) => l.severity === 'ERROR')));
  });

  it('a deleted notification config stops publishing', async () => {
    await bucket.notification('2').delete();
    await bucket.file('uploads/after-delete.txt').save('z', { resumable: false });
    await uploads.waitFor((x) => x.attributes.objectId === 'uploads/after-delete.txt');
    assert.equal(everything.of('uploads/after-delete.txt').length, 0);
  });
});
