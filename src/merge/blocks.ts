/**
 * Pairs a human split apart with an unmerge. Automatic merge must not undo that decision on
 * the next message that carries the same phone, so it skips blocked pairs; a manual merge
 * still may join them. Blocks are stored by contact id and read through aliases, so they keep
 * holding after either side is merged into something else.
 */
import { inArray, or } from 'drizzle-orm';
import type { Db, Tx } from '../core/storage/db.ts';
import { contacts, mergeBlocks } from '../core/storage/schema.ts';

/** Records that `a` and `b` must not be merged automatically. */
export async function addBlock(tx: Tx, a: string, b: string, logId: string, at: Date): Promise<void> {
  const [contactA, contactB] = a < b ? [a, b] : [b, a];
  await tx.insert(mergeBlocks).values({ contactA, contactB, logId, createdAt: at }).onConflictDoUpdate({
    target: [mergeBlocks.contactA, mergeBlocks.contactB],
    set: { logId, createdAt: at },
  });
}

/** A predicate over two live contact ids: true when a block (through any alias) separates them. */
export async function blockedBetween(tx: Db | Tx, liveIds: ReadonlyArray<string>): Promise<(a: string, b: string) => boolean> {
  if (liveIds.length < 2) return () => false;
  const members = await tx
    .select({ id: contacts.id, mergedInto: contacts.mergedInto })
    .from(contacts)
    .where(or(inArray(contacts.id, [...liveIds]), inArray(contacts.mergedInto, [...liveIds])));
  const liveOf = new Map(members.map((row) => [row.id, row.mergedInto ?? row.id]));
  const ids = [...liveOf.keys()];
  const blocks = await tx
    .select()
    .from(mergeBlocks)
    .where(or(inArray(mergeBlocks.contactA, ids), inArray(mergeBlocks.contactB, ids)));
  const pairs = new Set<string>();
  for (const block of blocks) {
    const a = liveOf.get(block.contactA);
    const b = liveOf.get(block.contactB);
    if (a && b && a !== b) pairs.add(a < b ? `${a} ${b}` : `${b} ${a}`);
  }
  return (a, b) => pairs.has(a < b ? `${a} ${b}` : `${b} ${a}`);
}
