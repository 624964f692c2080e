/**
 * What the set-based batch recorder (record-batch.ts) knows and stages per account: senders and
 * conversations as found (locked) or as the batch creates them (record-batch-new.ts), windows.
 */
import type { InboundEvent } from '../adapter.ts';
import type { KnownIdentity, NewIdentity, NewIdentityRow } from '../ports/identity-resolver.ts';
import type { IngestResult, IngestScope } from './scope.ts';
import type { StoredConversation } from './record-batch-sql.ts';

/** One webhook (or poll) of the batch: its scope, its screened events and its result draft. */
export interface BatchEntry {
  scope: IngestScope;
  events: ReadonlyArray<InboundEvent>;
  result: IngestResult;
}

export interface Window {
  id: string;
  grant: string;
  openedAt: number;
  expiresAt: number | null;
  quotaLimit: number | null;
  quotaUsed: number;
  pricingKind: string | null;
  pricingExpiresAt: number | null;
  referral: unknown;
  expiringNotifiedAt: number | null;
  openedNotifiedAt: number | null;
  inserted: boolean;
  touched: boolean;
}

export interface Conversation {
  id: string;
  window: Window | null;
  at: number;
  sessionKind: string | null;
  via: string | null;
  touched: boolean;
  /** Expiry of the freshest reply context stored or staged; `reply` the one to store. */
  replyExpiresAt: number | null;
  reply: { token: string; expiresAt: number; maxMessages: number; messageId: string } | null;
  /** A conversation this batch opens: the row to insert (its identity filled in at insert). */
  created: { kind: string; title: string | null; senderExternalId: string; at: number; sessionKind: string | null; via: string | null } | null;
}

export interface Sender {
  known: KnownIdentity;
  at: number;
  touched: boolean;
  /** A first sighting this batch creates; `announced` once its `contact.created` is staged. */
  created: (NewIdentityRow & { entry: BatchEntry }) | null;
  announced: boolean;
}

export interface ScopeState {
  scope: IngestScope;
  stored: Set<string>;
  tombstones: boolean;
  senders: Map<string, Sender>;
  /** Senders nobody on the account has seen (`findNew`): the batch may create them. */
  fresh: Map<string, NewIdentity>;
  conversations: Map<string, Conversation>;
}

export function conversationOf(row: StoredConversation): Conversation {
  const num = (value: unknown) => (value === null || value === undefined ? null : Number(value));
  const window: Window | null = row.w_id
    ? {
        id: row.w_id,
        grant: row.w_grant!,
        openedAt: num(row.w_opened)!,
        expiresAt: num(row.w_expires),
        quotaLimit: num(row.w_quota_limit),
        quotaUsed: num(row.w_quota_used) ?? 0,
        pricingKind: row.w_pricing_kind,
        pricingExpiresAt: num(row.w_pricing_expires),
        referral: row.w_referral ?? null,
        expiringNotifiedAt: num(row.w_expiring_notified),
        openedNotifiedAt: null,
        inserted: false,
        touched: false,
      }
    : null;
  return { id: row.id, window, at: 0, sessionKind: null, via: null, touched: false, replyExpiresAt: num(row.reply_expires), reply: null, created: null };
}

