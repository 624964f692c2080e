/**
 * Signed, expiring media links: `GET /v1/media/{id}?expires=<unix s>&signature=<hex>` serves
 * the bytes without an API token until `expires`. The signing key is generated once and kept
 * in PostgreSQL, so a link minted on one replica works on every other.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { SharedState } from '../adapter.ts';

/** Longest lifetime a link may be given. */
export const MAX_LINK_SECONDS = 7 * 24 * 3600;

/** Mints and checks media links. */
export interface MediaLinkSigner {
  sign(mediaId: string, expiresAt: number): Promise<string>;
  verify(mediaId: string, expires: string | undefined, signature: string | undefined, now: number): Promise<boolean>;
}

/** A signer whose key lives in shared state (created on first use, compare-and-set). */
export function createMediaLinkSigner(shared: SharedState): MediaLinkSigner {
  let key: Promise<Buffer> | null = null;
  const loadKey = async (): Promise<Buffer> => {
    for (;;) {
      const existing = await shared.get('media-link-key');
      if (existing) return Buffer.from(existing.value, 'hex');
      if (await shared.put('media-link-key', randomBytes(32).toString('hex'), 0)) continue;
    }
  };
  const mac = async (mediaId: string, expires: number) => {
    key ??= loadKey().catch((error: unknown) => {
      key = null;
      throw error;
    });
    return createHmac('sha256', await key).update(`${mediaId}.${expires}`).digest();
  };
  return {
    async sign(mediaId, expiresAt) {
      return (await mac(mediaId, expiresAt)).toString('hex');
    },
    async verify(mediaId, expires, signature, now) {
      if (!expires || !signature || !/^\d{1,12}$/.test(expires) || !/^[0-9a-f]{64}$/.test(signature)) return false;
      const at = Number(expires);
      if (at < now / 1000) return false;
      return timingSafeEqual(await mac(mediaId, at), Buffer.from(signature, 'hex'));
    },
  };
}
