/**
 * The HTTP baselines: the same `@hono/node-server` stack the daemon runs, minus the daemon.
 * `bare` reads the body and answers 200 (the HTTP floor on this box); `verify` also checks the
 * Meta signature and parses the webhook with the WhatsApp adapter's own functions, so the gap
 * between it and the daemon is the database transaction.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { verifySignature } from '../src/channels/whatsapp/verify.ts';
import { parseWebhook } from '../src/channels/whatsapp/inbound.ts';
import { BENCH_ACCOUNT } from './fixtures.ts';

/** A baseline server listening on 127.0.0.1. */
export interface BaselineServer {
  url: string;
  close(): Promise<void>;
}

/** Starts the baseline app of the given kind on a free port. */
export async function startBaselineServer(kind: 'bare' | 'verify'): Promise<BaselineServer> {
  const app = new Hono();
  app.post('/webhooks/:channel/:account', async (c) => {
    const body = new Uint8Array(await c.req.arrayBuffer());
    if (kind === 'verify') {
      const headers = new Map<string, string>();
      c.req.raw.headers.forEach((value, key) => headers.set(key, value));
      const verified = verifySignature({ method: 'POST', url: new URL(c.req.url), headers, body }, BENCH_ACCOUNT.appSecret);
      parseWebhook(verified.body, { phoneNumberId: BENCH_ACCOUNT.phoneNumberId });
    }
    // The daemon's answer to Meta, byte for byte.
    return c.body('{}', 200, { 'content-type': 'application/json' });
  });
  const server = await new Promise<Server>((resolve, reject) => {
    const started = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(started as Server)) as Server;
    started.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}
