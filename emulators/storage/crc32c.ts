/**
 * CRC32C (Castagnoli), slicing-by-8. Local instead of `@google-cloud/storage`'s `CRC32C` so the
 * emulator does not load the whole client library (and its auth stack) at start-up; a unit test
 * checks both agree.
 */

const POLY = 0x82f63b78;
/** 8 tables of 256 entries: TABLE[t * 256 + b]. */
const TABLE = new Uint32Array(8 * 256);
for (let i = 0; i < 256; i++) {
  let c = i;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
  TABLE[i] = c >>> 0;
}
for (let t = 1; t < 8; t++) {
  for (let i = 0; i < 256; i++) {
    const prev = TABLE[(t - 1) * 256 + i] ?? 0;
    TABLE[t * 256 + i] = (prev >>> 8) ^ (TABLE[prev & 0xff] ?? 0);
  }
}

const at = (i: number): number => TABLE[i] ?? 0;

/** Continues a CRC32C over `buf` (start with 0). */
export function crc32cUpdate(crc: number, buf: Uint8Array): number {
  let c = ~crc >>> 0;
  let i = 0;
  const n = buf.length;
  while (n - i >= 8) {
    const lo = (c ^ ((buf[i] ?? 0) | ((buf[i + 1] ?? 0) << 8) | ((buf[i + 2] ?? 0) << 16) | ((buf[i + 3] ?? 0) << 24))) >>> 0;
    c =
      at(7 * 256 + (lo & 0xff)) ^
      at(6 * 256 + ((lo >>> 8) & 0xff)) ^
      at(5 * 256 + ((lo >>> 16) & 0xff)) ^
      at(4 * 256 + (lo >>> 24)) ^
      at(3 * 256 + (buf[i + 4] ?? 0)) ^
      at(2 * 256 + (buf[i + 5] ?? 0)) ^
      at(256 + (buf[i + 6] ?? 0)) ^
      at(buf[i + 7] ?? 0);
    i += 8;
  }
  while (i < n) c = at((c ^ (buf[i++] ?? 0)) & 0xff) ^ (c >>> 8);
  return ~c >>> 0;
}

/** Incremental CRC32C with GCS's encoding: base64 of the big-endian 32-bit value. */
export class Crc32c {
  private value = 0;
  update(buf: Uint8Array): void {
    this.value = crc32cUpdate(this.value, buf);
  }
  toString(): string {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(this.value);
    return b.toString('base64');
  }
}
