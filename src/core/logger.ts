import { pino, type Logger, type LoggerOptions } from 'pino';

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

/** The daemon's root logger; components get children with `{ component }` or `{ channel, account }`. */
export function createLogger(level: LoggerOptions['level'] = 'info', destination?: pino.DestinationStream): Logger {
  const options: LoggerOptions = {
    level,
    base: { service: 'omnibus' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return destination ? pino(options, destination) : pino(options);
}

/** Removes credentials embedded in URLs (Telegram `bot<token>/`, `access_token=`, user:pass@). */
export function scrubUrl(url: string): string {
  return url
    .replace(/\/\/[^/@\s]+@/g, '//[redacted]@')
    .replace(/\/bot[^/\s]+/g, '/bot[redacted]')
    .replace(/([?&](?:access_token|secret|token|appsecret|signature|msg_signature)=)[^&\s]*/gi, '$1[redacted]');
}

export type { Logger };
