/**
 * Notification publishing: retries with backoff on a failing Pub/Sub endpoint, and an ERROR log
 * entry (never silence) when publishing finally fails. A local HTTP server stands in for the
 * Pub/Sub emulator's REST endpoint so failures can be scripted.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Notifier, normaliseTopic } from '../../emulators/storage/notifications.js';
import type { BucketRecord } from '../../emulators/storage/store.js';

const bucket: BucketRecord = {
  name: 'b1',
  projectNumber: '0',
  timeCreated: '',
  updated: '',
  metageneration: 1,
  location: 'US',
  storageClass: 'STANDARD',
  nextNotificationId: 2,
  notifications: [{ id: '1', topic: 'projects/p/topics/t', payloadFormat: 'JSON_API_V1', etag: '1', customAttributes: { team: 'docs' } }],
};
const event = { eventType: 'OBJECT_FINALIZE' as const, objectName: 'o.txt', generation: '42', resource: { name: 'o.txt', bucket: 'b1' } };

describe('Notifier', () => {
  let server: Server;
  let host: string;
  let failuresLeft = 0;
  const received: { url: string; body: unknown }[] = [];

  before(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (failuresLeft-- > 0) {
          res.writeHead(503).end('try later');
          return;
        }
        received.push({ url: req.url ?? '', body: JSON.parse(Buffer.concat(chunks).toString()) as unknown });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"messageIds":["1"]}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  it('retries transient failures and publishes the production message shape', async () => {
    failuresLeft = 2;
    const logs: Record<string, unknown>[] = [];
    await new Notifier(host, (e) => logs.push(e), { attempts: 4, firstDelayMs: 5, timeoutMs: 1000 }).notify(bucket, event);
    assert.equal(received.length, 1);
    assert.equal(received[0]?.url, '/v1/projects/p/topics/t:publish');
    const msg = (received[0]?.body as { messages: { data: string; attributes: Record<string, string> }[] }).messages[0];
    assert.deepEqual(JSON.parse(Buffer.from(msg?.data ?? '', 'base64').toString()), event.resource);
    assert.equal(msg?.attributes.eventType, 'OBJECT_FINALIZE');
    assert.equal(msg?.attributes.objectGeneration, '42');
    assert.equal(msg?.attributes.notificationConfig, 'projects/_/buckets/b1/notificationConfigs/1');
    assert.equal(msg?.attributes.team, 'docs');
    assert.equal(logs.filter((l) => l.severity === 'ERROR').length, 0);
  });

  it('logs an ERROR entry when publishing finally fails (unreachable emulator)', async () => {
    const logs: Record<string, unknown>[] = [];
    await new Notifier('127.0.0.1:1', (e) => logs.push(e), { attempts: 3, firstDelayMs: 5, timeoutMs: 500 }).notify(bucket, event);
    const err = logs.find((l) => l.severity === 'ERROR');
    assert.ok(err, 'an ERROR entry');
    assert.match(String(err.message), /publish failed/);
    assert.equal(err.object, 'o.txt');
  });

  it('normalises topic names', () => {
    assert.equal(normaliseTopic('//pubsub.googleapis.com/projects/p/topics/t'), 'projects/p/topics/t');
    assert.equal(normaliseTopic('projects/p/topics/t'), 'projects/p/topics/t');
    assert.throws(() => normaliseTopic('t'));
  });
});
