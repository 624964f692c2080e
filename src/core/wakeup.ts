/**
 * An idle wait that can be cut short: background loops (relay, media worker, senders) sleep
 * between polls and are woken when new work is recorded. A wake that arrives while the loop
 * is busy is remembered, so the next sleep returns at once and no notification is lost.
 */
export class Wakeup {
  private wakeNow: (() => void) | null = null;
  private pending = false;

  /** Waits `ms`, or less if `wake` is called. */
  sleep(ms: number): Promise<void> {
    if (this.pending) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      const self = this;
      function done() {
        clearTimeout(timer);
        self.wakeNow = null;
        resolve();
      }
      this.wakeNow = done;
    });
  }

  /** Ends the current sleep, or the next one if none is in progress. */
  wake(): void {
    if (this.wakeNow) this.wakeNow();
    else this.pending = true;
  }
}

/**
 * A background loop (relay, media worker, a sender): `start` runs `run` until `halt`;
 * `notify` cuts the current idle wait short. Subclasses sleep with `this.wakeup.sleep(ms)`
 * and check `this.running` between iterations.
 */
export abstract class BackgroundLoop {
  protected running = false;
  protected readonly wakeup = new Wakeup();
  private loop: Promise<void> | null = null;

  /** Starts the loop; idempotent. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** New work may be due: look now instead of at the next poll. */
  notify(): void {
    this.wakeup.wake();
  }

  /** Ends the loop and waits for the iteration in flight; idempotent. */
  protected async halt(): Promise<void> {
    this.running = false;
    this.wakeup.wake();
    await this.loop;
  }

  /** One loop until `running` is false. */
  protected abstract run(): Promise<void>;
}
