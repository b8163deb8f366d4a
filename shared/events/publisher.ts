/**
 * Publishes messages that are validated against the topic's contract before they leave. Topics are
 * created by terraform or the local platform, never here (no autoCreate on the hot path).
 */
import type { PubSub, Topic } from '@google-cloud/pubsub';
import { z } from 'zod';
import { PermanentError } from '../errors/index.js';
import type { TopicName } from '../topology.js';
import { contracts, type MessageOf } from './contracts.js';

export interface Publisher {
  /** Resolves with the message id once Pub/Sub has accepted the message. */
  publish<T extends TopicName>(topic: T, data: MessageOf<T>, attributes?: Record<string, string>): Promise<string>;
}

export function createPublisher(pubsub: PubSub): Publisher {
  const topics = new Map<string, Topic>();
  const topicFor = (name: string): Topic => {
    let t = topics.get(name);
    if (!t) {
      // One message per batch: these are control messages where latency matters, not throughput.
      t = pubsub.topic(name, { batching: { maxMessages: 1, maxMilliseconds: 0 } });
      topics.set(name, t);
    }
    return t;
  };
  return {
    async publish(topic, data, attributes = {}) {
      const parsed = contracts[topic].data.safeParse(data);
      if (!parsed.success) throw new PermanentError('MESSAGE_CONTRACT_VIOLATION', `refusing to publish to ${topic}: ${z.prettifyError(parsed.error)}`);
      const type = typeof data === 'object' && data !== null && 'type' in data && typeof data.type === 'string' ? data.type : undefined;
      return topicFor(topic).publishMessage({ json: parsed.data, attributes: { ...(type ? { type } : {}), ...attributes } });
    },
  };
}
