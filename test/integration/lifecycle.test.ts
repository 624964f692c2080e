/**
 * The daemon's lifecycle against real PostgreSQL and NATS: SIGTERM drains and exits 0 within the
 * contract's 10 s (on PGlite too, without resetting a connection), channel files hot-reload (and a bad edit changes nothing), and the embedded
 * PGlite keeps what it recorded across a restart.
 */
import { rename, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import path from 'node:path';
import postgres from 'postgres';
import { sql as dsql } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { rowsOf } from '../../src/core/storage/lease.ts';
import { WA, metaSignature, startTestDaemon, whatsappAccountYaml, type TestDaemon } from '../support/daemon.ts';
import { canConnect } from '../../src/core/nats/ports.ts';
import { createTestDatabase, freePort, natsUrl, uniquePrefix, waitFor, type TestDatabase } from '../support/services.ts';
import { spawnDaemon, writeChildConfig, type ChildDaemon } from '../support/child-daemon.ts';
import { readStream } from '../support/stream.ts';
import { Ledger, deliver, postSignedWhatsApp, testWamid, textWebhookBody } from '../support/traffic.ts';
import { openDatabase } from '../../src/core/storage/db.ts';
import { pino } from 'pino';

describe('SIGTERM', () => {
  let database: TestDatabase;
  let sql: postgres.Sql;
  let child: ChildDaemon | null = null;

  beforeAll(async () => {
    database = await createTestDatabase();
    sql = postgres(database.url, { max: 2, onnotice: () => {} });
  });
  afterAll(async () => {
    await child?.kill();
    await sql?.end({ timeout: 5 });
    await database?.drop();
  });

  it('drains under load and exits 0 within 10 s; every 2xx answered before exit is recorded', { timeout: 90_000 }, async () => {
    const port = await freePort();
    const prefix = uniquePrefix();
    const configDir = await writeChildConfig({ databaseUrl: database.url, natsUrl: natsUrl(), prefix, port });
    const daemon = spawnDaemon(configDir, port);
    child = daemon;
    await daemon.waitReady();

    // Four senders keep posting until the daemon is gone; the signal lands mid-stream.
    const ledger = new Ledger();
    let exited = false;
    void daemon.exited.then(() => (exited = true));
    let signalledAt = 0;
    let ackedAfterSignal = 0;
    const sender = async (lane: number): Promise<void> => {
      for (let i = 0; !exited; i++) {
        const wamid = testWamid(`S${lane}x`);
        const { outcome } = await deliver(daemon.url, textWebhookBody({ wamid, from: `4420790000${lane}`, text: `load ${i}` }), { timeoutMs: 15_000 });
        ledger.record(wamid, outcome);
        if (signalledAt && outcome === 'acked') ackedAfterSignal++;
        // Refused while it shuts down: back off as a platform would rather than spin.
        if (outcome === 'unknown') await new Promise((resolve) => setTimeout(resolve, 50));
      }
    };
    const senders = [0, 1, 2, 3].map(sender);
    await waitFor(() => ledger.acked().size >= 40, { timeoutMs: 30_000, description: '40 webhooks acked before SIGTERM' });

    // One request is mid-upload when the signal lands: draining means it is still answered.
    const slowWamid = testWamid('Sslow');
    const slow = startSlowWebhook(port, textWebhookBody({ wamid: slowWamid, from: '442079000099', text: 'in flight at SIGTERM' }));
    await slow.started;

    signalledAt = Date.now();
    daemon.signal('SIGTERM');
    // The listener closes first; only then is the rest of the body sent.
    await waitFor(async () => !(await canConnect(port)), { timeoutMs: 8_000, intervalMs: 10, description: 'listener closed' });
    const slowStatus = await slow.finish();
    const exit = await daemon.exited;
    const took = Date.now() - signalledAt;
    await Promise.all(senders);

    // Code 0 means it finished draining: the CLI's own 10 s guard exits with 1.
    expect(exit, daemon.output()).toEqual({ code: 0, signal: null });
    expect(took).toBeLessThan(10_000);
    // Draining means no new work: each sender gets at most the answer it was waiting for and
    // one more, which closes its connection. Keep-alive must not keep the daemon taking requests.
    expect(ackedAfterSignal).toBeLessThanOrEqual(3 * 4);
    const acked = [...ledger.acked()];
    const rows = await sql<{ external_id: string }[]>`select external_id from messages where external_id = any(${acked})`;
    const recorded = new Set(rows.map((r) => r.external_id));
    expect(acked.filter((wamid) => !recorded.has(wamid))).toEqual([]);
    expect(rows).toHaveLength(acked.length);
    expect(slowStatus).toBe(200);
    expect(await sql`select 1 from messages where external_id = ${slowWamid}`).toHaveLength(1);
  });
});

describe('SIGTERM on PGlite', () => {
  let child: ChildDaemon | null = null;
  afterAll(async () => {
    await child?.kill();
  });

  it('answers every request in flight and refuses new connections cleanly: no connection is reset', { timeout: 300_000 }, async () => {
    const port = await freePort();
    const configDir = await writeChildConfig({ databaseUrl: null, natsUrl: natsUrl(), prefix: uniquePrefix(), port });
    const daemon = spawnDaemon(configDir, port);
    child = daemon;
    // PGlite's first start (WASM, migrations) is slow on a loaded machine.
    await daemon.waitReady(180_000);

    // Eight keep-alive senders post until the daemon is gone; failures are sorted by how the
    // connection ended: refused (the listener is closed: clean) or anything else (a reset).
    let exited = false;
    void daemon.exited.then(() => (exited = true));
    const acked: string[] = [];
    const resets: string[] = [];
    const answeredAfterSignal: number[] = [];
    let signalled = false;
    let signalledAt = 0;
    const sender = async (lane: number): Promise<void> => {
      for (let i = 0; !exited; i++) {
        const wamid = testWamid(`G${lane}x`);
        try {
          const response = await postSignedWhatsApp(daemon.url, textWebhookBody({ wamid, from: `4420790001${lane}`, text: `load ${i}` }), { signal: AbortSignal.timeout(15_000) });
          await response.arrayBuffer();
          if (response.ok) acked.push(wamid);
          if (signalled) answeredAfterSignal.push(response.status);
        } catch (error) {
          const code = (error as { cause?: { code?: string } }).cause?.code ?? String(error);
          // Named with when it happened, for the failure message.
          if (code !== 'ECONNREFUSED') resets.push(`${code} ${signalled ? `${Date.now() - signalledAt} ms after SIGTERM` : 'before SIGTERM'}`);
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
    };
    const senders = Array.from({ length: 8 }, (_, lane) => sender(lane));
    await waitFor(() => acked.length >= 40, { timeoutMs: 30_000, description: '40 webhooks acked before SIGTERM' });
    signalled = true;
    signalledAt = Date.now();
    daemon.signal('SIGTERM');
    const exit = await daemon.exited;
    await Promise.all(senders);

    expect(exit, daemon.output()).toEqual({ code: 0, signal: null });
    expect(resets).toEqual([]);
    // Whatever was answered during the drain was a real answer: recorded, or a clear refusal.
    expect(answeredAfterSignal.filter((status) => status !== 200 && status !== 503)).toEqual([]);

    // Every 2xx is in the PGlite database the child left behind.
    const database = await openDatabase({ url: null, dataDir: path.join(configDir, 'data'), logger: pino({ level: 'silent' }) });
    try {
      const rows = rowsOf<{ external_id: string }>(await database.db.execute(dsql`select external_id from messages`));
      const recorded = new Set(rows.map((row) => row.external_id));
      expect(acked.filter((wamid) => !recorded.has(wamid))).toEqual([]);
    } finally {
      await database.close();
    }
  });
});

describe('hot reload of channel files', () => {
  let t: TestDaemon | null = null;
  const rotated = 'rotated-app-secret';

  beforeAll(async () => {
    t = await startTestDaemon();
  });
  afterAll(async () => {
    await t?.stop();
  });

  /** Replaces a channel file at once, as editors and config management do (write aside, rename). */
  async function writeChannelFile(name: string, yaml: string): Promise<void> {
    const staged = path.join(t!.dir, `.${name}.staged`);
    await writeFile(staged, yaml);
    await rename(staged, path.join(t!.dir, 'channels', name));
  }

  /** The status of a fresh signed text webhook to `account`. */
  async function post(options: { secret?: string; account?: string; phoneNumberId?: string } = {}): Promise<number | null> {
    const body = textWebhookBody({ wamid: testWamid('R'), from: '819012345678', text: 'reload' }, options.phoneNumberId);
    return (await deliver(t!.daemon.url, body, options)).status;
  }

  /** The value of `omnibus_config_reloads_total{result}` (0 before the first one). */
  async function reloads(result: string): Promise<number> {
    const text = await (await fetch(`${t!.daemon.url}/metrics`)).text();
    const match = new RegExp(`^omnibus_config_reloads_total\\{result="${result}"\\} (\\d+)`, 'm').exec(text);
    return match ? Number(match[1]) : 0;
  }

  it('applies a new appSecret, rejects an invalid edit, and adds and removes an account', { timeout: 60_000 }, async () => {
    expect(await post()).toBe(200);

    await writeChannelFile('acme-wa.yaml', whatsappAccountYaml({ appSecret: rotated }));
    await waitFor(async () => (await post({ secret: rotated })) === 200, { timeoutMs: 15_000, intervalMs: 100, description: 'new secret accepted' });
    expect(await post({ secret: WA.appSecret })).toBe(401);
    expect(await reloads('applied')).toBeGreaterThanOrEqual(1);

    const rejectedBefore = await reloads('rejected');
    await writeChannelFile('acme-wa.yaml', whatsappAccountYaml({ appSecret: 'never-applied', rateLimit: '{ perSecond: -1 }' }));
    await waitFor(async () => (await reloads('rejected')) > rejectedBefore, { timeoutMs: 15_000, intervalMs: 100, description: 'invalid edit rejected' });
    expect(await post({ secret: rotated })).toBe(200);
    expect(await post({ secret: 'never-applied' })).toBe(401);
    expect((await fetch(`${t!.daemon.url}/healthz`)).status).toBe(200);

    // Put a valid file back first: a second account next to a broken file would be rejected with it.
    await writeChannelFile('acme-wa.yaml', whatsappAccountYaml({ appSecret: rotated }));
    const second = { account: 'other-wa', phoneNumberId: '2000000000002', secret: 'other-app-secret' };
    await writeChannelFile(
      'other-wa.yaml',
      whatsappAccountYaml({ id: second.account, phoneNumberId: `"${second.phoneNumberId}"`, appSecret: second.secret }),
    );
    await waitFor(async () => (await post(second)) === 200, { timeoutMs: 15_000, intervalMs: 100, description: 'second account answering' });
    const [{ n }] = (await t!.sql!`select count(*)::int as n from messages where account = ${second.account}`) as unknown as [{ n: number }];
    expect(n).toBeGreaterThanOrEqual(1);
    expect(await post({ secret: rotated })).toBe(200);

    await rm(path.join(t!.dir, 'channels', 'other-wa.yaml'));
    await waitFor(async () => (await post(second)) === 404, { timeoutMs: 15_000, intervalMs: 100, description: 'removed account answering 404' });
    expect(await post({ secret: rotated })).toBe(200);
  });
});

describe('embedded PGlite', () => {
  const started: TestDaemon[] = [];
  afterEach(async () => {
    for (const t of started.splice(0).reverse()) await t.stop();
  });

  it('records, publishes, and still knows the message after a restart on the same dataDir', { timeout: 60_000 }, async () => {
    const first = await startTestDaemon({ pglite: true });
    started.push(first);
    const wamid = testWamid('P');
    const body = textWebhookBody({ wamid, from: '5511987654321', text: 'kept across restarts' });
    expect((await deliver(first.daemon.url, body)).status).toBe(200);
    const published = await first.events(`${first.prefix}.v1.evt.message.in.>`, { timeoutMs: 15_000, where: (e) => e.data.externalId === wamid });
    expect(published).toHaveLength(1);
    await first.stop();
    started.pop();

    const second = await startTestDaemon({ pglite: true, dir: first.dir, prefix: first.prefix });
    started.push(second);
    const db = second.daemon.database.db;
    const count = async (id: string) => rowsOf<{ n: number }>(await db.execute(dsql`select count(*)::int as n from messages where external_id = ${id}`))[0]!.n;
    expect(await count(wamid)).toBe(1);
    // The redelivery is recognised from what PGlite kept on disk.
    expect((await deliver(second.daemon.url, body)).status).toBe(200);
    expect(await count(wamid)).toBe(1);

    // A new message is the barrier: once its event is out, the relay has passed any row the
    // redelivery could have added, so a second event would be visible by now.
    const barrier = testWamid('P');
    expect((await deliver(second.daemon.url, textWebhookBody({ wamid: barrier, from: '5511987654321', text: 'after restart' }))).status).toBe(200);
    await waitFor(
      async () => (await readStream(natsUrl(), second.prefix, `${second.prefix}.v1.evt.message.in.>`)).some((e) => e.data.externalId === barrier),
      { timeoutMs: 15_000, intervalMs: 200, description: 'barrier event published' },
    );
    const events = await readStream(natsUrl(), second.prefix, `${second.prefix}.v1.evt.message.in.>`);
    expect(events.filter((e) => e.data.externalId === wamid)).toHaveLength(1);
    const pending = rowsOf<{ n: number }>(await db.execute(dsql`select count(*)::int as n from outbox_unpublished`))[0]!.n;
    expect(pending).toBe(0);
  });
});

/**
 * A signed webhook POST on its own connection that is in flight until `finish()`: it asks for
 * `100 Continue`, so `started` resolves only once the daemon has parsed the request and is
 * waiting for the body. `finish()` sends the body and resolves with the status (null if cut).
 */
function startSlowWebhook(port: number, body: string): { started: Promise<void>; finish(): Promise<number | null> } {
  const bytes = Buffer.from(body);
  const request = httpRequest({
    host: '127.0.0.1',
    port,
    method: 'POST',
    path: `/webhooks/whatsapp/${WA.account}`,
    agent: false,
    headers: {
      'content-type': 'application/json',
      'content-length': bytes.length,
      'x-hub-signature-256': metaSignature(bytes),
      expect: '100-continue',
    },
  });
  const answered = new Promise<number | null>((resolve) => {
    request.once('response', (response) => {
      response.resume();
      response.once('end', () => resolve(response.statusCode ?? null));
    });
    request.once('error', () => resolve(null));
  });
  const started = new Promise<void>((resolve, reject) => {
    request.once('continue', () => resolve());
    request.once('error', reject);
  });
  request.flushHeaders();
  return {
    started,
    finish() {
      request.end(bytes);
      return answered;
    },
  };
}
