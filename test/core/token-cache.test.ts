/**
 * The shared access-token cache against real PostgreSQL: two replicas (two caches over their
 * own SharedState on one database) racing for a token fetch once; a token the platform refused
 * is replaced by one fetch however many replicas saw the refusal; the token is refreshed before
 * it expires; a failed fetch releases the lease; the fetch's memo reaches the next fetch.
 */
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenCache, type FetchedToken, type TokenFetchRequest } from '../../src/core/adapter.ts';
import { ManualClock } from '../../src/core/clock.ts';
import { openDatabase, type Database } from '../../src/core/storage/db.ts';
import { createSharedState } from '../../src/core/storage/shared-state.ts';
import { createTestDatabase, tempDir, waitFor, type TestDatabase } from '../support/services.ts';

const HOUR = 3600_000;

/** A fake platform token endpoint: counts fetches, hands out tok-1, tok-2, ...; can be held. */
class TokenEndpoint {
  readonly requests: TokenFetchRequest[] = [];
  failNext = false;
  #gate: Promise<void> | null = null;
  #open: (() => void) | null = null;

  hold(): void {
    this.#gate = new Promise((resolve) => (this.#open = resolve));
  }

  release(): void {
    this.#open?.();
    this.#gate = null;
  }

  fetch = async (request: TokenFetchRequest): Promise<FetchedToken> => {
    this.requests.push(request);
    const n = this.requests.length;
    if (this.#gate) await this.#gate;
    if (this.failNext) {
      this.failNext = false;
      throw new Error('platform down');
    }
    return { token: `tok-${n}`, expiresInSeconds: 2 * 3600, memo: { fetchedAt: n } };
  };
}

describe('TokenCache', () => {
  let database: TestDatabase;
  let db: Database;
  let namespaces = 0;

  beforeAll(async () => {
    database = await createTestDatabase();
    db = await openDatabase({ url: database.url, dataDir: await tempDir(), logger: pino({ level: 'silent' }) });
    await db.migrate();
  });
  afterAll(async () => {
    await db?.close();
    await database?.drop();
  });

  /** Two replicas of one account: separate caches and SharedState objects, one database row. */
  function replicas(endpoint: TokenEndpoint, clock: ManualClock): [TokenCache, TokenCache] {
    const namespace = `test:acct-${++namespaces}`;
    const make = () =>
      new TokenCache({ shared: createSharedState(db.db, namespace), clock, platform: 'Test', refreshBeforeMs: HOUR / 2, pollMs: 10, fetch: endpoint.fetch });
    return [make(), make()];
  }

  it('fetches once when two replicas race for the first token', async () => {
    const endpoint = new TokenEndpoint();
    const [a, b] = replicas(endpoint, new ManualClock());
    endpoint.hold();
    const calls = [a.current(), b.current(), a.current(), b.current()];
    await waitFor(() => endpoint.requests.length === 1, { description: 'the first fetch' });
    endpoint.release();
    expect(await Promise.all(calls)).toEqual(['tok-1', 'tok-1', 'tok-1', 'tok-1']);
    expect(await b.current()).toBe('tok-1');
    expect(endpoint.requests).toHaveLength(1);
  });

  it('replaces a refused token with one fetch, however many replicas saw the refusal', async () => {
    const endpoint = new TokenEndpoint();
    const [a, b] = replicas(endpoint, new ManualClock());
    const stale = await a.current();
    endpoint.hold();
    const replaced = [a.replace(stale), b.replace(stale), b.replace(stale)];
    await waitFor(() => endpoint.requests.length === 2, { description: 'the refetch' });
    endpoint.release();
    expect(await Promise.all(replaced)).toEqual(['tok-2', 'tok-2', 'tok-2']);
    expect(endpoint.requests.map((r) => r.rejected)).toEqual([undefined, stale]);
    // The memo of the first fetch reached the second.
    expect(endpoint.requests[1]!.memo).toEqual({ fetchedAt: 1 });
    // A late refusal of the old token does not fetch again: a newer one is stored.
    expect(await a.replace(stale)).toBe('tok-2');
    expect(endpoint.requests).toHaveLength(2);
  });

  it('refreshes before expiry: the token is reused until refreshBeforeMs ahead of it, then fetched once', async () => {
    const endpoint = new TokenEndpoint();
    const clock = new ManualClock();
    const [a, b] = replicas(endpoint, clock);
    expect(await a.current()).toBe('tok-1');
    clock.advance(HOUR + HOUR / 2 - 1000); // 2 h lifetime, refresh 30 min early
    expect(await b.current()).toBe('tok-1');
    clock.advance(2000);
    expect(await Promise.all([a.current(), b.current()])).toEqual(['tok-2', 'tok-2']);
    expect(endpoint.requests).toHaveLength(2);
  });

  it('releases the lease when the fetch fails, so the next caller fetches at once', async () => {
    const endpoint = new TokenEndpoint();
    const [a, b] = replicas(endpoint, new ManualClock());
    endpoint.failNext = true;
    await expect(a.current()).rejects.toThrow('platform down');
    expect(await b.current()).toBe('tok-2');
    expect(endpoint.requests).toHaveLength(2);
  });

  it('stores a token fetched outside the cache (a credential check) for every replica', async () => {
    const endpoint = new TokenEndpoint();
    const [a, b] = replicas(endpoint, new ManualClock());
    await a.store({ token: 'checked', expiresInSeconds: 7200 });
    expect(await b.current()).toBe('checked');
    expect(endpoint.requests).toHaveLength(0);
  });
});
