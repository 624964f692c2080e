/**
 * Two replicas sharing media through the JetStream object store: whichever replica fetched
 * an inbound image, both serve it.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_TOKEN, WA, startTestDaemon, whatsappAccountYaml, type TestDaemon } from '../support/daemon.ts';
import { natsUrl, tempDir, waitFor } from '../support/services.ts';

const PNG = Buffer.from(
  '89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c626001000000ffff03000006000557bfabd40000000049454e44ae426082',
  'hex',
);

describe('media with two replicas (media.store: nats)', () => {
  let a: TestDaemon;
  let b: TestDaemon;
  beforeAll(async () => {
    a = await startTestDaemon({ mediaStore: 'nats' });
    // Replica B: same database, NATS and prefix; its account talks to A's fake so either can fetch.
    const dir = await tempDir();
    await mkdir(path.join(dir, 'channels'), { recursive: true });
    await writeFile(
      path.join(dir, 'omnibus.yaml'),
      [
        `http: { host: 127.0.0.1, port: 0 }`,
        `nats: { url: "${natsUrl()}", prefix: ${a.prefix} }`,
        `database: { url: "${a.databaseUrl}" }`,
        `dataDir: "${path.join(dir, 'data')}"`,
        `api: { tokens: [{ token: ${API_TOKEN}, scopes: [read, write] }] }`,
        `log: { level: silent }`,
        `sandbox: true`,
        `media: { store: nats }`,
      ].join('\n') + '\n',
    );
    await writeFile(path.join(dir, 'channels', 'acme-wa.yaml'), whatsappAccountYaml({ apiBase: `"${a.daemon.url}/sandbox/whatsapp"` }));
    b = await startTestDaemon({ dir, databaseUrl: a.databaseUrl!, prefix: a.prefix });
  });
  afterAll(async () => {
    await b?.stop();
    await a?.stop();
  });

  it('serves the same bytes from both replicas', async () => {
    const stored = a.daemon.fakes.get('whatsapp')!.putMedia(new Uint8Array(PNG), 'image/png');
    const wamid = `wamid.REPLICA${Date.now()}`;
    const response = await b.postWhatsApp({
      object: 'whatsapp_business_account',
      entry: [{ id: '1', changes: [{ field: 'messages', value: {
        messaging_product: 'whatsapp',
        metadata: { display_phone_number: '15550783881', phone_number_id: WA.phoneNumberId },
        contacts: [{ profile: { name: 'R' }, wa_id: '16315550000' }],
        messages: [{ from: '16315550000', id: wamid, timestamp: String(Math.floor(Date.now() / 1000)), type: 'image', image: { id: stored.id, mime_type: 'image/png', sha256: stored.sha256 } }],
      } }] }],
    });
    expect(response.status).toBe(200);
    const mediaId = await waitFor(
      async () => {
        const rows = await a.sql!`select id from media where status = 'ready' and message_id = (select id from messages where external_id = ${wamid})`;
        return rows[0]?.id as string | undefined;
      },
      { timeoutMs: 20_000, intervalMs: 100 },
    );
    for (const replica of [a, b]) {
      const served = await fetch(`${replica.daemon.url}/v1/media/${mediaId}`, { headers: { authorization: `Bearer ${API_TOKEN}` } });
      expect(served.status).toBe(200);
      expect(Buffer.from(await served.arrayBuffer()).equals(PNG)).toBe(true);
    }
  });
});
