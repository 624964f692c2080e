/**
 * How updates reach the daemon: long polling (`getUpdates` from a cursor the core stores, after
 * `deleteWebhook`) or a webhook the adapter may register itself (`setWebhook` with the secret
 * token). Telegram allows one of the two per bot and one poller at a time: a second poller or an
 * active webhook answers 409, which surfaces as TelegramPollConflictError.
 */
import { createHash } from 'node:crypto';
import type { InboundEvent, PolledUpdates, WebhookStatus } from '../../core/adapter.ts';
import { OmniError } from '../../core/errors.ts';
import { botApiFailure, conflictReason } from './api-errors.ts';
import type { BotClient } from './client.ts';
import type { TelegramSettings } from './config.ts';
import { parseUpdate, type ParseOptions } from './inbound.ts';
import { isRecord } from './inbound-parts.ts';

/**
 * getUpdates answered 409: another process polls this bot ("terminated by other getUpdates
 * request") or a webhook is set. Polling cannot go on until an operator acts; the core loop
 * should report it loudly rather than retry quietly. Code `conflict`, `details.reason` says which.
 */
export class TelegramPollConflictError extends OmniError {
  readonly reason: 'webhook_active' | 'other_poller' | 'conflict';
  constructor(reason: TelegramPollConflictError['reason']) {
    super(
      'conflict',
      reason === 'webhook_active'
        ? 'Telegram refuses getUpdates while a webhook is set for this bot'
        : 'another process is polling this Telegram bot: run one poller per bot token',
      { details: { reason } },
    );
    this.name = 'TelegramPollConflictError';
    this.reason = reason;
  }
}

const POLL_MAX_BYTES = 32 * 1024 * 1024;
const CURSOR = /^-?\d{1,16}$/;

/** One long poll from `cursor`; `nextCursor` is the last update_id + 1 (confirms them on the next poll). */
export async function fetchUpdates(
  client: BotClient,
  settings: TelegramSettings,
  cursor: string | null,
  signal: AbortSignal,
  options: ParseOptions,
): Promise<PolledUpdates> {
  const params: Record<string, unknown> = { timeout: settings.pollTimeoutSeconds, limit: 100, allowed_updates: settings.allowedUpdates };
  if (cursor !== null && CURSOR.test(cursor)) params.offset = Number(cursor);
  // The HTTP timeout must outlast Telegram's long poll, or every quiet poll would fail.
  const answer = await client.call('getUpdates', params, { purpose: 'poll', signal, timeoutMs: (settings.pollTimeoutSeconds + 15) * 1000, maxBytes: POLL_MAX_BYTES });
  if (!answer.ok) {
    if (answer.status === 409 || answer.errorCode === 409) throw new TelegramPollConflictError(conflictReason(answer.description ?? ''));
    throw botApiFailure(answer, 'poll', options.now());
  }
  if (!Array.isArray(answer.result)) throw new OmniError('channel_unavailable', 'Telegram getUpdates returned no list', { details: { reason: 'no_result' } });

  const events: InboundEvent[] = [];
  let last: number | undefined;
  for (const item of answer.result) {
    const raw = serialise(item);
    const updateId = isRecord(item) && typeof item.update_id === 'number' && Number.isSafeInteger(item.update_id) ? item.update_id : undefined;
    if (updateId === undefined || !isRecord(item)) {
      events.push({ kind: 'invalid', dedupeKey: `invalid:${createHash('sha256').update(raw).digest('hex').slice(0, 24)}`, reason: 'missing_update_id', raw });
      continue;
    }
    last = last === undefined ? updateId : Math.max(last, updateId);
    events.push(...parseUpdate(item, raw, options));
  }
  return { events, nextCursor: last === undefined ? cursor : String(last + 1) };
}

/** `deleteWebhook` (keeping pending updates), so getUpdates is allowed. */
export async function deleteWebhook(client: BotClient, signal: AbortSignal, now: () => Date): Promise<void> {
  const answer = await client.call('deleteWebhook', { drop_pending_updates: false }, { purpose: 'webhook', signal });
  if (!answer.ok) throw botApiFailure(answer, 'webhook', now());
}

/** `setWebhook` with `webhookUrl`, else `<publicUrl>/webhooks/telegram/<account>`, the secret token and the update kinds. */
export async function setWebhook(
  client: BotClient,
  input: { settings: TelegramSettings; accountId: string; publicUrl: string | null | undefined },
  signal: AbortSignal,
  now: () => Date,
): Promise<{ url: string }> {
  const { settings, accountId, publicUrl } = input;
  const url = settings.webhookUrl ?? (publicUrl ? `${publicUrl.replace(/\/+$/, '')}/webhooks/telegram/${encodeURIComponent(accountId)}` : undefined);
  if (url === undefined) {
    throw new OmniError('invalid_request', 'registerWebhook needs http.publicUrl in omnibus.yaml or webhookUrl in the channel file', { details: { field: 'webhookUrl' } });
  }
  const answer = await client.call('setWebhook', { url, secret_token: settings.secretToken, allowed_updates: settings.allowedUpdates }, { purpose: 'webhook', signal });
  if (!answer.ok) throw botApiFailure(answer, 'webhook', now());
  return { url };
}

/** `getWebhookInfo`: the URL Telegram posts to, the updates it holds, its last delivery error. */
export async function webhookInfo(client: BotClient, signal: AbortSignal, now: () => Date): Promise<WebhookStatus> {
  const answer = await client.call('getWebhookInfo', {}, { purpose: 'webhook', signal });
  if (!answer.ok) throw botApiFailure(answer, 'webhook', now());
  const info = isRecord(answer.result) ? answer.result : {};
  const url = typeof info.url === 'string' ? info.url.split('?')[0]! : '';
  const pending = info.pending_update_count;
  const errorDate = info.last_error_date;
  const errorMessage = info.last_error_message;
  return {
    url: client.redact(url),
    pendingUpdates: typeof pending === 'number' && Number.isSafeInteger(pending) && pending >= 0 ? pending : null,
    lastErrorAt: typeof errorDate === 'number' && Number.isFinite(errorDate) && errorDate > 0 ? new Date(errorDate * 1000) : null,
    lastErrorMessage: typeof errorMessage === 'string' && errorMessage !== '' ? client.redact(errorMessage).slice(0, 300) : null,
  };
}

function serialise(item: unknown): string {
  try {
    return JSON.stringify(item) ?? 'null';
  } catch {
    return '"unserialisable update"';
  }
}
