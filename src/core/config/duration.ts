/**
 * Durations in configuration: `90s`, `30m`, `24h`, `2d`, `1h30m`. Windows are described by the
 * platforms in hours (24 h, 48 h), so the normalised form never uses days: `2d` becomes `48h`.
 */

const UNIT_MS = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1_000 } as const;

/** Components in this fixed order, each at most once; at least one must be present. */
const DURATION_RE = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;

/** A JSON Schema / regex source matching what `parseDuration` accepts (for editor schemas). */
export const DURATION_PATTERN = '^(?=\\d)(\\d+d)?(\\d+h)?(\\d+m)?(\\d+s)?$';

/** How a duration is written, for error messages. */
export const DURATION_HINT = 'write a duration like 90s, 30m, 24h, 2d or 1h30m';

/** Milliseconds of a duration such as `1h30m`, or null when the text is not a positive duration. */
export function parseDuration(text: string): number | null {
  const match = DURATION_RE.exec(text.trim().toLowerCase());
  if (!match || match[0] === '') return null;
  const [, d, h, m, s] = match;
  const ms =
    Number(d ?? 0) * UNIT_MS.d + Number(h ?? 0) * UNIT_MS.h + Number(m ?? 0) * UNIT_MS.m + Number(s ?? 0) * UNIT_MS.s;
  return ms > 0 && Number.isSafeInteger(ms) ? ms : null;
}

/** The normalised text of a duration: hours, minutes and seconds, largest first (`48h`, `1h30m`). */
export function formatDuration(ms: number): string {
  let rest = Math.floor(ms / 1000);
  const hours = Math.floor(rest / 3600);
  rest -= hours * 3600;
  const minutes = Math.floor(rest / 60);
  const seconds = rest - minutes * 60;
  const text = `${hours ? `${hours}h` : ''}${minutes ? `${minutes}m` : ''}${seconds ? `${seconds}s` : ''}`;
  return text === '' ? '0s' : text;
}
