import { describe, expect, it } from 'vitest';
import { Wakeup } from '../../src/core/wakeup.ts';

describe('Wakeup', () => {
  it('ends a sleep early when woken', async () => {
    const wakeup = new Wakeup();
    let done = false;
    const sleeping = wakeup.sleep(60_000).then(() => (done = true));
    await Promise.resolve();
    expect(done).toBe(false);
    wakeup.wake();
    await sleeping;
    expect(done).toBe(true);
  });

  it('remembers a wake that came while nobody slept, once', async () => {
    const wakeup = new Wakeup();
    wakeup.wake();
    await wakeup.sleep(60_000); // returns at once: the notification is not lost
    let done = false;
    void wakeup.sleep(60_000).then(() => (done = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(done).toBe(false);
    wakeup.wake();
  });
});
