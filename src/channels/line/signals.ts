/**
 * Signals on LINE: read is `POST /v2/bot/chat/markAsRead` with the `markAsReadToken` of the
 * newest customer message, and only does anything when Chat is on in the Official Account
 * Manager (`GET /v2/bot/info` → `chatMode: chat`, read once a minute); typing is the loading
 * animation, `POST /v2/bot/chat/loading/start` with `loadingSeconds` 5-60 in steps of 5, in
 * 1:1 chats only. And what a send costs: a reply is free, a push counts per recipient.
 */
import type { CostFacts, OutboundMessage, SendResult, SignalRequest } from '../../core/adapter.ts';
import { OmniError } from '../../core/errors.ts';
import type { LineClient } from './client.ts';
import { lineError, readError } from './api-errors.ts';

const CHAT_MODE_TTL_MS = 60_000;
const DEFAULT_LOADING_SECONDS = 20;

/** The loading animation's `loadingSeconds`: rounded up to a step of 5, within 5-60. */
export function loadingSeconds(seconds: number | undefined): number {
  const wanted = seconds ?? DEFAULT_LOADING_SECONDS;
  return Math.min(60, Math.max(5, Math.ceil(wanted / 5) * 5));
}

/** The `markAsReadToken` LINE put on a message event. */
export function markAsReadToken(raw: unknown): string | undefined {
  const message = (raw as { message?: { markAsReadToken?: unknown } } | null)?.message;
  return typeof message?.markAsReadToken === 'string' && message.markAsReadToken !== '' ? message.markAsReadToken : undefined;
}

/** The signals of one LINE account (the chat mode is cached per adapter). */
export function createLineSignals(client: LineClient, field: string, now: () => Date) {
  let chatMode: { mode: string; at: number } | null = null;
  const readChatMode = async (signal: AbortSignal): Promise<string> => {
    // Only Chat on is remembered: an operator who turns it on is heard from at once.
    if (chatMode !== null && Date.now() - chatMode.at < CHAT_MODE_TTL_MS) return chatMode.mode;
    const info = await client.json('/v2/bot/info', { purpose: 'check', signal });
    const mode = typeof info.chatMode === 'string' ? info.chatMode : 'bot';
    chatMode = mode === 'chat' ? { mode, at: Date.now() } : null;
    return mode;
  };
  const post = async (path: string, json: Record<string, unknown>, signal: AbortSignal) => {
    const response = await client.call(path, { json, purpose: 'push', signal });
    if (response.status >= 200 && response.status < 300) {
      await response.text().catch(() => undefined);
      return;
    }
    throw lineError(await readError(response), 'push', field, now());
  };
  return async (request: SignalRequest, signal: AbortSignal): Promise<void> => {
    if (request.kind === 'typing') {
      if (request.conversation.kind !== 'direct') {
        throw new OmniError('invalid_request', 'LINE shows the loading animation in 1:1 chats only', { details: { reason: 'direct_chats_only' } });
      }
      await post('/v2/bot/chat/loading/start', { chatId: request.conversation.externalId, loadingSeconds: loadingSeconds(request.seconds) }, signal);
      return;
    }
    const token = request.lastInbound === null ? undefined : markAsReadToken(request.lastInbound.raw);
    if (token === undefined) {
      throw new OmniError('invalid_request', 'the newest customer message carries no markAsReadToken', { details: { reason: 'no_read_token' } });
    }
    if ((await readChatMode(signal)) !== 'chat') {
      throw new OmniError('invalid_request', 'LINE marks messages read only when Chat is on for the account (chatMode: chat)', { details: { reason: 'chat_mode_off' } });
    }
    await post('/v2/bot/chat/markAsRead', { markAsReadToken: token }, signal);
  };
}

/**
 * A reply is free; a push counts against the monthly quota once per message and recipient, so
 * a push to a group counts each member (the send reports the figure as `quotaUnits`). When LINE
 * did not tell the group's member count in time, the push counts 1 per message and says so.
 */
export function lineCostOf(_message: OutboundMessage, result: SendResult): CostFacts {
  if (result.route === 'reply') return { category: 'reply', billable: false, units: 1 };
  const raw = (result.raw ?? {}) as { members?: unknown; membersUnknown?: unknown };
  const units = Number.isSafeInteger(result.quotaUnits) && (result.quotaUnits as number) >= 0 ? (result.quotaUnits as number) : 1;
  const note = raw.membersUnknown === true ? { membersUnknown: true } : typeof raw.members === 'number' ? { members: raw.members } : undefined;
  return { category: 'push', billable: true, units, ...(note !== undefined ? { note } : {}) };
}
