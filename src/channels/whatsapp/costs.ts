/**
 * What WhatsApp says a message costs: the `pricing` object of its status webhooks (reference
 * 1.6). Under per-message pricing (`PMP`) the `type` says whether it is charged (`regular`) or
 * free (`free_customer_service`, `free_entry_point`); `billable` is deprecated but still read
 * where `type` is missing. Nothing is known when the message is sent.
 */
import type { CostFacts } from '../../core/adapter.ts';

const FREE_TYPES = new Set(['free_customer_service', 'free_entry_point']);

/** The ledger facts of a status webhook's `pricing`; undefined when it has none. */
export function costOfPricing(pricing: unknown): CostFacts | undefined {
  if (typeof pricing !== 'object' || pricing === null || Array.isArray(pricing)) return undefined;
  const value = pricing as Record<string, unknown>;
  const category = typeof value.category === 'string' && value.category !== '' ? value.category.toLowerCase() : 'unknown';
  const type = typeof value.type === 'string' && value.type !== '' ? value.type.toLowerCase() : undefined;
  const billable = type !== undefined ? !FREE_TYPES.has(type) : value.billable !== false;
  const facts: CostFacts = { category, billable, units: 1 };
  if (typeof value.pricing_model === 'string') facts.pricingModel = value.pricing_model;
  if (type !== undefined) facts.pricingType = type;
  return facts;
}
