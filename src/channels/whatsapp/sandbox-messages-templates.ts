/**
 * The fake's approved-template catalogue and the checks Meta runs on a template send: the
 * template must exist in that language (132001), parameters must match it in number and
 * format (132000, 132012), and dynamic URL buttons need their parameter (131008).
 */
import { FakeRefusal } from '../../sandbox/index.ts';
import { whatsappError } from './sandbox-graph.ts';

/** An approved template as the fake knows it: only what decides whether a send is valid. */
export interface FakeTemplate {
  name: string;
  /** Meta's language code, e.g. `en_US`. */
  language: string;
  /** `text` = a fixed text header, `text_param` = a text header with one parameter, or a media header. */
  header?: 'text' | 'text_param' | 'image' | 'video' | 'document';
  /** The number of positional body parameters, or the names of named ones. */
  body: number | ReadonlyArray<string>;
  /** Buttons by index; `url_dynamic` needs a URL suffix parameter, `url` is static. */
  buttons?: ReadonlyArray<'quick_reply' | 'url' | 'url_dynamic' | 'copy_code'>;
}

/** The catalogue a fake starts with: Meta's sample plus two order templates (positional and named). */
export const DEFAULT_TEMPLATES: ReadonlyArray<FakeTemplate> = [
  { name: 'hello_world', language: 'en_US', header: 'text', body: 0 },
  { name: 'order_update', language: 'en_US', body: 2 },
  { name: 'order_shipped', language: 'en_US', header: 'image', body: ['first_name', 'order_id'], buttons: ['quick_reply', 'url_dynamic'] },
];

type Json = Record<string, unknown>;

function refuse(status: number, code: number, title: string, details: string): never {
  throw new FakeRefusal(whatsappError(status, code, title, details));
}
function mismatch(details: string): never {
  return refuse(400, 132000, 'Number of parameters does not match the expected number of params', details);
}
function formatMismatch(details: string): never {
  return refuse(400, 132012, 'Parameter format does not match format in the created template', details);
}

/** Check a template object against the catalogue; throws FakeRefusal the way Meta answers. */
export function checkTemplate(template: Json, components: Json[], catalogue: ReadonlyArray<FakeTemplate>): void {
  const name = template.name as string;
  const code = (template.language as Json).code as string;
  const known = catalogue.find((entry) => entry.name === name && entry.language === code);
  if (known === undefined) refuse(404, 132001, 'Template name does not exist in the translation', `template name (${name}) does not exist in ${code}`);

  const byType = (type: string) => components.filter((component) => component.type === type);
  const parametersOf = (component: Json | undefined): Json[] => (Array.isArray(component?.parameters) ? (component.parameters as Json[]) : []);

  const header = parametersOf(byType('header')[0]);
  const expected = known.header;
  if (expected === 'image' || expected === 'video' || expected === 'document') {
    const given = header[0];
    if (header.length !== 1 || given?.type !== expected || !isMedia(given[expected])) {
      formatMismatch(`header: Format mismatch, expected ${expected.toUpperCase()}, received ${String(given?.type ?? 'UNKNOWN').toUpperCase()}`);
    }
  } else {
    const wanted = expected === 'text_param' ? 1 : 0;
    if (header.length !== wanted) mismatch(`header: number of localizable_params (${header.length}) does not match the expected number of params (${wanted})`);
  }

  const body = parametersOf(byType('body')[0]);
  if (typeof known.body === 'number') {
    if (body.length !== known.body) mismatch(`body: number of localizable_params (${body.length}) does not match the expected number of params (${known.body})`);
    if (body.some((parameter) => parameter.parameter_name !== undefined)) formatMismatch('body: template uses positional parameters, received named parameters');
  } else {
    const names = body.map((parameter) => parameter.parameter_name);
    const sameNames = names.length === known.body.length && known.body.every((wanted) => names.includes(wanted));
    if (!sameNames) mismatch(`body: named parameters (${names.map(String).join(', ')}) do not match the expected parameters (${known.body.join(', ')})`);
  }

  checkButtons(byType('button'), known.buttons ?? []);
}

const BUTTON_KIND: Readonly<Record<string, string>> = { quick_reply: 'quick_reply', url_dynamic: 'url', copy_code: 'copy_code' };
const BUTTON_PARAMETER: Readonly<Record<string, string>> = { quick_reply: 'payload', url: 'text', copy_code: 'coupon_code' };

function checkButtons(components: Json[], buttons: ReadonlyArray<string>): void {
  const seen = new Set<number>();
  for (const component of components) {
    const index = Number(component.index);
    const kind = buttons[index];
    if (!Number.isSafeInteger(index) || kind === undefined) mismatch(`buttons: no button at index ${String(component.index)}`);
    const wanted = BUTTON_KIND[kind];
    if (wanted === undefined) mismatch(`buttons: button at index ${index} takes no parameters`);
    if (component.sub_type !== wanted) formatMismatch(`buttons: button at index ${index} is ${wanted}, received ${String(component.sub_type)}`);
    const parameters = Array.isArray(component.parameters) ? (component.parameters as Json[]) : [];
    if (parameters.length !== 1 || parameters[0]?.type !== BUTTON_PARAMETER[wanted]) {
      formatMismatch(`buttons: button at index ${index} needs one ${BUTTON_PARAMETER[wanted]} parameter`);
    }
    seen.add(index);
  }
  buttons.forEach((kind, index) => {
    if (kind === 'url_dynamic' && !seen.has(index)) {
      refuse(400, 131008, 'Required parameter is missing', `buttons: Button at index ${index} of type Url requires a parameter`);
    }
  });
}

function isMedia(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const media = value as Json;
  return (typeof media.id === 'string' && media.id !== '') || (typeof media.link === 'string' && media.link !== '');
}
