/**
 * What a module plugged into the daemon (outbound sending, the contacts API) may use: the
 * daemon's shared services, each read when needed, never the daemon itself. Accessors (`config`,
 * `bus`) are live: a reloaded config or a NATS connection made after start shows through.
 */
import type { Hono } from 'hono';
import type { LoadedConfig } from './config/types.ts';
import type { Clock } from './clock.ts';
import type { Logger } from './logger.ts';
import type { Metrics } from './metrics.ts';
import type { Db } from './storage/db.ts';
import type { Bus } from './nats/bus.ts';
import type { Subjects } from './schemas/subjects.ts';
import type { MediaStore } from './media/store.ts';
import type { ApiLimiter } from './api/limiter.ts';
import type { AdapterEntry } from './registry.ts';
import type { IdentityResolver } from './ports/identity-resolver.ts';

/** The daemon's live accounts, by id. */
export interface AccountLookup {
  get(account: string): AdapterEntry | undefined;
  all(): AdapterEntry[];
}

/** The narrow view of the daemon an extension gets. */
export interface ExtensionContext {
  readonly db: Db;
  /** The live config (channel files reload; the daemon file does not). */
  readonly config: LoadedConfig;
  /** The NATS connection, or null while it is down. */
  readonly bus: Bus | null;
  /** The daemon's subjects (its `nats.prefix`). */
  readonly subjects: Subjects;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly clock: Clock;
  /** Where media bytes live. */
  readonly store: MediaStore;
  readonly accounts: AccountLookup;
  /** Identity resolution and evidence (the contacts module, behind its port). */
  readonly identities: IdentityResolver;
  /** Bounds API work; pass it to `serveOverNats`. */
  readonly apiLimiter: ApiLimiter;
  /** Identifies this replica as a lease holder. */
  readonly instanceId: string;
  /** Outbox rows were written: publish them now. */
  notifyRelay(): void;
}

/** A module that plugs into the running daemon (the outbound and contacts modules do). */
export interface DaemonExtension {
  mountApi?(api: Hono, context: ExtensionContext): void;
  /** Routes outside `/v1` (the console at `/console`), mounted after `/v1` and before the 404. */
  mountApp?(app: Hono, context: ExtensionContext): void;
  start?(context: ExtensionContext): Promise<void>;
  stop?(): Promise<void>;
}
