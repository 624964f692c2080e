/**
 * Session windows with a ManualClock (no sleeping): `expiring` and `expired` published exactly
 * once per window with two daemons ticking at once, caught up by a daemon that starts after
 * they came due; a free-form send refused once the window ended while a template still goes;
 * `session.get` answers the window with its state at the clock's now.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.ts';
import { WA } from '../support/daemon.ts';
import { waitFor } from '../support/services.ts';
import { checkEventSchemas, customerWrites, httpSend, natsRequest, newCustomer, startOutbound, textCommand, waitForStatus, type OutboundTest } from './helpers.ts';

const HOUR = 3_600_000;
const clock = new ManualClock(Date.now());
let a: OutboundTest;
let b: OutboundTest;

beforeAll(async () => {
  a = await startOutbound({ clock });
  b = await startOutbound({ clock, databaseUrl: a.t.databaseUrl!, prefix: a.t.prefix, dir: a.t.dir });
});
afterAll(async () => {
  await b?.stop();
  await a?.stop();
});

async function sessionEvents(state: string, conversationId: string) {
  await a.t.daemon.relay.drainOnce();
  await b.t.daemon.relay.drainOnce();
  return (await a.t.events(`${a.t.prefix}.v1.evt.session.${state}.whatsapp.acme-wa`, { atLeast: 0, timeoutMs: 500 })).filter((e) => e.data.conversationId === conversationId);
}

const tickBoth = () => Promise.all([a.outbound.sessions.tick(), b.outbound.sessions.tick(), a.outbound.sessions.tick(), b.outbound.sessions.tick()]);

describe('session lifecycle', () => {
  it('expiring and expired exactly once with two daemons; send refused after expiry, template accepted', async () => {
    const customer = newCustomer();
    const opened = clock.now();
    const { conversationId, contactId } = await customerWrites(a, customer);
    await tickBoth();
    expect(await sessionEvents('expiring', conversationId)).toHaveLength(0);
    expect((await natsRequest(a, 'session.get', { conversationId })).session).toMatchObject({ state: 'opened', window: '24h' });

    clock.advance(23 * HOUR + 60_000);
    await tickBoth();
    await tickBoth();
    const expiring = await sessionEvents('expiring', conversationId);
    expect(expiring).toHaveLength(1);
    expect(expiring[0]!.data).toMatchObject({ schema: 'omni.session/v1', state: 'expiring', contactId, window: '24h' });
    const windowExpiry = new Date(expiring[0]!.data.expiresAt).getTime();
    expect(windowExpiry - Math.floor(opened.getTime() / 1000) * 1000).toBe(24 * HOUR);
    expect(expiring[0]!.msgId).toMatch(new RegExp(`:expiring:${windowExpiry}$`));
    expect((await natsRequest(b, 'session.get', { conversationId })).session.state).toBe('expiring');
    // Still open: a free-form send goes.
    expect((await httpSend(a, textCommand('s-open', customer))).json.ok).toBe(true);

    clock.advance(HOUR);
    const refused = await httpSend(b, textCommand('s-closed', customer));
    expect(refused.json.error).toMatchObject({ code: 'session_expired', details: { expiredAt: new Date(windowExpiry).toISOString(), allowed: ['template'] } });
    const template = await httpSend(b, { idempotencyKey: 's-template', account: WA.account, to: { externalId: customer }, template: { name: 'hello_world', language: 'en_US' } });
    expect(template.json.ok).toBe(true);
    await waitForStatus(a, template.json.messageId, 'sent');
    expect(a.fake.sent(WA.phoneNumberId).concat(b.fake.sent(WA.phoneNumberId)).filter((m) => m.customer === customer).map((m) => m.type)).toEqual(['text', 'template']);

    await tickBoth();
    await tickBoth();
    const expired = await sessionEvents('expired', conversationId);
    expect(expired).toHaveLength(1);
    expect(expired[0]!.data).toMatchObject({ state: 'expired', expiresAt: new Date(windowExpiry).toISOString() });
    expect(await sessionEvents('expiring', conversationId)).toHaveLength(1);
    expect((await natsRequest(a, 'session.get', { conversationId })).session.state).toBe('expired');

    // The customer writes again: a new window, announced anew when it ends.
    await customerWrites(a, customer, 'back');
    clock.advance(25 * HOUR);
    await tickBoth();
    expect(await sessionEvents('expiring', conversationId)).toHaveLength(2);
    expect(await sessionEvents('expired', conversationId)).toHaveLength(2);
  });

  it('a daemon starting after events came due catches up, in order, once', async () => {
    const customer = newCustomer();
    const { conversationId } = await customerWrites(a, customer);
    clock.advance(25 * HOUR);
    // Nobody ticked: a third replica starts and catches up on its own.
    const c = await startOutbound({ clock, databaseUrl: a.t.databaseUrl!, prefix: a.t.prefix, dir: a.t.dir });
    try {
      await waitFor(async () => (await c.t.sql!`select 1 from session_windows where conversation_id = ${conversationId} and expired_notified_at is not null`).length > 0 || null);
      await c.t.daemon.relay.drainOnce();
      await tickBoth();
      const expiring = await sessionEvents('expiring', conversationId);
      const expired = await sessionEvents('expired', conversationId);
      expect(expiring).toHaveLength(1);
      expect(expired).toHaveLength(1);
      const all = await a.t.events(`${a.t.prefix}.v1.evt.session.>`);
      const order = all.filter((e) => e.data.conversationId === conversationId).map((e) => e.data.state);
      expect(order).toEqual(['opened', 'expiring', 'expired']);
    } finally {
      await c.stop();
    }
  });

  it('session.get: null for a conversation without a window, not_found for an unknown one', async () => {
    expect(await natsRequest(a, 'session.get', { conversationId: 'cv_unknown' })).toMatchObject({ ok: false, error: { code: 'not_found' } });
    const [row] = await a.t.sql!`insert into conversations (id, channel, account, external_id, kind, created_at, last_message_at)
      values ('cv_nowindow', 'whatsapp', 'acme-wa', 'group-1', 'group', now(), now()) returning id`;
    expect(await natsRequest(a, 'session.get', { conversationId: row!.id })).toEqual({ ok: true, session: null });
  });

  it('every event published meanwhile matches its schema', async () => {
    expect(await checkEventSchemas(a)).toBeGreaterThan(10);
  });
});
