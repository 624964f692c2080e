/**
 * Generic part of the LINE fake: failures a test scripts, answered one per matching call, in
 * order. Kept apart from the LINE routes so it can be swapped for the shared sandbox kit.
 */

/** One scripted answer: an HTTP status with a JSON body, for calls of one kind (or any). */
export interface ScriptedFailure<K extends string> {
  on: K | 'any';
  status: number;
  body: Record<string, unknown>;
  headers?: Record<string, string>;
}

/** A queue of scripted failures. */
export class FailureQueue<K extends string> {
  readonly #queue: Array<ScriptedFailure<K>> = [];

  push(failure: ScriptedFailure<K>): void {
    this.#queue.push(failure);
  }

  /** The next failure meant for a call of `kind`, removed from the queue; undefined when none is. */
  take(kind: K): ScriptedFailure<K> | undefined {
    const index = this.#queue.findIndex((failure) => failure.on === kind || failure.on === 'any');
    return index === -1 ? undefined : this.#queue.splice(index, 1)[0];
  }

  /** The failure as a fetch Response. */
  static answer(failure: ScriptedFailure<string>): Response {
    return new Response(JSON.stringify(failure.body), { status: failure.status, headers: { 'content-type': 'application/json', ...failure.headers } });
  }
}
