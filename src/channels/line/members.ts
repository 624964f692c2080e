/**
 * How many people a push to a group or room reaches: LINE counts a push against the monthly
 * quota once per recipient, so a push of 2 messages to a 5-member group spends 10.
 * `GET /v2/bot/group/{groupId}/members/count` and `GET /v2/bot/room/{roomId}/members/count`
 * answer `{ "count": N }` (the bot itself excluded). The count is cached in shared state for an
 * hour, so every replica reads one figure and a busy group costs one call an hour; a member
 * joining or leaving drops the cached figure. A send never waits long for it: past a short
 * timeout, or on any error, the count is unknown and the caller counts 1 and says so.
 */
import type { InboundEvent, SharedState } from '../../core/adapter.ts';
import type { Logger } from '../../core/logger.ts';
import type { LineClient } from './client.ts';

/** How long a count is trusted. */
export const MEMBER_COUNT_TTL_MS = 3_600_000;
/** How long a send waits for the count before going out without it. */
export const MEMBER_COUNT_TIMEOUT_MS = 2_000;

const CHAT = /^(group|room):(.+)$/;

/** The group or room of a conversation external id (`group:C…`, `room:R…`), else null. */
export function chatOf(conversationExternalId: string): { kind: 'group' | 'room'; id: string } | null {
  const match = CHAT.exec(conversationExternalId);
  return match === null ? null : { kind: match[1] as 'group' | 'room', id: match[2]! };
}

/** Member counts of one account's groups and rooms. */
export class MemberCounts {
  constructor(
    private readonly client: LineClient,
    private readonly shared: SharedState,
    private readonly logger: Logger,
    private readonly timeoutMs = MEMBER_COUNT_TIMEOUT_MS,
  ) {}

  /** The members of a group or room conversation (≥ 1), or null when LINE did not say in time. */
  async count(conversationExternalId: string, signal: AbortSignal): Promise<number | null> {
    const chat = chatOf(conversationExternalId);
    if (chat === null) return null;
    const key = keyOf(conversationExternalId);
    try {
      const cached = await this.shared.get(key);
      const known = cached === null ? null : parseCount(cached.value);
      if (known !== null) return known;
      const answer = await this.client.json(`/v2/bot/${chat.kind}/${encodeURIComponent(chat.id)}/members/count`, {
        purpose: 'profile',
        signal: AbortSignal.any([signal, AbortSignal.timeout(this.timeoutMs)]),
        timeoutMs: this.timeoutMs,
      });
      const count = Number(answer.count);
      if (!Number.isSafeInteger(count) || count < 0) throw new Error('LINE answered the member count without a count');
      // A chat the bot is in has at least one other member for a push to reach.
      const members = Math.max(1, count);
      await this.shared.put(key, String(members), cached?.revision ?? 0, { ttlMs: MEMBER_COUNT_TTL_MS }).catch(() => false);
      return members;
    } catch (error) {
      this.logger.warn({ err: error, chat: chat.kind }, 'could not learn the member count of a LINE group; counting the push once');
      return null;
    }
  }

  /** Drops a cached count (members joined or left), so the next push asks LINE again. */
  async forget(conversationExternalId: string): Promise<void> {
    if (chatOf(conversationExternalId) === null) return;
    const key = keyOf(conversationExternalId);
    const cached = await this.shared.get(key);
    if (cached !== null && cached.value !== '') await this.shared.put(key, '', cached.revision, { ttlMs: MEMBER_COUNT_TTL_MS });
  }
}

function keyOf(conversationExternalId: string): string {
  return `members:${conversationExternalId}`;
}

function parseCount(value: string): number | null {
  const count = Number(value);
  return value !== '' && Number.isSafeInteger(count) && count >= 1 ? count : null;
}

const MEMBERSHIP_EVENTS = new Set(['event:memberJoined', 'event:memberLeft', 'event:join', 'event:leave']);

/** The group and room conversations whose members changed in a recorded batch. */
export function membershipChanges(events: ReadonlyArray<InboundEvent>): string[] {
  const changed = new Set<string>();
  for (const event of events) {
    if (event.kind !== 'message' || chatOf(event.conversation.externalId) === null) continue;
    if (event.parts.some((part) => part.type === 'unsupported' && MEMBERSHIP_EVENTS.has((part as { reason?: string }).reason ?? ''))) changed.add(event.conversation.externalId);
  }
  return [...changed];
}
