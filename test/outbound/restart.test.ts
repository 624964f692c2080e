/**
 * A restart with commands in flight: the daemon stops while commands wait in the stream and
 * accepted messages wait in the queue; a new daemon on the same database and NATS finishes
 * them. None is lost and none reaches the platform twice. Also: a send found `sending` when a
 * replica takes over (its holder died mid-call) is failed as ambiguous, never repeated.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/core/clock.ts';
import { WA } from '../support/daemon.ts';
import { waitFor } from '../support/services.ts';
import { customerWrites, newCustomer, publishCommand, startOutbound, type OutboundTest } from './helpers.ts';

const running: OutboundTest[] = [];
afterAll(async () => {
  for (const o of running.reverse()) await o.stop().catch(() => undefined);
});

function template(key: string, to: string): Record<string, unknown> {
  // Templates need no window on the fake, so a fresh fake after the restart accepts them too.
  return { schema: 'omni.send/v1', idempotencyKey: key, account: WA.account, to: { externalId: to }, template: { name: 'hello_world', language: 'en_US' } };
}

describe('restart', () => {
  it('loses no command and sends none twice across a restart', async () => {
    const first = await startOutbound({ clock: systemClock, account: { rateLimit: '{ perSecond: 10 }' } });
    running.push(first);
    const customers = Array.from({ length: 8 }, () => newCustomer());
    await Promise.all(customers.map((c) => customerWrites(first, c)));
    const keys: string[] = [];
    for (let round = 0; round < 5; round++) {
      for (const customer of customers) {
        const key = `restart-${customer}-${round}`;
        keys.push(key);
        await publishCommand(first, template(key, customer));
      }
    }
    await waitFor(() => first.fake.sent(WA.phoneNumberId).length >= 8 || null, { timeoutMs: 10_000, description: 'some sent before the stop' });
    const { databaseUrl, prefix, dir } = first.t;
    // Stop the daemon only (its database stays for the second one; afterAll drops it).
    await first.t.daemon.stop();
    // After the stop: sends in flight during the drain still reach the fake (served by the daemon's own HTTP server).
    const sentBefore = first.fake.sent(WA.phoneNumberId).map((m) => m.wamid);
    const [inFlight] = await first.t.sql!`select count(*)::int as jobs, (select count(*)::int from messages where direction = 'out') as accepted from send_jobs`;
    // Something was in flight at the stop: commands not yet accepted, or accepted but not sent.
    expect(inFlight!.jobs + (keys.length - inFlight!.accepted)).toBeGreaterThan(0);
    expect(sentBefore.length).toBeLessThan(keys.length);

    const second = await startOutbound({ clock: systemClock, account: { rateLimit: '{ perSecond: 10 }' }, databaseUrl: databaseUrl!, prefix, dir });
    running.push(second);
    const rows = await waitFor(async () => {
        const found = await second.t.sql!`select idempotency_key, external_id, status from messages where direction = 'out'`;
      return found.length === keys.length && found.every((r) => r.external_id !== null) ? found : null;
    }, { timeoutMs: 30_000, description: 'every command sent' });
    const sentAfter = second.fake.sent(WA.phoneNumberId).map((m) => m.wamid);
    const allSends = [...sentBefore, ...sentAfter];
    expect(allSends).toHaveLength(keys.length);
    expect(new Set(allSends).size).toBe(keys.length);
    expect(new Set(rows.map((r) => r.external_id))).toEqual(new Set(allSends));
    expect(new Set(rows.map((r) => r.idempotency_key))).toEqual(new Set(keys));
    expect(rows.every((r) => r.status !== 'failed')).toBe(true);
  }, 60_000);

  it('a send left `sending` by a dead holder is failed as ambiguous on takeover', async () => {
    const o = await startOutbound({ settings: { leaseTtlMs: 1_000 } });
    running.push(o);
    const customer = newCustomer();
    const { conversationId } = await customerWrites(o, customer);
    // What a replica killed mid-call leaves behind: a message, its job `sending`, the deadline gone.
    const [identity] = await o.t.sql!`select id from identities where external_id = ${customer}`;
    await o.t.sql!`insert into messages (id, direction, channel, account, conversation_id, identity_id, dedupe_key, timestamp, received_at, parts, status, status_at, idempotency_key)
      values ('msg_orphan', 'out', 'whatsapp', 'acme-wa', ${conversationId}, ${identity!.id}, 'out:orphan', now(), now(), '[{"type":"text","text":"x"}]', 'queued', now(), 'orphan')`;
    await o.t.sql!`insert into send_jobs (message_id, channel, account, conversation_id, state, attempts, next_attempt_at, sending_until, holder, created_at)
      values ('msg_orphan', 'whatsapp', 'acme-wa', ${conversationId}, 'sending', 1, now(), now() - interval '1 second', 'dead-replica', now())`;
    await waitFor(async () => (await o.t.sql!`select status from messages where id = 'msg_orphan'`)[0]?.status === 'failed' || null, { timeoutMs: 10_000 });
    const [row] = await o.t.sql!`select error from messages where id = 'msg_orphan'`;
    expect(row!.error).toMatchObject({ code: 'channel_unavailable', details: { ambiguous: true } });
    expect(o.fake.sent(WA.phoneNumberId).filter((m) => m.customer === customer)).toHaveLength(0);
  });
});
