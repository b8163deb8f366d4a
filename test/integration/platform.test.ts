/**
 * The local platform as `npm test` starts it: every component answers, the topology on the
 * emulators is exactly `shared/topology.ts`, the functions run with the production-shaped
 * environment, the demo user can sign in. Plus the process-group machinery on its own (starting a
 * second platform here would double the suite's start-up time for no extra confidence).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { applyTopology, desiredTopology, emulatorPubSub, emulatorStorage } from '../../emulators/apply-topology.js';
import type { LocalConfig } from '../../emulators/local-config.js';
import {
  groupMembers,
  httpStatus,
  MARKER_ENV,
  NotReadyError,
  processesWithMarker,
  spawnGroup,
  stopGroup,
  tcpOpen,
  waitForHttp,
} from '../../emulators/processes.js';
import { DEMO_PROJECT_ID, emulatorFirestore } from '../../emulators/seed.js';
import { ServiceAccountKeySchema } from '../../emulators/signing-key.js';
import { bucketName, topology } from '../../shared/topology.js';
import { localConfigForTests } from '../helpers/platform.js';

function environOf(pid: number): Map<string, string> {
  const env = new Map<string, string>();
  for (const entry of readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')) {
    const i = entry.indexOf('=');
    if (i > 0) env.set(entry.slice(0, i), entry.slice(i + 1));
  }
  return env;
}

describe('local platform (test profile)', () => {
  let cfg: LocalConfig;
  before(() => {
    cfg = localConfigForTests();
  });

  it('every component answers', async () => {
    assert.equal(await httpStatus(`http://${cfg.firestoreEmulatorHost}/`), 200, 'firestore');
    assert.equal(await httpStatus(`http://${cfg.pubsubEmulatorHost}/`), 200, 'pubsub');
    assert.equal(await httpStatus(`http://${cfg.authEmulatorHost}/`), 200, 'auth');
    assert.equal(await httpStatus(`${cfg.storageEmulatorHost}/_health`), 200, 'storage');
    assert.equal(cfg.apiUrl, cfg.functions.api);
    for (const fn of topology.functions) {
      const base = cfg.functions[fn.name];
      assert.ok(base, `function ${fn.name} has a URL`);
      const { hostname, port } = new URL(base);
      assert.ok(await tcpOpen(hostname, Number(port)), `function ${fn.name} listens on ${base}`);
    }
  });

  it('records a live process group for every component', () => {
    const names = ['firestore', 'pubsub', 'auth', 'storage', ...topology.functions.map((f) => f.name)];
    assert.deepEqual(Object.keys(cfg.pgids).sort(), names.sort());
    for (const [name, pgid] of Object.entries(cfg.pgids)) assert.ok(groupMembers(pgid).length > 0, `${name} (pgid ${pgid}) is running`);
  });

  it('has the declared topics and subscriptions, with push endpoints, retry and dead-letter policies', async () => {
    const want = desiredTopology(cfg);
    const pubsub = emulatorPubSub(cfg.gcpProjectId, cfg.pubsubEmulatorHost);
    try {
      const [topics] = await pubsub.getTopics();
      assert.deepEqual(topics.map((t) => t.name).sort(), [...want.topics].sort());
      const [subs] = await pubsub.getSubscriptions();
      assert.deepEqual(subs.map((s) => s.name).sort(), want.subscriptions.map((s) => s.name).sort());
      for (const d of want.subscriptions) {
        const [m] = await pubsub.subscription(d.name).getMetadata();
        assert.equal(m.topic, d.topic, d.name);
        assert.equal(m.pushConfig?.pushEndpoint ?? '', d.pushEndpoint ?? '', `${d.name} push endpoint`);
        assert.equal(m.ackDeadlineSeconds, d.ackDeadlineSeconds, `${d.name} ack deadline`);
        assert.equal(Number(m.retryPolicy?.minimumBackoff?.seconds), d.minimumBackoffSeconds, `${d.name} min backoff`);
        assert.equal(Number(m.retryPolicy?.maximumBackoff?.seconds), d.maximumBackoffSeconds, `${d.name} max backoff`);
        assert.equal(Number(m.messageRetentionDuration?.seconds), d.messageRetentionSeconds, `${d.name} retention`);
        if (d.deadLetter) {
          assert.equal(m.deadLetterPolicy?.deadLetterTopic, d.deadLetter.topic, `${d.name} dead-letter topic`);
          assert.equal(m.deadLetterPolicy?.maxDeliveryAttempts, d.deadLetter.maxDeliveryAttempts, `${d.name} max attempts`);
        } else {
          assert.ok(!m.deadLetterPolicy?.deadLetterTopic, `${d.name} has no dead-letter policy`);
        }
      }
    } finally {
      await pubsub.close();
    }
    // Push endpoints name the topic the way functions-framework derives a CloudEvent source from.
    const ingest = want.subscriptions.find((s) => s.pushEndpoint?.includes(`/projects/${cfg.gcpProjectId}/topics/object-events`));
    assert.ok(ingest?.pushEndpoint?.startsWith(cfg.functions.ingest ?? 'missing'));
  });

  it('has the bucket with its CORS and notification config', async () => {
    const want = desiredTopology(cfg);
    assert.equal(cfg.bucket, bucketName(cfg.gcpProjectId, 'documents'));
    const storage = emulatorStorage(cfg.gcpProjectId, cfg.storageEmulatorHost);
    for (const b of want.buckets) {
      const bucket = storage.bucket(b.name);
      const [meta] = await bucket.getMetadata();
      assert.deepEqual(meta.cors, b.cors.map((c) => ({ ...c })), `${b.name} CORS`);
      const [notifications] = await bucket.getNotifications();
      const found = notifications.map((n) => {
        const m = n.metadata;
        return { topic: m.topic, eventTypes: [...(m.event_types ?? [])].sort(), prefix: m.object_name_prefix, format: m.payload_format };
      });
      const expected = want.notifications
        .filter((n) => n.bucket === b.name)
        .map((n) => ({ topic: n.topic, eventTypes: [...n.eventTypes].sort(), prefix: n.objectNamePrefix, format: n.payloadFormat }));
      assert.deepEqual(found, expected, `${b.name} notification configs`);
    }
  });

  it('applies the topology idempotently', async () => {
    const again = await applyTopology(cfg);
    assert.deepEqual(again.created, [], 'nothing new on a second run');
    assert.deepEqual(again.removedNotifications, []);
  });

  it('runs the functions with the production-shaped environment', () => {
    for (const fn of topology.functions) {
      const pgid = cfg.pgids[fn.name];
      assert.ok(pgid !== undefined, fn.name);
      const env = environOf(pgid);
      assert.equal(env.get('GOOGLE_CLOUD_PROJECT'), cfg.gcpProjectId);
      assert.equal(env.get('SCRIPTORIUM_BUCKET'), cfg.bucket);
      assert.equal(env.get('SCRIPTORIUM_SIGNING_KEY_FILE'), cfg.signingKeyFile);
      assert.equal(env.get('STORAGE_EMULATOR_HOST'), cfg.storageEmulatorHost);
      assert.equal(env.get('FIRESTORE_EMULATOR_HOST'), cfg.firestoreEmulatorHost);
      assert.equal(env.get('PUBSUB_EMULATOR_HOST'), cfg.pubsubEmulatorHost);
      assert.equal(env.get('FIREBASE_AUTH_EMULATOR_HOST'), cfg.authEmulatorHost);
      assert.equal(env.get('OMP_THREAD_LIMIT'), '1');
    }
    const key = ServiceAccountKeySchema.parse(JSON.parse(readFileSync(cfg.signingKeyFile, 'utf8')));
    assert.equal(key.project_id, cfg.gcpProjectId);
  });

  it('lets the demo user sign in and makes them admin of the demo project', async () => {
    const res = await fetch(`http://${cfg.authEmulatorHost}/identitytoolkit.googleapis.com/v1/accounts:signInWithPassword?key=any`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: cfg.demoUser.email, password: cfg.demoUser.password, returnSecureToken: true }),
    });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { idToken?: string; localId?: string };
    assert.ok(body.idToken && body.idToken.length > 20, 'an ID token');
    assert.equal(body.localId, cfg.demoUser.uid);
    assert.equal(cfg.projectId, DEMO_PROJECT_ID);
    const db = emulatorFirestore(cfg.gcpProjectId, cfg.firestoreEmulatorHost);
    try {
      const member = await db.doc(`projects/${cfg.projectId}/members/${cfg.demoUser.uid}`).get();
      assert.equal(member.get('role'), 'admin');
    } finally {
      await db.terminate();
    }
  });
});

describe('process groups', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'scriptorium-proc-'));
  const marker = `proc-test-${process.pid}-${Date.now()}`;
  const base = { cwd: dir, env: { PATH: process.env.PATH }, marker };
  after(() => {
    // Whatever a failed assertion left behind.
    for (const pid of processesWithMarker(marker)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('stops a leader and its grandchildren with SIGTERM to the group', async () => {
    // bash starts two sleeps and waits: killing bash alone would leave them running.
    const proc = spawnGroup({ ...base, name: 'sleepers', command: 'bash', args: ['-c', 'sleep 300 & sleep 300 & wait'], logFile: path.join(dir, 'sleepers.log') });
    const deadline = Date.now() + 5000;
    while (groupMembers(proc.pgid).length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(groupMembers(proc.pgid).length, 3, 'bash and two sleeps');
    const result = await stopGroup(proc.pgid, marker, 5000);
    assert.equal(result.outcome, 'term');
    assert.deepEqual(groupMembers(proc.pgid), []);
    assert.deepEqual(processesWithMarker(marker), []);
  });

  it('escalates to SIGKILL when a member ignores SIGTERM', async () => {
    const proc = spawnGroup({
      ...base,
      name: 'stubborn',
      command: 'bash',
      args: ['-c', "trap '' TERM; bash -c \"trap '' TERM; sleep 300\" & echo started; wait"],
      logFile: path.join(dir, 'stubborn.log'),
    });
    const deadline = Date.now() + 5000;
    // Two or three members, depending on whether the inner bash execs its last command.
    while (groupMembers(proc.pgid).length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const result = await stopGroup(proc.pgid, marker, 300);
    assert.equal(result.outcome, 'kill');
    assert.deepEqual(processesWithMarker(marker), []);
  });

  it('never signals a group whose members lack the marker', async () => {
    const proc = spawnGroup({ ...base, name: 'other', command: 'sleep', args: ['300'], logFile: path.join(dir, 'other.log') });
    try {
      assert.equal((await stopGroup(proc.pgid, 'some-other-run', 1000)).outcome, 'absent');
      assert.deepEqual(groupMembers(proc.pgid), [proc.pid]);
    } finally {
      assert.equal((await stopGroup(proc.pgid, marker, 1000)).outcome, 'term');
    }
    assert.equal(environOf(process.pid).get(MARKER_ENV), undefined, 'the test process itself is unmarked');
  });

  it('fails fast, with the log tail, when the process exits before it is ready', async () => {
    const proc = spawnGroup({ ...base, name: 'crasher', command: 'bash', args: ['-c', 'echo "port already in use" >&2; exit 3'], logFile: path.join(dir, 'crasher.log') });
    const started = Date.now();
    await assert.rejects(waitForHttp(proc, { url: 'http://127.0.0.1:1/', timeoutMs: 30_000 }), (err: unknown) => {
      assert.ok(err instanceof NotReadyError);
      assert.match(err.message, /crasher exited before it was ready \(code 3/);
      assert.match(err.message, /port already in use/);
      return true;
    });
    assert.ok(Date.now() - started < 5000, 'no waiting for the timeout');
  });

  it('times out with a clear error when nothing answers', async () => {
    const proc = spawnGroup({ ...base, name: 'silent', command: 'sleep', args: ['300'], logFile: path.join(dir, 'silent.log') });
    try {
      await assert.rejects(waitForHttp(proc, { url: 'http://127.0.0.1:1/', timeoutMs: 300, intervalMs: 50 }), /silent not ready after 300 ms \(GET http:\/\/127\.0\.0\.1:1\/ → no answer\)/);
    } finally {
      await stopGroup(proc.pgid, marker, 1000);
    }
  });
});
