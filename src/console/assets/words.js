// Refusal codes and window states, in words an agent reads.
import { when } from './dom.js';

const hours = (window) => (typeof window === 'string' && /^\d+h$/.test(window) ? `${window.slice(0, -1)} h` : window || 'service');

/** A refusal (the API's error) as a sentence. */
export function refusalInWords(error, context = {}) {
  const details = error?.details ?? {};
  switch (error?.code) {
    case 'session_expired': {
      const at = details.expiredAt ? when(details.expiredAt) : 'an earlier time';
      const allowed = Array.isArray(details.allowed) ? details.allowed : [];
      return allowed.includes('template')
        ? `The ${hours(context.window)} window closed at ${at}; send a template.`
        : `The ${hours(context.window)} window closed at ${at}; wait until the customer writes again.`;
    }
    case 'no_open_session':
      return 'No conversation of this contact has an open window; pick an account or send a template.';
    case 'quota_exceeded':
      return 'The messages this window allows are used up (WeChat: 5 per 48 h); wait until the customer writes again.';
    case 'recipient_unreachable':
      return 'The customer cannot be reached: they blocked, unfollowed or unsubscribed.';
    case 'template_not_supported':
      return 'This channel has no templates.';
    case 'template_invalid':
      return `The template or its parameters are wrong${details.field ? ` (${details.field})` : ''}.`;
    case 'unknown_contact':
      return 'This account does not know the customer.';
    case 'unknown_account':
      return 'That account does not exist or is disabled.';
    case 'rate_limited':
      return 'Too many requests right now; try again in a moment.';
    case 'channel_unavailable':
      return 'The platform is unavailable; try again in a moment.';
    case 'channel_rejected':
      return 'The platform refused the message.';
    case 'forbidden':
      return 'This token is read-only: it can look, not send or merge.';
    case 'csrf_failed':
      return 'The page is out of date (CSRF check failed); reload it.';
    case 'unauthorized':
      return 'The login expired; log in again.';
    case 'invalid_request':
      return `The request was not valid${error.message ? `: ${error.message}` : '.'}`;
    case 'conflict':
      return error.message || 'That conflicts with the current state.';
    default:
      return error?.message || 'Something went wrong.';
  }
}

/**
 * A window's state now, from the conversations API (`window`) or a session (`session.get`), as
 * { state: 'open'|'closed'|'none', text }.
 */
export function windowInWords(window) {
  if (!window || window.state === 'none') return { state: 'none', text: 'no service window' };
  if (window.state === 'open') {
    const left = typeof window.messagesLeft === 'number' ? `, ${window.messagesLeft} message${window.messagesLeft === 1 ? '' : 's'} left` : '';
    return { state: 'open', text: `open until ${when(window.expiresAt)}${left}` };
  }
  const since = window.closedSince ?? window.expiresAt;
  return { state: 'closed', text: since ? `closed since ${when(since)}` : 'closed' };
}

/** A session (`omni.session/v1` or null) as a window. */
export function windowOfSession(session, now = Date.now()) {
  if (!session) return { state: 'none' };
  const open = new Date(session.expiresAt).getTime() > now && session.state !== 'expired';
  return open
    ? { state: 'open', expiresAt: session.expiresAt, ...(session.quota ? { messagesLeft: session.quota.remaining } : {}) }
    : { state: 'closed', closedSince: session.expiresAt };
}

/** A delivery status as a label. */
export const STATUS_WORDS = { queued: 'queued', sent: 'sent', delivered: 'delivered', read: 'read', failed: 'failed' };
