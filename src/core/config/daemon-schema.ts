/**
 * The schema of `config/omnibus.yaml` (documented in docs/configuration.md). Every key is optional; the
 * defaults here are the contract's. Strict: an unknown key is an error, not a silent no-op.
 */
import { resolve } from 'node:path';
import { isSupportedCountry } from 'libphonenumber-js';
import { z } from 'zod';
import { envBoolean, envInteger, hasScheme, httpUrl, section } from './fields.ts';
import type { DaemonConfig } from './types.ts';
import type { ChannelDefinition } from '../adapter.ts';

/** Paths in the daemon file whose values are secret (or may embed credentials): never echoed. */
export const DAEMON_SECRET_PATHS: ReadonlyArray<RegExp> = [
  /^api\.tokens\[\d+\]\.token$/,
  /^database\.url$/,
  /^nats\.url(\[\d+\])?$/,
  /^nats\.(password|token|nkey)$/,
];

/** Evidence every daemon knows; channels add platform id namespaces (`ChannelDefinition.mergeEvidence`). */
export const BUILT_IN_EVIDENCE = ['phone', 'email'] as const;

/** Evidence names of the built-ins and the declared namespaces of `channels`, with the default list. */
export function mergeEvidenceOf(channels: Iterable<ChannelDefinition>): { names: string[]; defaults: string[] } {
  const declared = [...channels].flatMap((channel) => channel.mergeEvidence ?? []);
  return {
    names: [...new Set([...BUILT_IN_EVIDENCE, ...declared.map((item) => item.namespace)])],
    defaults: [...new Set(['phone', ...declared.filter((item) => item.autoByDefault).map((item) => item.namespace)])],
  };
}

/** The `merge` section, accepting `evidence.names` in `merge.auto`. */
function mergeSection(evidence: { names: string[]; defaults: string[] }) {
  return section({
    auto: z
      .array(z.enum(evidence.names as [string, ...string[]]))
      .transform((kinds) => [...new Set(kinds)])
      .prefault(evidence.defaults)
      .describe('Evidence that merges contacts without a human: phone, email, or a namespace a channel declares.'),
    defaultRegion: region
      .nullable()
      .default(null)
      .describe('ISO country code used to read phone numbers written without a country code; null = none.'),
  });
}

/** Log levels accepted by `log.level` (pino's). */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** `log.format`: auto is pretty on a terminal and JSON otherwise. */
export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;

/** The API token fallback of the shipped sample config: public, so only valid in sandbox mode. */
export const SAMPLE_API_TOKEN = 'sandbox-token-change-me';

const NATS_PREFIX_RE = /^[a-z][a-z0-9_-]{0,31}$/;

// One server, a comma-separated list, or a YAML list: the nodes of a cluster, any of which
// the client may connect to first. Normalised to the comma-separated form.
const natsServers = z
  .union([z.string(), z.array(z.string()).min(1, 'must name at least one server')])
  .transform((value) => (Array.isArray(value) ? value : value.split(',')).map((server) => server.trim()))
  .refine(
    (servers) => servers.every((server) => hasScheme(server, ['nats:', 'tls:'])),
    'must be a nats:// or tls:// URL, or a list of them (comma-separated or a YAML list)',
  )
  .transform((servers) => servers.join(','));

const postgresUrl = z
  .string()
  .refine((text) => hasScheme(text, ['postgres:', 'postgresql:']), 'must be a postgres:// or postgresql:// URL')
  .transform((text) => text.trim());

const region = z
  .string()
  .transform((text) => text.trim().toUpperCase())
  .refine(
    (code) => /^[A-Z]{2}$/.test(code) && isSupportedCountry(code),
    'must be a two-letter ISO 3166 country code with a phone numbering plan, like US or DE',
  );

const apiToken = z.strictObject({
  token: z.string().min(16, 'must be at least 16 characters').describe('The bearer token (at least 16 characters).'),
  scopes: z
    .array(z.enum(['read', 'write']))
    .min(1, 'must name at least one scope: read, write')
    .transform((scopes) => [...new Set(scopes)]),
});

const optionalText = () => z.string().trim().min(1, 'must not be empty; leave the field out instead').nullable().default(null);
// Paths are relative to the working directory, like dataDir.
const optionalPath = () => optionalText().transform((file) => (file === null ? null : resolve(process.cwd(), file)));

// Production NATS (docs/operations.md): one way to authenticate, TLS, and a JetStream domain
// or API prefix for leaf nodes. Secrets belong in ${ENV}; DAEMON_SECRET_PATHS keeps them unechoed.
const natsAuthFields = {
  creds: optionalPath().describe('Path to a .creds file (user JWT and NKey seed), for operator/JWT accounts.'),
  nkey: optionalText().describe('NKey user seed (SU...), or the path to a file holding it. Secret.'),
  user: optionalText().describe('User name, with password.'),
  password: optionalText().describe('Password of user. Secret.'),
  token: optionalText().describe('Authentication token. Secret.'),
  tls: section({
    ca: optionalPath().describe('PEM file of the CA that signed the server certificate (omit to use the system CAs).'),
    cert: optionalPath().describe('PEM client certificate, for servers that verify clients (with key).'),
    key: optionalPath().describe('PEM private key of the client certificate.'),
    handshakeFirst: envBoolean().default(false).describe('Start TLS before the NATS greeting (the server must set handshake_first).'),
  }),
  jsDomain: optionalText().describe('JetStream domain to use (a leaf node whose JetStream lives in another domain).'),
  apiPrefix: optionalText().describe('JetStream API prefix, when the account imports JetStream under another prefix; exclusive with jsDomain.'),
};

/** Problems of the nats section no single field can see. */
function checkNatsAuth(nats: DaemonConfig['nats'], ctx: z.RefinementCtx): void {
  const issue = (field: string, message: string) => ctx.addIssue({ code: 'custom', path: ['nats', ...field.split('.')], message });
  const methods = (['creds', 'nkey', 'user', 'token'] as const).filter((key) => nats[key] !== null);
  if (methods.length > 1) issue(methods[1]!, `use one way to authenticate; ${methods.join(' and ')} are both set`);
  if (nats.user !== null && nats.password === null) issue('password', 'is required with nats.user');
  if (nats.password !== null && nats.user === null) issue('user', 'is required with nats.password');
  if ((nats.tls.cert === null) !== (nats.tls.key === null)) issue(nats.tls.cert === null ? 'tls.cert' : 'tls.key', 'tls.cert and tls.key go together');
  if (nats.jsDomain !== null && nats.apiPrefix !== null) issue('apiPrefix', 'set jsDomain or apiPrefix, not both');
  const remoteOnly = methods.length > 0 || nats.tls.ca !== null || nats.tls.cert !== null || nats.jsDomain !== null || nats.apiPrefix !== null;
  if (nats.url === null && remoteOnly) issue('url', 'authentication, TLS and JetStream domains need a server: set nats.url (the local server has none of them)');
}

/** Validates and fills in the daemon file; its output is exactly `DaemonConfig`. */
export const daemonSchema = z
  .strictObject({
    http: section({
      host: z.string().min(1).default('0.0.0.0').describe('Address the HTTP server listens on.'),
      port: envInteger(z.int().min(0).max(65535)).default(8080).describe('Port the HTTP server listens on (0 = any free port, for tests).'),
      publicUrl: httpUrl()
        .nullable()
        .default(null)
        .describe('The http(s) URL the platforms reach this daemon at (webhooks, signed media links).'),
      bodyLimitBytes: envInteger(z.int().positive()).default(4_194_304).describe('Largest webhook request body accepted, in bytes.'),
      // Slow clients and floods (see docs/operations.md): Node checks these every second.
      headersTimeoutMs: envInteger(z.int().min(1_000)).default(15_000).describe('A request whose headers take longer to arrive is cut (slow clients).'),
      requestTimeoutMs: envInteger(z.int().min(1_000)).default(30_000).describe('A request whose headers and body take longer to arrive is cut (slow clients).'),
      keepAliveTimeoutMs: envInteger(z.int().min(100)).default(5_000).describe('An idle keep-alive connection is closed after this long.'),
      maxConnections: envInteger(z.int().positive())
        .default(1_000)
        .describe('Most open HTTP connections; beyond it the oldest idle one is closed, or the new one if none is idle. Keep below the file descriptor limit.'),
    }),
    nats: section({
      url: natsServers
        .nullable()
        .default(null)
        .describe('nats:// or tls:// server URL(s), comma-separated or a list (the nodes of a cluster); null starts a local nats-server with JetStream, data in dataDir.'),
      replicas: envInteger(z.int().min(1).max(5))
        .default(1)
        .describe('Copies JetStream keeps of the streams and the media bucket: 3 on a 3-node cluster; 1 on a single server (and the local one).'),
      prefix: z
        .string()
        .regex(NATS_PREFIX_RE, 'must start with a lowercase letter and use only a-z, 0-9, _ and - (at most 32)')
        .default('omni')
        .describe('First token of every NATS subject and stream name.'),
      ...natsAuthFields,
    }),
    database: section({
      url: postgresUrl.nullable().default(null).describe('postgres:// URL; null uses an embedded PGlite database in dataDir.'),
      ingestLanes: z
        .union([z.literal('auto'), envInteger(z.int().min(1).max(8))])
        .default('auto')
        .describe('Group-commit lanes on PostgreSQL (1 to 8), each committing its own batches of webhooks; auto: 1 on a machine with 2 cores or fewer, else 2. PGlite always uses 1.'),
    }),
    // Relative to the working directory, as an operator typing `omnibus start` would expect.
    dataDir: z
      .string()
      .min(1)
      .transform((dir) => resolve(process.cwd(), dir))
      .prefault('./data')
      .describe('Directory for the embedded database, the local NATS server and media; relative to the working directory.'),
    media: section({
      maxBytes: envInteger(z.int().positive()).default(104_857_600).describe('Largest media object stored, in bytes.'),
      store: z
        .enum(['file', 'nats'])
        .default('file')
        .describe('Where media bytes live: `file` (under dataDir; one daemon or a shared volume) or `nats` (a JetStream object store every replica reads).'),
    }),
    api: section({
      tokens: z.array(apiToken).default([]).describe('Bearer tokens for /v1/*: read for GET, write otherwise.'),
      // Bounds on API work, shared by HTTP /v1 and NATS request/reply, so webhooks keep their share.
      bodyLimitBytes: envInteger(z.int().positive()).default(1_048_576).describe('Largest /v1 request body accepted, in bytes (413 beyond).'),
      concurrency: envInteger(z.int().positive()).default(16).describe('API requests (HTTP /v1 and NATS) worked on at once.'),
      maxPending: envInteger(z.int().min(0))
        .default(512)
        .describe('API requests waiting for a slot; beyond it a request is answered rate_limited (HTTP 429) at once.'),
    }),
    merge: mergeSection(mergeEvidenceOf([])),
    log: section({
      level: z.enum(LOG_LEVELS).default('info').describe('Log level.'),
      format: z
        .enum(LOG_FORMATS)
        .default('auto')
        .describe('json (one JSON object a line), pretty (for people), or auto: pretty when stdout is a terminal, else json.'),
    }),
    sandbox: envBoolean().default(false).describe('Start the built-in fake platform APIs (sandbox mode).'),
    console: section({
      enabled: envBoolean().default(false).describe('Serve the agent console at /console (always on in sandbox mode).'),
      sessionTtlMinutes: envInteger(z.int().min(5).max(43_200))
        .default(720)
        .describe('Minutes a console login lasts before the API token must be entered again (5 to 43200).'),
    }),
  })
  .superRefine((config, ctx) => {
    checkNatsAuth(config.nats, ctx);
    // The local server is a single node: it cannot hold more than one copy.
    if (config.nats.url === null && config.nats.replicas > 1) {
      ctx.addIssue({ code: 'custom', path: ['nats', 'replicas'], message: 'more than 1 needs a NATS cluster: set nats.url to its servers' });
    }
    // Node refuses a headers timeout longer than the request timeout.
    if (config.http.headersTimeoutMs > config.http.requestTimeoutMs) {
      ctx.addIssue({ code: 'custom', path: ['http', 'headersTimeoutMs'], message: 'must not be longer than http.requestTimeoutMs' });
    }
    // A copied sample with sandbox switched off would otherwise serve the API on a public token.
    if (config.sandbox) return;
    config.api.tokens.forEach((entry, index) => {
      if (entry.token !== SAMPLE_API_TOKEN) return;
      ctx.addIssue({
        code: 'custom',
        path: ['api', 'tokens', index, 'token'],
        message: 'the sample sandbox token is public; outside sandbox mode set a real token (e.g. OMNIBUS_API_TOKEN)',
      });
    });
  }) satisfies z.ZodType<DaemonConfig, unknown>;

/** The daemon schema for a set of channels: `merge.auto` knows the evidence they declare. */
export function daemonSchemaFor(channels: Iterable<ChannelDefinition>) {
  return daemonSchema.safeExtend({ merge: mergeSection(mergeEvidenceOf(channels)) }) satisfies z.ZodType<DaemonConfig, unknown>;
}
