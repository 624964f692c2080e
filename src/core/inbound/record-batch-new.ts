/**
 * The first sightings of a set-based batch: identities (with their contacts) and conversations
 * the batch opens, inserted before any message names them, two statements per account sent
 * together. A concurrent transaction (another replica, another batch) may have created the same
 * sender or conversation meanwhile: its unique key makes our insert a no-op, and the loser is
 * then read back and locked as a known row, exactly what the set-based path does for a sender
 * or a conversation it found stored. A conversation whose sender lost is inserted again naming
 * the winner's identity. Whatever still cannot be settled aborts the batch (`SetRaceUnsettled`):
 * group commit then records each webhook alone, and a lone webhook is answered 503 and
 * redelivered, so no message is lost or stored twice.
 */
import type { Tx } from '../storage/db.ts';
import type { IdentityResolver, KnownIdentity } from '../ports/identity-resolver.ts';
import { insertConversations, lockConversations, type NewConversationRow } from './record-batch-sql.ts';
import { conversationOf, type ScopeState } from './record-batch-state.ts';

/** A race the set-based path could not settle in the transaction; retried from scratch. */
export class SetRaceUnsettled extends Error {
  override readonly name = 'SetRaceUnsettled';
  constructor() {
    super('set-based recording lost a race it could not settle; the batch is recorded again');
  }
}

/** Rounds of insert-then-read-back before giving up (a lost sender costs its conversation one more). */
const ROUNDS = 3;

/** Creates the batch's new identities and conversations; settles the ones that lost a race. */
export async function createEntities(tx: Tx, identities: IdentityResolver, states: Iterable<ScopeState>): Promise<void> {
  const all = [...states];
  for (let round = 0; ; round++) {
    const pending = all.map((state) => ({
      state,
      senders: [...state.senders.values()].filter((s) => s.created && !s.announced && round === 0),
      conversations: [...state.conversations].filter(([, c]) => c.created !== null),
    }));
    if (pending.every((p) => p.senders.length === 0 && p.conversations.length === 0)) return;
    if (round === ROUNDS) throw new SetRaceUnsettled();
    await Promise.all(
      pending.map(async ({ state, senders, conversations }) => {
        const { channel, account } = state.scope.adapter;
        const rows: NewConversationRow[] = conversations.map(([externalId, c]) => ({
          id: c.id,
          external_id: externalId,
          kind: c.created!.kind,
          title: c.created!.title,
          identity_id: c.created!.kind === 'direct' ? state.senders.get(c.created!.senderExternalId)!.known.identityId : null,
          at: new Date(c.created!.at).toISOString(),
          session_kind: c.created!.sessionKind,
          via: c.created!.via,
        }));
        // Sent together: the conversations' insert sees the identities inserted just before it.
        const [insertedSenders, insertedConversations] = await Promise.all([
          senders.length > 0 ? identities.createNew!(tx, { channel, account }, senders.map((s) => s.created!)) : new Set<string>(),
          insertConversations(tx, channel, account, rows),
        ]);
        const lostSenders = senders.filter((s) => !insertedSenders.has(s.known.externalId));
        for (const s of senders) if (insertedSenders.has(s.known.externalId)) s.created!.entry.result.newIdentities.push(s.known.externalId);
        for (const [externalId, c] of conversations) if (insertedConversations.has(externalId)) c.created = null;
        const lostConversations = conversations.filter(([externalId]) => !insertedConversations.has(externalId)).map(([externalId]) => externalId);
        if (lostSenders.length === 0 && lostConversations.length === 0) return;
        const [known, stored] = await Promise.all([
          lostSenders.length > 0 ? identities.resolveKnown!(tx, { channel, account }, lostSenders.map((s) => s.created!.who)) : new Map<string, KnownIdentity>(),
          lockConversations(tx, channel, account, lostConversations),
        ]);
        for (const s of lostSenders) {
          const winner = known.get(s.known.externalId);
          if (!winner) throw new SetRaceUnsettled();
          // The winner created and announced it: this batch only sees it again.
          Object.assign(s.known, winner);
          s.created = null;
        }
        for (const row of stored) state.conversations.set(row.external_id, conversationOf(row));
      }),
    );
  }
}
