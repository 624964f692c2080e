/**
 * The shapes of validated, frozen configuration (docs/configuration.md). The loader in
 * `load.ts` produces them; nothing else reads YAML or the environment.
 */

/** One API token with its scopes. */
export interface ApiToken {
  token: string;
  scopes: ReadonlyArray<'read' | 'write'>;
}

/** `config/omnibus.yaml`, with every default filled in. */
export interface DaemonConfig {
  http: {
    host: string;
    port: number;
    publicUrl: string | null;
    bodyLimitBytes: number;
    headersTimeoutMs: number;
    requestTimeoutMs: number;
    keepAliveTimeoutMs: number;
    maxConnections: number;
  };
  nats: {
    url: string | null;
    prefix: string;
    replicas: number;
    /** Absolute path of a .creds file. */
    creds: string | null;
    /** An NKey seed or the path of a file holding one. */
    nkey: string | null;
    user: string | null;
    password: string | null;
    token: string | null;
    /** Absolute paths. */
    tls: { ca: string | null; cert: string | null; key: string | null; handshakeFirst: boolean };
    jsDomain: string | null;
    apiPrefix: string | null;
  };
  /** `ingestLanes`: group-commit lanes on PostgreSQL, or `auto` (by the number of cores). */
  database: { url: string | null; ingestLanes: 'auto' | number };
  /** Absolute path. */
  dataDir: string;
  media: { maxBytes: number; store: 'file' | 'nats' };
  api: { tokens: ReadonlyArray<ApiToken>; bodyLimitBytes: number; concurrency: number; maxPending: number };
  /** `auto`: `phone`, `email`, or evidence namespaces the registered channels declare. */
  merge: { auto: ReadonlyArray<string>; defaultRegion: string | null };
  log: { level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'; format: 'auto' | 'json' | 'pretty' };
  sandbox: boolean;
  /** The agent console at `/console` (always on in sandbox mode). */
  console: { enabled: boolean; sessionTtlMinutes: number };
}

/** A parsed duration: milliseconds, or null for `none`. */
export type WindowMs = number | null;

/** The fields every channel file has, with channel defaults applied. */
export interface AccountCommon {
  id: string;
  channel: string;
  enabled: boolean;
  apiBase: string | null;
  session: {
    /** Milliseconds; null = no window. */
    windowMs: WindowMs;
    /** The window as written (`24h`, `none`), for events. */
    window: string;
    expiringNoticeMs: number;
  };
  attachments: { allow: ReadonlyArray<string>; maxBytes: number | null };
  rateLimit: { perSecond: number; perRecipientPerSecond: number | null; perGroupPerMinute?: number | null };
  /** Prices per platform category for the cost ledger's estimates; null = counts only. */
  prices?: { currency: string; categories: Readonly<Record<string, number>> } | null;
}

/** A channel file: common fields plus the channel's own (`C`), frozen. */
export type AccountConfig<C = Record<string, unknown>> = Readonly<AccountCommon & { settings: Readonly<C> }>;

/** What the loader returns: the daemon file and every channel file, keyed by account id. */
export interface LoadedConfig {
  dir: string;
  daemon: Readonly<DaemonConfig>;
  accounts: ReadonlyMap<string, AccountConfig>;
  /** Source file of each account, for reload and error messages. */
  accountFiles: ReadonlyMap<string, string>;
}

/** One configuration problem: file, line (when YAML gives one) and the field path. */
export interface ConfigIssue {
  file: string;
  line: number | null;
  path: string;
  message: string;
}
