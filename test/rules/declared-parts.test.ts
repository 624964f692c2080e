/**
 * Part types and lengths a channel does not declare in `capabilities.outbound` are refused at
 * acceptance, before anything is fetched or sent: a PDF to LINE (`attachment_type_not_allowed`),
 * a list to LINE and over-long texts and captions to Telegram (`invalid_request`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simulateInbound as telegramInbound, type TelegramFake } from '../../src/channels/telegram/sandbox.ts';
import { simulateInbound as lineInbound, type LineFake } from '../../src/channels/line/sandbox.ts';
import type { WebhookRequestSpec } from '../../src/core/adapter.ts';
import { API_TOKEN, startTestDaemon, type TestDaemon } from '../support/daemon.ts';
import { waitFor } from '../support/services.ts';
import { SECRETS as TG, testAccount as telegramAccount } from '../channels/telegram/helpers.ts';
import { SECRETS as LINE, testAccount as lineAccount } from '../channels/line/helpers.ts';

const tg = telegramAccount({ id: 'acme-telegram' });
const line = lineAccount();
const TG_YAML = ['id: acme-telegram', 'channel: telegram', `botToken: "${TG.botToken}"`, `secretToken: ${TG.secretToken}`, 'mode: webhook'].join('\n') + '\n';
const LINE_YAML = ['id: acme-line', 'channel: line', `channelSecret: ${LINE.channelSecret}`, `channelAccessToken: ${LINE.channelAccessToken}`].join('\n') + '\n';
// Never fetched: the part is refused before its media is looked at (a closed loopback port).
const PDF_URL = 'http://127.0.0.1:9/invoice.pdf';

describe('undeclared parts are refused at acceptance', () => {
  let t: TestDaemon;
  const post = (spec: WebhookRequestSpec) => fetch(`${t.daemon.url}${spec.path}`, { method: spec.method, headers: spec.headers, body: spec.body as string });
  const send = async (body: Record<string, unknown>) => {
    const response = await fetch(`${t.daemon.url}/v1/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: response.status, json: (await response.json()) as any };
  };
  const known = (externalId: string) =>
    waitFor(async () => (await t.sql!`select id from identities where external_id = ${externalId}`).length > 0, { timeoutMs: 20_000, intervalMs: 100, description: `identity ${externalId}` });
  const messagesTo = async (externalId: string) =>
    (await t.sql!`select m.id from messages m join identities i on i.id = m.identity_id where i.external_id = ${externalId} and m.direction = 'out'`).length;

  beforeAll(async () => {
    t = await startTestDaemon({ accounts: { 'acme-telegram.yaml': TG_YAML, 'acme-line.yaml': LINE_YAML } });
    expect((await post(lineInbound(line, { from: 'Uparts', text: 'hi', timestamp: t.clock.now() }))).status).toBe(200);
    expect((await post(telegramInbound(tg, { from: '7300000001', text: 'hi', timestamp: t.clock.now() }))).status).toBe(200);
    await known('Uparts');
    await known('7300000001');
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('LINE: a PDF is attachment_type_not_allowed and a list invalid_request, naming the part and what is allowed', async () => {
    const pdf = await send({ idempotencyKey: 'line-pdf', account: 'acme-line', to: { externalId: 'Uparts' }, parts: [{ type: 'file', media: { url: PDF_URL } }] });
    expect(pdf.json.error).toMatchObject({ code: 'attachment_type_not_allowed', details: { field: 'parts[0].type', partType: 'file' } });
    expect(pdf.json.error.details.allowed).not.toContain('file');
    const list = await send({
      idempotencyKey: 'line-list',
      account: 'acme-line',
      to: { externalId: 'Uparts' },
      parts: [{ type: 'list', text: 'pick', button: 'Menu', sections: [{ rows: [{ id: 'a', title: 'A' }] }] }],
    });
    expect(list.json.error).toMatchObject({ code: 'invalid_request', details: { partType: 'list' } });
    expect(await messagesTo('Uparts')).toBe(0);
    expect((t.daemon.fakes.get('line') as LineFake).sentMessages('acme-line')).toHaveLength(0);
  });

  it('Telegram: a text over 4096 characters and a caption over 1024 are invalid_request with the limit', async () => {
    const text = await send({ idempotencyKey: 'tg-long', account: 'acme-telegram', to: { externalId: '7300000001' }, parts: [{ type: 'text', text: 'x'.repeat(4097) }] });
    expect(text.json.error).toMatchObject({ code: 'invalid_request', details: { field: 'parts[0].text', limit: 4096, length: 4097 } });
    const caption = await send({
      idempotencyKey: 'tg-caption',
      account: 'acme-telegram',
      to: { externalId: '7300000001' },
      parts: [{ type: 'file', media: { url: PDF_URL }, caption: 'y'.repeat(1025) }],
    });
    expect(caption.json.error).toMatchObject({ code: 'invalid_request', details: { field: 'parts[0].caption', limit: 1024 } });
    expect(await messagesTo('7300000001')).toBe(0);
    expect((t.daemon.fakes.get('telegram') as TelegramFake).sentMessages('acme-telegram')).toHaveLength(0);
  });
});
