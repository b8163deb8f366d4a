/**
 * Creates `shared/topology.ts` on the local emulators: buckets (with CORS) and their notification
 * configs on the storage emulator, topics, and subscriptions (push to the function servers, with
 * the declared ack deadline, retry policy, dead-letter policy and retention) on the Pub/Sub emulator.
 *
 * Everything is derived from the topology declaration; nothing is named here. Applying is
 * idempotent and converges: re-running against the same emulators updates what exists (push
 * endpoints move when function ports change) and removes notification configs that are no longer
 * declared, so a persisted storage emulator cannot keep notifying a stale topic.
 */
import { PubSub, type CreateSubscriptionOptions, type Subscription } from '@google-cloud/pubsub';
import { Storage, type Bucket } from '@google-cloud/storage';
import { bucketName, pushPath, topology as declaredTopology, type SubscriptionDecl, type Topology } from '../shared/topology.js';

/** Where to apply the topology. */
export interface TopologyTarget {
  readonly gcpProjectId: string;
  /** `host:port` of the Pub/Sub emulator (the PUBSUB_EMULATOR_HOST form). */
  readonly pubsubEmulatorHost: string;
  /** `http://host:port` of the storage emulator. */
  readonly storageEmulatorHost: string;
  /** Base URL of each function server, by function name (push endpoints point there). */
  readonly functions: Readonly<Record<string, string>>;
}

/** A subscription as it must exist on the emulator (also what tests compare against). */
export interface DesiredSubscription {
  /** Full name, `projects/P/subscriptions/S`. */
  readonly name: string;
  /** Full name, `projects/P/topics/T`. */
  readonly topic: string;
  /** Absent for pull subscriptions. */
  readonly pushEndpoint?: string;
  readonly ackDeadlineSeconds: number;
  readonly minimumBackoffSeconds: number;
  readonly maximumBackoffSeconds: number;
  readonly deadLetter?: { readonly topic: string; readonly maxDeliveryAttempts: number };
  readonly messageRetentionSeconds: number;
}

/** A notification config as it must exist on a bucket. */
export interface DesiredNotification {
  readonly bucket: string;
  /** As the JSON API spells it: `//pubsub.googleapis.com/projects/P/topics/T`. */
  readonly topic: string;
  readonly eventTypes: readonly string[];
  readonly objectNamePrefix: string;
  readonly payloadFormat: string;
}

/** Every resource the topology declares, with real names for one deployment. */
export interface DesiredTopology {
  readonly buckets: readonly { readonly name: string; readonly cors: Topology['buckets'][number]['cors'] }[];
  readonly notifications: readonly DesiredNotification[];
  /** Full topic names. */
  readonly topics: readonly string[];
  readonly subscriptions: readonly DesiredSubscription[];
}

/** What {@link applyTopology} did. */
export interface AppliedTopology extends DesiredTopology {
  /** Resource names created by this run (the rest already existed and were updated). */
  readonly created: readonly string[];
  /** Notification config ids found on the buckets and deleted because nothing declares them. */
  readonly removedNotifications: readonly string[];
}

const topicPath = (gcp: string, topic: string) => `projects/${gcp}/topics/${topic}`;
const subscriptionPath = (gcp: string, sub: string) => `projects/${gcp}/subscriptions/${sub}`;

/** The full real-named topology for `target` (pure: no emulator is contacted). */
export function desiredTopology(target: Pick<TopologyTarget, 'gcpProjectId' | 'functions'>, topo: Topology = declaredTopology): DesiredTopology {
  const gcp = target.gcpProjectId;
  const subscriptions = topo.subscriptions.map((s: SubscriptionDecl): DesiredSubscription => {
    let pushEndpoint: string | undefined;
    if (s.pushFunction !== undefined) {
      const base = target.functions[s.pushFunction];
      if (base === undefined) throw new Error(`subscription ${s.name} pushes to function ${s.pushFunction}, which has no local server`);
      pushEndpoint = `${base.replace(/\/$/, '')}${pushPath(gcp, s.topic)}`;
    }
    return {
      name: subscriptionPath(gcp, s.name),
      topic: topicPath(gcp, s.topic),
      ...(pushEndpoint !== undefined ? { pushEndpoint } : {}),
      ackDeadlineSeconds: s.ackDeadlineSeconds,
      minimumBackoffSeconds: s.retryPolicy.minimumBackoffSeconds,
      maximumBackoffSeconds: s.retryPolicy.maximumBackoffSeconds,
      ...(s.deadLetter !== undefined
        ? { deadLetter: { topic: topicPath(gcp, s.deadLetter.topic), maxDeliveryAttempts: s.deadLetter.maxDeliveryAttempts } }
        : {}),
      messageRetentionSeconds: s.messageRetentionSeconds,
    };
  });
  return {
    buckets: topo.buckets.map((b) => ({ name: bucketName(gcp, b.name), cors: b.cors })),
    notifications: topo.buckets.flatMap((b) =>
      b.notifications.map((n) => ({
        bucket: bucketName(gcp, b.name),
        topic: `//pubsub.googleapis.com/${topicPath(gcp, n.topic)}`,
        eventTypes: [...n.eventTypes],
        objectNamePrefix: n.objectNamePrefix,
        payloadFormat: n.payloadFormat,
      })),
    ),
    topics: topo.topics.map((t) => topicPath(gcp, t.name)),
    subscriptions,
  };
}

/** A Pub/Sub client for the emulator, without touching `process.env`. */
export function emulatorPubSub(gcpProjectId: string, pubsubEmulatorHost: string): PubSub {
  return new PubSub({ projectId: gcpProjectId, apiEndpoint: pubsubEmulatorHost, emulatorMode: true });
}

/** A Storage client for the storage emulator (no credentials: a custom endpoint sends none). */
export function emulatorStorage(gcpProjectId: string, storageEmulatorHost: string): Storage {
  return new Storage({ projectId: gcpProjectId, apiEndpoint: storageEmulatorHost });
}

/** gRPC ALREADY_EXISTS, or HTTP 409 from the JSON API. */
function alreadyExists(err: unknown): boolean {
  const e = err as { code?: unknown } | null;
  return e !== null && typeof e === 'object' && (e.code === 6 || e.code === 409);
}

function subscriptionMetadata(d: DesiredSubscription): CreateSubscriptionOptions {
  return {
    // An empty push config makes (or turns back into) a pull subscription.
    pushConfig: d.pushEndpoint !== undefined ? { pushEndpoint: d.pushEndpoint } : {},
    ackDeadlineSeconds: d.ackDeadlineSeconds,
    retryPolicy: { minimumBackoff: { seconds: d.minimumBackoffSeconds }, maximumBackoff: { seconds: d.maximumBackoffSeconds } },
    deadLetterPolicy: d.deadLetter !== undefined ? { deadLetterTopic: d.deadLetter.topic, maxDeliveryAttempts: d.deadLetter.maxDeliveryAttempts } : null,
    messageRetentionDuration: { seconds: d.messageRetentionSeconds },
  };
}

async function ensureSubscription(pubsub: PubSub, d: DesiredSubscription, created: string[]): Promise<void> {
  const metadata = subscriptionMetadata(d);
  try {
    const createOptions: CreateSubscriptionOptions = { ...metadata };
    // A null policy is how an update clears it; on create, absence says the same.
    if (createOptions.deadLetterPolicy === null) delete createOptions.deadLetterPolicy;
    await pubsub.topic(d.topic).createSubscription(d.name, createOptions);
    created.push(d.name);
    return;
  } catch (err) {
    if (!alreadyExists(err)) throw err;
  }
  const sub: Subscription = pubsub.subscription(d.name);
  const [current] = await sub.getMetadata();
  if (current.topic !== d.topic) {
    // A subscription cannot move to another topic: recreate it.
    await sub.delete();
    await ensureSubscription(pubsub, d, created);
    return;
  }
  await sub.setMetadata(metadata);
}

async function ensureBucket(storage: Storage, b: DesiredTopology['buckets'][number], created: string[]): Promise<Bucket> {
  const cors = b.cors.map((c) => ({ origin: [...c.origin], method: [...c.method], responseHeader: [...c.responseHeader], maxAgeSeconds: c.maxAgeSeconds }));
  try {
    const [bucket] = await storage.createBucket(b.name, { cors });
    created.push(b.name);
    return bucket;
  } catch (err) {
    if (!alreadyExists(err)) throw err;
  }
  const bucket = storage.bucket(b.name);
  await bucket.setMetadata({ cors });
  return bucket;
}

function sameNotification(found: Record<string, unknown>, d: DesiredNotification): boolean {
  const eventTypes = Array.isArray(found.event_types) ? (found.event_types as unknown[]).map(String).sort() : [];
  return (
    found.topic === d.topic &&
    (found.object_name_prefix ?? '') === d.objectNamePrefix &&
    (found.payload_format ?? 'JSON_API_V1') === d.payloadFormat &&
    JSON.stringify(eventTypes) === JSON.stringify([...d.eventTypes].sort())
  );
}

async function ensureNotifications(bucket: Bucket, wanted: readonly DesiredNotification[], created: string[], removed: string[]): Promise<void> {
  const [existing] = await bucket.getNotifications();
  const unmatched = [...wanted];
  for (const n of existing) {
    const meta = (n.metadata ?? {}) as Record<string, unknown>;
    const i = unmatched.findIndex((d) => sameNotification(meta, d));
    if (i >= 0) {
      unmatched.splice(i, 1);
    } else {
      await n.delete();
      removed.push(`${bucket.name}/${n.id}`);
    }
  }
  for (const d of unmatched) {
    // The client prefixes `//pubsub.googleapis.com/`; hand it the `projects/...` part.
    const [n] = await bucket.createNotification(d.topic.replace('//pubsub.googleapis.com/', ''), {
      eventTypes: [...d.eventTypes],
      objectNamePrefix: d.objectNamePrefix,
      payloadFormat: d.payloadFormat,
    });
    created.push(`${bucket.name}/notificationConfigs/${String(n.id)}`);
  }
}

/**
 * Applies the topology to the emulators of `target` and returns every declared resource by real
 * name. Topics first, then subscriptions, buckets and notification configs.
 */
export async function applyTopology(target: TopologyTarget, topo: Topology = declaredTopology): Promise<AppliedTopology> {
  const desired = desiredTopology(target, topo);
  const created: string[] = [];
  const removedNotifications: string[] = [];
  const pubsub = emulatorPubSub(target.gcpProjectId, target.pubsubEmulatorHost);
  const storage = emulatorStorage(target.gcpProjectId, target.storageEmulatorHost);
  try {
    // Topics first: subscriptions, dead-letter policies and notification configs refer to them
    // (Cloud Storage refuses a notification config for a topic that does not exist).
    await Promise.all(
      desired.topics.map(async (t) => {
        try {
          await pubsub.createTopic(t);
          created.push(t);
        } catch (err) {
          if (!alreadyExists(err)) throw err;
        }
      }),
    );
    const storageSide = (async () => {
      for (const b of desired.buckets) {
        const bucket = await ensureBucket(storage, b, created);
        await ensureNotifications(bucket, desired.notifications.filter((n) => n.bucket === b.name), created, removedNotifications);
      }
    })();
    // allSettled, then rethrow: never leave one side running unobserved when the other fails.
    const results = await Promise.allSettled([...desired.subscriptions.map((s) => ensureSubscription(pubsub, s, created)), storageSide]);
    for (const r of results) if (r.status === 'rejected') throw r.reason;
  } finally {
    await pubsub.close();
  }
  return { ...desired, created, removedNotifications };
}
