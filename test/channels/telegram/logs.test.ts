/**
 * The bot token sits in every Bot API URL: run real Telegram traffic through a daemon at debug
 * level (webhooks, a refused secret, a failing media fetch, a send refused by a blocked user)
 * and search every log line for the token, its secret half, the webhook secret and the text.
 */
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simulateInbound, type TelegramFake } from '../../../src/channels/telegram/sandbox.ts';
import type { WebhookRequestSpec } from '../../../src/core/adapter.ts';
import { API_TOKEN, startTestDaemon, type TestDaemon } from '../../support/daemon.ts';
import { waitFor } from '../../support/services.ts';
import { SECRETS, testAccount } from './helpers.ts';

const account = testAccount({ id: 'acme-telegram' });
const YAML = ['id: acme-telegram', 'channel: telegram', `botToken: "${SECRETS.botToken}"`, `secretToken: ${SECRETS.secretToken}`].join('\n') + '\n';

describe('telegram logs', () => {
  const lines: string[] = [];
  let t: TestDaemon;
  const post = (spec: WebhookRequestSpec) => fetch(`${t.daemon.url}${spec.path}`, { method: spec.method, headers: spec.headers, body: spec.body as string });

  beforeAll(async () => {
    const destination = new Writable({
      write(chunk, _encoding, callback) {
        lines.push(String(chunk));
        callback();
      },
    });
    t = await startTestDaemon({ accounts: { 'acme-telegram.yaml': YAML }, logLevel: 'debug', extra: { logDestination: destination as never } });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('contain no bot token, webhook secret or message text after real traffic', async () => {
    const fake = t.daemon.fakes.get('telegram') as TelegramFake;
    const secretText = 'my card number is 4111';
    const text = simulateInbound(account, { from: '7200000001', text: secretText, timestamp: t.clock.now() });
    fake.observe(text);
    expect((await post(text)).status).toBe(200);
    expect((await post({ ...text, headers: { ...text.headers, 'x-telegram-bot-api-secret-token': 'wrong-wrong-wrong-wrong' } })).status).toBe(401);
    expect((await post(simulateInbound(account, { from: '7200000001', media: { id: 'BQACAgIAAxkBunknownfile', mime: 'application/pdf' }, timestamp: t.clock.now() }))).status).toBe(200);
    fake.block('acme-telegram', '7200000001');
    const send = await fetch(`${t.daemon.url}/v1/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ idempotencyKey: 'tg-log-1', account: 'acme-telegram', to: { externalId: '7200000001' }, parts: [{ type: 'text', text: secretText }] }),
    });
    expect(send.status).toBeLessThan(300);
    const { messageId } = (await send.json()) as { messageId: string };
    await waitFor(
      async () => {
        const answer = await fetch(`${t.daemon.url}/v1/messages/${messageId}`, { headers: { authorization: `Bearer ${API_TOKEN}` } });
        return ((await answer.json()) as { delivery?: { status?: string } }).delivery?.status === 'failed';
      },
      { timeoutMs: 20_000, intervalMs: 100, description: 'the send to a blocked user failed' },
    );
    await waitFor(() => lines.some((line) => line.includes('media fetch failed')), { timeoutMs: 20_000, intervalMs: 100, description: 'the media failure logged' });
    const all = lines.join('');
    expect(all).toContain('webhook verification failed');
    expect(all).toContain('webhook recorded');
    for (const needle of [SECRETS.botToken, SECRETS.botToken.split(':')[1]!, encodeURIComponent(SECRETS.botToken), SECRETS.secretToken, API_TOKEN, secretText]) {
      expect(all.includes(needle), `log contains ${needle}`).toBe(false);
    }
  });
});
