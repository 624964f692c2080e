/**
 * Two replicas on one database and one NATS prefix, both talking to one LINE fake, race for a
 * conversation's single reply token: two answers to the same customer message, accepted at the
 * same moment one on each replica, go out as exactly one reply (the token used once) and one
 * push with its retry key. Repeated over several customers so the race is really run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { retryKeyFor } from '../../src/channels/line/outbound.ts';
import type { LineFake } from '../../src/channels/line/sandbox.ts';
import { API_TOKEN, startTestDaemon, type TestDaemon } from '../support/daemon.ts';
import { createTestDatabase, uniquePrefix, waitFor, type TestDatabase } from '../support/services.ts';
import { SECRETS } from '../channels/line/helpers.ts';

const lines = ['id: acme-line', 'channel: line', `channelSecret: ${SECRETS.channelSecret}`, `channelAccessToken: ${SECRETS.channelAccessToken}`];

describe('two replicas and one reply token', () => {
  let database: TestDatabase;
  const prefix = uniquePrefix();
  const replicas: TestDaemon[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    const a = await startTestDaemon({ databaseUrl: database.url, prefix, accounts: { 'acme-line.yaml': lines.join('\n') + '\n' } });
    replicas.push(a);
    // The second replica talks to the first one's fake, as both would talk to the one real LINE.
    const apiBase = `apiBase: "${a.daemon.url}/sandbox/line"`;
    replicas.push(await startTestDaemon({ databaseUrl: database.url, prefix, accounts: { 'acme-line.yaml': [...lines, apiBase].join('\n') + '\n' } }));
  }, 60_000);
  afterAll(async () => {
    for (const replica of replicas.splice(0)) await replica.stop().catch(() => {});
    await database?.drop();
  });

  it('uses the token once; the other answer pushes', { timeout: 90_000 }, async () => {
    const [a, b] = replicas as [TestDaemon, TestDaemon];
    const fake = a.daemon.fakes.get('line') as LineFake;
    fake.setQuota('acme-line', null);
    const send = (replica: TestDaemon, key: string, to: string) =>
      fetch(`${replica.daemon.url}/v1/messages`, {
        method: 'POST',
        headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ idempotencyKey: key, account: 'acme-line', to: { externalId: to }, parts: [{ type: 'text', text: `answer ${key}` }] }),
      }).then((response) => response.status);
    const users = Array.from({ length: 5 }, (_, i) => `Urace${i}`);
    for (const user of users) {
      await fake.deliver('acme-line', { from: user, text: 'one question' });
      await waitFor(async () => (await a.sql!`select 1 from conversations c join identities i on i.id = c.identity_id where i.external_id = ${user} and c.reply_token is not null`).length > 0, { timeoutMs: 20_000, intervalMs: 50 });
      const statuses = await Promise.all([send(a, `${user}-a`, user), send(b, `${user}-b`, user)]);
      expect(statuses.every((status) => status >= 200 && status < 300)).toBe(true);
    }
    for (const user of users) {
      await waitFor(async () => (await a.sql!`select count(*)::int as n from messages where idempotency_key like ${`${user}-%`} and status = 'sent'`)[0]!.n === 2, { timeoutMs: 30_000, intervalMs: 100, description: `both answers to ${user} sent` });
      const sent = fake.sentMessages('acme-line').filter((entry) => entry.to === user);
      expect(sent.map((entry) => entry.route).sort()).toEqual(['push', 'reply']);
      const push = sent.find((entry) => entry.route === 'push')!;
      const key = (push.messages[0] as { text: string }).text.replace('answer ', '');
      expect(push.retryKey).toBe(retryKeyFor('acme-line', key));
      const routes = await a.sql!`select route from messages where idempotency_key like ${`${user}-%`} order by route`;
      expect(routes.map((row) => row.route)).toEqual(['push', 'reply']);
    }
    const [used] = await a.sql!`select count(*)::int as n from conversations where reply_token_used_at is not null`;
    expect(used!.n).toBe(users.length);
  });
});
