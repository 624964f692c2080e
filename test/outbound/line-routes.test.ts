/**
 * LINE's send routes through a real daemon and the LINE fake, for what the happy path does not
 * show: a reply token that is already stale when the agent answers goes by push; a push LINE
 * accepted whose answer never came back is retried with the same `X-Line-Retry-Key`, LINE's
 * 409 counts as sent, and exactly one message reaches the user; 400 "Failed to send messages"
 * ends the send `recipient_unreachable`, not dead-lettered.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { retryKeyFor } from '../../src/channels/line/outbound.ts';
import { createOutbound } from '../../src/outbound/index.ts';
import { contactsExtension } from '../../src/merge/extension.ts';
import { API_TOKEN, startTestDaemon, type TestDaemon } from '../support/daemon.ts';
import { waitFor } from '../support/services.ts';
import { SECRETS } from '../channels/line/helpers.ts';
import { FAST } from './helpers.ts';
import { lineSendHarness } from './line-harness.ts';

const yaml = ['id: acme-line', 'channel: line', `channelSecret: ${SECRETS.channelSecret}`, `channelAccessToken: ${SECRETS.channelAccessToken}`].join('\n') + '\n';

describe('LINE send routes', () => {
  let t: TestDaemon;
  const { fake, send, writes, outcome } = lineSendHarness(() => t, '8200000000000000');
  const sentTo = (to: string) => fake().sentMessages('acme-line').filter((sent) => sent.to === to);

  beforeAll(async () => {
    t = await startTestDaemon({
      accounts: { 'acme-line.yaml': yaml },
      // A short call deadline, so an answer that never comes is given up on quickly.
      extra: { extensions: [createOutbound({ settings: { ...FAST, sendTimeoutMs: 1_500 } }), contactsExtension()] },
    });
    fake().setQuota('acme-line', null);
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('a reply token already stale when the agent answers is not tried: the answer is pushed', { timeout: 60_000 }, async () => {
    // The event is two minutes old: its token expired a minute ago, though it is still stored.
    await writes('Ustale', { at: new Date(t.clock.now().getTime() - 120_000) });
    const [conversation] = await t.sql!`select c.reply_token from conversations c join identities i on i.id = c.identity_id where i.external_id = 'Ustale'`;
    expect(conversation!.reply_token).not.toBeNull();
    const repliesBefore = fake().calls('reply');
    await send('stale-1', 'Ustale');
    expect(await outcome('stale-1')).toMatchObject({ status: 'sent', route: 'push' });
    expect(fake().calls('reply')).toBe(repliesBefore);
    expect(sentTo('Ustale').map((sent) => sent.route)).toEqual(['push']);
  });

  it('a push whose answer was lost is retried with the same retry key; the 409 is success and one message arrives', { timeout: 60_000 }, async () => {
    await writes('Ulost', { replyable: false });
    const pushesBefore = fake().calls('push');
    fake().answerNextPushLate(5_000);
    await send('lost-1', 'Ulost', 'Did this arrive?');
    const settled = await outcome('lost-1');
    expect(settled).toMatchObject({ status: 'sent', route: 'push' });
    // Two calls reached LINE with one key; the second was answered 409 and sent nothing new.
    expect(fake().calls('push')).toBe(pushesBefore + 2);
    const delivered = sentTo('Ulost');
    expect(delivered).toHaveLength(1);
    expect(delivered[0]!.retryKey).toBe(retryKeyFor('acme-line', 'lost-1'));
    const [row] = await t.sql!`select external_id from messages where idempotency_key = 'lost-1'`;
    expect(row!.external_id).toBe(delivered[0]!.ids[0]);
    const metrics = await (await fetch(`${t.daemon.url}/metrics`, { headers: { authorization: `Bearer ${API_TOKEN}` } })).text();
    expect(metrics).toMatch(/omnibus_send_calls_total\{[^}]*result="retry"[^}]*\} [1-9]/);
  });

  it('400 "Failed to send messages" is recipient_unreachable and no dead letter', { timeout: 60_000 }, async () => {
    await writes('Ugone', { replyable: false });
    fake().failNext('push', 400, 'Failed to send messages');
    await send('gone-1', 'Ugone');
    const settled = await outcome('gone-1');
    expect(settled.status).toBe('failed');
    expect(settled.error).toMatchObject({ code: 'recipient_unreachable', details: { status: 400 } });
    const statuses = await t.events(`${t.prefix}.v1.evt.message.status.line.acme-line`, { timeoutMs: 2_000 });
    expect(statuses.some((entry) => entry.data.status === 'failed' && entry.data.error?.code === 'recipient_unreachable')).toBe(true);
    const deadLetters = await t.events(`${t.prefix}.v1.evt.message.deadletter.line.acme-line`, { timeoutMs: 300 });
    expect(deadLetters).toHaveLength(0);
  });
});
