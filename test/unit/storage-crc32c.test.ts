/** The emulator's CRC32C agrees with the client library's (which `file.save()` validates against). */
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CRC32C } from '@google-cloud/storage';
import { Crc32c } from '../../emulators/storage/crc32c.js';

describe('CRC32C', () => {
  it('matches @google-cloud/storage for assorted lengths and chunkings', () => {
    for (const n of [0, 1, 7, 8, 9, 63, 64, 1000, 65_537]) {
      const data = randomBytes(n);
      const ref = new CRC32C();
      ref.update(data);
      const mine = new Crc32c();
      for (let i = 0; i < n; i += 13) mine.update(data.subarray(i, i + 13));
      assert.equal(mine.toString(), ref.toString(), `length ${n}`);
    }
    const known = new Crc32c();
    known.update(Buffer.from('data'));
    assert.equal(known.toString(), 'rth90Q==');
  });
});
