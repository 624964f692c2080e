/**
 * One bound on API work, shared by HTTP `/v1` and NATS request/reply: at most `concurrency`
 * requests are worked on at once and `maxPending` wait for a slot. Beyond that a request is
 * refused at once (`rate_limited`, HTTP 429) instead of queueing without end: a flood of
 * `contact.get` would otherwise hold the database pool and the event loop, and webhook
 * ingest, which never waits here, would starve behind it.
 */
import PQueue from 'p-queue';
import { Counter, Gauge, type Registry } from 'prom-client';
import { OmniError } from '../errors.ts';

/** Where an API request came in. */
export type ApiTransport = 'http' | 'nats';

/** The shared limiter of API work. */
export class ApiLimiter {
  private readonly queue: PQueue;
  private readonly rejected: Counter<'transport'>;

  constructor(
    readonly settings: { concurrency: number; maxPending: number },
    registry: Registry,
  ) {
    this.queue = new PQueue({ concurrency: settings.concurrency });
    this.rejected = new Counter({
      name: 'omnibus_api_rate_limited_total',
      help: 'API requests refused as rate_limited because the API was at its concurrency and queue bound',
      labelNames: ['transport'],
      registers: [registry],
    });
    const queue = this.queue;
    new Gauge({
      name: 'omnibus_api_requests_in_flight',
      help: 'API requests being worked on or waiting for a slot',
      registers: [registry],
      collect() {
        this.set(queue.pending + queue.size);
      },
    });
  }

  /** Runs `work` when a slot is free; null (and counted) when the bound is reached: refuse the request. */
  tryRun<T>(transport: ApiTransport, work: () => Promise<T>): Promise<T> | null {
    if (this.queue.pending + this.queue.size >= this.settings.concurrency + this.settings.maxPending) {
      this.rejected.inc({ transport });
      return null;
    }
    return this.queue.add(work) as Promise<T>;
  }

  /** Resolves once no API work is running or waiting. */
  onIdle(): Promise<void> {
    return this.queue.onIdle();
  }
}

/** The error a refused request is answered with. */
export function rateLimitedError(): OmniError {
  return new OmniError('rate_limited', 'the API is at its request limit; retry shortly', { retryAfterSeconds: 1 });
}
