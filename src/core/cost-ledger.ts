/**
 * Writes the cost ledger (`cost_entries`): one row per outbound message, keyed by its id, with
 * what the platform says it costs. Written when a send is accepted by the platform (channels
 * that know then: LINE reply vs push, free channels) or when a receipt carries the price
 * (WhatsApp `pricing`); a later receipt of the same message replaces the figures, so
 * `sent`, `delivered` and a redelivered webhook leave one row.
 */
import { sql } from 'drizzle-orm';
import type { CostFacts } from './adapter.ts';
import type { Db, Tx } from './storage/db.ts';

/** Records (or updates) the ledger row of an outbound message; no row when the message is unknown. */
export async function recordCost(executor: Db | Tx, messageId: string, facts: CostFacts, source: 'send' | 'receipt', at: Date): Promise<void> {
  const units = Number.isSafeInteger(facts.units) && (facts.units as number) >= 0 ? (facts.units as number) : 1;
  const note = facts.note === undefined ? null : JSON.stringify(facts.note);
  await executor.execute(sql`
    insert into cost_entries (message_id, channel, account, conversation_id, identity_id, category, billable, pricing_model, pricing_type, units, source, note, at)
    select m.id, m.channel, m.account, m.conversation_id, m.identity_id, ${facts.category}, ${facts.billable}, ${facts.pricingModel ?? null},
      ${facts.pricingType ?? null}, ${units}, ${source}, ${note}::jsonb, ${at.toISOString()}::timestamptz
    from messages m where m.id = ${messageId} and m.direction = 'out'
    on conflict (message_id) do update set category = excluded.category, billable = excluded.billable,
      pricing_model = excluded.pricing_model, pricing_type = excluded.pricing_type, units = excluded.units,
      source = excluded.source, note = excluded.note`);
}
