/**
 * LINE API failures in the contract's terms (reference A4, A6). LINE answers errors as
 * `{ message, details: [{ message, property }] }`; the status alone is not enough: a 429 is
 * either a rate limit (retry) or the monthly quota (do not), and a 400 is either a dead reply
 * token (fall back to push), an unreachable recipient, or a refused message object.
 */
import { OmniError, type ErrorCode } from '../../core/errors.ts';
import type { HttpResponse } from '../../core/http-client.ts';

/** Which call failed; it decides what a 401 or a 404 means. */
export type Purpose = 'token' | 'check' | 'reply' | 'push' | 'media' | 'profile' | 'quota';

/** A LINE error answer, read. */
export interface LineErrorBody {
  status: number;
  message: string | undefined;
  details: Array<{ message?: string; property?: string }>;
  requestId: string | undefined;
  acceptedRequestId: string | undefined;
  sentMessages: Array<{ id: string }>;
  retryAfter: string | null;
}

const MAX_TEXT = 300;
const DEFAULT_RETRY_AFTER_SECONDS = 1;
const MAX_RETRY_AFTER_SECONDS = 3600;

/** The monthly (or additional-message) quota is spent: retrying cannot help until next month. */
export function isMonthlyLimit(body: LineErrorBody): boolean {
  return body.status === 429 && /monthly limit/i.test(body.message ?? '');
}

/** LINE refused the reply token: used, expired, or never valid. Push is the way left. */
export function isInvalidReplyToken(body: LineErrorBody): boolean {
  return body.status === 400 && /invalid reply token/i.test(body.message ?? '');
}

/** Reads a non-2xx answer (never throws: an unreadable body is just an empty one). */
export async function readError(response: HttpResponse): Promise<LineErrorBody> {
  let parsed: Record<string, unknown> | undefined;
  try {
    const value: unknown = JSON.parse(await response.text());
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) parsed = value as Record<string, unknown>;
  } catch {
    parsed = undefined;
  }
  const details = Array.isArray(parsed?.details)
    ? parsed.details.flatMap((item) => (typeof item === 'object' && item !== null ? [pickDetail(item as Record<string, unknown>)] : [])).slice(0, 10)
    : [];
  const sentMessages = Array.isArray(parsed?.sentMessages)
    ? parsed.sentMessages.flatMap((item) => (typeof item === 'object' && item !== null && typeof (item as { id?: unknown }).id === 'string' ? [{ id: (item as { id: string }).id }] : []))
    : [];
  return {
    status: response.status,
    message: typeof parsed?.message === 'string' ? parsed.message.slice(0, MAX_TEXT) : undefined,
    details,
    requestId: response.headers.get('x-line-request-id') ?? undefined,
    acceptedRequestId: response.headers.get('x-line-accepted-request-id') ?? undefined,
    sentMessages,
    retryAfter: response.headers.get('retry-after'),
  };
}

/** The OmniError a LINE error answer stands for. `field` is the credential to name on a 401. */
export function lineError(body: LineErrorBody, purpose: Purpose, field: string, now: Date = new Date()): OmniError {
  const details: Record<string, unknown> = { status: body.status };
  if (body.message !== undefined) details.platformMessage = body.message;
  if (body.details.length > 0) details.platformDetails = body.details;
  if (body.requestId !== undefined) details.requestId = body.requestId;
  const fail = (code: ErrorCode, message: string, extra: Record<string, unknown> = {}, retryAfterSeconds?: number) =>
    new OmniError(code, message, { details: { ...details, ...extra }, ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}) });
  const { status } = body;

  if (status === 401 || (purpose === 'token' && status === 400)) {
    return fail('channel_rejected', `LINE refused the credentials: check ${field}`, { field });
  }
  if (status === 403) return fail('channel_rejected', 'LINE does not allow this channel to use that API (plan or permission)');
  if (status === 429) {
    if (isMonthlyLimit(body)) {
      return fail('quota_exceeded', "The LINE account's monthly message quota is used up; pushes resume next month or after raising the plan", { quota: 'monthly_push' });
    }
    return fail('rate_limited', 'LINE rate limit reached', {}, retryAfterSeconds(body.retryAfter, now));
  }
  if (status >= 500) return fail('channel_unavailable', 'LINE API failed; retry later');
  if (purpose === 'media') {
    if (status === 404) return fail('attachment_unreachable', 'LINE has no content for this message (not found, or never hosted by LINE)', { reason: 'not_found' });
    if (status === 410) return fail('attachment_unreachable', 'LINE content is gone: the user unsent the message or it expired', { reason: 'gone' });
  }
  if (status === 400 && /failed to send messages/i.test(body.message ?? '')) {
    return fail('recipient_unreachable', 'LINE cannot deliver to this recipient (another provider\'s user id, or a chat the bot is not in)');
  }
  if (status === 413) return fail('invalid_request', 'The request is larger than LINE accepts (2 MB)');
  return fail('channel_rejected', `LINE refused the request (HTTP ${status})`);
}

function pickDetail(item: Record<string, unknown>): { message?: string; property?: string } {
  return {
    ...(typeof item.message === 'string' ? { message: item.message.slice(0, MAX_TEXT) } : {}),
    ...(typeof item.property === 'string' ? { property: item.property.slice(0, 100) } : {}),
  };
}

/** `Retry-After` as seconds or an HTTP date; LINE documents none, so one second by default. */
function retryAfterSeconds(header: string | null, now: Date): number {
  if (header !== null) {
    const text = header.trim();
    if (/^\d{1,6}$/.test(text)) return Math.min(Math.max(Number(text), 1), MAX_RETRY_AFTER_SECONDS);
    const at = Date.parse(text);
    if (!Number.isNaN(at)) return Math.min(Math.max(Math.ceil((at - now.getTime()) / 1000), 1), MAX_RETRY_AFTER_SECONDS);
  }
  return DEFAULT_RETRY_AFTER_SECONDS;
}
