/**
 * The platform rules a send is checked against before it is accepted, all from the adapter's
 * capabilities as data (never from a channel name): the service window, the window's message
 * quota, and template support and limits.
 */
import type { SendCommand } from '../core/schemas/api.ts';
import { OmniError } from '../core/errors.ts';
import type { AdapterEntry } from '../core/registry.ts';
import { windowOpen, type WindowRow } from './recipients.ts';
import { sessionRuleOf } from '../core/session-kinds.ts';

/**
 * Refuses a free-form send outside the window with `session_expired`, saying when it ended and
 * what may still be sent. Returns the window whose quota the send uses (null: none counts).
 */
export function checkSession(
  entry: AdapterEntry,
  command: SendCommand,
  window: WindowRow | null,
  now: Date,
  sessionKind: string | null = null,
): WindowRow | null {
  // The conversation's kind may have a window where the channel's default has none (Telegram Business).
  const session = sessionRuleOf(entry.adapter.capabilities, entry.window, sessionKind);
  if (session.windowMs === null) return null;
  if (windowOpen(entry, window, now, sessionKind)) return window;
  if (command.template !== undefined && session.allowedOutsideWindow.includes('template')) return null;
  throw new OmniError('session_expired', 'the customer-service window is closed', {
    details: { expiredAt: window?.expiresAt?.toISOString() ?? null, allowed: [...session.allowedOutsideWindow] },
  });
}

/** Refuses a send when the window's quota is used up (WeChat: 5 messages per 48 h). */
export function checkQuota(window: WindowRow | null): void {
  if (!window || window.quotaLimit === null) return;
  if (window.quotaUsed >= window.quotaLimit) {
    throw new OmniError('quota_exceeded', 'no messages left in this session window', {
      details: { limit: window.quotaLimit, used: window.quotaUsed, expiresAt: window.expiresAt?.toISOString() ?? null },
    });
  }
}

/** Refuses templates where the channel has none, and templates over the channel's limits. */
export function checkTemplate(entry: AdapterEntry, command: SendCommand): void {
  const template = command.template;
  if (template === undefined) return;
  const limits = entry.adapter.capabilities.templates;
  if (limits === null) {
    throw new OmniError('template_not_supported', `channel ${entry.account.channel} has no message templates`);
  }
  if (template.name.length > limits.maxNameLength) {
    throw new OmniError('template_invalid', `template name longer than ${limits.maxNameLength} characters`, {
      details: { field: 'template.name', maxLength: limits.maxNameLength },
    });
  }
  const body = template.params['body'];
  // A list of positional parameters, or an object of named ones (WhatsApp `{{first_name}}`).
  const named = typeof body === 'object' && body !== null && !Array.isArray(body);
  if (body !== undefined && !Array.isArray(body) && !named) {
    throw new OmniError('template_invalid', 'template.params.body must be a list of parameters (or an object of named ones)', { details: { field: 'template.params.body' } });
  }
  const count = Array.isArray(body) ? body.length : named ? Object.keys(body as object).length : 0;
  if (count > limits.maxBodyParams) {
    throw new OmniError('template_invalid', `more than ${limits.maxBodyParams} body parameters`, {
      details: { field: 'template.params.body', maxParams: limits.maxBodyParams, given: count },
    });
  }
}
