/**
 * Envelope-then-payload parsing for Pub/Sub push deliveries. functions-framework turns a raw push body
 * into a CloudEvent whose `data` is `{message: {data (base64), attributes, messageId, publishTime}}`
 * (production's Eventarc delivers the same shape). Every consumer decodes through here.
 */
import { z } from 'zod';
import { PermanentError } from '../errors/index.js';
import type { TopicName } from '../topology.js';
import { contracts, type AttributesOf, type MessageOf } from './contracts.js';

/**
 * Largest push body an event function reads. Our messages are references of a few hundred bytes and
 * Cloud Storage notifications a few KB (custom metadata is capped at 8 KiB); 1 MiB leaves room and
 * still bounds what a stray caller can make a function read.
 */
export const MAX_PUSH_BODY_BYTES = 1024 * 1024;

export const PushEnvelopeSchema = z.object({
  message: z.looseObject({
    data: z.string().optional(),
    attributes: z.record(z.string(), z.string()).optional(),
    messageId: z.string().optional(),
    message_id: z.string().optional(),
    publishTime: z.string().optional(),
  }),
  subscription: z.string().optional(),
});

export interface DecodedMessage<T extends TopicName> {
  readonly data: MessageOf<T>;
  readonly attributes: AttributesOf<T>;
  readonly messageId: string;
  readonly publishTime: string | undefined;
}

/** Raw decode without a contract (for the dead-letter handler, which sees any topic's messages). */
export function decodeEnvelope(eventData: unknown): { json: unknown; attributes: Record<string, string>; messageId: string; publishTime: string | undefined } {
  const env = PushEnvelopeSchema.safeParse(eventData);
  if (!env.success) throw new PermanentError('MALFORMED_ENVELOPE', `not a Pub/Sub push envelope: ${z.prettifyError(env.error)}`);
  const { message } = env.data;
  const raw = Buffer.from(message.data ?? '', 'base64').toString('utf8');
  let json: unknown;
  try {
    json = raw === '' ? null : JSON.parse(raw);
  } catch (cause) {
    throw new PermanentError('MALFORMED_MESSAGE', 'message data is not JSON', cause);
  }
  return { json, attributes: message.attributes ?? {}, messageId: message.messageId ?? message.message_id ?? '', publishTime: message.publishTime };
}

/** Decodes and validates a push delivery against the topic's contract; PermanentError when it does not fit. */
export function parseMessage<T extends TopicName>(topic: T, eventData: unknown): DecodedMessage<T> {
  const { json, attributes, messageId, publishTime } = decodeEnvelope(eventData);
  const contract = contracts[topic];
  const data = contract.data.safeParse(json);
  if (!data.success) throw new PermanentError('MESSAGE_CONTRACT_VIOLATION', `message on ${topic} breaks its contract: ${z.prettifyError(data.error)}`);
  const attrs = contract.attributes.safeParse(attributes);
  if (!attrs.success) throw new PermanentError('MESSAGE_CONTRACT_VIOLATION', `attributes on ${topic} break their contract: ${z.prettifyError(attrs.error)}`);
  return { data: data.data as MessageOf<T>, attributes: attrs.data as AttributesOf<T>, messageId, publishTime };
}
