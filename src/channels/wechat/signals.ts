/**
 * Signals on WeChat: only typing, `POST /cgi-bin/message/custom/typing` with
 * `{ touser, command: Typing }`. WeChat allows it only within 30 s of the user's last message
 * (45080) and shows it for 15 s; outside that the daemon refuses before calling.
 */
import type { CostFacts, SignalRequest } from '../../core/adapter.ts';
import { OmniError } from '../../core/errors.ts';
import type { WeChatClient } from './client.ts';

/** WeChat's typing window after the user's last message. */
export const TYPING_WINDOW_MS = 30_000;

/** The body of a typing signal; refuses outside the 30 s window. */
export function typingBody(request: SignalRequest): Record<string, unknown> {
  const last = request.lastInbound;
  if (last === null || request.now.getTime() - last.at.getTime() > TYPING_WINDOW_MS) {
    throw new OmniError('invalid_request', 'WeChat shows typing only within 30 s of the user’s last message', {
      details: { reason: 'outside_typing_window', windowMs: TYPING_WINDOW_MS, lastInboundAt: last?.at.toISOString() ?? null },
    });
  }
  return { touser: request.conversation.externalId, command: 'Typing' };
}

/** Sends the typing signal; WeChat's errcode becomes the contract's code. */
export async function sendWeChatSignal(client: WeChatClient, request: SignalRequest, signal: AbortSignal): Promise<void> {
  await client.call('/cgi-bin/message/custom/typing', { method: 'POST', json: typingBody(request), purpose: 'send', signal });
}

/** Customer-service messages are free on WeChat: in the ledger as such. */
export const WECHAT_COST: CostFacts = { category: 'free', billable: false, units: 1 };
