/**
 * A NATS auth test's proof that the daemon really talks to its server: a signed WhatsApp
 * webhook is answered 200, and its event is read back from the events stream over a second
 * connection made with the same options the daemon used.
 */
import type { ConnectionOptions } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { expect } from 'vitest';
import type { Daemon } from '../../src/core/daemon.ts';
import { metaSignature, readEvents, WA } from './daemon.ts';

export async function publishesThrough(daemon: Daemon, prefix: string, url: string, options: Partial<ConnectionOptions>, from = '16315550001'): Promise<void> {
  const id = `wamid.AUTH${Date.now()}${Math.random().toString(36).slice(2, 6)}`;
  const body = JSON.stringify({
    object: 'whatsapp_business_account',
    entry: [{ id: '1', changes: [{ field: 'messages', value: {
      messaging_product: 'whatsapp',
      metadata: { display_phone_number: '15550783881', phone_number_id: WA.phoneNumberId },
      contacts: [{ profile: { name: 'Auth Test' }, wa_id: from }],
      messages: [{ from, id, timestamp: String(Math.floor(Date.now() / 1000)), type: 'text', text: { body: 'hello' } }],
    } }] }],
  });
  const response = await fetch(`${daemon.url}/webhooks/whatsapp/${WA.account}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-hub-signature-256': metaSignature(body) },
    body,
  });
  expect(response.status).toBe(200);
  const nc = await connect({ servers: url, ...options });
  try {
    const events = await readEvents(nc, daemon.bus!.streams.events, `${prefix}.v1.evt.message.in.>`, 1, 15_000);
    expect(events.map((event) => event.data.externalId)).toContain(id);
  } finally {
    await nc.close();
  }
}
