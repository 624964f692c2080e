/**
 * Secrets and personal data never reach the logs: run real traffic at debug level and search
 * every line for the secrets, the phone number and the message text.
 */
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_TOKEN, WA, startTestDaemon, type TestDaemon } from '../support/daemon.ts';
import { waitFor } from '../support/services.ts';

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
