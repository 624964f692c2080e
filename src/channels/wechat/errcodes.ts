/**
 * WeChat `errcode`s in the contract's terms. The platform's code and message
 * go into `details`; the contract code decides retry, dead-letter or answer. Messages tell an
 * operator what to do, since WeChat's own `errmsg` rarely does.
 */
import { OmniError, type ErrorCode } from '../../core/errors.ts';

/** Codes that mean the access token itself was refused: refresh it once and retry. */
export const TOKEN_ERRCODES: ReadonlySet<number> = new Set([40001, 40014, 41001, 42001]);

/** Which call failed: token errors mean a wrong secret there, an expired token elsewhere. */
export type Purpose = 'token' | 'send' | 'upload' | 'media' | 'user';

/** A WeChat error body `{ errcode, errmsg }`. */
export interface WeChatErrorBody {
  errcode: number;
  errmsg?: string | undefined;
}

/** The error an `errcode` stands for (never called with 0). */
export function errcodeError(body: WeChatErrorBody, purpose: Purpose, now: Date = new Date()): OmniError {
  const details: Record<string, unknown> = { platformCode: body.errcode };
  if (typeof body.errmsg === 'string' && body.errmsg !== '') details.platformMessage = body.errmsg.slice(0, 300);
  const fail = (code: ErrorCode, message: string, extra: Record<string, unknown> = {}, retryAfterSeconds?: number) =>
    new OmniError(code, message, { details: { ...details, ...extra }, ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}) });

  switch (body.errcode) {
    case -1:
      return fail('channel_unavailable', 'WeChat is busy (-1); retry shortly');
    case 40013:
      return fail('channel_rejected', 'WeChat does not know this AppID: check appId', { field: 'appId' });
    case 40125:
    case 40243:
      return fail('channel_rejected', 'WeChat refused the AppSecret (wrong, reset or frozen): check appSecret', { field: 'appSecret' });
    case 40164:
    case 61004:
      return fail(
        'channel_rejected',
        "WeChat refused this server's IP address: add it to the official account's IP allow-list (Settings and Development > Basic Configuration > IP whitelist)",
        { hint: 'ip_allow_list' },
      );
    case 48001:
      return fail(
        'channel_rejected',
        'This official account may not use the customer-service API (48001): personal-subject (个人主体) and unverified accounts are not authorised; use a verified service account',
        { hint: 'account_not_authorised' },
      );
    case 40200:
      return fail('channel_rejected', 'This message type needs a verified official account (40200 invalid account type)');
    case 45015:
      return fail('session_expired', 'The 48 h customer-service window is closed or the user unsubscribed (45015)', { expiredAt: null, allowed: [] });
    case 45047:
      return fail('quota_exceeded', 'The customer-service quota of this window is used up (45047); wait for the user to write again');
    case 43004:
    case 43019:
    case 40003:
      return fail('recipient_unreachable', 'The user does not follow this account, blocked it, or the OpenID belongs to another account');
    case 45011:
      return fail('rate_limited', 'WeChat per-minute API limit reached (45011)', {}, 60);
    case 45009:
      return fail('rate_limited', 'WeChat daily API quota reached (45009); it resets at midnight China time', {}, secondsToChinaMidnight(now));
    case 40007:
      return fail('attachment_unreachable', 'WeChat does not know this media id, or it expired (media ids live 3 days)');
    case 40004:
    case 40005:
      return fail('attachment_type_not_allowed', 'WeChat refused the media type');
    case 40006:
    case 40009:
    case 40010:
    case 40011:
    case 40012:
    case 45001:
      return fail('attachment_too_large', 'WeChat refused the media size');
    case 45002:
    case 45008:
      return fail('invalid_request', 'WeChat refused the message content as too long or too many items');
    default:
      break;
  }
  if (TOKEN_ERRCODES.has(body.errcode)) {
    return purpose === 'token'
      ? fail('channel_rejected', 'WeChat refused the AppSecret for this AppID: check appSecret', { field: 'appSecret' })
      : fail('channel_unavailable', 'WeChat refused the access token even after a refresh; retry later');
  }
  return fail('channel_rejected', `WeChat refused the request (errcode ${body.errcode})`);
}

/** Seconds until 00:00 in China (UTC+8, no DST), when WeChat's daily quotas reset. */
export function secondsToChinaMidnight(now: Date): number {
  const seconds = Math.floor(now.getTime() / 1000) + 8 * 3600;
  return 86_400 - (seconds % 86_400);
}

/** An HTTP failure (not a WeChat errcode) in the contract's terms. */
export function httpStatusError(status: number, purpose: Purpose): OmniError {
  const details = { status };
  if (status === 401 || status === 403) {
    return purpose === 'token'
      ? new OmniError('channel_rejected', 'WeChat refused the credentials: check appId and appSecret', { details: { ...details, field: 'appSecret' } })
      : new OmniError('channel_rejected', 'WeChat refused the request', { details });
  }
  if (status === 429) return new OmniError('rate_limited', 'WeChat rate limit hit', { details });
  if (status >= 500) return new OmniError('channel_unavailable', 'WeChat API failed', { details });
  if (purpose === 'media' && status === 404) return new OmniError('attachment_unreachable', 'WeChat media not found', { details });
  return new OmniError('channel_rejected', `WeChat answered HTTP ${status}`, { details });
}
