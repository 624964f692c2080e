/**
 * One table from Telegram's error answers to the contract's codes. Telegram says its
 * `error_code` values "are subject to change", so the HTTP status decides first and the
 * description's well-known phrases (from the Bot API server's source) refine it.
 */
import { OmniError, type ErrorCode } from '../../core/errors.ts';
import type { BotApiAnswer, Purpose } from './client.ts';

type Failure = Extract<BotApiAnswer, { ok: false }>;

const DEFAULT_RETRY_AFTER_SECONDS = 5;
const MAX_RETRY_AFTER_SECONDS = 86_400;

/** Phrases of a 403 or 400 that mean this person or chat cannot be written to. */
const UNREACHABLE = [
  /bot was blocked by the user/i,
  /user is deactivated/i,
  /bot was kicked/i,
  /bot is not a member/i,
  /bot can't initiate conversation/i,
  /bot can't send messages to bots/i,
  /have no rights to send a message/i,
  /business connection (?:not found|is invalid)|BUSINESS_CONNECTION_INVALID|BUSINESS_PEER_INVALID/i,
];
const UNKNOWN_CHAT = [/chat not found/i, /PEER_ID_INVALID/i, /user not found/i];
const MEDIA_REFUSED = [/wrong file identifier/i, /wrong type of the web page content/i, /failed to get HTTP URL content/i, /IMAGE_PROCESS_FAILED/i, /PHOTO_INVALID_DIMENSIONS/i, /wrong remote file/i, /type of file mismatch/i];
const MEDIA_TOO_LARGE = [/file is too big/i, /too big for a photo/i, /Request Entity Too Large/i];
const EXPIRED_CALLBACK = [/query is too old/i, /query ID is invalid/i];

/** Maps a failed Bot API answer to an OmniError; the platform's words go to `details`, never the message. */
export function botApiFailure(answer: Failure, purpose: Purpose, now: Date): OmniError {
  const details: Record<string, unknown> = { status: answer.status };
  if (answer.errorCode !== undefined) details.platformCode = answer.errorCode;
  if (answer.description !== undefined) details.description = answer.description;
  const text = answer.description ?? '';
  const fail = (code: ErrorCode, message: string, extra: Record<string, unknown> = {}, retryAfterSeconds?: number) =>
    new OmniError(code, message, { details: { ...details, ...extra }, ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}) });
  const status = answer.status;

  // 401 is a wrong token; 404 on /bot<token>/<method> is a token Telegram cannot even parse.
  if (status === 401 || (status === 404 && purpose !== 'media')) return fail('channel_rejected', 'Telegram rejected the bot token', { field: 'botToken' });
  if (status === 429 || answer.errorCode === 429) {
    const seconds = retryAfterSeconds(answer, now);
    // Telegram throttles per bot token, not per chat: the whole account waits.
    return fail('rate_limited', 'Telegram rate limit hit', { scope: 'account', retryAfterSeconds: seconds }, seconds);
  }
  if (status >= 500) {
    const seconds = answer.retryAfter !== undefined || answer.retryAfterHeader !== undefined ? retryAfterSeconds(answer, now) : undefined;
    return fail('channel_unavailable', 'Telegram API failed', {}, seconds);
  }
  if (status === 409) {
    return fail('conflict', 'Telegram refused: another getUpdates poller or an active webhook holds this bot', { reason: conflictReason(text) });
  }
  if (status === 413 || MEDIA_TOO_LARGE.some((re) => re.test(text))) return fail('attachment_too_large', 'Telegram refused the file as too large');
  if (purpose === 'credentials') return fail('channel_rejected', 'Telegram refused the credential check', { field: 'botToken' });
  if (purpose === 'media') return fail('attachment_unreachable', 'Telegram file not found or no longer available');
  if (purpose === 'callback' && EXPIRED_CALLBACK.some((re) => re.test(text))) return fail('not_found', 'Telegram callback query expired');
  if (UNREACHABLE.some((re) => re.test(text)) || status === 403) return fail('recipient_unreachable', 'Telegram cannot deliver to this chat');
  if (UNKNOWN_CHAT.some((re) => re.test(text))) return fail('unknown_contact', 'Telegram does not know this chat');
  if (MEDIA_REFUSED.some((re) => re.test(text))) return fail('attachment_type_not_allowed', 'Telegram refused the media');
  if (answer.migrateToChatId !== undefined) {
    return fail('recipient_unreachable', 'Telegram group was upgraded to a supergroup', { migrateToChatId: String(answer.migrateToChatId) });
  }
  return fail('channel_rejected', 'Telegram refused the request');
}

/** Distinguishes the two conflicts a poller can meet. */
export function conflictReason(description: string): 'webhook_active' | 'other_poller' | 'conflict' {
  if (/webhook is active/i.test(description)) return 'webhook_active';
  if (/terminated by other getUpdates/i.test(description)) return 'other_poller';
  return 'conflict';
}

/** `parameters.retry_after` first, then `Retry-After` (seconds or HTTP date), then a default. */
function retryAfterSeconds(answer: Failure, now: Date): number {
  if (answer.retryAfter !== undefined) return clamp(answer.retryAfter);
  const header = answer.retryAfterHeader?.trim();
  if (header !== undefined && header !== '') {
    const seconds = /^\d+$/.test(header) ? Number(header) : (Date.parse(header) - now.getTime()) / 1000;
    if (Number.isFinite(seconds)) return clamp(seconds);
  }
  return DEFAULT_RETRY_AFTER_SECONDS;
}

function clamp(seconds: number): number {
  return Math.min(MAX_RETRY_AFTER_SECONDS, Math.max(0, Math.ceil(seconds)));
}
