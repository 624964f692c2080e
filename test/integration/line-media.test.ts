/**
 * LINE media that cannot be downloaded, through a real daemon and the LINE fake: content LINE
 * no longer has (410, the user unsent it or it expired) fails the part at once with its reason
 * in the event and on the stored message; content that keeps failing holds the message only
 * until the media hold runs out, then the message is published with the part failed, and the
 * conversation's later message follows it instead of waiting forever.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LineFake } from '../../src/channels/line/sandbox.ts';
import { MEDIA_HOLD_MS } from '../../src/core/media/worker.ts';
import { ManualClock } from '../../src/core/clock.ts';
import { startTestDaemon, type TestDaemon } from '../support/daemon.ts';
import { waitFor } from '../support/services.ts';
import { BYTES, SECRETS } from '../channels/line/helpers.ts';

const yaml = ['id: acme-line', 'channel: line', `channelSecret: ${SECRETS.channelSecret}`, `channelAccessToken: ${SECRETS.channelAccessToken}`].join('\n') + '\n';

describe('LINE media that cannot be fetched', () => {
  let t: TestDaemon;
  const clock = new ManualClock(Date.now());
  const fake = () => t.daemon.fakes.get('line') as LineFake;
  const inboundOf = async (from: string, atLeast: number) => {
    let found: Array<{ data: any }> = [];
    await waitFor(async () => {
      const events = await t.events(`${t.prefix}.v1.evt.message.in.line.acme-line`, { timeoutMs: 300 });
      found = events.filter((event) => event.data.contact.identity.externalId === from);
      return found.length >= atLeast;
    }, { timeoutMs: 30_000, intervalMs: 100, description: `${atLeast} message.in from ${from}` });
    return found;
  };

  beforeAll(async () => {
    t = await startTestDaemon({ clock, accounts: { 'acme-line.yaml': yaml } });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('content LINE answers 410 for: the part is failed with the reason, in the event and the stored message', { timeout: 60_000 }, async () => {
    const { id } = fake().putMedia(BYTES.jpg, 'image/jpeg');
    fake().expireMedia(id);
    await fake().deliver('acme-line', { from: 'Ugone', media: { id, mime: 'image/jpeg' } });
    const [event] = await inboundOf('Ugone', 1);
    const failed = { status: 'failed', url: null, reason: 'attachment_unreachable:gone', details: { code: 'attachment_unreachable', reason: 'gone', status: 410 } };
    expect(event!.data.parts[0]).toMatchObject({ type: 'image', media: failed });
    const [row] = await t.sql!`select parts from messages where id = ${event!.data.id}`;
    expect(row!.parts[0].media).toMatchObject(failed);
    const [media] = await t.sql!`select status, reason from media where message_id = ${event!.data.id}`;
    expect(media).toEqual({ status: 'failed', reason: 'attachment_unreachable:gone' });
  });

  it('content that keeps failing holds the message only until the hold runs out; the next message follows it', { timeout: 60_000 }, async () => {
    for (let i = 0; i < 20; i++) fake().failNext('content', 500, 'Internal server error');
    const { id } = fake().putMedia(BYTES.jpg, 'image/jpeg');
    await fake().deliver('acme-line', { from: 'Ustuck', media: { id, mime: 'image/jpeg' } });
    await fake().deliver('acme-line', { from: 'Ustuck', text: 'did you get my photo?' });
    // The first fetch fails and is retried; nothing of the conversation is published meanwhile.
    await waitFor(async () => (await t.sql!`select 1 from media m join messages x on x.id = m.message_id join identities i on i.id = x.identity_id where i.external_id = 'Ustuck' and m.attempts >= 1 and m.reason is not null`).length > 0, {
      timeoutMs: 20_000, intervalMs: 50, description: 'first fetch failed',
    });
    expect(await t.events(`${t.prefix}.v1.evt.message.in.line.acme-line`, { timeoutMs: 300 }).then((events) => events.filter((e) => e.data.contact.identity.externalId === 'Ustuck'))).toHaveLength(0);
    clock.advance(MEDIA_HOLD_MS + 1_000);
    const events = await inboundOf('Ustuck', 2);
    expect(events[0]!.data.parts[0]).toMatchObject({ type: 'image', media: { status: 'failed', reason: 'channel_unavailable', details: { code: 'channel_unavailable', status: 500, expired: true } } });
    expect(events[1]!.data.parts[0]).toMatchObject({ type: 'text', text: 'did you get my photo?' });
  });
});
