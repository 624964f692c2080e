/**
 * The kit's callback pump: strictly ordered, held and flushed by tests instead of sleeping,
 * retried when the daemon does not take a callback, and never stuck on one that keeps failing.
 */
import { describe, expect, it } from 'vitest';
import type { WebhookRequestSpec } from '../../src/core/adapter.ts';
import { CallbackPump, type DeliverCallback } from '../../src/sandbox/index.ts';

const build = (item: string): WebhookRequestSpec => ({ method: 'POST', path: `/webhooks/x/${item}`, headers: { 'x-sig': `signed:${item}` }, body: item });

function pumpWith(deliver: DeliverCallback | undefined, attempts?: number) {
  return new CallbackPump<string>({ build, deliver, delayMs: 10_000, retryDelayMs: 10_000, ...(attempts !== undefined ? { attempts } : {}) });
}

describe('CallbackPump', () => {
  it('delivers signed callbacks in order on flush, without waiting for its delays', async () => {
    const posted: string[] = [];
    const pump = pumpWith(async (request) => void posted.push(`${request.body}:${request.headers['x-sig']}`));
    pump.push('a', 'b');
    pump.push('c');
    await pump.flush();
    expect(posted).toEqual(['a:signed:a', 'b:signed:b', 'c:signed:c']);
    expect(pump.records().map((record) => [record.item, record.delivered, record.attempts])).toEqual([['a', true, 1], ['b', true, 1], ['c', true, 1]]);
  });

  it('holds callbacks until flushed or released', async () => {
    const posted: string[] = [];
    let released: () => void = () => {};
    const done = new Promise<void>((resolve) => (released = resolve));
    const pump = new CallbackPump<string>({
      build,
      delayMs: 0,
      deliver: async (request) => {
        posted.push(request.body as string);
        if (posted.length === 2) released();
      },
    });
    pump.hold(true);
    pump.push('a', 'b');
    expect(pump.records()).toEqual([]);
    pump.hold(false);
    await done;
    expect(posted).toEqual(['a', 'b']);
  });

  it('retries a callback the daemon refused or could not take, with the same bytes, before the next one', async () => {
    const answers: Array<{ status: number } | Error | undefined> = [{ status: 503 }, new Error('connection refused'), undefined, undefined];
    const posted: WebhookRequestSpec[] = [];
    const pump = pumpWith(async (request) => {
      posted.push(request);
      const answer = answers.shift();
      if (answer instanceof Error) throw answer;
      return answer;
    });
    pump.push('a', 'b');
    await pump.flush();
    expect(posted.map((request) => request.body)).toEqual(['a', 'a', 'a', 'b']);
    expect(posted[0]).toBe(posted[2]);
    expect(pump.records().map((record) => [record.item, record.delivered, record.attempts])).toEqual([['a', true, 3], ['b', true, 1]]);
  });

  it('records a callback undelivered after its last attempt and goes on; without a target it only records', async () => {
    const posted: string[] = [];
    const pump = pumpWith(async (request) => {
      posted.push(request.body as string);
      if (request.body === 'a') throw new Error('down');
    }, 2);
    pump.push('a', 'b');
    await pump.flush();
    expect(posted).toEqual(['a', 'a', 'b']);
    expect(pump.records().map((record) => [record.item, record.delivered])).toEqual([['a', false], ['b', true]]);

    const silent = pumpWith(undefined);
    silent.push('c');
    await silent.flush();
    expect(silent.records().map((record) => [record.request.path, record.delivered, record.attempts])).toEqual([['/webhooks/x/c', false, 0]]);
  });
});
