/**
 * One bad item never costs its batch: a signed WhatsApp POST whose items carry a value no
 * database should take (a timestamp in year 33658) or that PostgreSQL refuses (a NUL in a text)
 * is answered 200, the rest is recorded, and the bad item is kept once as an inbound dead
 * letter with its own bytes and published on `evt.deadletter.in.<channel>.<account>`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inboundDeadletterEventSchema } from '../../src/core/schemas/events.ts';
import { WA, startTestDaemon, type TestDaemon } from '../support/daemon.ts';

let seq = 0;
const wamid = (tag: string) => `wamid.DL${tag}${Date.now()}${seq++}`;

function envelope(messages: Array<Record<string, unknown>>): any {
  return {
    object: 'whatsapp_business_account',
    entry: [
      {
        id: '102290129340398',
        changes: [
          {
            field: 'messages',
            value: {
              messaging_product: 'whatsapp',
              metadata: { display_phone_number: '15550783881', phone_number_id: WA.phoneNumberId },
              contacts: [{ profile: { name: 'Kerry Fisher' }, wa_id: '16315551234' }],
              messages: messages.map((m) => ({ from: '16315551234', timestamp: String(Math.floor(Date.now() / 1000)), type: 'text', ...m })),
            },
          },
        ],
      },
    ],
  };
}

describe('inbound dead letters', () => {
  let t: TestDaemon;
  beforeAll(async () => {
    t = await startTestDaemon();
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('a timestamp out of range beside a valid message: 200, the valid one recorded, the bad one dead-lettered once', async () => {
    const good = wamid('G');
    const bad = wamid('B');
    const body = envelope([
      { id: good, text: { body: 'valid' } },
      { id: bad, timestamp: '999999999999', text: { body: 'from the far future' } },
    ]);
    expect((await t.postWhatsApp(body)).status).toBe(200);
    // Meta redelivers: still one message, one dead letter, one event.
    expect((await t.postWhatsApp(body)).status).toBe(200);
    expect(await t.sql!`select 1 from messages where external_id = ${good}`).toHaveLength(1);
    expect(await t.sql!`select 1 from messages where external_id = ${bad}`).toHaveLength(0);
    const letters = await t.sql!`select id, reason, raw from inbound_dead_letters where dedupe_key = ${bad}`;
    expect(letters).toHaveLength(1);
    expect(letters[0]!.reason).toBe('bad_timestamp');
    const item = JSON.parse(Buffer.from(letters[0]!.raw as string, 'base64').toString('utf8'));
    expect(item.messages).toEqual([expect.objectContaining({ id: bad, timestamp: '999999999999' })]);
    expect(JSON.stringify(item)).not.toContain(good);

    const events = await t.events(`${t.prefix}.v1.evt.deadletter.in.whatsapp.${WA.account}`, { where: (e) => e.data.dedupeKey === bad });
    expect(events).toHaveLength(1);
    expect(events[0]!.data).toMatchObject({ schema: 'omni.deadletter.in/v1', id: letters[0]!.id, channel: 'whatsapp', account: WA.account, reason: 'bad_timestamp', rawEncoding: 'base64' });
    expect(inboundDeadletterEventSchema.parse(events[0]!.data)).toEqual(events[0]!.data);
    expect(Buffer.from(events[0]!.data.raw, 'base64').toString('utf8')).toContain(bad);
    const metrics = await (await fetch(`${t.daemon.url}/metrics`)).text();
    expect(metrics).toMatch(/omnibus_inbound_deadletters_total\{[^}]*reason="bad_timestamp"[^}]*\} 1/);
  });

  it('an item PostgreSQL refuses is retried alone and dead-lettered; the rest of the batch is recorded', async () => {
    const before = wamid('1');
    const refused = wamid('NUL');
    const after = wamid('2');
    // jsonb cannot hold U+0000: the insert of that one message fails with a data error.
    const body = envelope([
      { id: before, text: { body: 'first' } },
      { id: refused, text: { body: 'nul \u0000 inside' } },
      { id: after, text: { body: 'third' } },
    ]);
    expect((await t.postWhatsApp(body)).status).toBe(200);
    const stored = await t.sql!`select external_id from messages where external_id = any(${[before, refused, after]}) order by external_id`;
    expect(stored.map((r) => r.external_id).sort()).toEqual([before, after].sort());
    const letters = await t.sql!`select reason, raw from inbound_dead_letters where dedupe_key = ${refused}`;
    expect(letters).toHaveLength(1);
    expect(letters[0]!.reason).toBe('store_failed');
    expect(Buffer.from(letters[0]!.raw as string, 'base64').toString('utf8')).toContain(refused);
    // The recorded messages are published as usual; the dead letter is announced once.
    const inbound = await t.events(`${t.prefix}.v1.evt.message.in.whatsapp.${WA.account}`, { atLeast: 2, where: (e) => [before, after].includes(e.data.externalId) });
    expect(inbound).toHaveLength(2);
    const letter = await t.events(`${t.prefix}.v1.evt.deadletter.in.whatsapp.${WA.account}`, { where: (e) => e.data.dedupeKey === refused });
    expect(letter).toHaveLength(1);
    expect(letter[0]!.data.reason).toBe("store_failed");
  });
});
