/**
 * The pure parts of the sender: the rate a queue enforces, the call gate, backoff, the wait a
 * platform asked for, and which failures may have reached the platform (never retried).
 */
import { describe, expect, it } from 'vitest';
import { queueRate } from '../../src/outbound/account-queue.ts';
import { CallGate } from '../../src/outbound/call-gate.ts';
import { backoffMs, isAmbiguous, retryAfterMs } from '../../src/outbound/retry.ts';
import { OmniError } from '../../src/core/errors.ts';
import { HttpClientError } from '../../src/core/http-client.ts';

describe('queueRate', () => {
  it('a fifth of the rate every fifth of a second, never a fraction of a call', () => {
    expect(queueRate(80)).toEqual({ cap: 16, intervalMs: 200 });
    expect(queueRate(20)).toEqual({ cap: 4, intervalMs: 200 });
    expect(queueRate(1)).toEqual({ cap: 1, intervalMs: 1000 });
    expect(queueRate(0.5)).toEqual({ cap: 1, intervalMs: 2000 });
    const odd = queueRate(33);
    expect((odd.cap * 1000) / odd.intervalMs).toBeCloseTo(33, 6);
  });
});

describe('CallGate', () => {
  it('lets at most cap calls through in any rolling interval, in order', async () => {
    const gate = new CallGate(2, 60);
    const times: number[] = [];
    const order: number[] = [];
    await Promise.all(Array.from({ length: 8 }, (_, i) => gate.take().then(() => {
      times.push(performance.now());
      order.push(i);
    })));
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    for (let i = 2; i < times.length; i++) expect(times[i]! - times[i - 2]!).toBeGreaterThanOrEqual(59);
  });
});

describe('retry decisions', () => {
  it('backs off exponentially up to the bound, with at most 20 % jitter', () => {
    const settings = { backoffBaseMs: 1_000, backoffMaxMs: 60_000 };
    for (const [attempts, base] of [[1, 1_000], [2, 2_000], [3, 4_000], [7, 60_000], [20, 60_000]] as const) {
      const delay = backoffMs(settings, attempts);
      expect(delay).toBeGreaterThanOrEqual(base);
      expect(delay).toBeLessThanOrEqual(base * 1.2);
    }
  });

  it('reads the wait from retryAfterSeconds or details', () => {
    expect(retryAfterMs(new OmniError('rate_limited', 'x', { retryAfterSeconds: 2 }))).toBe(2_000);
    expect(retryAfterMs(new OmniError('rate_limited', 'x', { details: { retryAfterSeconds: 0.5 } }))).toBe(500);
    expect(retryAfterMs(new OmniError('rate_limited', 'x'))).toBeNull();
  });

  it('treats timeouts and broken connections as possibly sent, refused connections as not', () => {
    const wrap = (cause: unknown) => new OmniError('channel_unavailable', 'x', { cause });
    expect(isAmbiguous(wrap(new HttpClientError('timeout', 't')), false)).toBe(true);
    expect(isAmbiguous(wrap(new HttpClientError('network', 'n', { cause: Object.assign(new Error('reset'), { code: 'ECONNRESET' }) })), false)).toBe(true);
    expect(isAmbiguous(wrap(new HttpClientError('network', 'n', { cause: Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }) })), false)).toBe(false);
    expect(isAmbiguous(new OmniError('channel_unavailable', 'HTTP 503'), false)).toBe(false);
    expect(isAmbiguous(new OmniError('channel_unavailable', 'x', { details: { ambiguous: true } }), false)).toBe(true);
    expect(isAmbiguous(new Error('anything'), true)).toBe(true);
  });
});
