import { describe, expect, it } from 'vitest';
import { cachedPhones, forgetPhones, normalizePhone } from '../../src/merge/evidence.ts';

describe('the phone parse cache', () => {
  it('forgets an erased number in every form it was parsed from, and keeps the others', () => {
    expect(normalizePhone('16315550142', { international: true })).toBe('+16315550142');
    expect(normalizePhone('(631) 555-0142', { region: 'US' })).toBe('+16315550142');
    expect(normalizePhone('+44 20 7946 0958')).toBe('+442079460958');
    expect(cachedPhones()).toEqual(expect.arrayContaining(['16315550142', '(631) 555-0142', '+16315550142', '+442079460958']));

    forgetPhones(['+16315550142']);

    const left = cachedPhones();
    expect(left.filter((text) => text.replace(/\D/g, '').endsWith('6315550142'))).toEqual([]);
    expect(left).toContain('+442079460958');
    // Parsed again on demand, the same answer.
    expect(normalizePhone('16315550142', { international: true })).toBe('+16315550142');
  });

  it('forgets a number given as the platform sent it (no plus)', () => {
    normalizePhone('4915123456789', { international: true });
    forgetPhones(['4915123456789']);
    expect(cachedPhones().filter((text) => text.includes('4915123456789'))).toEqual([]);
  });
});
