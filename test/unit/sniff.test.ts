/**
 * Content sniffing on real corpus files (test/fixtures, see SOURCES.md) and on crafted bytes.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { deflateRawSync } from 'node:zlib';

import { contentTypesAgree, DOCX_TYPE, normalizeType, sniffContentType, sniffFile, zipEntries } from '../../shared/content/sniff.js';
import { fixturePath } from '../helpers/paths.js';

let work: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'sniff-test-'));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

/** A ZIP archive with the given entries (stored or deflated), central directory included. */
function zip(entries: readonly { name: string; data: string; deflate?: boolean }[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const raw = Buffer.from(e.data);
    const data = e.deflate ? deflateRawSync(raw) : raw;
    const name = Buffer.from(e.name);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(e.deflate ? 8 : 0, 8);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(raw.length, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(e.deflate ? 8 : 0, 10);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(raw.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, data);
    centrals.push(central, name);
    offset += local.length + name.length + data.length;
  }
  const dir = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(dir.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, dir, end]);
}

describe('sniffFile on corpus files', () => {
  const cases: [string, string, string][] = [
    ['pdf/minimal-document.pdf', 'application/pdf', 'pdf'],
    ['pdf/habibi-rotated.pdf', 'application/pdf', 'pdf'],
    ['pdf/libreoffice-writer-password.pdf', 'application/pdf', 'pdf'],
    ['ocr/phototest.tif', 'image/tiff', 'image'],
    ['ocr/habibi-scan.png', 'image/png', 'image'],
    ['ocr/phototest-rotated-180.png', 'image/png', 'image'],
    ['docx/footnotes.docx', DOCX_TYPE, 'docx'],
    ['docx/tables.docx', DOCX_TYPE, 'docx'],
    ['docx/simple-list.docx', DOCX_TYPE, 'docx'],
    ['docx/strict-format.docx', DOCX_TYPE, 'docx'],
    ['docx/utf8-bom.docx', DOCX_TYPE, 'docx'],
    ['docx/empty.docx', DOCX_TYPE, 'docx'],
    ['html/habibi.html', 'text/html', 'html'],
    ['ocr/phototest.txt', 'text/plain', 'text'],
    ['ocr/habibi-scan.txt', 'text/plain', 'text'],
    ['audio/sense_and_sensibility_01_austen_64kb-0880.wav', 'audio/wav', 'audio'],
    ['audio/bad.wav', 'audio/wav', 'audio'],
  ];
  for (const [file, type, family] of cases) {
    test(`${file}: ${type} (${family})`, async () => {
      const r = await sniffFile(fixturePath(file));
      assert.equal(r.type, type);
      assert.equal(r.family, family);
    });
  }

  test('the same bytes, whatever was declared: a PDF declared as an image is a PDF', async () => {
    assert.equal((await sniffFile(fixturePath('pdf/minimal-document.pdf'), 'image/png')).family, 'pdf');
    assert.equal((await sniffFile(fixturePath('docx/tables.docx'), 'application/zip')).family, 'docx');
  });

  test('Markdown only when declared or named so; the bytes are plain text', async () => {
    const path = fixturePath('ocr/phototest.txt');
    assert.deepEqual(await sniffFile(path, 'text/markdown'), { type: 'text/markdown', family: 'markdown', charset: 'utf-8' });
    assert.deepEqual(await sniffFile(path, 'text/x-markdown; charset=utf-8'), { type: 'text/markdown', family: 'markdown', charset: 'utf-8' });
    assert.equal((await sniffFile(path, 'text/plain', { name: 'README.md' })).family, 'markdown');
    assert.equal((await sniffFile(path, 'text/plain')).family, 'text');
  });

  test('a DOCX whose document part comes late is found through the central directory', async () => {
    const filler = Array.from({ length: 40 }, (_, i) => ({ name: `customXml/item${i}.xml`, data: 'x'.repeat(2048) }));
    const bytes = zip([{ name: '[Content_Types].xml', data: '<Types/>' }, ...filler, { name: 'word/document.xml', data: '<w:document/>', deflate: true }]);
    assert.ok(bytes.length > 64 * 1024, 'document part beyond the sniffed head');
    const path = join(work, 'late.docx');
    await writeFile(path, bytes);
    assert.equal((await sniffFile(path)).family, 'docx');
    // From the first bytes alone, walking the local headers, it is only a ZIP.
    assert.equal(sniffContentType(bytes.subarray(0, 4096)).type, 'application/zip');
    assert.equal(sniffContentType(bytes, undefined, { complete: true }).family, 'docx');
  });
});

describe('sniffContentType on crafted bytes', () => {
  const b = (...parts: (string | number[])[]): Buffer => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));
  const sniff = (bytes: Buffer, declared?: string): string => {
    const r = sniffContentType(bytes, declared, { complete: true });
    return `${r.type} ${r.family}`;
  };

  test('images and PDF by signature', () => {
    assert.equal(sniff(b('%PDF-1.7\n')), 'application/pdf pdf');
    assert.equal(sniff(b('garbage before the header %PDF-1.4\n')), 'application/pdf pdf');
    assert.equal(sniff(b([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13])), 'image/png image');
    assert.equal(sniff(b([0xff, 0xd8, 0xff, 0xe0, 0, 16])), 'image/jpeg image');
    assert.equal(sniff(b('II*\0', [8, 0, 0, 0])), 'image/tiff image');
    assert.equal(sniff(b('MM\0*', [0, 0, 0, 8])), 'image/tiff image');
    assert.equal(sniff(b('GIF89a', [1, 0, 1, 0])), 'image/gif image');
    const bmp = Buffer.alloc(54);
    bmp.write('BM', 0, 'latin1');
    bmp.writeUInt32LE(54, 2);
    bmp.writeUInt32LE(54, 10);
    bmp.writeUInt32LE(40, 14);
    assert.equal(sniff(bmp), 'image/bmp image');
    assert.equal(sniff(b('BMW drivers like text files too.\n')), 'text/plain text');
    assert.equal(sniff(b('RIFF', [0, 0, 0, 0], 'WEBPVP8 ')), 'image/webp image');
  });

  test('audio and video containers are reported as such', () => {
    assert.equal(sniff(b('RIFF', [36, 0, 0, 0], 'WAVEfmt ')), 'audio/wav audio');
    assert.equal(sniff(b('RIFF', [36, 0, 0, 0], 'AVI LIST')), 'video/x-msvideo video');
    assert.equal(sniff(b('ID3', [4, 0, 0, 0, 0, 0, 0])), 'audio/mpeg audio');
    // Two MPEG-1 layer III frames at 128 kbps, 44.1 kHz (417 bytes each), no ID3 tag.
    const frame = Buffer.alloc(417);
    frame.set([0xff, 0xfb, 0x90, 0x00]);
    assert.equal(sniff(Buffer.concat([frame, frame])), 'audio/mpeg audio');
    assert.equal(sniff(b('OggS', [0, 2], 'x'.repeat(22), [1], 'OpusHead')), 'audio/ogg audio');
    assert.equal(sniff(b('OggS', [0, 2], 'x'.repeat(22), [0x80], 'theora')), 'video/ogg video');
    assert.equal(sniff(b('fLaC', [0, 0, 0, 34])), 'audio/flac audio');
    assert.equal(sniff(b([0, 0, 0, 0x20], 'ftypisom', [0, 0, 2, 0], 'isomiso2avc1mp41')), 'video/mp4 video');
    assert.equal(sniff(b([0, 0, 0, 0x20], 'ftypM4A ', [0, 0, 0, 0], 'M4A mp42isom')), 'audio/mp4 audio');
    assert.equal(sniff(b([0, 0, 0, 0x18], 'ftypqt  ', [0, 0, 2, 0], 'qt  ')), 'video/quicktime video');
    assert.equal(sniff(b([0, 0, 0, 0x18], 'ftypheic', [0, 0, 0, 0], 'mif1heic')), 'image/heic unknown');
    assert.equal(sniff(b([0x1a, 0x45, 0xdf, 0xa3, 0x9f, 0x42, 0x86, 0x81, 0x01, 0x42, 0x82, 0x84], 'webm')), 'video/webm video');
    assert.equal(sniff(b([0x1a, 0x45, 0xdf, 0xa3, 0x9f, 0x42, 0x86, 0x81, 0x01, 0x42, 0x82, 0x88], 'matroska')), 'video/x-matroska video');
  });

  test('ZIP: DOCX by its document part; other Office and ZIP files are unsupported', () => {
    assert.equal(sniff(zip([{ name: '[Content_Types].xml', data: '<Types/>' }, { name: 'word/document.xml', data: '<w:document/>' }])), `${DOCX_TYPE} docx`);
    assert.equal(sniff(zip([{ name: 'xl/workbook.xml', data: '<workbook/>' }])), 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet unknown');
    assert.equal(sniff(zip([{ name: 'ppt/presentation.xml', data: '<p/>' }])), 'application/vnd.openxmlformats-officedocument.presentationml.presentation unknown');
    assert.equal(sniff(zip([{ name: 'mimetype', data: 'application/vnd.oasis.opendocument.text' }, { name: 'content.xml', data: '<x/>' }])), 'application/vnd.oasis.opendocument unknown');
    assert.equal(sniff(zip([{ name: 'notes.txt', data: 'hello' }])), 'application/zip unknown');
    assert.deepEqual(
      zipEntries(zip([{ name: 'a.txt', data: 'hello' }, { name: 'b.txt', data: 'hello hello', deflate: true }])).map((e) => [e.name, e.size]),
      [['a.txt', 5], ['b.txt', 11]],
    );
    assert.equal(sniff(b([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1])), 'application/x-ole-storage unknown');
  });

  test('HTML after a BOM, whitespace, comments or an XML declaration', () => {
    assert.equal(sniff(b('<!DOCTYPE html><p>x')), 'text/html html');
    assert.equal(sniff(Buffer.from('\uFEFF  \n<!-- generated -->\n<!doctype HTML>\n<html>')), 'text/html html');
    assert.equal(sniff(b('<?xml version="1.0"?>\n<html xmlns="http://www.w3.org/1999/xhtml">')), 'text/html html');
    assert.equal(sniff(b('<html lang="ar" dir="rtl">')), 'text/html html');
    assert.equal(sniff(b('<htmlx>not html</htmlx>')), 'text/plain text');
    assert.equal(sniff(b('# Title\n\n<div>inline html in markdown</div>'), 'text/markdown'), 'text/markdown markdown');
  });

  test('text: UTF-8, UTF-16 with a BOM; binary garbage is octet-stream', () => {
    assert.deepEqual(sniffContentType(Buffer.from('حَبيبي habibi\n'), undefined, { complete: true }), { type: 'text/plain', family: 'text', charset: 'utf-8' });
    assert.deepEqual(sniffContentType(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('Grüße', 'utf16le')])), { type: 'text/plain', family: 'text', charset: 'utf-16le' });
    assert.deepEqual(sniffContentType(Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from('Grüße', 'utf16le').swap16()])), { type: 'text/plain', family: 'text', charset: 'utf-16be' });
    assert.equal(sniff(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('<!DOCTYPE html><title>t</title>', 'utf16le')])), 'text/html html');
    // A head cut inside a multi-byte character is still text; the same bytes as a whole file are not.
    const cut = Buffer.from('Grüße aus Köln, ü').subarray(0, -1);
    assert.equal(sniffContentType(cut).family, 'text');
    assert.equal(sniffContentType(cut, undefined, { complete: true }).family, 'unknown');
    assert.equal(sniff(Buffer.from([0x48, 0x69, 0xe9, 0x20, 0x74, 0x68, 0x65, 0x72, 0x65])), 'application/octet-stream unknown'); // Latin-1 'é'
    assert.equal(sniff(Buffer.from('text with a NUL\0 inside')), 'application/octet-stream unknown');
    const random = Buffer.alloc(4096);
    for (let i = 0; i < random.length; i++) random[i] = (i * 2654435761) >>> 24;
    assert.equal(sniff(random), 'application/octet-stream unknown');
    assert.equal(sniff(Buffer.alloc(0)), 'text/plain text');
  });

  test('headerless PCM (goforward.raw-style) is not mistaken for anything', async () => {
    const wav = await readFile(fixturePath('audio/sense_and_sensibility_01_austen_64kb-0880.wav'));
    assert.equal(sniff(wav.subarray(44, 44 + 8192)), 'application/octet-stream unknown');
  });
});

describe('declared vs detected', () => {
  test('aliases and what bytes cannot tell apart agree; real mismatches do not', () => {
    assert.equal(normalizeType('Image/JPG; q=1'), 'image/jpeg');
    assert.ok(contentTypesAgree('image/jpg', 'image/jpeg'));
    assert.ok(contentTypesAgree('image/pjpeg', { type: 'image/jpeg', family: 'image' }));
    assert.ok(contentTypesAgree('text/plain', 'text/markdown'));
    assert.ok(contentTypesAgree('text/markdown', 'text/plain'));
    assert.ok(contentTypesAgree('text/csv', 'text/plain'));
    assert.ok(contentTypesAgree('audio/x-wav', 'audio/wav'));
    assert.ok(contentTypesAgree('audio/mp3', 'audio/mpeg'));
    assert.ok(contentTypesAgree('audio/webm', 'video/webm'));
    assert.ok(contentTypesAgree('application/octet-stream', 'application/pdf'));
    assert.ok(contentTypesAgree(undefined, 'image/png'));
    assert.ok(contentTypesAgree('application/xhtml+xml', 'text/html'));
    assert.ok(!contentTypesAgree('image/png', 'application/pdf'));
    assert.ok(!contentTypesAgree('text/plain', 'text/html'));
    assert.ok(!contentTypesAgree('application/pdf', 'audio/wav'));
    assert.ok(!contentTypesAgree('application/zip', DOCX_TYPE));
  });
});
