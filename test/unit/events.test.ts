import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseMessage, decodeEnvelope } from '../../shared/events/envelope.js';
import { PermanentError } from '../../shared/errors/index.js';
import { finalizeEnvelope, pushEnvelope } from '../helpers/events.js';

const object = { bucket: 'b', name: 'uploads/demo/doc_0123456789abcdef0123/a.pdf', generation: '1700000000000001', size: '10', contentType: 'application/pdf' };

describe('parseMessage', () => {
  it('decodes a finalize notification against the object-events contract', () => {
    const msg = parseMessage('object-events', finalizeEnvelope(object));
    assert.equal(msg.data.name, object.name);
    assert.equal(msg.attributes.eventType, 'OBJECT_FINALIZE');
    assert.equal(msg.attributes.objectGeneration, object.generation);
  });

  it('decodes an OCR request', () => {
    const req = {
      type: 'scriptorium.document.ocr.requested.v1' as const,
      jobId: 'job_0123456789abcdef0123',
      projectId: 'demo',
      documentId: 'doc_0123456789abcdef0123',
      source: { bucket: 'b', object: 'o', generation: '1' },
      contentType: 'application/pdf',
      requestedAt: new Date().toISOString(),
    };
    assert.deepEqual(parseMessage('ocr-requests', pushEnvelope('ocr-requests', req)).data, req);
  });

  const bad: [string, unknown][] = [
    ['a body that is not an envelope', { hello: 'world' }],
    ['data that is not JSON', { message: { data: Buffer.from('not json').toString('base64') } }],
    ['a message of another version', { message: { data: Buffer.from(JSON.stringify({ type: 'scriptorium.document.ocr.requested.v0', jobId: 'x' })).toString('base64') } }],
  ];
  for (const [name, body] of bad) {
    it(`rejects ${name} as a permanent error`, () => {
      assert.throws(() => parseMessage('ocr-requests', body), (err: unknown) => err instanceof PermanentError && !err.retryable);
    });
  }

  it('rejects a notification without the Cloud Storage attributes', () => {
    const env = pushEnvelope('object-events', object, {});
    assert.throws(() => parseMessage('object-events', env), PermanentError);
  });

  it('passes dead-lettered messages through raw with their attributes', () => {
    const env = { message: { data: Buffer.from('{"a":1}').toString('base64'), attributes: { CloudPubSubDeadLetterSourceDeliveryCount: '5' }, messageId: '7' } };
    const out = decodeEnvelope(env);
    assert.deepEqual(out.json, { a: 1 });
    assert.equal(out.attributes.CloudPubSubDeadLetterSourceDeliveryCount, '5');
    assert.equal(out.messageId, '7');
  });
});
