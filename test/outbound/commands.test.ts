/**
 * The command stream's own failure path: a command whose acceptance keeps failing for a reason
 * of the moment (here: contact data the daemon cannot read) is redelivered with a delay, then
 * dead-lettered and terminated after the bound, while the commands behind it flow; receipts
 * that arrived before their send was recorded are applied once it is; per-recipient spacing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WA } from '../support/daemon.ts';
import { waitFor } from '../support/services.ts';
import { customerWrites, httpSend, newCustomer, publishCommand, startOutbound, testCustomerWrites, textCommand, waitForStatus, type OutboundTest } from './helpers.ts';
import { testChannel } from './test-channel.ts';

let o: OutboundTest;
beforeAll(async () => {
  o = await startOutbound({
    testAccounts: { 'tc-early': {}, 'tc-spaced': { rateLimit: '{ perSecond: 50, perRecipientPerSecond: 4 }' } },
  });
});
afterAll(async () => {
  await o?.stop();
});

describe('command stream', () => {
  it('dead-letters a command that keeps failing, after the bound, while others flow', async () => {
    // Two contacts merged into each other: a loop no acceptance can resolve.
    await o.t.sql!`insert into contacts (id, merged_into, created_at, updated_at) values ('ct_loop_a', 'ct_loop_b', now(), now()), ('ct_loop_b', 'ct_loop_a', now(), now())`;
    await publishCommand(o, { idempotencyKey: 'loop-1', account: WA.account, to: { contactId: 'ct_loop_a' }, parts: [{ type: 'text', text: 'x' }] });
    const customer = newCustomer();
    await customerWrites(o, customer);
    await publishCommand(o, textCommand('after-loop', customer));
    const dead = await waitFor(async () => {
      const found = (await o.t.events(`${o.t.prefix}.v1.evt.message.deadletter.whatsapp.acme-wa`, { atLeast: 0, timeoutMs: 200 })).filter(
        (e) => e.data.raw?.idempotencyKey === 'loop-1',
      );
      return found.length > 0 ? found : null;
    }, { timeoutMs: 15_000, description: 'dead letter' });
    expect(dead).toHaveLength(1);
    expect(dead[0]!.data).toMatchObject({ schema: 'omni.deadletter/v1', channel: 'whatsapp', account: WA.account, error: { code: 'internal' } });
    const failed = await o.t.events(`${o.t.prefix}.v1.evt.message.status.whatsapp.acme-wa`, { where: (e) => e.data.idempotencyKey === 'loop-1' });
    expect(failed.map((e) => e.data.status)).toEqual(['failed']);
    const [accepted] = await o.t.sql!`select id from messages where idempotency_key = 'after-loop'`;
    expect(accepted).toBeDefined();
    const bus = o.t.daemon.bus!;
    await waitFor(async () => {
      const info = await bus.jsm.consumers.info(bus.streams.commands, 'omnibus-send');
      return info.num_pending === 0 && info.num_ack_pending === 0;
    }, { description: 'stream empty' });
    // Work-queue retention: terminated, so gone from the stream.
    expect((await bus.jsm.streams.info(bus.streams.commands)).state.messages).toBe(0);
  });
});

describe('receipts and spacing', () => {
  it('applies receipts recorded before the send, and matches late ones with the sweep', async () => {
    await testCustomerWrites(o, 'tc-early', 'early-bird');
    // The platform's receipts for "tc-early-1" arrive before its send is recorded.
    await o.t.sql!`insert into status_receipts (channel, account, dedupe_key, external_id, status, at)
      values ('testchan', 'tc-early', 'r1', 'tc-early-1', 'delivered', now()), ('testchan', 'tc-early', 'r2', 'tc-early-1', 'read', now())`;
    testChannel.behave('tc-early', async () => ({ externalId: 'tc-early-1' }));
    const first = await httpSend(o, { ...textCommand('early-1', 'early-bird'), account: 'tc-early' });
    await waitForStatus(o, first.json.messageId, 'read');
    const statuses = await o.t.events(`${o.t.prefix}.v1.evt.message.status.testchan.tc-early`, { atLeast: 4, where: (e) => e.data.messageId === first.json.messageId });
    expect(statuses.map((e) => e.data.status)).toEqual(['queued', 'sent', 'delivered', 'read']);

    // A receipt that raced the recording (committed unmatched just after it): the sweep finds it.
    testChannel.behave('tc-early', async () => ({ externalId: 'tc-early-2' }));
    const second = await httpSend(o, { ...textCommand('early-2', 'early-bird'), account: 'tc-early' });
    await waitForStatus(o, second.json.messageId, 'sent');
    await o.t.sql!`insert into status_receipts (channel, account, dedupe_key, external_id, status, at) values ('testchan', 'tc-early', 'r3', 'tc-early-2', 'delivered', now())`;
    await waitForStatus(o, second.json.messageId, 'delivered');
    testChannel.behave('tc-early', null);
  });

  it('spaces the messages to one recipient by perRecipientPerSecond', async () => {
    await testCustomerWrites(o, 'tc-spaced', 'one-person');
    await testCustomerWrites(o, 'tc-spaced', 'another-person');
    // Accepted together: accepted one by one on a loaded box, each send could already be out
    // before the next was accepted, and "the other did not wait" would prove nothing either way.
    const [other, ...answers] = await Promise.all([
      httpSend(o, { ...textCommand('spaced-other', 'another-person'), account: 'tc-spaced' }),
      ...Array.from({ length: 4 }, (_, i) => httpSend(o, { ...textCommand(`spaced-${i}`, 'one-person'), account: 'tc-spaced' })),
    ]);
    for (const answer of [...answers, other]) await waitForStatus(o, answer.json.messageId, 'sent');
    const calls = testChannel.calls('tc-spaced');
    const toOne = calls.filter((c) => c.message.to.externalId === 'one-person').map((c) => c.at);
    for (let i = 1; i < toOne.length; i++) expect(toOne[i]! - toOne[i - 1]!).toBeGreaterThanOrEqual(245);
    // The other recipient did not wait behind them.
    const toOther = calls.find((c) => c.message.to.externalId === 'another-person')!.at;
    expect(toOther).toBeLessThan(toOne.at(-1)!);
  });
});
