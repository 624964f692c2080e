import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

/**
 * A sortable id with a type prefix (`msg_`, `cv_`, `ct_`, `med_`): 48 bits of milliseconds
 * then 80 random bits, Crockford base32, so ids created later sort later.
 */
export function newId(prefix: string, at: number = Date.now()): string {
  let time = '';
  let t = at;
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32] + time;
    t = Math.floor(t / 32);
  }
  const random = randomBytes(16);
  let tail = '';
  for (let i = 0; i < 16; i++) tail += ALPHABET[random[i]! % 32];
  return `${prefix}_${time}${tail}`;
}
