/**
 * Bucket notifications delivered to the Pub/Sub emulator in Cloud Storage's production format
 * (JSON_API_V1: data = object resource JSON; attributes eventType, bucketId, objectId,
 * objectGeneration, payloadFormat, notificationConfig, eventTime, plus overwrite attributes).
 *
 * Publishing happens after the write is committed and before the client gets its answer, with
 * bounded retries; a message that still cannot be published is logged as an ERROR entry — never
 * dropped silently — and the write itself stays committed (GCS does not roll back either).
 */
import type { BucketRecord, NotificationRecord } from './store.js';
import { StorageApiError } from './errors.js';
import type { FaultInjector } from '../../shared/faults.js';

export type EventType = 'OBJECT_FINALIZE' | 'OBJECT_DELETE' | 'OBJECT_METADATA_UPDATE' | 'OBJECT_ARCHIVE';
export const EVENT_TYPES: readonly EventType[] = ['OBJECT_FINALIZE', 'OBJECT_DELETE', 'OBJECT_METADATA_UPDATE', 'OBJECT_ARCHIVE'];

type Log = (entry: Record<string, unknown>) => void;

/** One object event, before fan-out to the bucket's matching configs. */
export interface ObjectEvent {
  readonly eventType: EventType;
  readonly objectName: string;
  readonly generation: string;
  /** The object resource as the JSON API renders it (the JSON_API_V1 payload). */
  readonly resource: Record<string, unknown>;
  /** e.g. `overwroteGeneration` / `overwrittenByGeneration`. */
  readonly extraAttributes?: Readonly<Record<string, string>>;
}

const TOPIC_RE = /^projects\/([^/]+)\/topics\/([^/]+)$/;

/**
 * Normalises a topic given as `projects/P/topics/T` or `//pubsub.googleapis.com/projects/P/topics/T`
 * to the short form; throws 400 otherwise.
 */
export function normaliseTopic(topic: string): string {
  const short = topic.replace(/^\/\/pubsub\.[^/]+\//, '');
  if (!TOPIC_RE.test(short)) {
    throw new StorageApiError(400, 'invalid', 'InvalidArgument', `Invalid Pub/Sub topic "${topic}": expected //pubsub.googleapis.com/projects/P/topics/T`);
  }
  return short;
}

/** The notification config resource as GCS renders it (snake_case field names). */
export function renderNotification(bucket: string, n: NotificationRecord, baseUrl: string): Record<string, unknown> {
  return {
    kind: 'storage#notification',
    id: n.id,
    selfLink: `${baseUrl}/storage/v1/b/${encodeURIComponent(bucket)}/notificationConfigs/${n.id}`,
    topic: `//pubsub.googleapis.com/${n.topic}`,
    ...(n.eventTypes ? { event_types: n.eventTypes } : {}),
    ...(n.objectNamePrefix ? { object_name_prefix: n.objectNamePrefix } : {}),
    ...(n.customAttributes ? { custom_attributes: n.customAttributes } : {}),
    payload_format: n.payloadFormat,
    etag: n.etag,
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Publishes object events to the Pub/Sub emulator's REST API. */
export class Notifier {
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly pubsubHost: string | undefined,
    private readonly log: Log,
    private readonly retry = { attempts: 6, firstDelayMs: 100, timeoutMs: 5000 },
    /**
     * Fault injection (shared/faults.ts; local platform tests only): a publish rule for a topic and
     * service `storage-emulator` drops that many notifications, as a Pub/Sub outage outlasting the
     * retries above, or the Pub/Sub emulator forgetting them on restart, loses them.
     */
    private readonly faults: FaultInjector | null = null,
  ) {}

  /** Whether publishing is configured at all. */
  get enabled(): boolean {
    return this.pubsubHost !== undefined;
  }

  /** Returns 'exists' | 'missing' | 'unknown' for a topic (used to validate new configs like GCS does). */
  async topicStatus(topic: string): Promise<'exists' | 'missing' | 'unknown'> {
    if (!this.pubsubHost) return 'unknown';
    try {
      const res = await fetch(`http://${this.pubsubHost}/v1/${topic}`, { signal: AbortSignal.timeout(this.retry.timeoutMs) });
      await res.arrayBuffer();
      return res.ok ? 'exists' : res.status === 404 ? 'missing' : 'unknown';
    } catch {
      return 'unknown';
    }
  }

  /** Fans `event` out to every matching config of `bucket` and waits until each is published or given up. */
  async notify(bucket: BucketRecord, event: ObjectEvent): Promise<void> {
    const configs = bucket.notifications.filter(
      (n) =>
        (!n.eventTypes || n.eventTypes.length === 0 || n.eventTypes.includes(event.eventType)) &&
        (!n.objectNamePrefix || event.objectName.startsWith(n.objectNamePrefix)),
    );
    if (configs.length === 0) return;
    const eventTime = new Date().toISOString();
    const jobs = configs.map((n) => {
      const attributes: Record<string, string> = {
        ...(n.customAttributes ?? {}),
        eventType: event.eventType,
        bucketId: bucket.name,
        objectId: event.objectName,
        objectGeneration: event.generation,
        payloadFormat: n.payloadFormat,
        notificationConfig: `projects/_/buckets/${bucket.name}/notificationConfigs/${n.id}`,
        eventTime,
        ...(event.extraAttributes ?? {}),
      };
      const data = n.payloadFormat === 'JSON_API_V1' ? Buffer.from(JSON.stringify(event.resource)).toString('base64') : '';
      return this.track(this.publish(n.topic, { data, attributes }));
    });
    await Promise.all(jobs);
  }

  private track(p: Promise<void>): Promise<void> {
    this.inFlight.add(p);
    return p.finally(() => this.inFlight.delete(p));
  }

  private async publish(topic: string, message: { data: string; attributes: Record<string, string> }): Promise<void> {
    const context = { topic, eventType: message.attributes.eventType, bucket: message.attributes.bucketId, object: message.attributes.objectId };
    if (!this.pubsubHost) {
      this.log({ severity: 'ERROR', message: 'notification not published: no Pub/Sub emulator configured (--pubsub-emulator-host)', ...context });
      return;
    }
    const injected = this.faults?.publishFault(topic.slice(topic.lastIndexOf('/') + 1)).fail;
    if (injected) {
      this.log({ severity: 'ERROR', message: 'notification publish failed; event lost', ...context, error: injected.message, attributes: message.attributes });
      return;
    }
    const url = `http://${this.pubsubHost}/v1/${topic}:publish`;
    let delay = this.retry.firstDelayMs;
    let lastError = '';
    for (let attempt = 1; attempt <= this.retry.attempts; attempt++) {
      try {
        const res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ messages: [message] }),
          signal: AbortSignal.timeout(this.retry.timeoutMs),
        });
        const text = await res.text();
        if (res.ok) {
          this.log({ severity: 'DEBUG', message: 'notification published', ...context, response: text.slice(0, 200) });
          return;
        }
        lastError = `HTTP ${res.status}: ${text.slice(0, 300)}`;
        // A 4xx other than 429 will not change by retrying (e.g. the topic was deleted).
        if (res.status >= 400 && res.status < 500 && res.status !== 429) break;
      } catch (e) {
        lastError = e instanceof Error ? e.message : String(e);
      }
      if (attempt < this.retry.attempts) {
        await sleep(delay);
        delay *= 2;
      }
    }
    this.log({ severity: 'ERROR', message: 'notification publish failed; event lost', ...context, error: lastError, attributes: message.attributes });
  }

  /** Waits for publishes still in flight (used when closing). */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
  }
}
