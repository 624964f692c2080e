/**
 * The happy path end to end: a send accepted over HTTP, NATS and the command stream reaches the
 * fake Graph API once, and its status moves queued → sent → delivered → read, each published
 * once; a late receipt never moves it back; `message.get` answers with the current status.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { messageGetAnswerSchema, sendAnswerSchema } from '../../src/core/schemas/api.ts';
import { WA } from '../support/daemon.ts';
import { waitFor } from '../support/services.ts';
import { customerWrites, httpGet, httpSend, natsRequest, newCustomer, publishCommand, startOutbound, textCommand, waitForStatus, type OutboundTest } from './helpers.ts';

let o: OutboundTest;
beforeAll(async () => {
  o = await startOutbound();
});
afterAll(async () => {
  await o?.stop();
});

describe('sending, end to end', () => {
  it('accepts over HTTP, sends once, and reports queued → sent → delivered → read', async () => {
    const customer = newCustomer();
    await customerWrites(o, customer);
    const answer = await httpSend(o, textCommand('http-1', customer, 'Hi Kerry'));
    expect(answer.status).toBe(200);
    expect(answer.json).toMatchObject({ ok: true, status: 'queued' });
    expect(sendAnswerSchema.safeParse(answer.json).success).toBe(true);
    const messageId = answer.json.messageId as string;
    await waitForStatus(o, messageId, 'read');
    const sent = o.fake.sent(WA.phoneNumberId).filter((m) => m.customer === customer);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.body).toMatchObject({ type: 'text', text: { body: 'Hi Kerry' } });

    const mine = await o.t.events(`${o.t.prefix}.v1.evt.message.status.whatsapp.acme-wa`, { atLeast: 4, where: (e) => e.data.messageId === messageId });
    expect(mine.map((e) => e.data.status)).toEqual(['queued', 'sent', 'delivered', 'read']);
    expect(mine.every((e) => e.data.idempotencyKey === 'http-1')).toBe(true);
    expect(mine.map((e) => e.msgId)).toEqual(['queued', 'sent', 'delivered', 'read'].map((s) => `${messageId}:status:${s}`));
    expect(mine[1]!.data.externalId).toBe(sent[0]!.wamid);

    const out = await o.t.events(`${o.t.prefix}.v1.evt.message.out.whatsapp.acme-wa`, { where: (e) => e.data.id === messageId });
    expect(out).toHaveLength(1);
    expect(out[0]!.data).toMatchObject({ schema: 'omni.message/v1', direction: 'out', externalId: null, parts: [{ type: 'text', text: 'Hi Kerry' }] });
    expect(out[0]!.data.contact.identity).toEqual({ channel: 'whatsapp', account: WA.account, externalId: customer });

    const got = await httpGet(o, messageId);
    expect(got.status).toBe(200);
    expect(got.json).toMatchObject({ ok: true, message: { id: messageId, direction: 'out', externalId: sent[0]!.wamid }, delivery: { status: 'read' } });
    expect(messageGetAnswerSchema.parse(got.json).message.contact.identity.externalId).toBe(customer);
  });

  it('a late delivered after read changes nothing and publishes nothing', async () => {
    const customer = newCustomer();
    await customerWrites(o, customer);
    const answer = await natsRequest(o, 'send', textCommand('late-1', customer));
    expect(answer).toMatchObject({ ok: true, status: 'queued' });
    await waitForStatus(o, answer.messageId, 'read');
    const [sent] = o.fake.sent(WA.phoneNumberId).filter((m) => m.customer === customer);
    // Meta re-sends receipts; replay the `delivered` webhook after `read`.
    const delivered = o.fake.statuses(WA.phoneNumberId).find((s) => s.wamid === sent!.wamid && s.status === 'delivered')!;
    const replay = await fetch(`${o.t.daemon.url}${delivered.request.path}`, { method: 'POST', headers: delivered.request.headers, body: delivered.request.body as string });
    expect(replay.status).toBe(200);
    const got = await natsRequest(o, 'message.get', { id: answer.messageId });
    expect(got).toMatchObject({ ok: true, delivery: { status: 'read' } });
    await o.t.daemon.relay.drainOnce();
    const statuses = await o.t.events(`${o.t.prefix}.v1.evt.message.status.whatsapp.acme-wa`, { atLeast: 4, where: (e) => e.data.messageId === answer.messageId });
    expect(statuses.map((e) => e.data.status)).toEqual(['queued', 'sent', 'delivered', 'read']);
  });

  it('accepts from the command stream; the outcome arrives as status events with the key', async () => {
    const customer = newCustomer();
    await customerWrites(o, customer);
    await publishCommand(o, { schema: 'omni.send/v1', ...textCommand('cmd-1', customer, 'from the stream') });
    const events = await waitFor(async () => {
      const found = (await o.t.events(`${o.t.prefix}.v1.evt.message.status.whatsapp.acme-wa`)).filter((e) => e.data.idempotencyKey === 'cmd-1');
      return found.some((e) => e.data.status === 'read') ? found : null;
    }, { timeoutMs: 15_000, description: 'command read' });
    expect(events.map((e) => e.data.status)).toEqual(['queued', 'sent', 'delivered', 'read']);
    expect(o.fake.sent(WA.phoneNumberId).filter((m) => m.customer === customer)).toHaveLength(1);
  });

  it('counts requests and platform calls on /metrics', async () => {
    const metrics = await (await fetch(`${o.t.daemon.url}/metrics`)).text();
    expect(metrics).toMatch(/omnibus_send_requests_total\{source="http",result="accepted"\} [1-9]/);
    expect(metrics).toMatch(/omnibus_send_requests_total\{source="command",result="accepted"\} [1-9]/);
    expect(metrics).toMatch(/omnibus_send_calls_total\{channel="whatsapp",account="acme-wa",result="sent"\} [1-9]/);
  });

  it('answers not_found for an unknown message id', async () => {
    const got = await httpGet(o, 'msg_doesnotexist');
    expect(got.status).toBe(404);
    expect(got.json).toMatchObject({ ok: false, error: { code: 'not_found' } });
  });
});
