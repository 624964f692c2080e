/**
 * The last step before a platform call: at most `cap` calls in any rolling `intervalMs`,
 * counted when the calls are made. The account's p-queue limits when tasks START, but a task
 * reads the database before it calls, and under load that takes anywhere from 1 to 150 ms, so
 * starts spaced right could still reach the platform bunched. Waiting here, after the reads,
 * keeps the calls themselves within the rate.
 */
export class CallGate {
  /** When the last `cap` slots were handed out, oldest first. */
  private readonly recent: number[] = [];
  private tail: Promise<void> = Promise.resolve();

  constructor(
    private readonly cap: number,
    private readonly intervalMs: number,
  ) {}

  /** Resolves when a call may be made now; callers are served in order. */
  take(): Promise<void> {
    const turn = this.tail.then(() => this.waitForSlot());
    this.tail = turn;
    return turn;
  }

  private async waitForSlot(): Promise<void> {
    for (;;) {
      const now = performance.now();
      while (this.recent.length > 0 && now - this.recent[0]! >= this.intervalMs) this.recent.shift();
      if (this.recent.length < this.cap) {
        this.recent.push(now);
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, Math.max(1, Math.ceil(this.recent[0]! + this.intervalMs - now))));
    }
  }
}
