/**
 * The same idempotencyKey never sends twice: 20 concurrent duplicates spread over HTTP, NATS
 * and the command stream end as one row, one platform send and one answer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WA } from '../support/daemon.ts';
import { waitFor } from '../support/services.ts';
import { checkEventSchemas, customerWrites, httpSend, natsRequest, newCustomer, publishCommand, startOutbound, textCommand, waitForStatus, type OutboundTest } from './helpers.ts';

let o: OutboundTest;
beforeAll(async () => {
  o = await startOutbound();
});
afterAll(async () => {
  await o?.stop();
});

describe('idempotency', () => {
  it('20 concurrent duplicates over HTTP and NATS: one row, one send, the same answer', async () => {
    const customer = newCustomer();
    await customerWrites(o, customer);
    const command = textCommand('dup-20', customer, 'only once');
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? httpSend(o, command).then((a) => a.json) : natsRequest(o, 'send', command))),
    );
    expect(answers.every((a) => a.ok === true)).toBe(true);
    expect(new Set(answers.map((a) => a.messageId)).size).toBe(1);
    const messageId = answers[0].messageId as string;
    await waitForStatus(o, messageId, 'read');
    const rows = await o.t.sql!`select id from messages where idempotency_key = 'dup-20'`;
    expect(rows).toHaveLength(1);
    expect(o.fake.sent(WA.phoneNumberId).filter((m) => m.customer === customer)).toHaveLength(1);
    // The command stream sees the same first answer: nothing new is accepted or sent.
    await publishCommand(o, command);
    await publishCommand(o, command);
    await waitFor(async () => (await o.t.daemon.bus!.jsm.consumers.info(o.t.daemon.bus!.streams.commands, 'omnibus-send')).num_pending === 0 || null);
    await waitFor(async () => (await o.t.daemon.bus!.jsm.consumers.info(o.t.daemon.bus!.streams.commands, 'omnibus-send')).num_ack_pending === 0 || null);
    expect(await o.t.sql!`select id from messages where idempotency_key = 'dup-20'`).toHaveLength(1);
    expect(o.fake.sent(WA.phoneNumberId).filter((m) => m.customer === customer)).toHaveLength(1);
    // A later repeat answers the message with its current status.
    expect(await natsRequest(o, 'send', command)).toEqual({ ok: true, messageId, status: 'read' });
  });

  it('duplicates on the command stream alone: accepted once, its events once', async () => {
    const customer = newCustomer();
    await customerWrites(o, customer);
    const command = textCommand('dup-cmd', customer);
    await Promise.all(Array.from({ length: 10 }, () => publishCommand(o, command)));
    const [row] = await waitFor(async () => {
      const found = await o.t.sql!`select id, status from messages where idempotency_key = 'dup-cmd'`;
      return found[0]?.status === 'read' ? found : null;
    }, { timeoutMs: 15_000 });
    expect(await o.t.sql!`select id from messages where idempotency_key = 'dup-cmd'`).toHaveLength(1);
    expect(o.fake.sent(WA.phoneNumberId).filter((m) => m.customer === customer)).toHaveLength(1);
    const queued = await o.t.events(`${o.t.prefix}.v1.evt.message.status.whatsapp.acme-wa`, { atLeast: 4, where: (e) => e.data.idempotencyKey === 'dup-cmd' });
    expect(queued.map((e) => e.data.status)).toEqual(['queued', 'sent', 'delivered', 'read']);
    expect(queued.every((e) => e.data.messageId === row!.id)).toBe(true);
  });

  it('a refused command publishes failed with its key, once, and is acked', async () => {
    await publishCommand(o, textCommand('cmd-refused', '4900000000999'));
    await publishCommand(o, textCommand('cmd-refused', '4900000000999'));
    await publishCommand(o, '{"not":"a command"');
    const failed = await waitFor(async () => {
      const found = (await o.t.events(`${o.t.prefix}.v1.evt.message.status.>`)).filter((e) => e.data.status === 'failed' && e.data.messageId === null);
      return found.length >= 2 ? found : null;
    }, { timeoutMs: 15_000 });
    const refused = failed.filter((e) => e.data.idempotencyKey === 'cmd-refused');
    expect(refused).toHaveLength(1);
    expect(refused[0]!.subject).toBe(`${o.t.prefix}.v1.evt.message.status.whatsapp.acme-wa`);
    expect(refused[0]!.data.error.code).toBe('unknown_contact');
    const garbage = failed.filter((e) => e.data.idempotencyKey === null);
    expect(garbage).toHaveLength(1);
    expect(garbage[0]!.data.error.code).toBe('invalid_request');
    expect(garbage[0]!.subject).toBe(`${o.t.prefix}.v1.evt.message.status.unknown.unknown`);
  });

  it('every event published meanwhile matches its schema, refusals included', async () => {
    expect(await checkEventSchemas(o)).toBeGreaterThan(10);
  });
});
