/**
 * Signals on Telegram: only typing, as `sendChatAction` with `action: typing` (shown for 5 s
 * or until the bot's next message; Business chats name their connection). Bots cannot mark
 * messages read, so capabilities list `typing` only.
 */
import type { CostFacts, SignalRequest } from '../../core/adapter.ts';
import type { BotClient } from './client.ts';
import { botApiFailure } from './api-errors.ts';
import { chatIdOf, chatIdParam } from './ids.ts';

/** The `sendChatAction` parameters of a typing signal. */
export function chatActionParams(request: SignalRequest): Record<string, unknown> {
  const params: Record<string, unknown> = { chat_id: chatIdParam(chatIdOf(request.conversation.externalId)), action: 'typing' };
  if (request.conversation.via !== undefined) params.business_connection_id = request.conversation.via;
  return params;
}

/** Sends the typing signal. */
export async function sendTelegramSignal(client: BotClient, request: SignalRequest, signal: AbortSignal, now: () => Date): Promise<void> {
  const answer = await client.call('sendChatAction', chatActionParams(request), { purpose: 'send', signal });
  if (!answer.ok) throw botApiFailure(answer, 'send', now());
}

/** Telegram bots pay nothing per message: every send is in the ledger as free. */
export const TELEGRAM_COST: CostFacts = { category: 'free', billable: false, units: 1 };
