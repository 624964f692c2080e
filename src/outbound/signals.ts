/**
 * Read and typing signals (`api.conversation.read|typing`, `POST /v1/conversations/{id}/read|typing`):
 * the adapter maps them to its platform (`sendSignal`), as its capabilities declare. Signals are
 * not messages: they never touch a window's quota and are not recorded as messages. Each
 * conversation may get one signal of a kind per `SIGNAL_INTERVAL_MS`, across replicas (a
 * short lease per conversation and kind), so a chatty agent UI cannot flood the platform.
 */
import { sql } from 'drizzle-orm';
import type { Hono } from 'hono';
import type { Logger } from 'pino';
import type { SignalKind, SignalRequest } from '../core/adapter.ts';
import { mountHttp, type Operation } from '../core/api/operations.ts';
import { OmniError } from '../core/errors.ts';
import { newId } from '../core/ids.ts';
import { acquireLease, rowsOf } from '../core/storage/lease.ts';
import { conversationReadRequestSchema, conversationTypingRequestSchema } from '../core/schemas/api.ts';
import type { OutboundDeps } from './deps.ts';

/** One signal of a kind per conversation per this long. */
export const SIGNAL_INTERVAL_MS = 1_000;

interface ConversationRow {
  channel: string;
  account: string;
  external_id: string;
  kind: 'direct' | 'group';
  via: string | null;
}

/** Sends one signal; throws OmniError (`not_found`, `unknown_account`, `invalid_request` + reason, `rate_limited`). */
export async function sendSignal(deps: OutboundDeps, kind: SignalKind, conversationId: string, seconds?: number): Promise<void> {
  const [conversation] = rowsOf<ConversationRow>(
    await deps.db.execute(sql`select channel, account, external_id, kind, via from conversations where id = ${conversationId}`),
  );
  if (conversation === undefined) throw new OmniError('not_found', 'no such conversation', { details: { conversationId } });
  const entry = deps.accounts.get(conversation.account);
  if (!entry) throw new OmniError('unknown_account', 'the conversation’s account is not configured', { details: { account: conversation.account } });
  const supported = entry.adapter.capabilities.signals ?? [];
  if (!entry.adapter.sendSignal || !supported.includes(kind)) {
    throw new OmniError('invalid_request', `channel ${conversation.channel} has no ${kind} signal`, {
      details: { reason: 'unsupported', signal: kind, channel: conversation.channel, supported: [...supported] },
    });
  }
  // A fresh holder per request: the lease is taken only when nobody signalled within the interval.
  if (!(await acquireLease(deps.db, `signal:${kind}:${conversationId}`, newId('sig'), SIGNAL_INTERVAL_MS))) {
    throw new OmniError('rate_limited', `one ${kind} signal per conversation per second`, { details: { retryAfterMs: SIGNAL_INTERVAL_MS } });
  }
  const [last] = rowsOf<{ external_id: string | null; timestamp: Date | string; raw: unknown }>(
    await deps.db.execute(sql`
      select external_id, timestamp, raw from messages
      where conversation_id = ${conversationId} and direction = 'in' and deleted_at is null
      order by received_at desc limit 1`),
  );
  const request: SignalRequest = {
    kind,
    conversation: { externalId: conversation.external_id, kind: conversation.kind, ...(conversation.via !== null ? { via: conversation.via } : {}) },
    lastInbound: last?.external_id ? { externalId: last.external_id, at: new Date(last.timestamp), raw: last.raw } : null,
    now: deps.clock.now(),
    ...(seconds !== undefined ? { seconds } : {}),
  };
  await entry.adapter.sendSignal(request, AbortSignal.timeout(deps.settings.sendTimeoutMs));
}

/** `api.conversation.read`. */
export function conversationReadOperation(deps: OutboundDeps): Operation<{ conversationId: string }> {
  return {
    endpoint: 'conversationRead',
    schema: conversationReadRequestSchema,
    async handle({ conversationId }) {
      await sendSignal(deps, 'read', conversationId);
      return { signal: 'read', conversationId };
    },
  };
}

/** `api.conversation.typing`. */
export function conversationTypingOperation(deps: OutboundDeps): Operation<{ conversationId: string; seconds?: number }> {
  return {
    endpoint: 'conversationTyping',
    schema: conversationTypingRequestSchema,
    async handle({ conversationId, seconds }) {
      await sendSignal(deps, 'typing', conversationId, seconds);
      return { signal: 'typing', conversationId };
    },
  };
}

/** Mounts `POST /v1/conversations/{id}/read` and `/typing`. */
export function mountSignalHttp(api: Hono, deps: OutboundDeps, logger: Logger): void {
  const withId = (c: { req: { param(name: string): string | undefined } }, body: unknown) => ({
    ...(typeof body === 'object' && body !== null ? body : {}),
    conversationId: c.req.param('id'),
  });
  mountHttp(api, 'post', '/conversations/:id/read', conversationReadOperation(deps), logger, withId);
  mountHttp(api, 'post', '/conversations/:id/typing', conversationTypingOperation(deps), logger, withId);
}
