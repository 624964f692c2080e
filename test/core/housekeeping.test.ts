/**
 * Housekeeping against real PostgreSQL, NATS and the disk: transient shared-state keys expire
 * (absent on read, re-creatable, swept), and stored media bytes that no media row references
 * are deleted once older than the grace period, in the file store and in the NATS object store,
 * by one replica at a time.
 */
import { Readable } from 'node:stream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { sql } from 'drizzle-orm';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.ts';
import { Housekeeping } from '../../src/core/housekeeping.ts';
import { createNatsMediaStore } from '../../src/core/media/nats-store.ts';
import { createFileMediaStore, type MediaStore } from '../../src/core/media/store.ts';
import { openDatabase, type Database } from '../../src/core/storage/db.ts';
import { rowsOf } from '../../src/core/storage/lease.ts';
import { media } from '../../src/core/storage/schema.ts';
import { createSharedState } from '../../src/core/storage/shared-state.ts';
import { createTestDatabase, natsUrl, tempDir, uniquePrefix, type TestDatabase } from '../support/services.ts';

const logger = pino({ level: 'silent' });
const DAY = 24 * 3600_000;

describe('housekeeping', () => {
  let database: TestDatabase;
  let db: Database;
  let nc: NatsConnection;

  beforeAll(async () => {
    database = await createTestDatabase();
    db = await openDatabase({ url: database.url, dataDir: await tempDir(), logger });
    await db.migrate();
    nc = await connect({ servers: natsUrl() });
  });
  afterAll(async () => {
    await nc?.close();
    await db?.close();
    await database?.drop();
  });

  const expiresAt = async (key: string) =>
    rowsOf<{ expires_at: Date | null }>(await db.db.execute(sql`select expires_at from shared_state where key = ${key}`))[0]?.expires_at ?? null;
  const expire = (key: string) => db.db.execute(sql`update shared_state set expires_at = now() - interval '1 second' where key = ${key}`);

  it('expires transient shared-state keys and sweeps them; keys without a ttl stay', async () => {
    const shared = createSharedState(db.db, 'wechat:acme');
    expect(await shared.put('sent:msg_1', '1', 0, { ttlMs: 60_000 })).toBe(true);
    expect(await shared.put('token', 'abc', 0)).toBe(true);
    expect(await expiresAt('wechat:acme:sent:msg_1')).not.toBeNull();
    expect(await expiresAt('wechat:acme:token')).toBeNull();
    expect(await shared.put('sent:msg_1', '2', 1, { ttlMs: 60_000 })).toBe(true);
    expect(await shared.get('sent:msg_1')).toEqual({ value: '2', revision: 2 });

    // Past its expiry the key is absent: neither readable, nor updatable, but creatable afresh.
    await expire('wechat:acme:sent:msg_1');
    expect(await shared.get('sent:msg_1')).toBeNull();
    expect(await shared.put('sent:msg_1', '3', 2, { ttlMs: 60_000 })).toBe(false);
    expect(await shared.put('sent:msg_1', 'fresh', 0, { ttlMs: 60_000 })).toBe(true);
    expect(await shared.get('sent:msg_1')).toEqual({ value: 'fresh', revision: 1 });

    await expire('wechat:acme:sent:msg_1');
    const round = await new Housekeeping({ db: db.db, store: createFileMediaStore(await tempDir()), clock: new ManualClock(Date.now()), logger, holder: 'h-state' }).runOnce();
    expect(round?.sharedStateExpired).toBe(1);
    expect(await expiresAt('wechat:acme:sent:msg_1')).toBeNull();
    expect(rowsOf(await db.db.execute(sql`select 1 from shared_state where key = 'wechat:acme:sent:msg_1'`))).toHaveLength(0);
    expect(await shared.get('token')).toEqual({ value: 'abc', revision: 1 });
    await db.db.execute(sql`delete from leases where name = 'housekeeping'`);
  });

  const stores: Array<[string, () => Promise<MediaStore>]> = [
    ['file store', async () => createFileMediaStore(await tempDir())],
    ['NATS object store', async () => createNatsMediaStore({ connection: () => nc, bucket: `${uniquePrefix().toUpperCase()}_MEDIA`, stagingDir: await tempDir() })],
  ];
  for (const [name, makeStore] of stores) {
    it(`deletes unreferenced bytes from the ${name} after the grace period, on one replica`, { timeout: 30_000 }, async () => {
      const store = await makeStore();
      const put = (text: string) => store.put(Readable.from([Buffer.from(text)]), { maxBytes: 1024, quarantine: text.includes('quarantined') });
      const kept = await put(`${name}: referenced bytes`);
      const orphan = await put(`${name}: orphaned bytes`);
      const orphanQuarantined = await put(`${name}: orphaned quarantined bytes`);
      const now = new Date();
      await db.db.insert(media).values({
        id: `med_${kept.key.slice(0, 12)}`, messageId: 'msg_x', partIndex: 0, channel: 'whatsapp', account: 'acme', status: 'ready',
        storageKey: kept.key, nextAttemptAt: now, createdAt: now, updatedAt: now,
      });
      const clock = new ManualClock(Date.now());
      const housekeeping = new Housekeeping({ db: db.db, store, clock, logger, holder: 'h1', mediaGraceMs: DAY });

      // Within the grace period nothing goes: a row may still be on its way.
      const fresh = await housekeeping.runOnce();
      expect(fresh?.media).toMatchObject({ deleted: 0 });
      expect(fresh!.media!.scanned).toBeGreaterThanOrEqual(3);

      // Another replica does not sweep while the lease is held.
      expect(await new Housekeeping({ db: db.db, store, clock, logger, holder: 'h2', mediaGraceMs: DAY }).runOnce()).toBeNull();

      clock.advance(2 * DAY);
      const later = await housekeeping.runOnce();
      expect(later?.media).toMatchObject({ deleted: 2, failed: 0 });
      expect(await store.exists(kept.key)).toBe(true);
      expect(await store.exists(orphan.key)).toBe(false);
      const listed = [];
      for await (const entry of store.list!()) listed.push(entry.key);
      expect(listed).toContain(kept.key);
      expect(listed).not.toContain(orphan.key);
      expect(listed).not.toContain(orphanQuarantined.key);
      await housekeeping.stop();
    });
  }
});
