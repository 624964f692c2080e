/**
 * How the fake learns what users did. The real LINE knows, since every webhook starts there;
 * the fake only sees webhooks a simulator shows it. `observeWebhook` verifies and parses one as
 * the adapter would, then registers each event's reply token (single use, one minute) and the
 * friends it reveals (a user who wrote or followed, a group the bot is in) and a group's members
 * (who wrote there, joined or left); an unfollow or a leave removes them.
 */
import type { InboundMessage, WebhookRequestSpec } from '../../core/adapter.ts';
import { REPLY_TOKEN_MS } from './config.ts';
import { parseWebhook } from './inbound.ts';
import { chatOf, friendsOf, type FakeState } from './sandbox-state.ts';
import { verifySignature } from './verify.ts';

/** What was learned, or why nothing was. */
export type Observed = { ok: true; replyTokens: number; friends: string[] } | { ok: false; reason: string };

/** Verifies and reads a webhook meant for one of the fake's accounts, and notes what it says. */
export function observeWebhook(state: FakeState, spec: WebhookRequestSpec): Observed {
  const match = /^\/webhooks\/line\/([^/?]+)/.exec(spec.path);
  const accountId = match === null ? undefined : decodeURIComponent(match[1]!);
  const account = accountId === undefined ? undefined : state.accounts.byId(accountId);
  if (account === undefined) return { ok: false, reason: 'unknown_account' };
  const body = typeof spec.body === 'string' ? new TextEncoder().encode(spec.body) : spec.body;
  const headers = new Map(Object.entries(spec.headers).map(([name, value]) => [name.toLowerCase(), value]));
  let events;
  try {
    const verified = verifySignature({ method: 'POST', url: new URL(spec.path, 'http://sandbox.invalid'), headers, body }, account.settings.channelSecret);
    events = parseWebhook(verified.body, { now: state.clock.now() });
  } catch (error) {
    return { ok: false, reason: (error as { reason?: string }).reason ?? 'unreadable_webhook' };
  }
  const friends = friendsOf(state, account.id);
  const noted = new Set<string>();
  let replyTokens = 0;
  const now = state.clock.now().getTime();
  for (const event of events) {
    if (event.kind === 'identity') {
      const id = rawTarget(event.identity.externalId);
      if (event.change === 'unreachable') friends.delete(id);
      else if (!friends.has(id)) friends.set(id, {});
      continue;
    }
    if (event.kind !== 'message') continue;
    const to = rawTarget(event.conversation.externalId);
    if (event.conversation.kind === 'group') noteMembers(state, account.id, to, event);
    for (const id of [to, rawTarget(event.sender.externalId)]) {
      if (!friends.has(id)) friends.set(id, {});
      noted.add(id);
    }
    if (event.replyContext !== undefined) {
      // LINE: usable within a minute of the webhook, whatever the event's own timestamp says.
      state.replyTokens.set(event.replyContext.token, { accountId: account.id, to, expiresAt: now + REPLY_TOKEN_MS, used: false });
      replyTokens++;
    }
  }
  return { ok: true, replyTokens, friends: [...noted] };
}

/** The members a group event reveals: whoever writes there, and those who join or leave. */
function noteMembers(state: FakeState, accountId: string, chatId: string, event: InboundMessage): void {
  const chat = chatOf(state, accountId, chatId);
  const part = event.parts[0] as { type: string; reason?: string; meta?: { members?: unknown } } | undefined;
  const listed = Array.isArray(part?.meta?.members) ? (part.meta.members as unknown[]).filter((id): id is string => typeof id === 'string') : [];
  if (part?.type === 'unsupported' && part.reason === 'event:memberLeft') {
    for (const id of listed) chat.members.delete(id);
  } else if (part?.type === 'unsupported' && part.reason === 'event:memberJoined') {
    for (const id of listed) chat.members.add(id);
  } else if (part?.type !== 'unsupported' || (part.reason !== 'event:join' && part.reason !== 'event:leave')) {
    chat.members.add(event.sender.externalId);
  }
}

/** `group:C…` → `C…`: what a push names. */
function rawTarget(externalId: string): string {
  const colon = externalId.indexOf(':');
  return colon === -1 ? externalId : externalId.slice(colon + 1);
}
