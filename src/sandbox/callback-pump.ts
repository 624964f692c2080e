/**
 * Status webhooks from a fake to the daemon, as the platform posts them: one queue per fake,
 * delivered strictly in order, each after a short delay (so the adapter has a send's answer
 * before its first receipt), retried a few times when the daemon does not take it. Tests hold
 * the queue or flush it instead of sleeping; the timers never keep a process alive.
 */
import type { WebhookRequestSpec } from '../core/adapter.ts';

/** Posts a request to the daemon; a throw or a non-2xx `status` counts as not delivered. */
export type DeliverCallback = (request: WebhookRequestSpec) => Promise<void | { status: number }>;

/** How a pump builds, posts and retries its callbacks. */
export interface CallbackPumpOptions<T> {
  /** The signed request for an item, built when its turn comes (so timestamps are delivery times). */
  build(item: T): WebhookRequestSpec;
  /** Where requests go (`FakeOptions.deliverWebhook`); none = recorded, not posted. */
  deliver: DeliverCallback | undefined;
  /** Milliseconds before each callback; default 50. */
  delayMs?: number;
  /** Attempts per callback before it is recorded undelivered and the queue moves on; default 3. */
  attempts?: number;
  /** Milliseconds between attempts; default 200. */
  retryDelayMs?: number;
}

/** A callback the pump built, and what became of it. */
export interface CallbackRecord<T> {
  item: T;
  /** The signed request, exactly as posted (the same bytes on every attempt). */
  request: WebhookRequestSpec;
  /** False while pending, or when every attempt failed, or with nowhere to post it. */
  delivered: boolean;
  attempts: number;
}

const MAX_RECORDS = 10_000;

/** An ordered, pausable, retrying delivery queue. */
export class CallbackPump<T> {
  readonly #queue: T[] = [];
  readonly #records: Array<CallbackRecord<T>> = [];
  readonly #options: CallbackPumpOptions<T>;
  #held = false;
  #flushing = 0;
  #running: Promise<void> | undefined;
  #wake: (() => void) | undefined;

  /** A pump that starts delivering as soon as something is pushed (unless held). */
  constructor(options: CallbackPumpOptions<T>) {
    this.#options = options;
  }

  /** Queue callbacks, delivered after everything queued before them. */
  push(...items: T[]): void {
    this.#queue.push(...items);
    if (!this.#held) this.#start();
  }

  /** Hold callbacks in the queue (true) or let them flow again (false). */
  hold(held: boolean): void {
    this.#held = held;
    if (!held && this.#queue.length > 0) this.#start();
  }

  /** Deliver everything queued now, in order, without the delays; resolves when done. */
  async flush(): Promise<void> {
    this.#flushing++;
    try {
      this.#wake?.();
      while (this.#queue.length > 0 || this.#running !== undefined) {
        this.#start();
        await this.#running;
      }
    } finally {
      this.#flushing--;
    }
  }

  /** Every callback built so far, oldest first (the last 10,000). */
  records(): ReadonlyArray<CallbackRecord<T>> {
    return this.#records;
  }

  #start(): void {
    this.#running ??= this.#run().finally(() => {
      this.#running = undefined;
    });
  }

  async #run(): Promise<void> {
    while (this.#queue.length > 0) {
      await this.#pause(this.#options.delayMs ?? 50);
      if (this.#held && this.#flushing === 0) return;
      const item = this.#queue.shift();
      if (item !== undefined) await this.#deliver(item);
    }
  }

  async #deliver(item: T): Promise<void> {
    const record: CallbackRecord<T> = { item, request: this.#options.build(item), delivered: false, attempts: 0 };
    this.#records.push(record);
    if (this.#records.length > MAX_RECORDS) this.#records.shift();
    const deliver = this.#options.deliver;
    if (deliver === undefined) return;
    const attempts = Math.max(1, this.#options.attempts ?? 3);
    while (record.attempts < attempts) {
      if (record.attempts > 0) await this.#pause(this.#options.retryDelayMs ?? 200);
      record.attempts++;
      try {
        const answer = await deliver(record.request);
        const status = answer?.status;
        if (status === undefined || (status >= 200 && status < 300)) {
          record.delivered = true;
          return;
        }
      } catch {
        // Counted as a failed attempt; after the last one the queue goes on, as platforms do.
      }
    }
  }

  /** Wait `ms`, unless flushing (or woken by a flush). */
  #pause(ms: number): Promise<void> {
    if (this.#flushing > 0 || ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      // A pending callback must never keep a test run or a stopping daemon alive.
      timer.unref?.();
      this.#wake = done;
    });
  }
}
