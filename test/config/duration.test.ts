import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from '../../src/core/config/duration.ts';

describe('durations', () => {
  it('parses the contract forms', () => {
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('30m')).toBe(1_800_000);
    expect(parseDuration('24h')).toBe(86_400_000);
    expect(parseDuration('2d')).toBe(172_800_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration(' 1D2H ')).toBe(93_600_000);
  });

  it('rejects everything else', () => {
    for (const text of ['', 'none', '24', '1.5h', '30m1h', 'h', '0s', '-1h', '1 h', '1w']) {
      expect(parseDuration(text), text).toBeNull();
    }
  });

  it('normalises to hours, minutes and seconds', () => {
    expect(formatDuration(parseDuration('2d')!)).toBe('48h');
    expect(formatDuration(parseDuration('90s')!)).toBe('1m30s');
    expect(formatDuration(parseDuration('1h30m')!)).toBe('1h30m');
    expect(formatDuration(parseDuration('24h')!)).toBe('24h');
  });
});
