/**
 * One table from Meta's error codes (reference 1.6) to the contract's codes, used for both
 * paths a send can fail on: the Graph answer to `POST /messages` (or `/media`) and the `failed`
 * status webhook that arrives later for the same kinds of failure (131047, 131026, ...).
 */
import { OmniError, type ErrorCode } from '../../core/errors.ts';
import type { HttpResponse } from '../../core/http-client.ts';

/** What a platform code means: the contract code, plus the config field at fault or a wait. */
interface Rule {
  code: ErrorCode;
  /** The setting to fix (`accessToken`, `phoneNumberId`), for a credential problem. */
  field?: string;
  /** Seconds to wait before a retry when the platform gives no `Retry-After`; 'pair' = 4^x. */
  retryAfter?: number | 'pair';
}

const TOKEN: Rule = { code: 'channel_rejected', field: 'accessToken' };
const UNAVAILABLE: Rule = { code: 'channel_unavailable' };
const UNREACHABLE: Rule = { code: 'recipient_unreachable' };
const MEDIA: Rule = { code: 'attachment_type_not_allowed' };

/** Meta's codes with a meaning beyond "refused"; every other code is `channel_rejected`. */
const RULES: ReadonlyMap<number, Rule> = new Map<number, Rule>([
  // Authentication and permission: the token is expired, revoked or lacks the asset.
  [0, TOKEN],
  [190, TOKEN],
  [3, TOKEN],
  [10, TOKEN],
  [131005, TOKEN],
  // Throughput (130429, 1 s buckets), pair limit (131056, Meta advises 4^x s), app/WABA limits (hourly).
  [130429, { code: 'rate_limited', retryAfter: 1 }],
  [131056, { code: 'rate_limited', retryAfter: 'pair' }],
  [80007, { code: 'rate_limited', retryAfter: 60 }],
  [4, { code: 'rate_limited', retryAfter: 60 }],
  [17, { code: 'rate_limited', retryAfter: 60 }],
  [32, { code: 'rate_limited', retryAfter: 60 }],
  [613, { code: 'rate_limited', retryAfter: 60 }],
  // Meta's side is down, overloaded or migrating the number (131057 lasts about a minute).
  [1, UNAVAILABLE],
  [2, UNAVAILABLE],
  [131000, UNAVAILABLE],
  [131016, UNAVAILABLE],
  [131057, UNAVAILABLE],
  [133004, UNAVAILABLE],
  [131047, { code: 'session_expired' }],
  // Not a WhatsApp user / not on the test allow-list / stopped marketing messages.
  [131026, UNREACHABLE],
  [131030, UNREACHABLE],
  [131050, UNREACHABLE],
  // Meta's per-user marketing cap: the person is reachable, the quota for them is spent.
  [131049, { code: 'quota_exceeded' }],
  [131052, MEDIA],
  [131053, MEDIA],
]);

/** Meta's template errors are the 132xxx block (132000 count, 132001 missing, 132015 paused, ...). */
function ruleFor(platformCode: number | undefined): Rule | undefined {
  if (platformCode === undefined) return undefined;
  if (platformCode >= 132000 && platformCode <= 132999) return { code: 'template_invalid' };
  return RULES.get(platformCode);
}

/** The contract code of a Meta error code, e.g. for a `failed` status webhook (`'131047'` → `session_expired`). */
export function contractCodeOf(platformCode: string | number): ErrorCode {
  const code = typeof platformCode === 'number' ? platformCode : /^\d{1,9}$/.test(platformCode) ? Number(platformCode) : undefined;
  return ruleFor(code)?.code ?? 'channel_rejected';
}

/** Facts about the failed call that the mapping needs beyond the response itself. */
export interface FailureContext {
  /** Current time, to read an HTTP-date `Retry-After`. */
  now: Date;
  /** The token, scrubbed from any platform text copied into the error. */
  accessToken: string;
  /** 4^x back-off for the pair rate limit (131056), kept per recipient by the caller. */
  pairBackoffSeconds(): number;
}

/** A parsed Graph error body (`{ error: { message, code, error_data: { details } } }`). */
interface GraphError {
  platformCode?: number;
  subcode?: number;
  title?: string;
  details?: string;
  fbtraceId?: string;
}

const MAX_TEXT = 500;
const DEFAULT_RETRY_AFTER_SECONDS = 5;
const MAX_RETRY_AFTER_SECONDS = 86_400;

/** Maps a non-2xx Graph answer of a send or upload to an OmniError. */
export async function sendFailure(response: HttpResponse, context: FailureContext): Promise<OmniError> {
  const error = await readGraphError(response, context.accessToken);
  const details: Record<string, unknown> = { status: response.status };
  if (error.platformCode !== undefined) details.platformCode = error.platformCode;
  if (error.title !== undefined) details.title = error.title;
  if (error.details !== undefined) details.details = error.details;
  if (error.fbtraceId !== undefined) details.fbtraceId = error.fbtraceId;

  let rule = ruleFor(error.platformCode);
  if (response.status === 401) rule = TOKEN;
  // Graph answers "object does not exist" (100/33) when the phone-number id is wrong.
  else if (error.platformCode === 100 && error.subcode === 33) rule = { code: 'channel_rejected', field: 'phoneNumberId' };
  else if (rule === undefined && response.status === 429) rule = { code: 'rate_limited', retryAfter: DEFAULT_RETRY_AFTER_SECONDS };
  else if (rule === undefined && response.status >= 500) rule = UNAVAILABLE;
  rule ??= { code: 'channel_rejected' };

  if (rule.field !== undefined) details.field = rule.field;
  if (rule.code === 'session_expired') details.allowed = ['template'];
  // The pair limit throttles one customer, not the number: the core holds only that recipient.
  if (rule.retryAfter === 'pair') details.scope = 'recipient';
  const retryAfterSeconds = retryAfter(response, rule, context);
  const message = rule.field !== undefined ? FIELD_MESSAGES[rule.field] : MESSAGES[rule.code];
  return new OmniError(rule.code, message ?? 'WhatsApp refused the message', {
    details,
    ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}),
  });
}

// Constant messages: the platform's own words go to `details`, never into the message.
const MESSAGES: Partial<Record<ErrorCode, string>> = {
  rate_limited: 'WhatsApp rate limit hit',
  channel_unavailable: 'WhatsApp API failed',
  session_expired: 'WhatsApp customer service window is closed; only templates may be sent',
  recipient_unreachable: 'WhatsApp cannot deliver to this recipient',
  quota_exceeded: 'WhatsApp per-user message limit reached',
  attachment_type_not_allowed: 'WhatsApp refused the media',
  template_invalid: 'WhatsApp refused the template',
};

const FIELD_MESSAGES: Readonly<Record<string, string>> = {
  accessToken: 'WhatsApp rejected the access token',
  phoneNumberId: 'WhatsApp does not know this phone number id',
};

/** `Retry-After` (seconds or HTTP date) first, then the rule's hint; only for retryable codes. */
function retryAfter(response: HttpResponse, rule: Rule, context: FailureContext): number | undefined {
  if (rule.code !== 'rate_limited' && rule.code !== 'channel_unavailable') return undefined;
  const header = response.headers.get('retry-after')?.trim();
  if (header !== undefined && header !== '') {
    const seconds = /^\d+$/.test(header) ? Number(header) : (Date.parse(header) - context.now.getTime()) / 1000;
    if (Number.isFinite(seconds)) return Math.min(MAX_RETRY_AFTER_SECONDS, Math.max(0, Math.ceil(seconds)));
  }
  if (rule.retryAfter === 'pair') return context.pairBackoffSeconds();
  return rule.retryAfter;
}

async function readGraphError(response: HttpResponse, accessToken: string): Promise<GraphError> {
  let body: unknown;
  try {
    body = JSON.parse(await response.text());
  } catch {
    // An HTML error page or a cut connection: the HTTP status alone decides.
    return {};
  }
  const error = isRecord(body) && isRecord(body.error) ? body.error : {};
  const data = isRecord(error.error_data) ? error.error_data : {};
  const scrub = (text: unknown): string | undefined => {
    if (typeof text !== 'string' || text === '') return undefined;
    // A proxy that echoes the request must not put the token into a log or an answer.
    const clean = accessToken.length > 0 ? text.split(accessToken).join('[redacted]') : text;
    return clean.length > MAX_TEXT ? `${clean.slice(0, MAX_TEXT)}…` : clean;
  };
  const parsed: GraphError = {};
  if (typeof error.code === 'number') parsed.platformCode = error.code;
  if (typeof error.error_subcode === 'number') parsed.subcode = error.error_subcode;
  // Messages read `(#131047) Re-engagement message`: the title is what follows the code.
  const title = scrub(error.error_user_title) ?? scrub(typeof error.message === 'string' ? error.message.replace(/^\(#\d+\)\s*/, '') : undefined);
  if (title !== undefined) parsed.title = title;
  const details = scrub(data.details) ?? scrub(error.error_user_msg);
  if (details !== undefined) parsed.details = details;
  if (typeof error.fbtrace_id === 'string') parsed.fbtraceId = error.fbtrace_id.slice(0, 64);
  return parsed;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
