/**
 * What the outbound module needs from the daemon, behind one small interface so tests can run
 * its parts on their own, and the tuning knobs with their production defaults.
 */
import type { Logger } from 'pino';
import type { AdapterEntry } from '../core/registry.ts';
import type { Clock } from '../core/clock.ts';
import type { HttpClient } from '../core/http-client.ts';
import type { MediaStore } from '../core/media/store.ts';
import type { Db } from '../core/storage/db.ts';
import type { Subjects } from '../core/schemas/subjects.ts';
import type { OutboundMetrics } from './metrics.ts';

/** Tuning of the outbound engine; every field has a default (see `resolveSettings`). */
export interface OutboundSettings {
  /** Platform calls per message before a retryable failure becomes `failed` + dead letter. */
  maxAttempts: number;
  /** First retry delay; doubles per attempt up to `backoffMaxMs` (plus up to 20 % jitter). */
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** Rate-limit answers per message before it is given up (a platform that never lets go). */
  maxThrottles: number;
  /** Wait when a platform says `rate_limited` without saying how long. */
  defaultRetryAfterMs: number;
  /** One platform call, end to end. */
  sendTimeoutMs: number;
  /** The per-account sending lease; renewed every third of it. */
  leaseTtlMs: number;
  /** How often an idle sender looks for work accepted by other replicas. */
  idleMs: number;
  /** One attachment download. */
  fetchTimeoutMs: number;
  /** Deliveries of one command from the stream before it is dead-lettered. */
  maxCommandDeliveries: number;
  /** First redelivery delay of a command that failed for a transient reason. */
  commandRetryMs: number;
  /** Commands accepted at once from the stream. */
  commandConcurrency: number;
  /**
   * The consumer's `ack_wait`: a command pulled by a replica that stopped before handling it is
   * redelivered after this long. Kept alive with `working()` while an acceptance takes longer.
   */
  commandAckWaitMs: number;
  /** How often the session scheduler runs on its own (tests call `tick()` instead). */
  sessionTickMs: number;
  /** How often receipts that arrived before their send was recorded are matched again. */
  receiptSweepMs: number;
  /** How often an account-level quota (`capabilities.accountQuotas`) is read from the platform again. */
  quotaRefreshMs: number;
  /** The share of an account quota used from which it is `low` (an `account.quota_low` event). */
  quotaLowRatio: number;
}

/** The defaults: a CI-sized box talking to real platforms. */
export const DEFAULT_SETTINGS: OutboundSettings = {
  maxAttempts: 6,
  backoffBaseMs: 1_000,
  backoffMaxMs: 60_000,
  maxThrottles: 50,
  defaultRetryAfterMs: 1_000,
  sendTimeoutMs: 30_000,
  leaseTtlMs: 10_000,
  idleMs: 250,
  fetchTimeoutMs: 20_000,
  maxCommandDeliveries: 5,
  commandRetryMs: 1_000,
  commandConcurrency: 16,
  commandAckWaitMs: 30_000,
  sessionTickMs: 1_000,
  receiptSweepMs: 5_000,
  quotaRefreshMs: 300_000,
  quotaLowRatio: 0.9,
};

/** Fills in the defaults. */
export function resolveSettings(partial: Partial<OutboundSettings> = {}): OutboundSettings {
  return { ...DEFAULT_SETTINGS, ...partial };
}

/** The accounts the outbound engine may use (the daemon's live adapter registry). */
export interface AccountSource {
  get(account: string): AdapterEntry | undefined;
  all(): AdapterEntry[];
}

/** Everything the outbound engine uses, supplied by the extension in index.ts. */
export interface OutboundDeps {
  db: Db;
  accounts: AccountSource;
  subjects: Subjects;
  /** Business time: message timestamps and session windows (tests use a ManualClock). */
  clock: Clock;
  logger: Logger;
  store: MediaStore;
  /** Fetches attachment URLs; called without trustedHosts, i.e. public addresses only. */
  http: HttpClient;
  /** `media.maxBytes` of the daemon file. */
  mediaMaxBytes: () => number;
  /** Identifies this replica as a lease holder. */
  holder: string;
  settings: OutboundSettings;
  metrics: OutboundMetrics;
  /**
   * Records a person the business writes to first (a template to a number that never wrote):
   * creates the identity and contact, announced like any other, through the merge rules.
   */
  meetRecipient(entry: AdapterEntry, externalId: string, at: Date): Promise<void>;
  /** Outbox rows were written: publish them now. */
  notifyRelay(): void;
  /** A message of this account was accepted: send it now if this replica holds the account. */
  notifySender(account: string): void;
}
