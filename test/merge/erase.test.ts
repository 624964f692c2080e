/**
 * Erasure on the platform's request, through a real daemon (PostgreSQL, NATS, the WeChat
 * sandbox): a WeChat unsubscribe deletes that identity's messages, media (rows, and bytes no
 * other message shares), conversations, windows, aliases and the identity; a merged contact
 * keeps its other identities and their messages; a WeChat-only contact is gone; a redelivered
 * unsubscribe changes nothing; following again starts a fresh contact.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPush, eventXml, simulateInbound, type WeChatFake } from '../../src/channels/wechat/sandbox.ts';
import type { WebhookRequestSpec } from '../../src/core/adapter.ts';
import { ManualClock } from '../../src/core/clock.ts';
import { purgeUnreferencedMedia } from '../../src/core/media/purge.ts';
import { contactsExtension } from '../../src/merge/extension.ts';
import { API_TOKEN, WA, startTestDaemon, whatsappAccountYaml, type TestDaemon } from '../support/daemon.ts';
import { insertOutboxRow } from '../support/outbox.ts';
import { waitFor } from '../support/services.ts';
import { waitForOutboxDrained } from '../support/stream.ts';
import { testAccount } from '../channels/wechat/helpers.ts';
import { silentLogger } from '../conformance/fakes.ts';
import { api, contactEvents, graphViolations, postWa, waText } from './helpers.ts';

const wechat = testAccount({ id: 'acme-wechat', settings: { appId: 'wx0123456789abcdef' } });
const wechat2 = testAccount({ id: 'acme-wechat2', settings: { appId: 'wx2222222222222222' } });

function yaml(account: typeof wechat): string {
  const { appId, appSecret, token, encodingAesKey, mode } = account.settings;
  return [`id: ${account.id}`, 'channel: wechat', `appId: ${appId}`, `appSecret: ${appSecret}`, `token: ${token}`, `encodingAesKey: ${encodingAesKey}`, `mode: ${mode}`].join('\n') + '\n';
}

/** A complete 1×1 PNG; `tag` appended after IEND makes other bytes (another storage key) of the same type. */
function png(tag: string): Uint8Array {
  const base = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c626001000000ffff03000006000557bfabd40000000049454e44ae426082', 'hex');
  return new Uint8Array(Buffer.concat([base, Buffer.from(tag)]));
}

let t: TestDaemon;
let clock: ManualClock;
let fake: WeChatFake;
const post = async (spec: WebhookRequestSpec) => {
  const response = await fetch(`${t.daemon.url}${spec.path}`, { method: spec.method, headers: spec.headers, body: spec.body as string });
  await response.arrayBuffer();
  return response.status;
};
const tick = () => clock.advance(1_000);
const bytesPath = (key: string) => path.join(t.dir, 'data', 'media', key.slice(0, 2), key);

/** A text from a WeChat user; resolves once recorded. */
async function wechatText(from: string, text: string, account = wechat): Promise<void> {
  tick();
  expect(await post(simulateInbound(account, { from, text, timestamp: clock.now() }))).toBe(200);
}

/** An image from a WeChat user; resolves with its media row once its bytes are stored. */
async function wechatImage(from: string, bytes: Uint8Array): Promise<{ id: string; key: string }> {
  tick();
  const stored = fake.putMedia(bytes, 'image/png');
  expect(await post(simulateInbound(wechat, { from, media: { id: stored.id, mime: 'image/png' }, timestamp: clock.now() }))).toBe(200);
  return waitFor(
    async () => {
      const [row] = await t.sql!`select m.id, m.storage_key from media m where m.sha256 = ${stored.sha256} and m.status = 'ready'
        and m.message_id in (select id from messages where identity_id = (select id from identities where account = ${wechat.id} and external_id = ${from}))`;
      return row ? { id: row.id as string, key: row.storage_key as string } : null;
    },
    { timeoutMs: 20_000, intervalMs: 100, description: `media of ${from} stored` },
  );
}

function unsubscribe(from: string, account = wechat): WebhookRequestSpec {
  tick();
  return buildPush(account, eventXml(account, { from, event: 'unsubscribe', at: clock.now() }), { at: clock.now() });
}

async function identityOf(account: string, externalId: string): Promise<{ id: string; contact_id: string } | undefined> {
  const [row] = await t.sql!`select id, contact_id from identities where account = ${account} and external_id = ${externalId}`;
  return row as { id: string; contact_id: string } | undefined;
}

async function count(query: PromiseLike<readonly unknown[]>): Promise<number> {
  const [row] = (await query) as unknown as Array<{ n: number }>;
  return row!.n;
}

beforeAll(async () => {
  clock = new ManualClock(Date.now());
  t = await startTestDaemon({
    clock,
    accounts: { 'acme-wa.yaml': whatsappAccountYaml(), 'acme-wechat.yaml': yaml(wechat), 'acme-wechat2.yaml': yaml(wechat2) },
    extra: { extensions: [contactsExtension()] },
  });
  fake = t.daemon.fakes.get('wechat') as WeChatFake;
});
afterAll(async () => {
  await t?.stop();
});

describe('erase on unsubscribe', () => {
  it('deletes the WeChat identity of a merged contact and everything hanging off it; the WhatsApp side stays', async () => {
    const openId = 'oEraseMerged';
    await wechatText(openId, 'my address is 1 Secret Lane');
    const own = await wechatImage(openId, png('only-mine'));
    const sharedBytes = png('shared');
    const shared = await wechatImage(openId, sharedBytes);
    const other = await wechatImage('oSomeoneElse', sharedBytes);
    expect(other.key).toBe(shared.key);
    const wechatIdentity = (await identityOf(wechat.id, openId))!;
    await t.sql!`insert into identity_aliases (channel, account, alias, identity_id) values ('wechat', ${wechat.id}, 'oEraseMergedOld', ${wechatIdentity.id})`;
    const [conversation] = await t.sql!`select id from conversations where identity_id = ${wechatIdentity.id}`;
    expect(await count(t.sql!`select count(*)::int as n from session_windows where conversation_id = ${conversation!.id}`)).toBeGreaterThan(0);
    // An agent's answer (the other direction) with its receipt.
    await t.sql!`insert into messages (id, direction, channel, account, conversation_id, identity_id, external_id, dedupe_key, timestamp, received_at, parts, status)
      values ('msg_erase_out', 'out', 'wechat', ${wechat.id}, ${conversation!.id}, ${wechatIdentity.id}, 'cs:msg_erase_out', 'out:msg_erase_out', now(), now(), '[{"type":"text","text":"we know where you live"}]', 'sent')`;
    await t.sql!`insert into status_receipts (channel, account, dedupe_key, external_id, status, at, message_id) values ('wechat', ${wechat.id}, 'r:erase', 'cs:msg_erase_out', 'sent', now(), 'msg_erase_out')`;

    tick();
    const wa = waText({ from: '16315550100', name: 'Kerry', text: 'hi from WhatsApp', at: clock.now() });
    expect(await postWa(t, wa.body)).toBe(200);
    const waIdentity = (await identityOf(WA.account, '16315550100'))!;
    const merged = await api(t, 'POST', `/contacts/${wechatIdentity.contact_id}/merge`, { otherId: waIdentity.contact_id });
    expect(merged.status).toBe(200);
    const survivor = merged.body.contact.id as string;
    expect(survivor).toBe(wechatIdentity.contact_id); // the older (WeChat) contact survives
    await waitForOutboxDrained(t.sql!);
    const updatedBefore = (await contactEvents(t, 'updated')).filter((e) => e.data.contact.id === survivor).length;
    // An event the relay has not published yet (held, as while media is fetched): it must never be.
    await insertOutboxRow(t.sql!, {
      subject: `${t.prefix}.v1.evt.message.out.wechat.${wechat.id}`,
      msgId: 'msg_erase_out:out',
      payload: { text: 'we know where you live' },
      orderingKey: conversation!.id,
      held: true,
    });

    const bye = unsubscribe(openId);
    expect(await post(bye)).toBe(200);

    const ownMessages = t.sql!`select count(*)::int as n from messages where identity_id = ${wechatIdentity.id} or conversation_id = ${conversation!.id}`;
    expect(await count(ownMessages)).toBe(0);
    expect(await count(t.sql!`select count(*)::int as n from media where id in (${own.id}, ${shared.id})`)).toBe(0);
    expect(await count(t.sql!`select count(*)::int as n from media where id = ${other.id}`)).toBe(1);
    expect(await count(t.sql!`select count(*)::int as n from status_receipts where dedupe_key = 'r:erase'`)).toBe(0);
    expect(await count(t.sql!`select count(*)::int as n from conversations where id = ${conversation!.id}`)).toBe(0);
    expect(await count(t.sql!`select count(*)::int as n from session_windows where conversation_id = ${conversation!.id}`)).toBe(0);
    expect(await count(t.sql!`select count(*)::int as n from identity_aliases where identity_id = ${wechatIdentity.id}`)).toBe(0);
    expect(await count(t.sql!`select count(*)::int as n from identities where id = ${wechatIdentity.id}`)).toBe(0);
    // Nothing of the conversation waits to be published; of what was published only session
    // events (ids and times, no content) stay until the relay prunes them.
    const left = await t.sql!`select msg_id, subject, id in (select id from outbox_unpublished) as pending from outbox where ordering_key = ${conversation!.id} or msg_id like 'msg_erase_out:%' or msg_id like 'msg_%' and payload::text like '%Secret Lane%'`;
    expect(left.filter((row) => row.pending || !String(row.subject).includes('.evt.session.'))).toEqual([]);
    // Bytes only this person sent are deleted after commit; bytes another message shares stay.
    await waitFor(() => !existsSync(bytesPath(own.key)), { timeoutMs: 5_000, description: 'unshared bytes deleted' });
    expect(existsSync(bytesPath(shared.key))).toBe(true);
    // Whenever the background purge reaches the shared key, it keeps it: another row names it.
    const again = await purgeUnreferencedMedia(t.daemon.database.db, t.daemon.store, [shared.key], silentLogger());
    expect(again).toEqual({ deleted: 0, kept: 1, failed: 0 });
    expect(existsSync(bytesPath(shared.key))).toBe(true);
    expect((await fetch(`${t.daemon.url}/v1/media/${own.id}`, { headers: { authorization: `Bearer ${API_TOKEN}` } })).status).toBe(404);

    // The contact stays with its WhatsApp identity and messages; both ids still resolve to it.
    const profile = await api(t, 'GET', `/contacts/${waIdentity.contact_id}`);
    expect(profile.status).toBe(200);
    expect(profile.body.contact.id).toBe(survivor);
    expect(profile.body.contact.identities.map((i: any) => [i.channel, i.externalId])).toEqual([['whatsapp', '16315550100']]);
    expect(profile.body.contact.phones).toEqual(['+16315550100']);
    const timeline = await api(t, 'GET', `/contacts/${survivor}/timeline`);
    expect(timeline.body.messages.map((m: any) => m.channel)).toEqual(['whatsapp']);
    expect(JSON.stringify(timeline.body)).not.toContain('Secret Lane');
    for (const externalId of [openId, 'oEraseMergedOld']) {
      expect((await api(t, 'GET', `/contacts?channel=wechat&account=${wechat.id}&externalId=${externalId}`)).body.contacts).toEqual([]);
    }
    const merges = (await api(t, 'GET', `/contacts/${survivor}/merges`)).body.merges;
    expect(merges).toHaveLength(1);
    expect(merges[0].identities).toEqual([{ channel: 'whatsapp', account: WA.account, externalId: '16315550100' }]);

    // One contact.updated, without the identity; nothing of the erased conversation published after.
    const updated = (await contactEvents(t, 'updated')).filter((e) => e.data.contact.id === survivor);
    expect(updated).toHaveLength(updatedBefore + 1);
    expect(updated.at(-1)!.data.contact.identities.map((i: any) => i.channel)).toEqual(['whatsapp']);
    const published = await t.events(`${t.prefix}.v1.evt.>`, { atLeast: 0, timeoutMs: 0 });
    expect(published.some((e) => e.msgId === 'msg_erase_out:out')).toBe(false);

    // A redelivered unsubscribe is a no-op: nothing created, nothing announced.
    expect(await post(bye)).toBe(200);
    expect(await identityOf(wechat.id, openId)).toBeUndefined();
    expect((await contactEvents(t, 'updated')).filter((e) => e.data.contact.id === survivor)).toHaveLength(updatedBefore + 1);
    expect(await graphViolations(t.sql!)).toEqual([]);
  });

  it("takes the unpublished edited and deleted events of the person's messages with it, also where another conversation holds them", async () => {
    const openId = 'oEraseEdited';
    await wechatText(openId, 'first words');
    await wechatText('oEditNeighbour', 'hello from the neighbour');
    const identity = (await identityOf(wechat.id, openId))!;
    const [mine] = await t.sql!`select id from messages where identity_id = ${identity.id}`;
    const neighbour = (await identityOf(wechat.id, 'oEditNeighbour'))!;
    const [shared] = await t.sql!`select id from conversations where identity_id = ${neighbour.id}`;
    const [theirs] = await t.sql!`select id from messages where identity_id = ${neighbour.id}`;
    // As in a group: the person's message lives in a conversation that is not their own.
    await t.sql!`update messages set conversation_id = ${shared!.id} where id = ${mine!.id}`;
    await waitForOutboxDrained(t.sql!);
    const row = (msgId: string, text: string) =>
      insertOutboxRow(t.sql!, { subject: `${t.prefix}.v1.evt.message.edited.wechat.${wechat.id}`, msgId, payload: { parts: [{ type: 'text', text }] }, orderingKey: shared!.id, held: true });
    await row(`${mine!.id}:edited:aaaa`, 'my new address is 2 Secret Lane');
    await row(`${mine!.id}:edited:bbbb`, 'no, 3 Secret Lane');
    await row(`${mine!.id}:deleted`, '');
    await row(`${theirs!.id}:edited:cccc`, 'the neighbour edits');

    expect(await post(unsubscribe(openId))).toBe(200);
    const left = await t.sql!`select msg_id from outbox_unpublished where ordering_key = ${shared!.id} order by msg_id`;
    expect(left.map((r) => r.msg_id)).toEqual([`${theirs!.id}:edited:cccc`]);
    expect(await count(t.sql!`select count(*)::int as n from outbox where payload::text like '%Secret Lane%'`)).toBe(0);
    await t.sql!`delete from outbox where ordering_key = ${shared!.id} and id in (select id from outbox_unpublished)`;
  });

  it('deletes a WeChat-only contact (404 everywhere, one tombstone event); following again starts a new contact', async () => {
    const openId = 'oEraseAlone';
    await wechatText(openId, 'hello');
    await wechatText(openId, 'bye');
    const before = (await identityOf(wechat.id, openId))!;
    await waitForOutboxDrained(t.sql!);

    expect(await post(unsubscribe(openId))).toBe(200);
    for (const route of [`/contacts/${before.contact_id}`, `/contacts/${before.contact_id}/timeline`, `/contacts/${before.contact_id}/merges`]) {
      const answer = await api(t, 'GET', route);
      expect(answer.status, route).toBe(404);
      expect(answer.body.error.code).toBe('unknown_contact');
    }
    expect((await api(t, 'GET', `/contacts?channel=wechat&account=${wechat.id}&externalId=${openId}`)).body.contacts).toEqual([]);
    expect(await count(t.sql!`select count(*)::int as n from contacts where id = ${before.contact_id}`)).toBe(0);
    const tombstones = (await contactEvents(t, 'updated')).filter((e) => e.data.contact.id === before.contact_id);
    expect(tombstones).toHaveLength(1);
    expect(tombstones[0]!.data.contact).toMatchObject({ identities: [], displayName: null, phones: [], emails: [], attributes: {} });
    // No identity left behind, not even an empty one.
    expect(await graphViolations(t.sql!)).toEqual([]);

    tick();
    const follow = buildPush(wechat, eventXml(wechat, { from: openId, event: 'subscribe', at: clock.now() }), { at: clock.now() });
    expect(await post(follow)).toBe(200);
    const after = (await identityOf(wechat.id, openId))!;
    expect(after.id).not.toBe(before.id);
    expect(after.contact_id).not.toBe(before.contact_id);
    const fresh = await api(t, 'GET', `/contacts/${after.contact_id}`);
    expect(fresh.status).toBe(200);
    expect(fresh.body.contact.identities.map((i: any) => i.externalId)).toEqual([openId]);
    const messages = (await api(t, 'GET', `/contacts/${after.contact_id}/timeline`)).body.messages;
    expect(messages.map((m: any) => m.parts[0].type)).toEqual(['unsupported']); // the follow only, none of the old texts
  });

  it('scrubs a UnionID from the merge log once no identity of the contact carries it', async () => {
    const openId = 'oEraseUnion';
    // The fake must know the user for user/info to answer with the UnionID (the daemon asks after recording).
    for (const account of [wechat, wechat2]) {
      tick();
      const spec = simulateInbound(account, { from: openId, text: `hi ${account.id}`, timestamp: clock.now() });
      fake.observe(spec);
      expect(await post(spec)).toBe(200);
    }
    const merged = await waitFor(
      async () => {
        const rows = await t.sql!`select contact_id from identities where external_id = ${openId} and evidence <> '[]'::jsonb`;
        return rows.length === 2 && rows[0]!.contact_id === rows[1]!.contact_id ? (rows[0]!.contact_id as string) : null;
      },
      { timeoutMs: 15_000, intervalMs: 100, description: 'UnionID merge of the two accounts' },
    );
    tick();
    expect(await postWa(t, waText({ from: '16315550177', text: 'hello', at: clock.now() }).body)).toBe(200);
    const waContact = (await identityOf(WA.account, '16315550177'))!.contact_id;
    expect((await api(t, 'POST', `/contacts/${merged}/merge`, { otherId: waContact })).status).toBe(200);
    const unionEntry = async () => ((await api(t, 'GET', `/contacts/${merged}/merges`)).body.merges as any[]).find((m) => m.evidence.type === 'wechat_unionid');
    const unionId = (await unionEntry()).evidence.value as string;
    expect(unionId).toMatch(/^o6_bm/);

    // The second official account's identity still carries the UnionID: the entry keeps it.
    expect(await post(unsubscribe(openId, wechat))).toBe(200);
    expect((await unionEntry()).evidence).toEqual({ type: 'wechat_unionid', value: unionId });
    expect(await post(unsubscribe(openId, wechat2))).toBe(200);
    expect((await unionEntry()).evidence).toEqual({ type: 'wechat_unionid' });
    const [log] = await t.sql!`select count(*)::int as n from merge_log where evidence::text like ${`%${unionId}%`} or before::text like ${`%${unionId}%`}`;
    expect(log!.n).toBe(0);
    const profile = (await api(t, 'GET', `/contacts/${merged}`)).body.contact;
    expect(profile.identities.map((i: any) => i.channel)).toEqual(['whatsapp']);
    expect(await graphViolations(t.sql!)).toEqual([]);
  });
});
