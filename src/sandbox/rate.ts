/**
 * Throughput limits as platforms enforce them: a token bucket per key (WhatsApp: 80 messages a
 * second per phone number), refilled on the fake's clock.
 */
import type { Clock } from '../core/clock.ts';

/** Token buckets by key, all with one rate. */
export class RateBuckets {
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  readonly #clock: Clock;
  #perSecond: number;

  /** Buckets holding `perSecond` tokens, refilled at that rate. */
  constructor(clock: Clock, perSecond: number) {
    this.#clock = clock;
    this.#perSecond = perSecond;
  }

  /** Take one token for `key`; false when the bucket is empty (the platform's rate-limit answer). */
  take(key: string): boolean {
    const at = this.#clock.now().getTime();
    const bucket = this.#buckets.get(key) ?? { tokens: this.#perSecond, at };
    bucket.tokens = Math.min(this.#perSecond, bucket.tokens + ((at - bucket.at) / 1000) * this.#perSecond);
    bucket.at = at;
    this.#buckets.set(key, bucket);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  /** Change the rate; every bucket starts full again. */
  setRate(perSecond: number): void {
    this.#perSecond = perSecond;
    this.#buckets.clear();
  }
}
