/**
 * A fake platform's media: bytes in memory with the platform's retention on the fake's clock,
 * a cap on the bytes held (a sandbox daemon can run for weeks; past the cap the oldest object
 * goes), and two kinds of download link: signed expiring URLs (`signedLink`/`openSignedLink`,
 * Meta's lookaside shape) and a per-object unguessable key (`accessKey`, WeChat's token-free
 * `video_url`).
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../core/clock.ts';

/** One media object held by a fake. */
export interface StoredMedia {
  id: string;
  bytes: Uint8Array;
  /** As uploaded, parameters kept (`audio/ogg; codecs=opus`). */
  mime: string;
  /** Lower-case hex. */
  sha256: string;
  filename?: string;
  /** The platform's own classification (WeChat's upload `type`), when the fake keeps one. */
  kind?: string;
  /** The account key that uploaded it; null for media a simulated customer sent (every account may read it). */
  owner: string | null;
  /** Fake-clock milliseconds. */
  createdAt: number;
  expiresAt: number;
  /** An unguessable key for a token-free download route (32 hex characters). */
  accessKey: string;
}

/** How a store makes ids and how much it holds. */
export interface MediaStoreOptions {
  clock: Clock;
  /** The platform's id format (Meta: 16 digits; WeChat: 64 characters of base64url). */
  newId(): string;
  /** Past this many bytes the oldest objects are dropped; default 256 MiB. */
  maxBytes?: number;
}

/** The parts of a signed download link; the channel lays them out in its own URL shape. */
export interface SignedLink {
  id: string;
  /** Expiry, Unix seconds, as a string. */
  expires: string;
  /** base64url HMAC over id and expiry, 30 characters. */
  signature: string;
}

const DEFAULT_MAX_BYTES = 256 * 1024 * 1024;

/** In-memory media with retention, a size cap, signed expiring links and access keys. */
export class MediaStore {
  readonly #items = new Map<string, StoredMedia>();
  readonly #byAccessKey = new Map<string, StoredMedia>();
  readonly #urlKey = randomBytes(32);
  readonly #clock: Clock;
  readonly #newId: () => string;
  readonly #maxBytes: number;
  #storedBytes = 0;

  /** A store on the fake's clock. */
  constructor(options: MediaStoreOptions) {
    this.#clock = options.clock;
    this.#newId = options.newId;
    this.#maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  }

  /** Store bytes (kept as given: pass a copy if the caller may change them) and return the new object. */
  put(bytes: Uint8Array, mime: string, options: { owner: string | null; retentionMs: number; filename?: string; kind?: string }): StoredMedia {
    this.#prune();
    let id = this.#newId();
    while (this.#items.has(id)) id = this.#newId();
    const now = this.#now();
    const media: StoredMedia = {
      id,
      bytes,
      mime,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      owner: options.owner,
      createdAt: now,
      expiresAt: now + options.retentionMs,
      accessKey: randomBytes(16).toString('hex'),
      ...(options.filename !== undefined ? { filename: options.filename } : {}),
      ...(options.kind !== undefined ? { kind: options.kind } : {}),
    };
    this.#items.set(id, media);
    this.#byAccessKey.set(media.accessKey, media);
    this.#storedBytes += bytes.byteLength;
    this.#evictOverflow();
    return media;
  }

  /** The live object with this id, if any. */
  get(id: string): StoredMedia | undefined {
    this.#prune();
    return this.#items.get(id);
  }

  /** The live object with this id if `owner` may read it (its uploader, or anyone for customer media). */
  getFor(id: string, owner: string): StoredMedia | undefined {
    const media = this.get(id);
    return media !== undefined && (media.owner === null || media.owner === owner) ? media : undefined;
  }

  /** The live object behind an access key. */
  byAccessKey(key: string): StoredMedia | undefined {
    this.#prune();
    return this.#byAccessKey.get(key);
  }

  /** Remove an object; false when it did not exist. */
  delete(id: string): boolean {
    const media = this.#items.get(id);
    if (media === undefined) return false;
    this.#items.delete(id);
    this.#byAccessKey.delete(media.accessKey);
    this.#storedBytes -= media.bytes.byteLength;
    return true;
  }

  /** Bytes held now (for tests of the cap). */
  get storedBytes(): number {
    return this.#storedBytes;
  }

  /** A fresh signed link to an object, valid `ttlMs` on the fake's clock. */
  signedLink(media: StoredMedia, ttlMs: number): SignedLink {
    const expires = String(Math.floor((this.#now() + ttlMs) / 1000));
    return { id: media.id, expires, signature: this.#sign(media.id, expires) };
  }

  /** Check a signed link: the object when valid and live, or why not (a tampered link is `invalid`). */
  openSignedLink(link: Partial<SignedLink>): StoredMedia | 'expired' | 'invalid' {
    const id = link.id ?? '';
    const expires = link.expires ?? '';
    const given = Buffer.from(link.signature ?? '');
    const expected = Buffer.from(this.#sign(id, expires));
    if (!/^\d+$/.test(expires) || given.length !== expected.length || !timingSafeEqual(given, expected)) return 'invalid';
    if (this.#now() >= Number(expires) * 1000) return 'expired';
    return this.get(id) ?? 'expired';
  }

  #now(): number {
    return this.#clock.now().getTime();
  }

  #sign(id: string, expires: string): string {
    return createHmac('sha256', this.#urlKey).update(`${id}:${expires}`).digest('base64url').slice(0, 30);
  }

  #prune(): void {
    const now = this.#now();
    for (const [id, media] of this.#items) if (media.expiresAt <= now) this.delete(id);
  }

  #evictOverflow(): void {
    // Map iteration is insertion order, so the first entries are the oldest.
    for (const id of this.#items.keys()) {
      if (this.#storedBytes <= this.#maxBytes) return;
      this.delete(id);
    }
  }
}
