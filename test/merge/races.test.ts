/**
 * Concurrency (issue 4, point 4): two replicas on one PostgreSQL, races run 50 times each.
 * Whatever the interleaving, the end state is one consistent graph — identities on live
 * contacts, aliases one hop from a live contact, no empty live contact — and every merge,
 * unmerge and new contact is announced exactly once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WA } from '../support/daemon.ts';
import { contactEventSchema } from '../../src/core/schemas/events.ts';
import { WA2, api, contactEvents, contactOf, graphViolations, nats, postWa, startContactsDaemon, waText, type ContactsDaemon } from './helpers.ts';

const ITERATIONS = 50;
let r1: ContactsDaemon;
let r2: ContactsDaemon;
let seq = 0;
const nextDigits = () => `1415555${String(seq++).padStart(4, '0')}`;

/** Posts like a platform does: a 5xx is retried until it is accepted. */
async function deliver(t: ContactsDaemon, body: string, account: string): Promise<void> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const status = await postWa(t, body, account);
    if (status === 200) return;
    expect(status).toBeGreaterThanOrEqual(500);
  }
  throw new Error('webhook never accepted');
}

/** A contact of its own, created through a webhook. */
async function person(account: 'acme-wa' | 'acme-wa2' = 'acme-wa'): Promise<{ id: string; digits: string }> {
  const digits = nextDigits();
  r1.manualClock.advance(10);
  r2.manualClock.advance(10);
  const accountId = account === 'acme-wa2' ? WA2.account : WA.account;
  await deliver(r1, waText({ from: digits, account }).body, accountId);
  return { id: await contactOf(r1.sql, accountId, digits), digits };
}

beforeAll(async () => {
  r1 = await startContactsDaemon();
  r2 = await startContactsDaemon({ shared: { databaseUrl: r1.databaseUrl!, prefix: r1.prefix } });
}, 60_000);
afterAll(async () => {
  await r2?.stop();
  await r1?.stop();
  await r1?.dropDatabase();
});

describe('races, 50 times each, two replicas', () => {
  it('one person writing on two accounts at once, to two replicas, is ONE contact', async () => {
    for (let i = 0; i < ITERATIONS; i++) {
      const digits = nextDigits();
      await Promise.all([
        deliver(r1, waText({ from: digits, account: 'acme-wa' }).body, WA.account),
        deliver(r2, waText({ from: digits, account: 'acme-wa2' }).body, WA2.account),
        deliver(r2, waText({ from: digits, account: 'acme-wa', text: 'again' }).body, WA.account),
      ]);
      const ids = await r1.sql`select distinct contact_id from identities where external_id = ${digits}`;
      expect(ids, `iteration ${i}`).toHaveLength(1);
    }
    expect(await graphViolations(r1.sql)).toEqual([]);
  }, 120_000);

  it('two replicas merging overlapping contacts end in one contact after exactly two merges', async () => {
    for (let i = 0; i < ITERATIONS; i++) {
      const [x, y, z] = [await person(), await person('acme-wa2'), await person()];
      const answers = await Promise.all([
        api(r1, 'POST', `/contacts/${x.id}/merge`, { otherId: y.id }),
        api(r2, 'POST', `/contacts/${y.id}/merge`, { otherId: z.id }),
        nats(r1, 'contact.merge', { id: z.id, otherId: x.id }),
      ]);
      expect(answers.map((a) => ('status' in a ? a.status : a.ok ? 200 : a.error.code)), `iteration ${i}`).toEqual([200, 200, 200]);
      const live = await r1.sql`select distinct contact_id from identities where external_id in ${r1.sql([x.digits, y.digits, z.digits])}`;
      expect(live, `iteration ${i}`).toHaveLength(1);
      // x is the oldest, so it survives whatever the order.
      expect(live[0]!.contact_id).toBe(x.id);
      const [{ n }] = await r1.sql<[{ n: number }]>`select count(*)::int as n from merge_log where contact_id in ${r1.sql([x.id, y.id, z.id])} and action = 'merge'`;
      expect(n, `iteration ${i}`).toBe(2);
    }
    expect(await graphViolations(r1.sql)).toEqual([]);
  }, 120_000);

  it('a merge racing an unmerge ends in one of the two serial outcomes', async () => {
    for (let i = 0; i < ITERATIONS; i++) {
      const [p, q, r] = [await person(), await person('acme-wa2'), await person()];
      await api(r1, 'POST', `/contacts/${p.id}/merge`, { otherId: q.id });
      const [unmerged, merged] = await Promise.all([
        api(r1, 'POST', `/contacts/${p.id}/unmerge`, { identity: { channel: 'whatsapp', account: WA2.account, externalId: q.digits } }),
        api(r2, 'POST', `/contacts/${q.id}/merge`, { otherId: r.id }),
      ]);
      expect([unmerged.status, merged.status], `iteration ${i}`).toEqual([200, 200]);
      const owner = async (digits: string, account = WA.account) => contactOf(r1.sql, account, digits);
      const outcome = [await owner(p.digits), await owner(q.digits, WA2.account), await owner(r.digits)];
      // Unmerge first: q is revived and then absorbs r. Merge first: p absorbs r, then q is revived alone.
      expect([[p.id, q.id, q.id], [p.id, q.id, p.id]], `iteration ${i}`).toContainEqual(outcome);
    }
    expect(await graphViolations(r1.sql)).toEqual([]);
  }, 120_000);

  it('two unmerges of the same identity: one splits it off, the other finds it gone', async () => {
    for (let i = 0; i < ITERATIONS / 2; i++) {
      const [p, q] = [await person(), await person('acme-wa2')];
      await api(r1, 'POST', `/contacts/${p.id}/merge`, { otherId: q.id });
      const body = { identity: { channel: 'whatsapp', account: WA2.account, externalId: q.digits } };
      const answers = await Promise.all([api(r1, 'POST', `/contacts/${p.id}/unmerge`, body), api(r2, 'POST', `/contacts/${p.id}/unmerge`, body)]);
      expect(answers.map((a) => a.status).sort(), `iteration ${i}`).toEqual([200, 404]);
    }
    expect(await graphViolations(r1.sql)).toEqual([]);
  }, 120_000);

  it('an inbound message racing the unmerge of its identity neither re-merges nor loses the message', async () => {
    for (let i = 0; i < ITERATIONS / 2; i++) {
      const [p, q] = [await person(), await person('acme-wa2')];
      await api(r1, 'POST', `/contacts/${p.id}/merge`, { otherId: q.id });
      const message = waText({ from: q.digits, account: 'acme-wa2', text: `race ${i}` });
      const [split] = await Promise.all([
        api(r1, 'POST', `/contacts/${p.id}/unmerge`, { identity: { channel: 'whatsapp', account: WA2.account, externalId: q.digits } }),
        deliver(r2, message.body, WA2.account),
      ]);
      expect(split.status, `iteration ${i}`).toBe(200);
      expect(await contactOf(r1.sql, WA2.account, q.digits), `iteration ${i}`).toBe(q.id);
      expect(await r1.sql`select 1 from messages where external_id = ${message.wamid}`, `iteration ${i}`).toHaveLength(1);
    }
    expect(await graphViolations(r1.sql)).toEqual([]);
  }, 120_000);

  it('announced every contact, merge and unmerge exactly once', async () => {
    const [created, merged, unmerged] = [await contactEvents(r1, 'created'), await contactEvents(r1, 'merged'), await contactEvents(r1, 'unmerged')];
    const [{ contacts }] = await r1.sql<[{ contacts: number }]>`select count(*)::int as contacts from contacts`;
    const log = await r1.sql<{ id: string; action: string }[]>`select id, action from merge_log`;
    const ids = (events: Array<{ msgId: string | null }>) => events.map((e) => e.msgId);
    expect(new Set(ids(created)).size).toBe(created.length);
    expect(created).toHaveLength(contacts);
    for (const event of [...created, ...merged, ...unmerged]) expect(() => contactEventSchema.parse(event.data)).not.toThrow();
    expect(ids(merged).sort()).toEqual(log.filter((e) => e.action === 'merge').map((e) => `${e.id}:merged`).sort());
    expect(ids(unmerged).sort()).toEqual(log.filter((e) => e.action === 'unmerge').map((e) => `${e.id}:unmerged`).sort());
  }, 60_000);
});
