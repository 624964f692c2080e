/**
 * What a helpdesk would see, read on a connection of the test's own (fault tests restart
 * the daemon and NATS, so a handle tied to one daemon may be gone), and the database side of
 * "everything recorded was published".
 */
import { connect } from '@nats-io/transport-node';
import type postgres from 'postgres';
import { streams } from '../../src/core/schemas/subjects.ts';
import { readEvents } from './daemon.ts';
import { waitFor } from './services.ts';

/** One stored event as read back from JetStream. */
export interface StoredEvent {
  subject: string;
  msgId: string | null;
  data: any;
}

/** Every event of `prefix`'s events stream on `filter` (default: all), read on a fresh connection. */
export async function readStream(natsUrl: string, prefix: string, filter = `${prefix}.v1.evt.>`, options: { atLeast?: number; timeoutMs?: number } = {}): Promise<StoredEvent[]> {
  const nc = await connect({ servers: natsUrl });
  try {
    return await readEvents(nc, streams(prefix).events, filter, options.atLeast ?? 0, options.timeoutMs ?? 0);
  } finally {
    await nc.close();
  }
}

/** `key(event)` → how many events carry it; a value above 1 is a duplicate a consumer would see. */
export function countBy(events: readonly StoredEvent[], key: (event: StoredEvent) => string | null): Map<string | null, number> {
  const counts = new Map<string | null, number>();
  for (const event of events) counts.set(key(event), (counts.get(key(event)) ?? 0) + 1);
  return counts;
}

/** The entries of `counts` above one, for a readable assertion message. */
export function duplicates<K>(counts: Map<K, number>): Array<[K, number]> {
  return [...counts].filter(([, n]) => n > 1);
}

/** Waits until the outbox has no unpublished row: every recorded event reached JetStream. */
export async function waitForOutboxDrained(sql: postgres.Sql, timeoutMs = 30_000): Promise<void> {
  let pending = -1;
  await waitFor(
    async () => {
      const [row] = await sql<{ n: number }[]>`select count(*)::int as n from outbox_unpublished`;
      pending = row!.n;
      return pending === 0;
    },
    { timeoutMs, intervalMs: 200, description: 'outbox drained' },
  ).catch((error: Error) => {
    throw new Error(`${error.message}; ${pending} rows still unpublished`, { cause: error });
  });
}
