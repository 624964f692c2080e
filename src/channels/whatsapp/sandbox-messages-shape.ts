/**
 * The fake's checks on a `POST /messages` body, shaped like Meta's answers: a missing or
 * unknown parameter is `(#100)`, a value out of bounds `(#131009) Parameter value is not
 * valid` with the limit in `error_data.details`. Where Meta's tolerance is undocumented the
 * fake is stricter (unknown keys are refused), so an adapter bug shows up in tests, not at Meta.
 */
import { invalidParameter, whatsappError } from './sandbox-graph.ts';
import { FakeRefusal } from '../../sandbox/index.ts';
import { checkTemplate, type FakeTemplate } from './sandbox-messages-templates.ts';

type Json = Record<string, unknown>;

/** A send request that passed every check. */
export interface CheckedSend {
  /** The customer: phone digits without `+`, or the BSUID. */
  customer: string;
  /** `to` or `recipient` exactly as given (echoed as `contacts[].input`). */
  input: string;
  byUserId: boolean;
  type: string;
  object: Json;
}

/** What the checks need from the fake. */
export interface ShapeContext {
  /** The mime of media this phone number may send, or undefined for an unknown id. */
  mediaMime(id: string): string | undefined;
  templates: ReadonlyArray<FakeTemplate>;
}

const BSUID = /^[A-Z]{2}\.(?:ENT\.)?\d+$/;
const TOP_LEVEL = new Set(['messaging_product', 'recipient_type', 'to', 'recipient', 'type', 'context', 'biz_opaque_callback_data']);
const MEDIA_KEYS: Readonly<Record<string, ReadonlyArray<string>>> = {
  image: ['id', 'link', 'caption'],
  video: ['id', 'link', 'caption'],
  document: ['id', 'link', 'caption', 'filename'],
  audio: ['id', 'link', 'voice'],
  sticker: ['id', 'link'],
};
const MEDIA_MIMES: Readonly<Record<string, (mime: string) => boolean>> = {
  image: (mime) => mime === 'image/jpeg' || mime === 'image/png',
  video: (mime) => mime === 'video/mp4' || mime === 'video/3gpp',
  audio: (mime) => mime.startsWith('audio/'),
  sticker: (mime) => mime === 'image/webp',
  document: () => true,
};
const INTERACTIVE_TYPES = new Set(['button', 'list', 'cta_url', 'flow', 'product', 'product_list', 'location_request_message', 'address_message']);

function missing(name: string): never {
  throw new FakeRefusal(invalidParameter(`The parameter ${name} is required.`));
}
function unknownParam(name: string): never {
  throw new FakeRefusal(invalidParameter(`Param ${name} is not a valid parameter.`));
}
function badValue(details: string): never {
  throw new FakeRefusal(whatsappError(400, 131009, 'Parameter value is not valid', details));
}

function onlyKeys(object: Json, allowed: ReadonlyArray<string>, path: string): void {
  for (const key of Object.keys(object)) if (!allowed.includes(key)) unknownParam(`${path}['${key}']`);
}

function text(value: unknown, path: string, max: number, required = true): void {
  if (value === undefined && !required) return;
  if (value === undefined) missing(path);
  if (typeof value !== 'string' || value.trim() === '') badValue(`${path} must be a non-empty string.`);
  if (value.length > max) badValue(`${path} must be at most ${max} characters long.`);
}

function record(value: unknown, path: string): Json {
  if (value === undefined) missing(path);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) badValue(`${path} must be an object.`);
  return value as Json;
}

/** Check a parsed body; throws FakeRefusal with Meta's answer. */
export function checkSendRequest(body: Json, context: ShapeContext): CheckedSend {
  const product = body.messaging_product;
  if (product === undefined || product === '') missing('messaging_product');
  if (typeof product !== 'string' || product.toLowerCase() !== 'whatsapp') {
    throw new FakeRefusal(invalidParameter(`Param messaging_product must be one of {WHATSAPP} - got "${String(product)}".`));
  }
  // Meta defaults `type` to text; every other top-level key must be one it documents.
  const type = body.type ?? 'text';
  if (typeof type !== 'string' || !Object.hasOwn(CHECKS, type)) throw new FakeRefusal(invalidParameter('Invalid parameter'));
  for (const key of Object.keys(body)) if (!TOP_LEVEL.has(key) && key !== type) unknownParam(key);
  if (body.recipient_type !== undefined && body.recipient_type !== 'individual') {
    badValue('recipient_type must be individual (the sandbox has no groups).');
  }
  if (body.context !== undefined) {
    const context_ = record(body.context, 'context');
    onlyKeys(context_, ['message_id'], 'context');
    text(context_.message_id, "context['message_id']", 256);
  }
  if (body.biz_opaque_callback_data !== undefined) text(body.biz_opaque_callback_data, 'biz_opaque_callback_data', 512);

  // When both are given, `to` wins, as Meta documents.
  let input: string;
  let customer: string;
  let byUserId = false;
  if (body.to !== undefined) {
    if (typeof body.to !== 'string') badValue('to must be a string.');
    input = body.to;
    customer = normaliseCustomer(input);
    if (!/^\d{6,15}$/.test(customer) && !BSUID.test(customer)) badValue('Recipient phone number is not valid.');
  } else if (body.recipient !== undefined) {
    if (typeof body.recipient !== 'string' || !BSUID.test(body.recipient)) badValue('recipient must be a business-scoped user id.');
    input = body.recipient;
    customer = input;
    byUserId = true;
  } else {
    missing('to');
  }
  const object = type === 'contacts' ? { contacts: body.contacts } : record(body[type], type);
  CHECKS[type]!(object, context, type);
  return { customer, input, byUserId, type, object };
}

/** `+1 (631) 555-1234` → `16315551234`; a BSUID is kept as it is. */
export function normaliseCustomer(id: string): string {
  const trimmed = id.trim();
  return BSUID.test(trimmed) ? trimmed : trimmed.replace(/^\+/, '').replace(/[\s()-]/g, '');
}

type Check = (object: Json, context: ShapeContext, type: string) => void;

const media: Check = (object, context, type) => {
  onlyKeys(object, MEDIA_KEYS[type]!, type);
  const hasId = object.id !== undefined;
  if (hasId === (object.link !== undefined)) badValue(`${type} needs exactly one of id or link.`);
  if (hasId) {
    if (typeof object.id !== 'string') badValue(`${type}['id'] must be a string.`);
    const mime = context.mediaMime(object.id);
    if (mime === undefined) badValue(`${type}['id'] (${object.id}) is not a valid media id for this phone number.`);
    const essence = mime.split(';')[0]!.trim();
    if (!MEDIA_MIMES[type]!(essence)) {
      throw new FakeRefusal(whatsappError(400, 131053, 'Media upload error', `Media of type ${essence} cannot be sent as ${type}.`));
    }
  } else if (typeof object.link !== 'string' || !URL.canParse(object.link) || new URL(object.link).protocol !== 'https:') {
    badValue(`${type}['link'] must be an https URL.`);
  }
  text(object.caption, `${type}['caption']`, 1024, false);
  text(object.filename, `${type}['filename']`, 240, false);
  if (object.voice !== undefined && typeof object.voice !== 'boolean') badValue("audio['voice'] must be a boolean.");
};

const interactive: Check = (object) => {
  onlyKeys(object, ['type', 'header', 'body', 'footer', 'action'], 'interactive');
  if (typeof object.type !== 'string' || !INTERACTIVE_TYPES.has(object.type)) throw new FakeRefusal(invalidParameter('Invalid parameter'));
  if (object.header !== undefined) {
    const header = record(object.header, "interactive['header']");
    if (header.type === 'text') text(header.text, "interactive['header']['text']", 60);
  }
  if (object.footer !== undefined) text(record(object.footer, "interactive['footer']").text, "interactive['footer']['text']", 60);
  const action = record(object.action, "interactive['action']");
  if (object.type === 'button') {
    text(record(object.body, "interactive['body']").text, "interactive['body']['text']", 1024);
    const buttons = action.buttons;
    if (!Array.isArray(buttons) || buttons.length < 1 || buttons.length > 3) badValue('Buttons count must be between 1 and 3.');
    for (const button of buttons as unknown[]) {
      const entry = record(button, "interactive['action']['buttons'][]");
      if (entry.type !== 'reply') badValue("Button type must be 'reply'.");
      const reply = record(entry.reply, 'reply');
      text(reply.id, "reply['id']", 256);
      text(reply.title, "reply['title']", 20);
    }
    const ids = buttons.map((button) => ((button as Json).reply as Json).id);
    const titles = buttons.map((button) => ((button as Json).reply as Json).title);
    if (new Set(ids).size !== ids.length || new Set(titles).size !== titles.length) badValue('Button ids and titles must be unique.');
  } else if (object.type === 'list') {
    text(record(object.body, "interactive['body']").text, "interactive['body']['text']", 4096);
    text(action.button, "action['button']", 20);
    const sections = action.sections;
    if (!Array.isArray(sections) || sections.length < 1 || sections.length > 10) badValue('Sections count must be between 1 and 10.');
    const rows = (sections as unknown[]).flatMap((section) => {
      const entry = record(section, "action['sections'][]");
      text(entry.title, "section['title']", 24, sections.length > 1);
      return Array.isArray(entry.rows) ? (entry.rows as unknown[]) : [];
    });
    if (rows.length < 1 || rows.length > 10) badValue('Total row count must be between 1 and 10.');
    for (const row of rows) {
      const entry = record(row, 'row');
      text(entry.id, "row['id']", 200);
      text(entry.title, "row['title']", 24);
      text(entry.description, "row['description']", 72, false);
    }
    if (new Set(rows.map((row) => (row as Json).id)).size !== rows.length) badValue('Row ids must be unique.');
  }
};

const CHECKS: Readonly<Record<string, Check>> = {
  text: (object) => {
    onlyKeys(object, ['body', 'preview_url'], 'text');
    text(object.body, "text['body']", 4096);
    if (object.preview_url !== undefined && typeof object.preview_url !== 'boolean') badValue("text['preview_url'] must be a boolean.");
  },
  image: media,
  video: media,
  audio: media,
  document: media,
  sticker: media,
  location: (object) => {
    onlyKeys(object, ['latitude', 'longitude', 'name', 'address'], 'location');
    for (const [key, limit] of [['latitude', 90], ['longitude', 180]] as const) {
      const value = typeof object[key] === 'string' ? Number(object[key]) : object[key];
      if (object[key] === undefined) missing(`location['${key}']`);
      if (typeof value !== 'number' || !Number.isFinite(value) || Math.abs(value) > limit) badValue(`location['${key}'] is out of range.`);
    }
    text(object.name, "location['name']", 1000, false);
    text(object.address, "location['address']", 1000, false);
  },
  reaction: (object) => {
    onlyKeys(object, ['message_id', 'emoji'], 'reaction');
    text(object.message_id, "reaction['message_id']", 256);
    if (typeof object.emoji !== 'string') missing("reaction['emoji']");
  },
  contacts: (object) => {
    if (!Array.isArray(object.contacts) || object.contacts.length === 0) missing('contacts');
    for (const contact of object.contacts as unknown[]) text(record(record(contact, 'contacts[]').name, "contacts[]['name']").formatted_name, "name['formatted_name']", 1000);
  },
  interactive,
  template: (object, context) => {
    onlyKeys(object, ['name', 'language', 'components'], 'template');
    text(object.name, "template['name']", 512);
    const language = record(object.language, "template['language']");
    onlyKeys(language, ['code', 'policy'], "template['language']");
    text(language.code, "template['language']['code']", 16);
    const components = object.components ?? [];
    if (!Array.isArray(components)) badValue("template['components'] must be an array.");
    for (const component of components as unknown[]) {
      const entry = record(component, "template['components'][]");
      if (!['header', 'body', 'button'].includes(entry.type as string)) throw new FakeRefusal(invalidParameter('Invalid parameter'));
      if (entry.parameters !== undefined && !Array.isArray(entry.parameters)) badValue('parameters must be an array.');
      for (const parameter of (entry.parameters ?? []) as unknown[]) {
        const value = record(parameter, 'parameters[]');
        if (value.type === 'text') text(value.text, "parameter['text']", 32_768);
      }
    }
    checkTemplate(object, components as Json[], context.templates);
  },
};
