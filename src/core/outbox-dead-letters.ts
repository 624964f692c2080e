/**
 * Which publish failures are permanent, and the notice the relay publishes when it gives up on
 * an outbox row. Connectivity problems and timeouts are retried (a reconnect cures them); any
 * other failure belongs to the row itself (too large even bounded, a subject or header the
 * server refuses, a JetStream rejection such as the stream's own message-size limit) and would
 * fail the same way forever, so it is dead-lettered instead of blocking the rows behind it.
 */
import type { DeadletterEvent } from './schemas/events.ts';
import { subjects } from './schemas/subjects.ts';
import { parsedOrNull } from './outbox-bounds.ts';

/** The failures retrying can cure: connection lost or closing, no answer in time, no stream there yet. */
const TRANSIENT = new Set([
  'TimeoutError',
  'ClosedConnectionError',
  'DrainingConnectionError',
  'ConnectionError',
  'RequestError',
  'NoResponders',
  'NoRespondersError',
  'JetStreamNotEnabled',
  'JetStreamError',
  'AbortError',
]);

/** An event that does not fit the server's `max_payload` even bounded. */
export class EventTooLarge extends Error {
  override readonly name = 'EventTooLarge';
  constructor(readonly sizeBytes: number) {
    super(`event of ${sizeBytes} bytes does not fit max_payload even bounded`);
  }
}

/** Why a row is given up on: a short reason for the row, metric and log, and safe facts. */
export interface Permanent {
  reason: 'too_large' | 'invalid_subject' | 'no_stream' | 'rejected';
  detail: string;
  sizeBytes?: number;
  limitBytes?: number;
}

/** No stream answered the subject. */
const NO_RESPONDERS = new Set(['JetStreamNotEnabled', 'NoResponders', 'NoRespondersError']);

/**
 * The permanent failure `error` is, or null when a retry may succeed. `connected` is whether
 * the connection is still up: any failure while it is not is treated as connectivity.
 * `streamAnswered` is whether the stream acknowledged other events of the same batch: then a
 * subject nobody answers is one no stream captures (rows recorded under an old `nats.prefix`),
 * not JetStream being away.
 */
export function permanentFailure(error: unknown, limitBytes: number, connected: boolean, streamAnswered = false): Permanent | null {
  if (error instanceof EventTooLarge) return { reason: 'too_large', detail: error.message, sizeBytes: error.sizeBytes, limitBytes };
  if (!connected || !(error instanceof Error)) return null;
  const detail = `${error.name}: ${error.message}`.slice(0, 300);
  if (streamAnswered && (NO_RESPONDERS.has(error.name) || (error.name === 'RequestError' && /no responders/i.test(error.message)))) {
    return { reason: 'no_stream', detail };
  }
  if (error.name === 'JetStreamApiError' || error.name === 'StreamNotFoundError') {
    // The server's own status: 5xx (leader election, insufficient resources) may pass, 4xx will not.
    const status = (error as Error & { status?: number }).status ?? 0;
    return status >= 500 ? null : { reason: /size|payload/i.test(error.message) ? 'too_large' : 'rejected', detail };
  }
  if (TRANSIENT.has(error.name)) return null;
  if (error.name === 'InvalidSubjectError') return { reason: 'invalid_subject', detail };
  if (error.name === 'InvalidArgumentError' && /max_payload/.test(error.message)) return { reason: 'too_large', detail, limitBytes };
  return { reason: 'rejected', detail };
}

/** The `omni.deadletter/v1` notice of a row, or null when its event names no channel and account. */
export function deadLetterNotice(
  row: { msgId: string; subject: string; payload: unknown },
  failure: Permanent,
  at: Date = new Date(),
): { subject: string; event: DeadletterEvent } | null {
  const stored = typeof row.payload === 'string' ? parsedOrNull(row.payload) : row.payload;
  const payload = (typeof stored === 'object' && stored !== null ? stored : {}) as Record<string, unknown>;
  const { channel, account } = payload;
  const marker = row.subject.indexOf('.v1.evt.');
  if (typeof channel !== 'string' || typeof account !== 'string' || marker <= 0) return null;
  let subject: string;
  try {
    subject = subjects(row.subject.slice(0, marker)).evt.deadletter(channel, account);
  } catch {
    return null;
  }
  const messageId = payload.schema === 'omni.message/v1' && typeof payload.id === 'string' ? payload.id : undefined;
  const event: DeadletterEvent = {
    schema: 'omni.deadletter/v1',
    channel,
    account,
    error: {
      code: 'internal',
      message: failure.reason === 'too_large' ? 'the event is too large to publish, even bounded' : 'the event could not be published',
      details: {
        reason: failure.reason,
        ...(failure.sizeBytes !== undefined ? { sizeBytes: failure.sizeBytes } : {}),
        ...(failure.limitBytes !== undefined && Number.isFinite(failure.limitBytes) ? { limitBytes: failure.limitBytes } : {}),
      },
    },
    at: at.toISOString(),
    raw: null,
    event: {
      subject: row.subject,
      msgId: row.msgId,
      ...(typeof payload.schema === 'string' ? { schema: payload.schema } : {}),
      ...(messageId !== undefined ? { messageId, fetch: `/v1/messages/${encodeURIComponent(messageId)}` } : {}),
    },
  };
  return { subject, event };
}
