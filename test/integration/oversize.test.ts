/**
 * One oversized event never stops publishing. Sends over a channel's text limits are refused at
 * acceptance (HTTP and the command stream alike); events larger than the server's max_payload
 * (a 3 MB inbound text, a 1.2 MB send on a channel without declared limits) are published
 * bounded, with the whole message at GET /v1/messages/{id}; rows that can never be published are
 * dead-lettered and skipped. Every case is followed by a normal message that must be published.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_TOKEN, WA, whatsappAccountYaml } from '../support/daemon.ts';
import { createTestDatabase, natsUrl, tempDir, uniquePrefix, waitFor } from '../support/services.ts';
import { testWamid, textWebhookBody } from '../support/traffic.ts';
import { insertOutboxRow } from '../support/outbox.ts';
import { messageEventSchema, deadletterEventSchema } from '../../src/core/schemas/events.ts';
import { customerWrites, httpGet, httpSend, newCustomer, publishCommand, startOutbound, testCustomerWrites, textCommand, type OutboundTest } from '../outbound/helpers.ts';
import { testChannelYaml } from '../outbound/test-channel.ts';

const MB = 1024 * 1024;
const BIG = 'tc-big';

let o: OutboundTest;
let drop: () => Promise<void>;

beforeAll(async () => {
  // A config written by hand: the body limit is raised so a 3 MB webhook is accepted.
  const dir = await tempDir();
  const prefix = uniquePrefix();
  const database = await createTestDatabase();
  drop = database.drop;
  await mkdir(path.join(dir, 'channels'), { recursive: true });
  await writeFile(
    path.join(dir, 'omnibus.yaml'),
    [
      `http: { host: 127.0.0.1, port: 0, bodyLimitBytes: ${8 * MB} }`,
      `nats: { url: "${natsUrl()}", prefix: ${prefix} }`,
      `database: { url: "${database.url}" }`,
      `dataDir: "${path.join(dir, 'data')}"`,
      `api: { tokens: [{ token: ${API_TOKEN}, scopes: [read, write] }], bodyLimitBytes: ${8 * MB} }`,
      `log: { level: ${process.env.OMNIBUS_TEST_LOG ?? 'silent'} }`,
      'sandbox: true',
    ].join('\n') + '\n',
  );
  await writeFile(path.join(dir, 'channels', 'acme-wa.yaml'), whatsappAccountYaml());
  await writeFile(path.join(dir, 'channels', `${BIG}.yaml`), testChannelYaml(BIG));
  o = await startOutbound({ dir, prefix, databaseUrl: database.url });
}, 60_000);

afterAll(async () => {
  await o?.stop();
  await drop?.();
});

const subject = (kind: string, channel = 'whatsapp', account = WA.account) => `${o.t.prefix}.v1.evt.message.${kind}.${channel}.${account}`;

/** The event of a message on a subject, waiting until it is on the stream. */
async function eventOf(filter: string, messageId: string): Promise<any> {
  return waitFor(async () => (await o.t.events(filter, { timeoutMs: 500 })).find((event) => event.data.id === messageId)?.data ?? null, {
    timeoutMs: 20_000,
    description: `event of ${messageId} on ${filter}`,
  });
}

/** Sends a normal text over HTTP and waits for its message.out event: publishing still flows. */
async function normalSendIsPublished(to: string, key: string): Promise<void> {
  const sent = await httpSend(o, textCommand(key, to, 'a normal message'));
  expect(sent.status).toBe(200);
  const event = await eventOf(subject('out'), sent.json.messageId);
  expect(event.parts).toEqual([{ type: 'text', text: 'a normal message' }]);
}

describe('oversized sends are refused at acceptance', () => {
  it('HTTP: a 1.2 MB text and texts or captions over WhatsApp\'s limits get invalid_request naming the limit', async () => {
    const customer = newCustomer();
    await customerWrites(o, customer);
    const huge = await httpSend(o, textCommand('big-http-1', customer, 'x'.repeat(1_200_000)));
    expect(huge.status).toBeGreaterThanOrEqual(400);
    expect(huge.status).toBeLessThan(500);

    const long = await httpSend(o, textCommand('big-http-2', customer, 'y'.repeat(4097)));
    expect(long.status).toBe(400);
    expect(long.json.error).toMatchObject({ code: 'invalid_request', details: { field: 'parts[0].text', limit: 4096, unit: 'chars', length: 4097 } });
    expect(long.json.error.message).toContain('4096');

    const atLimit = await httpSend(o, textCommand('big-http-3', customer, 'z'.repeat(4096)));
    expect(atLimit.status).toBe(200);

    const caption = await httpSend(o, {
      ...textCommand('big-http-4', customer),
      parts: [{ type: 'image', media: { base64: 'iVBORw0KGgo=' }, caption: 'c'.repeat(1025) }],
    });
    expect(caption.json.error).toMatchObject({ code: 'invalid_request', details: { field: 'parts[0].caption', limit: 1024 } });
    await normalSendIsPublished(customer, 'big-http-after');
  });

  it('command stream: a 600 KB command is refused with the same check, and the refusal is published', async () => {
    const customer = newCustomer();
    await customerWrites(o, customer);
    await publishCommand(o, textCommand('big-cmd-1', customer, 'w'.repeat(600_000)));
    const refusal = await waitFor(
      async () => (await o.t.events(subject('status'), { timeoutMs: 500 })).find((event) => event.data.idempotencyKey === 'big-cmd-1')?.data ?? null,
      { timeoutMs: 20_000, description: 'refusal of big-cmd-1' },
    );
    expect(refusal).toMatchObject({ status: 'failed', error: { code: 'invalid_request', details: { limit: 4096 } } });
    const [row] = await o.t.sql!`select count(*)::int as n from messages where raw->>'idempotencyKey' = 'big-cmd-1'`;
    expect(row!.n).toBe(0);
    await normalSendIsPublished(customer, 'big-cmd-after');
  });
});

describe('events larger than max_payload are published bounded', () => {
  it('a signed WhatsApp webhook with a 3 MB text: recorded, published bounded, whole at GET /v1/messages/{id}', async () => {
    const from = newCustomer();
    const text = 'é'.repeat(1.5 * MB); // 3 MB of UTF-8
    const wamid = testWamid('BIG');
    const answer = await o.t.postWhatsApp(textWebhookBody({ wamid, from, text }));
    expect(answer.status).toBe(200);
    const [row] = await o.t.sql!`select id from messages where external_id = ${wamid}`;
    const event = await eventOf(subject('in'), row!.id);
    expect(messageEventSchema.safeParse(event).success).toBe(true);
    expect(event.raw).toBeNull();
    expect(event.rawOmitted).toBe(true);
    expect(event.bounded).toMatchObject({ reason: 'max_payload', fetch: `/v1/messages/${row!.id}` });
    expect(event.parts[0]).toMatchObject({ type: 'text', truncated: true });
    expect(text.startsWith(event.parts[0].text)).toBe(true);
    expect(event.parts[0].text.length).toBeLessThan(text.length);

    const whole = await httpGet(o, row!.id);
    expect(whole.status).toBe(200);
    expect(whole.json.message.parts[0].text).toBe(text);
    // The outbox keeps the event whole.
    const [kept] = await o.t.sql!`select length(payload->'parts'->0->>'text')::int as n, dead_lettered_at from outbox where msg_id = ${row!.id + ':in'}`;
    expect(kept).toMatchObject({ n: text.length, dead_lettered_at: null });

    // The next customer message is published as usual.
    const next = testWamid('AFTER');
    expect((await o.t.postWhatsApp(textWebhookBody({ wamid: next, from, text: 'short one' }))).status).toBe(200);
    const [nextRow] = await o.t.sql!`select id from messages where external_id = ${next}`;
    const nextEvent = await eventOf(subject('in'), nextRow!.id);
    expect(nextEvent.bounded).toBeUndefined();
    expect(nextEvent.parts).toEqual([{ type: 'text', text: 'short one' }]);
  });

  it('a 1.2 MB send on a channel that declares no text limit is accepted and its message.out published bounded', async () => {
    const customer = 'big-customer-1';
    await testCustomerWrites(o, BIG, customer);
    const text = 'q'.repeat(1_200_000);
    const sent = await httpSend(o, { idempotencyKey: 'big-tc-1', account: BIG, to: { externalId: customer }, parts: [{ type: 'text', text }] });
    expect(sent.status).toBe(200);
    const event = await eventOf(subject('out', 'testchan', BIG), sent.json.messageId);
    expect(event).toMatchObject({ rawOmitted: true, raw: null, bounded: { fetch: `/v1/messages/${sent.json.messageId}` } });
    expect(event.parts[0].truncated).toBe(true);
    expect((await httpGet(o, sent.json.messageId)).json.message.parts[0].text).toBe(text);
    const after = await httpSend(o, { idempotencyKey: 'big-tc-2', account: BIG, to: { externalId: customer }, parts: [{ type: 'text', text: 'small' }] });
    const afterEvent = await eventOf(subject('out', 'testchan', BIG), after.json.messageId);
    expect(afterEvent.parts).toEqual([{ type: 'text', text: 'small' }]);
  });
});

describe('rows that can never be published are dead-lettered and skipped', () => {
  it('too large even bounded, an invalid subject, a subject no stream captures: marked, noticed, counted; the rows behind them go out', async () => {
    const from = newCustomer();
    const statusSubject = subject('status');
    const huge = { schema: 'omni.status/v1', channel: 'whatsapp', account: WA.account, status: 'failed', error: { code: 'internal', message: 'x', details: { blob: 'b'.repeat(2 * MB) } } };
    const at = o.clock.now();
    for (const row of [
      { subject: statusSubject, msgId: 'dl-too-large', payload: huge },
      { subject: `${o.t.prefix}.v1.evt.message.status.white space`, msgId: 'dl-bad-subject', payload: { schema: 'omni.status/v1' } },
      { subject: `${o.t.prefix}-old.v1.evt.message.status.whatsapp.acme-wa`, msgId: 'dl-no-stream', payload: { schema: 'omni.status/v1', channel: 'whatsapp', account: WA.account } },
    ]) {
      await insertOutboxRow(o.t.sql!, { ...row, orderingKey: 'dl-conv', createdAt: at });
    }
    const wamid = testWamid('DL');
    expect((await o.t.postWhatsApp(textWebhookBody({ wamid, from, text: 'behind the poison' }))).status).toBe(200);
    const [row] = await o.t.sql!`select id from messages where external_id = ${wamid}`;
    const event = await eventOf(subject('in'), row!.id);
    expect(event.parts).toEqual([{ type: 'text', text: 'behind the poison' }]);

    // The relay marks a batch's rows after publishing it: the event above can be on the stream
    // a moment before the dead letters of its batch are marked.
    const marked = await waitFor(
      async () => {
        const rows = await o.t.sql!`select msg_id, dead_letter_reason, dead_lettered_at is not null as dead, published_at is not null as done,
          length(payload::text) as size from outbox where msg_id like 'dl-%' order by msg_id`;
        return rows.every((r) => r.done) ? rows : null;
      },
      { timeoutMs: 20_000, description: 'the poison rows marked' },
    );
    expect(marked.map((r) => ({ msg_id: r.msg_id, dead_letter_reason: r.dead_letter_reason, dead: r.dead, done: r.done }))).toEqual([
      { msg_id: 'dl-bad-subject', dead_letter_reason: 'invalid_subject', dead: true, done: true },
      { msg_id: 'dl-no-stream', dead_letter_reason: 'no_stream', dead: true, done: true },
      { msg_id: 'dl-too-large', dead_letter_reason: 'too_large', dead: true, done: true },
    ]);
    expect(Number(marked[2]!.size)).toBeGreaterThan(2 * MB);

    const notices = await o.t.events(subject('deadletter'), { atLeast: 1 });
    const notice = notices.find((n) => n.msgId === 'dl-too-large:deadletter');
    expect(notice).toBeDefined();
    expect(deadletterEventSchema.safeParse(notice!.data).success).toBe(true);
    expect(notice!.data).toMatchObject({ error: { code: 'internal', details: { reason: 'too_large' } }, event: { subject: statusSubject, msgId: 'dl-too-large' } });
    expect(JSON.stringify(notice!.data)).not.toContain('bbbb');

    const metrics = await (await fetch(`${o.t.daemon.url}/metrics`)).text();
    expect(metrics).toMatch(/omnibus_outbox_dead_lettered_total\{reason="too_large"\} [1-9]/);
    expect(metrics).toMatch(/omnibus_outbox_dead_lettered_total\{reason="invalid_subject"\} [1-9]/);
    expect(metrics).toMatch(/omnibus_outbox_bounded_total [1-9]/);
  });
});

describe('a stuck outbox shows', () => {
  it('in /readyz and in omnibus_outbox_oldest_unpublished_age_seconds, and clears once published', async () => {
    await o.t.daemon.relay.stop();
    try {
      const old = new Date(Date.now() - 10 * 60_000);
      await insertOutboxRow(o.t.sql!, { subject: subject('status'), msgId: 'stuck-1', payload: { schema: 'omni.status/v1', channel: 'whatsapp', account: WA.account }, orderingKey: 'stuck', createdAt: old });
      const readiness = await o.t.daemon.readiness();
      expect(readiness.checks.outbox).toBe(false);
      expect(readiness.ready).toBe(false);
      expect(readiness.details?.outbox?.oldestUnpublishedAgeSeconds).toBeGreaterThanOrEqual(590);
      const readyz = await fetch(`${o.t.daemon.url}/readyz`);
      expect(readyz.status).toBe(503);
      expect(((await readyz.json()) as any).checks.outbox).toBe(false);
      const metrics = await (await fetch(`${o.t.daemon.url}/metrics`)).text();
      const age = Number(/^omnibus_outbox_oldest_unpublished_age_seconds (\S+)$/m.exec(metrics)?.[1]);
      expect(age).toBeGreaterThanOrEqual(590);
    } finally {
      o.t.daemon.relay.start();
    }
    await waitFor(async () => (await o.t.daemon.readiness()).ready, { timeoutMs: 20_000, description: 'ready once the outbox is published' });
    expect((await o.t.daemon.readiness()).checks.outbox).toBe(true);
  });
});
