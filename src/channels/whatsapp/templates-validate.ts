/**
 * A send's template checked against the synced catalog before Meta is called: the template
 * must exist, in that language, be APPROVED, and the send must give what it needs (header
 * media vs text, the body parameters in number or by name, the button parameters). Each
 * refusal is `template_invalid` with `details.reason` naming the problem.
 */
import type { CatalogTemplate } from '../../core/adapter.ts';
import { OmniError } from '../../core/errors.ts';
import type { TemplateInput } from './outbound-template.ts';
import type { TemplateParameters } from './templates-catalog.ts';

type Json = Record<string, unknown>;

function refuse(message: string, details: Json): never {
  throw new OmniError('template_invalid', message, { details });
}

/** Throws `template_invalid` when the catalog says this send would fail; `catalog` holds the entries of that name. */
export function validateAgainstCatalog(template: TemplateInput, catalog: ReadonlyArray<CatalogTemplate>): void {
  const { name, language } = template;
  if (catalog.length === 0) refuse(`the account has no template named ${name}`, { reason: 'unknown_template', field: 'template.name', name });
  const entry = catalog.find((candidate) => candidate.language === language);
  if (entry === undefined) {
    refuse(`template ${name} has no ${language} translation`, {
      reason: 'language_missing',
      field: 'template.language',
      name,
      language,
      available: catalog.map((candidate) => candidate.language).sort(),
    });
  }
  if (entry.status !== 'APPROVED') {
    refuse(`template ${name} (${language}) is ${entry.status}, not APPROVED`, { reason: 'not_approved', field: 'template.name', name, language, status: entry.status });
  }
  const params = isRecord(template.params) ? template.params : {};
  // Raw components are the caller's full control: existence, language and status are still checked.
  if (params.components !== undefined) return;
  const wanted = entry.parameters as unknown as TemplateParameters;
  checkHeader(wanted.header, params.header);
  checkBody(wanted, params.body);
  checkButtons(wanted.buttons ?? [], params.buttons);
}

function checkHeader(expected: TemplateParameters['header'], given: unknown): void {
  const field = 'template.params.header';
  const kind = given === undefined ? 'none' : typeof given === 'string' || typeof given === 'number' ? 'text' : isRecord(given) ? String(given.type) : 'unknown';
  if (expected === 'none' || expected === 'text') {
    if (kind !== 'none') refuse('the template header takes no parameter', { reason: 'header_mismatch', field, expected: 'none', given: kind });
    return;
  }
  const wantedKind = expected === 'text_param' ? 'text' : expected;
  if (kind !== wantedKind) {
    refuse(`the template header needs ${wantedKind === 'text' ? 'a text' : `${wantedKind} media`}`, { reason: 'header_mismatch', field, expected: wantedKind, given: kind });
  }
}

function checkBody(wanted: TemplateParameters, given: unknown): void {
  const field = 'template.params.body';
  if (wanted.format === 'NAMED') {
    const expected = Array.isArray(wanted.body) ? wanted.body : [];
    if (given === undefined && expected.length === 0) return;
    if (!isRecord(given)) {
      refuse('the template uses named body parameters: give params.body as an object', { reason: 'body_param_format', field, expected: 'named', given: Array.isArray(given) ? 'positional' : typeof given });
    }
    const names = Object.keys(given).sort();
    const sorted = [...expected].sort();
    if (names.length !== sorted.length || names.some((name, index) => name !== sorted[index])) {
      refuse('the named body parameters do not match the template', { reason: 'body_param_names', field, expected: sorted, given: names });
    }
    return;
  }
  const expected = typeof wanted.body === 'number' ? wanted.body : 0;
  if (isRecord(given)) refuse('the template uses positional body parameters: give params.body as a list', { reason: 'body_param_format', field, expected: 'positional', given: 'named' });
  const count = Array.isArray(given) ? given.length : 0;
  if (count !== expected) refuse(`the template body takes ${expected} parameters, ${count} given`, { reason: 'body_param_count', field, expected, given: count });
}

const NEEDS: Readonly<Record<string, string>> = { url_dynamic: 'url', copy_code: 'copy_code' };

function checkButtons(buttons: TemplateParameters['buttons'], given: unknown): void {
  const field = 'template.params.buttons';
  const list = Array.isArray(given) ? given : [];
  const seen = new Set<number>();
  list.forEach((item, position) => {
    const button: Json = typeof item === 'string' ? { subType: 'quick_reply' } : isRecord(item) ? item : {};
    const index = Number(button.index ?? position);
    const subType = String(button.subType ?? button.sub_type ?? '');
    const kind = buttons[index];
    if (kind === undefined) refuse(`the template has no button at index ${index}`, { reason: 'button_mismatch', field: `${field}[${position}]`, index, buttons: buttons.length });
    const takes = kind === 'quick_reply' ? 'quick_reply' : NEEDS[kind];
    if (takes === undefined) refuse(`button ${index} of the template takes no parameter`, { reason: 'button_mismatch', field: `${field}[${position}]`, index, expected: kind });
    if (subType !== takes) refuse(`button ${index} of the template is ${takes}, not ${subType}`, { reason: 'button_mismatch', field: `${field}[${position}]`, index, expected: takes, given: subType });
    seen.add(index);
  });
  buttons.forEach((kind, index) => {
    if (NEEDS[kind] !== undefined && !seen.has(index)) {
      refuse(`button ${index} of the template needs a parameter`, { reason: 'button_param_missing', field, index, expected: NEEDS[kind] });
    }
  });
}

function isRecord(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
