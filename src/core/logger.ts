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
