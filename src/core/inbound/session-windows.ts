/**
 * Customer-service windows: a customer message (or another grant the adapter names) opens a
 * window or extends the open one; a newly opened window is announced with `session.opened`
 * through the outbox, in the caller's transaction.
 */
import { desc, eq } from 'drizzle-orm';
import type { InboundMessage } from '../adapter.ts';
import type { Tx } from '../storage/db.ts';
import { outbox, sessionWindows } from '../storage/schema.ts';
import { newId } from '../ids.ts';
import type { MessageEvent, SessionEvent } from '../model.ts';
import type { Subjects } from '../schemas/subjects.ts';
import type { IngestScope } from './scope.ts';
import { sessionRuleOf } from '../session-kinds.ts';

/**
 * Opens or extends the conversation's service window from the adapter's grant, and announces
 * a newly opened window. Returns the window for the message event (null where there is none).
 */
export async function touchSessionWindow(
  tx: Tx,
  subjects: Subjects,
  scope: IngestScope,
  event: InboundMessage,
  conversationId: string,
  contactId: string,
  at: Date,
): Promise<MessageEvent['session']> {
  const rule = sessionRuleOf(scope.adapter.capabilities, scope.window, event.conversation.sessionKind);
  const declared = event.sessionGrant ? scope.adapter.capabilities.session.grants[event.sessionGrant] : undefined;
  // A conversation of a declared kind keeps the grant's quota but runs on the kind's window
  // (a Telegram Business chat opens 24 h where the bot's own chats have no window at all).
  const grant = declared && rule.kind !== null ? { ...declared, durationMs: rule.windowMs } : declared;
  const [current] = await tx
    .select()
    .from(sessionWindows)
    .where(eq(sessionWindows.conversationId, conversationId))
    .orderBy(desc(sessionWindows.openedAt))
    .limit(1)
    .for('update');
  if (!grant || grant.durationMs === null) {
    return current?.expiresAt && current.expiresAt > at ? { window: rule.window, expiresAt: current.expiresAt.toISOString() } : null;
  }
  const until = new Date(at.getTime() + grant.durationMs);
  const pricing = event.pricingWindow
    ? { pricingKind: event.pricingWindow.kind, pricingExpiresAt: new Date(at.getTime() + event.pricingWindow.durationMs) }
    : {};
  if (current && current.expiresAt && current.expiresAt > at) {
    const extends_ = until > current.expiresAt;
    const expiresAt = extends_ ? until : current.expiresAt;
    await tx
      .update(sessionWindows)
      .set({
        expiresAt,
        ...(extends_ ? { grant: event.sessionGrant!, quotaLimit: grant.quota, quotaUsed: 0, expiringNotifiedAt: null } : {}),
        ...pricing,
        ...(event.referral ? { referral: event.referral } : {}),
      })
      .where(eq(sessionWindows.id, current.id));
    return { window: rule.window, expiresAt: expiresAt.toISOString() };
  }
  const windowId = newId('sw', at.getTime());
  await tx.insert(sessionWindows).values({
    id: windowId,
    conversationId,
    grant: event.sessionGrant!,
    openedAt: at,
    expiresAt: until,
    quotaLimit: grant.quota,
    ...pricing,
    referral: event.referral ?? null,
    openedNotifiedAt: at,
  });
  const { channel, account } = scope.adapter;
  const opened: SessionEvent = {
    schema: 'omni.session/v1',
    state: 'opened',
    channel,
    account,
    conversationId,
    contactId,
    window: rule.window,
    openedAt: at.toISOString(),
    expiresAt: until.toISOString(),
    ...(grant.quota !== null ? { quota: { limit: grant.quota, used: 0, remaining: grant.quota } } : {}),
  };
  await tx.insert(outbox).values({
    subject: subjects.evt.session('opened', channel, account),
    msgId: `${windowId}:opened`,
    payload: opened,
    orderingKey: conversationId,
    createdAt: at,
  });
  return { window: rule.window, expiresAt: until.toISOString() };
}
