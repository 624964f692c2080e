/**
 * Sending into a conversation by its id (`to.conversationId`), through a real daemon with the
 * Telegram and LINE sandbox fakes: a Telegram group gets `sendMessage` with the group's
 * `chat_id` and at most `perGroupPerMinute` of them a minute; a LINE group gets its reply
 * token answered into the group, then a push to the group id; a direct conversation's id sends
 * like `to.externalId`; an unknown id or another account is refused at acceptance and never
 * reaches a fake.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jetstream } from '@nats-io/jetstream';
import { simulateInbound, type TelegramFake } from '../../src/channels/telegram/sandbox.ts';
import type { LineFake } from '../../src/channels/line/sandbox.ts';
import type { WebhookRequestSpec } from '../../src/core/adapter.ts';
import { API_TOKEN, startTestDaemon, type TestDaemon } from '../support/daemon.ts';
import { waitFor } from '../support/services.ts';
import { SECRETS as TG, testAccount as telegramAccount } from '../channels/telegram/helpers.ts';
import { SECRETS as LINE } from '../channels/line/helpers.ts';

const PER_GROUP = 2;
const TELEGRAM_YAML =
  ['id: grp-telegram', 'channel: telegram', `botToken: "${TG.botToken}"`, `secretToken: ${TG.secretToken}`, 'mode: webhook', `rateLimit: { perGroupPerMinute: ${PER_GROUP} }`].join('\n') + '\n';
const LINE_YAML = ['id: grp-line', 'channel: line', `channelSecret: ${LINE.channelSecret}`, `channelAccessToken: ${LINE.channelAccessToken}`].join('\n') + '\n';
const telegram = telegramAccount({ id: 'grp-telegram' });
const TG_GROUP = '-1001234567890';
const TG_OTHER_GROUP = '-987654321';
const LINE_GROUP = `C${'4f'.repeat(16)}`;

describe('sending to a conversation by its id', () => {
  let t: TestDaemon;
  const post = (spec: WebhookRequestSpec) => fetch(`${t.daemon.url}${spec.path}`, { method: spec.method, headers: spec.headers, body: spec.body as string });
  const telegramFake = () => t.daemon.fakes.get('telegram') as TelegramFake;
  const lineFake = () => t.daemon.fakes.get('line') as LineFake;
  const send = async (body: Record<string, unknown>) => {
    const response = await fetch(`${t.daemon.url}/v1/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as any };
  };
  const conversationOf = async (account: string, externalId: string): Promise<string> =>
    waitFor(async () => (await t.sql!`select id from conversations where account = ${account} and external_id = ${externalId}`)[0]?.id as string | undefined, {
      timeoutMs: 20_000,
      intervalMs: 100,
      description: `conversation ${externalId}`,
    });
  const telegramWrites = async (from: string, text: string, group?: string) => {
    const spec = simulateInbound(telegram, { from, text, timestamp: t.clock.now(), ...(group !== undefined ? { group } : {}) });
    telegramFake().observe(spec);
    expect((await post(spec)).status).toBe(200);
    return conversationOf('grp-telegram', group ?? from);
  };
  const sentTo = (chatId: number) => telegramFake().sentMessages('grp-telegram').filter((call) => call.params.chat_id === chatId);

  beforeAll(async () => {
    t = await startTestDaemon({ accounts: { 'grp-telegram.yaml': TELEGRAM_YAML, 'grp-line.yaml': LINE_YAML } });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it("sends into a Telegram group with the group's chat_id, at most perGroupPerMinute a minute through the real path", { timeout: 60_000 }, async () => {
    const conversationId = await telegramWrites('7200000001', 'hello group', TG_GROUP);
    expect((await t.sql!`select kind from conversations where id = ${conversationId}`)[0]?.kind).toBe('group');
    const keys = Array.from({ length: PER_GROUP + 1 }, (_, i) => `tg-group-${i}`);
    for (const key of keys) {
      const answer = await send({ idempotencyKey: key, to: { conversationId }, parts: [{ type: 'text', text: key }] });
      expect(answer).toMatchObject({ status: 200, body: { ok: true, status: 'queued' } });
    }
    await waitFor(() => sentTo(Number(TG_GROUP)).length >= PER_GROUP, { timeoutMs: 20_000, intervalMs: 100, description: `${PER_GROUP} sends into the group` });
    expect(sentTo(Number(TG_GROUP))[0]).toMatchObject({ method: 'sendMessage', params: { chat_id: Number(TG_GROUP), text: 'tg-group-0' } });
    const stored = await t.sql!`select m.conversation_id, m.status from messages m where m.idempotency_key = ${keys[0]!}`;
    expect(stored[0]?.conversation_id).toBe(conversationId);
    // The third waits for the first to leave the minute, and never reaches the fake before.
    const last = keys.at(-1)!;
    const firstSentAt = Number((await t.sql!`select extract(epoch from status_at) * 1000 as at from messages where idempotency_key = ${keys[0]!}`)[0]?.at);
    await waitFor(
      async () => {
        const [row] = await t.sql!`select extract(epoch from j.next_attempt_at) * 1000 as at from send_jobs j join messages m on m.id = j.message_id where m.idempotency_key = ${last}`;
        return Number(row?.at ?? 0) >= firstSentAt + 50_000 || null;
      },
      { timeoutMs: 20_000, intervalMs: 200, description: 'third deferred to the next minute' },
    );
    expect(sentTo(Number(TG_GROUP)).map((call) => call.params.text)).toEqual(keys.slice(0, PER_GROUP));
  });

  it('NATS request/reply and the command stream take to.conversationId too', { timeout: 60_000 }, async () => {
    const conversationId = await telegramWrites('7200000004', 'hello small group', TG_OTHER_GROUP);
    const command = (key: string) => ({ idempotencyKey: key, to: { conversationId }, parts: [{ type: 'text', text: key }] });
    const answer = (await t.nc.request(`${t.prefix}.v1.api.send`, JSON.stringify(command('tg-nats-1')), { timeout: 10_000 })).json<any>();
    expect(answer).toMatchObject({ ok: true, status: 'queued' });
    await jetstream(t.nc).publish(`${t.prefix}.v1.cmd.send`, JSON.stringify({ schema: 'omni.send/v1', ...command('tg-cmd-1') }));
    await waitFor(() => sentTo(Number(TG_OTHER_GROUP)).length >= 2 || null, { timeoutMs: 20_000, intervalMs: 100, description: 'both sent into the group' });
    expect(sentTo(Number(TG_OTHER_GROUP)).map((call) => call.params.text).sort()).toEqual(['tg-cmd-1', 'tg-nats-1']);
  });

  it("a direct conversation's id sends like to.externalId", { timeout: 60_000 }, async () => {
    const conversationId = await telegramWrites('7200000002', 'hi there');
    const answer = await send({ idempotencyKey: 'tg-direct-1', account: 'grp-telegram', to: { conversationId }, parts: [{ type: 'text', text: 'direct by id' }] });
    expect(answer.status).toBe(200);
    const sent = await waitFor(() => sentTo(7200000002).find((call) => call.params.text === 'direct by id'), { timeoutMs: 20_000, intervalMs: 100, description: 'direct send' });
    expect(sent).toMatchObject({ method: 'sendMessage', params: { chat_id: 7200000002 } });
    const [byId] = await t.sql!`select conversation_id, identity_id from messages where idempotency_key = 'tg-direct-1'`;
    const viaExternal = await send({ idempotencyKey: 'tg-direct-2', account: 'grp-telegram', to: { externalId: '7200000002' }, parts: [{ type: 'text', text: 'direct by platform id' }] });
    expect(viaExternal.status).toBe(200);
    const [byExternal] = await t.sql!`select conversation_id, identity_id from messages where idempotency_key = 'tg-direct-2'`;
    expect(byId).toEqual(byExternal);
    await waitFor(() => sentTo(7200000002).some((call) => call.params.text === 'direct by platform id'), { timeoutMs: 20_000, intervalMs: 100, description: 'second direct send' });
  });

  it("refuses a direct conversation whose customer is unreachable, as to.externalId does; a group member's state does not block the group", { timeout: 60_000 }, async () => {
    const direct = await telegramWrites('7200000005', 'bye soon');
    const group = await telegramWrites('7200000005', 'also in a group', '-555000111');
    // As the inbound side records a `my_chat_member` kick: the identity is marked unreachable.
    await t.sql!`update identities set unreachable_at = now() where account = 'grp-telegram' and external_id = '7200000005'`;
    const byId = await send({ idempotencyKey: 'tg-gone-1', to: { conversationId: direct }, parts: [{ type: 'text', text: 'x' }] });
    const byExternal = await send({ idempotencyKey: 'tg-gone-2', account: 'grp-telegram', to: { externalId: '7200000005' }, parts: [{ type: 'text', text: 'x' }] });
    expect(byId).toMatchObject({ status: 409, body: { ok: false, error: { code: 'recipient_unreachable' } } });
    expect(byExternal.body.error.code).toBe(byId.body.error.code);
    expect((await send({ idempotencyKey: 'tg-gone-group-1', to: { conversationId: group }, parts: [{ type: 'text', text: 'to the rest of the group' }] })).status).toBe(200);
    await waitFor(() => sentTo(-555000111).some((call) => call.params.text === 'to the rest of the group'), { timeoutMs: 20_000, intervalMs: 100, description: 'group send' });
    expect(sentTo(7200000005)).toHaveLength(0);
  });

  it('refuses an unknown conversation and one of another account at acceptance; neither reaches a fake', { timeout: 60_000 }, async () => {
    const conversationId = await telegramWrites('7200000003', 'anyone?');
    const before = telegramFake().sentMessages('grp-telegram').length;
    const linePushes = lineFake().sentMessages('grp-line').length;
    const unknown = await send({ idempotencyKey: 'tg-unknown-1', to: { conversationId: 'cv_00000000000000000000nope' }, parts: [{ type: 'text', text: 'lost' }] });
    expect(unknown).toMatchObject({ status: 404, body: { ok: false, error: { code: 'unknown_contact' } } });
    const mismatch = await send({ idempotencyKey: 'tg-mismatch-1', account: 'grp-line', to: { conversationId }, parts: [{ type: 'text', text: 'wrong account' }] });
    expect(mismatch).toMatchObject({ status: 400, body: { ok: false, error: { code: 'invalid_request', details: { field: 'account' } } } });
    const malformed = await send({ idempotencyKey: 'tg-malformed-1', to: { conversationId: 'ct_not-a-conversation' }, parts: [{ type: 'text', text: 'x' }] });
    expect(malformed).toMatchObject({ status: 400, body: { error: { code: 'invalid_request' } } });
    expect(await t.sql!`select id from messages where idempotency_key in ('tg-unknown-1', 'tg-mismatch-1', 'tg-malformed-1')`).toHaveLength(0);
    // A later, good send on the account goes out, so nothing refused was merely slow.
    expect((await send({ idempotencyKey: 'tg-after-1', to: { conversationId }, parts: [{ type: 'text', text: 'after the refusals' }] })).status).toBe(200);
    await waitFor(() => sentTo(7200000003).some((call) => call.params.text === 'after the refusals'), { timeoutMs: 20_000, intervalMs: 100, description: 'good send' });
    const texts = telegramFake().sentMessages('grp-telegram').slice(before).map((call) => call.params.text);
    expect(texts).toContain('after the refusals');
    for (const refused of ['lost', 'wrong account', 'x']) expect(texts).not.toContain(refused);
    expect(lineFake().sentMessages('grp-line')).toHaveLength(linePushes);
  });

  it("answers a LINE group with the group message's reply token, then pushes to the group id", { timeout: 60_000 }, async () => {
    await lineFake().deliver('grp-line', { from: 'Ugroupmember01', text: 'hi from the group', group: LINE_GROUP });
    const conversationId = await conversationOf('grp-line', `group:${LINE_GROUP}`);
    expect((await t.sql!`select kind from conversations where id = ${conversationId}`)[0]?.kind).toBe('group');
    const toGroup = () => lineFake().sentMessages('grp-line').filter((sent) => sent.to === LINE_GROUP);
    expect((await send({ idempotencyKey: 'line-group-1', account: 'grp-line', to: { conversationId }, parts: [{ type: 'text', text: 'first answer' }] })).status).toBe(200);
    await waitFor(() => toGroup().length >= 1 || null, { timeoutMs: 20_000, intervalMs: 100, description: 'reply into the group' });
    expect((await send({ idempotencyKey: 'line-group-2', to: { conversationId }, parts: [{ type: 'text', text: 'second answer' }] })).status).toBe(200);
    await waitFor(() => toGroup().length >= 2 || null, { timeoutMs: 20_000, intervalMs: 100, description: 'push into the group' });
    expect(toGroup().map((sent) => [sent.route, sent.messages])).toEqual([
      ['reply', [{ type: 'text', text: 'first answer' }]],
      ['push', [{ type: 'text', text: 'second answer' }]],
    ]);
    // Nothing went to the member's own chat.
    expect(lineFake().sentMessages('grp-line').filter((sent) => sent.to === 'Ugroupmember01')).toHaveLength(0);
  });
});
