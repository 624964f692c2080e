/**
 * Generic part of the LINE fake: an in-memory media store (bytes by id). Kept apart from the
 * LINE routes so it can be swapped for the shared sandbox kit. Ids are 18 digits, the shape of
 * LINE message ids, because a LINE user's media is fetched by its message's id.
 */
import { createHash, randomInt } from 'node:crypto';

/** One stored object. */
export interface StoredMedia {
  id: string;
  bytes: Uint8Array;
  mime: string;
  filename?: string;
  sha256: string;
  /** Content requests still answered 202 (LINE preparing a video or audio). */
  pendingPolls: number;
  /** Answered 410 from now on (the user unsent the message, or it expired). */
  gone: boolean;
}

/** Media kept by the fake, by id. */
export class FakeMediaStore {
  readonly #items = new Map<string, StoredMedia>();

  put(bytes: Uint8Array, mime: string, filename?: string, pendingPolls = 0): StoredMedia {
    let id: string;
    do id = `${randomInt(100_000_000, 999_999_999)}${randomInt(100_000_000, 999_999_999)}`;
    while (this.#items.has(id));
    const media: StoredMedia = {
      id,
      bytes,
      mime,
      ...(filename !== undefined ? { filename } : {}),
      sha256: createHash('sha256').update(bytes).digest('hex'),
      pendingPolls,
      gone: false,
    };
    this.#items.set(id, media);
    return media;
  }

  get(id: string): StoredMedia | undefined {
    return this.#items.get(id);
  }
}
