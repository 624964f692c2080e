/**
 * Failure injection: a test scripts "the next N calls to endpoint X answer Y" and the route asks
 * `take(X)` before doing its work. Endpoints are names the fake chooses (`messages`, `token`,
 * `api` for every call with an access token); answers are the fake's own type, turned into the
 * platform's error shape by the route.
 */

/** Scripted answers per endpoint, consumed one per call in the order they were scripted. */
export class FailureQueue<A> {
  readonly #queues = new Map<string, A[]>();

  /** The next `count` calls to `endpoint` answer `answer`. */
  script(endpoint: string, answer: A, count = 1): void {
    const queue = this.#queues.get(endpoint) ?? [];
    for (let i = 0; i < count; i++) queue.push(answer);
    this.#queues.set(endpoint, queue);
  }

  /** The scripted answer for this call to `endpoint`, consuming it; undefined = behave normally. */
  take(endpoint: string): A | undefined {
    const queue = this.#queues.get(endpoint);
    const answer = queue?.shift();
    if (queue !== undefined && queue.length === 0) this.#queues.delete(endpoint);
    return answer;
  }

  /** How many scripted answers are left for `endpoint`. */
  pending(endpoint: string): number {
    return this.#queues.get(endpoint)?.length ?? 0;
  }

  /** Forget every scripted answer. */
  clear(): void {
    this.#queues.clear();
  }
}
