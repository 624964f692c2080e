/**
 * Failures after acceptance: retryable errors back off and succeed; a poison message (always
 * refused) ends `failed` and is dead-lettered while the others flow; retryable errors that
 * never stop end after the bound; a call that may have reached the platform is never repeated;
 * one slow account never holds another back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OmniError } from '../../src/core/errors.ts';
import { WA } from '../support/daemon.ts';
import { waitFor } from '../support/services.ts';
import { checkEventSchemas, customerWrites, httpSend, natsRequest, newCustomer, startOutbound, testCustomerWrites, textCommand, waitForStatus, type OutboundTest } from './helpers.ts';
import { accept, poison, testChannel } from './test-channel.ts';

let o: OutboundTest;
beforeAll(async () => {
  o = await startOutbound({
    testAccounts: { 'tc-a': {}, 'tc-b': {}, 'tc-slow': {} },
    settings: { maxAttempts: 4, sendTimeoutMs: 1_000 },
  });
});
afterAll(async () => {
  await o?.stop();
});

const send = (account: string, key: string, to: string) => httpSend(o, { ...textCommand(key, to, key), account });

describe('failures after acceptance', () => {
  it('retries a 5xx with backoff and sends once it passes', async () => {
    const customer = newCustomer();
    await customerWrites(o, customer);
    o.fake.failNext(2, { status: 500 });
    const answer = await httpSend(o, textCommand('retry-1', customer));
    await waitForStatus(o, answer.json.messageId, 'sent');
    expect(o.fake.sent(WA.phoneNumberId).filter((m) => m.customer === customer)).toHaveLength(1);
  });

  it('a poison message fails and is dead-lettered while the others flow', async () => {
    testChannel.behave('tc-a', (message, signal) => (message.to.externalId === 'poison' ? poison(message, signal) : accept(message, signal)));
    await testCustomerWrites(o, 'tc-a', 'poison');
    const others = ['ok-1', 'ok-2', 'ok-3'];
    for (const who of others) await testCustomerWrites(o, 'tc-a', who);
    const bad = await send('tc-a', 'poison-1', 'poison');
    const good = await Promise.all(others.map((who) => send('tc-a', `fine-${who}`, who)));
    await waitForStatus(o, bad.json.messageId, 'failed');
    for (const answer of good) await waitForStatus(o, answer.json.messageId, 'sent');
    const mine = await o.t.events(`${o.t.prefix}.v1.evt.message.deadletter.testchan.tc-a`, { where: (e) => e.data.raw.messageId === bad.json.messageId });
    expect(mine).toHaveLength(1);
    expect(mine[0]!.data).toMatchObject({ schema: 'omni.deadletter/v1', error: { code: 'channel_rejected', details: { platformCode: 'E_POISON', attempts: 1 } } });
    const failed = await o.t.events(`${o.t.prefix}.v1.evt.message.status.testchan.tc-a`, { atLeast: 2, where: (e) => e.data.messageId === bad.json.messageId });
    expect(failed.map((e) => e.data.status)).toEqual(['queued', 'failed']);
    expect(failed[1]!.data).toMatchObject({ idempotencyKey: 'poison-1', error: { code: 'channel_rejected' } });
    // Permanent: tried exactly once.
    expect(testChannel.calls('tc-a').filter((c) => c.message.to.externalId === 'poison')).toHaveLength(1);
    const got = await natsRequest(o, 'message.get', { id: bad.json.messageId });
    expect(got.delivery).toMatchObject({ status: 'failed', error: { code: 'channel_rejected', details: { platformCode: 'E_POISON' } } });
  });

  it('a retryable failure that never ends is given up after the bound and dead-lettered', async () => {
    testChannel.behave('tc-b', async () => {
      throw new OmniError('channel_unavailable', 'down for maintenance', { details: { platformCode: 503 } });
    });
    await testCustomerWrites(o, 'tc-b', 'someone');
    const answer = await send('tc-b', 'forever-down', 'someone');
    await waitForStatus(o, answer.json.messageId, 'failed', 15_000);
    expect(testChannel.calls('tc-b')).toHaveLength(4);
    const dead = await o.t.events(`${o.t.prefix}.v1.evt.message.deadletter.testchan.tc-b`, { where: (e) => e.data.raw.messageId === answer.json.messageId });
    expect(dead).toHaveLength(1);
    expect(dead[0]!.data.error).toMatchObject({ code: 'channel_unavailable', details: { attempts: 4 } });
    testChannel.behave('tc-b', null);
  });

  it('a call that timed out may have been accepted: failed as ambiguous, never repeated', async () => {
    testChannel.behave('tc-slow', (_message, signal) => new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason))));
    await testCustomerWrites(o, 'tc-slow', 'patient');
    const answer = await send('tc-slow', 'hangs', 'patient');
    await waitForStatus(o, answer.json.messageId, 'failed');
    const [row] = await o.t.sql!`select error from messages where id = ${answer.json.messageId}`;
    expect(row!.error).toMatchObject({ code: 'channel_unavailable', details: { ambiguous: true } });
    expect(testChannel.calls('tc-slow')).toHaveLength(1);
    testChannel.behave('tc-slow', null);
  });

  it('a slow account never holds another back', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    testChannel.behave('tc-slow', async (message, signal) => {
      await gate;
      return accept(message, signal);
    });
    await testCustomerWrites(o, 'tc-slow', 'slowpoke');
    await testCustomerWrites(o, 'tc-a', 'quick');
    const stuck = await send('tc-slow', 'slow-1', 'slowpoke');
    await waitFor(() => testChannel.calls('tc-slow').some((c) => c.message.messageId === stuck.json.messageId) || null);
    const quick = await send('tc-a', 'quick-1', 'quick');
    await waitForStatus(o, quick.json.messageId, 'sent');
    const [row] = await o.t.sql!`select status from messages where id = ${stuck.json.messageId}`;
    expect(row!.status).toBe('queued');
    release();
    await waitForStatus(o, stuck.json.messageId, 'sent');
    testChannel.behave('tc-slow', null);
  });

  it('every event published meanwhile matches its schema (status, dead letter, message)', async () => {
    expect(await checkEventSchemas(o)).toBeGreaterThan(20);
  });
});
