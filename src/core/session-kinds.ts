/**
 * The window rule of one conversation: the channel's default, or the rule of the conversation's
 * session kind (`capabilities.session.kinds`, named by `InboundConversation.sessionKind`). A
 * Telegram Business chat has a 24 h reply window although the bot's own chats have none. Used by
 * the inbound side (opening windows) and the outbound side (enforcing them) alike.
 */
import type { ChannelCapabilities } from './adapter.ts';

/** How a conversation's service window behaves. */
export interface SessionRule {
  windowMs: number | null;
  allowedOutsideWindow: ReadonlyArray<'template'>;
  /** The window as events name it (`24h`, `none`). */
  window: string;
  /** The declared kind whose rule this is; null: the channel's default. */
  kind: string | null;
}

/**
 * The rule for a conversation of `sessionKind` (null/undefined: the channel's default). A kind
 * the channel does not declare falls back to the default, so old rows never lose their rule.
 */
export function sessionRuleOf(capabilities: ChannelCapabilities, defaultWindow: string, sessionKind: string | null | undefined): SessionRule {
  const kind = sessionKind ? capabilities.session.kinds?.[sessionKind] : undefined;
  if (kind) return { windowMs: kind.windowMs, allowedOutsideWindow: kind.allowedOutsideWindow, window: windowText(kind.windowMs), kind: sessionKind! };
  const session = capabilities.session;
  return { windowMs: session.windowMs, allowedOutsideWindow: session.allowedOutsideWindow, window: defaultWindow, kind: null };
}

/** Whether any conversation of the channel can have a window (the default's or a kind's). */
export function hasAnyWindow(capabilities: ChannelCapabilities): boolean {
  if (capabilities.session.windowMs !== null) return true;
  return Object.values(capabilities.session.kinds ?? {}).some((kind) => kind.windowMs !== null);
}

/** `86400000` → `24h`, `5400000` → `1h30m`, in the config's own duration notation. */
export function windowText(ms: number | null): string {
  if (ms === null) return 'none';
  if (ms % 60_000 !== 0) return `${Math.round(ms / 1000)}s`;
  const minutes = ms / 60_000;
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  if (hours === 0) return `${rest}m`;
  return rest === 0 ? `${hours}h` : `${hours}h${rest}m`;
}
