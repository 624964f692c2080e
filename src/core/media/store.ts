/**
 * Content-addressed media bytes on the local disk. Keys are SHA-256 hashes computed while the
 * bytes stream in, never anything a provider sent (file names are display metadata only, see
 * `sanitizeFilename`), so a key cannot point outside the store. Quarantined bytes live in a
 * separate tree that `open` never reads.
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdir, open as openFile, readdir, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { OmniError } from '../errors.ts';
import { DETECTION_HEAD_BYTES } from './detect.ts';

/** What `put` stored. */
export interface StoredMedia {
  /** The storage key: the lowercase hex SHA-256 of the bytes. */
  key: string;
  sha256: string;
  size: number;
  /** The first 4100 bytes (or all of them), for type detection. */
  head: Uint8Array;
}

/** Options of `put`. */
export interface PutOptions {
  /** Reject with `attachment_too_large` once more bytes than this arrive. */
  maxBytes: number;
  /** Store straight into quarantine (bytes not proven acceptable yet; see `promote`). */
  quarantine?: boolean;
  signal?: AbortSignal;
}

/** Where media bytes live; the daemon uses the file store, tests may use another. */
export interface MediaStore {
  /** Streams bytes in while hashing and capping; stores them under their hash. */
  put(source: AsyncIterable<Uint8Array>, options: PutOptions): Promise<StoredMedia>;
  /** The servable bytes of a key, or null (unknown, malformed or quarantined key). */
  open(key: string): Promise<AsyncIterable<Uint8Array> | null>;
  /** Whether the key has servable bytes. */
  exists(key: string): Promise<boolean>;
  /** Moves servable bytes to quarantine; idempotent. NOTE: affects every message sharing these bytes. */
  quarantine(key: string): Promise<void>;
  /** Moves quarantined bytes back to the servable tree (the accept step after `put({ quarantine: true })`). */
  promote(key: string): Promise<void>;
  /** Removes the bytes from both trees; idempotent. */
  delete(key: string): Promise<void>;
  /**
   * Every stored key (both trees) with when its bytes were last written, for the sweep of
   * bytes no media row references (purge.ts). Optional: a store without it is not swept.
   */
  list?(): AsyncIterable<{ key: string; storedAt: Date }>;
}

const KEY_PATTERN = /^[0-9a-f]{64}$/;

type Area = 'media' | 'quarantine';

/** A MediaStore under `rootDir`: `media/<sha[0..2]>/<sha>`, `quarantine/<sha[0..2]>/<sha>`, `tmp/`. */
export function createFileMediaStore(rootDir: string): MediaStore {
  const pathOf = (area: Area, key: string) => join(rootDir, area, key.slice(0, 2), key);
  const tmpDir = join(rootDir, 'tmp');

  async function put(source: AsyncIterable<Uint8Array>, options: PutOptions): Promise<StoredMedia> {
    await mkdir(tmpDir, { recursive: true });
    // Same filesystem as the final trees, so the rename below is atomic.
    const tmpPath = join(tmpDir, `${randomUUID()}.part`);
    const handle = await openFile(tmpPath, 'wx', 0o600);
    let open = true;
    try {
      const hash = createHash('sha256');
      const head = new Uint8Array(DETECTION_HEAD_BYTES);
      let size = 0;
      for await (const chunk of source) {
        options.signal?.throwIfAborted();
        if (size + chunk.byteLength > options.maxBytes) {
          throw new OmniError('attachment_too_large', `media exceeds ${options.maxBytes} bytes`, {
            details: { maxBytes: options.maxBytes },
          });
        }
        if (size < head.byteLength) head.set(chunk.subarray(0, head.byteLength - size), size);
        hash.update(chunk);
        await writeAll(handle, chunk);
        size += chunk.byteLength;
      }
      // Durable before it becomes visible: a crash must not leave a renamed but empty file.
      await handle.sync();
      await handle.close();
      open = false;
      const key = hash.digest('hex');
      const target = pathOf(options.quarantine ? 'quarantine' : 'media', key);
      await mkdir(dirname(target), { recursive: true });
      // Concurrent puts of the same bytes rename identical files onto one path: last one wins.
      await rename(tmpPath, target);
      return { key, sha256: key, size, head: head.slice(0, Math.min(size, head.byteLength)) };
    } catch (error) {
      if (open) await handle.close().catch(() => undefined); // the original error is what matters
      await rm(tmpPath, { force: true });
      throw error;
    }
  }

  async function open(key: string): Promise<AsyncIterable<Uint8Array> | null> {
    if (!KEY_PATTERN.test(key)) return null;
    let handle: FileHandle;
    try {
      // Opening first (not stat, then read) means a concurrent quarantine cannot race us into an error.
      handle = await openFile(pathOf('media', key), 'r');
    } catch (error) {
      if (isMissing(error)) return null;
      throw error;
    }
    return handle.createReadStream();
  }

  async function exists(key: string): Promise<boolean> {
    return KEY_PATTERN.test(key) && (await isFile(pathOf('media', key)));
  }

  async function move(key: string, from: Area, to: Area): Promise<'moved' | 'absent'> {
    const target = pathOf(to, checkedKey(key));
    await mkdir(dirname(target), { recursive: true });
    try {
      await rename(pathOf(from, key), target);
      return 'moved';
    } catch (error) {
      if (isMissing(error)) return 'absent';
      throw error;
    }
  }

  return {
    put,
    open,
    exists,
    async quarantine(key) {
      // Absent is fine: the goal, "not servable", already holds (or a concurrent call got there first).
      await move(key, 'media', 'quarantine');
    },
    async promote(key) {
      if ((await move(key, 'quarantine', 'media')) === 'absent' && !(await isFile(pathOf('media', key)))) {
        throw new OmniError('not_found', 'no quarantined media with this key');
      }
    },
    async delete(key) {
      checkedKey(key);
      await rm(pathOf('media', key), { force: true });
      await rm(pathOf('quarantine', key), { force: true });
    },
    async *list() {
      for (const area of ['media', 'quarantine'] as const) {
        for (const shard of await entries(join(rootDir, area))) {
          for (const key of await entries(join(rootDir, area, shard))) {
            if (!KEY_PATTERN.test(key)) continue;
            const info = await stat(pathOf(area, key)).catch(() => null);
            if (info?.isFile()) yield { key, storedAt: info.mtime };
          }
        }
      }
    },
  };
}

/** The names in a directory; none when it does not exist (yet). */
async function entries(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (error) {
    if (isMissing(error)) return [];
    throw error;
  }
}

async function writeAll(handle: FileHandle, chunk: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < chunk.byteLength) {
    const { bytesWritten } = await handle.write(chunk, offset, chunk.byteLength - offset);
    offset += bytesWritten;
  }
}

function checkedKey(key: string): string {
  if (!KEY_PATTERN.test(key)) throw new OmniError('invalid_request', 'not a media key');
  return key;
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch (error) {
    if (isMissing(error)) return false;
    throw error;
  }
}

function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

const MAX_FILENAME_CHARS = 200;
const MAX_EXT_CHARS = 16;
// C0/C1 controls, bidi embeddings/overrides/isolates and marks (RLO makes `gpj.exe` read `exe.jpg`),
// zero-width space, BOM, and line/paragraph separators. ZWJ/ZWNJ stay: scripts and emoji need them.
const UNSAFE_CHARS = /[\u0000-\u001f\u007f-\u009f\u061c\u200b\u200e\u200f\u202a-\u202e\u2028\u2029\u2066-\u2069\ufeff]/g;

/**
 * A provider file name made safe to show (never used as a path): NFC, last path segment only,
 * no control or bidi characters, at most 200 characters keeping the extension; `file` if empty.
 */
export function sanitizeFilename(name: string): string {
  const segments = name.normalize('NFC').replace(UNSAFE_CHARS, '').split(/[/\\]/);
  const last = segments.filter((segment) => segment.trim() !== '').pop() ?? '';
  const trimmed = last.trim();
  if (trimmed === '' || /^\.+$/.test(trimmed)) return 'file';
  const chars = Array.from(trimmed); // code points, so a surrogate pair is never cut in half
  if (chars.length <= MAX_FILENAME_CHARS) return trimmed;
  const dot = trimmed.lastIndexOf('.');
  const ext = dot > 0 ? Array.from(trimmed.slice(dot)) : [];
  if (ext.length === 0 || ext.length > MAX_EXT_CHARS) return chars.slice(0, MAX_FILENAME_CHARS).join('');
  return chars.slice(0, MAX_FILENAME_CHARS - ext.length).join('') + ext.join('');
}
