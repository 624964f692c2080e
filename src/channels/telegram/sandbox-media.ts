/**
 * Files in the fake Bot API, by `file_id`: what a simulated user sent (`putMedia`) and what the
 * bot uploaded. The bytes live in the sandbox kit's media store (retention, size cap); this
 * file adds only Telegram's naming: a long `file_id`, a short `file_unique_id`, and the
 * `file_path` getFile hands out for `/file/bot<token>/<file_path>` downloads.
 */
import { randomBytes } from 'node:crypto';
import type { Clock } from '../../core/clock.ts';
import { MediaStore } from '../../sandbox/index.ts';

/** One stored file. */
export interface FakeFile {
  /** Telegram's `file_id`: long base64url text. */
  id: string;
  /** Telegram's `file_unique_id`: short, stable, not usable to send. */
  uniqueId: string;
  bytes: Uint8Array;
  mime: string;
  filename?: string;
  /** The `file_path` getFile hands out, e.g. `documents/file_3.pdf`. */
  path: string;
  size: number;
  sha256: string;
}

const FOLDERS: ReadonlyArray<[RegExp, string, string]> = [
  [/^image\/(jpeg|png)$/, 'photos', 'jpg'],
  [/^image\/webp$/, 'stickers', 'webp'],
  [/^image\/gif$/, 'animations', 'gif'],
  [/^video\//, 'videos', 'mp4'],
  [/^audio\/ogg$/, 'voice', 'oga'],
  [/^audio\//, 'music', 'mp3'],
];

/** Telegram keeps a bot's files for long; a month is plenty for a sandbox. */
const RETENTION_MS = 30 * 24 * 3600_000;

/** The fake's files. */
export class FakeFileStore {
  readonly #store: MediaStore;
  readonly #names = new Map<string, { uniqueId: string; path: string }>();
  readonly #byPath = new Map<string, string>();
  #counter = 0;

  constructor(clock: Clock) {
    this.#store = new MediaStore({ clock, newId: () => `BQACAgIAAxkB${randomBytes(36).toString('base64url')}` });
  }

  /** Stores bytes; returns the new file. */
  put(bytes: Uint8Array, mime: string, filename?: string): FakeFile {
    const base = mime.split(';')[0]!.trim().toLowerCase();
    const [, folder, ext] = FOLDERS.find(([pattern]) => pattern.test(base)) ?? [null, 'documents', extensionOf(filename) ?? 'bin'];
    const stored = this.#store.put(bytes, base, { owner: null, retentionMs: RETENTION_MS, ...(filename !== undefined ? { filename } : {}) });
    const path = `${folder}/file_${this.#counter++}.${ext}`;
    this.#names.set(stored.id, { uniqueId: `AgAD${randomBytes(8).toString('base64url')}`, path });
    this.#byPath.set(path, stored.id);
    return this.get(stored.id)!;
  }

  get(id: string): FakeFile | undefined {
    const names = this.#names.get(id);
    const stored = names === undefined ? undefined : this.#store.get(id);
    if (names === undefined || stored === undefined) {
      // Evicted by the kit's retention or size cap: forget its names too.
      if (names !== undefined) {
        this.#names.delete(id);
        this.#byPath.delete(names.path);
      }
      return undefined;
    }
    return {
      id,
      uniqueId: names.uniqueId,
      bytes: stored.bytes,
      mime: stored.mime,
      path: names.path,
      size: stored.bytes.byteLength,
      sha256: stored.sha256,
      ...(stored.filename !== undefined ? { filename: stored.filename } : {}),
    };
  }

  byPath(path: string): FakeFile | undefined {
    const id = this.#byPath.get(path);
    return id === undefined ? undefined : this.get(id);
  }
}

function extensionOf(filename: string | undefined): string | undefined {
  const match = filename === undefined ? null : /\.([A-Za-z0-9]{1,8})$/.exec(filename);
  return match === null ? undefined : match[1]!.toLowerCase();
}
