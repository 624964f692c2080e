import { pino, type Logger, type LoggerOptions } from 'pino';
import { prettyDestination } from './log-pretty.ts';

/**
 * Paths pino removes from every log line. Secrets and phone numbers must never reach a log;
 * URLs that embed tokens are scrubbed by `scrubUrl` before they are logged at all.
 */
export const REDACT_PATHS = [
  'accessToken', '*.accessToken', 'appSecret', '*.appSecret', 'verifyToken', '*.verifyToken',
  'botToken', '*.botToken', 'secretToken', '*.secretToken', 'channelSecret', '*.channelSecret',
  'channelAccessToken', '*.channelAccessToken', 'encodingAesKey', '*.encodingAesKey', 'token', '*.token',
  'password', '*.password', 'nkey', '*.nkey', 'creds', '*.creds',
  'authorization', '*.authorization', 'headers.authorization', '*.headers.authorization',
  'headers["x-hub-signature-256"]', 'headers["x-line-signature"]', 'headers["x-telegram-bot-api-secret-token"]',
  'phone', '*.phone', 'phones', '*.phones', 'from', '*.from', 'wa_id', '*.wa_id', 'recipient', '*.recipient',
  'text', '*.text', 'body', '*.body',
];

/**
 * Fields of database errors that carry the statement's values: postgres.js (`parameters`,
 * `args`, `types`, `query`), PGlite (`params`, `query`, `queryOptions`), drizzle's wrapper
 * (`params`, `query`), and PostgreSQL's own `detail`/`where`/`internalQuery`, which quote row
 * values ("Key (phone)=(…) already exists"). The SQLSTATE `code`, table, column and constraint stay.
 */
const STATEMENT_FIELDS = new Set(['parameters', 'params', 'args', 'types', 'query', 'queryOptions', 'detail', 'where', 'internalQuery']);
/** drizzle puts the statement and its parameters in the message itself. */
const FAILED_QUERY = /^(Failed query):[\s\S]*$/;
const FAILED_QUERY_LINES = /Failed query:[\s\S]*?\nparams: [^\n]*/g;
const MAX_DEPTH = 8;

/**
 * Serialises an error for the log without what its statement carried, down its `cause` chain.
 * Never throws (a serializer that throws would turn a log line into a crash): an error it
 * cannot read becomes its type and message, cycles and depth are cut.
 */
export function serializeError(error: unknown): unknown {
  if (!(error instanceof Error)) return error;
  try {
    return serializeAt(error, 0);
  } catch {
    return { type: error.constructor?.name ?? 'Error', message: String(error.message).replace(FAILED_QUERY, '$1 (statement and parameters not logged)') };
  }
}

/** pino's serializer folds an Error cause into the message and stack; its fields (the SQLSTATE `code`) are kept here. */
function serializeAt(error: Error, depth: number): unknown {
  const out = scrub(pino.stdSerializers.err(error), depth) as Record<string, unknown>;
  if (error.cause instanceof Error) out.cause = scrub(error.cause, depth + 1);
  return out;
}

function scrub(value: unknown, depth: number): unknown {
  if (value instanceof Error) return depth > MAX_DEPTH ? '[error]' : serializeAt(value, depth + 1);
  if (depth > MAX_DEPTH) return typeof value === 'object' && value !== null ? '[cut]' : value;
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((item) => scrub(item, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value as Record<string, unknown>)) {
    if (STATEMENT_FIELDS.has(key)) continue;
    if (key === 'message' && typeof field === 'string') out[key] = field.replace(FAILED_QUERY, '$1 (statement and parameters not logged)');
    else if (key === 'stack' && typeof field === 'string') out[key] = field.replace(FAILED_QUERY_LINES, 'Failed query (statement and parameters not logged)');
    else out[key] = scrub(field, depth + 1);
  }
  return out;
}

/**
 * The daemon's root logger; components get children with `{ component }` or `{ channel, account }`.
 * `format` (`log.format`): JSON lines, or the pretty form for people; `auto` is pretty only when
 * writing to stdout and stdout is a terminal.
 */
export function createLogger(
  level: LoggerOptions['level'] = 'info',
  destination?: pino.DestinationStream,
  format: 'auto' | 'json' | 'pretty' = 'auto',
): Logger {
  const options: LoggerOptions = {
    level,
    base: { service: 'omnibus' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    serializers: { err: serializeError, error: serializeError },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  const pretty = format === 'pretty' || (format === 'auto' && !destination && process.stdout.isTTY === true);
  if (pretty) return pino(options, destination ? prettyDestination(destination as unknown as NodeJS.WritableStream) : prettyDestination());
  const out = destination ?? { write: (line: string) => process.stdout.write(line) };
  return pino(options, { write: (line: string) => out.write(singleKeys(line)) });
}

/**
 * Nested children (`{ component: 'outbound' }` then `{ component: 'sender' }`) make pino write
 * a key twice, which log pipelines read differently (first wins, last wins, or a parse error).
 * Re-serialising keeps one key, with the innermost value: the line's own JSON.parse semantics.
 */
function singleKeys(line: string): string {
  try {
    return `${JSON.stringify(JSON.parse(line))}\n`;
  } catch {
    // Not one JSON object (never expected from pino): pass it on untouched.
    return line;
  }
}

/** Removes credentials embedded in URLs (Telegram `bot<token>/`, `access_token=`, user:pass@). */
export function scrubUrl(url: string): string {
  return url
    .replace(/\/\/[^/@\s]+@/g, '//[redacted]@')
    .replace(/\/bot[^/\s]+/g, '/bot[redacted]')
    .replace(/([?&](?:access_token|secret|token|appsecret|signature|msg_signature)=)[^&\s]*/gi, '$1[redacted]');
}

export type { Logger };
