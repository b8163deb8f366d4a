/**
 * The pure authorization rules (shared/auth/roles.ts) and API key handling (shared/auth/api-keys.ts):
 * effective project roles for every kind of principal, the read/write gate, key format and hashing.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { accessRefusal, defaultAccess, effectiveRole, lesserRole, type ApiKeyGrant, type GlobalRole } from '../../shared/auth/roles.js';
import { generateApiKey, hashSecret, parseApiKey, secretMatches } from '../../shared/auth/api-keys.js';
import { presentedCredential } from '../../shared/auth/index.js';
import type { Role } from '../../shared/firestore/paths.js';

const key = (scopes: ApiKeyGrant['scopes'], projectId = 'p1'): { apiKey: ApiKeyGrant; globalRole: null } => ({ apiKey: { keyId: 'key_00000000000000000000', projectId, scopes }, globalRole: null });

describe('effectiveRole', () => {
  // [principal, member role in p1, project exists, expected]
  const cases: [string, { globalRole?: GlobalRole | null; apiKey?: ApiKeyGrant }, Role | null, boolean, Role | null][] = [
    ['global admin, not a member', { globalRole: 'admin' }, null, true, 'admin'],
    ['global admin, viewer member', { globalRole: 'admin' }, 'viewer', true, 'admin'],
    ['global admin, no such project', { globalRole: 'admin' }, null, false, null],
    ['global editor, admin member', { globalRole: 'editor' }, 'admin', true, 'admin'],
    ['global editor, editor member', { globalRole: 'editor' }, 'editor', true, 'editor'],
    ['global editor, viewer member', { globalRole: 'editor' }, 'viewer', true, 'viewer'],
    ['global editor, not a member', { globalRole: 'editor' }, null, true, null],
    ['global viewer, admin member (capped)', { globalRole: 'viewer' }, 'admin', true, 'viewer'],
    ['global viewer, editor member (capped)', { globalRole: 'viewer' }, 'editor', true, 'viewer'],
    ['global viewer, not a member', { globalRole: 'viewer' }, null, true, null],
    ['legacy caller (no global role), editor member', {}, 'editor', true, 'editor'],
    ['write key, its project', key(['read', 'write']), null, true, 'editor'],
    ['read key, its project', key(['read']), null, true, 'viewer'],
    ['key, its project deleted', key(['read', 'write']), null, false, null],
    ['key, another project (member role ignored)', key(['read', 'write'], 'p2'), 'admin', true, null],
  ];
  for (const [name, principal, memberRole, exists, expected] of cases) {
    it(`${name} → ${String(expected)}`, () => assert.equal(effectiveRole(principal, 'p1', memberRole, exists), expected));
  }
  it('lesserRole keeps the lesser', () => {
    assert.equal(lesserRole('admin', 'viewer'), 'viewer');
    assert.equal(lesserRole('editor', 'admin'), 'editor');
  });
});

describe('accessRefusal and defaultAccess', () => {
  it('treats GET and HEAD as reads, every other method as a change', () => {
    assert.deepEqual(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'].map(defaultAccess), ['read', 'read', 'write', 'write', 'write', 'write']);
  });
  it('refuses changes to read-only keys and global viewers, nothing else', () => {
    assert.ok(accessRefusal(key(['read']), 'write'));
    assert.equal(accessRefusal(key(['read']), 'read'), null);
    assert.equal(accessRefusal(key(['write']), 'write'), null);
    assert.ok(accessRefusal({ globalRole: 'viewer' }, 'write'));
    assert.equal(accessRefusal({ globalRole: 'viewer' }, 'read'), null);
    assert.equal(accessRefusal({ globalRole: 'editor' }, 'write'), null);
    assert.equal(accessRefusal({ globalRole: 'admin' }, 'write'), null);
  });
});

describe('API keys', () => {
  it('generates scr_ keys whose id and secret parse back, storing only the secret\'s SHA-256', () => {
    const k = generateApiKey();
    assert.match(k.key, /^scr_[0-9a-f]{20}_[A-Za-z0-9_-]{43}$/);
    assert.ok(k.key.startsWith(`${k.prefix}_`));
    const parsed = parseApiKey(k.key);
    assert.ok(parsed);
    assert.equal(parsed.keyId, k.keyId);
    assert.equal(k.hash, createHash('sha256').update(parsed.secret).digest('hex'));
    assert.ok(!k.hash.includes(parsed.secret));
    assert.ok(secretMatches(parsed.secret, k.hash));
    assert.ok(!secretMatches(parsed.secret.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A')), k.hash));
    assert.notEqual(generateApiKey().key, k.key);
  });
  it('refuses anything not shaped like a key, before any lookup', () => {
    for (const bad of ['', 'scr_', 'scr_xyz_abc', `sk_${'0'.repeat(20)}_${'A'.repeat(43)}`, `scr_${'0'.repeat(20)}_${'A'.repeat(42)}`, `scr_${'0'.repeat(20)}_${'A'.repeat(43)}/`]) {
      assert.equal(parseApiKey(bad), null, bad);
    }
  });
  it('compares against a malformed stored hash without throwing', () => {
    assert.equal(secretMatches('x', 'abc'), false);
    assert.equal(hashSecret('x').length, 64);
  });
});

describe('presentedCredential', () => {
  const k = `scr_${'0'.repeat(20)}_${'A'.repeat(43)}`;
  it('reads an ID token or a key from Authorization, a key from x-api-key', () => {
    assert.deepEqual(presentedCredential('Bearer abc.def.ghi', undefined), { kind: 'idToken', value: 'abc.def.ghi' });
    assert.deepEqual(presentedCredential(`Bearer ${k}`, undefined), { kind: 'apiKey', value: k });
    assert.deepEqual(presentedCredential(undefined, k), { kind: 'apiKey', value: k });
  });
  it('refuses no credential (401) and two at once (400)', () => {
    assert.throws(() => presentedCredential(undefined, undefined), (e: { status?: number }) => e.status === 401);
    assert.throws(() => presentedCredential('Basic x', undefined), (e: { status?: number }) => e.status === 401);
    assert.throws(() => presentedCredential('Bearer t', k), (e: { status?: number }) => e.status === 400);
  });
});
