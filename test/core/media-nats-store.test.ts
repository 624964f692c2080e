/**
 * The JetStream object-store media store against a real nats-server: what one replica stores
 * every replica can serve, and quarantined bytes are never served.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { createNatsMediaStore } from '../../src/core/media/nats-store.ts';
import type { MediaStore } from '../../src/core/media/store.ts';
import { natsUrl, tempDir, uniquePrefix } from '../support/services.ts';

async function* chunks(...parts: Uint8Array[]) {
  for (const part of parts) yield part;
}

async function read(stream: AsyncIterable<Uint8Array> | null): Promise<Buffer | null> {
  if (!stream) return null;
  const out: Buffer[] = [];
  for await (const chunk of stream) out.push(Buffer.from(chunk));
  return Buffer.concat(out);
}

describe('NATS object-store media store', () => {
  let nc: NatsConnection;
  let a: MediaStore;
  let b: MediaStore;
  let bucket: string;
  beforeAll(async () => {
    nc = await connect({ servers: natsUrl() });
    bucket = `${uniquePrefix().toUpperCase()}_MEDIA`;
    // Two stores with their own staging dirs: two replicas on one NATS.
    a = createNatsMediaStore({ connection: () => nc, bucket, stagingDir: await tempDir() });
    b = createNatsMediaStore({ connection: () => nc, bucket, stagingDir: await tempDir() });
  });
  afterAll(async () => {
    await nc?.close();
  });

  it('serves from one replica what another stored, keyed by content hash', async () => {
    const bytes = new Uint8Array(300_000).map((_, i) => i % 251);
    const stored = await a.put(chunks(bytes.subarray(0, 100_000), bytes.subarray(100_000)), { maxBytes: 1_000_000 });
    expect(stored.size).toBe(300_000);
    expect(stored.head.byteLength).toBe(4100);
    expect(await b.exists(stored.key)).toBe(true);
    expect((await read(await b.open(stored.key)))!.equals(Buffer.from(bytes))).toBe(true);
  });

  it('keeps quarantined bytes unservable until promoted', async () => {
    const stored = await a.put(chunks(new Uint8Array([1, 2, 3, 4])), { maxBytes: 100, quarantine: true });
    expect(await b.open(stored.key)).toBeNull();
    await b.promote(stored.key);
    expect([...(await read(await a.open(stored.key)))!]).toEqual([1, 2, 3, 4]);
    await a.quarantine(stored.key);
    expect(await b.exists(stored.key)).toBe(false);
    await a.delete(stored.key);
    await expect(a.promote(stored.key)).rejects.toMatchObject({ code: 'not_found' });
  });

  it('refuses more bytes than allowed and stores nothing', async () => {
    await expect(a.put(chunks(new Uint8Array(50), new Uint8Array(60)), { maxBytes: 100 })).rejects.toMatchObject({ code: 'attachment_too_large' });
  });

  it('re-creates a bucket lost with a wiped NATS store', async () => {
    await a.put(chunks(new Uint8Array([9])), { maxBytes: 10 });
    const { jetstreamManager } = await import('@nats-io/jetstream');
    await (await jetstreamManager(nc)).streams.delete(`OBJ_${bucket}`);
    const stored = await a.put(chunks(new Uint8Array([7, 7])), { maxBytes: 10 });
    expect([...(await read(await b.open(stored.key)))!]).toEqual([7, 7]);
  });

  it('fails as channel_unavailable while NATS is not connected', async () => {
    const offline = createNatsMediaStore({ connection: () => null, bucket: 'X_MEDIA', stagingDir: await tempDir() });
    await expect(offline.put(chunks(new Uint8Array(1)), { maxBytes: 10 })).rejects.toMatchObject({ code: 'channel_unavailable' });
  });
});
