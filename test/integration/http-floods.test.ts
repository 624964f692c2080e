/**
 * Slow clients and floods against a real daemon with small limits, so the mechanisms show at
 * test scale: trickled headers and bodies are cut near their timeouts, an idle-socket flood
 * past `http.maxConnections` cannot lock a webhook out, a `/v1` body past
 * `api.bodyLimitBytes` is refused while streaming, and API work over the shared limiter's
 * bound is answered `rate_limited` at once, over HTTP and NATS, while webhooks still record.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { connect as connectTcp, type Socket } from 'node:net';
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DaemonExtension } from '../../src/core/daemon.ts';
import { extensions } from '../../src/extensions.ts';
import { API_TOKEN, startTestDaemon, whatsappAccountYaml, type TestDaemon } from '../support/daemon.ts';
import { createTestDatabase, natsUrl, tempDir, uniquePrefix, type TestDatabase } from '../support/services.ts';
import { postSignedWhatsApp, testWamid, textWebhookBody } from '../support/traffic.ts';

const LIMITS = { headersTimeoutMs: 1_000, requestTimeoutMs: 2_000, keepAliveTimeoutMs: 1_000, maxConnections: 20 };
const API = { bodyLimitBytes: 65_536, concurrency: 2, maxPending: 4 };
/** "Cut near the timeout": well under Node's unchecked 30 s + timeout, generous for a busy box. */
const CUT_BOUND_MS = 15_000;

let t: TestDaemon;
let database: TestDatabase;
let host: string;
let port: number;

/** A `/v1/test/hold` route that answers only when the test lets it: it occupies API slots. */
let release: () => void = () => {};
let held = new Promise<void>((resolve) => (release = resolve));
const holdExtension: DaemonExtension = {
  mountApi(api) {
    api.get('/test/hold', async (c) => {
      await held;
      return c.json({ ok: true });
    });
  },
};

beforeAll(async () => {
  const dir = await tempDir();
  database = await createTestDatabase();
  const prefix = uniquePrefix();
  await mkdir(path.join(dir, 'channels'), { recursive: true });
  const flow = (settings: Record<string, number>) => Object.entries(settings).map(([k, v]) => `, ${k}: ${v}`).join('');
  const yaml = [
    `http: { host: 127.0.0.1, port: 0${flow(LIMITS)} }`,
    `nats: { url: "${natsUrl()}", prefix: ${prefix} }`,
    `database: { url: "${database.url}" }`,
    `dataDir: "${path.join(dir, 'data')}"`,
    `api: { tokens: [{ token: ${API_TOKEN}, scopes: [read, write] }]${flow(API)} }`,
    `log: { level: ${process.env.OMNIBUS_TEST_LOG ?? 'silent'} }`,
    'sandbox: true',
  ].join('\n');
  await writeFile(path.join(dir, 'omnibus.yaml'), `${yaml}\n`);
  await writeFile(path.join(dir, 'channels', 'acme-wa.yaml'), whatsappAccountYaml());
  t = await startTestDaemon({ dir, databaseUrl: database.url, prefix, extra: { extensions: [...extensions(), holdExtension] } });
  const url = new URL(t.daemon.url);
  host = url.hostname;
  port = Number(url.port);
});
afterAll(async () => {
  release();
  await t?.stop();
  await database?.drop();
});

/** Posts one text webhook; resolves with the status and the wamid it carried. */
async function webhook(): Promise<{ status: number; wamid: string }> {
  const wamid = testWamid('FLOOD');
  const response = await postSignedWhatsApp(t.daemon.url, textWebhookBody({ wamid, from: '15551230001', text: 'still here' }));
  await response.arrayBuffer();
  return { status: response.status, wamid };
}

async function recorded(wamid: string): Promise<boolean> {
  const rows = await t.sql!`select 1 from messages where external_id = ${wamid}`;
  return rows.length === 1;
}

/** A raw TCP connection; `closed` resolves when the server ends or resets it. */
function rawSocket(): Promise<{ socket: Socket; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = connectTcp({ host, port });
    const closed = new Promise<void>((done) => socket.once('close', () => done()));
    socket.on('error', () => {});
    socket.once('connect', () => resolve({ socket, closed }));
    socket.once('error', reject);
  });
}

/** Resolves true if `promise` settles within `ms`, false otherwise. */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  const result = await Promise.race([promise.then(() => true as const), timeout]);
  clearTimeout(timer);
  return result;
}

async function metric(name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`${t.daemon.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `) || (labels === '' && l.startsWith(`${name} `)));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

describe('slow clients', () => {
  it('cuts trickled headers near http.headersTimeoutMs while webhooks keep being answered', async () => {
    const { socket, closed } = await rawSocket();
    socket.write(`POST /webhooks/whatsapp/acme-wa HTTP/1.1\r\nHost: ${host}\r\n`);
    let n = 0;
    const trickle = setInterval(() => {
      if (!socket.destroyed) socket.write(`X-Slow-${n++}: a\r\n`);
    }, 200);
    try {
      const during = await webhook();
      expect(during.status).toBe(200);
      expect(await recorded(during.wamid)).toBe(true);
      expect(await within(closed, CUT_BOUND_MS)).toBe(true);
      expect(n).toBeGreaterThan(0);
    } finally {
      clearInterval(trickle);
      socket.destroy();
    }
  });

  it('cuts a trickled body near http.requestTimeoutMs', async () => {
    const { socket, closed } = await rawSocket();
    socket.write(`POST /webhooks/whatsapp/acme-wa HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{`);
    const trickle = setInterval(() => {
      if (!socket.destroyed) socket.write(' ');
    }, 200);
    try {
      expect((await webhook()).status).toBe(200);
      expect(await within(closed, CUT_BOUND_MS)).toBe(true);
    } finally {
      clearInterval(trickle);
      socket.destroy();
    }
  });
});

describe('connection floods', () => {
  it('closes idle sockets past http.maxConnections so a webhook still gets in', async () => {
    const evictedBefore = await metric('omnibus_http_connections_rejected_total', '{reason="evicted_idle"}');
    const flood = await Promise.all(Array.from({ length: LIMITS.maxConnections * 2 }, () => rawSocket()));
    try {
      const during = await webhook();
      expect(during.status).toBe(200);
      expect(await recorded(during.wamid)).toBe(true);
      // The server closed the oldest idle ones to make room, and counted it.
      const closedByServer = (await Promise.all(flood.map(({ closed }) => within(closed, 50)))).filter(Boolean).length;
      expect(closedByServer).toBeGreaterThanOrEqual(LIMITS.maxConnections);
      expect(await metric('omnibus_http_connections_rejected_total', '{reason="evicted_idle"}')).toBeGreaterThanOrEqual(evictedBefore + LIMITS.maxConnections);
      expect(await metric('omnibus_http_connections')).toBeLessThanOrEqual(LIMITS.maxConnections);
    } finally {
      for (const { socket } of flood) socket.destroy();
    }
  });
});

/** POSTs to `/v1/messages` with an endless chunked body until the server answers. */
function endlessPost(): Promise<{ status: number; body: any; written: number }> {
  return new Promise((resolve, reject) => {
    let written = 0;
    let answered = false;
    const chunk = Buffer.alloc(16_384, 0x20);
    const req = httpRequest({ host, port, method: 'POST', path: '/v1/messages', headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' } });
    req.on('error', (error) => {
      if (!answered) reject(error);
    });
    req.on('response', (res) => {
      answered = true;
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (part: string) => (text += part));
      res.on('end', () => {
        req.destroy();
        resolve({ status: res.statusCode ?? 0, body: JSON.parse(text), written });
      });
    });
    req.write('{"padding":"');
    const pump = () => {
      // A hard stop far above the limit: reaching it means the server buffered instead of refusing.
      while (!answered && written < 256 * 1024 * 1024) {
        written += chunk.byteLength;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      if (!answered) req.end('"}');
    };
    pump();
  });
}

describe('/v1 body limit', () => {
  it('answers a declared body over api.bodyLimitBytes 413 with the JSON error, before reading it', async () => {
    const response = await fetch(`${t.daemon.url}/v1/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ padding: 'x'.repeat(API.bodyLimitBytes) }),
    });
    expect(response.status).toBe(413);
    expect(await response.json()).toMatchObject({ ok: false, error: { code: 'invalid_request', details: { reason: 'body_too_large', limit: API.bodyLimitBytes } } });
  });

  it('refuses an endless streamed body once it passes the limit, without buffering it', async () => {
    const { status, body, written } = await endlessPost();
    expect(status).toBe(413);
    expect(body).toMatchObject({ ok: false, error: { code: 'invalid_request' } });
    // Stopped by the server, not by the client's hard stop: the body was never held whole.
    expect(written).toBeLessThan(64 * 1024 * 1024);
    expect((await webhook()).status).toBe(200);
  });
});

describe('API floods', () => {
  it('answers rate_limited at once over HTTP and NATS while the API is full, and webhooks still record', async () => {
    const bound = API.concurrency + API.maxPending;
    const holds = Array.from({ length: bound }, () =>
      fetch(`${t.daemon.url}/v1/test/hold`, { headers: { authorization: `Bearer ${API_TOKEN}` } }).then(async (r) => ({ status: r.status, body: await r.json() })),
    );
    try {
      // Wait until every slot and every queue place is taken.
      for (let i = 0; i < 200 && (await metric('omnibus_api_requests_in_flight')) < bound; i++) await new Promise((r) => setTimeout(r, 50));
      expect(await metric('omnibus_api_requests_in_flight')).toBe(bound);

      const overHttp = await fetch(`${t.daemon.url}/v1/contacts/ct_nobody`, { headers: { authorization: `Bearer ${API_TOKEN}` } });
      expect(overHttp.status).toBe(429);
      expect(overHttp.headers.get('retry-after')).toBe('1');
      expect(await overHttp.json()).toMatchObject({ ok: false, error: { code: 'rate_limited' } });

      // A flood over NATS: every request answered, each rate_limited, none left waiting.
      const answers = await Promise.all(
        Array.from({ length: 100 }, () => t.nc.request(`${t.prefix}.v1.api.contact.get`, JSON.stringify({ id: 'ct_nobody' }), { timeout: 10_000 }).then((m) => m.json<any>())),
      );
      expect(answers.every((a) => a.ok === false && a.error.code === 'rate_limited')).toBe(true);

      const during = await webhook();
      expect(during.status).toBe(200);
      expect(await recorded(during.wamid)).toBe(true);
      expect(await metric('omnibus_api_rate_limited_total', '{transport="nats"}')).toBeGreaterThanOrEqual(100);
    } finally {
      release();
    }
    expect((await Promise.all(holds)).map((h) => h.status)).toEqual(Array(bound).fill(200));
    held = new Promise<void>((resolve) => (release = resolve));
    release();
    // Once the API has room again, it answers normally.
    const after = await t.nc.request(`${t.prefix}.v1.api.contact.get`, JSON.stringify({ id: 'ct_nobody' }), { timeout: 10_000 });
    expect(after.json()).toMatchObject({ ok: false, error: { code: 'unknown_contact' } });
  });
});
