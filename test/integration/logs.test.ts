/**
 * Secrets and personal data never reach the logs: run real traffic at debug level and search
 * every line for the secrets, the phone number and the message text; then make statements fail
 * and search what the database errors left in the log.
 */
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql as dsql } from 'drizzle-orm';
import { API_TOKEN, WA, startTestDaemon, type TestDaemon } from '../support/daemon.ts';
import { waitFor } from '../support/services.ts';
import { testWamid, textWebhookBody } from '../support/traffic.ts';

describe('logs', () => {
  const lines: string[] = [];
  let t: TestDaemon;
  beforeAll(async () => {
    const destination = new Writable({
      write(chunk, _encoding, callback) {
        lines.push(String(chunk));
        callback();
      },
    });
    t = await startTestDaemon({ logLevel: 'debug', extra: { logDestination: destination as never } });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('contain no secrets, phone numbers or message text after real traffic', async () => {
    const phone = '16315559876';
    const secretText = 'my card number is 4111';
    const body = (id: string, type: string, extra: object) => ({
      object: 'whatsapp_business_account',
      entry: [{ id: '1', changes: [{ field: 'messages', value: {
        messaging_product: 'whatsapp',
        metadata: { display_phone_number: '15550783881', phone_number_id: WA.phoneNumberId },
        contacts: [{ profile: { name: 'Leak Test' }, wa_id: phone }],
        messages: [{ from: phone, id, timestamp: String(Math.floor(Date.now() / 1000)), type, ...extra }],
      } }] }],
    });
    await t.postWhatsApp(body(`wamid.LOG${Date.now()}`, 'text', { text: { body: secretText } }));
    await t.postWhatsApp(body(`wamid.LOGBAD${Date.now()}`, 'text', { text: { body: secretText } }), { secret: 'wrong' });
    await t.postWhatsApp(body(`wamid.LOGIMG${Date.now()}`, 'image', { image: { id: '123456', mime_type: 'image/jpeg' } }));
    await fetch(`${t.daemon.url}/webhooks/whatsapp/acme-wa?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1`);
    await fetch(`${t.daemon.url}/v1/media/med_x`, { headers: { authorization: `Bearer ${API_TOKEN}x` } });
    // Wait for the media worker to give up on the unknown media id, so its log lines are in.
    await waitFor(() => lines.some((l) => l.includes('media fetch failed')), { timeoutMs: 20_000, intervalMs: 100 });
    const all = lines.join('');
    // The traffic was logged (so the search below means something): verification, recording, media.
    expect(all).toContain('webhook verification failed');
    expect(all).toContain('webhook recorded');
    for (const needle of [WA.appSecret, WA.accessToken, WA.verifyToken, API_TOKEN, phone, secretText, 'sha256=']) {
      expect(all.includes(needle), `log contains ${needle}`).toBe(false);
    }
  });
});

/**
 * A statement that fails carries its parameters (phone, name, text, the raw payload) in the
 * driver's error and in drizzle's wrapper: none of it may reach the log, on either driver.
 */
describe.each([['PostgreSQL', false], ['PGlite', true]] as const)('logs of a failing statement on %s', (_name, pglite) => {
  const lines: string[] = [];
  let t: TestDaemon;
  beforeAll(async () => {
    const destination = new Writable({
      write(chunk, _encoding, callback) {
        lines.push(String(chunk));
        callback();
      },
    });
    t = await startTestDaemon({ pglite, logLevel: 'debug', extra: { logDestination: destination as never } });
    // Every message insert fails from now on, as a full disk or a broken constraint would.
    const db = t.daemon.database.db;
    await db.execute(dsql.raw(`create function refuse_messages() returns trigger language plpgsql as $$ begin raise exception 'refused by the test'; end $$`));
    await db.execute(dsql.raw('create trigger refuse_messages before insert on messages for each row execute function refuse_messages()'));
  }, 60_000);
  afterAll(async () => {
    await t?.stop();
  });

  it('names the failure but none of its parameters', async () => {
    const phone = '16315550199';
    const name = 'Secret Person Name';
    const text = 'my pin is 987654';
    const response = await t.postWhatsApp(textWebhookBody({ wamid: testWamid('LOGFAIL'), from: phone, text }, WA.phoneNumberId, name));
    expect(response.status).toBe(503);
    await waitFor(() => lines.some((l) => l.includes('webhook could not be recorded')), { timeoutMs: 10_000, intervalMs: 50 });
    const all = lines.join('');
    // The database's own reason is still there for the operator.
    expect(all).toContain('refused by the test');
    for (const needle of [phone, name, text]) expect(all.includes(needle), `log contains ${needle}`).toBe(false);
  });
});
