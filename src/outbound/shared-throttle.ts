/**
 * Throttles that must outlive the replica that learned them, kept in PostgreSQL
 * (`shared_state`, namespace `outbound:`): the pause a platform asked for with its rate-limit
 * answer (Telegram's `retry_after` holds the whole bot token), and the recent sends into each
 * group conversation (`rateLimit.perGroupPerMinute`). One replica sends for an account at a
 * time (the sending lease), but the lease moves when a replica stops or dies, and the next
 * holder must not send into a pause or a full group minute it never saw. Rows expire with
 * what they describe and are swept by housekeeping.
 */
import { sql } from 'drizzle-orm';
import type { Db } from '../core/storage/db.ts';
import { rowsOf } from '../core/storage/lease.ts';

const pauseKey = (account: string) => `outbound:pause:${account}`;
const groupKey = (conversationId: string) => `outbound:group-sends:${conversationId}`;

/** The length of the window `perGroupPerMinute` counts in. */
export const GROUP_WINDOW_MS = 60_000;

/**
 * Records that the account's platform asked every send to wait `waitMs`; a longer pause
 * already recorded stays. Database time, so replicas with skewed clocks agree on the end.
 */
export async function recordAccountPause(db: Db, account: string, waitMs: number): Promise<void> {
  const ms = Math.max(0, Math.round(waitMs));
  await db.execute(sql`
    insert into shared_state (key, value, revision, updated_at, expires_at)
    values (${pauseKey(account)}, 'paused', 1, now(), now() + (${ms} * interval '1 millisecond'))
    on conflict (key) do update
      set expires_at = greatest(coalesce(shared_state.expires_at, now()), excluded.expires_at),
          revision = shared_state.revision + 1, updated_at = now()`);
}

/** How many ms of a recorded account pause are left (0 when none). */
export async function remainingAccountPause(db: Db, account: string): Promise<number> {
  const rows = rowsOf<{ remaining: number | string }>(
    await db.execute(sql`
      select extract(epoch from (expires_at - now())) * 1000 as remaining
      from shared_state where key = ${pauseKey(account)} and expires_at > now()`),
  );
  const remaining = Number(rows[0]?.remaining ?? 0);
  return Number.isFinite(remaining) && remaining > 0 ? Math.ceil(remaining) : 0;
}

/**
 * The sends into group conversations within the last minute, per conversation: read from the
 * database the first time this holder meets a conversation, then kept here and written back
 * at every send. A conversation is sent to by one job at a time, so no two writers race.
 */
export class GroupSendWindows {
  private readonly recent = new Map<string, number[]>();

  constructor(private readonly db: Db) {}

  /** Forgets what this replica knew (the lease moved: another holder may have sent since). */
  reset(): void {
    this.recent.clear();
  }

  /**
   * The wall-clock ms at which `count` more platform messages fit into the conversation's
   * minute under `perMinute`; `now` or earlier means they fit now.
   */
  async nextSlot(conversationId: string, perMinute: number, count: number, now = Date.now()): Promise<number> {
    const times = await this.load(conversationId, now);
    const need = Math.min(Math.max(1, count), perMinute);
    if (times.length + need <= perMinute) return now;
    // The oldest sends must leave the window until `need` slots are free.
    const leaving = times[times.length + need - perMinute - 1]!;
    return leaving + GROUP_WINDOW_MS;
  }

  /** Counts `count` platform messages sent into the conversation now, for every replica. */
  async note(conversationId: string, count: number, now = Date.now()): Promise<void> {
    const times = [...(await this.load(conversationId, now)), ...Array.from({ length: Math.max(1, count) }, () => now)];
    this.recent.set(conversationId, times);
    await this.db.execute(sql`
      insert into shared_state (key, value, revision, updated_at, expires_at)
      values (${groupKey(conversationId)}, ${JSON.stringify(times)}, 1, now(), now() + (${GROUP_WINDOW_MS} * interval '1 millisecond'))
      on conflict (key) do update
        set value = excluded.value, expires_at = excluded.expires_at, revision = shared_state.revision + 1, updated_at = now()`);
  }

  private async load(conversationId: string, now: number): Promise<number[]> {
    let times = this.recent.get(conversationId);
    if (times === undefined) {
      const rows = rowsOf<{ value: string }>(await this.db.execute(sql`select value from shared_state where key = ${groupKey(conversationId)} and expires_at > now()`));
      times = parseTimes(rows[0]?.value);
      if (this.recent.size > 10_000) this.prune(now);
    }
    const live = times.filter((at) => at > now - GROUP_WINDOW_MS).sort((a, b) => a - b);
    this.recent.set(conversationId, live);
    return live;
  }

  private prune(now: number): void {
    for (const [conversationId, times] of this.recent) if (times.every((at) => at <= now - GROUP_WINDOW_MS)) this.recent.delete(conversationId);
  }
}

function parseTimes(value: string | undefined): number[] {
  if (value === undefined) return [];
  try {
    const parsed: unknown = JSON.parse(value);
    return Array.isArray(parsed) ? parsed.filter((at): at is number => typeof at === 'number' && Number.isFinite(at)) : [];
  } catch {
    // An unreadable note counts as none: at worst one minute's group rate is not held back.
    return [];
  }
}
