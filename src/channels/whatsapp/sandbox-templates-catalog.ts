/**
 * The fake's template catalog, `GET /{version}/{waba-id}/message_templates`, paged the way
 * Graph pages it (`limit`, `after`, `paging.cursors` and `paging.next` on every page but the
 * last), and the template webhooks Meta sends when a template changes
 * (`message_template_status_update`, `template_category_update`, `message_template_quality_update`).
 */
import type { Context, Hono } from 'hono';
import type { WebhookRequestSpec } from '../../core/adapter.ts';
import { authenticate, graphJson, invalidParameter, invalidToken, numericId, unknownObject, wabaIdOf, type FakeState, type WhatsAppAccount } from './sandbox-graph.ts';
import { DEFAULT_TEMPLATES, type FakeTemplate } from './sandbox-messages-templates.ts';
import { signWhatsAppBody } from './sandbox-webhooks.ts';

/** A template as Graph lists it. */
export interface GraphTemplate {
  id: string;
  name: string;
  language: string;
  status: string;
  category: string;
  parameter_format: 'POSITIONAL' | 'NAMED';
  components: Array<Record<string, unknown>>;
  quality_score?: { score: string };
}

/** Options of the fake catalog. */
export interface FakeCatalogOptions {
  /** The catalog every WABA starts with (default: the approved send catalogue plus a paused, a rejected and a Spanish template). */
  templates?: ReadonlyArray<GraphTemplate>;
  /** The largest page the fake answers, whatever `limit` asks (Graph: 100 or so). */
  maxPageSize?: number;
}

/** Hooks to steer the catalog from a test. */
export interface WhatsAppFakeCatalog {
  /** The catalog of a WABA as the fake serves it now. */
  catalog(wabaId: string): GraphTemplate[];
  /** Adds (or replaces, by name and language) templates of a WABA. */
  putTemplates(wabaId: string, templates: ReadonlyArray<GraphTemplate>): void;
  /** Changes a template's status and delivers `message_template_status_update`; resolves with the webhook. */
  setTemplateStatus(wabaId: string, name: string, language: string, status: string, reason?: string): Promise<WebhookRequestSpec>;
  /** Changes a template's category and delivers `template_category_update`. */
  setTemplateCategory(wabaId: string, name: string, language: string, category: string): Promise<WebhookRequestSpec>;
  /** Catalog page requests answered, oldest first (path and query), to assert paging. */
  catalogRequests(): Array<{ wabaId: string; limit: string | null; after: string | null }>;
}

/** A Graph template from the fake's send-check shape (the same name, language and parameters). */
export function graphTemplate(template: FakeTemplate, extra: Partial<GraphTemplate> = {}): GraphTemplate {
  const named = Array.isArray(template.body);
  const components: Array<Record<string, unknown>> = [];
  if (template.header === 'text') components.push({ type: 'HEADER', format: 'TEXT', text: 'Hello' });
  else if (template.header === 'text_param') components.push({ type: 'HEADER', format: 'TEXT', text: named ? 'Order {{order_ref}}' : 'Order {{1}}' });
  else if (template.header !== undefined) components.push({ type: 'HEADER', format: template.header.toUpperCase() });
  const body = named ? (template.body as ReadonlyArray<string>).map((name) => `{{${name}}}`) : Array.from({ length: template.body as number }, (_, i) => `{{${i + 1}}}`);
  components.push({ type: 'BODY', text: body.length === 0 ? 'Welcome and congratulations!' : `Hi ${body.join(', ')}.` });
  if (template.buttons !== undefined && template.buttons.length > 0) {
    components.push({
      type: 'BUTTONS',
      buttons: template.buttons.map((kind) => {
        if (kind === 'quick_reply') return { type: 'QUICK_REPLY', text: 'Yes' };
        if (kind === 'url_dynamic') return { type: 'URL', text: 'Track', url: 'https://example.com/track/{{1}}' };
        if (kind === 'url') return { type: 'URL', text: 'Visit', url: 'https://example.com/' };
        return { type: 'COPY_CODE', example: 'SAVE10' };
      }),
    });
  }
  return {
    id: numericId(),
    name: template.name,
    language: template.language,
    status: 'APPROVED',
    category: 'UTILITY',
    parameter_format: named ? 'NAMED' : 'POSITIONAL',
    components,
    ...extra,
  };
}

/** The catalog a WABA starts with. */
export function defaultCatalog(): GraphTemplate[] {
  return [
    ...DEFAULT_TEMPLATES.map((template) => graphTemplate(template, template.name === 'hello_world' ? { category: 'MARKETING' } : {})),
    graphTemplate({ name: 'order_update', language: 'es', body: 2 }),
    graphTemplate({ name: 'spring_sale', language: 'en_US', header: 'image', body: 1 }, { status: 'PAUSED', category: 'MARKETING' }),
    graphTemplate({ name: 'old_promo', language: 'en_US', body: 0 }, { status: 'REJECTED', category: 'MARKETING' }),
  ];
}

/** Registers the catalog route and returns the hooks. */
export function registerCatalogRoutes(app: Hono, state: FakeState, versionPattern: string, options: FakeCatalogOptions = {}): WhatsAppFakeCatalog {
  const catalogs = new Map<string, GraphTemplate[]>();
  const requests: Array<{ wabaId: string; limit: string | null; after: string | null }> = [];
  const maxPageSize = options.maxPageSize ?? 100;
  const catalogOf = (wabaId: string): GraphTemplate[] => {
    let catalog = catalogs.get(wabaId);
    if (catalog === undefined) {
      catalog = (options.templates ?? defaultCatalog()).map((template) => ({ ...template, id: numericId() }));
      catalogs.set(wabaId, catalog);
    }
    return catalog;
  };
  const accountOf = (wabaId: string): WhatsAppAccount | undefined => [...state.accounts.entries()].map(([, account]) => account).find((account) => wabaIdOf(account.settings) === wabaId);

  app.get(`/${versionPattern}/:waba/message_templates`, (c: Context) => {
    const principal = authenticate(state, c.req.raw);
    if (principal === null) return invalidToken();
    const wabaId = c.req.param('waba')!;
    const account = accountOf(wabaId);
    if (account === undefined || !principal.phoneNumberIds.has(account.settings.phoneNumberId)) return unknownObject('GET', wabaId);
    const limitText = c.req.query('limit') ?? null;
    const after = c.req.query('after') ?? null;
    requests.push({ wabaId, limit: limitText, after });
    const limit = limitText === null ? 25 : Number(limitText);
    if (!Number.isSafeInteger(limit) || limit < 1) return invalidParameter('Param limit must be a positive integer');
    const start = after === null ? 0 : decodeCursor(after);
    if (start === null) return invalidParameter('Invalid cursor');
    const catalog = catalogOf(wabaId);
    const page = catalog.slice(start, start + Math.min(limit, maxPageSize));
    const end = start + page.length;
    const paging: Record<string, unknown> = { cursors: { before: encodeCursor(start), after: encodeCursor(end) } };
    if (end < catalog.length) {
      const next = new URL(c.req.url);
      next.searchParams.set('after', encodeCursor(end));
      paging.next = next.toString();
    }
    return graphJson({ data: page, paging });
  });

  const change = async (wabaId: string, name: string, language: string, field: string, apply: (template: GraphTemplate) => Record<string, unknown>): Promise<WebhookRequestSpec> => {
    const account = accountOf(wabaId);
    if (account === undefined) throw new Error(`the fake serves no WABA ${wabaId}`);
    const template = catalogOf(wabaId).find((entry) => entry.name === name && entry.language === language);
    if (template === undefined) throw new Error(`WABA ${wabaId} has no template ${name} in ${language}`);
    const value = { message_template_id: Number(template.id), message_template_name: name, message_template_language: language, ...apply(template) };
    const spec = templateWebhook(account, wabaId, field, value, state.clock.now());
    await state.deliverWebhook?.(spec);
    return spec;
  };

  return {
    catalog: (wabaId) => catalogOf(wabaId).map((template) => ({ ...template })),
    putTemplates(wabaId, templates) {
      const catalog = catalogOf(wabaId);
      for (const template of templates) {
        const at = catalog.findIndex((entry) => entry.name === template.name && entry.language === template.language);
        if (at === -1) catalog.push({ ...template });
        else catalog[at] = { ...template };
      }
    },
    setTemplateStatus: (wabaId, name, language, status, reason = 'NONE') =>
      change(wabaId, name, language, 'message_template_status_update', (template) => {
        template.status = status;
        return { event: status, reason, message_template_category: template.category };
      }),
    setTemplateCategory: (wabaId, name, language, category) =>
      change(wabaId, name, language, 'template_category_update', (template) => {
        const previous = template.category;
        template.category = category;
        return { previous_category: previous, new_category: category };
      }),
    catalogRequests: () => requests.map((request) => ({ ...request })),
  };
}

/** A signed template webhook in Meta's shape: the entry id is the WABA id, no phone-number metadata. */
export function templateWebhook(account: WhatsAppAccount, wabaId: string, field: string, value: Record<string, unknown>, at: Date): WebhookRequestSpec {
  const body = JSON.stringify({ object: 'whatsapp_business_account', entry: [{ id: wabaId, time: Math.floor(at.getTime() / 1000), changes: [{ value, field }] }] });
  return {
    method: 'POST',
    path: `/webhooks/whatsapp/${encodeURIComponent(account.id)}`,
    headers: { 'content-type': 'application/json', 'x-hub-signature-256': signWhatsAppBody(body, account.settings.appSecret) },
    body,
  };
}

function encodeCursor(index: number): string {
  return Buffer.from(`idx:${index}`).toString('base64url');
}

function decodeCursor(cursor: string): number | null {
  const match = /^idx:(\d{1,9})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  return match === null ? null : Number(match[1]);
}
