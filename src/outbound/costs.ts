/**
 * The cost ledger's outbound side: the row of a message the platform just accepted (where the
 * adapter knows the price then, `costOf`), the summary behind `api.cost.summary`, and the
 * Prometheus counters. Amounts are estimates: the platform's own category and units times the
 * account's configured `prices` for that category, at the time of the question.
 */
import { sql } from 'drizzle-orm';
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import type { OutboundMessage, SendResult } from '../core/adapter.ts';
import { recordCost } from '../core/cost-ledger.ts';
import { spentUnits } from './account-quotas.ts';
import type { AdapterEntry } from '../core/registry.ts';
import type { Db } from '../core/storage/db.ts';
import { rowsOf } from '../core/storage/lease.ts';
import type { CostSummaryRequest } from '../core/schemas/api.ts';
import type { AccountSource, OutboundDeps } from './deps.ts';

/** Records what a just-sent message costs, where the adapter knows; a failure is logged, never fails the send. */
export async function recordSendCost(deps: OutboundDeps, entry: AdapterEntry, message: OutboundMessage, result: SendResult, log: Logger): Promise<void> {
  if (!entry.adapter.costOf) return;
  try {
    const facts = entry.adapter.costOf(message, result);
    if (facts === null) return;
    // Units the adapter reported spending count where its cost facts name none.
    const units = facts.units ?? (result.quotaUnits !== undefined ? spentUnits(result.quotaUnits, 1) : undefined);
    await recordCost(deps.db, message.messageId, units !== undefined ? { ...facts, units } : facts, 'send', deps.clock.now());
  } catch (error) {
    log.warn({ err: error, message: message.messageId }, 'could not record the cost of a sent message');
  }
}

/** One group of a summary. */
export interface CostGroup {
  key: string;
  messages: number;
  billable: number;
  units: number;
  amounts: Record<string, number>;
  unpriced: number;
}

const GROUP_COLUMN = {
  account: sql`c.account`,
  category: sql`c.category`,
  contact: sql`i.contact_id`,
  conversation: sql`c.conversation_id`,
} as const;

// Groups one answer may carry; a wider question should narrow `from`/`to` or `account`.
const MAX_GROUPS = 10_000;

/** Counts and estimated amounts of the ledger between `from` (inclusive) and `to` (exclusive). */
export async function summarizeCosts(db: Db, accounts: AccountSource, request: CostSummaryRequest): Promise<{ groups: CostGroup[]; totals: Omit<CostGroup, 'key'> }> {
  const key = GROUP_COLUMN[request.groupBy];
  const join = request.groupBy === 'contact' ? sql`join identities i on i.id = c.identity_id` : sql``;
  const byAccount = request.account !== undefined ? sql`and c.account = ${request.account}` : sql``;
  const rows = rowsOf<{ key: string; account: string; category: string; billable: boolean; messages: string | number; units: string | number }>(
    await db.execute(sql`
      select ${key} as key, c.account, c.category, c.billable, count(*) as messages, coalesce(sum(c.units), 0) as units
      from cost_entries c ${join}
      where c.at >= ${request.from}::timestamptz and c.at < ${request.to}::timestamptz ${byAccount}
      group by 1, 2, 3, 4
      order by 1
      limit ${MAX_GROUPS * 8}`),
  );
  const groups = new Map<string, CostGroup>();
  const totals: Omit<CostGroup, 'key'> = { messages: 0, billable: 0, units: 0, amounts: {}, unpriced: 0 };
  for (const row of rows) {
    const group = groups.get(row.key) ?? { key: row.key, messages: 0, billable: 0, units: 0, amounts: {}, unpriced: 0 };
    groups.set(row.key, group);
    const messages = Number(row.messages);
    const units = row.billable ? Number(row.units) : 0;
    const prices = accounts.get(row.account)?.account.prices ?? null;
    const price = prices?.categories[row.category];
    for (const target of [group, totals]) {
      target.messages += messages;
      if (!row.billable) continue;
      target.billable += messages;
      target.units += units;
      if (prices === null || price === undefined) target.unpriced += units;
      else target.amounts[prices.currency] = round((target.amounts[prices.currency] ?? 0) + units * price);
    }
  }
  return { groups: [...groups.values()].slice(0, MAX_GROUPS), totals };
}

/** Money to 1/10 000 of a unit, without binary noise (0.1 + 0.2). */
function round(value: number): number {
  return Math.round(value * 10_000) / 10_000;
}

/**
 * `omnibus_cost_messages_total` and `omnibus_cost_units_total` by account, category and
 * billable: read from the shared ledger at scrape time (cached for `cacheMs`), so every replica
 * reports the whole installation's totals; aggregate replicas with max, not sum.
 */
export function registerCostMetrics(registry: Registry, db: Db, logger: Logger, cacheMs = 15_000): void {
  let cached: { at: number; rows: Array<{ account: string; category: string; billable: boolean; messages: number; units: number }> } | null = null;
  const read = async () => {
    if (cached !== null && Date.now() - cached.at < cacheMs) return cached.rows;
    try {
      const rows = rowsOf<{ account: string; category: string; billable: boolean; messages: string | number; units: string | number }>(
        await db.execute(sql`select account, category, billable, count(*) as messages, coalesce(sum(units), 0) as units from cost_entries group by 1, 2, 3`),
      ).map((row) => ({ ...row, messages: Number(row.messages), units: Number(row.units) }));
      cached = { at: Date.now(), rows };
    } catch (error) {
      logger.warn({ err: error }, 'could not read the cost ledger for metrics');
    }
    return cached?.rows ?? [];
  };
  const labelNames = ['account', 'category', 'billable'] as const;
  for (const [name, help, field] of [
    ['omnibus_cost_messages_total', 'Outbound messages in the cost ledger, by account, platform category and billable', 'messages'],
    ['omnibus_cost_units_total', 'Units the platforms count in the cost ledger (a LINE group push counts each member)', 'units'],
  ] as const) {
    if (registry.getSingleMetric(name)) continue;
    new Counter({
      name,
      help,
      labelNames,
      registers: [registry],
      async collect() {
        this.reset();
        for (const row of await read()) this.inc({ account: row.account, category: row.category, billable: String(row.billable) }, row[field]);
      },
    });
  }
}
