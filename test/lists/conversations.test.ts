/**
 * Listing conversations (`GET /v1/conversations`, `api.conversation.list`) with their window
 * now (open with its end and messages left, closed since, none), open first; a conversation's
 * messages (`GET /v1/conversations/{id}/messages`, `api.conversation.messages`) newest first
 * in the view of `message.get`, paged while messages arrive; and a send's `metadata` carried
 * onto the stored message, its `message.out` event and both reads, with its caps.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { conversationListAnswerSchema, conversationMessagesAnswerSchema, SEND_METADATA_LIMITS } from '../../src/core/schemas/api.ts';
import { messageEventSchema } from '../../src/core/schemas/events.ts';
import { WA } from '../support/daemon.ts';
import { waitForOutboxDrained } from '../support/stream.ts';
import { httpSend, testCustomerWrites, textCommand } from '../outbound/helpers.ts';
import { waitFor } from '../support/services.ts';
import { ask, call, everyPage, startLists, writes, type ListsTest } from './helpers.ts';

let o: ListsTest;
const DAY = 24 * 3600_000;

beforeAll(async () => {
  o = await startLists({ testAccounts: { 'tc-free': {}, 'tc-quota': { session: '{ window: 24h }' } }, testQuota: 5 });
});
afterAll(async () => {
  await o?.stop();
});

const conversations = async (query: string) => {
  const { status, body } = await call(o, 'GET', `/conversations${query}`);
  expect(status, query).toBe(200);
  expect(() => conversationListAnswerSchema.parse(body)).not.toThrow();
  return body as { items: any[]; nextCursor: string | null };
};
const messagesOf = async (id: string, query = '') => {
  const { status, body } = await call(o, 'GET', `/conversations/${id}/messages${query}`);
  expect(status, query).toBe(200);
  expect(() => conversationMessagesAnswerSchema.parse(body)).not.toThrow();
  return body as { items: any[]; nextCursor: string | null };
};

describe('conversation list', () => {
  it('puts open windows first, says until when, since when closed, or that there is none', async () => {
    const closed = await writes(o, '16315550201', 'an old question', 'Old Customer');
    o.clock.advance(DAY + 60_000);
    const open = await writes(o, '16315550202', 'a new question', 'New Customer');
    const free = await testCustomerWrites(o, 'tc-free', 'free-1');
    const quota = await testCustomerWrites(o, 'tc-quota', 'quota-1');
    // The closed one wrote last of all on WhatsApp, and still comes after the open ones.
    o.clock.advance(1_000);
    const page = await conversations('');
    const byId = new Map(page.items.map((item) => [item.id, item]));
    const order = page.items.map((item) => item.id);
    expect(order.indexOf(open.conversationId)).toBeLessThan(order.indexOf(closed.conversationId));
    expect(order.indexOf(quota.conversationId)).toBeLessThan(order.indexOf(free.conversationId));
    expect(byId.get(open.conversationId)).toMatchObject({
      channel: 'whatsapp',
      account: WA.account,
      kind: 'direct',
      contactId: open.contactId,
      window: { state: 'open', window: '24h' },
    });
    expect(byId.get(open.conversationId).identityId).toMatch(/^idn_/);
    expect(Date.parse(byId.get(open.conversationId).window.expiresAt)).toBeGreaterThan(o.clock.now().getTime());
    expect(byId.get(closed.conversationId).window).toMatchObject({ state: 'closed', window: '24h' });
    expect(Date.parse(byId.get(closed.conversationId).window.closedSince)).toBeLessThanOrEqual(o.clock.now().getTime());
    expect(byId.get(free.conversationId).window).toEqual({ state: 'none', window: 'none' });
    expect(byId.get(quota.conversationId).window).toMatchObject({ state: 'open', messagesLeft: 5 });
  });

  it('filters by contact (also by a merged-away id) and by account', async () => {
    const a = await writes(o, '16315550203', 'one', 'Twin One');
    const b = await testCustomerWrites(o, 'tc-free', 'twin-2');
    expect((await call(o, 'POST', `/contacts/${a.contactId}/merge`, { otherId: b.contactId, survivorId: a.contactId })).status).toBe(200);
    for (const id of [a.contactId, b.contactId]) {
      const page = await conversations(`?contactId=${id}`);
      expect(page.items.map((item) => item.id).sort()).toEqual([a.conversationId, b.conversationId].sort());
      expect(page.items.every((item) => item.contactId === a.contactId)).toBe(true);
    }
    expect((await conversations(`?contactId=${a.contactId}&account=tc-free`)).items.map((item) => item.id)).toEqual([b.conversationId]);
    expect((await conversations('?account=tc-free')).items.every((item) => item.account === 'tc-free')).toBe(true);
    expect(await call(o, 'GET', '/conversations?contactId=ct_nobody')).toMatchObject({ status: 404, body: { error: { code: 'unknown_contact' } } });
  });

  it('pages without repeats as windows close and messages arrive, the same over NATS', async () => {
    const all = (await conversations('')).items.map((item) => item.id);
    expect(all.length).toBeGreaterThan(4);
    const first = await conversations('?limit=2');
    // Every open window closes and one more customer writes before the next page.
    o.clock.advance(2 * DAY);
    await writes(o, '16315550299', 'late', 'Late Customer');
    const seen = first.items.map((item) => item.id);
    let cursor = first.nextCursor;
    while (cursor) {
      const page = await conversations(`?limit=2&cursor=${cursor}`);
      seen.push(...page.items.map((item) => item.id));
      cursor = page.nextCursor;
    }
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.sort()).toEqual([...all].sort());
    const http = await everyPage(async (c) => conversations(`?limit=3${c ? `&cursor=${c}` : ''}`), 3);
    const viaNats = await everyPage(async (c) => {
      const answer = await ask(o, 'conversation.list', { limit: 3, ...(c ? { cursor: c } : {}) });
      expect(answer.ok).toBe(true);
      return answer;
    }, 3);
    expect(viaNats.items.map((item) => item.id)).toEqual(http.items.map((item) => item.id));
    for (const query of ['?limit=0', '?cursor=bm9wZQ', '?contactId=cv_1', '?q=x']) {
      expect((await call(o, 'GET', `/conversations${query}`)).status, query).toBe(400);
    }
  });
});

describe('a conversation\'s messages and send metadata', () => {
  it('pages newest first, as message.get shows each, never repeating or skipping while messages arrive', async () => {
    const { conversationId } = await writes(o, '16315550301', 'm0', 'Paging Customer');
    for (let i = 1; i < 5; i++) await writes(o, '16315550301', `m${i}`, 'Paging Customer');
    o.clock.advance(1_000);
    const sent = await httpSend(o, textCommand('lists-reply-1', '16315550301', 'the answer', { metadata: { agentId: 'agent-7', ticketId: 'T-812', queue: 'billing', priority: 2 } }));
    expect(sent.status).toBe(200);
    const first = await messagesOf(conversationId, '?limit=2');
    expect(first.items.map((item) => item.message.parts[0].text)).toEqual(['the answer', 'm4']);
    // Arriving now: before the first page, not in the pages after it.
    await writes(o, '16315550301', 'm5', 'Paging Customer');
    const seen = [...first.items];
    let before = first.nextCursor;
    while (before) {
      const page = await messagesOf(conversationId, `?limit=2&before=${before}`);
      seen.push(...page.items);
      before = page.nextCursor;
    }
    expect(seen.map((item) => item.message.parts[0].text)).toEqual(['the answer', 'm4', 'm3', 'm2', 'm1', 'm0']);
    // Each item is the view message.get gives (read again once the send settled: status, platform id).
    await waitFor(async () => {
      const [row] = await o.t.sql!`select external_id from messages where id = ${sent.json.messageId}`;
      return row?.external_id ?? null;
    }, { description: 'the reply sent' });
    const settled = await everyPage(async (c) => messagesOf(conversationId, `?limit=4${c ? `&before=${c}` : ''}`), 4);
    expect(settled.items.map((item) => item.message.parts[0].text)).toEqual(['m5', 'the answer', 'm4', 'm3', 'm2', 'm1', 'm0']);
    for (const item of settled.items) {
      const single = await call(o, 'GET', `/messages/${item.message.id}`);
      expect(item.message).toEqual(single.body.message);
      // Receipts keep arriving (delivered, read); the delivery's shape is the same.
      expect(Object.keys(item.delivery ?? {})).toEqual(Object.keys(single.body.delivery ?? {}));
      expect(() => messageEventSchema.parse(item.message)).not.toThrow();
    }
    expect(settled.items[1].delivery).toMatchObject({ status: expect.stringMatching(/^(sent|delivered|read)$/) });
    expect(settled.items[0].delivery).toBeNull();
    const latest = await messagesOf(conversationId, '?limit=1');
    expect(latest.items[0].message.parts[0].text).toBe('m5');
    // The same page over NATS and HTTP; a receipt (delivered, then read) may land between the
    // two reads, so compare once one pair of reads saw the same status.
    const samePage = await waitFor(async () => {
      const viaNats = await ask(o, 'conversation.messages', { conversationId, limit: 3 });
      const viaHttp = (await messagesOf(conversationId, '?limit=3')).items;
      return JSON.stringify(viaNats.items) === JSON.stringify(viaHttp) ? { viaNats: viaNats.items, viaHttp } : null;
    }, { description: 'the same page over NATS and HTTP' });
    expect(samePage.viaNats).toEqual(samePage.viaHttp);
    expect((await ask(o, 'conversation.messages', { conversationId: 'cv_nope' })).error.code).toBe('not_found');
    expect((await call(o, 'GET', `/conversations/${conversationId}/messages?before=bm9wZQ`)).status).toBe(400);
  });

  it('carries metadata onto the stored message, message.out and both reads', async () => {
    await writes(o, '16315550302', 'hello', 'Metadata Customer');
    const metadata = { agentId: 'agent-9', ticketId: 'T-900', tags: ['vip'], nested: { a: 1 } };
    o.clock.advance(1_000);
    const sent = await httpSend(o, textCommand('lists-meta-1', '16315550302', 'hi', { metadata }));
    expect(sent.status).toBe(200);
    const messageId = sent.json.messageId;
    expect((await call(o, 'GET', `/messages/${messageId}`)).body.message.metadata).toEqual(metadata);
    const [row] = await o.t.sql!`select metadata, conversation_id from messages where id = ${messageId}`;
    expect(row!.metadata).toEqual(metadata);
    expect((await messagesOf(row!.conversation_id, '?limit=1')).items[0].message.metadata).toEqual(metadata);
    await waitForOutboxDrained(o.t.sql!);
    const out = await o.t.events(`${o.t.prefix}.v1.evt.message.out.whatsapp.${WA.account}`, { atLeast: 1 });
    expect(out.find((event) => event.data.id === messageId)?.data.metadata).toEqual(metadata);
    // Over NATS too; and a send without metadata has none.
    const viaNats = await ask(o, 'send', textCommand('lists-meta-2', '16315550302', 'again', { metadata: { agentId: 'bot' } }));
    expect((await call(o, 'GET', `/messages/${viaNats.messageId}`)).body.message.metadata).toEqual({ agentId: 'bot' });
    const plain = await httpSend(o, textCommand('lists-meta-3', '16315550302', 'plain'));
    expect((await call(o, 'GET', `/messages/${plain.json.messageId}`)).body.message).not.toHaveProperty('metadata');
  });

  it('refuses metadata over its caps, naming the limit', async () => {
    await writes(o, '16315550303', 'hello', 'Caps Customer');
    const tooMany = Object.fromEntries(Array.from({ length: SEND_METADATA_LIMITS.maxKeys + 1 }, (_, i) => [`k${i}`, i]));
    const tooBig = { note: 'x'.repeat(SEND_METADATA_LIMITS.maxBytes) };
    const longKey = { ['k'.repeat(SEND_METADATA_LIMITS.maxKeyLength + 1)]: 1 };
    const cases: Array<[unknown, string]> = [
      [tooMany, 'metadata.maxKeys'],
      [tooBig, 'metadata.maxBytes'],
      [longKey, 'metadata.maxKeyLength'],
      [{ agentId: 7 }, 'agentId'],
      ['agent-7', 'metadata'],
    ];
    for (const [index, [metadata, limit]] of cases.entries()) {
      const refused = await httpSend(o, textCommand(`lists-caps-${index}`, '16315550303', 'hi', { metadata }));
      expect(refused.status, limit).toBe(400);
      expect(refused.json.error.code).toBe('invalid_request');
      expect(JSON.stringify(refused.json.error.details.issues), limit).toContain(limit);
    }
    // At the limits exactly: accepted.
    const atLimit = Object.fromEntries(Array.from({ length: SEND_METADATA_LIMITS.maxKeys }, (_, i) => [`k${i}`, i]));
    expect((await httpSend(o, textCommand('lists-caps-ok', '16315550303', 'hi', { metadata: atLimit }))).status).toBe(200);
    expect((await ask(o, 'send', textCommand('lists-caps-nats', '16315550303', 'hi', { metadata: tooMany }))).error.code).toBe('invalid_request');
  });
});
