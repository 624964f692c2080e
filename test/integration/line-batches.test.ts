/**
 * LINE batches through a real daemon (PostgreSQL, NATS, the sandbox fake): the SDK's 28-event
 * fixture re-signed with the test secret, one malformed event dead-lettered while the rest of
 * its batch is recorded, a redelivery recorded once, unfollow and unsend, the console's empty
 * verify request, and a full batch answered 200 with every event recorded.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lineSignature } from '../../src/channels/line/verify.ts';
import { startTestDaemon, type TestDaemon } from '../support/daemon.ts';
import { waitFor } from '../support/services.ts';
import { countBy, duplicates } from '../support/stream.ts';

const SECRET = '8c570fa6dd201bb328f1c1eac23a96d8';
const YAML = ['id: acme-line', 'channel: line', `channelSecret: ${SECRET}`, 'channelAccessToken: test-long-lived-channel-access-token-0123456789'].join('\n') + '\n';
const ALL_TYPES = readFileSync(new URL('../fixtures/line/sdk-python-v3-webhook-all-event-types.json', import.meta.url), 'utf8');

let serial = 0;
/** A text message event from `userId`, as LINE sends it. */
function textEvent(userId: string, text: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  serial++;
  return {
    type: 'message',
    mode: 'active',
    timestamp: 1764000000000 + serial,
    source: { type: 'user', userId },
    webhookEventId: `01JTESTEVENT${String(serial).padStart(14, '0')}`,
    deliveryContext: { isRedelivery: false },
    replyToken: `reply${String(serial).padStart(27, '0')}`,
    message: { id: String(600000000000000 + serial), type: 'text', quoteToken: `q${serial}`, text },
    ...overrides,
  };
}
const user = (n: number) => `U${n.toString(16).padStart(32, '0')}`;

describe('line batches through the daemon', () => {
  let t: TestDaemon;
  const post = (body: string, secret = SECRET) =>
    fetch(`${t.daemon.url}/webhooks/line/acme-line`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-line-signature': lineSignature(secret, body) }, body });
  const batch = (events: unknown[]) => JSON.stringify({ destination: 'U0123456789abcdef0123456789abcdef', events });
  const stream = (filter: string, atLeast = 1) => t.events(`${t.prefix}.v1.evt.${filter}`, { atLeast, timeoutMs: 20_000 });

  beforeAll(async () => {
    t = await startTestDaemon({ accounts: { 'acme-line.yaml': YAML } });
  }, 120_000);
  afterAll(async () => {
    await t?.stop();
  });

  it("the console's verify request (no events) is 200; a wrong signature is 401 and stores nothing", async () => {
    expect((await post(batch([]))).status).toBe(200);
    expect((await post(batch([textEvent(user(1), 'forged')]), 'another-secret-another-secret-00')).status).toBe(401);
    expect(await t.sql!`select 1 from messages`).toHaveLength(0);
  });

  it('the SDK fixture with all 28 event types is answered 200; every message event recorded once, in order', { timeout: 60_000 }, async () => {
    expect((await post(ALL_TYPES)).status).toBe(200);
    const source = JSON.parse(ALL_TYPES).events as any[];
    const rows = await t.sql!`select external_id, conversation_id from messages where account = 'acme-line' and direction = 'in' order by received_at, id`;
    // Message events carry their own ids; postbacks and follows are messages keyed on the event.
    const messageEvents = source.filter((e) => e.type === 'message');
    for (const event of messageEvents) expect(rows.map((r) => r.external_id)).toContain(event.message.id);
    expect(rows.length).toBeGreaterThanOrEqual(messageEvents.length);
    // The fixture's media ids are unknown to the fake: those messages (and the later ones of
    // their conversations) are held until their media settles, retried on the worker's backoff.
    // What is published meanwhile must be unique and in order.
    const inbound = await stream('message.in.line.acme-line', 1);
    expect(inbound.length).toBeGreaterThan(0);
    expect(duplicates(countBy(inbound, (e) => e.msgId))).toEqual([]);
    // Per conversation, stream order follows the batch's order.
    const byConversation = new Map<string, string[]>();
    for (const e of inbound) byConversation.set(e.data.conversationId, [...(byConversation.get(e.data.conversationId) ?? []), e.data.externalId]);
    const rowOrder = new Map<string, string[]>();
    // The outbox's serial ids are the recording order.
    const recorded = await t.sql!`select payload->>'conversationId' as c, payload->>'externalId' as x from outbox where subject like '%message.in.line%' order by id`;
    for (const r of recorded) rowOrder.set(String(r.c), [...(rowOrder.get(String(r.c)) ?? []), String(r.x)]);
    const rowOrderList = [...rowOrder.values()];
    for (const ids of byConversation.values()) expect(rowOrderList.some((order) => order.slice(0, ids.length).join() === ids.join())).toBe(true);
    // Unfollow: the user is unreachable.
    const unfollow = source.find((e) => e.type === 'unfollow');
    await waitFor(async () => (await t.sql!`select 1 from identities where channel = 'line' and external_id = ${unfollow.source.userId} and unreachable_at is not null`).length === 1, {
      timeoutMs: 20_000,
      description: 'unfollowed user unreachable',
    });
    // Nothing of it was refused: the unknown type is ignored, not dead-lettered.
    expect(await t.sql!`select 1 from inbound_dead_letters`).toHaveLength(0);
  });

  it('one malformed event is dead-lettered; the rest of its batch is recorded', { timeout: 60_000 }, async () => {
    const good = [textEvent(user(10), 'first'), textEvent(user(11), 'third')];
    const bad = { ...textEvent(user(12), 'broken'), source: { type: 'user' }, message: { type: 'text', text: 'no id' } };
    expect((await post(batch([good[0], bad, good[1]]))).status).toBe(200);
    for (const event of good) expect(await t.sql!`select 1 from messages where external_id = ${(event.message as any).id}`).toHaveLength(1);
    const dead = await stream('deadletter.in.line.acme-line');
    expect(dead.length).toBeGreaterThanOrEqual(1);
  });

  it('a redelivery (same webhookEventId, isRedelivery) is one event', { timeout: 60_000 }, async () => {
    const event = textEvent(user(20), 'once');
    expect((await post(batch([event]))).status).toBe(200);
    expect((await post(batch([{ ...event, deliveryContext: { isRedelivery: true } }]))).status).toBe(200);
    const id = (event.message as any).id;
    expect(await t.sql!`select 1 from messages where external_id = ${id}`).toHaveLength(1);
    const inbound = await stream('message.in.line.acme-line');
    expect(inbound.filter((e) => e.data.externalId === id)).toHaveLength(1);
  });

  it('unsend: message.deleted and the stored text gone', { timeout: 60_000 }, async () => {
    const event = textEvent(user(30), 'please forget this');
    expect((await post(batch([event]))).status).toBe(200);
    const id = (event.message as any).id;
    serial++;
    const unsend = { type: 'unsend', mode: 'active', timestamp: 1764000000000 + serial, source: { type: 'user', userId: user(30) }, webhookEventId: `01JTESTUNSEND${String(serial).padStart(13, '0')}`, deliveryContext: { isRedelivery: false }, unsend: { messageId: id } };
    expect((await post(batch([unsend]))).status).toBe(200);
    // The SDK fixture above carries an unsend of its own: wait for this one's event.
    let deleted: Awaited<ReturnType<typeof stream>> = [];
    await waitFor(async () => (deleted = await stream('message.deleted.line.acme-line')).some((e) => e.data.externalId === id), {
      timeoutMs: 20_000,
      intervalMs: 200,
      description: 'message.deleted for the unsent message',
    });
    expect(JSON.stringify(deleted)).toContain(id);
    expect(JSON.stringify(deleted)).not.toContain('please forget this');
    const stored = await t.sql!`select parts, raw, edits from messages where external_id = ${id}`;
    expect(stored).toHaveLength(1);
    expect(JSON.stringify(stored)).not.toContain('please forget this');
  });

  it('a full batch (100 events from 100 users) is answered 200 with everything recorded', { timeout: 60_000 }, async () => {
    const events = Array.from({ length: 100 }, (_, i) => textEvent(user(1000 + i), `bulk ${i}`));
    expect((await post(batch(events))).status).toBe(200);
    const ids = events.map((e) => (e.message as any).id);
    expect(await t.sql!`select 1 from messages where external_id in ${t.sql!(ids)}`).toHaveLength(100);
  });
});
