/**
 * The WABA's template catalog from the Graph API (`GET /{waba-id}/message_templates`, every
 * page through `paging.cursors.after` while `paging.next` is given), each template read into
 * what a send must give: the header kind, the body parameters (count, or names) and the
 * buttons that take a parameter.
 */
import type { CatalogTemplate } from '../../core/adapter.ts';
import { OmniError } from '../../core/errors.ts';
import type { GraphClient } from './client.ts';

/** What a send of this template must give (`CatalogTemplate.parameters` on WhatsApp). */
export interface TemplateParameters {
  /** Meta's `parameter_format`: `{{1}}` placeholders or `{{first_name}}` ones. */
  format: 'POSITIONAL' | 'NAMED';
  /** `none`, a fixed `text`, a `text_param` (one parameter), or a media header the send must supply. */
  header: 'none' | 'text' | 'text_param' | 'image' | 'video' | 'document' | 'location';
  /** Positional: how many; named: which names. */
  body: number | string[];
  /** Buttons by index: `url_dynamic` needs a URL suffix, `copy_code` a code; the rest take none or optional. */
  buttons: Array<'quick_reply' | 'url' | 'url_dynamic' | 'copy_code' | 'phone_number' | 'other'>;
}

const FIELDS = 'id,name,language,status,category,quality_score,components,parameter_format';
const PAGE_SIZE = '100';
// A WABA holds at most 250 templates (6 000 with a verified business); this bounds a looping cursor.
const MAX_PAGES = 100;

type Json = Record<string, unknown>;

/** Every template of the WABA, all pages. Throws OmniError (`channel_rejected` naming the field, or retryable). */
export async function fetchCatalog(graph: GraphClient, wabaId: string, signal: AbortSignal): Promise<CatalogTemplate[]> {
  const templates: CatalogTemplate[] = [];
  let after: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const query: Record<string, string> = { fields: FIELDS, limit: PAGE_SIZE };
    if (after !== undefined) query.after = after;
    const body = await graph.getJson(`${wabaId}/message_templates`, query, signal);
    for (const item of Array.isArray(body.data) ? body.data : []) {
      const template = readTemplate(item);
      if (template !== null) templates.push(template);
    }
    const paging = isRecord(body.paging) ? body.paging : {};
    const cursors = isRecord(paging.cursors) ? paging.cursors : {};
    const next = typeof cursors.after === 'string' && cursors.after !== '' ? cursors.after : undefined;
    // Graph leaves `next` out on the last page (the cursors stay).
    if (typeof paging.next !== 'string' || next === undefined || next === after) return templates;
    after = next;
  }
  throw new OmniError('channel_unavailable', `the template catalog has more than ${MAX_PAGES} pages`, { details: { reason: 'too_many_pages' } });
}

/** One Graph template; null for an item without a name or language (counted as absent). */
export function readTemplate(item: unknown): CatalogTemplate | null {
  if (!isRecord(item) || typeof item.name !== 'string' || typeof item.language !== 'string') return null;
  const components = Array.isArray(item.components) ? item.components : [];
  const template: CatalogTemplate = {
    name: item.name,
    language: item.language,
    status: typeof item.status === 'string' ? item.status.toUpperCase() : 'UNKNOWN',
    parameters: { ...readParameters(components, item.parameter_format) },
    components,
  };
  if (typeof item.id === 'string' || typeof item.id === 'number') template.externalId = String(item.id);
  if (typeof item.category === 'string') template.category = item.category.toUpperCase();
  const quality = isRecord(item.quality_score) ? item.quality_score.score : undefined;
  if (typeof quality === 'string') template.quality = quality.toUpperCase();
  return template;
}

/** The parameters a send must give, read from the components. */
export function readParameters(components: unknown[], parameterFormat: unknown): TemplateParameters {
  const format = String(parameterFormat ?? '').toUpperCase() === 'NAMED' ? 'NAMED' : 'POSITIONAL';
  const result: TemplateParameters = { format, header: 'none', body: format === 'NAMED' ? [] : 0, buttons: [] };
  for (const component of components) {
    if (!isRecord(component)) continue;
    const type = String(component.type ?? '').toUpperCase();
    if (type === 'HEADER') {
      const kind = String(component.format ?? 'TEXT').toLowerCase();
      if (kind === 'text') result.header = placeholders(component.text).length > 0 ? 'text_param' : 'text';
      else if (kind === 'image' || kind === 'video' || kind === 'document' || kind === 'location') result.header = kind;
    } else if (type === 'BODY') {
      const names = placeholders(component.text);
      result.body = format === 'NAMED' ? names : new Set(names).size;
    } else if (type === 'BUTTONS') {
      for (const button of Array.isArray(component.buttons) ? component.buttons : []) result.buttons.push(buttonKind(button));
    }
  }
  return result;
}

function buttonKind(button: unknown): TemplateParameters['buttons'][number] {
  if (!isRecord(button)) return 'other';
  switch (String(button.type ?? '').toUpperCase()) {
    case 'QUICK_REPLY':
      return 'quick_reply';
    case 'URL':
      return placeholders(button.url).length > 0 ? 'url_dynamic' : 'url';
    case 'COPY_CODE':
      return 'copy_code';
    case 'PHONE_NUMBER':
      return 'phone_number';
    default:
      return 'other';
  }
}

/** The placeholder names of a text, in order of first use (`{{1}}` → `1`, `{{first_name}}`). */
function placeholders(text: unknown): string[] {
  if (typeof text !== 'string') return [];
  const names: string[] = [];
  for (const match of text.matchAll(/\{\{\s*([a-z0-9_]{1,64})\s*\}\}/g)) if (!names.includes(match[1]!)) names.push(match[1]!);
  return names;
}

function isRecord(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
