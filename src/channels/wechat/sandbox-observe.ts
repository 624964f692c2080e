/**
 * How the fake learns what users did. The real WeChat knows, since every push starts there; the
 * fake only sees pushes a simulator shows it. `observePush` reads one exactly as the adapter
 * would (same verification, same parsing) and notes the follow, click, scan, message or
 * unsubscribe it carries, so customer-service sends are judged by the same rules.
 */
import type { InboundEvent, WebhookRequestSpec } from '../../core/adapter.ts';
import { parsePush } from './inbound.ts';
import type { FakeState, InboundKind } from './sandbox-state.ts';
import { accountAesKey, verifyPush } from './verify.ts';

/** What `observePush` learned: the AppID, user and kind of each event, or why it learned nothing. */
export type Observed = { ok: true; noted: Array<{ appId: string; openId: string; kind: InboundKind }> } | { ok: false; reason: string };

const GRANT_KINDS: Readonly<Record<string, InboundKind>> = { message: 'message', follow: 'follow', click: 'click', scan: 'scan' };

/** Verifies and parses a push meant for one of the fake's accounts, and notes what it says. */
export function observePush(state: FakeState, spec: WebhookRequestSpec): Observed {
  let url: URL;
  try {
    url = new URL(spec.path, 'http://sandbox.invalid');
  } catch {
    return { ok: false, reason: 'invalid_path' };
  }
  const match = /^\/webhooks\/wechat\/([^/]+)$/.exec(url.pathname);
  const accountId = match === null ? undefined : decodeURIComponent(match[1]!);
  const account = accountId === undefined ? undefined : state.accounts.byId(accountId);
  if (account === undefined) return { ok: false, reason: 'unknown_account' };
  const { appId, token, mode, encodingAesKey } = account.settings;
  let events: InboundEvent[];
  try {
    const body = typeof spec.body === 'string' ? new TextEncoder().encode(spec.body) : spec.body;
    const verified = verifyPush({ method: 'POST', url, headers: new Map(), body }, { appId, token, mode, aesKey: accountAesKey(encodingAesKey), clock: state.clock });
    events = parsePush(verified.body, { originalId: account.settings.originalId });
  } catch (error) {
    return { ok: false, reason: (error as { reason?: string }).reason ?? 'unreadable_push' };
  }
  const noted: Array<{ appId: string; openId: string; kind: InboundKind }> = [];
  for (const event of events) {
    let kind: InboundKind | undefined;
    let openId: string | undefined;
    if (event.kind === 'message' && event.sessionGrant !== null) {
      kind = GRANT_KINDS[event.sessionGrant];
      openId = event.sender.externalId;
    } else if (event.kind === 'identity' && event.change === 'erase') {
      kind = 'unsubscribe';
      openId = event.identity.externalId;
    }
    if (kind === undefined || openId === undefined || event.kind === 'ignored' || event.kind === 'invalid') continue;
    state.sessions.note(appId, openId, kind, event.timestamp.getTime());
    noted.push({ appId, openId, kind });
  }
  return { ok: true, noted };
}
