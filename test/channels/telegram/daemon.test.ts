/**
 * Telegram through a real daemon (PostgreSQL, NATS, the sandbox fake): updates verified and
 * recorded once (also when Telegram redelivers with a new update_id), bad secrets and bodies
 * refused, inbound media fetched through getFile, and an agent's answer sent to the fake.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simulateInbound, type TelegramFake } from '../../../src/channels/telegram/sandbox.ts';
import type { WebhookRequestSpec } from '../../../src/core/adapter.ts';
import { API_TOKEN, startTestDaemon, type TestDaemon } from '../../support/daemon.ts';
import { waitFor } from '../../support/services.ts';
import { SECRETS, testAccount } from './helpers.ts';

const account = testAccount({ id: 'acme-telegram' });
const YAML = ['id: acme-telegram', 'channel: telegram', `botToken: "${SECRETS.botToken}"`, `secretToken: ${SECRETS.secretToken}`, 'mode: webhook'].join('\n') + '\n';

describe('telegram through the daemon', () => {
  let t: TestDaemon;
  const post = (spec: WebhookRequestSpec) => fetch(`${t.daemon.url}${spec.path}`, { method: spec.method, headers: spec.headers, body: spec.body as string });
  const fake = () => t.daemon.fakes.get('telegram') as TelegramFake;
  const rows = (externalId: string) => t.sql!`select id from messages where external_id = ${externalId}`;
  const inbound = async (userId: string) => {
    let found: any;
    await waitFor(
      async () => {
        const events = await t.events(`${t.prefix}.v1.evt.message.in.telegram.acme-telegram`, { timeoutMs: 500 });
        found = events.find((event) => event.data.contact.identity.externalId === userId)?.data;
        return found !== undefined;
      },
      { timeoutMs: 20_000, intervalMs: 200, description: `message.in from ${userId}` },
    );
    return found;
  };

  beforeAll(async () => {
    t = await startTestDaemon({ accounts: { 'acme-telegram.yaml': YAML } });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('records a text once, also when redelivered with another update_id, and publishes it', async () => {
    const spec = simulateInbound(account, { from: '7100000001', text: 'hello', name: 'Ada Lovelace', timestamp: t.clock.now() });
    const update = JSON.parse(spec.body as string);
    expect((await post(spec)).status).toBe(200);
    expect((await post({ ...spec, body: JSON.stringify({ ...update, update_id: update.update_id + 1 }) })).status).toBe(200);
    const key = `7100000001:${update.message.message_id}`;
    expect(await rows(key)).toHaveLength(1);
    const event = await inbound('7100000001');
    expect(event).toMatchObject({ externalId: key, parts: [{ type: 'text', text: 'hello' }], contact: { displayName: 'Ada Lovelace' } });
  });

  it('refuses a missing or wrong secret with 401 and an unreadable body with 400, recording nothing', async () => {
    const spec = simulateInbound(account, { from: '7100000002', text: 'forged', timestamp: t.clock.now() });
    expect((await post({ ...spec, headers: { 'content-type': 'application/json' } })).status).toBe(401);
    expect((await post({ ...spec, headers: { ...spec.headers, 'x-telegram-bot-api-secret-token': 'wrong-wrong-wrong-wrong' } })).status).toBe(401);
    expect((await post({ ...spec, body: '{"update_id": 1, "message": ' })).status).toBe(400);
    expect(await rows(`7100000002:${JSON.parse(spec.body as string).message.message_id}`)).toHaveLength(0);
  });

  it('fetches an inbound photo through getFile and the file download', async () => {
    const png = new Uint8Array(Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c626001000000ffff03000006000557bfabd40000000049454e44ae426082', 'hex'));
    const stored = fake().putMedia(png, 'image/png');
    expect((await post(simulateInbound(account, { from: '7100000003', text: 'my receipt', media: { id: stored.id, mime: 'image/png' }, timestamp: t.clock.now() }))).status).toBe(200);
    const event = await inbound('7100000003');
    expect(event.parts[0]).toMatchObject({ type: 'image', caption: 'my receipt', media: { status: 'ready', ext: 'png', size: png.length, sha256: stored.sha256 } });
  });

  it("sends an agent's answer to the fake Bot API", async () => {
    const spec = simulateInbound(account, { from: '7100000004', text: 'can you help?', timestamp: t.clock.now() });
    fake().observe(spec);
    expect((await post(spec)).status).toBe(200);
    await inbound('7100000004');
    const response = await fetch(`${t.daemon.url}/v1/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ idempotencyKey: 'tg-answer-1', account: 'acme-telegram', to: { externalId: '7100000004' }, parts: [{ type: 'text', text: 'Of course!' }] }),
    });
    expect(response.status).toBeLessThan(300);
    const sent = await waitFor(() => fake().sentMessages('acme-telegram').find((call) => call.params.text === 'Of course!'), { timeoutMs: 20_000, intervalMs: 100, description: 'sendMessage at the fake' });
    expect(sent).toMatchObject({ method: 'sendMessage', params: { chat_id: 7100000004 } });
  });
});
