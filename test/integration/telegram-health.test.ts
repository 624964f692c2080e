/**
 * What an operator sees of a Telegram bot's health, through real daemons and the Bot API fake:
 * another process polling the same bot (409 "terminated by other getUpdates request") is
 * logged at error naming the account, counted, shown in `/readyz` details and backed off,
 * never retried in a tight loop; in webhook mode the daemon registers its webhook at start
 * (URL, secret token, update kinds) and shows what getWebhookInfo says (pending updates, the
 * last delivery error) in `/readyz` details and metrics, probed on a timer, not per request.
 */
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_ALLOWED_UPDATES } from '../../src/channels/telegram/config.ts';
import type { TelegramFake } from '../../src/channels/telegram/sandbox.ts';
import { startTestDaemon, type TestDaemon } from '../support/daemon.ts';
import { waitFor } from '../support/services.ts';

const TOKEN = '7000000043:AAH-health-test-token-0123456789abcdefgh';
const SECRET = 'health-secret-token-0123456789';
const HOOK = 'https://omnibus.example.com/webhooks/telegram/acme-telegram';

function logSink(lines: string[]): Writable {
  return new Writable({
    write(chunk, _encoding, callback) {
      lines.push(String(chunk));
      callback();
    },
  });
}

/** Counts the fake's calls per Bot API method. */
function countCalls(fake: TelegramFake): Map<string, number> {
  const counts = new Map<string, number>();
  const original = fake.fetch.bind(fake);
  fake.fetch = async (request: Request) => {
    const method = /\/bot[^/]+\/([A-Za-z]+)$/.exec(new URL(request.url).pathname)?.[1];
    if (method) counts.set(method, (counts.get(method) ?? 0) + 1);
    return original(request);
  };
  return counts;
}

async function metric(t: TestDaemon, name: string): Promise<number | null> {
  const text = await (await fetch(`${t.daemon.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes('account="acme-telegram"'));
  return line ? Number(line.split(' ').at(-1)) : null;
}

const readyz = async (t: TestDaemon) => (await (await fetch(`${t.daemon.url}/readyz`)).json()) as { ready: boolean; details?: Record<string, any> };

describe('telegram: another poller on the same bot', () => {
  let t: TestDaemon;
  const logs: string[] = [];
  let calls: Map<string, number>;

  beforeAll(async () => {
    const yaml = ['id: acme-telegram', 'channel: telegram', `botToken: "${TOKEN}"`, 'mode: polling', 'pollTimeoutSeconds: 1'].join('\n') + '\n';
    t = await startTestDaemon({
      logLevel: 'info',
      accounts: { 'acme-telegram.yaml': yaml },
      extra: { polling: { leaseTtlMs: 1_500, standbyMs: 100, backoffMs: 100, maxBackoffMs: 400, conflictBackoffMs: 60_000 }, logDestination: logSink(logs) as never, watch: false },
    });
    calls = countCalls(t.daemon.fakes.get('telegram') as TelegramFake);
  }, 120_000);
  afterAll(async () => {
    await t?.stop();
  });

  it('is reported loudly (error log with the account, metric, readyz) and backed off, not retried in a loop', { timeout: 60_000 }, async () => {
    const fake = t.daemon.fakes.get('telegram') as TelegramFake;
    await waitFor(() => (calls.get('getUpdates') ?? 0) > 0, { timeoutMs: 20_000, description: 'polling' });
    expect((await readyz(t)).details?.polling?.['acme-telegram']).toMatchObject({ leader: true, conflict: null });
    // What Telegram answers the older poll when another process starts polling the same token.
    fake.failNext({ errorCode: 409, description: 'Conflict: terminated by other getUpdates request; make sure that only one bot instance is running' }, 'getUpdates');
    const line = await waitFor(() => logs.find((l) => l.includes('"level":50') && l.includes('another client polling')), { timeoutMs: 20_000, description: 'error logged' });
    expect(JSON.parse(line)).toMatchObject({ account: 'acme-telegram', channel: 'telegram', code: 'conflict' });
    expect(line).not.toContain(TOKEN.split(':')[1]!);
    expect(await metric(t, 'omnibus_poll_conflict')).toBe(1);
    expect(await metric(t, 'omnibus_polls_total')).not.toBeNull();
    const ready = await readyz(t);
    expect(ready.ready).toBe(true);
    expect(ready.details?.polling?.['acme-telegram']?.conflict).toMatchObject({ reason: 'other_poller' });
    // Backing off: over several would-be poll periods, not one more getUpdates.
    const polls = calls.get('getUpdates') ?? 0;
    const since = Date.now();
    await waitFor(() => Date.now() - since > 3_000, { timeoutMs: 10_000, intervalMs: 200 });
    expect(calls.get('getUpdates') ?? 0).toBe(polls);
  });
});

describe('telegram: webhook registered at start and watched', () => {
  let t: TestDaemon;
  let calls: Map<string, number>;

  beforeAll(async () => {
    const yaml = ['id: acme-telegram', 'channel: telegram', `botToken: "${TOKEN}"`, `secretToken: ${SECRET}`, 'mode: webhook', 'registerWebhook: true', `webhookUrl: "${HOOK}"`].join('\n') + '\n';
    // A probe interval longer than the test: the test asks for each probe, so any other call is per request.
    t = await startTestDaemon({ accounts: { 'acme-telegram.yaml': yaml }, extra: { webhookProbeMs: 600_000, watch: false } });
    calls = countCalls(t.daemon.fakes.get('telegram') as TelegramFake);
  }, 120_000);
  afterAll(async () => {
    await t?.stop();
  });

  it('calls setWebhook with the URL, the secret token and the update kinds', async () => {
    const fake = t.daemon.fakes.get('telegram') as TelegramFake;
    const webhook = await waitFor(() => fake.bot('acme-telegram').webhook, { timeoutMs: 20_000, description: 'webhook registered' });
    expect(webhook).toEqual({ url: HOOK, secretToken: SECRET, allowedUpdates: [...DEFAULT_ALLOWED_UPDATES] });
  });

  it('shows getWebhookInfo in /readyz details and metrics, refreshed by the probe only', async () => {
    const fake = t.daemon.fakes.get('telegram') as TelegramFake;
    await waitFor(async () => (await readyz(t)).details?.webhooks?.['acme-telegram']?.registered === true, { timeoutMs: 20_000, description: 'first probe' });
    expect((await readyz(t)).details?.webhooks?.['acme-telegram']).toMatchObject({ channel: 'telegram', pendingUpdates: 0, lastErrorAt: null, lastErrorMessage: null });

    // Telegram could not deliver: two updates wait, and it says why.
    const failedAt = Math.floor(Date.now() / 1000);
    fake.bot('acme-telegram').lastWebhookError = { date: failedAt, message: 'Wrong response from the webhook: 503 Service Unavailable' };
    for (const id of [1, 2]) fake.enqueue('acme-telegram', { message: { message_id: id, chat: { id: 7100000400, type: 'private' }, from: { id: 7100000400, is_bot: false, first_name: 'X' }, date: failedAt, text: 'waiting' } });
    const probes = calls.get('getWebhookInfo') ?? 0;
    for (let i = 0; i < 5; i++) await readyz(t);
    expect(calls.get('getWebhookInfo') ?? 0).toBe(probes);
    expect((await readyz(t)).details?.webhooks?.['acme-telegram']?.pendingUpdates).toBe(0);

    await t.daemon.webhookProbes!.probeAll();
    expect(calls.get('getWebhookInfo')).toBe(probes + 1);
    const ready = await readyz(t);
    expect(ready.details?.webhooks?.['acme-telegram']).toMatchObject({
      pendingUpdates: 2,
      lastErrorAt: new Date(failedAt * 1000).toISOString(),
      lastErrorMessage: 'Wrong response from the webhook: 503 Service Unavailable',
    });
    expect(await metric(t, 'omnibus_webhook_pending_updates')).toBe(2);
    expect(await metric(t, 'omnibus_webhook_last_error_timestamp_seconds')).toBe(failedAt);
    expect(JSON.stringify(ready)).not.toContain(TOKEN.split(':')[1]!);
  });
});
