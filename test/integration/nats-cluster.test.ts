/**
 * Scale-out on a real NATS cluster: three nats-server nodes with JetStream, streams and the
 * command consumer at `nats.replicas: 3`, two daemon processes on one PostgreSQL, and the fake
 * Graph API in this test process (so every send of either daemon is counted in one place).
 * During a burst of signed webhooks and durable send commands, the leader node of the events
 * stream and one daemon are SIGKILLed. Afterwards: no acknowledged webhook lost, no event twice
 * on the stream, no message sent twice.
 */
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import postgres from 'postgres';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFake, type WhatsAppFake } from '../../src/channels/whatsapp/sandbox.ts';
import type { WhatsAppSettings } from '../../src/channels/whatsapp/config.ts';
import { systemClock } from '../../src/core/clock.ts';
import type { AccountConfig } from '../../src/core/config/types.ts';
import { streams } from '../../src/core/schemas/subjects.ts';
import { openBus } from '../../src/core/nats/bus.ts';
import { createNatsMediaStore } from '../../src/core/media/nats-store.ts';
import { spawnDaemon, writeChildConfig, type ChildDaemon } from '../support/child-daemon.ts';
import { WA, readEvents, whatsappAccountYaml } from '../support/daemon.ts';
import { startNatsCluster, type NatsCluster } from '../support/nats-cluster.ts';
import { createTestDatabase, freePort, tempDir, uniquePrefix, waitFor, type TestDatabase } from '../support/services.ts';
import { countBy, duplicates, waitForOutboxDrained } from '../support/stream.ts';
import { Ledger, deliver, deliverUntilAcked, runPool, testWamid, textWebhookBody, type TextMessage } from '../support/traffic.ts';

const CUSTOMERS = Array.from({ length: 6 }, (_, i) => `4478000000${i}`);
const WEBHOOKS = 120;
const COMMANDS = 40;

/** The test account as the fake serves it: same secrets as the daemons' channel file. */
const fakeAccount: AccountConfig<WhatsAppSettings> = {
  id: WA.account,
  channel: 'whatsapp',
  enabled: true,
  apiBase: null,
  session: { windowMs: 24 * 3_600_000, window: '24h', expiringNoticeMs: 3_600_000 },
  attachments: { allow: ['jpg', 'png', 'pdf'], maxBytes: null },
  rateLimit: { perSecond: 80, perRecipientPerSecond: null },
  settings: { phoneNumberId: WA.phoneNumberId, accessToken: WA.accessToken, appSecret: WA.appSecret, verifyToken: WA.verifyToken, apiVersion: 'v23.0' },
};

/** Publishes until the stream acknowledges; a retry carries the same msgID, so it is stored once. */
async function publishUntilAcked(nc: NatsConnection, subject: string, body: string, msgID: string): Promise<void> {
  const js = jetstream(nc, { timeout: 5_000 });
  for (let attempt = 1; ; attempt++) {
    try {
      await js.publish(subject, body, { msgID });
      return;
    } catch (error) {
      if (attempt >= 60) throw error;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

describe('two daemons on a 3-node NATS cluster (nats.replicas: 3)', () => {
  let cluster: NatsCluster;
  let database: TestDatabase;
  let sql: postgres.Sql;
  let fake: WhatsAppFake;
  let graph: ServerType;
  let nc: NatsConnection;
  const daemons: ChildDaemon[] = [];
  const prefix = uniquePrefix();

  beforeAll(async () => {
    cluster = await startNatsCluster();
    database = await createTestDatabase();
    sql = postgres(database.url, { max: 2, onnotice: () => {} });
    // Receipts off: the burst is about sends, and status webhooks would only add load.
    fake = createFake({ accounts: [fakeAccount], clock: systemClock, messages: { receipts: [] } });
    graph = await new Promise<ServerType>((resolve) => {
      const server = serve({ fetch: fake.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(server));
    });
    const apiBase = `http://127.0.0.1:${(graph.address() as AddressInfo).port}`;
    for (let i = 0; i < 2; i++) {
      const port = await freePort();
      const configDir = await writeChildConfig({
        databaseUrl: database.url,
        natsUrl: cluster.servers,
        natsReplicas: 3,
        prefix,
        port,
        accounts: { 'acme-wa.yaml': whatsappAccountYaml({ apiBase: `"${apiBase}"` }) },
      });
      daemons.push(spawnDaemon(configDir, port));
    }
    await Promise.all(daemons.map((daemon) => daemon.waitReady(90_000)));
    nc = await connect({ servers: cluster.servers.split(',') });
  }, 180_000);
  afterAll(async () => {
    await Promise.allSettled(daemons.map((daemon) => daemon.kill()));
    await nc?.close();
    await new Promise<void>((resolve) => (graph ? graph.close(() => resolve()) : resolve()));
    await sql?.end({ timeout: 5 });
    await database?.drop();
    await cluster?.stop();
  });

  it('raises streams and the media bucket to nats.replicas, and never lowers them', async () => {
    const other = uniquePrefix();
    const logger = pino({ level: 'silent' });
    const names = streams(other);
    const jsm = await jetstreamManager(nc);
    const replicasOf = async (stream: string) => (await jsm.streams.info(stream)).config.num_replicas;

    const single = await openBus({ servers: cluster.servers, prefix: other, logger, replicas: 1 });
    await single.close();
    expect(await replicasOf(names.events)).toBe(1);
    const triple = await openBus({ servers: cluster.servers, prefix: other, logger, replicas: 3 });
    expect([await replicasOf(names.events), await replicasOf(names.commands)]).toEqual([3, 3]);
    await triple.close();
    // A config still at the default does not undo a stream scaled up, by omnibus or by hand.
    const again = await openBus({ servers: cluster.servers, prefix: other, logger, replicas: 1 });
    expect(await replicasOf(names.events)).toBe(3);

    const bucket = `${other.toUpperCase()}_MEDIA`;
    const staging = await tempDir();
    await createNatsMediaStore({ connection: () => again.nc, bucket, stagingDir: staging, replicas: 1 }).exists('0'.repeat(64));
    expect(await replicasOf(`OBJ_${bucket}`)).toBe(1);
    await createNatsMediaStore({ connection: () => again.nc, bucket, stagingDir: staging, replicas: 3 }).exists('0'.repeat(64));
    expect(await replicasOf(`OBJ_${bucket}`)).toBe(3);
    await again.close();
    for (const stream of [names.events, names.commands, `OBJ_${bucket}`]) await jsm.streams.delete(stream);
  });

  it('loses no acked webhook, duplicates no event and sends nothing twice when a node and a daemon die', { timeout: 300_000 }, async () => {
    const [a, b] = daemons as [ChildDaemon, ChildDaemon];
    const names = streams(prefix);
    const jsm = await jetstreamManager(nc);
    for (const stream of [names.events, names.commands]) {
      expect((await jsm.streams.info(stream)).config.num_replicas, stream).toBe(3);
    }

    // Every customer writes first: the daemons know them and their window is open on both sides.
    const opening: TextMessage[] = CUSTOMERS.map((from) => ({ wamid: testWamid('CO'), from, text: 'hello' }));
    for (const message of opening) expect((await deliver(a.url, textWebhookBody(message))).status).toBe(200);
    for (const customer of CUSTOMERS) fake.noteInbound(WA.phoneNumberId, customer);
    await waitFor(async () => {
      const [row] = await sql<{ n: number }[]>`select count(*)::int as n from identities where external_id = any(${CUSTOMERS})`;
      return row!.n === CUSTOMERS.length;
    }, { timeoutMs: 30_000, description: 'customers recorded' });

    const inbound: TextMessage[] = Array.from({ length: WEBHOOKS }, (_, i) => ({ wamid: testWamid('CL'), from: CUSTOMERS[i % CUSTOMERS.length]!, text: `burst ${i}` }));
    const bodies = new Map([...opening, ...inbound].map((m) => [m.wamid, textWebhookBody(m)]));
    const keys = Array.from({ length: COMMANDS }, (_, i) => `cluster-${prefix}-${i}`);
    const ledger = new Ledger();
    const leader = (await jsm.streams.info(names.events)).cluster?.leader;
    const victim = Math.max(0, cluster.nodes.findIndex((node) => node.name === leader));

    let settled = 0;
    let crashed: Promise<void> | null = null;
    const webhooks = runPool(inbound, 4, async ({ wamid }, i) => {
      const target = i % 2 === 0 ? a : b;
      ledger.record(wamid, (await deliver(target.url, bodies.get(wamid)!, { timeoutMs: 15_000 })).outcome);
      // A third of the way in, with requests and publishes in flight on both daemons.
      if (++settled === Math.floor(WEBHOOKS / 3)) {
        b.signal('SIGKILL');
        crashed = cluster.kill(victim);
      }
    });
    // Spread over the webhooks, so commands are published before, during and after the kills.
    const commands = runPool(keys, 2, async (key, i) => {
      await waitFor(() => settled >= i * 2, { timeoutMs: 120_000, intervalMs: 20, description: `webhook ${i * 2} settled` });
      const command = { idempotencyKey: key, account: WA.account, to: { externalId: CUSTOMERS[i % CUSTOMERS.length] }, parts: [{ type: 'text', text: `send ${key}` }] };
      await publishUntilAcked(nc, `${prefix}.v1.cmd.send`, JSON.stringify(command), key);
    });
    await Promise.all([webhooks, commands]);
    await crashed;
    expect(await b.exited).toMatchObject({ signal: 'SIGKILL' });
    expect(cluster.nodes[victim]!.server).toBeNull();

    // A 2xx was a commit, whichever daemon gave it and whatever died after.
    const acked = ledger.acked();
    const rowsAfter = await sql<{ external_id: string; n: number }[]>`
      select external_id, count(*)::int as n from messages where external_id = any(${[...acked]}) group by external_id`;
    expect(rowsAfter.filter((r) => r.n !== 1)).toEqual([]);
    expect(rowsAfter).toHaveLength(acked.size);

    // The platform retries the rest (and whatever got no answer) through the survivor.
    const unknown = [...ledger.attempts].filter(([, outcomes]) => outcomes.includes('unknown')).map(([wamid]) => wamid);
    const again = [...new Set([...ledger.notAcked(), ...unknown])];
    await deliverUntilAcked(a.url, again.map((wamid) => ({ wamid, body: bodies.get(wamid)! })), ledger);
    expect(ledger.notAcked()).toEqual([]);
    await waitForOutboxDrained(sql, 120_000);

    // Each inbound message once in PostgreSQL and once on the stream; no event id twice.
    const rows = await sql<{ external_id: string; n: number }[]>`
      select external_id, count(*)::int as n from messages where direction = 'in' group by external_id`;
    expect(rows.filter((r) => r.n !== 1)).toEqual([]);
    expect(rows.map((r) => r.external_id).sort()).toEqual([...bodies.keys()].sort());
    // The reader's own consumer may time out while the cluster still counts the dead node: retried.
    const all = await waitFor(() => readEvents(nc, names.events, `${prefix}.v1.evt.>`, 1, 30_000), {
      timeoutMs: 120_000,
      intervalMs: 1_000,
      description: 'events read back from the cluster',
    });
    expect(all.filter((e) => e.msgId === null)).toEqual([]);
    expect(duplicates(countBy(all, (e) => e.msgId))).toEqual([]);
    const messagesIn = all.filter((e) => e.subject.startsWith(`${prefix}.v1.evt.message.in.`));
    const perWamid = countBy(messagesIn, (e) => e.data.externalId);
    expect(duplicates(perWamid)).toEqual([]);
    expect([...perWamid.keys()].sort()).toEqual([...bodies.keys()].sort());

    // Every command accepted once; every send settled (sent, or failed as ambiguous when its
    // daemon died mid-call: never retried), and the platform saw each text at most once.
    await waitFor(async () => {
      const [row] = await sql<{ accepted: number; open: number }[]>`
        select (select count(distinct idempotency_key)::int from messages where idempotency_key = any(${keys})) as accepted,
               (select count(*)::int from send_jobs) as open`;
      return row!.accepted === COMMANDS && row!.open === 0;
    }, { timeoutMs: 180_000, intervalMs: 500, description: 'every command accepted and its send settled' });
    const perKey = await sql<{ idempotency_key: string; n: number }[]>`
      select idempotency_key, count(*)::int as n from messages where idempotency_key = any(${keys}) group by idempotency_key`;
    expect(perKey.filter((r) => r.n !== 1)).toEqual([]);
    const sends = countBy(
      fake.sent(WA.phoneNumberId).map((entry) => ({ subject: '', msgId: null, data: entry.body })),
      (e) => (e.data as { text?: { body?: string } }).text?.body ?? null,
    );
    expect(duplicates(sends)).toEqual([]);
    const statuses = new Map(
      (await sql<{ idempotency_key: string; status: string }[]>`
        select idempotency_key, status from messages where idempotency_key = any(${keys})`).map((r) => [r.idempotency_key, r.status]),
    );
    // What the platform never got can only be a send its daemon died in the middle of, which
    // is settled failed (ambiguous) rather than tried again.
    const unsent = keys.filter((key) => !sends.has(`send ${key}`));
    expect(unsent.filter((key) => statuses.get(key) !== 'failed')).toEqual([]);
    expect(unsent.length).toBeLessThan(COMMANDS / 2);
    // The survivor kept running through all of it, and still answers.
    expect(a.running(), a.output()).toBe(true);
    expect((await fetch(`${a.url}/readyz`)).status).toBe(200);
  });
});
