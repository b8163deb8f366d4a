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

  it('redacts the signing key path', () => {
    const view = redactedConfig(parseConfig({ ...base, SCRIPTORIUM_SIGNING_KEY_FILE: '/secret/key.json' }));
    assert.equal(view.SCRIPTORIUM_SIGNING_KEY_FILE, '[set]');
    assert.ok(!JSON.stringify(view).includes('/secret/key.json'));
  });
});
