/**
 * Two readiness probes: `/readyz` (database and NATS, for the whole daemon) and
 * `/readyz/webhooks` (the database only), so an operator can keep routing platform webhooks to
 * a replica during a NATS outage: recording needs only the database.
 */
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalNatsServer, type LocalNatsServer } from '../../src/core/nats/local-server.ts';
import { startTestDaemon, type TestDaemon } from '../support/daemon.ts';
import { freePort, tempDir, waitFor } from '../support/services.ts';

async function probe(url: string): Promise<{ status: number; body: { ready: boolean; checks: Record<string, boolean> } }> {
  const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  return { status: response.status, body: (await response.json()) as never };
}

describe('readiness probes', () => {
  let nats: LocalNatsServer | null = null;
  let t: TestDaemon | null = null;

  beforeAll(async () => {
    // A server of our own: stopping the shared one would break every other test file.
    nats = await startLocalNatsServer({ storeDir: await tempDir(), port: await freePort(), logger: pino({ level: 'silent' }) });
    t = await startTestDaemon({ natsUrl: nats.url });
  });
  afterAll(async () => {
    await t?.stop();
    await nats?.stop();
  });

  it('/readyz/webhooks follows the database alone; /readyz also NATS', { timeout: 60_000 }, async () => {
    const base = t!.daemon.url;
    expect(await probe(`${base}/readyz/webhooks`)).toEqual({ status: 200, body: { ready: true, checks: { database: true } } });
    expect((await probe(`${base}/readyz`)).status).toBe(200);

    await t!.nc.close();
    await nats!.stop();
    await waitFor(async () => (await probe(`${base}/readyz`)).status === 503, { timeoutMs: 20_000, intervalMs: 100, description: '/readyz 503 with NATS down' });
    expect(await probe(`${base}/readyz/webhooks`)).toEqual({ status: 200, body: { ready: true, checks: { database: true } } });

    // The database gone: neither probe sends traffic here.
    await t!.daemon.database.close();
    expect(await probe(`${base}/readyz/webhooks`)).toEqual({ status: 503, body: { ready: false, checks: { database: false } } });
    expect((await probe(`${base}/readyz`)).status).toBe(503);
  });
});
