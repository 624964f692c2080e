/**
 * The template catalog against the WhatsApp fake: synced at start (every page), listed over
 * HTTP and NATS, kept current by Meta's template webhooks (announced once as template.updated),
 * and every kind of wrong template refused at acceptance with template_invalid, never reaching
 * the fake.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_TOKEN, WA } from '../support/daemon.ts';
import { waitFor } from '../support/services.ts';
import { graphTemplate } from '../../src/channels/whatsapp/sandbox.ts';
import { templateUpdatedEventSchema } from '../../src/core/schemas/events.ts';
import { templateListAnswerSchema } from '../../src/core/schemas/api.ts';
import { customerWrites, httpSend, natsRequest, newCustomer, startOutbound, type OutboundTest } from './helpers.ts';

const WABA = '102290129340398';

async function listTemplates(o: OutboundTest, query = `account=${WA.account}`): Promise<any> {
  const response = await fetch(`${o.t.daemon.url}/v1/templates?${query}`, { headers: { authorization: `Bearer ${API_TOKEN}` } });
  return { status: response.status, json: await response.json() };
}

function templateSend(key: string, to: string, template: Record<string, unknown>): Record<string, unknown> {
  return { idempotencyKey: key, account: WA.account, to: { externalId: to }, template: { params: {}, ...template } };
}

describe('template catalog (WhatsApp with wabaId)', () => {
  let o: OutboundTest;
  let customer: string;

  beforeAll(async () => {
    o = await startOutbound({ account: { wabaId: `"${WABA}"` }, templates: { tickMs: 100 } });
    customer = newCustomer();
    await customerWrites(o, customer);
    await waitFor(async () => (await listTemplates(o)).json.syncedAt !== null, { description: 'first catalog sync' });
  });
  afterAll(() => o?.stop());

  it('syncs the catalog at start and lists it over HTTP and NATS', async () => {
    const { status, json } = await listTemplates(o);
    expect(status).toBe(200);
    expect(templateListAnswerSchema.parse(json).templates.length).toBe(o.fake.catalog(WABA).length);
    const paused = json.templates.find((t: any) => t.name === 'spring_sale');
    expect(paused).toMatchObject({ language: 'en_US', status: 'PAUSED', category: 'MARKETING', parameters: { header: 'image', body: 1, format: 'POSITIONAL' } });
    const named = json.templates.find((t: any) => t.name === 'order_shipped');
    expect(named.parameters).toEqual({ format: 'NAMED', header: 'image', body: ['first_name', 'order_id'], buttons: ['quick_reply', 'url_dynamic'] });
    const overNats = await natsRequest(o, 'template.list', { account: WA.account, status: 'approved' });
    expect(overNats.ok).toBe(true);
    expect(overNats.templates.every((t: any) => t.status === 'APPROVED')).toBe(true);
    expect(overNats.templates.map((t: any) => t.name)).toContain('order_update');
    expect((await natsRequest(o, 'template.list', { account: 'nope' })).error.code).toBe('unknown_account');
    expect((await listTemplates(o, 'name=x')).json.error.code).toBe('invalid_request');
  });

  it('reads every page of a large catalog', async () => {
    o.fake.putTemplates(WABA, Array.from({ length: 150 }, (_, i) => graphTemplate({ name: `bulk_${String(i).padStart(3, '0')}`, language: 'en_US', body: i % 3 })));
    const before = o.fake.catalogRequests().length;
    const entry = o.t.daemon.registry.get(WA.account)!;
    expect(await o.outbound.templates.syncNow(entry)).toBe(true);
    const requests = o.fake.catalogRequests().slice(before);
    expect(requests.length).toBe(2);
    expect(requests[0]!.after).toBeNull();
    expect(requests[1]!.after).not.toBeNull();
    const { json } = await listTemplates(o);
    expect(json.templates.length).toBe(o.fake.catalog(WABA).length);
    expect(json.templates.find((t: any) => t.name === 'bulk_149').parameters.body).toBe(2);
  });

  it('refuses each wrong template at acceptance, naming the problem, without calling the fake', async () => {
    const sentBefore = o.fake.sent().length;
    const cases: Array<[Record<string, unknown>, Record<string, unknown>]> = [
      [{ name: 'no_such_template', language: 'en_US' }, { reason: 'unknown_template' }],
      [{ name: 'spring_sale', language: 'en_US', params: { header: { type: 'image', link: 'https://example.com/a.jpg' }, body: ['x'] } }, { reason: 'not_approved', status: 'PAUSED' }],
      [{ name: 'old_promo', language: 'en_US' }, { reason: 'not_approved', status: 'REJECTED' }],
      [{ name: 'order_update', language: 'fr', params: { body: ['a', 'b'] } }, { reason: 'language_missing', available: ['en_US', 'es'] }],
      [{ name: 'order_update', language: 'en_US', params: { body: ['only one'] } }, { reason: 'body_param_count', expected: 2, given: 1 }],
      [{ name: 'order_update', language: 'en_US', params: { body: { a: 'x', b: 'y' } } }, { reason: 'body_param_format', expected: 'positional' }],
      [
        { name: 'order_shipped', language: 'en_US', params: { header: 'Order 42', body: { first_name: 'K', order_id: '1' }, buttons: [{ subType: 'url', index: 1, text: 'x' }] } },
        { reason: 'header_mismatch', expected: 'image', given: 'text' },
      ],
      [
        { name: 'order_shipped', language: 'en_US', params: { header: { type: 'image', link: 'https://example.com/a.jpg' }, body: { first_name: 'K' }, buttons: [{ subType: 'url', index: 1, text: 'x' }] } },
        { reason: 'body_param_names', expected: ['first_name', 'order_id'], given: ['first_name'] },
      ],
      [
        { name: 'order_shipped', language: 'en_US', params: { header: { type: 'image', link: 'https://example.com/a.jpg' }, body: { first_name: 'K', order_id: '1' } } },
        { reason: 'button_param_missing', index: 1 },
      ],
      [{ name: 'hello_world', language: 'en_US', params: { header: 'Hi' } }, { reason: 'header_mismatch', expected: 'none' }],
    ];
    for (const [index, [template, details]] of cases.entries()) {
      const answer = await httpSend(o, templateSend(`tpl-bad-${index}`, customer, template));
      expect(answer.status, JSON.stringify(template)).toBe(422);
      expect(answer.json.error, JSON.stringify(template)).toMatchObject({ code: 'template_invalid', details });
    }
    expect(o.fake.sent().length).toBe(sentBefore);
  });

  it('sends a template the catalog approves', async () => {
    const answer = await httpSend(o, templateSend('tpl-ok-1', customer, { name: 'order_update', language: 'en_US', params: { body: ['Kerry', '#1234'] } }));
    expect(answer.json).toMatchObject({ ok: true, status: 'queued' });
    await waitFor(() => o.fake.sent().some((sent) => (sent.body.template as any)?.name === 'order_update'), { description: 'template reached the fake' });
  });

  it('applies a status webhook at once, announces it once, and refuses the paused template', async () => {
    const spec = await o.fake.setTemplateStatus(WABA, 'order_update', 'es', 'PAUSED', 'LOW_QUALITY');
    await waitFor(async () => (await listTemplates(o, `account=${WA.account}&name=order_update`)).json.templates.find((t: any) => t.language === 'es')?.status === 'PAUSED', {
      description: 'paused by webhook',
    });
    // Meta redelivers: nothing changes a second time.
    const again = await o.t.postWhatsApp(spec.body as string);
    expect(again.status).toBe(200);
    await o.fake.setTemplateCategory(WABA, 'order_update', 'es', 'MARKETING');
    const ours = await waitFor(async () => {
      const events = await o.t.events(`${o.t.prefix}.v1.evt.template.updated.whatsapp.${WA.account}`);
      const found = events.filter((event) => event.data.name === 'order_update' && event.data.language === 'es');
      return found.length >= 2 ? found : null;
    }, { description: 'two template.updated events' });
    expect(ours.map((event) => templateUpdatedEventSchema.parse(event.data))).toMatchObject([
      { status: 'PAUSED', previousStatus: 'APPROVED', category: 'UTILITY', source: 'webhook', version: 2 },
      { status: 'PAUSED', category: 'MARKETING', previousCategory: 'UTILITY', version: 3 },
    ]);
    const refused = await httpSend(o, templateSend('tpl-paused-es', customer, { name: 'order_update', language: 'es', params: { body: ['a', 'b'] } }));
    expect(refused.json.error).toMatchObject({ code: 'template_invalid', details: { reason: 'not_approved', status: 'PAUSED' } });
    // The webhook asked for a sync too: the syncing replica cleared the request.
    await waitFor(async () => {
      const [row] = await o.t.sql!`select requested_at from template_syncs where account = ${WA.account}`;
      return row?.requested_at === null;
    }, { description: 'requested sync done' });
  });
});

describe('template catalog (WhatsApp without wabaId)', () => {
  let o: OutboundTest;
  afterAll(() => o?.stop());

  it('behaves as before: no sync, templates checked for shape only', async () => {
    o = await startOutbound({ templates: { tickMs: 100 } });
    const customer = newCustomer();
    await customerWrites(o, customer);
    const answer = await httpSend(o, templateSend('tpl-nowaba-1', customer, { name: 'not_in_any_catalog', language: 'en_US' }));
    expect(answer.json).toMatchObject({ ok: true, status: 'queued' });
    expect((await listTemplates(o)).json).toMatchObject({ ok: true, syncedAt: null, templates: [] });
    expect(o.fake.catalogRequests()).toEqual([]);
  });
});
