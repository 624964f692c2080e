/**
 * `template` of a send command → Meta's template object (reference 1.4, 1.6). Helpdesks give
 * `params.body` (positional array or named object), `params.header` and `params.buttons`, or
 * raw `params.components` for full control. Everything checkable is checked here, so a broken
 * template fails with `template_invalid` before Meta is called (and before it counts a message).
 */
import { OmniError } from '../../core/errors.ts';

/** The command's template, as the core hands it over. */
export interface TemplateInput {
  name: string;
  language: string;
  params: Record<string, unknown>;
}

/** The limits the account declares (`capabilities.templates`). */
export interface TemplateLimits {
  maxBodyParams: number;
  maxNameLength: number;
}

type Json = Record<string, unknown>;

const NAME = /^[a-z0-9_]+$/;
// `en`, `en_US`, `zh_HK`, `fil`, `sr_Latn`…: Meta's language codes.
const LANGUAGE = /^[a-z]{2,3}(_[A-Za-z]{2,4})?$/;
const PARAM_NAME = /^[a-z0-9_]{1,64}$/;
const HEADER_TEXT_MAX = 60;
// A parameter can never exceed the body it is substituted into (1024 characters).
const BODY_PARAM_MAX = 1024;
const MAX_BUTTONS = 10;
const COUPON_CODE_MAX = 15;
const HEADER_MEDIA = new Set(['image', 'video', 'document']);
const BUTTON_KINDS = new Set(['quick_reply', 'url', 'copy_code']);
const KNOWN_KEYS = new Set(['body', 'header', 'buttons', 'components']);

/** Throws `template_invalid` naming the field at fault. */
function invalid(message: string, field: string, extra: Json = {}): never {
  throw new OmniError('template_invalid', message, { details: { field, ...extra } });
}

/** Meta's template object: `{ name, language: { code }, components? }`. */
export function buildTemplate(template: TemplateInput, limits: TemplateLimits): Json {
  const { name, language } = template;
  if (typeof name !== 'string' || name.length === 0 || name.length > limits.maxNameLength || !NAME.test(name)) {
    invalid(`template name must be 1-${limits.maxNameLength} characters of a-z, 0-9 and _`, 'template.name');
  }
  if (typeof language !== 'string' || !LANGUAGE.test(language)) invalid('template language must be a code such as en_US', 'template.language');
  const params = isRecord(template.params) ? template.params : {};
  const unknown = Object.keys(params).filter((key) => !KNOWN_KEYS.has(key));
  if (unknown.length > 0) invalid(`unknown template params: ${unknown.join(', ')}`, 'template.params', { allowed: [...KNOWN_KEYS] });

  const result: Json = { name, language: { code: language } };
  if (params.components !== undefined) {
    if (['body', 'header', 'buttons'].some((key) => params[key] !== undefined)) {
      invalid('params.components gives full control and cannot be mixed with body, header or buttons', 'template.params.components');
    }
    result.components = rawComponents(params.components);
    return result;
  }
  const components: Json[] = [];
  if (params.header !== undefined) components.push({ type: 'header', parameters: [headerParameter(params.header)] });
  if (params.body !== undefined) {
    const parameters = bodyParameters(params.body, limits.maxBodyParams);
    if (parameters.length > 0) components.push({ type: 'body', parameters });
  }
  if (params.buttons !== undefined) components.push(...buttonComponents(params.buttons));
  if (components.length > 0) result.components = components;
  return result;
}

/** `params.components` pass through untouched, but must at least be components. */
function rawComponents(value: unknown): Json[] {
  if (!Array.isArray(value)) invalid('params.components must be an array of components', 'template.params.components');
  value.forEach((component, index) => {
    if (!isRecord(component) || typeof component.type !== 'string' || component.type === '') {
      invalid('each component needs a type', `template.params.components[${index}]`);
    }
  });
  return value as Json[];
}

/** Text header (`"Order 42"` or `{ type: 'text', text }`) or media header (`{ type: 'image', link | id }`). */
function headerParameter(value: unknown): Json {
  const field = 'template.params.header';
  if (typeof value === 'string' || typeof value === 'number') return textParameter(String(value), field, HEADER_TEXT_MAX);
  if (!isRecord(value) || typeof value.type !== 'string') invalid('header must be text or { type, link | id }', field);
  if (value.type === 'text') return textParameter(value.text, field, HEADER_TEXT_MAX);
  if (!HEADER_MEDIA.has(value.type)) invalid('header type must be text, image, video or document', `${field}.type`);
  const hasLink = value.link !== undefined;
  const hasId = value.id !== undefined;
  if (hasLink === hasId) invalid('a media header needs exactly one of link or id', field);
  const media: Json = {};
  if (hasLink) {
    if (typeof value.link !== 'string' || !isHttpsUrl(value.link)) invalid('header link must be an https URL', `${field}.link`);
    media.link = value.link;
  } else {
    if (typeof value.id !== 'string' || value.id === '') invalid('header id must be a media id', `${field}.id`);
    media.id = value.id;
  }
  if (value.filename !== undefined) {
    if (value.type !== 'document' || typeof value.filename !== 'string') invalid('filename is only for a document header', `${field}.filename`);
    media.filename = value.filename;
  }
  return { type: value.type, [value.type]: media };
}

/** Positional `["Kerry", "#1234"]` or named `{ first_name: "Kerry" }` body parameters. */
function bodyParameters(value: unknown, maxParams: number): Json[] {
  const field = 'template.params.body';
  let parameters: Json[];
  if (Array.isArray(value)) {
    parameters = value.map((item, index) => bodyParameter(item, `${field}[${index}]`));
  } else if (isRecord(value)) {
    parameters = Object.entries(value).map(([name, item]) => {
      if (!PARAM_NAME.test(name)) invalid('named parameters use a-z, 0-9 and _', `${field}.${name}`);
      return { ...bodyParameter(item, `${field}.${name}`), parameter_name: name };
    });
  } else {
    invalid('body must be an array (positional) or an object (named parameters)', field);
  }
  if (parameters.length > maxParams) invalid(`at most ${maxParams} body parameters`, field, { limit: maxParams });
  return parameters;
}

/** A text value, or a Meta parameter object (`currency`, `date_time`) passed on as it is. */
function bodyParameter(value: unknown, field: string): Json {
  if (isRecord(value)) {
    if (typeof value.type !== 'string' || value.type === '') invalid('a parameter object needs a type', field);
    if (value.type === 'text') return textParameter(value.text, field, BODY_PARAM_MAX);
    return { ...value };
  }
  return textParameter(typeof value === 'number' ? String(value) : value, field, BODY_PARAM_MAX);
}

function textParameter(value: unknown, field: string, max: number): Json {
  if (typeof value !== 'string' || value.trim() === '') invalid('parameter text must be a non-empty string', field);
  if (value.length > max) invalid(`parameter text exceeds ${max} characters`, field, { limit: max });
  // Meta refuses these inside template parameters (error 132018).
  if (/[\n\t]| {5}/.test(value)) invalid('parameter text cannot contain new lines, tabs or more than 4 consecutive spaces', field);
  return { type: 'text', text: value };
}

/**
 * Buttons by template position: `"payload"` (a quick reply at that index) or
 * `{ subType: 'quick_reply' | 'url' | 'copy_code', payload | text | code, index? }`.
 */
function buttonComponents(value: unknown): Json[] {
  const field = 'template.params.buttons';
  if (!Array.isArray(value)) invalid('buttons must be an array', field);
  if (value.length > MAX_BUTTONS) invalid(`at most ${MAX_BUTTONS} buttons`, field, { limit: MAX_BUTTONS });
  const seen = new Set<number>();
  return value.map((item, position) => {
    const at = `${field}[${position}]`;
    const button: Json = typeof item === 'string' ? { subType: 'quick_reply', payload: item } : isRecord(item) ? item : invalid('a button is a payload string or an object', at);
    const kind = button.subType ?? button.sub_type;
    if (typeof kind !== 'string' || !BUTTON_KINDS.has(kind)) invalid('button subType must be quick_reply, url or copy_code', `${at}.subType`);
    const index = button.index ?? position;
    if (!Number.isSafeInteger(index) || (index as number) < 0 || (index as number) >= MAX_BUTTONS) invalid('button index must be 0-9', `${at}.index`);
    if (seen.has(index as number)) invalid('two buttons with the same index', `${at}.index`);
    seen.add(index as number);
    return { type: 'button', sub_type: kind, index: String(index), parameters: [buttonParameter(kind, button, at)] };
  });
}

function buttonParameter(kind: string, button: Json, at: string): Json {
  if (kind === 'quick_reply') {
    if (typeof button.payload !== 'string' || button.payload === '') invalid('a quick reply needs a payload', `${at}.payload`);
    return { type: 'payload', payload: button.payload };
  }
  if (kind === 'url') {
    if (typeof button.text !== 'string' || button.text === '') invalid('a URL button needs the URL suffix as text', `${at}.text`);
    return { type: 'text', text: button.text };
  }
  const code = button.code ?? button.coupon_code;
  if (typeof code !== 'string' || code === '' || code.length > COUPON_CODE_MAX) {
    invalid(`a copy-code button needs a code of 1-${COUPON_CODE_MAX} characters`, `${at}.code`);
  }
  return { type: 'coupon_code', coupon_code: code };
}

function isHttpsUrl(value: string): boolean {
  return URL.canParse(value) && new URL(value).protocol === 'https:';
}

function isRecord(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
