/**
 * Account-level quotas (`capabilities.accountQuotas`): limits of a whole platform account beside
 * the per-window ones, such as LINE's monthly push quota. They are kept by the account's sender,
 * which runs on one replica at a time (its lease), in memory and mirrored to PostgreSQL
 * (`shared_state`, key `account-quota:<channel>:<account>:<name>`) so the next lease holder goes
 * on from the same reading. The sender
 *
 * - reads each quota from the platform (`adapter.accountQuota`) when it takes the account, every
 *   `quotaRefreshMs`, and as soon as the reading's reset time has passed;
 * - counts what accepted sends spend between two readings (the platform's reading replaces it);
 * - refuses a send that would spend an exhausted quota with `quota_exceeded` before calling the
 *   platform, and marks a quota exhausted when the platform refuses a send for it (the error's
 *   `details.quota`). That mark holds until the reset time or until a reading shows more room
 *   than there was when the platform refused (a raised plan), so one stale counter on the
 *   platform's side does not let every send through to be refused again.
 *
 * Which sends spend a quota is data: `appliesTo: 'all'`, or `'push'`: every send that does not
 * go out through a claimed reply context (a send that claimed one and still reports
 * `route: 'push'` fell back and spends it too). Level changes (`ok`, `low`, `exhausted`) are
 * published as `evt.account.{quota_low|quota_exhausted|quota_restored}` in the transaction that
 * stores them, with a deterministic message id, so a change is announced once.
 */
import { eq, sql } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { AccountQuotaReading, ChannelCapabilities } from '../core/adapter.ts';
import type { AdapterEntry } from '../core/registry.ts';
import type { ErrorBody } from '../core/errors.ts';
import { outbox, sharedState } from '../core/storage/schema.ts';
import { QUOTA_LEVELS, type AccountEvent } from '../core/schemas/events.ts';
import type { OutboundDeps } from './deps.ts';

type Level = (typeof QUOTA_LEVELS)[number];
type Declared = NonNullable<ChannelCapabilities['accountQuotas']>[number];

/** One quota as the sender keeps it (and stores it, as JSON). */
interface QuotaState {
  limit: number | null;
  used: number;
  resetsAt: string | null;
  level: Level;
  /** The platform refused a send for this quota: the reading at that moment. */
  refused: { at: string; limit: number | null; used: number } | null;
  /** Level changes so far: the message id of the next event. */
  transitions: number;
}

/** A refresh that failed is tried again after this long (or `quotaRefreshMs`, if shorter). */
const REFRESH_RETRY_MS = 30_000;
/** Counts spent between readings are written back at most this often. */
const PERSIST_EVERY_MS = 1_000;

const RANK: Record<Level, number> = { ok: 0, low: 1, exhausted: 2 };

/** The account quotas of one account's sender. */
export class AccountQuotas {
  private readonly states = new Map<string, QuotaState>();
  private loaded = false;
  private refreshing: Promise<void> | null = null;
  /** Wall-clock ms of the next reading per quota. */
  private readonly nextRefresh = new Map<string, number>();
  private dirty = false;
  private lastPersist = 0;
  private readonly log: Logger;

  constructor(
    private readonly deps: OutboundDeps,
    private readonly account: string,
    private readonly entry: () => AdapterEntry | undefined,
  ) {
    this.log = deps.logger.child({ component: 'account-quotas', account });
  }

  /** The quotas the adapter declares and can read; empty for most channels. */
  private declared(): Declared[] {
    const adapter = this.entry()?.adapter;
    if (!adapter?.accountQuota) return [];
    return [...(adapter.capabilities.accountQuotas ?? [])];
  }

  /**
   * Called from the sender loop while this replica holds the account: loads the stored state
   * once, starts a reading when one is due (in the background, one at a time) and writes back
   * counts spent since the last write.
   */
  async tick(): Promise<void> {
    const declared = this.declared();
    if (declared.length === 0) return;
    if (!this.loaded) await this.load(declared);
    const now = Date.now();
    const resetPassed = (state: QuotaState) => state.resetsAt !== null && Date.parse(state.resetsAt) <= this.deps.clock.now().getTime();
    const due = declared.filter((quota) => now >= (this.nextRefresh.get(quota.name) ?? 0) || resetPassed(this.state(quota.name)));
    if (due.length > 0 && this.refreshing === null) {
      this.refreshing = this.refresh(due).finally(() => {
        this.refreshing = null;
      });
    }
    if (this.dirty && now - this.lastPersist >= PERSIST_EVERY_MS) await this.persistAll(declared);
  }

  /** Forget the in-memory copy (the lease was lost: another replica now counts). */
  reset(): void {
    this.loaded = false;
    this.states.clear();
    this.nextRefresh.clear();
    this.dirty = false;
  }

  /** Writes back counts not yet stored (the sender stops). */
  async flush(): Promise<void> {
    if (this.dirty) await this.persistAll(this.declared()).catch(() => undefined);
  }

  /**
   * Why a send must not go out, or null. `viaReply`: it claimed a reply context; `cost`: the
   * platform messages it takes.
   */
  refusal(viaReply: boolean, cost: number): ErrorBody | null {
    for (const quota of this.declared()) {
      if (!applies(quota, viaReply)) continue;
      const state = this.states.get(quota.name);
      if (!state) continue;
      const resetPassed = state.resetsAt !== null && Date.parse(state.resetsAt) <= this.deps.clock.now().getTime();
      if (resetPassed) continue;
      const over = state.limit !== null && state.used + cost > state.limit;
      if (state.level !== 'exhausted' && !over) continue;
      return {
        code: 'quota_exceeded',
        message: `the account's ${quota.name} quota is used up; sends that spend it are refused until it resets or the plan is raised`,
        details: { quota: quota.name, ...this.view(state) },
      };
    }
    return null;
  }

  /**
   * An accepted send: counts what it spent, `cost` platform messages unless the adapter reported
   * its `quotaUnits` (a LINE push to a group spends each message once per member).
   */
  async spent(viaReply: boolean, cost: number, quotaUnits?: number): Promise<void> {
    cost = spentUnits(quotaUnits, cost);
    for (const quota of this.declared()) {
      if (!applies(quota, viaReply)) continue;
      const state = this.states.get(quota.name);
      if (!state) continue;
      state.used += cost;
      this.dirty = true;
      await this.settle(quota, state, 'spent');
    }
  }

  /** The platform refused a send for a quota (`details.quota`, else every quota the send would spend). */
  async platformRefused(quotaName: unknown, viaReply: boolean): Promise<void> {
    const declared = this.declared();
    const named = declared.filter((quota) => quota.name === quotaName);
    for (const quota of named.length > 0 ? named : declared.filter((candidate) => applies(candidate, viaReply))) {
      const state = this.state(quota.name);
      state.refused = { at: new Date().toISOString(), limit: state.limit, used: state.used };
      if (state.limit !== null && state.used < state.limit) state.used = state.limit;
      await this.settle(quota, state, 'platform_refused');
    }
  }

  private state(name: string): QuotaState {
    let state = this.states.get(name);
    if (!state) this.states.set(name, (state = { limit: null, used: 0, resetsAt: null, level: 'ok', refused: null, transitions: 0 }));
    return state;
  }

  private key(name: string): string {
    const adapter = this.entry()?.adapter;
    return `account-quota:${adapter?.channel ?? 'unknown'}:${this.account}:${name}`;
  }

  private async load(declared: Declared[]): Promise<void> {
    for (const quota of declared) {
      const [row] = await this.deps.db.select({ value: sharedState.value }).from(sharedState).where(eq(sharedState.key, this.key(quota.name))).limit(1);
      const stored = row ? parseState(row.value) : null;
      this.states.set(quota.name, stored ?? this.state(quota.name));
    }
    this.loaded = true;
  }

  private async refresh(due: Declared[]): Promise<void> {
    const adapter = this.entry()?.adapter;
    if (!adapter?.accountQuota) return;
    const { quotaRefreshMs, sendTimeoutMs } = this.deps.settings;
    for (const quota of due) {
      let reading: AccountQuotaReading;
      try {
        reading = await adapter.accountQuota(quota.name, AbortSignal.timeout(sendTimeoutMs));
      } catch (error) {
        this.nextRefresh.set(quota.name, Date.now() + Math.min(quotaRefreshMs, REFRESH_RETRY_MS));
        this.log.warn({ err: error, quota: quota.name }, 'could not read the account quota; will retry');
        continue;
      }
      this.nextRefresh.set(quota.name, Date.now() + quotaRefreshMs);
      const state = this.state(quota.name);
      const previousReset = state.resetsAt;
      state.limit = reading.limit;
      state.used = Math.max(0, reading.used);
      state.resetsAt = reading.resetsAt?.toISOString() ?? null;
      if (state.refused) {
        const reset = previousReset !== null && Date.parse(previousReset) <= this.deps.clock.now().getTime();
        const raised = reading.limit === null || (state.refused.limit !== null && reading.limit > state.refused.limit);
        const counterBack = reading.used < state.refused.used;
        if (reset || raised || counterBack) state.refused = null;
      }
      this.dirty = true;
      await this.settle(quota, state, 'refreshed').catch((error: unknown) => this.log.warn({ err: error, quota: quota.name }, 'could not store the account quota'));
    }
  }

  /** Recomputes the level; a change is stored and announced at once, in one transaction. */
  private async settle(quota: Declared, state: QuotaState, reason: AccountEvent['reason']): Promise<void> {
    const level = levelOf(state, this.deps.settings.quotaLowRatio);
    if (level === state.level) return;
    const from = state.level;
    state.level = level;
    state.transitions += 1;
    const event: AccountEvent['event'] = level === 'exhausted' ? 'quota_exhausted' : RANK[level] > RANK[from] ? 'quota_low' : 'quota_restored';
    const adapter = this.entry()?.adapter;
    const channel = adapter?.channel ?? 'unknown';
    const at = this.deps.clock.now();
    const payload: AccountEvent = {
      schema: 'omni.account/v1',
      event,
      channel,
      account: this.account,
      quota: { name: quota.name, appliesTo: quota.appliesTo, ...this.view(state) },
      reason,
      at: at.toISOString(),
    };
    const msgId = `account:${channel}:${this.account}:${quota.name}:${state.transitions}`;
    await this.deps.db.transaction(async (tx) => {
      await upsert(tx, this.key(quota.name), state);
      await tx
        .insert(outbox)
        .values({ subject: this.deps.subjects.evt.account(event, channel, this.account), msgId, payload, orderingKey: `account:${channel}:${this.account}`, createdAt: at })
        .onConflictDoNothing();
    });
    this.log.info({ quota: quota.name, event, level, used: state.used, limit: state.limit }, 'account quota changed');
    this.deps.notifyRelay();
  }

  private view(state: QuotaState): { level: Level; limit: number | null; used: number; remaining: number | null; resetsAt?: string } {
    return {
      level: state.level,
      limit: state.limit,
      used: state.used,
      remaining: state.limit === null ? null : Math.max(0, state.limit - state.used),
      ...(state.resetsAt !== null ? { resetsAt: state.resetsAt } : {}),
    };
  }

  private async persistAll(declared: Declared[]): Promise<void> {
    this.dirty = false;
    this.lastPersist = Date.now();
    for (const quota of declared) {
      const state = this.states.get(quota.name);
      if (state) await upsert(this.deps.db, this.key(quota.name), state);
    }
  }
}

/** What a send spent: the adapter's `quotaUnits` when it reported a sane figure, else `fallback`. */
export function spentUnits(quotaUnits: number | undefined, fallback: number): number {
  return quotaUnits !== undefined && Number.isSafeInteger(quotaUnits) && quotaUnits >= 0 ? quotaUnits : fallback;
}

/** Whether a quota is spent by a send that does (or does not) go through a reply context. */
function applies(quota: Declared, viaReply: boolean): boolean {
  return quota.appliesTo === 'all' || !viaReply;
}

function levelOf(state: QuotaState, lowRatio: number): Level {
  if (state.refused) return 'exhausted';
  if (state.limit === null) return 'ok';
  if (state.used >= state.limit) return 'exhausted';
  return state.used >= state.limit * lowRatio ? 'low' : 'ok';
}

async function upsert(db: Pick<OutboundDeps['db'], 'insert'>, key: string, state: QuotaState): Promise<void> {
  const value = JSON.stringify(state);
  const now = new Date();
  await db
    .insert(sharedState)
    .values({ key, value, revision: 1, updatedAt: now, expiresAt: null })
    .onConflictDoUpdate({ target: sharedState.key, set: { value, revision: sql`${sharedState.revision} + 1`, updatedAt: now } });
}

function parseState(value: string): QuotaState | null {
  try {
    const parsed = JSON.parse(value) as QuotaState;
    if (typeof parsed !== 'object' || parsed === null || !QUOTA_LEVELS.includes(parsed.level) || typeof parsed.used !== 'number') return null;
    return { limit: parsed.limit ?? null, used: parsed.used, resetsAt: parsed.resetsAt ?? null, level: parsed.level, refused: parsed.refused ?? null, transitions: Number(parsed.transitions) || 0 };
  } catch {
    return null;
  }
}
