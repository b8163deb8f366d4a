/**
 * Builds Pub/Sub push envelopes with the real contract code, shaped exactly as functions-framework
 * hands them to a CloudEvent function (`{message: {data: base64, attributes, messageId}}`).
 */
import { randomUUID } from 'node:crypto';
import { contracts, type GcsObject } from '../../shared/events/contracts.js';
import type { TopicName } from '../../shared/topology.js';
import type { MessageOf } from '../../shared/events/contracts.js';

export function pushEnvelope<T extends TopicName>(topic: T, data: MessageOf<T>, attributes: Record<string, string> = {}): { message: { data: string; attributes: Record<string, string>; messageId: string; publishTime: string }; subscription: string } {
  // Validate on the way in too: a test envelope that breaks the contract is a broken test.
  contracts[topic].data.parse(data);
  return {
    message: { data: Buffer.from(JSON.stringify(data)).toString('base64'), attributes, messageId: randomUUID(), publishTime: new Date().toISOString() },
    // functions-framework only converts a push body into a CloudEvent when it names its subscription
    // (and the message has data and an id), as every real push does.
    subscription: `projects/test/subscriptions/${topic}-push`,
  };
}

/** A JSON_API_V1 finalize notification for an object, with the attributes Cloud Storage sets. */
export function finalizeEnvelope(object: GcsObject, eventType: 'OBJECT_FINALIZE' | 'OBJECT_DELETE' = 'OBJECT_FINALIZE'): ReturnType<typeof pushEnvelope> {
  return pushEnvelope('object-events', object, {
    eventType,
    bucketId: object.bucket,
    objectId: object.name,
    objectGeneration: object.generation,
    payloadFormat: 'JSON_API_V1',
    notificationConfig: `projects/_/buckets/${object.bucket}/notificationConfigs/1`,
  });
}
