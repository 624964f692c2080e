/**
 * Account-level quotas through a real daemon and the LINE fake (its monthly push quota): a
 * reading near the limit is announced as `quota_low`; LINE's 429 "You have reached your monthly
 * limit." fails that send with `quota_exceeded`, unretried, and the next pushes are refused
 * before LINE is called while replies (free) still go; a raised plan restores the quota, and
 * LINE's other 429 (rate limit) is retried rather than taken for the quota; pushes counted
 * between readings exhaust it on their own.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOutbound } from '../../src/outbound/index.ts';
import { contactsExtension } from '../../src/merge/extension.ts';
import { accountEventSchema } from '../../src/core/schemas/events.ts';
import { API_TOKEN, startTestDaemon, type TestDaemon } from '../support/daemon.ts';
import { waitFor } from '../support/services.ts';
import { SECRETS } from '../channels/line/helpers.ts';
import { FAST } from './helpers.ts';
import { lineSendHarness } from './line-harness.ts';

const yaml = ['id: acme-line', 'channel: line', `channelSecret: ${SECRETS.channelSecret}`, `channelAccessToken: ${SECRETS.channelAccessToken}`].join('\n') + '\n';

describe('account quotas', () => {
  let t: TestDaemon;
  const line = lineSendHarness(() => t, '8100000000000000');
  const { fake, send, outcome } = line;
  /** A user writes without a reply token (so answers to them are pushes). */
  const writes = (from: string) => line.writes(from, { replyable: false });
  const accountEvents = async (event: string, atLeast = 1) => {
    let found: Array<{ msgId: string | null; data: any }> = [];
    await waitFor(async () => {
      found = await t.events(`${t.prefix}.v1.evt.account.${event}.line.acme-line`, { timeoutMs: 300 });
      return found.length >= atLeast;
    }, { timeoutMs: 20_000, intervalMs: 100, description: `${atLeast} account.${event}` });
    for (const entry of found) expect(accountEventSchema.safeParse(entry.data).success).toBe(true);
    return found;
  };

  beforeAll(async () => {
    t = await startTestDaemon({
      accounts: { 'acme-line.yaml': yaml },
      extra: { extensions: [createOutbound({ settings: { ...FAST, quotaRefreshMs: 300 } }), contactsExtension()] },
    });
    fake().setQuota('acme-line', 1000, 0);
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('a monthly-limit 429 is quota_exceeded, not retried; later pushes are refused before LINE is called; replies still go', { timeout: 60_000 }, async () => {
    await writes('Uquota');
    fake().failNext('push', 429, 'You have reached your monthly limit.');
    await send('quota-1', 'Uquota');
    const first = await outcome('quota-1');
    expect(first.status).toBe('failed');
    expect(first.error).toMatchObject({ code: 'quota_exceeded', details: { quota: 'monthly_push' } });
    expect(fake().calls('push')).toBe(1);

    // Stored where the next lease holder (another replica) picks it up.
    const [stored] = await t.sql!`select value from shared_state where key = 'account-quota:line:acme-line:monthly_push'`;
    expect(JSON.parse(stored!.value)).toMatchObject({ level: 'exhausted', refused: expect.any(Object) });

    const [exhausted] = await accountEvents('quota_exhausted');
    expect(exhausted!.data).toMatchObject({ event: 'quota_exhausted', reason: 'platform_refused', quota: { name: 'monthly_push', appliesTo: 'push', level: 'exhausted' } });
    expect(exhausted!.msgId).toMatch(/^account:line:acme-line:monthly_push:\d+$/);

    await send('quota-2', 'Uquota');
    const second = await outcome('quota-2');
    expect(second.error).toMatchObject({ code: 'quota_exceeded', details: { quota: 'monthly_push', level: 'exhausted', attempts: 0 } });
    expect(fake().calls('push')).toBe(1);
    // Not poison: about the account, so no dead letter.
    const deadLetters = await t.events(`${t.prefix}.v1.evt.message.deadletter.line.acme-line`, { timeoutMs: 300 });
    expect(deadLetters).toHaveLength(0);

    // A reading showing the same room does not lift the mark (LINE's counter lags); replies are free anyway.
    await fake().deliver('acme-line', { from: 'Ureplier', text: 'still there?' });
    await waitFor(async () => (await t.sql!`select 1 from conversations c join identities i on i.id = c.identity_id where i.external_id = 'Ureplier' and c.reply_token is not null`).length > 0, { timeoutMs: 20_000, intervalMs: 50 });
    await send('quota-3', 'Ureplier');
    expect(await outcome('quota-3')).toMatchObject({ status: 'sent', route: 'reply' });
    expect(fake().calls('push')).toBe(1);
  });

  it('while exhausted, a push is refused before LINE is asked at all (a scripted rate-limit 429 stays unanswered)', { timeout: 60_000 }, async () => {
    await writes('Uthrottled');
    const pushesBefore = fake().calls('push');
    fake().failNext('push', 429, 'The API rate limit has been exceeded. Try again later.');
    await send('throttled-1', 'Uthrottled');
    // The quota is still exhausted from the test before: this push is refused, the 429 never asked.
    expect((await outcome('throttled-1')).error).toMatchObject({ code: 'quota_exceeded' });
    expect(fake().calls('push')).toBe(pushesBefore);
  });

  it('a raised plan restores the quota; a rate-limit 429 then is retried and sent, not taken for the quota', { timeout: 60_000 }, async () => {
    fake().setQuota('acme-line', 5000, 0);
    const [restored] = await accountEvents('quota_restored');
    expect(restored!.data).toMatchObject({ reason: 'refreshed', quota: { level: 'ok', limit: 5000, remaining: 5000 } });
    // The rate-limit 429 scripted while the quota was exhausted is answered now: retried, then sent.
    await send('quota-4', 'Uquota');
    expect(await outcome('quota-4')).toMatchObject({ status: 'sent', route: 'push' });
    expect(fake().calls('push')).toBe(3);
    const throttled = await t.events(`${t.prefix}.v1.evt.account.>`, { timeoutMs: 300 });
    expect(throttled.filter((entry) => entry.data.event === 'quota_exhausted')).toHaveLength(1);
  });

  it('a reading near the limit is quota_low; pushes counted up to the limit exhaust it without asking LINE', { timeout: 60_000 }, async () => {
    await writes('Upaid');
    fake().setQuota('acme-line', 20, 19);
    const [low] = await accountEvents('quota_low');
    expect(low!.data).toMatchObject({ reason: 'refreshed', quota: { level: 'low', limit: 20, used: 19, remaining: 1 } });
    expect(low!.data.quota.resetsAt).toMatch(/Z$/);

    const pushesBefore = fake().calls('push');
    await send('quota-5', 'Upaid');
    expect(await outcome('quota-5')).toMatchObject({ status: 'sent', route: 'push' });
    await send('quota-6', 'Upaid');
    expect((await outcome('quota-6')).error).toMatchObject({ code: 'quota_exceeded' });
    expect(fake().calls('push')).toBe(pushesBefore + 1);
    const exhausted = await accountEvents('quota_exhausted', 2);
    // Counted here on acceptance, or read from LINE if a refresh came first: exhausted either way.
    expect(['spent', 'refreshed']).toContain(exhausted.at(-1)!.data.reason);
    // One event per change: the message ids never repeat.
    const all = await t.events(`${t.prefix}.v1.evt.account.>`, { timeoutMs: 300 });
    expect(new Set(all.map((entry) => entry.msgId)).size).toBe(all.length);
  });
});
