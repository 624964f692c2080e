/**
 * No failure of one request, command or background job ends the process: each entry point
 * (HTTP `/v1`, NATS request/reply, the command stream, the outbox relay, the media worker, a
 * sender) is fed something that fails in an unplanned way, and the daemon must answer what it
 * can and keep serving. The daemon runs in the test process, so an unhandled rejection or an
 * uncaught exception would also fail the run itself.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jetstream } from '@nats-io/jetstream';
import { z } from 'zod';
import { channels } from '../../src/channels/index.ts';
import type { DaemonExtension } from '../../src/core/daemon.ts';
import { mountHttp, serveOverNats, type Operation } from '../../src/core/api/operations.ts';
import { createOutbound } from '../../src/outbound/index.ts';
import { contactsExtension } from '../../src/merge/extension.ts';
import { ManualClock } from '../../src/core/clock.ts';
import { API_TOKEN, startTestDaemon, whatsappAccountYaml, type TestDaemon } from '../support/daemon.ts';
import { waitFor } from '../support/services.ts';
import { insertOutboxRow } from '../support/outbox.ts';
import { FAST } from '../outbound/helpers.ts';
import { accept, testChannel, testChannelDefinition, testChannelYaml, type SendBehaviour } from '../outbound/test-channel.ts';

const ACCOUNT = 'tc-crash';
let t: TestDaemon;
let serving: { stop(): Promise<void> } | null = null;

/** Fails every way a careless handler can: a thrown string, and a schema that throws. */
const throwsString: Operation = {
  endpoint: 'contactGet',
  schema: z.object({ mode: z.string() }),
  handle: async () => {
    throw 'not even an Error';
  },
};
const schemaThrows: Operation = {
  endpoint: 'contactFind',
  schema: z.unknown().transform(() => {
    throw new TypeError('a schema that throws');
  }),
  handle: async () => ({}),
};

const faults: DaemonExtension = {
  mountApi(api, daemon) {
    mountHttp(api, 'post', '/test/throws', throwsString, daemon.logger);
    mountHttp(api, 'post', '/test/schema-throws', schemaThrows, daemon.logger);
    api.get('/test/route-throws', () => {
      throw new TypeError('a route that throws');
    });
  },
  async start(daemon) {
    const base = `${daemon.config.daemon.nats.prefix}.test`;
    serving = serveOverNats(daemon.bus!.nc, { contactGet: `${base}.throws`, contactFind: `${base}.schema` } as never, [throwsString, schemaThrows], daemon.logger, daemon.apiLimiter);
  },
  async stop() {
    await serving?.stop();
  },
};

beforeAll(async () => {
  t = await startTestDaemon({
    clock: new ManualClock(Date.now()),
    accounts: { 'acme-wa.yaml': whatsappAccountYaml(), [`${ACCOUNT}.yaml`]: testChannelYaml(ACCOUNT) },
    extra: {
      extensions: [createOutbound({ settings: FAST }), contactsExtension(), faults],
      watch: false,
      channels: new Map([...channels, ['testchan', testChannelDefinition()]]),
    },
  });
});
afterAll(async () => {
  testChannel.behave(ACCOUNT, null);
  await t?.stop();
});

/** The daemon still answers HTTP and NATS. */
async function alive(): Promise<void> {
  expect((await fetch(`${t.daemon.url}/healthz`)).status).toBe(200);
  const reply = await t.nc.request(`${t.prefix}.v1.api.contact.get`, JSON.stringify({ id: 'ct_nobody' }), { timeout: 10_000 });
  expect(reply.json()).toMatchObject({ ok: false, error: { code: 'unknown_contact' } });
}

async function post(path: string, body: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(`${t.daemon.url}/v1${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

/** A customer writes on the test channel, so a send has someone to go to. */
async function customer(from: string): Promise<void> {
  const response = await fetch(`${t.daemon.url}/webhooks/testchan/${ACCOUNT}`, { method: 'POST', body: testChannel.inbound(from) });
  expect(response.status).toBe(200);
}

describe('no request, command or job ends the daemon', () => {
  it('HTTP /v1: a handler throwing a string, a schema that throws, a route that throws → 500 internal', async () => {
    expect(await post('/test/throws', { mode: 'x' })).toMatchObject({ status: 500, body: { ok: false, error: { code: 'internal' } } });
    expect(await post('/test/schema-throws', {})).toMatchObject({ status: 500, body: { ok: false, error: { code: 'internal' } } });
    const route = await fetch(`${t.daemon.url}/v1/test/route-throws`, { headers: { authorization: `Bearer ${API_TOKEN}` } });
    expect(route.status).toBe(500);
    expect(await route.json()).toMatchObject({ error: { code: 'internal' } });
    await alive();
  });

  it('NATS request/reply: the same failures, and bodies that are not JSON, are answered {ok:false}', async () => {
    const ask = async (subject: string, data: string) => (await t.nc.request(`${t.prefix}.test.${subject}`, data, { timeout: 10_000 })).json<any>();
    expect(await ask('throws', JSON.stringify({ mode: 'x' }))).toMatchObject({ ok: false, error: { code: 'internal' } });
    expect(await ask('schema', '{}')).toMatchObject({ ok: false, error: { code: 'internal' } });
    expect(await ask('throws', '{not json')).toMatchObject({ ok: false, error: { code: 'invalid_request' } });
    // Published without a reply subject: nothing to answer, and nothing to crash on.
    t.nc.publish(`${t.prefix}.test.throws`, JSON.stringify({ mode: 'x' }));
    await alive();
  });

  it('command stream: commands that are not JSON, not objects or nonsense are refused; the next one is sent', async () => {
    const js = jetstream(t.nc);
    for (const junk of ['{not json', 'null', '[]', '"text"', JSON.stringify({ account: 5, to: { toString: 1 }, parts: 'x' })]) {
      await js.publish(`${t.prefix}.v1.cmd.send`, junk);
    }
    await customer('cmd-1');
    const before = testChannel.calls(ACCOUNT).length;
    await js.publish(`${t.prefix}.v1.cmd.send`, JSON.stringify({ idempotencyKey: `ok-${Date.now()}`, account: ACCOUNT, to: { externalId: 'cmd-1' }, parts: [{ type: 'text', text: 'after the junk' }] }));
    await waitFor(() => testChannel.calls(ACCOUNT).length > before, { description: 'the good command sent' });
    await alive();
  });

  it('senders: a platform call throwing a string, null or synchronously costs that attempt only', async () => {
    await customer('send-1');
    const throwing: SendBehaviour[] = [
      async () => {
        throw 'a string';
      },
      async () => {
        throw null;
      },
      (() => {
        throw new TypeError('thrown before any promise');
      }) as unknown as SendBehaviour,
    ];
    for (const behaviour of throwing) {
      testChannel.behave(ACCOUNT, behaviour);
      const calls = testChannel.calls(ACCOUNT).length;
      const sent = await post('/messages', { idempotencyKey: `bad-${Date.now()}-${Math.random()}`, account: ACCOUNT, to: { externalId: 'send-1' }, parts: [{ type: 'text', text: 'x' }] });
      expect(sent.status).toBe(200);
      await waitFor(() => testChannel.calls(ACCOUNT).length > calls, { description: 'the failing platform call made' });
    }
    testChannel.behave(ACCOUNT, accept);
    const good = await post('/messages', { idempotencyKey: `good-${Date.now()}`, account: ACCOUNT, to: { externalId: 'send-1' }, parts: [{ type: 'text', text: 'fine' }] });
    await waitFor(async () => {
      const [row] = await t.sql!`select status from messages where id = ${good.body.messageId}`;
      return ['sent', 'delivered', 'read'].includes(row?.status);
    }, { description: 'the good send went out' });
    await alive();
  });

  it('media worker: a media row nobody can fetch fails alone', async () => {
    const id = `med_crash${Date.now()}`;
    await t.sql!`
      insert into media (id, message_id, part_index, channel, account, source_ref, status, next_attempt_at, created_at, updated_at)
      values (${id}, 'msg_none', 0, 'testchan', ${ACCOUNT}, ${t.sql!.json('not a reference' as never)}, 'pending', now(), now(), now())`;
    t.daemon.mediaWorker.notify();
    await waitFor(async () => {
      const [row] = await t.sql!`select attempts from media where id = ${id}`;
      return Number(row?.attempts) > 0;
    }, { description: 'the bad media row tried' });
    await alive();
  });

  it('outbox relay: an event no stream takes fails alone; publishing carries on once it is gone', async () => {
    const failures = async () => (await t.daemon.metrics.outboxPublishFailures.get()).values[0]?.value ?? 0;
    const before = await failures();
    await insertOutboxRow(t.sql!, { subject: `${t.prefix}.nowhere.at.all`, msgId: `crash-${Date.now()}`, payload: { schema: 'none' }, orderingKey: 'crash-test' });
    t.daemon.relay.notify();
    await waitFor(async () => (await failures()) > before, { description: 'the relay failed on the bad row' });
    await t.sql!`delete from outbox where ordering_key = 'crash-test'`;
    await customer('relay-1');
    await waitFor(async () => {
      const [row] = await t.sql!`select count(*)::int as n from outbox_unpublished`;
      return row?.n === 0;
    }, { description: 'the outbox drained' });
    await alive();
  });
});
