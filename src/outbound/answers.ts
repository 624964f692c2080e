/**
 * The first answer per idempotency key (`send_requests`): an accepted message or a refusal.
 * A repeated key gets the first answer again, whichever entry point or replica it reaches and
 * however long after; two concurrent requests with one key are serialised by the primary key.
 */
import { createHash } from 'node:crypto';
import { eq } from 'drizzle-orm';
import type { Db, Tx } from '../core/storage/db.ts';
import { messages, outbox, sendRequests } from '../core/storage/schema.ts';
import { OmniError, type ErrorBody, type ErrorCode } from '../core/errors.ts';
import type { DeliveryStatus, StatusEvent } from '../core/model.ts';
import type { Subjects } from '../core/schemas/subjects.ts';

/** Where a send came from. */
export type SendSource = 'api' | 'http' | 'command';

/** The answer of a send: accepted (with the message's current status) or refused. */
export type SendOutcome = { ok: true; messageId: string; status: DeliveryStatus } | { ok: false; error: ErrorBody };

/** Channel and account a refusal is published under (`unknown` before the account is known). */
export interface RefusalScope {
  channel: string;
  account: string;
}

// Refusals that depend on this moment rather than on the request are not remembered: the
// same key may succeed once the database or the platform is back, or once the body is fixed.
const NOT_REMEMBERED: ReadonlySet<ErrorCode> = new Set(['invalid_request', 'unauthorized', 'internal', 'channel_unavailable', 'rate_limited']);

/** Whether a refusal becomes the key's permanent first answer. */
export function isRemembered(error: OmniError): boolean {
  return !NOT_REMEMBERED.has(error.code);
}

/** The stored first answer for a key, or null. */
export async function findAnswer(db: Db | Tx, key: string): Promise<SendOutcome | null> {
  const [row] = await db
    .select({ messageId: sendRequests.messageId, error: sendRequests.error, status: messages.status })
    .from(sendRequests)
    .leftJoin(messages, eq(messages.id, sendRequests.messageId))
    .where(eq(sendRequests.idempotencyKey, key))
    .limit(1);
  if (!row) return null;
  if (row.messageId !== null) return { ok: true, messageId: row.messageId, status: (row.status ?? 'queued') as DeliveryStatus };
  return { ok: false, error: row.error as ErrorBody };
}

/**
 * Remembers a refusal as the key's first answer unless another answer got there first, and
 * returns whichever is first. For commands the refusal is also published as a `failed` status.
 */
export async function rememberRefusal(
  db: Db,
  subjects: Subjects,
  input: { key: string; error: OmniError; source: SendSource; scope: RefusalScope; at: Date },
): Promise<SendOutcome> {
  return db.transaction(async (tx) => {
    await tx
      .insert(sendRequests)
      .values({ idempotencyKey: input.key, messageId: null, error: input.error.toBody(), source: input.source, createdAt: input.at })
      .onConflictDoNothing();
    const first = (await findAnswer(tx, input.key))!;
    if (input.source === 'command' && !first.ok) await publishRefusal(tx, subjects, input.key, first.error, input.scope, input.at);
    return first;
  });
}

/**
 * A refused command's outcome: `message.status` `failed` with the command's idempotencyKey and
 * no message id (nothing was accepted). The Nats-Msg-Id derives from the key, so a redelivered
 * command does not publish it twice.
 */
export async function publishRefusal(tx: Db | Tx, subjects: Subjects, key: string | null, error: ErrorBody, scope: RefusalScope, at: Date, msgId?: string): Promise<void> {
  const payload: StatusEvent = {
    schema: 'omni.status/v1',
    messageId: null,
    idempotencyKey: key,
    channel: scope.channel,
    account: scope.account,
    externalId: '',
    status: 'failed',
    error,
    at: at.toISOString(),
  };
  const id = msgId ?? `send:${keyDigest(key ?? '')}:refused`;
  await tx
    .insert(outbox)
    .values({ subject: subjects.evt.messageStatus(scope.channel, scope.account), msgId: id, payload, orderingKey: id, createdAt: at })
    .onConflictDoNothing();
}

/** A header-safe, fixed-length stand-in for a caller's key (which may hold any character). */
export function keyDigest(key: string): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 32);
}

/** Turns a stored refusal back into the error to throw. */
export function refusalError(error: ErrorBody): OmniError {
  return new OmniError(error.code, error.message, error.details === undefined ? {} : { details: error.details });
}
