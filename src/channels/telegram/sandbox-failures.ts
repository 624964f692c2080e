/**
 * Failures a test asks a fake to answer, one per call, in order: optionally only for calls of
 * one method. Generic (the entry type is the fake's own), so the shared sandbox kit can take
 * it over later.
 */

/** A queued failure, for any call or for one method only. */
export interface QueuedFailure<F> {
  failure: F;
  method?: string;
}

/** FIFO of scripted failures. */
export class FailureQueue<F> {
  readonly #queue: Array<QueuedFailure<F>> = [];

  push(failure: F, method?: string): void {
    this.#queue.push(method === undefined ? { failure } : { failure, method });
  }

  /** The first failure meant for this method (or for any), removed from the queue. */
  take(method: string): F | undefined {
    const index = this.#queue.findIndex((entry) => entry.method === undefined || entry.method.toLowerCase() === method.toLowerCase());
    if (index === -1) return undefined;
    return this.#queue.splice(index, 1)[0]!.failure;
  }

  get size(): number {
    return this.#queue.length;
  }
}
