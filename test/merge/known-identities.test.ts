/**
 * The batched look-up of known senders (`resolveKnownIdentities`) against real PostgreSQL: a
 * sender is taken as known only when its sighting brings nothing new and its stored facts meet
 * no other live contact and are all on its own contact; the merge check is on the stored facts,
 * which may be more, or other, than the sighting says.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type postgres from 'postgres';
import type { Database } from '../../src/core/storage/db.ts';
import { resolveKnownIdentities } from '../../src/merge/known-identities.ts';
import type { MergePolicy } from '../../src/merge/evidence.ts';
import type { InboundIdentity } from '../../src/core/adapter.ts';
import { openMigratedTestDatabase, type MigratedTestDatabase } from '../support/migrated-database.ts';

const policy: MergePolicy = { auto: ['phone', 'wechat_unionid'], defaultRegion: null };
const scope = { channel: 'whatsapp', account: 'known-acme' };
const at = '2026-12-01T10:00:00.000Z';

describe('known senders looked up as a batch', () => {
  let store: MigratedTestDatabase;
  let db: Database;
  let sql: postgres.Sql;
  let n = 0;

  /** A contact with one WhatsApp identity; returns the external id and the contact id. */
  async function person(options: { phone: string; contactPhones?: string[]; evidence?: Array<{ type: string; value: string }> }) {
    const id = `${++n}`;
    const externalId = options.phone.slice(1);
    await sql`insert into contacts (id, phones, created_at, updated_at) values (${`ct_${id}`}, ${sql.json(options.contactPhones ?? [options.phone])}, ${at}, ${at})`;
    await sql`insert into identities (id, channel, account, external_id, contact_id, phone, phone_verified, evidence, first_seen, last_seen)
      values (${`id_${id}`}, ${scope.channel}, ${scope.account}, ${externalId}, ${`ct_${id}`}, ${options.phone}, true, ${sql.json(options.evidence ?? [])}, ${at}, ${at})`;
    return { externalId, contactId: `ct_${id}` };
  }

  const sighting = (externalId: string, extra: Partial<InboundIdentity> = {}): InboundIdentity => ({ externalId, phone: externalId, phoneVerified: true, ...extra });

  const resolve = (who: InboundIdentity[]) => db.db.transaction((tx) => resolveKnownIdentities(tx, policy, scope, who));

  beforeAll(async () => {
    store = await openMigratedTestDatabase();
    ({ db, sql } = store);
  });
  afterAll(async () => {
    await store?.close();
  });

  it('finds a sender whose facts meet nobody, and leaves out one whose phone another live contact has', async () => {
    const alone = await person({ phone: '+4915100000001' });
    const shared = await person({ phone: '+4915100000002' });
    // Another live contact with the same verified phone (e.g. after merge.auto gained phone).
    await sql`insert into contacts (id, phones, created_at, updated_at) values ('ct_other', ${sql.json(['+4915100000002'])}, ${at}, ${at})`;
    const found = await resolve([sighting(alone.externalId), sighting(shared.externalId)]);
    expect([...found.keys()]).toEqual([alone.externalId]);
    expect(found.get(alone.externalId)).toMatchObject({ contactId: alone.contactId });
  });

  it('leaves out a sender whose own contact lacks the phone it verified', async () => {
    const lacking = await person({ phone: '+4915100000003', contactPhones: [] });
    expect((await resolve([sighting(lacking.externalId)])).size).toBe(0);
  });

  it('checks the stored facts when they are more than the sighting says', async () => {
    // The stored identity also carries a UnionID that another contact's identity has; the
    // sighting says only the phone: the guess (phone only) finds nothing, the stored facts do.
    const unionid = { type: 'wechat_unionid', value: 'o6_bmasdasdsad6_2sgVt7hMZOPfL' };
    const rich = await person({ phone: '+4915100000004', evidence: [unionid] });
    const quiet = await person({ phone: '+4915100000005' });
    await sql`insert into contacts (id, created_at, updated_at) values ('ct_wechat', ${at}, ${at})`;
    await sql`insert into identities (id, channel, account, external_id, contact_id, evidence, first_seen, last_seen)
      values ('id_wechat', 'wechat', 'acme-wechat', 'oWechat', 'ct_wechat', ${sql.json([unionid])}, ${at}, ${at})`;
    const found = await resolve([sighting(rich.externalId), sighting(quiet.externalId)]);
    expect([...found.keys()]).toEqual([quiet.externalId]);
  });

  it('checks the stored facts when the sighting says less (no phone this time)', async () => {
    const known = await person({ phone: '+4915100000006' });
    await sql`insert into contacts (id, phones, created_at, updated_at) values ('ct_other6', ${sql.json(['+4915100000006'])}, ${at}, ${at})`;
    expect((await resolve([{ externalId: known.externalId }])).size).toBe(0);
  });

  it('finds nothing for a sender nobody knows', async () => {
    expect((await resolve([sighting('4915199999999')])).size).toBe(0);
  });
});
