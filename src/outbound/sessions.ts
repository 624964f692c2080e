/**
 * Session lifecycle events after `opened` (which ingest publishes): `expiring` at
 * `expiresAt - session.expiringNotice` and `expired` at `expiresAt`, each exactly once per
 * window. The schedule is the `session_windows` rows themselves: a conditional UPDATE of the
 * `*_notified_at` column and the outbox row commit together, so with several replicas ticking
 * only one wins each window, and a restart catches up on what came due while it was down.
 * Also answers `session.get`. Time comes from the injected clock; tests call `tick()`.
 */
import { desc, eq, inArray, sql } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { Tx } from '../core/storage/db.ts';
import { conversations, identities, outbox, sessionWindows } from '../core/storage/schema.ts';
import { rowsOf } from '../core/storage/lease.ts';
import { OmniError } from '../core/errors.ts';
import type { SessionEvent } from '../core/model.ts';
import type { AdapterEntry } from '../core/registry.ts';
import type { OutboundDeps } from './deps.ts';
import { survivorOf } from './recipients.ts';
import { hasAnyWindow, sessionRuleOf } from '../core/session-kinds.ts';

/** Windows that ended longer ago than this are not announced late (e.g. data from before this feature). */
const CATCH_UP_MS = 7 * 24 * 3600_000;
const BATCH = 500;

interface DueWindow {
  id: string;
  conversation_id: string;
  opened_at: Date | string;
  expires_at: Date | string;
  quota_limit: number | null;
  quota_used: number;
  identity_id: string | null;
  session_kind: string | null;
}

/** Publishes `expiring` and `expired` when they come due. */
export class SessionScheduler {
  private timer: NodeJS.Timeout | null = null;
  private ticking: Promise<unknown> | null = null;
  private readonly log: Logger;

  constructor(private readonly deps: OutboundDeps) {
    this.log = deps.logger.child({ component: 'sessions' });
  }

  /** Catches up at once, then ticks every `sessionTickMs`. */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.safeTick(), this.deps.settings.sessionTickMs);
    void this.safeTick();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.ticking;
  }

  /** Publishes every event due at the clock's now; returns how many of each. */
  async tick(): Promise<{ expiring: number; expired: number }> {
    const counts = { expiring: 0, expired: 0 };
    for (const entry of this.deps.accounts.all()) {
      if (!hasAnyWindow(entry.adapter.capabilities)) continue;
      // Expiring first: when both came due while we were down, they are published in order.
      counts.expiring += await this.announce(entry, 'expiring');
      counts.expired += await this.announce(entry, 'expired');
    }
    if (counts.expiring + counts.expired > 0) this.deps.notifyRelay();
    return counts;
  }

  private async safeTick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = this.tick()
      .catch((error: unknown) => this.log.warn({ err: error }, 'session tick failed; will retry'))
      .finally(() => {
        this.ticking = null;
      });
    await this.ticking;
  }

  private async announce(entry: AdapterEntry, state: 'expiring' | 'expired'): Promise<number> {
    const { channel, id: account, session } = entry.account;
    const now = this.deps.clock.now();
    const nowSql = sql`${now.toISOString()}::timestamptz`;
    const horizon = state === 'expiring' ? sql`${nowSql} + (${session.expiringNoticeMs} * interval '1 millisecond')` : nowSql;
    // `expired` again only if the window was extended after it was announced (a late message).
    const pending = (alias: string) =>
      sql.raw(
        state === 'expiring'
          ? `${alias}.expiring_notified_at is null`
          : `(${alias}.expired_notified_at is null or ${alias}.expired_notified_at < ${alias}.expires_at)`,
      );
    const column = state === 'expiring' ? sql`expiring_notified_at` : sql`expired_notified_at`;
    let total = 0;
    for (;;) {
      const count = await this.deps.db.transaction(async (tx) => {
        // The WHERE is re-checked on the locked row: a second replica updates nothing.
        const result = await tx.execute(sql`
          update session_windows sw set ${column} = ${nowSql}
          from conversations c
          where sw.id in (
              select w.id from session_windows w join conversations cc on cc.id = w.conversation_id
              where cc.channel = ${channel} and cc.account = ${account} and w.expires_at is not null
                and w.expires_at <= ${horizon} and w.expires_at > ${nowSql} - (${CATCH_UP_MS} * interval '1 millisecond')
                and ${pending('w')}
              order by w.expires_at limit ${BATCH})
            and c.id = sw.conversation_id and ${pending('sw')}
          returning sw.id, sw.conversation_id, sw.opened_at, sw.expires_at, sw.quota_limit, sw.quota_used, c.identity_id, c.session_kind`);
        const due = rowsOf<DueWindow>(result);
        await this.publish(tx, entry, state, due, now);
        return due.length;
      });
      total += count;
      if (count < BATCH) return total;
    }
  }

  private async publish(tx: Tx, entry: AdapterEntry, state: 'expiring' | 'expired', due: DueWindow[], now: Date): Promise<void> {
    const identityIds = due.map((w) => w.identity_id).filter((id): id is string => id !== null);
    const contactOf = new Map<string, string>();
    if (identityIds.length > 0) {
      const rows = await tx.select({ id: identities.id, contactId: identities.contactId }).from(identities).where(inArray(identities.id, identityIds));
      for (const row of rows) contactOf.set(row.id, row.contactId);
    }
    const values = [];
    for (const window of due) {
      const contactId = window.identity_id ? contactOf.get(window.identity_id) : undefined;
      // A group conversation has no one contact; its windows are marked, not announced.
      if (!contactId) continue;
      const expiresAt = new Date(window.expires_at);
      const event = sessionEvent(entry, state, {
        conversationId: window.conversation_id,
        contactId: (await survivorOf(tx, contactId)) ?? contactId,
        openedAt: new Date(window.opened_at),
        expiresAt,
        quotaLimit: window.quota_limit,
        quotaUsed: window.quota_used,
        sessionKind: window.session_kind,
      });
      values.push({
        subject: this.deps.subjects.evt.session(state, entry.account.channel, entry.account.id),
        // The expiry is part of the id: an extended window expires (and is announced) anew.
        msgId: `${window.id}:${state}:${expiresAt.getTime()}`,
        payload: event,
        orderingKey: window.conversation_id,
        createdAt: now,
      });
    }
    if (values.length > 0) await tx.insert(outbox).values(values).onConflictDoNothing();
  }
}

/** `session.get`: the conversation's latest window with its state now, or null if it never had one. */
export async function sessionOf(deps: OutboundDeps, conversationId: string): Promise<SessionEvent | null> {
  const [conversation] = await deps.db.select().from(conversations).where(eq(conversations.id, conversationId)).limit(1);
  if (!conversation) throw new OmniError('not_found', 'no such conversation', { details: { conversationId } });
  const [window] = await deps.db
    .select()
    .from(sessionWindows)
    .where(eq(sessionWindows.conversationId, conversationId))
    .orderBy(desc(sessionWindows.openedAt))
    .limit(1);
  const entry = deps.accounts.get(conversation.account);
  if (!window?.expiresAt || !conversation.identityId || !entry) return null;
  const [identity] = await deps.db.select({ contactId: identities.contactId }).from(identities).where(eq(identities.id, conversation.identityId)).limit(1);
  if (!identity) return null;
  const state = windowStateAt(entry, window.expiresAt, deps.clock.now());
  return sessionEvent(entry, state, {
    conversationId,
    contactId: (await survivorOf(deps.db, identity.contactId)) ?? identity.contactId,
    openedAt: window.openedAt,
    expiresAt: window.expiresAt,
    quotaLimit: window.quotaLimit,
    quotaUsed: window.quotaUsed,
    sessionKind: conversation.sessionKind,
  });
}

/**
 * The state at `now` of a window ending at `expiresAt`: what `session.get` answers and the
 * conversation list shows (`opened` and `expiring` are open, `expired` is closed).
 */
export function windowStateAt(entry: AdapterEntry, expiresAt: Date, now: Date): SessionEvent['state'] {
  const end = expiresAt.getTime();
  const at = now.getTime();
  return at >= end ? 'expired' : at >= end - entry.account.session.expiringNoticeMs ? 'expiring' : 'opened';
}

function sessionEvent(
  entry: AdapterEntry,
  state: SessionEvent['state'],
  window: {
    conversationId: string;
    contactId: string;
    openedAt: Date;
    expiresAt: Date;
    quotaLimit: number | null;
    quotaUsed: number;
    sessionKind: string | null;
  },
): SessionEvent {
  return {
    schema: 'omni.session/v1',
    state,
    channel: entry.account.channel,
    account: entry.account.id,
    conversationId: window.conversationId,
    contactId: window.contactId,
    window: sessionRuleOf(entry.adapter.capabilities, entry.window, window.sessionKind).window,
    openedAt: window.openedAt.toISOString(),
    expiresAt: window.expiresAt.toISOString(),
    ...(window.quotaLimit !== null
      ? { quota: { limit: window.quotaLimit, used: window.quotaUsed, remaining: Math.max(0, window.quotaLimit - window.quotaUsed) } }
      : {}),
  };
}
