/**
 * The fake's Messaging API routes: token issue, bot info, reply (single-use tokens that expire,
 * 400 on a retry key), push (honouring `X-Line-Retry-Key`: 409 on reuse, never a second
 * message; the monthly quota counted per recipient, 429 when spent), profile, group and room
 * member counts, quota and consumption. Errors come in LINE's wire format; scripted failures
 * (`FailureQueue`) are answered first.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Context, Hono } from 'hono';
import { readJsonObject, sameSecret } from '../../sandbox/index.ts';
import { LINE_MAX_MESSAGES, LINE_MAX_TEXT } from './config.ts';
import { sandboxChatMode } from './sandbox-signals.ts';
import {
  RETRY_KEY_MS, accountByToken, friendsOf, lineError, lineJson, memberCount, newMessageId, quotaOf, recipientsOf, scripted, type CallKind, type FakeState, type LineAccount,
} from './sandbox-state.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const SHORT_LIVED_SECONDS = 2_592_000;

/** The account of the request's bearer token, or LINE's 401; scripted failures first. */
export function authorize(state: FakeState, c: Context, kind: CallKind): LineAccount | Response {
  state.calls.set(kind, (state.calls.get(kind) ?? 0) + 1);
  const answer = scripted(state, kind);
  if (answer !== undefined) return answer;
  const account = accountByToken(state, c.req.raw);
  return account ?? lineError(401, 'Authentication failed. Confirm that the access token in the authorization header is valid.');
}

/** Registers the token, info, send, profile and quota routes. */
export function registerApiRoutes(app: Hono, state: FakeState): void {
  const now = () => state.clock.now().getTime();

  app.post('/v2/oauth/accessToken', async (c) => {
    const answer = scripted(state, 'token');
    if (answer !== undefined) return answer;
    const form = new URLSearchParams(await c.req.text());
    if (form.get('grant_type') !== 'client_credentials') return c.json({ error: 'unsupported_grant_type', error_description: 'grant_type must be client_credentials' }, 400);
    const account = [...state.accounts.values()].find((candidate) => candidate.settings.channelId !== undefined && candidate.settings.channelId === form.get('client_id'));
    if (account === undefined || !sameSecret(form.get('client_secret') ?? '', account.settings.channelSecret)) {
      return c.json({ error: 'invalid_client', error_description: 'invalid client_id or client_secret' }, 400);
    }
    const token = randomBytes(96).toString('base64url');
    state.issued.set(token, { accountId: account.id, expiresAt: now() + SHORT_LIVED_SECONDS * 1000 });
    return lineJson({ access_token: token, expires_in: SHORT_LIVED_SECONDS, token_type: 'Bearer' });
  });

  app.get('/v2/bot/info', (c) => {
    const account = authorize(state, c, 'info');
    if (account instanceof Response) return account;
    return lineJson({ userId: botUserId(account), basicId: '@sandbox', displayName: account.id, chatMode: sandboxChatMode(account.id), markAsReadMode: 'auto' });
  });

  app.post('/v2/bot/message/reply', async (c) => {
    const account = authorize(state, c, 'reply');
    if (account instanceof Response) return account;
    // LINE: a retry key on an endpoint that does not support it is a 400.
    if (c.req.header('x-line-retry-key') !== undefined) return lineError(400, 'X-Line-Retry-Key is not supported for this endpoint');
    const body = await readJson(c);
    if (body === undefined || typeof body.replyToken !== 'string') return lineError(400, 'The request body has 1 error(s)', { details: [{ message: 'must be specified', property: 'replyToken' }] });
    const problem = messagesProblem(body.messages);
    if (problem !== undefined) return problem;
    const token = state.replyTokens.get(body.replyToken);
    if (token === undefined || token.accountId !== account.id || token.used || token.expiresAt <= now()) return lineError(400, 'Invalid reply token');
    token.used = true;
    return lineJson({ sentMessages: record(state, account, 'reply', token.to, body.messages as Array<Record<string, unknown>>, true) });
  });

  app.post('/v2/bot/message/push', async (c) => {
    const account = authorize(state, c, 'push');
    if (account instanceof Response) return account;
    const retryKey = c.req.header('x-line-retry-key');
    if (retryKey !== undefined && !UUID.test(retryKey)) return lineError(400, 'The value of the X-Line-Retry-Key header is invalid');
    const key = `${account.id}\n${retryKey?.toLowerCase()}`;
    const accepted = retryKey === undefined ? undefined : state.retryKeys.get(key);
    if (accepted !== undefined && now() - accepted.at < RETRY_KEY_MS) {
      return lineError(409, 'The retry key is already accepted', { sentMessages: accepted.ids.map((id) => ({ id })) }, { 'x-line-accepted-request-id': accepted.requestId });
    }
    const body = await readJson(c);
    if (body === undefined || typeof body.to !== 'string' || body.to === '') return lineError(400, 'The request body has 1 error(s)', { details: [{ message: 'must be specified', property: 'to' }] });
    const problem = messagesProblem(body.messages);
    if (problem !== undefined) return problem;
    const messages = body.messages as Array<Record<string, unknown>>;
    const quota = quotaOf(state, account.id);
    // LINE counts a push once per message and recipient: a group's or room's every member.
    const spends = messages.length * recipientsOf(state, account.id, body.to);
    if (quota.limit !== null && quota.used + spends > quota.limit) return lineError(429, 'You have reached your monthly limit.');
    // A push to someone who is not a friend is answered 200 and not delivered (nor counted).
    const delivered = friendsOf(state, account.id).has(body.to);
    if (delivered) quota.used += spends;
    const sentMessages = record(state, account, 'push', body.to, messages, delivered, retryKey);
    const requestId = randomBytes(16).toString('hex');
    if (retryKey !== undefined) state.retryKeys.set(key, { requestId, ids: sentMessages.map((message) => message.id), at: now() });
    const late = state.lateAnswers.shift();
    // Accepted, but the answer comes after the caller gave up: what a dropped connection looks like to it.
    if (late !== undefined) await new Promise((resolve) => setTimeout(resolve, late));
    return lineJson({ sentMessages }, 200, { 'x-line-request-id': requestId });
  });

  app.get('/v2/bot/profile/:userId', (c) => {
    const account = authorize(state, c, 'profile');
    if (account instanceof Response) return account;
    const userId = c.req.param('userId');
    const friend = friendsOf(state, account.id).get(userId);
    if (friend === undefined || /^(group|room):/.test(userId)) return lineError(404, 'Not found');
    return lineJson({ userId, displayName: friend.displayName ?? `LINE user ${userId.slice(-4)}`, language: 'en' });
  });

  for (const kind of ['group', 'room'] as const) {
    app.get(`/v2/bot/${kind}/:chatId/members/count`, (c) => {
      const account = authorize(state, c, 'members');
      if (account instanceof Response) return account;
      const chatId = c.req.param('chatId');
      const count = friendsOf(state, account.id).has(chatId) ? memberCount(state, account.id, chatId) : undefined;
      return count === undefined ? lineError(404, 'Not found') : lineJson({ count });
    });
  }

  app.get('/v2/bot/message/quota', (c) => {
    const account = authorize(state, c, 'quota');
    if (account instanceof Response) return account;
    const { limit } = quotaOf(state, account.id);
    return lineJson(limit === null ? { type: 'none' } : { type: 'limited', value: limit });
  });

  app.get('/v2/bot/message/quota/consumption', (c) => {
    const account = authorize(state, c, 'quota');
    if (account instanceof Response) return account;
    return lineJson({ totalUsage: quotaOf(state, account.id).used });
  });
}

/** Records accepted messages; returns LINE's `sentMessages`. */
function record(
  state: FakeState,
  account: LineAccount,
  route: 'reply' | 'push',
  to: string,
  messages: Array<Record<string, unknown>>,
  delivered: boolean,
  retryKey?: string,
): Array<{ id: string; quoteToken: string }> {
  const sentMessages = messages.map(() => ({ id: newMessageId(), quoteToken: randomBytes(24).toString('base64url') }));
  state.sent.push({
    accountId: account.id,
    route,
    to,
    messages,
    ...(retryKey !== undefined ? { retryKey } : {}),
    delivered,
    ids: sentMessages.map((message) => message.id),
    at: state.clock.now(),
  });
  return sentMessages;
}

/** LINE's 400 for a malformed `messages` array, or undefined when it is fine. */
function messagesProblem(value: unknown): Response | undefined {
  const fail = (message: string, property: string) => lineError(400, 'The request body has 1 error(s)', { details: [{ message, property }] });
  if (!Array.isArray(value) || value.length === 0 || value.length > LINE_MAX_MESSAGES) return fail(`Size must be between 1 and ${LINE_MAX_MESSAGES}`, 'messages');
  for (const [index, message] of value.entries()) {
    const at = `messages[${index}]`;
    if (typeof message !== 'object' || message === null) return fail('must be an object', at);
    const m = message as Record<string, unknown>;
    const url = (field: string) => typeof m[field] === 'string' && /^https?:\/\//.test(m[field] as string) && (m[field] as string).length <= 2000;
    switch (m.type) {
      case 'text':
        if (typeof m.text !== 'string' || m.text.length === 0 || m.text.length > LINE_MAX_TEXT) return fail(`Length must be between 1 and ${LINE_MAX_TEXT}`, `${at}.text`);
        break;
      case 'image':
      case 'video':
        if (!url('originalContentUrl')) return fail('must be a URL', `${at}.originalContentUrl`);
        if (!url('previewImageUrl')) return fail('must be a URL', `${at}.previewImageUrl`);
        break;
      case 'audio':
        if (!url('originalContentUrl')) return fail('must be a URL', `${at}.originalContentUrl`);
        if (!Number.isSafeInteger(m.duration) || (m.duration as number) <= 0) return fail('must be specified', `${at}.duration`);
        break;
      case 'location':
        if (typeof m.title !== 'string' || typeof m.address !== 'string' || typeof m.latitude !== 'number' || typeof m.longitude !== 'number') {
          return fail('title, address, latitude and longitude must be specified', at);
        }
        break;
      case 'sticker':
        if (typeof m.packageId !== 'string' || typeof m.stickerId !== 'string') return fail('must be specified', `${at}.stickerId`);
        break;
      default:
        return fail('unknown message type', `${at}.type`);
    }
    const quick = m.quickReply as { items?: unknown } | undefined;
    if (quick !== undefined && (!Array.isArray(quick.items) || quick.items.length === 0 || quick.items.length > 13)) return fail('Size must be between 1 and 13', `${at}.quickReply.items`);
  }
  return undefined;
}

/** The bot's user id: `U` and 32 hex digits, stable per account. */
export function botUserId(account: LineAccount): string {
  return `U${createHash('sha256').update(`bot:${account.id}`).digest('hex').slice(0, 32)}`;
}

function readJson(c: Context): Promise<Record<string, unknown> | undefined> {
  return readJsonObject(c.req.raw);
}
