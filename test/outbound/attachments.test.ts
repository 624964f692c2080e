/**
 * Attachments: fetched from public URLs only (never loopback, private, link-local or metadata
 * addresses, also after a redirect or a DNS answer), decoded from base64, or taken from stored
 * media; typed from their bytes; capped by the platform's per-type limits; stored once, so
 * the platform receives bytes the daemon holds and nothing is fetched twice.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WA } from '../support/daemon.ts';
import { customerWrites, httpSend, natsRequest, newCustomer, startOutbound, waitForStatus, type OutboundTest } from './helpers.ts';
import { BYTES, startFileServers, type FileServers } from './files.ts';

let o: OutboundTest;
let files: FileServers;
let customer: string;

beforeAll(async () => {
  files = await startFileServers();
  o = await startOutbound({ http: files.http, settings: { fetchTimeoutMs: 1_500 } });
  customer = newCustomer();
  await customerWrites(o, customer);
});
afterAll(async () => {
  await o?.stop();
  await files?.close();
});

let keySeq = 0;
/** Sends one media part and returns the answer. */
function sendMedia(type: string, media: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return httpSend(o, { idempotencyKey: `att-${++keySeq}`, account: WA.account, to: { externalId: customer }, parts: [{ type, media, ...extra }] });
}

describe('attachments: SSRF', () => {
  const targets = (port: number) => [
    ['loopback', `http://127.0.0.1:${port}/secret.jpg`],
    ['IPv6 loopback', `http://[::1]:${port}/secret.jpg`],
    ['cloud metadata', 'http://169.254.169.254/latest/meta-data/'],
    ['private', 'http://10.0.0.1/secret.jpg'],
    ['a name resolving to a private address', 'http://internal.test/secret.jpg'],
  ];

  it('never connects to loopback, private, link-local or metadata addresses', async () => {
    for (const [what, url] of targets(files.privatePort)) {
      const answer = await sendMedia('image', { url });
      expect(answer.json.error, what).toMatchObject({ code: 'attachment_unreachable', details: { reason: 'blocked_address' } });
    }
    expect(files.privateConnections()).toBe(0);
  });

  it('never follows a redirect to one of them', async () => {
    for (const [what, url] of targets(files.privatePort)) {
      const answer = await sendMedia('image', { url: `${files.base}/redirect?to=${encodeURIComponent(url!)}` });
      expect(answer.json.error?.code, what).toBe('attachment_unreachable');
      expect(['blocked_address', 'untrusted_host'], what).toContain(answer.json.error.details.reason);
    }
    expect(files.requests.filter((p) => p === '/redirect')).toHaveLength(5);
    expect(files.privateConnections()).toBe(0);
  });

  it('refuses a file:// URL at the schema, before anything is fetched', async () => {
    const answer = await sendMedia('file', { url: 'file:///etc/passwd' });
    expect(answer.json.error.code).toBe('invalid_request');
  });

  it('answers attachment_unreachable for a 404 and for a server that stops sending', async () => {
    expect((await sendMedia('image', { url: `${files.base}/missing.jpg` })).json.error).toMatchObject({
      code: 'attachment_unreachable',
      details: { reason: 'http_status', status: 404 },
    });
    expect((await sendMedia('image', { url: `${files.base}/slow.jpg` })).json.error).toMatchObject({
      code: 'attachment_unreachable',
      details: { reason: 'timeout' },
    });
  });
});

describe('attachments: types and sizes from the bytes', () => {
  it('refuses a .jpg that is really an ELF executable, by URL and by base64', async () => {
    const byUrl = await sendMedia('image', { url: `${files.base}/elf.jpg` });
    expect(byUrl.status).toBe(422);
    expect(byUrl.json.error).toMatchObject({ code: 'attachment_type_not_allowed', details: { detected: 'elf' } });
    const inline = await sendMedia('image', { base64: BYTES.elf.toString('base64') }, { filename: 'holiday.jpg' });
    expect(inline.json.error).toMatchObject({ code: 'attachment_type_not_allowed', details: { detected: 'elf' } });
  });

  it('refuses a type the account does not allow, and a type that does not fit the part', async () => {
    expect((await sendMedia('image', { url: `${files.base}/anim.gif` })).json.error.code).toBe('attachment_type_not_allowed');
    const pdfAsImage = await sendMedia('image', { base64: BYTES.pdf.toString('base64') });
    expect(pdfAsImage.json.error).toMatchObject({ code: 'attachment_type_not_allowed', details: { detected: 'pdf', partType: 'image' } });
  });

  it('refuses an image over the platform limit (5 MB), stopping the download at the cap', async () => {
    const answer = await sendMedia('image', { url: `${files.base}/big.jpg` });
    expect(answer.status).toBe(413);
    expect(answer.json.error).toMatchObject({ code: 'attachment_too_large', details: { maxBytes: 5_000_000, partType: 'image' } });
  });

  it('sends a fetched image and a base64 document: stored, typed, and uploaded from the store', async () => {
    const image = await sendMedia('image', { url: `${files.base}/photo.jpg` }, { caption: 'receipt' });
    expect(image.json).toMatchObject({ ok: true });
    const doc = await sendMedia('file', { base64: BYTES.pdf.toString('base64') }, { filename: 'invoice.pdf' });
    expect(doc.json).toMatchObject({ ok: true });
    await waitForStatus(o, image.json.messageId, 'sent');
    await waitForStatus(o, doc.json.messageId, 'sent');
    const got = await natsRequest(o, 'message.get', { id: image.json.messageId });
    expect(got.message.parts[0]).toMatchObject({
      type: 'image',
      caption: 'receipt',
      media: { mime: 'image/jpeg', ext: 'jpg', size: BYTES.jpg.length, status: 'ready' },
    });
    const sent = o.fake.sent(WA.phoneNumberId).filter((m) => m.customer === customer);
    expect(sent.map((m) => m.type)).toEqual(['image', 'document']);
    expect(sent[1]!.body).toMatchObject({ document: { filename: 'invoice.pdf' } });
    // Fetched exactly once: the sender read the bytes from the store.
    expect(files.requests.filter((p) => p === '/photo.jpg')).toHaveLength(1);

    // Stored media can be sent again by id.
    const again = await sendMedia('image', { id: got.message.parts[0].media.id });
    expect(again.json).toMatchObject({ ok: true });
    await waitForStatus(o, again.json.messageId, 'sent');
    expect(files.requests.filter((p) => p === '/photo.jpg')).toHaveLength(1);
  });

  it('refuses stored media that does not exist or is not ready', async () => {
    const answer = await sendMedia('image', { id: 'med_nothing' });
    expect(answer.json.error).toMatchObject({ code: 'attachment_unreachable', details: { reason: 'media_not_found' } });
  });
});
