/**
 * The reply-context economy through a real daemon and the LINE fake: an agent's answer to a
 * fresh message spends its reply token (free), a second answer goes by push with its retry key,
 * and a token LINE refuses falls back to push. The route is on the row, the `sent` event and
 * the counter.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { retryKeyFor } from '../../src/channels/line/outbound.ts';
import type { LineFake } from '../../src/channels/line/sandbox.ts';
import { API_TOKEN, startTestDaemon, type TestDaemon } from '../support/daemon.ts';
import { waitFor } from '../support/services.ts';
import { SECRETS } from '../channels/line/helpers.ts';

const yaml = ['id: acme-line', 'channel: line', `channelSecret: ${SECRETS.channelSecret}`, `channelAccessToken: ${SECRETS.channelAccessToken}`].join('\n') + '\n';

describe('reply context', () => {
  let t: TestDaemon;
  const fake = () => t.daemon.fakes.get('line') as LineFake;
  const inboundRecorded = (from: string) =>
    waitFor(async () => (await t.sql!`select 1 from messages m join identities i on i.id = m.identity_id join conversations c on c.id = m.conversation_id where i.external_id = ${from} and m.direction = 'in' and c.reply_token is not null limit 1`).length > 0, { timeoutMs: 20_000, intervalMs: 100 });
  const send = (key: string, to: string, text: string) =>
    fetch(`${t.daemon.url}/v1/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ idempotencyKey: key, account: 'acme-line', to: { externalId: to }, parts: [{ type: 'text', text }] }),
    });
  const sentTo = (to: string) => fake().sentMessages('acme-line').filter((sent) => sent.to === to);
  const routeOf = async (key: string) => {
    let route: string | null = null;
    await waitFor(async () => {
      const [row] = await t.sql!`select status, route from messages where idempotency_key = ${key}`;
      route = row?.route ?? null;
      return row?.status === 'sent';
    }, { timeoutMs: 20_000, intervalMs: 100 });
    return route;
  };

  beforeAll(async () => {
    t = await startTestDaemon({ accounts: { 'acme-line.yaml': yaml } });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('answers a fresh message through its reply token, then pushes the next answer with a retry key', async () => {
    await fake().deliver('acme-line', { from: 'Ureply', text: 'hello?' });
    await inboundRecorded('Ureply');
    expect((await send('reply-1', 'Ureply', 'Hi!')).status).toBeLessThan(300);
    expect(await routeOf('reply-1')).toBe('reply');
    expect(sentTo('Ureply').map((sent) => sent.route)).toEqual(['reply']);
    const [conversation] = await t.sql!`select c.reply_token_used_at from conversations c join messages m on m.conversation_id = c.id where m.idempotency_key = 'reply-1'`;
    expect(conversation!.reply_token_used_at).not.toBeNull();

    expect((await send('reply-2', 'Ureply', 'Anything else?')).status).toBeLessThan(300);
    expect(await routeOf('reply-2')).toBe('push');
    const sent = sentTo('Ureply');
    expect(sent.map((entry) => entry.route)).toEqual(['reply', 'push']);
    expect(sent[1]!.retryKey).toBe(retryKeyFor('acme-line', 'reply-2'));

    const metrics = await (await fetch(`${t.daemon.url}/metrics`, { headers: { authorization: `Bearer ${API_TOKEN}` } })).text();
    expect(metrics).toMatch(/omnibus_sends_by_route_total\{[^}]*route="reply"[^}]*\} [1-9]/);
    expect(metrics).toMatch(/omnibus_sends_by_route_total\{[^}]*route="push"[^}]*\} [1-9]/);
  });

  it('falls back to push when LINE refuses the reply token', async () => {
    await fake().deliver('acme-line', { from: 'Urefused', text: 'hi' });
    await inboundRecorded('Urefused');
    fake().failNext('reply', 400, 'Invalid reply token');
    expect((await send('refused-1', 'Urefused', 'Hello')).status).toBeLessThan(300);
    expect(await routeOf('refused-1')).toBe('push');
    expect(sentTo('Urefused')).toHaveLength(1);
    expect(sentTo('Urefused')[0]!.route).toBe('push');
  });
});
