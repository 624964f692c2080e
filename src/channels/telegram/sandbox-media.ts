/**
 * Files in the fake Bot API, by `file_id`: what a simulated user sent (`putMedia`) and what the
 * bot uploaded. Generic on purpose (bytes, mime, name, a download path), so it can give way to
 * the shared sandbox kit's media store later.
 */
import { createHash, randomBytes } from 'node:crypto';

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

/** The fake's files. */
export class FakeFileStore {
  readonly #byId = new Map<string, FakeFile>();
  readonly #byPath = new Map<string, FakeFile>();
  #counter = 0;

  /** Stores bytes; returns the new file. */
  put(bytes: Uint8Array, mime: string, filename?: string): FakeFile {
    const base = mime.split(';')[0]!.trim().toLowerCase();
    const [, folder, ext] = FOLDERS.find(([pattern]) => pattern.test(base)) ?? [null, 'documents', extensionOf(filename) ?? 'bin'];
    const file: FakeFile = {
      id: `BQACAgIAAxkB${randomBytes(36).toString('base64url')}`,
      uniqueId: `AgAD${randomBytes(8).toString('base64url')}`,
      bytes,
      mime: base,
      path: `${folder}/file_${this.#counter++}.${ext}`,
      size: bytes.byteLength,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      ...(filename !== undefined ? { filename } : {}),
    };
    this.#byId.set(file.id, file);
    this.#byPath.set(file.path, file);
    return file;
  }

  get(id: string): FakeFile | undefined {
    return this.#byId.get(id);
  }

  byPath(path: string): FakeFile | undefined {
    return this.#byPath.get(path);
  }
}

function extensionOf(filename: string | undefined): string | undefined {
  const match = filename === undefined ? null : /\.([A-Za-z0-9]{1,8})$/.exec(filename);
  return match === null ? undefined : match[1]!.toLowerCase();
}
