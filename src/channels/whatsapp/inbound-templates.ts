/**
 * The template webhooks of a WABA (`message_template_status_update`,
 * `message_template_quality_update`, `template_category_update`): `changes[]` items whose
 * `field` names them and whose entry id is the WABA id (they carry no phone-number metadata).
 * Each becomes a `TemplateChange` for the catalog, which applies it and resyncs.
 */
import type { TemplateChange } from '../../core/adapter.ts';
import { isRecord, str, type JsonObject } from './inbound-parts.ts';

/** The `field` values this file reads. */
export const TEMPLATE_FIELDS: ReadonlySet<string> = new Set(['message_template_status_update', 'message_template_quality_update', 'template_category_update']);

// `REINSTATED` ends a pause: the template is approved again.
const STATUS_OF_EVENT: Readonly<Record<string, string>> = { REINSTATED: 'APPROVED' };

/** The change a template webhook item announces; null when it names no template. */
export function templateChange(field: string, value: unknown): TemplateChange | null {
  if (!isRecord(value)) return null;
  const change: TemplateChange = { field };
  const name = str(value.message_template_name);
  const language = str(value.message_template_language);
  const id = typeof value.message_template_id === 'number' ? String(value.message_template_id) : str(value.message_template_id);
  if (name !== undefined) change.name = name;
  if (language !== undefined) change.language = language;
  if (id !== undefined) change.externalId = id;
  if (change.externalId === undefined && (change.name === undefined || change.language === undefined)) return null;
  if (field === 'message_template_status_update') {
    const event = upper(value.event);
    if (event !== undefined) change.status = STATUS_OF_EVENT[event] ?? event;
    const category = upper(value.message_template_category);
    if (category !== undefined) change.category = category;
  } else if (field === 'template_category_update') {
    const category = upper(value.new_category) ?? upper(value.correct_category);
    if (category !== undefined) change.category = category;
  } else {
    const quality = upper(value.new_quality_score);
    if (quality !== undefined) change.quality = quality;
  }
  return change;
}

function upper(value: unknown): string | undefined {
  const text = str(value);
  return text === undefined ? undefined : text.toUpperCase();
}

