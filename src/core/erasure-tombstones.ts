/**
 * Tombstones of erased identities. Once a person's data is erased (a WeChat unsubscribe), the
 * daemon still has to know two things about the platform id it no longer stores: a send to it
 * is refused as `recipient_unreachable` (not `unknown_contact`), and a platform retry of a
 * message sent before the erasure must not bring the person back. So the erase leaves a row
 * holding only an HMAC-SHA256 of the platform id on its channel and account, keyed with a
 * secret generated once per installation and kept in the database (shared by every replica),
 * and the platform time of the erasure. The hash cannot be reversed without that key, and the
 * key is never exported.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { and, eq, sql } from 'drizzle-orm';
import type { InboundMessage } from './adapter.ts';
import type { Db, Tx } from './storage/db.ts';
import { rowsOf } from './storage/lease.ts';
import { erasureTombstones, sharedState } from './storage/schema.ts';

/** The `shared_state` key of the installation's tombstone key. */
const SECRET_KEY = 'daemon:erasure-tombstone-key';

/** The account an id lives on. */
export interface TombstoneScope {
  channel: string;
  account: string;
}

/** The installation's key; created on the first erasure (inside its transaction). */
async function tombstoneSecret(tx: Db | Tx, create: boolean): Promise<Buffer | null> {
  const read = async () => {
    const [row] = await tx.select({ value: sharedState.value }).from(sharedState).where(eq(sharedState.key, SECRET_KEY)).limit(1);
    return row ? Buffer.from(row.value, 'hex') : null;
  };
  const existing = await read();
  if (existing || !create) return existing;
  // A concurrent first erasure inserts the same key: one wins, both read the winner's.
  await tx
    .insert(sharedState)
    .values({ key: SECRET_KEY, value: randomBytes(32).toString('hex'), revision: 1, updatedAt: new Date() })
    .onConflictDoNothing();
  return read();
}

function hashOf(secret: Buffer, scope: TombstoneScope, externalId: string): string {
  return createHmac('sha256', secret).update(JSON.stringify([scope.channel, scope.account, externalId])).digest('hex');
}

/**
 * Records that these platform ids (an identity's id and its aliases) were erased at `at`
 * (platform time). A later erasure of the same id moves the time forward, never back.
 */
export async function recordTombstones(tx: Tx, scope: TombstoneScope, externalIds: ReadonlyArray<string>, at: Date): Promise<void> {
  const ids = [...new Set(externalIds.filter(Boolean))];
  if (ids.length === 0) return;
  const secret = (await tombstoneSecret(tx, true))!;
  await tx
    .insert(erasureTombstones)
    .values(ids.map((externalId) => ({ ...scope, key: hashOf(secret, scope, externalId), erasedAt: at })))
    .onConflictDoUpdate({
      target: [erasureTombstones.channel, erasureTombstones.account, erasureTombstones.key],
      set: { erasedAt: sql`greatest(${erasureTombstones.erasedAt}, excluded.erased_at)` },
    });
}

/** When this platform id was last erased on the account, or null if never. */
export async function erasedAt(db: Db | Tx, scope: TombstoneScope, externalId: string): Promise<Date | null> {
  // Accounts that never erased anyone (every channel but WeChat) pay one index probe and no key read.
  const any = rowsOf<{ one: number }>(
    await db.execute(sql`select 1 as one from erasure_tombstones where channel = ${scope.channel} and account = ${scope.account} limit 1`),
  );
  if (any.length === 0) return null;
  const secret = await tombstoneSecret(db, false);
  if (!secret) return null;
  const [row] = await db
    .select({ erasedAt: erasureTombstones.erasedAt })
    .from(erasureTombstones)
    .where(and(eq(erasureTombstones.channel, scope.channel), eq(erasureTombstones.account, scope.account), eq(erasureTombstones.key, hashOf(secret, scope, externalId))))
    .limit(1);
  return row?.erasedAt ?? null;
}

/**
 * The erasure race: a platform retry of a message sent before the person unsubscribed can
 * arrive after the erase, and recording it would recreate the identity. A message whose
 * platform timestamp is not after the erasure of its sender is dropped and counted as ignored
 * (`erased`); a message sent after it (the person came back) is recorded as a new identity.
 * Returns true when the message was dropped.
 */
export async function dropIfErased(tx: Tx, scope: TombstoneScope, event: Pick<InboundMessage, 'sender' | 'timestamp'>, ignored: Record<string, number>): Promise<boolean> {
  for (const externalId of [event.sender.externalId, ...(event.sender.aliases ?? [])]) {
    if (!externalId) continue;
    const at = await erasedAt(tx, scope, externalId);
    if (at && event.timestamp.getTime() <= at.getTime()) {
      ignored.erased = (ignored.erased ?? 0) + 1;
      return true;
    }
  }
  return false;
}
