import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OmniError } from '../../src/core/errors.ts';
import { createFileMediaStore, sanitizeFilename, type MediaStore } from '../../src/core/media/store.ts';

async function* chunksOf(bytes: Uint8Array, size = 1000): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < bytes.length; offset += size) yield bytes.subarray(offset, offset + size);
}

async function readAll(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.concat(chunks);
}

async function filesUnder(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { recursive: true, withFileTypes: true }))
      .filter((entry) => entry.isFile())
      .map((entry) => join(entry.parentPath, entry.name));
  } catch {
    return []; // the tree was never created
  }
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

describe('file media store', () => {
  let root: string;
  let store: MediaStore;
  const bytes = Buffer.from(Array.from({ length: 10_000 }, (_, i) => (i * 31) % 256));

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'omnibus-media-'));
    store = createFileMediaStore(root);
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('round-trips bytes under their sha256, keeping the first 4100 bytes as head', async () => {
    const stored = await store.put(chunksOf(bytes, 777), { maxBytes: 1_000_000 });
    expect(stored.key).toBe(sha256(bytes));
    expect(stored.sha256).toBe(stored.key);
    expect(stored.size).toBe(bytes.length);
    expect(Buffer.from(stored.head)).toEqual(bytes.subarray(0, 4100));
    expect(await filesUnder(join(root, 'media'))).toEqual([join(root, 'media', stored.key.slice(0, 2), stored.key)]);
    expect(await store.exists(stored.key)).toBe(true);
    expect(await readAll((await store.open(stored.key))!)).toEqual(bytes);
    expect(await filesUnder(join(root, 'tmp'))).toEqual([]);
  });

  it('a small file has a head of its own size', async () => {
    const stored = await store.put(chunksOf(Buffer.from('tiny')), { maxBytes: 100 });
    expect(Buffer.from(stored.head).toString()).toBe('tiny');
  });

  it('stores identical content once, also when the puts run concurrently', async () => {
    const results = await Promise.all(Array.from({ length: 5 }, () => store.put(chunksOf(bytes), { maxBytes: 1_000_000 })));
    expect(new Set(results.map((r) => r.key)).size).toBe(1);
    expect(await filesUnder(join(root, 'media'))).toHaveLength(1);
    expect(await filesUnder(join(root, 'tmp'))).toEqual([]);
  });

  it('rejects past maxBytes with attachment_too_large and leaves nothing behind', async () => {
    let pulled = 0;
    async function* endless() {
      for (;;) {
        pulled += 1;
        yield new Uint8Array(1000);
      }
    }
    const failure = await store.put(endless(), { maxBytes: 5000 }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(OmniError);
    expect((failure as OmniError).code).toBe('attachment_too_large');
    expect(pulled).toBe(6); // stopped reading at the chunk that crossed the cap
    expect(await filesUnder(root)).toEqual([]);
  });

  it('exactly maxBytes is accepted', async () => {
    const stored = await store.put(chunksOf(new Uint8Array(5000)), { maxBytes: 5000 });
    expect(stored.size).toBe(5000);
  });

  it('a failing source leaves nothing behind and its error comes through', async () => {
    async function* broken() {
      yield new Uint8Array(100);
      throw new Error('connection reset');
    }
    await expect(store.put(broken(), { maxBytes: 5000 })).rejects.toThrow('connection reset');
    expect(await filesUnder(root)).toEqual([]);
  });

  it('quarantined bytes are never served, and quarantine is idempotent', async () => {
    const stored = await store.put(chunksOf(bytes), { maxBytes: 1_000_000 });
    await store.quarantine(stored.key);
    await store.quarantine(stored.key);
    expect(await store.open(stored.key)).toBeNull();
    expect(await store.exists(stored.key)).toBe(false);
    expect(await filesUnder(join(root, 'media'))).toEqual([]);
    expect(await filesUnder(join(root, 'quarantine'))).toEqual([join(root, 'quarantine', stored.key.slice(0, 2), stored.key)]);
  });

  it('put into quarantine, then promote once the type is accepted', async () => {
    const stored = await store.put(chunksOf(bytes), { maxBytes: 1_000_000, quarantine: true });
    expect(await store.open(stored.key)).toBeNull();
    await store.promote(stored.key);
    expect(await readAll((await store.open(stored.key))!)).toEqual(bytes);
    await store.promote(stored.key); // already servable: fine
    await expect(store.promote('0'.repeat(64))).rejects.toMatchObject({ code: 'not_found' });
  });

  it('delete removes both copies and is idempotent', async () => {
    const stored = await store.put(chunksOf(bytes), { maxBytes: 1_000_000 });
    await store.delete(stored.key);
    await store.delete(stored.key);
    expect(await store.open(stored.key)).toBeNull();
    expect(await filesUnder(root)).toEqual([]);
  });

  it('keys are hashes only: anything else is never opened', async () => {
    const stored = await store.put(chunksOf(bytes), { maxBytes: 1_000_000 });
    for (const key of ['../../etc/passwd', `../media/${stored.key.slice(0, 2)}/${stored.key}`, stored.key.toUpperCase(), `${stored.key}\0`, '']) {
      expect(await store.open(key)).toBeNull();
      expect(await store.exists(key)).toBe(false);
      await expect(store.quarantine(key)).rejects.toMatchObject({ code: 'invalid_request' });
      await expect(store.delete(key)).rejects.toMatchObject({ code: 'invalid_request' });
    }
    expect(await store.exists(stored.key)).toBe(true);
  });

  it('an aborted put leaves nothing behind', async () => {
    const controller = new AbortController();
    async function* slow() {
      yield new Uint8Array(10);
      controller.abort(new Error('shutting down'));
      yield new Uint8Array(10);
    }
    await expect(store.put(slow(), { maxBytes: 1000, signal: controller.signal })).rejects.toThrow('shutting down');
    expect(await filesUnder(root)).toEqual([]);
  });
});

describe('sanitizeFilename (bad-input test 22)', () => {
  it.each([
    ['../../etc/passwd', 'passwd'],
    ['..\\..\\x', 'x'],
    ['C:\\Users\\kerry\\invoice.pdf', 'invoice.pdf'],
    ['a\u0000.jpg', 'a.jpg'],
    ['invoice\u202egpj.exe', 'invoicegpj.exe'], // RTL override: the real extension shows
    ['\u2067evil\u2069.pdf', 'evil.pdf'],
    ['line\nbreak\r.txt', 'linebreak.txt'],
    ['tab\there\u0085.txt', 'tabhere.txt'],
    ['zero\u200bwidth\ufeff.png', 'zerowidth.png'],
    ['  spaced.doc  ', 'spaced.doc'],
    ['', 'file'],
    ['..', 'file'],
    ['/', 'file'],
    ['\u202e', 'file'],
    ['dir/', 'dir'],
    ['👩‍👩‍👧 family.jpg', '👩‍👩‍👧 family.jpg'], // ZWJ sequences survive
  ])('%j → %j', (name, expected) => {
    expect(sanitizeFilename(name)).toBe(expected);
  });

  it('names differing only by Unicode normalisation come out identical (NFC)', () => {
    const decomposed = 'cafe\u0301.pdf';
    const composed = 'caf\u00e9.pdf';
    expect(decomposed).not.toBe(composed);
    expect(sanitizeFilename(decomposed)).toBe(sanitizeFilename(composed));
    expect(sanitizeFilename(decomposed)).toBe(composed);
  });

  it('caps 1,000-character names at 200 characters, keeping the extension', () => {
    const result = sanitizeFilename(`${'a'.repeat(1000)}.jpg`);
    expect(Array.from(result)).toHaveLength(200);
    expect(result.endsWith('.jpg')).toBe(true);
    expect(Array.from(sanitizeFilename('b'.repeat(1000)))).toHaveLength(200);
  });

  it('never splits a surrogate pair when truncating', () => {
    const result = sanitizeFilename('😀'.repeat(300));
    expect(Array.from(result)).toHaveLength(200);
    expect(result).toBe('😀'.repeat(200));
  });
});
