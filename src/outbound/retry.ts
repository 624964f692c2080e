/**
 * What a failed platform call leads to, decided in one place from the error's contract code:
 * `rate_limited` waits as long as the platform asked (the whole account, or one recipient
 * when the platform limited only that pair) and tries again; other retryable codes back off
 * exponentially up to `maxAttempts`; everything else ends the message `failed`. A call that
 * may have reached the platform (our deadline fired, the connection broke mid-request) is
 * never repeated: it ends `failed` with `details.ambiguous: true`, so nothing is sent twice.
 */
import { HttpClientError } from '../core/http-client.ts';
import { OmniError, type ErrorBody } from '../core/errors.ts';
import type { OutboundDeps } from './deps.ts';
import { requeue, type SendJob } from './jobs.ts';
import { recordFailed } from './outcomes.ts';

/** The part of an account's sender a failure may steer. */
export interface Throttle {
  /** Pause the whole account until this wall-clock ms (on every replica). */
  pause(until: number): void | Promise<void>;
  /** Pause one conversation until this wall-clock ms. */
  holdRecipient(conversationId: string, until: number): void;
}

/** Facts about the failed attempt. */
export interface AttemptContext {
  /** Platform calls made for this message so far, this one included. */
  attempts: number;
  /** Whether the platform was called (false: the failure came before). */
  sent: boolean;
  /** Whether our own deadline aborted the call. */
  timedOut: boolean;
  /** Set when the call was held back because the account is paused (or this replica lost the account). */
  pausedUntil?: number;
  /** Whether the job was already marked `sending` (its attempt is given back). */
  marked?: boolean;
  /** The adapter makes a repeat safe (`capabilities.outbound.idempotentRetry`): a lost answer is retried. */
  idempotentRetry?: boolean;
}

// Connection errors that prove the request never reached the platform.
const NEVER_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/** Decides and records what happens after a failed (or held back) attempt. */
export async function handleSendError(deps: OutboundDeps, throttle: Throttle, job: SendJob, error: unknown, context: AttemptContext): Promise<void> {
  const { db, settings } = deps;
  const now = Date.now();
  if (context.pausedUntil !== undefined) {
    await requeue(db, job.seq, { delayMs: context.pausedUntil - now, error: null, throttled: false, attemptDelta: context.marked ? -1 : 0 });
    return;
  }
  const count = (result: string) => deps.metrics.calls.inc({ channel: job.channel, account: job.account, result });
  const ambiguous = context.sent && isAmbiguous(error, context.timedOut);
  if (ambiguous && context.idempotentRetry && context.attempts < settings.maxAttempts) {
    // The one exception to "never repeat": the platform drops a repeat of the same key.
    count('retry');
    const body = withAttempts(new OmniError('channel_unavailable', 'the platform call was interrupted; retrying with the same key').toBody(), context.attempts);
    await requeue(db, job.seq, { delayMs: backoffMs(settings, context.attempts), error: { ...body, details: { ...body.details, ambiguous: true } }, throttled: false, attemptDelta: 0 });
    return;
  }
  if (ambiguous) {
    count('ambiguous');
    await recordFailed(deps, job, {
      code: 'channel_unavailable',
      message: 'the platform call was interrupted; the message may or may not have been sent',
      details: { ambiguous: true, attempts: context.attempts, ...(error instanceof OmniError ? { cause: error.code } : {}) },
    }, { deadLetter: true });
    return;
  }
  const failure = error instanceof OmniError ? error : new OmniError('internal', 'the send failed', { cause: error });
  const body = withAttempts(failure.toBody(), context.attempts);
  if (failure.code === 'rate_limited') {
    count('throttled');
    if (job.throttles + 1 > settings.maxThrottles) {
      await recordFailed(deps, job, body);
      return;
    }
    const waitMs = retryAfterMs(failure) ?? settings.defaultRetryAfterMs;
    if (failure.details?.['scope'] === 'recipient') throttle.holdRecipient(job.conversationId, now + waitMs);
    else await throttle.pause(now + waitMs);
    deps.logger.warn(
      { channel: job.channel, account: job.account, messageId: job.messageId, code: failure.code, waitMs, nextAttemptAt: new Date(now + waitMs).toISOString(), scope: failure.details?.['scope'] ?? 'account' },
      'platform asked to slow down',
    );
    await requeue(db, job.seq, { delayMs: waitMs, error: { ...body }, throttled: true, attemptDelta: context.sent ? -1 : 0 });
    return;
  }
  if (failure.retryable && context.attempts < settings.maxAttempts) {
    if (context.sent) count('retry');
    const delayMs = backoffMs(settings, context.attempts);
    // Code and attempt only: a platform's message may quote the recipient.
    deps.logger.warn(
      { channel: job.channel, account: job.account, messageId: job.messageId, code: failure.code, attempt: context.attempts, nextAttemptAt: new Date(now + delayMs).toISOString() },
      'send failed; will retry',
    );
    await requeue(db, job.seq, { delayMs, error: { ...body }, throttled: false, attemptDelta: context.sent ? 0 : 1 });
    return;
  }
  if (context.sent) count('failed');
  await recordFailed(deps, job, body, failure.retryable ? { deadLetter: true } : {});
}

/** Exponential backoff with up to 20 % jitter, so retries of many messages do not align. */
export function backoffMs(settings: Pick<OutboundDeps['settings'], 'backoffBaseMs' | 'backoffMaxMs'>, attempts: number): number {
  const base = Math.min(settings.backoffMaxMs, settings.backoffBaseMs * 2 ** Math.max(0, attempts - 1));
  return Math.round(base * (1 + Math.random() * 0.2));
}

/** The wait the platform asked for, in ms (`Retry-After`, `retry_after`), when it said. */
export function retryAfterMs(error: OmniError): number | null {
  const seconds = error.retryAfterSeconds ?? numeric(error.details?.['retryAfterSeconds']);
  return seconds !== undefined && seconds >= 0 ? Math.ceil(seconds * 1000) : null;
}

/**
 * Whether a failed call may still have been accepted by the platform. An adapter can say so
 * itself (`details.ambiguous`); otherwise a timeout or a connection broken after connecting is.
 */
export function isAmbiguous(error: unknown, timedOut: boolean): boolean {
  if (timedOut) return true;
  let current: unknown = error;
  for (let depth = 0; depth < 6 && current; depth++) {
    if (current instanceof OmniError && typeof current.details?.['ambiguous'] === 'boolean') return current.details['ambiguous'] as boolean;
    if (current instanceof HttpClientError) {
      if (current.reason === 'timeout' || current.reason === 'aborted') return true;
      if (current.reason === 'network') return !NEVER_SENT.has(errorCode(current.cause) ?? '');
      return false;
    }
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

function numeric(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

function withAttempts(body: ErrorBody, attempts: number): ErrorBody {
  return { ...body, details: { ...body.details, attempts } };
}
