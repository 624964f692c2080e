/**
 * The fake's status webhooks: one queue, delivered strictly in order through
 * `deliverWebhook`, each after a short delay (so the adapter has the send's answer before its
 * first receipt, as with Meta). Tests hold the queue or flush it instead of sleeping.
 */
import type { WebhookRequestSpec } from '../../core/adapter.ts';
import type { FakeState, WhatsAppAccount } from './sandbox-graph.ts';
import { buildStatusWebhook, type StatusInput } from './sandbox-webhooks.ts';

/** A status the fake is to report; the timestamp is taken when it is delivered. */
export interface PendingStatus {
  account: WhatsAppAccount;
  wamid: string;
  recipientId: string;
  status: StatusInput['status'];
  error?: StatusInput['error'];
}

/** A status webhook the fake built, and what became of it. */
export interface StatusRecord {
  phoneNumberId: string;
  wamid: string;
  status: StatusInput['status'];
  /** Meta's error code for a `failed` status. */
  errorCode?: number;
  /** The signed request, exactly as posted. */
  request: WebhookRequestSpec;
  /** False when there was no `deliverWebhook` or it threw (the fake does not redeliver). */
  delivered: boolean;
}

const MAX_RECORDS = 10_000;

/** An ordered, pausable delivery queue. */
export class StatusPump {
  readonly #queue: PendingStatus[] = [];
  readonly #records: StatusRecord[] = [];
  readonly #delayMs: number;
  readonly #state: FakeState;
  #held = false;
  #flushing = 0;
  #running: Promise<void> | undefined;
  #wake: (() => void) | undefined;

  constructor(delayMs: number, state: FakeState) {
    this.#delayMs = delayMs;
    this.#state = state;
  }

  push(items: PendingStatus[]): void {
    this.#queue.push(...items);
    if (!this.#held) this.#start();
  }

  hold(held: boolean): void {
    this.#held = held;
    if (!held && this.#queue.length > 0) this.#start();
  }

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

  records(phoneNumberId?: string): StatusRecord[] {
    return this.#records.filter((record) => phoneNumberId === undefined || record.phoneNumberId === phoneNumberId);
  }

  #start(): void {
    this.#running ??= this.#run().finally(() => {
      this.#running = undefined;
    });
  }

  async #run(): Promise<void> {
    while (this.#queue.length > 0) {
      if (this.#flushing === 0 && this.#delayMs > 0) await this.#sleep();
      if (this.#held && this.#flushing === 0) return;
      const item = this.#queue.shift();
      if (item !== undefined) await this.#deliver(item);
    }
  }

  #sleep(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, this.#delayMs);
      // A pending receipt must never keep a test run or a stopping daemon alive.
      timer.unref?.();
      this.#wake = done;
    });
  }

  async #deliver(item: PendingStatus): Promise<void> {
    const input: StatusInput = { wamid: item.wamid, status: item.status, recipientId: item.recipientId, timestamp: this.#state.clock.now() };
    if (item.error !== undefined) input.error = item.error;
    const request = buildStatusWebhook(item.account, input);
    const record: StatusRecord = { phoneNumberId: item.account.settings.phoneNumberId, wamid: item.wamid, status: item.status, request, delivered: false };
    if (item.error !== undefined) record.errorCode = item.error.code;
    this.#records.push(record);
    if (this.#records.length > MAX_RECORDS) this.#records.shift();
    const deliver = this.#state.deliverWebhook;
    if (deliver === undefined) return;
    try {
      await deliver(request);
      record.delivered = true;
    } catch {
      // Recorded as undelivered for tests to see; the queue goes on, as Meta's does for other messages.
      record.delivered = false;
    }
  }
}
