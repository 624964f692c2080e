/** How Telegram's refusals map to contract codes, and that the bot token never leaks through an error. */
import { describe, expect, it } from 'vitest';
import { OmniError } from '../../../src/core/errors.ts';
import { HttpClientError } from '../../../src/core/http-client.ts';
import { inMemoryHttpClient } from '../whatsapp/outbound-helpers.ts';
import { SECRETS, createAdapter, testAccount } from './helpers.ts';
import { API_BASE, CHAT, media, outbound, signal, withFake } from './outbound-helpers.ts';

const failureOf = async (promise: Promise<unknown>): Promise<OmniError> => {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(OmniError);
    return error as OmniError;
  }
  throw new Error('the send succeeded');
};

const everything = (error: unknown): string => {
  const parts: string[] = [];
  for (let current = error as any, depth = 0; current !== undefined && current !== null && depth < 6; current = current.cause, depth++) {
    parts.push(String(current.message), JSON.stringify(current.details ?? null), String(current.stack ?? ''));
  }
  return parts.join(' | ');
};

describe('telegram send errors', () => {
  it('a user who blocked the bot is recipient_unreachable; an unknown chat is unknown_contact', async () => {
    const { adapter, fake } = withFake();
    fake.block('acme-tg', CHAT);
    const blocked = await failureOf(adapter.send!(outbound([{ type: 'text', text: 'hi' }]), signal()));
    expect(blocked.code).toBe('recipient_unreachable');
    expect(blocked.details).toMatchObject({ status: 403, description: 'Forbidden: bot was blocked by the user' });
    expect(blocked.retryable).toBe(false);

    const unknown = await failureOf(adapter.send!(outbound([{ type: 'text', text: 'hi' }], { to: { externalId: '555', conversationExternalId: '555' } }), signal()));
    expect(unknown.code).toBe('unknown_contact');

    fake.failNext({ errorCode: 403, description: 'Forbidden: user is deactivated' });
    expect((await failureOf(adapter.send!(outbound([{ type: 'text', text: 'hi' }]), signal()))).code).toBe('recipient_unreachable');
  });

  it('429: rate_limited for the whole account, waiting parameters.retry_after', async () => {
    const { adapter, fake } = withFake();
    fake.failNext({ errorCode: 429, description: 'Too Many Requests: retry after 17', parameters: { retry_after: 17 } }, 'sendMessage');
    const error = await failureOf(adapter.send!(outbound([{ type: 'text', text: 'hi' }]), signal()));
    expect(error.code).toBe('rate_limited');
    expect(error.retryAfterSeconds).toBe(17);
    expect(error.details).toMatchObject({ scope: 'account', retryAfterSeconds: 17 });
    expect(error.retryable).toBe(true);
  });

  it('a group upgraded to a supergroup: resent once to the new id, which later sends use directly', async () => {
    const { adapter, fake, http } = withFake();
    fake.migrateGroup('acme-tg', '-4001', '-1004001');
    const group = { externalId: '-4001', conversationExternalId: '-4001', conversationKind: 'group' as const };
    const result = await adapter.send!(outbound([{ type: 'text', text: 'hello group' }], { to: group }), signal());
    expect(result.externalId).toMatch(/^-1004001:\d+$/);
    expect(http.seen.map((request) => (request.body as { chat_id: number }).chat_id)).toEqual([-4001, -1004001]);
    expect(fake.sentMessages()).toHaveLength(1);

    await adapter.send!(outbound([{ type: 'text', text: 'again' }], { to: group, messageId: 'msg_2' }), signal());
    expect(http.seen.slice(2).map((request) => (request.body as { chat_id: number }).chat_id)).toEqual([-1004001]);
  });

  it('a part failing after others were accepted keeps their ids, and the retry resumes after them', async () => {
    const { adapter, fake } = withFake();
    const message = outbound([{ type: 'text', text: 'one' }, { type: 'file', media: media('application/pdf', 'pdf') }]);
    fake.failNext({ errorCode: 500, description: 'Internal Server Error' }, 'sendDocument');
    const error = await failureOf(adapter.send!(message, signal()));
    expect(error.code).toBe('channel_unavailable');
    expect(error.details?.sentExternalIds).toHaveLength(1);
    await adapter.send!(message, signal());
    expect(fake.sentMessages().map((call) => call.method)).toEqual(['sendMessage', 'sendDocument']);
  });

  it('other refusals: a wrong token names botToken, an oversized file, a revoked Business connection', async () => {
    const { adapter, fake } = withFake();
    fake.failNext({ errorCode: 401, description: 'Unauthorized' });
    const token = await failureOf(adapter.send!(outbound([{ type: 'text', text: 'hi' }]), signal()));
    expect(token).toMatchObject({ code: 'channel_rejected', details: { field: 'botToken' } });
    fake.failNext({ errorCode: 413, description: 'Request Entity Too Large' });
    expect((await failureOf(adapter.send!(outbound([{ type: 'file', media: media('application/pdf', 'pdf') }]), signal()))).code).toBe('attachment_too_large');
    fake.failNext({ errorCode: 400, description: 'Bad Request: BUSINESS_CONNECTION_INVALID' });
    expect((await failureOf(adapter.send!(outbound([{ type: 'text', text: 'hi' }], { to: { externalId: CHAT, conversationExternalId: `business:x:${CHAT}`, via: 'x' } }), signal()))).code).toBe('recipient_unreachable');
  });

  it('the bot token never appears in an error: not from the HTTP client, not from an echoing proxy', async () => {
    const echo = inMemoryHttpClient((request) => Response.json({ ok: false, error_code: 400, description: `Bad Request: cannot POST ${request.url}` }, { status: 400 }));
    const echoed = await failureOf(createAdapter(testAccount({ apiBase: API_BASE }), echo).send!(outbound([{ type: 'text', text: 'hi' }]), signal()));
    expect(echo.seen[0]!.url.pathname).toContain(SECRETS.botToken);
    expect(everything(echoed)).not.toContain(SECRETS.botToken.split(':')[1]);
    expect(echoed.details?.description).toContain('[redacted]');

    const down = inMemoryHttpClient((request) => new HttpClientError('network', `request to ${request.url} failed: ECONNRESET`, { cause: new Error(`socket hang up ${request.url}`) }));
    for (const call of [
      (adapter: ReturnType<typeof createAdapter>) => adapter.send!(outbound([{ type: 'text', text: 'hi' }]), signal()),
      (adapter: ReturnType<typeof createAdapter>) => adapter.checkCredentials(signal()),
      (adapter: ReturnType<typeof createAdapter>) => adapter.fetchMedia({ ref: 'BQACAgIAAxkBAAI' }, signal()),
      (adapter: ReturnType<typeof createAdapter>) => adapter.fetchUpdates!(null, signal()),
    ]) {
      const error = await failureOf(call(createAdapter(testAccount({ apiBase: API_BASE }), down)) as Promise<unknown>);
      expect(error.code).toBe('channel_unavailable');
      expect(everything(error)).not.toContain(SECRETS.botToken.split(':')[1]);
    }
  });
});
