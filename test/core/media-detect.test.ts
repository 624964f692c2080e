import { describe, expect, it } from 'vitest';
import { detectMediaType, isAllowedExt, partTypeForMime } from '../../src/core/media/detect.ts';

// Minimal files with real magic numbers, built here so every byte is visible in the test.
const ascii = (text: string) => Buffer.from(text, 'latin1');
const u32be = (value: number) => Buffer.from([value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255]);
const u32le = (value: number) => Buffer.from([value & 255, (value >>> 8) & 255, (value >>> 16) & 255, value >>> 24]);
const file = (...parts: Buffer[]) => {
  const body = Buffer.concat(parts);
  return Buffer.concat([body, Buffer.alloc(Math.max(0, 512 - body.length))]);
};
const oggPage = (payload: Buffer) => {
  const header = Buffer.alloc(27);
  header.write('OggS', 0, 'latin1');
  header[5] = 2; // beginning of stream
  header.writeUInt32LE(1, 14); // serial number
  header[26] = 1; // one segment
  return file(header, Buffer.from([payload.length]), payload);
};

const SAMPLES = {
  jpg: file(Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16]), ascii('JFIF\0'), Buffer.from([1, 1, 0, 0, 1, 0, 1, 0, 0])),
  png: file(Buffer.from([0x89]), ascii('PNG\r\n\x1a\n'), u32be(13), ascii('IHDR'), u32be(1), u32be(1), Buffer.from([8, 2, 0, 0, 0])),
  gif: file(ascii('GIF89a'), Buffer.from([1, 0, 1, 0, 0, 0, 0])),
  pdf: file(ascii('%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n')),
  mp4: file(u32be(24), ascii('ftypisom'), u32be(512), ascii('isommp41')),
  m4a: file(u32be(24), ascii('ftypM4A '), u32be(0), ascii('M4A isom')),
  opus: oggPage(Buffer.concat([ascii('OpusHead'), Buffer.from([1, 1, 0x38, 1, 0x80, 0xbb, 0, 0, 0, 0, 0])])),
  vorbis: oggPage(Buffer.concat([Buffer.from([1]), ascii('vorbis'), Buffer.alloc(23)])),
  mp3: file(ascii('ID3'), Buffer.from([3, 0, 0, 0, 0, 0, 0, 0xff, 0xfb, 0x90, 0x64])),
  amr: file(ascii('#!AMR\n')),
  zip: file(ascii('PK'), Buffer.from([3, 4, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0]), ascii('a.txt')),
  webp: file(ascii('RIFF'), u32le(30), ascii('WEBPVP8 '), u32le(18)),
  elf: file(Buffer.from([0x7f]), ascii('ELF'), Buffer.from([2, 1, 1, 0])),
  pe: file(ascii('MZ'), Buffer.from([0x90, 0, 3, 0, 0, 0, 4, 0, 0, 0, 0xff, 0xff])),
};

describe('detectMediaType', () => {
  // What file-type 21 returns, in the contract's names.
  it.each([
    ['jpg', 'image/jpeg', 'jpg'],
    ['png', 'image/png', 'png'],
    ['gif', 'image/gif', 'gif'],
    ['pdf', 'application/pdf', 'pdf'],
    ['mp4', 'video/mp4', 'mp4'],
    ['m4a', 'audio/mp4', 'm4a'], // file-type: audio/x-m4a
    ['opus', 'audio/ogg; codecs=opus', 'ogg'], // file-type: ext opus
    ['vorbis', 'audio/ogg', 'ogg'],
    ['mp3', 'audio/mpeg', 'mp3'],
    ['amr', 'audio/amr', 'amr'],
    ['zip', 'application/zip', 'zip'],
    ['webp', 'image/webp', 'webp'],
    ['elf', 'application/x-elf', 'elf'],
    ['pe', 'application/x-msdownload', 'exe'],
  ] as const)('%s → %s (.%s)', async (sample, mime, ext) => {
    expect(await detectMediaType(SAMPLES[sample])).toEqual({ mime, ext });
  });

  it('an executable named .jpg is an executable, allowed on no channel', async () => {
    const whatsappAllow = ['pdf', 'mp4', 'mp3', 'ogg', 'amr', 'jpg', 'jpeg', 'png'];
    for (const sample of [SAMPLES.elf, SAMPLES.pe]) {
      const type = await detectMediaType(sample);
      expect(type).not.toBeNull();
      expect(isAllowedExt(type!.ext, whatsappAllow)).toBe(false);
    }
  });

  it.each([
    ['SVG with an XML declaration', '<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'],
    ['bare SVG', '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"></svg>'],
    ['HTML', '<!DOCTYPE html><html><body><script>alert(1)</script></body></html>'],
    ['XHTML', '<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"></html>'],
    ['plain text', 'just some words'],
    ['JSON', '{"not":"media"}'],
    ['vCard', 'BEGIN:VCARD\r\nVERSION:3.0\r\nFN:x\r\nEND:VCARD\r\n'],
  ])('%s is never trusted: null', async (_name, text) => {
    expect(await detectMediaType(ascii(text))).toBeNull();
  });

  it('unknown bytes and empty input are null', async () => {
    expect(await detectMediaType(new Uint8Array(600).fill(7))).toBeNull();
    expect(await detectMediaType(new Uint8Array(0))).toBeNull();
  });

  it('a JPEG+ZIP polyglot is detected as what its header says (jpg): magic bytes are not sufficient', async () => {
    // Documented behaviour, not a feature: the media route serves bytes as attachment + nosniff.
    const polyglot = Buffer.concat([SAMPLES.jpg, SAMPLES.zip]);
    expect(await detectMediaType(polyglot)).toEqual({ mime: 'image/jpeg', ext: 'jpg' });
  });

  it('only looks at the first 4100 bytes', async () => {
    const late = Buffer.concat([Buffer.alloc(5000), SAMPLES.png]);
    expect(await detectMediaType(late)).toBeNull();
  });

  it('a malformed MKV returns promptly (CVE-2022-36313 class)', async () => {
    // EBML header with absurd element sizes and an unknown-size segment.
    const mkv = Buffer.concat([
      Buffer.from([0x1a, 0x45, 0xdf, 0xa3, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
      Buffer.from([0x42, 0x82, 0x88]),
      ascii('matroska'),
      Buffer.from([0x18, 0x53, 0x80, 0x67, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]),
      Buffer.alloc(4000, 0xec),
    ]);
    const started = performance.now();
    await detectMediaType(mkv);
    // Generous on purpose: the point is "returns at all", which a shared, loaded box may slow.
    expect(performance.now() - started).toBeLessThan(10_000);
  });

  it('stops a detector that loops without yielding to timers, at the time budget', async () => {
    // A timer alone cannot end this loop: only the tokenizer's read-time deadline does.
    const looping = {
      id: 'never-ends',
      detect: async (tokenizer: { peekBuffer(buffer: Uint8Array, options?: object): Promise<number> }) => {
        for (;;) await tokenizer.peekBuffer(new Uint8Array(1), { mayBeLess: true });
      },
    };
    const result = await detectMediaType(SAMPLES.jpg, { budgetMs: 50, customDetectors: [looping as never] });
    expect(result).toBeNull();
  });

  it('a zero budget refuses to decide', async () => {
    expect(await detectMediaType(SAMPLES.jpg, { budgetMs: 0 })).toBeNull();
  });
});

describe('isAllowedExt', () => {
  it('treats jpg and jpeg as one type, case and a leading dot aside', () => {
    expect(isAllowedExt('jpg', ['jpeg'])).toBe(true);
    expect(isAllowedExt('jpeg', ['jpg'])).toBe(true);
    expect(isAllowedExt('JPG', ['.jpeg'])).toBe(true);
    expect(isAllowedExt('png', ['jpg', 'jpeg'])).toBe(false);
    expect(isAllowedExt('m4a', ['mp4'])).toBe(false);
    expect(isAllowedExt('exe', [])).toBe(false);
  });
});

describe('partTypeForMime', () => {
  it.each([
    ['image/jpeg', 'image'],
    ['image/webp', 'image'],
    ['video/mp4', 'video'],
    ['audio/ogg; codecs=opus', 'voice'],
    ['audio/ogg; codecs="opus"', 'voice'],
    ['audio/ogg', 'audio'],
    ['audio/mpeg', 'audio'],
    ['audio/amr', 'audio'],
    ['application/pdf', 'file'],
    ['application/zip', 'file'],
    ['application/x-msdownload', 'file'],
  ])('%s → %s', (mime, part) => {
    expect(partTypeForMime(mime)).toBe(part);
  });
});
