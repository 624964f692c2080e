/** The error codes (docs/api.md, errors). The code decides retry, dead-letter or answer. */
export const ERROR_CODES = [
  'invalid_request',
  'unauthorized',
  'unknown_account',
  'unknown_contact',
  'no_open_session',
  'session_expired',
  'quota_exceeded',
  'template_not_supported',
  'template_invalid',
  'attachment_type_not_allowed',
  'attachment_too_large',
  'attachment_unreachable',
  'recipient_unreachable',
  'channel_rejected',
  'channel_unavailable',
  'rate_limited',
  'conflict',
  'not_found',
  'internal',
] as const;

/** One of the contract's stable error codes. */
export type ErrorCode = (typeof ERROR_CODES)[number];

/** Codes whose failure may succeed later: the sender retries with backoff. */
const RETRYABLE: ReadonlySet<ErrorCode> = new Set(['channel_unavailable', 'rate_limited', 'internal']);

/** HTTP status for each code when it is answered over HTTP. */
const HTTP_STATUS: Record<ErrorCode, number> = {
  invalid_request: 400,
  unauthorized: 401,
  unknown_account: 404,
  unknown_contact: 404,
  no_open_session: 409,
  session_expired: 409,
  quota_exceeded: 429,
  template_not_supported: 422,
  template_invalid: 422,
  attachment_type_not_allowed: 422,
  attachment_too_large: 413,
  attachment_unreachable: 422,
  recipient_unreachable: 409,
  channel_rejected: 502,
  channel_unavailable: 503,
  rate_limited: 429,
  conflict: 409,
  not_found: 404,
  internal: 500,
};

/** The JSON shape of an error in every answer: `{ error: { code, message, details } }`. */
export interface ErrorBody {
  code: ErrorCode;
  message: string;
  details?: Record<string, unknown>;
}

/** A failure with a contract code; thrown everywhere, mapped to HTTP/NATS answers in one place. */
export class OmniError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;
  /** Seconds the caller should wait before retrying, when the platform said so. */
  readonly retryAfterSeconds: number | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options: { details?: Record<string, unknown>; cause?: unknown; retryAfterSeconds?: number } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = 'OmniError';
    this.code = code;
    this.details = options.details;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }

  get retryable(): boolean {
    return RETRYABLE.has(this.code);
  }

  get httpStatus(): number {
    return HTTP_STATUS[this.code];
  }

  toBody(): ErrorBody {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }
}

/** A webhook that failed authentication: answered 401 (403 for a GET handshake), nothing recorded. */
export class WebhookVerificationError extends Error {
  /** Short machine-readable reason, used as a metric label (never contains secrets). */
  readonly reason: string;
  constructor(reason: string, message?: string) {
    super(message ?? `webhook verification failed: ${reason}`);
    this.name = 'WebhookVerificationError';
    this.reason = reason;
  }
}

/** A webhook whose body is authentic but cannot be understood: answered 400, nothing recorded. */
export class WebhookPayloadError extends Error {
  readonly reason: string;
  constructor(reason: string, message?: string) {
    super(message ?? `webhook payload rejected: ${reason}`);
    this.name = 'WebhookPayloadError';
    this.reason = reason;
  }
}

/** Turns anything thrown into an OmniError, keeping contract errors as they are. */
export function toOmniError(error: unknown): OmniError {
  if (error instanceof OmniError) return error;
  return new OmniError('internal', 'internal error', { cause: error });
}
