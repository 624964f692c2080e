import { randomFillSync } from 'node:crypto';

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
  if (poolOffset + 16 > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  let tail = '';
  for (let i = 0; i < 16; i++) tail += ALPHABET[pool[poolOffset + i]! % 32];
  poolOffset += 16;
  return `${prefix}_${time}${tail}`;
}

/** Random bytes drawn 4 KiB at a time: a batch mints several ids per message. */
const pool = new Uint8Array(4096);
let poolOffset = pool.length;
