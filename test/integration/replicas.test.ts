/**
 * Scale-out against real PostgreSQL and NATS: one replica relays at a time and the other takes
 * over when it goes. (A webhook hitting both replicas at once, and one posted 20 times, are
 * tested for every channel in every-channel.test.ts.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestDaemon, type TestDaemon } from '../support/daemon.ts';
import { createTestDatabase, natsUrl, uniquePrefix, waitFor, type TestDatabase } from '../support/services.ts';
import { readStream } from '../support/stream.ts';
import { deliver, testWamid, textWebhookBody, type TextMessage } from '../support/traffic.ts';

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
