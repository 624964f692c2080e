/**
 * LINE through a real daemon (PostgreSQL, NATS, the sandbox fake): a signed batch recorded
 * once with every user's message, bad signatures refused, the console's verify answered 200,
 * media fetched from the fake's content host, and an agent's answer pushed once with its retry key.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { retryKeyFor } from '../../../src/channels/line/outbound.ts';
import { lineSignature } from '../../../src/channels/line/verify.ts';
import { buildWebhook, eventBase, simulateInbound, type LineFake } from '../../../src/channels/line/sandbox.ts';
import type { WebhookRequestSpec } from '../../../src/core/adapter.ts';
import { API_TOKEN, startTestDaemon, type TestDaemon } from '../../support/daemon.ts';
import { waitFor } from '../../support/services.ts';
import { SECRETS, testAccount } from './helpers.ts';

const account = testAccount();
const yaml = ['id: acme-line', 'channel: line', `channelSecret: ${SECRETS.channelSecret}`, `channelAccessToken: ${SECRETS.channelAccessToken}`].join('\n') + '\n';

describe('line through the daemon', () => {
  let t: TestDaemon;
  const post = (spec: WebhookRequestSpec) => fetch(`${t.daemon.url}${spec.path}`, { method: spec.method, headers: spec.headers, body: spec.body as string });
  const fake = () => t.daemon.fakes.get('line') as LineFake;
  const inbound = async (from: string) => {
    let found: any;
    await waitFor(
      async () => {
        const events = await t.events(`${t.prefix}.v1.evt.message.in.line.acme-line`, { timeoutMs: 500 });
        found = events.filter((e) => e.data.contact.identity.externalId === from);
        return found.length > 0;
      },
      { timeoutMs: 20_000, intervalMs: 200 },
    );
    return found as Array<{ data: any }>;
  };

  beforeAll(async () => {
    t = await startTestDaemon({ accounts: { 'acme-line.yaml': yaml } });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('records a batch from two users once each, however often it is delivered', async () => {
    const at = t.clock.now();
    const events = ['Ualice', 'Ubob'].map((from, index) => ({ ...eventBase('message', { from, at }), message: { id: `70000000000000000${index}`, type: 'text', text: `hi from ${from}` } }));
    const spec = buildWebhook(account, events);
    const statuses = await Promise.all(Array.from({ length: 4 }, () => post(spec).then((response) => response.status)));
    expect(statuses).toEqual([200, 200, 200, 200]);
    const rows = await t.sql!`select external_id, dedupe_key from messages where channel = 'line' and external_id like '70000000000000000%' order by external_id`;
    expect(rows.map((row) => row.dedupe_key)).toEqual(events.map((event) => (event as Record<string, unknown>).webhookEventId));
    const [alice] = await inbound('Ualice');
    expect(alice!.data).toMatchObject({ externalId: '700000000000000000', parts: [{ type: 'text', text: 'hi from Ualice' }], session: null });
  });

  it('refuses a missing or wrong signature with 401 and answers the console verify with 200', async () => {
    const spec = simulateInbound(account, { from: 'Umallory', text: 'x', timestamp: t.clock.now() });
    expect((await post({ ...spec, headers: { 'content-type': 'application/json' } })).status).toBe(401);
    expect((await post({ ...spec, headers: { ...spec.headers, 'x-line-signature': 'GhRKmvmHys4Pi8DxkF4+EayaH0OqtJtaZxgTD9fMDLs=' } })).status).toBe(401);
    expect((await post(buildWebhook(account, []))).status).toBe(200);
    expect((await post({ ...spec, body: 'not json', headers: { ...spec.headers, 'x-line-signature': signatureOf('not json') } })).status).toBe(400);
  });

  it('fetches an image from the fake content host', async () => {
    const png = new Uint8Array(Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c626001000000ffff03000006000557bfabd40000000049454e44ae426082', 'hex'));
    const stored = fake().putMedia(png, 'image/png');
    expect((await post(simulateInbound(account, { from: 'Upic', media: { id: stored.id, mime: 'image/png' }, timestamp: t.clock.now() }))).status).toBe(200);
    let part: any;
    await waitFor(
      async () => {
        part = (await inbound('Upic'))[0]!.data.parts[0];
        return part.media.status !== 'pending';
      },
      { timeoutMs: 20_000, intervalMs: 200 },
    );
    expect(part).toMatchObject({ type: 'image', media: { status: 'ready', ext: 'png', size: png.length } });
  });

  it("pushes an agent's answer once, with the retry key derived from its idempotency key", async () => {
    await fake().deliver('acme-line', { from: 'Ucarol', text: 'do you deliver?' });
    await inbound('Ucarol');
    const send = () =>
      fetch(`${t.daemon.url}/v1/messages`, {
        method: 'POST',
        headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ idempotencyKey: 'line-answer-1', account: 'acme-line', to: { externalId: 'Ucarol' }, parts: [{ type: 'text', text: 'Yes, every day.' }] }),
      });
    const first = await send();
    expect(first.status).toBeLessThan(300);
    expect((await send()).status).toBeLessThan(300);
    await waitFor(async () => fake().sentMessages('acme-line').some((sent) => sent.to === 'Ucarol'), { timeoutMs: 20_000, intervalMs: 100 });
    const sent = fake().sentMessages('acme-line').filter((message) => message.to === 'Ucarol');
    expect(sent).toHaveLength(1);
    expect(sent[0]!.messages).toEqual([{ type: 'text', text: 'Yes, every day.' }]);
    if (sent[0]!.route === 'push') expect(sent[0]!.retryKey).toBe(retryKeyFor('acme-line', 'line-answer-1'));
  });
});

function signatureOf(body: string): string {
  return lineSignature(SECRETS.channelSecret, body);
}
