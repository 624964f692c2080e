/**
 * Set-based recording of a batch of webhooks inside the caller's transaction. The common case,
 * a text message from a known or a first-time sender, in a known or a new conversation, costs
 * the batch two pipelined rounds of look-ups whatever its size (redeliveries and tombstones;
 * then senders, first-time senders and conversations with their windows, locked), one round
 * creating the first-time senders' identities and contacts and the new conversations
 * (record-batch-new.ts), and one write (record-batch-sql.ts). Reply tokens are folded in memory.
 * Everything else takes the per-event path (`EventRecorder`) in the same transaction: senders
 * bringing new evidence or meeting another contact (a merge may follow), media, statuses, dead
 * letters. The split keeps per-conversation order: a conversation, and a sender, that has one
 * event on the per-event path has all its events of the batch there, in arrival order. Batches
 * holding an identity change, an edit or a delete are recorded per event as a whole.
 */
import type { InboundEvent, InboundMessage } from '../adapter.ts';
import { runStatement } from '../storage/statement.ts';
import type { Tx } from '../storage/db.ts';
import type { IdentityResolver, KnownIdentity, NewIdentity, NewIdentityRow } from '../ports/identity-resolver.ts';
import type { Subjects } from '../schemas/subjects.ts';
import type { MessageEvent, SessionEvent } from '../model.ts';
import { MEDIA_PART_TYPES } from '../model.ts';
import { newId } from '../ids.ts';
import { sessionRuleOf } from '../session-kinds.ts';
import { contactCreatedEvent, type EventRecorder, type ErasedMedia } from './record.ts';
import type { IngestResult, IngestScope } from './scope.ts';
import { lockConversations, probeStored, writeBatch, type BatchWrite } from './record-batch-sql.ts';
import { mintParts } from './record-parts.ts';
import { inboundMessageEvent } from './message-event.ts';
import { isBoundedId, isSaneDate } from './edge.ts';
import { createEntities } from './record-batch-new.ts';
import { conversationOf, type BatchEntry, type Conversation, type ScopeState, type Window } from './record-batch-state.ts';

export type { BatchEntry } from './record-batch-state.ts';

/** Event kinds that make a whole batch go per event (they change who or what others refer to). */
const PER_EVENT_BATCH = new Set<InboundEvent['kind']>(['identity', 'edit', 'delete']);

/** Where one event of the batch is recorded. */
interface Planned {
  entry: BatchEntry;
  event: InboundEvent;
  path: 'set' | 'per-event' | 'duplicate';
  conversationKey: string;
  senderKey: string;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const scopeKey = (scope: IngestScope) => `${scope.adapter.channel}\u0000${scope.adapter.account}`;

/**
 * A message the set-based path can take if its sender is known or new and its conversation
 * known or new. A reply context (LINE's reply token) is folded in memory as `storeReplyContext`
 * folds it per event: the freshest one wins.
 */
function setCandidate(event: InboundEvent): event is InboundMessage {
  if (event.kind !== 'message') return false;
  if (event.sender.aliases && event.sender.aliases.length > 0) return false;
  return !event.parts.some((part) => (MEDIA_PART_TYPES as readonly string[]).includes(part.type));
}

// A batch's set-based statements use their generic plans (see `lookUp`); the rest of the
// transaction is planned as usual.
const GENERIC_PLANS = 'set local plan_cache_mode = force_generic_plan';
const PLAN_AS_USUAL = 'set local plan_cache_mode to default';

/** Records batches set-based where it can, per event where it must, in one transaction. */
export class BatchRecorder {
  constructor(
    private readonly subjects: Subjects,
    private readonly identities: IdentityResolver,
    private readonly perEvent: EventRecorder,
    /** False: every event per event (the path before set-based recording; for comparisons). */
    private readonly setBased = true,
  ) {}

  async record(tx: Tx, entries: ReadonlyArray<BatchEntry>, receivedAt: Date, erased: ErasedMedia): Promise<void> {
    const flat = entries.flatMap((entry) => entry.events.map((event) => ({ entry, event })));
    const usable = this.setBased && this.identities.resolveKnown && !flat.some(({ event }) => PER_EVENT_BATCH.has(event.kind));
    if (!usable || !flat.some(({ event }) => event.kind === 'message')) {
      for (const { entry, event } of flat) await this.perEvent.record(tx, entry.scope, event, receivedAt, entry.result, erased);
      return;
    }
    const states = await this.lookUp(tx, flat);
    // Which events go per event: not candidates, or sender/conversation unknown; then closed
    // over conversations and senders, so no conversation or sender is split between paths.
    const slowConversations = new Set<string>();
    const slowSenders = new Set<string>();
    const plan = flat.map(({ entry, event }): Planned => {
      if (event.kind !== 'message') return { entry, event, path: 'per-event', conversationKey: '', senderKey: '' };
      const state = states.get(scopeKey(entry.scope))!;
      if (!state.tombstones && state.stored.has(event.dedupeKey)) return { entry, event, path: 'duplicate', conversationKey: '', senderKey: '' };
      // A conversation not stored is opened by the batch (`insertConversations`), as the
      // per-event path's upsert would open it.
      const fast = setCandidate(event) && !state.tombstones && (state.senders.has(event.sender.externalId) || state.fresh.has(event.sender.externalId));
      const conversationKey = `${scopeKey(entry.scope)}\u0000${event.conversation.externalId}`;
      const senderKey = `${scopeKey(entry.scope)}\u0000${event.sender.externalId}`;
      if (!fast) {
        slowConversations.add(conversationKey);
        slowSenders.add(senderKey);
      }
      return { entry, event, path: fast ? 'set' : 'per-event', conversationKey, senderKey };
    });
    for (let changed = true; changed; ) {
      changed = false;
      for (const item of plan) {
        if (item.path !== 'set') continue;
        if (slowConversations.has(item.conversationKey) || slowSenders.has(item.senderKey)) {
          item.path = 'per-event';
          slowConversations.add(item.conversationKey);
          slowSenders.add(item.senderKey);
          changed = true;
        }
      }
    }
    const write: BatchWrite = { messages: [], identities: [], conversations: [], windowUpdates: [], windowInserts: [], outbox: [] };
    const written: Array<{ result: IngestResult; messageId: string }> = [];
    const seen = new Set<string>();
    const staged: Array<{ item: Planned; state: ScopeState; event: InboundMessage }> = [];
    for (const item of plan) {
      if (item.path === 'duplicate') item.entry.result.duplicates++;
      if (item.path !== 'set') continue;
      const event = item.event as InboundMessage;
      const state = states.get(scopeKey(item.entry.scope))!;
      const dedupe = `${scopeKey(item.entry.scope)}\u0000${event.dedupeKey}`;
      if (seen.has(dedupe)) {
        item.entry.result.duplicates++;
        continue;
      }
      seen.add(dedupe);
      this.plan(state, item.entry, event, receivedAt);
      staged.push({ item, state, event });
    }
    // First sightings and new conversations exist (or were found) before any message names them.
    if (staged.length > 0) await createEntities(tx, this.identities, states.values());
    for (const { item, state, event } of staged) {
      written.push({ result: item.entry.result, messageId: this.stage(write, state, event, receivedAt) });
    }
    if (written.length > 0) {
      this.finish(write, states);
      // The write is the batch's last set-based statement: planning goes back to PostgreSQL's
      // own choice in the same pipeline, for the per-event statements and the caller's.
      const [inserted] = await Promise.all([writeBatch(tx, write), runStatement(tx, PLAN_AS_USUAL, [])]);
      for (const { result, messageId } of written) {
        if (inserted.has(messageId)) result.recorded++;
        else result.duplicates++;
      }
    }
    // Nothing written (a batch of redeliveries, say): set back only when per-event statements
    // follow, not at the cost of a round trip; what a caller runs after (a poll's cursor, one
    // row by its key) plans the same either way.
    else if (plan.some((item) => item.path === 'per-event')) await runStatement(tx, PLAN_AS_USUAL, []);
    // Messages here were probed above (not stored), unless the batch repeats a dedupe key.
    const probedKeys = new Set<string>();
    for (const item of plan) {
      if (item.path !== 'per-event') continue;
      let probed = false;
      if (item.event.kind === 'message') {
        const key = `${scopeKey(item.entry.scope)}\u0000${item.event.dedupeKey}`;
        const stored = states.get(scopeKey(item.entry.scope))!.stored.has(item.event.dedupeKey);
        probed = !stored && !probedKeys.has(key) && !seen.has(key);
        probedKeys.add(key);
      }
      await this.perEvent.record(tx, item.entry.scope, item.event, receivedAt, item.entry.result, erased, probed);
    }
  }

  /** The look-ups of every scope in the batch, issued together (pipelined on PostgreSQL). */
  private async lookUp(tx: Tx, flat: ReadonlyArray<{ entry: BatchEntry; event: InboundEvent }>): Promise<Map<string, ScopeState>> {
    const groups = new Map<string, { scope: IngestScope; messages: InboundMessage[] }>();
    for (const { entry, event } of flat) {
      if (event.kind !== 'message') continue;
      const key = scopeKey(entry.scope);
      const group = groups.get(key) ?? { scope: entry.scope, messages: [] };
      group.messages.push(event);
      groups.set(key, group);
    }
    const states = new Map<string, ScopeState>();
    // The batch's statements take lists as one jsonb parameter, and PostgreSQL kept planning
    // some of them anew (0.1-0.3 ms each) whenever a custom plan for the list at hand looked
    // cheaper than the generic one, and five times per connection after every ANALYZE of their
    // tables. Their generic plans probe the same indexes, so they are used from the first call
    // (pipelined: no extra round trip); measured with `bench/profile.ts`: 100-200 ms of planning
    // per 6,000 webhooks down to 10-20 ms, the statements' own time unchanged.
    await Promise.all([
      runStatement(tx, GENERIC_PLANS, []),
      ...[...groups].map(async ([key, { scope, messages }]) => {
        const { channel, account } = scope.adapter;
        // Redeliveries first (one index probe each, with the tombstone check in the same
        // statement): only the rest is looked up and locked.
        const { stored, tombstones } = await probeStored(tx, channel, account, [...new Set(messages.map((m) => m.dedupeKey))]);
        const candidates = tombstones ? [] : messages.filter((m) => setCandidate(m) && !stored.has(m.dedupeKey));
        const findNew = this.identities.createNew ? this.identities.findNew : undefined;
        const [senders, conversations, fresh] =
          candidates.length === 0
            ? [new Map<string, KnownIdentity>(), [], new Map<string, NewIdentity>()]
            : await Promise.all([
                this.identities.resolveKnown!(tx, { channel, account }, candidates.map((m) => m.sender)),
                lockConversations(tx, channel, account, [...new Set(candidates.map((m) => m.conversation.externalId))]),
                findNew ? findNew(tx, { channel, account }, candidates.map((m) => m.sender)) : new Map<string, NewIdentity>(),
              ]);
        states.set(key, {
          scope,
          stored,
          tombstones,
          senders: new Map([...senders].map(([id, known]) => [id, { known: { ...known }, at: 0, touched: false, created: null, announced: false }])),
          fresh,
          conversations: new Map(conversations.map((row) => [row.external_id, conversationOf(row)])),
        });
      }),
    ]);
    // Two first sightings sharing a fact that may merge (one person on two accounts): the
    // per-event path creates the first and merges the second into it.
    const holders = new Map<string, number>();
    for (const state of states.values()) for (const fresh of state.fresh.values()) for (const key of fresh.mergeKeys) holders.set(key, (holders.get(key) ?? 0) + 1);
    for (const state of states.values()) {
      for (const [id, fresh] of state.fresh) if (fresh.mergeKeys.some((key) => holders.get(key)! > 1)) state.fresh.delete(id);
    }
    return states;
  }

  /** Mints the identity and conversation a message of a new sender or conversation creates. */
  private plan(state: ScopeState, entry: BatchEntry, event: InboundMessage, receivedAt: Date): void {
    const at = Math.min(event.timestamp.getTime(), receivedAt.getTime());
    const externalId = event.sender.externalId;
    if (!state.senders.has(externalId)) {
      const fresh = state.fresh.get(externalId)!;
      const known: KnownIdentity = { identityId: newId('idn', at), contactId: newId('ct', at), externalId, displayName: null, username: null, phone: fresh.phone };
      state.senders.set(externalId, { known, at: 0, touched: false, created: { identityId: known.identityId, contactId: known.contactId, who: event.sender, at: new Date(at), entry }, announced: false });
    }
    const conversation = event.conversation;
    if (!state.conversations.has(conversation.externalId)) {
      state.conversations.set(conversation.externalId, {
        id: newId('cv', at), window: null, at: 0, sessionKind: null, via: null, touched: false, replyExpiresAt: null, reply: null,
        created: { kind: conversation.kind, title: conversation.title ?? null, senderExternalId: externalId, at, sessionKind: conversation.sessionKind ?? null, via: conversation.via ?? null },
      });
    }
  }

  /** Stages one message (and the window it opens or extends); returns its message id. */
  private stage(write: BatchWrite, state: ScopeState, event: InboundMessage, receivedAt: Date): string {
    const { scope } = state;
    const { channel, account } = scope.adapter;
    const at = Math.min(event.timestamp.getTime(), receivedAt.getTime());
    const sender = state.senders.get(event.sender.externalId)!;
    const conversation = state.conversations.get(event.conversation.externalId)!;
    const who = sender.known;
    who.displayName = event.sender.displayName ?? who.displayName;
    who.username = event.sender.username ?? who.username;
    sender.at = Math.max(sender.at, at);
    sender.touched = true;
    conversation.at = Math.max(conversation.at, at);
    conversation.sessionKind = event.conversation.sessionKind ?? conversation.sessionKind;
    conversation.via = event.conversation.via ?? conversation.via;
    conversation.touched = true;
    this.foldReplyContext(conversation, event);
    const messageId = newId('msg', receivedAt.getTime());
    const { parts } = mintParts(scope, event.parts, messageId, receivedAt);
    const session = this.touchWindow(write, scope, event, conversation, who.contactId, at, messageId);
    if (sender.created && !sender.announced) {
      // Where the per-event path writes it: after the window it opened, before the message.
      sender.announced = true;
      const created = new Date(sender.created.at);
      this.outbox(write, this.subjects.evt.contact('created'), `${who.contactId}:created`, contactCreatedEvent(who, channel, account, created), who.contactId, created.getTime(), messageId);
    }
    write.messages.push({
      id: messageId,
      channel,
      account,
      conversation_id: conversation.id,
      identity_id: who.identityId,
      external_id: event.externalId,
      dedupe_key: event.dedupeKey,
      ts: event.timestamp.toISOString(),
      received_at: receivedAt.toISOString(),
      parts,
      reply_to: event.replyTo?.externalId ?? null,
      referral: event.referral ?? null,
      raw: event.raw ?? null,
    });
    const payload = inboundMessageEvent({
      messageId, scope: { channel, account }, event, conversationId: conversation.id,
      sender: { contactId: who.contactId, externalId: who.externalId, displayName: who.displayName, phone: who.phone }, receivedAt, parts, session,
    });
    this.outbox(write, this.subjects.evt.messageIn(channel, account), `${messageId}:in`, payload, conversation.id, receivedAt.getTime(), messageId);
    return messageId;
  }

  /** `touchSessionWindow` on the in-memory window (the row is locked): same rules, same events. */
  private touchWindow(write: BatchWrite, scope: IngestScope, event: InboundMessage, conversation: Conversation, contactId: string, at: number, messageId: string): MessageEvent['session'] {
    const rule = sessionRuleOf(scope.adapter.capabilities, scope.window, event.conversation.sessionKind);
    const declared = event.sessionGrant ? scope.adapter.capabilities.session.grants[event.sessionGrant] : undefined;
    const grant = declared && rule.kind !== null ? { ...declared, durationMs: rule.windowMs } : declared;
    const current = conversation.window;
    if (!grant || grant.durationMs === null) {
      return current?.expiresAt && current.expiresAt > at ? { window: rule.window, expiresAt: iso(current.expiresAt)! } : null;
    }
    const until = at + grant.durationMs;
    if (current && current.expiresAt && current.expiresAt > at) {
      if (until > current.expiresAt) {
        current.expiresAt = until;
        current.grant = event.sessionGrant!;
        current.quotaLimit = grant.quota;
        current.quotaUsed = 0;
        current.expiringNotifiedAt = null;
      }
      if (event.pricingWindow) {
        current.pricingKind = event.pricingWindow.kind;
        current.pricingExpiresAt = at + event.pricingWindow.durationMs;
      }
      if (event.referral) current.referral = event.referral;
      current.touched = true;
      return { window: rule.window, expiresAt: iso(current.expiresAt)! };
    }
    const opened: Window = {
      id: newId('sw', at),
      grant: event.sessionGrant!,
      openedAt: at,
      expiresAt: until,
      quotaLimit: grant.quota,
      quotaUsed: 0,
      pricingKind: event.pricingWindow?.kind ?? null,
      pricingExpiresAt: event.pricingWindow ? at + event.pricingWindow.durationMs : null,
      referral: event.referral ?? null,
      expiringNotifiedAt: null,
      openedNotifiedAt: at,
      inserted: true,
      touched: true,
    };
    if (current && !current.inserted && current.touched) write.windowUpdates.push(windowRow(current, conversation.id));
    if (current?.inserted) write.windowInserts.push(windowRow(current, conversation.id));
    conversation.window = opened;
    const { channel, account } = scope.adapter;
    const payload: SessionEvent = {
      schema: 'omni.session/v1',
      state: 'opened',
      channel,
      account,
      conversationId: conversation.id,
      contactId,
      window: rule.window,
      openedAt: iso(at)!,
      expiresAt: iso(until)!,
      ...(grant.quota !== null ? { quota: { limit: grant.quota, used: 0, remaining: grant.quota } } : {}),
    };
    this.outbox(write, this.subjects.evt.session('opened', channel, account), `${opened.id}:opened`, payload, conversation.id, at, messageId);
    return { window: rule.window, expiresAt: iso(until)! };
  }

  /** `storeReplyContext` in memory: a sane reply context fresher than the stored one replaces it. */
  private foldReplyContext(conversation: Conversation, event: InboundMessage): void {
    const context = event.replyContext;
    if (!context || !isBoundedId(context.token) || !isSaneDate(context.expiresAt)) return;
    if (!Number.isSafeInteger(context.maxMessages) || context.maxMessages < 1 || context.maxMessages > 1_000) return;
    const expiresAt = context.expiresAt.getTime();
    if (conversation.replyExpiresAt !== null && conversation.replyExpiresAt >= expiresAt) return;
    conversation.replyExpiresAt = expiresAt;
    conversation.reply = { token: context.token, expiresAt, maxMessages: context.maxMessages, messageId: event.externalId };
  }

  private outbox(write: BatchWrite, subject: string, msgId: string, payload: unknown, orderingKey: string, at: number, messageId: string): void {
    write.outbox.push({ ord: write.outbox.length, subject, msg_id: msgId, payload, ordering_key: orderingKey, created_at: iso(at)!, message_id: messageId });
  }

  /** The collapsed rows: one update per sender, conversation and window the batch touched. */
  private finish(write: BatchWrite, states: Map<string, ScopeState>): void {
    for (const state of states.values()) {
      for (const sender of state.senders.values()) {
        if (!sender.touched) continue;
        const { known } = sender;
        write.identities.push({ id: known.identityId, last_seen: iso(sender.at)!, display_name: known.displayName, username: known.username });
      }
      for (const conversation of state.conversations.values()) {
        if (!conversation.touched) continue;
        const reply = conversation.reply;
        write.conversations.push({
          id: conversation.id, at: iso(conversation.at)!, session_kind: conversation.sessionKind, via: conversation.via,
          reply_token: reply?.token ?? null, reply_expires_at: reply ? iso(reply.expiresAt) : null, reply_max: reply?.maxMessages ?? null, reply_message_id: reply?.messageId ?? null,
        });
        const window = conversation.window;
        if (window?.inserted) write.windowInserts.push(windowRow(window, conversation.id));
        else if (window?.touched) write.windowUpdates.push(windowRow(window, conversation.id));
      }
    }
  }
}

function windowRow(window: Window, conversationId: string): Record<string, unknown> {
  return {
    id: window.id,
    conversation_id: conversationId,
    grant: window.grant,
    opened_at: iso(window.openedAt),
    expires_at: iso(window.expiresAt),
    quota_limit: window.quotaLimit,
    quota_used: window.quotaUsed,
    pricing_kind: window.pricingKind,
    pricing_expires_at: iso(window.pricingExpiresAt),
    referral: window.referral,
    opened_notified_at: iso(window.openedNotifiedAt),
    expiring_notified_at: iso(window.expiringNotifiedAt),
  };
}
