/**
 * Scale-out and redelivery against real PostgreSQL and NATS: two replicas on one database and
 * one stream, each webhook delivered to both at once, still give one row and one event per
 * message; one replica relays at a time and the other takes over when it goes. And the same
 * webhook posted 20 times at once is recorded and published once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestDaemon, type TestDaemon } from '../support/daemon.ts';
import { createTestDatabase, natsUrl, uniquePrefix, waitFor, type TestDatabase } from '../support/services.ts';
import { countBy, duplicates, readStream, waitForOutboxDrained } from '../support/stream.ts';
import { deliver, runPool, testWamid, textWebhookBody, type TextMessage } from '../support/traffic.ts';

describe('two replicas', () => {
  let database: TestDatabase;
  const prefix = uniquePrefix();
  const replicas: TestDaemon[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    const a = await startTestDaemon({ databaseUrl: database.url, prefix });
    replicas.push(a);
    // Same config directory: same database, NATS server and prefix, as two pods of one deployment.
    replicas.push(await startTestDaemon({ databaseUrl: database.url, prefix, dir: a.dir }));
  });
  afterAll(async () => {
    for (const replica of replicas.splice(0)) await replica.stop().catch(() => {});
    await database?.drop();
  });

  it('records and publishes every message once when each webhook hits both replicas at once', { timeout: 120_000 }, async () => {
    const [a, b] = replicas as [TestDaemon, TestDaemon];
    const messages: TextMessage[] = Array.from({ length: 200 }, (_, i) => ({ wamid: testWamid('2R'), from: `8613800${String(i % 10).padStart(6, '0')}`, text: `replica ${i}` }));
    const statuses: Array<number | null> = [];
    await runPool(messages, 8, async (message, i) => {
      const body = textWebhookBody(message);
      const [first, second] = i % 2 === 0 ? [a, b] : [b, a];
      // Meta retrying on a timeout while the first delivery is still running, via the load balancer.
      const answers = await Promise.all([deliver(first.daemon.url, body), deliver(second.daemon.url, body)]);
      statuses.push(...answers.map((answer) => answer.status));
    });
    expect(statuses.filter((s) => s !== 200)).toEqual([]);

    const wamids = new Set(messages.map((m) => m.wamid));
    const rows = await a.sql!<{ external_id: string; n: number }[]>`
      select external_id, count(*)::int as n from messages group by external_id`;
    expect(rows.filter((r) => r.n !== 1)).toEqual([]);
    expect(rows.map((r) => r.external_id).sort()).toEqual([...wamids].sort());

    await waitForOutboxDrained(a.sql!, 30_000);
    const events = await readStream(natsUrl(), prefix, `${prefix}.v1.evt.message.in.>`, { atLeast: 200, timeoutMs: 10_000 });
    expect(duplicates(countBy(events, (e) => e.msgId))).toEqual([]);
    const perWamid = countBy(events, (e) => e.data.externalId);
    expect(duplicates(perWamid)).toEqual([]);
    expect([...perWamid.keys()].sort()).toEqual([...wamids].sort());
    // One contact and one opened session per sender, however many replicas raced on them.
    const created = await readStream(natsUrl(), prefix, `${prefix}.v1.evt.contact.created`, { atLeast: 10, timeoutMs: 5_000 });
    expect(created).toHaveLength(10);
    const opened = await readStream(natsUrl(), prefix, `${prefix}.v1.evt.session.opened.>`, { atLeast: 10, timeoutMs: 5_000 });
    expect(opened).toHaveLength(10);
  });

  it('relays from one replica at a time, and the other takes over when the leader stops', { timeout: 60_000 }, async () => {
    const leaders = () => replicas.filter((r) => r.daemon.relay.isLeader);
    const [leader] = await waitFor(() => (leaders().length === 1 ? leaders() : null), { timeoutMs: 15_000, description: 'exactly one relay leader' });
    const survivor = replicas.find((r) => r !== leader)!;
    expect(survivor.daemon.relay.isLeader).toBe(false);

    await leader!.stop();
    replicas.splice(replicas.indexOf(leader!), 1);
    const message: TextMessage = { wamid: testWamid('2T'), from: '8613800999999', text: 'after the leader left' };
    expect((await deliver(survivor.daemon.url, textWebhookBody(message))).status).toBe(200);
    await waitFor(() => survivor.daemon.relay.isLeader, { timeoutMs: 15_000, intervalMs: 100, description: 'survivor took the relay lease' });
    await waitFor(
      async () => (await readStream(natsUrl(), prefix, `${prefix}.v1.evt.message.in.>`)).some((e) => e.data.externalId === message.wamid),
      { timeoutMs: 15_000, intervalMs: 200, description: 'message published by the survivor' },
    );
  });
});

describe('replayed webhook', () => {
  let t: TestDaemon | null = null;
  beforeAll(async () => {
    t = await startTestDaemon();
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('posted 20 times at once gives one row and one event', async () => {
    const daemon = t!;
    const message: TextMessage = { wamid: testWamid('RP'), from: '2348031234567', text: 'sent once, delivered twenty times' };
    const body = textWebhookBody(message);
    const answers = await Promise.all(Array.from({ length: 20 }, () => deliver(daemon.daemon.url, body)));
    expect(answers.map((a) => a.status)).toEqual(new Array(20).fill(200));

    const rows = await daemon.sql!`select id from messages where external_id = ${message.wamid}`;
    expect(rows).toHaveLength(1);
    await waitForOutboxDrained(daemon.sql!, 15_000);
    const events = await readStream(natsUrl(), daemon.prefix, `${daemon.prefix}.v1.evt.>`, { atLeast: 3, timeoutMs: 10_000 });
    const mine = events.filter((e) => e.data.externalId === message.wamid);
    expect(mine).toHaveLength(1);
    expect(mine[0]!.msgId).toBe(`${rows[0]!.id}:in`);
    // The first message of a new sender also announces the contact and the session, once each.
    expect(events.filter((e) => e.subject.endsWith('.contact.created'))).toHaveLength(1);
    expect(events.filter((e) => e.subject.includes('.session.opened.'))).toHaveLength(1);
  });
});
