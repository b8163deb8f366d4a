import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseConfig, redactedConfig } from '../../shared/config/index.js';

describe('parseConfig', () => {
  const base = { GOOGLE_CLOUD_PROJECT: 'demo-x', SCRIPTORIUM_BUCKET: 'demo-x-documents' };

  it('applies defaults', () => {
    const c = parseConfig(base);
    assert.equal(c.SCRIPTORIUM_MAX_UPLOAD_BYTES, 100 * 1024 * 1024);
    assert.equal(c.SCRIPTORIUM_SIGNED_URL_TTL_SECONDS, 900);
    assert.equal(c.SCRIPTORIUM_OCR_ENGINE, 'local');
    assert.equal(c.SCRIPTORIUM_MAX_ATTEMPTS, 5);
  });

  it('coerces numbers from strings', () => {
    assert.equal(parseConfig({ ...base, SCRIPTORIUM_MAX_UPLOAD_BYTES: '1024' }).SCRIPTORIUM_MAX_UPLOAD_BYTES, 1024);
  });

  it('fails fast naming every bad variable', () => {
    assert.throws(
      () => parseConfig({ SCRIPTORIUM_MAX_UPLOAD_BYTES: '-3', SCRIPTORIUM_OCR_ENGINE: 'magic' }),
      (err: unknown) => err instanceof ConfigError && /GOOGLE_CLOUD_PROJECT/.test(err.message) && /SCRIPTORIUM_BUCKET/.test(err.message) && /SCRIPTORIUM_MAX_UPLOAD_BYTES/.test(err.message) && /SCRIPTORIUM_OCR_ENGINE/.test(err.message),
    );
  });

  describe('google OCR engine', () => {
    const processor = 'projects/demo-x/locations/eu/processors/0123456789abcdef';

    it('accepts a processor resource name (or a processor version) and an optional endpoint', () => {
      const c = parseConfig({ ...base, SCRIPTORIUM_OCR_ENGINE: 'google', SCRIPTORIUM_DOCUMENTAI_PROCESSOR: processor });
      assert.equal(c.SCRIPTORIUM_OCR_ENGINE, 'google');
      assert.equal(c.SCRIPTORIUM_DOCUMENTAI_PROCESSOR, processor);
      assert.equal(c.SCRIPTORIUM_DOCUMENTAI_ENDPOINT, undefined);
      for (const endpoint of ['eu-documentai.googleapis.com', '127.0.0.1:50051', 'localhost:8080', '[::1]:9000']) {
        assert.equal(parseConfig({ ...base, SCRIPTORIUM_DOCUMENTAI_PROCESSOR: `${processor}/processorVersions/pretrained-ocr-v2.0-2023-06-02`, SCRIPTORIUM_DOCUMENTAI_ENDPOINT: endpoint }).SCRIPTORIUM_DOCUMENTAI_ENDPOINT, endpoint);
      }
    });

    it('requires the processor when the engine is google, naming the variable', () => {
      assert.throws(
        () => parseConfig({ ...base, SCRIPTORIUM_OCR_ENGINE: 'google' }),
        (err: unknown) => err instanceof ConfigError && /SCRIPTORIUM_DOCUMENTAI_PROCESSOR: required when SCRIPTORIUM_OCR_ENGINE is google/.test(err.message),
      );
      // Blank is unset (deploy tooling often cannot omit a key).
      assert.throws(() => parseConfig({ ...base, SCRIPTORIUM_OCR_ENGINE: 'google', SCRIPTORIUM_DOCUMENTAI_PROCESSOR: '' }), /SCRIPTORIUM_DOCUMENTAI_PROCESSOR/);
      // ...also alongside other problems, so one run names them all.
      assert.throws(
        () => parseConfig({ SCRIPTORIUM_OCR_ENGINE: 'google' }),
        (err: unknown) => err instanceof ConfigError && /GOOGLE_CLOUD_PROJECT/.test(err.message) && /SCRIPTORIUM_DOCUMENTAI_PROCESSOR/.test(err.message),
      );
      assert.equal(parseConfig({ ...base, SCRIPTORIUM_OCR_ENGINE: 'local' }).SCRIPTORIUM_DOCUMENTAI_PROCESSOR, undefined, 'not needed by the local engine');
    });

    it('rejects a processor that is not a full resource name, and a malformed endpoint', () => {
      for (const bad of ['0123456789abcdef', 'projects/p/processors/x', 'projects/p/locations/eu/processors/']) {
        assert.throws(() => parseConfig({ ...base, SCRIPTORIUM_OCR_ENGINE: 'google', SCRIPTORIUM_DOCUMENTAI_PROCESSOR: bad }), /SCRIPTORIUM_DOCUMENTAI_PROCESSOR: expected projects/, bad);
      }
      for (const bad of ['https://eu-documentai.googleapis.com', 'host:port', 'a b']) {
        assert.throws(() => parseConfig({ ...base, SCRIPTORIUM_DOCUMENTAI_ENDPOINT: bad }), /SCRIPTORIUM_DOCUMENTAI_ENDPOINT/, bad);
      }
      assert.equal(parseConfig({ ...base, SCRIPTORIUM_DOCUMENTAI_ENDPOINT: '' }).SCRIPTORIUM_DOCUMENTAI_ENDPOINT, undefined);
    });
  });

  it('refuses a signed URL lifetime over the V4 maximum of 7 days', () => {
    assert.throws(() => parseConfig({ ...base, SCRIPTORIUM_SIGNED_URL_TTL_SECONDS: '604801' }), /SIGNED_URL_TTL_SECONDS/);
    assert.equal(parseConfig({ ...base, SCRIPTORIUM_SIGNED_URL_TTL_SECONDS: '604800' }).SCRIPTORIUM_SIGNED_URL_TTL_SECONDS, 604800);
  });

  it('redacts the signing key path', () => {
    const view = redactedConfig(parseConfig({ ...base, SCRIPTORIUM_SIGNING_KEY_FILE: '/secret/key.json' }));
    assert.equal(view.SCRIPTORIUM_SIGNING_KEY_FILE, '[set]');
    assert.ok(!JSON.stringify(view).includes('/secret/key.json'));
  });

  it('checks the engine limits at start and names what is wrong', () => {
    assert.throws(() => parseConfig({ ...base, SCRIPTORIUM_ENGINE_LIMITS: '{"documentai":{"concurrency":0}}' }), /SCRIPTORIUM_ENGINE_LIMITS/);
    assert.throws(() => parseConfig({ ...base, SCRIPTORIUM_ENGINE_LIMITS: '{"nosuchengine":{}}' }), /SCRIPTORIUM_ENGINE_LIMITS/);
    assert.throws(() => parseConfig({ ...base, SCRIPTORIUM_ENGINE_LIMITS: 'not json' }), /SCRIPTORIUM_ENGINE_LIMITS/);
    assert.equal(parseConfig({ ...base, SCRIPTORIUM_ENGINE_LIMITS: '{"documentai":{"ratePerSecond":2,"concurrency":1}}' }).SCRIPTORIUM_ENGINE_LIMITS, '{"documentai":{"ratePerSecond":2,"concurrency":1}}');
  });
});
