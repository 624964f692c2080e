/**
 * The timeline: every message of every identity of a contact, newest first, each marked with
 * its channel and account, paged by cursor; and the plan PostgreSQL runs for a page at a
 * couple of hundred thousand rows (a bounded backward index scan per identity, no sort of
 * the whole history).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import { WA } from '../support/daemon.ts';
import { timelineQuery } from '../../src/merge/timeline.ts';
import { rowsOf } from '../../src/merge/evidence.ts';
import { WA2, api, contactOf, nats, postWa, startContactsDaemon, waText, type ContactsDaemon } from './helpers.ts';

let t: ContactsDaemon;
const digits = '16315557001';
let contactId = '';
const texts: string[] = [];

beforeAll(async () => {
  t = await startContactsDaemon();
  for (let i = 0; i < 7; i++) {
    t.manualClock.advance(1_000);
    const account = i % 2 === 0 ? 'acme-wa' : 'acme-wa2';
    texts.push(`m${i}`);
    expect(await postWa(t, waText({ from: digits, account, text: `m${i}` }).body, account === 'acme-wa' ? WA.account : WA2.account)).toBe(200);
  }
  contactId = await contactOf(t.sql, WA.account, digits);
});
afterAll(async () => {
  await t?.stop();
  await t?.dropDatabase();
});

describe('timeline', () => {
  it('pages through every message of both identities, newest first, with channel and account', async () => {
    const seen: any[] = [];
    let before: string | null = null;
    let pages = 0;
    do {
      const query: string = `/contacts/${contactId}/timeline?limit=3${before ? `&before=${before}` : ''}`;
      const { status, body } = await api(t, 'GET', query);
      expect(status).toBe(200);
      seen.push(...body.messages);
      before = body.nextCursor;
      pages++;
    } while (before);
    expect(pages).toBe(3);
    expect(seen.map((m) => m.parts[0].text)).toEqual([...texts].reverse());
    expect(seen.map((m) => m.account)).toEqual(['acme-wa', 'acme-wa2', 'acme-wa', 'acme-wa2', 'acme-wa', 'acme-wa2', 'acme-wa']);
    for (const message of seen) {
      expect(message).toMatchObject({ schema: 'omni.message/v1', direction: 'in', channel: 'whatsapp', contact: { id: contactId, identity: { externalId: digits } } });
    }
  });

  it('answers the same pages over NATS', async () => {
    const first = await nats(t, 'contact.timeline', { id: contactId, limit: 4 });
    const second = await nats(t, 'contact.timeline', { id: contactId, limit: 4, before: first.nextCursor });
    expect([...first.messages, ...second.messages].map((m: any) => m.parts[0].text)).toEqual([...texts].reverse());
    expect(second.nextCursor).toBeNull();
  });

  it('refuses a bad limit or a cursor it did not issue', async () => {
    for (const query of ['limit=0', 'limit=201', 'limit=abc', 'limit=', 'before=bm90LWEtY3Vyc29y', 'colour=red']) {
      const { status, body } = await api(t, 'GET', `/contacts/${contactId}/timeline?${query}`);
      expect(status, query).toBe(400);
      expect(body.error.code).toBe('invalid_request');
    }
  });

  it('reads a page with one bounded backward index scan per identity at 200,000 messages', async () => {
    const owned = await t.sql<{ id: string; conversation: string }[]>`
      select i.id, c.id as conversation from identities i join conversations c on c.identity_id = i.id where i.contact_id = ${contactId}`;
    expect(owned).toHaveLength(2);
    for (const identity of owned) {
      await t.sql`
        insert into messages (id, direction, channel, account, conversation_id, identity_id, dedupe_key, timestamp, received_at, parts)
        select 'msg_bulk_' || ${identity.id} || '_' || n, 'in', 'whatsapp', 'acme-wa', ${identity.conversation}, ${identity.id}, 'bulk-' || ${identity.id} || n,
               timestamptz '2024-01-01' + n * interval '1 second', timestamptz '2024-01-01' + n * interval '1 second', '[]'::jsonb
        from generate_series(1, 100000) as n`;
    }
    await t.sql`analyze messages`;
    const db = t.daemon.database.db;
    const plans = [
      timelineQuery(owned.map((o) => o.id), null, 51),
      timelineQuery(owned.map((o) => o.id), { micros: String(Date.UTC(2024, 0, 1, 12) * 1000), id: 'msg_bulk_z' }, 51),
    ];
    for (const query of plans) {
      const [row] = rowsOf<{ 'QUERY PLAN': any }>(await db.execute(sql`explain (analyze, format json) ${query}`));
      const plan = row!['QUERY PLAN'][0];
      const scans = nodes(plan.Plan).filter((node) => node['Relation Name'] === 'messages');
      expect(scans.length).toBeGreaterThan(0);
      for (const scan of scans) {
        expect(scan['Node Type']).toBe('Index Scan');
        expect(scan['Index Name']).toBe('messages_identity_time_idx');
        expect(scan['Scan Direction']).toBe('Backward');
        expect(scan['Actual Rows']).toBeLessThanOrEqual(51);
      }
    }
  });
});

/** Every node of a JSON plan. */
function nodes(plan: any): any[] {
  return [plan, ...(plan.Plans ?? []).flatMap(nodes)];
}
