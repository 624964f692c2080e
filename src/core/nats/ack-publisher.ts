/**
 * JetStream publishing with acknowledgements, without nats.js's request/reply. `js.publish`
 * is a request: per message it subscribes a reply token in the connection's mux and, on every
 * success, rejects its already-settled promise with a fresh `RequestError("cancelled")` — an
 * Error with a captured stack trace per published message. This publisher sends each message
 * with a reply subject under ONE wildcard inbox subscription and matches the acks by token
 * itself, so a success allocates no Error at all; errors are built only for failures.
 *
 * The failures carry the names the relay's classification knows (outbox-dead-letters.ts):
 * `TimeoutError` (no ack in time; also what a dropped connection becomes), `NoRespondersError`
 * (no stream captures the subject), `JetStreamApiError` with the server's `status` (the stream
 * refused it, e.g. too large), or what `nc.publish` throws synchronously (an invalid subject,
 * a payload over `max_payload`).
 */
import { createInbox, headers, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';

/** What the stream answered for one message. */
export interface PublishAck {
  stream: string;
  seq: number;
  /** The stream already held a message with this `Nats-Msg-Id` (within its duplicate window). */
  duplicate: boolean;
}

interface Pending {
  resolve(ack: PublishAck): void;
  reject(error: Error): void;
  deadline: number;
}

const named = (name: string, message: string, extra: Record<string, unknown> = {}): Error => Object.assign(new Error(message), { name }, extra);

/** Publishes to JetStream with deduplication ids over one connection; `close` when done. */
export class AckPublisher {
  private readonly pending = new Map<string, Pending>();
  private readonly prefix: string;
  private readonly subscription: Subscription;
  private readonly sweeper: NodeJS.Timeout;
  private counter = 0;

  constructor(
    readonly nc: NatsConnection,
    private readonly timeoutMs: number,
  ) {
    // Under the connection's own inbox prefix, which NATS permissions usually allow for replies.
    this.prefix = `${createInbox((nc as { options?: { inboxPrefix?: string } }).options?.inboxPrefix)}.`;
    this.subscription = nc.subscribe(`${this.prefix}*`, { callback: (error, msg) => this.answered(error, msg) });
    // One timer for every message in flight instead of one per message.
    this.sweeper = setInterval(() => this.expire(Date.now()), Math.max(50, Math.min(1_000, timeoutMs / 4)));
    this.sweeper.unref();
  }

  /** Messages sent and not yet acknowledged. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** Publishes `data` on `subject` with `Nats-Msg-Id: msgId`; resolves with the stream's ack. */
  publish(subject: string, data: Uint8Array | string, msgId: string): Promise<PublishAck> {
    const token = (++this.counter).toString(36);
    const h = headers();
    h.set('Nats-Msg-Id', msgId);
    return new Promise<PublishAck>((resolve, reject) => {
      const entry: Pending = { resolve, reject, deadline: Date.now() + this.timeoutMs };
      this.pending.set(token, entry);
      try {
        this.nc.publish(subject, data, { reply: this.prefix + token, headers: h });
      } catch (error) {
        this.pending.delete(token);
        reject(error as Error);
      }
    });
  }

  /** Stops listening; whatever is still in flight fails as a timeout (the relay retries it). */
  close(): void {
    clearInterval(this.sweeper);
    this.subscription.unsubscribe();
    this.expire(Number.POSITIVE_INFINITY);
  }

  private answered(error: Error | null, msg: Msg): void {
    if (error) {
      // The subscription itself failed (permissions, closed connection): everything in flight.
      for (const [token, entry] of this.pending) {
        this.pending.delete(token);
        entry.reject(error);
      }
      return;
    }
    const token = msg.subject.slice(this.prefix.length);
    const entry = this.pending.get(token);
    if (!entry) return; // answered after its timeout: the relay has already moved on
    this.pending.delete(token);
    if (msg.headers?.hasError) {
      const code = msg.headers.code;
      entry.reject(code === 503 ? named('NoRespondersError', 'no responders: no stream captures the subject') : named('JetStreamApiError', msg.headers.description || `status ${code}`, { status: code }));
      return;
    }
    let body: { stream?: string; seq?: number; duplicate?: boolean; error?: { code?: number; description?: string } };
    try {
      body = msg.json();
    } catch {
      entry.reject(named('JetStreamApiError', 'unreadable publish acknowledgement', { status: 500 }));
      return;
    }
    if (body.error) {
      entry.reject(named('JetStreamApiError', body.error.description ?? 'the stream refused the message', { status: body.error.code ?? 500 }));
      return;
    }
    entry.resolve({ stream: body.stream ?? '', seq: body.seq ?? 0, duplicate: body.duplicate === true });
  }

  private expire(now: number): void {
    for (const [token, entry] of this.pending) {
      if (entry.deadline > now) continue;
      this.pending.delete(token);
      entry.reject(named('TimeoutError', 'no acknowledgement from the stream in time'));
    }
  }
}
