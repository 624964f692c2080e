/**
 * Throttles shared by every replica (two outbound engines on one database): a rate-limit
 * answer for the whole account (Telegram's 429 `retry_after`, which holds the bot token) keeps
 * the replica that takes the account over from sending before the time asked, and the throttled
 * message is sent again once, never twice; a group conversation's `perGroupPerMinute` budget
 * spent on one replica is still spent on the next. The engine reads only the conversation kind
 * and the capability data: the test channel declares the group rate in its channel file.
 * The same rate through a real group conversation (Telegram, `to.conversationId`) is in
 * group-send.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/core/clock.ts';
import { OmniError } from '../../src/core/errors.ts';
import { waitFor } from '../support/services.ts';
import { httpSend, startOutbound, testCustomerWrites, type OutboundTest } from './helpers.ts';
import { accept, testChannel } from './test-channel.ts';

const PAUSED = 'thr-pause';
const GROUPED = 'thr-group';
const ORDERED = 'thr-order';
const PER_GROUP = 3;
const RETRY_AFTER_SECONDS = 4;

const replicas: OutboundTest[] = [];
const accounts = {
  [PAUSED]: { rateLimit: '{ perSecond: 50 }' },
  [GROUPED]: { rateLimit: `{ perSecond: 50, perGroupPerMinute: ${PER_GROUP} }` },
  [ORDERED]: { rateLimit: '{ perSecond: 50, perRecipientPerSecond: 4 }' },
};

beforeAll(async () => {
  const settings = { leaseTtlMs: 1_500 };
  const first = await startOutbound({ clock: systemClock, settings, testAccounts: accounts });
  replicas.push(first);
  const { databaseUrl, prefix } = first.t;
  replicas.push(await startOutbound({ clock: systemClock, settings, testAccounts: accounts, databaseUrl: databaseUrl!, prefix }));
}, 120_000);
afterAll(async () => {
  for (const o of replicas.reverse()) await o.stop().catch(() => undefined);
});

const send = (account: string, key: string, to: string) =>
  httpSend(replicas[0]!, { idempotencyKey: key, account, to: { externalId: to }, parts: [{ type: 'text', text: key }] });
const leaderOf = (account: string) => replicas.find((o) => o.outbound.sender.get(account)?.isLeader);
const keysSent = (account: string) => testChannel.calls(account).map((call) => call.message.idempotencyKey);

describe('throttles shared across replicas', () => {
  it('a rate limit for the whole account holds on the replica that takes over, and the message goes out once more', { timeout: 60_000 }, async () => {
    const o = replicas[0]!;
    const first = '7300000001';
    const second = '7300000002';
    for (const customer of [first, second]) await testCustomerWrites(o, PAUSED, customer);
    let throttledAt = 0;
    // Telegram's 429 as the adapter reports it: rate_limited for the account, retry_after seconds.
    testChannel.behave(PAUSED, async (message, signal) => {
      if (throttledAt === 0 && message.idempotencyKey === 'pause-1') {
        throttledAt = Date.now();
        throw new OmniError('rate_limited', 'Telegram rate limit hit', { details: { scope: 'account', retryAfterSeconds: RETRY_AFTER_SECONDS }, retryAfterSeconds: RETRY_AFTER_SECONDS });
      }
      return accept(message, signal);
    });
    const throttled = await send(PAUSED, 'pause-1', first);
    expect(throttled.status).toBe(200);
    await waitFor(() => throttledAt > 0, { timeoutMs: 15_000, description: 'the throttled call' });
    // The replica that was told to wait stops; the other takes the account over at once.
    const leader = leaderOf(PAUSED)!;
    await leader.outbound.sender.get(PAUSED)!.stop();
    const survivor = replicas.find((r) => r !== leader)!;
    expect((await send(PAUSED, 'pause-2', second)).status).toBe(200);
    await waitFor(() => survivor.outbound.sender.get(PAUSED)?.isLeader, { timeoutMs: 15_000, description: 'take-over' });
    await waitFor(() => keysSent(PAUSED).filter((key) => key === 'pause-2').length === 1 && keysSent(PAUSED).filter((key) => key === 'pause-1').length === 2, {
      timeoutMs: 30_000,
      intervalMs: 100,
      description: 'both sent after the pause',
    });
    const calls = testChannel.calls(PAUSED);
    for (const call of calls.filter((c) => c.at > throttledAt)) expect(call.at - throttledAt).toBeGreaterThanOrEqual(RETRY_AFTER_SECONDS * 1000);
    // Once refused, once accepted: never a third call for the throttled message.
    expect(keysSent(PAUSED).filter((key) => key === 'pause-1')).toHaveLength(2);
    await waitFor(async () => (await o.t.sql!`select status from messages where idempotency_key = 'pause-1'`)[0]?.status === 'sent', { timeoutMs: 10_000, description: 'pause-1 sent' });
    testChannel.behave(PAUSED, null);
  });

  it(`a group conversation gets at most ${PER_GROUP} messages a minute, counted across replicas`, { timeout: 60_000 }, async () => {
    const o = replicas[0]!;
    const member = '7300000010';
    const { conversationId } = await testCustomerWrites(o, GROUPED, member);
    // Another holder keeps the account while the messages are accepted, so none leaves before
    // the conversation is a group (as a group-capable channel records one; the engine reads
    // only the kind).
    await o.t.sql!`insert into leases (name, holder, expires_at) values (${`send:${GROUPED}`}, 'test', now() + interval '1 minute')
      on conflict (name) do update set holder = 'test', expires_at = now() + interval '1 minute'`;
    await waitFor(() => !leaderOf(GROUPED) || null, { timeoutMs: 10_000, description: 'lease handed to the test' });
    const keys = Array.from({ length: PER_GROUP + 1 }, (_, i) => `group-${i}`);
    for (const key of keys) expect((await send(GROUPED, key, member)).status).toBe(200);
    await o.t.sql!`update conversations set kind = 'group' where id = ${conversationId}`;
    expect(keysSent(GROUPED)).toEqual([]);
    await o.t.sql!`delete from leases where name = ${`send:${GROUPED}`} and holder = 'test'`;
    await waitFor(() => keysSent(GROUPED).length >= PER_GROUP, { timeoutMs: 15_000, description: `${PER_GROUP} group sends` });
    const firstAt = testChannel.calls(GROUPED)[0]!.at;
    const last = keys.at(-1)!;
    const deferredUntil = async () => {
      const [row] = await o.t.sql!`select extract(epoch from j.next_attempt_at) * 1000 as at from send_jobs j join messages m on m.id = j.message_id where m.idempotency_key = ${last}`;
      return Number(row?.at ?? 0);
    };
    // The fourth waits for the first to leave the minute.
    await waitFor(async () => (await deferredUntil()) >= firstAt + 59_000, { timeoutMs: 15_000, description: 'fourth deferred to the next minute' });

    // The lease moves; the job is made due at once: the new holder must still see a full minute.
    const leader = leaderOf(GROUPED)!;
    await leader.outbound.sender.get(GROUPED)!.stop();
    const survivor = replicas.find((r) => r !== leader)!;
    await waitFor(() => survivor.outbound.sender.get(GROUPED)?.isLeader, { timeoutMs: 15_000, description: 'take-over' });
    await o.t.sql!`update send_jobs set next_attempt_at = now() where message_id = (select id from messages where idempotency_key = ${last})`;
    survivor.outbound.sender.notify(GROUPED);
    await waitFor(async () => (await deferredUntil()) >= firstAt + 59_000, { timeoutMs: 15_000, description: 'deferred again by the new holder' });
    expect(keysSent(GROUPED)).toEqual(keys.slice(0, PER_GROUP));
  });

  it('one conversation has one call in flight at a time, even when a job commits below one already in hand', { timeout: 60_000 }, async () => {
    const o = replicas[0]!;
    const person = '7300000020';
    await testCustomerWrites(o, ORDERED, person);
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const finished = new Map<string, number>();
    testChannel.behave(ORDERED, async (message, signal) => {
      if (message.idempotencyKey === 'order-late') await held;
      const answer = await accept(message, signal);
      finished.set(message.idempotencyKey, Date.now());
      return answer;
    });
    expect((await send(ORDERED, 'order-late', person)).status).toBe(200);
    await waitFor(() => keysSent(ORDERED).includes('order-late'), { timeoutMs: 15_000, description: 'first send in flight' });
    // Two acceptances racing: the other one's job commits with a lower seq than the one in flight.
    expect((await send(ORDERED, 'order-early', person)).status).toBe(200);
    await o.t.sql!`update send_jobs set seq = seq - 1000000 where message_id = (select id from messages where idempotency_key = 'order-early')`;
    for (const r of replicas) r.outbound.sender.notify(ORDERED);
    // Give a sender every chance to claim it: past the recipient spacing, several dispatch rounds.
    const since = Date.now();
    await waitFor(() => Date.now() - since > 1_000, { timeoutMs: 5_000, intervalMs: 100 });
    expect(keysSent(ORDERED)).toEqual(['order-late']);
    release();
    await waitFor(() => finished.has('order-early'), { timeoutMs: 15_000, description: 'second sent after the first' });
    const early = testChannel.calls(ORDERED).find((call) => call.message.idempotencyKey === 'order-early')!;
    expect(early.at).toBeGreaterThanOrEqual(finished.get('order-late')!);
    testChannel.behave(ORDERED, null);
  });
});
