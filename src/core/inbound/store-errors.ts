/**
 * Tells a failure of one item's data (PostgreSQL refused a value: a date out of range, a key
 * too long for its index) from the database being unavailable. Only the first may cost an item
 * (it is dead-lettered); the second must make the platform retry the whole batch (503).
 */

/** SQLSTATE classes of a refused value: data exception, integrity violation, program limit. */
const DATA_CLASSES = new Set(['22', '23', '54']);
const SQLSTATE = /^[0-9A-Z]{5}$/;

/** True when `error` says this item's values cannot be stored (and retrying will not help). */
export function isItemDataError(error: unknown): boolean {
  let sawJsValueError = false;
  for (let e = error as { code?: unknown; errno?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 8; e = e.cause as typeof e, depth++) {
    const code = e.code;
    // The server answered: its class decides.
    if (typeof code === 'string' && SQLSTATE.test(code)) return DATA_CLASSES.has(code.slice(0, 2));
    // A driver or socket code (ECONNREFUSED, CONNECTION_CLOSED, ...): the database is the problem.
    if (typeof code === 'string' || typeof e.errno === 'number') return false;
    // A value that could not even be serialised for the query (an invalid Date, a BigInt).
    if (e instanceof RangeError || e instanceof TypeError) sawJsValueError = true;
  }
  return sawJsValueError;
}

/**
 * True when PostgreSQL aborted the transaction to break a lock cycle or a serialization
 * conflict (40P01, 40001), or a race with another replica was left unsettled: nothing was
 * wrong with the data and nothing was stored, so running
 * the same transaction again is the fix. Two replicas recording the same redelivered batch of
 * first sightings in different orders can meet that way.
 */
export function isTransientConflict(error: unknown): boolean {
  for (let e = error as { code?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 8; e = e.cause as typeof e, depth++) {
    if (e.code === '40P01' || e.code === '40001') return true;
    // Set-based recording met another replica's first sighting it could not settle in this
    // transaction (record-batch-new.ts); the next attempt sees that replica's commit.
    if ((e as { name?: unknown }).name === 'SetRaceUnsettled') return true;
  }
  return false;
}
