/**
 * XML in and out for WeChat, safely. Untrusted bodies are
 * size-capped, must be UTF-8 without NUL, and are refused outright when they contain any markup
 * declaration (`<!DOCTYPE`, `<!ENTITY`, ...) — WeChat never sends one — before a parser sees
 * them. The parser then runs with entity processing off and no value coercion, so MsgId stays
 * a 64-bit string and "00123" stays "00123".
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';

/** Largest message parsed: a long text message is a few tens of KB, so this is generous. */
export const MAX_XML_BYTES = 256 * 1024;

/** WeChat nests at most three levels (`xml > ScanCodeInfo > ScanType`); deeper is hostile. */
const MAX_DEPTH = 8;
const CDATA = '#cdata';
const TEXT = '#text';

/** Why a body was refused before or during parsing; safe to log and count. */
export type XmlFailure = 'too_large' | 'empty' | 'invalid_utf8' | 'nul_byte' | 'xml_declaration_refused' | 'too_deep' | 'invalid_xml';

/** A body the XML gate refused. */
export class XmlRefusedError extends Error {
  readonly reason: XmlFailure;
  constructor(reason: XmlFailure) {
    super(`xml refused: ${reason}`);
    this.name = 'XmlRefusedError';
    this.reason = reason;
  }
}

/** Values of one parsed element: text, or the elements nested in it. */
export type XmlValue = string | XmlFields;
/** The children of one element by name; repeated names are refused, so each name has one value. */
export interface XmlFields {
  [name: string]: XmlValue;
}

const parser = new XMLParser({
  processEntities: false,
  htmlEntities: false,
  parseTagValue: false,
  parseAttributeValue: false,
  ignoreAttributes: true,
  // Kept as is: user text may start or end with spaces, and the decrypted XML must stay exact.
  trimValues: false,
  cdataPropName: CDATA,
  ignoreDeclaration: true,
  ignorePiTags: true,
  maxNestedTags: MAX_DEPTH,
});

/**
 * Checks an untrusted body before any parser sees it and returns it as text: size, UTF-8,
 * no NUL, no markup declaration other than CDATA, bounded nesting. Linear in the body size.
 */
export function gateXml(body: Uint8Array, maxBytes = MAX_XML_BYTES): string {
  if (body.length > maxBytes) throw new XmlRefusedError('too_large');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    throw new XmlRefusedError('invalid_utf8');
  }
  if (text.trim().length === 0) throw new XmlRefusedError('empty');
  // NUL is not allowed in XML, and would hide UTF-16 markup from the scan below.
  if (text.includes('\u0000')) throw new XmlRefusedError('nul_byte');
  let depth = 0;
  for (let at = text.indexOf('<'); at !== -1; at = text.indexOf('<', at + 1)) {
    const next = text[at + 1];
    if (next === '!') {
      // Only CDATA sections pass; DOCTYPE, ENTITY, ELEMENT, ATTLIST and comments are refused whatever their case.
      if (!text.startsWith('<![CDATA[', at)) throw new XmlRefusedError('xml_declaration_refused');
      const end = text.indexOf(']]>', at + 9);
      if (end === -1) throw new XmlRefusedError('invalid_xml');
      at = end + 2;
    } else if (next === '/') {
      depth--;
    } else if (next !== '?') {
      const close = text.indexOf('>', at);
      if (close === -1) throw new XmlRefusedError('invalid_xml');
      if (text[close - 1] !== '/' && ++depth > MAX_DEPTH) throw new XmlRefusedError('too_deep');
      at = close;
    }
  }
  return text;
}

/**
 * Parses gated text into the fields of its single root element (`<xml>` for WeChat; the root's
 * name is returned too). Throws XmlRefusedError for anything that is not well-formed XML with
 * exactly one root and no repeated element names.
 */
export function parseXml(text: string): { root: string; fields: XmlFields } {
  if (XMLValidator.validate(text) !== true) throw new XmlRefusedError('invalid_xml');
  let document: unknown;
  try {
    document = parser.parse(text);
  } catch {
    // fast-xml-parser throws on `__proto__`/`constructor` names and over-deep nesting.
    throw new XmlRefusedError('invalid_xml');
  }
  if (!isRecord(document)) throw new XmlRefusedError('invalid_xml');
  const roots = Object.keys(document);
  if (roots.length !== 1) throw new XmlRefusedError('invalid_xml');
  const root = roots[0]!;
  const fields = normalise(document[root]);
  if (fields === undefined || typeof fields === 'string') throw new XmlRefusedError('invalid_xml');
  return { root, fields };
}

/** Text of an element (CDATA and plain text joined, plain text's XML escapes decoded), else undefined. */
export function textOf(fields: XmlFields, name: string): string | undefined {
  if (!Object.hasOwn(fields, name)) return undefined;
  const value = fields[name];
  return typeof value === 'string' ? value : undefined;
}

/** Nested fields of an element, else undefined. */
export function groupOf(fields: XmlFields, name: string): XmlFields | undefined {
  if (!Object.hasOwn(fields, name)) return undefined;
  const value = fields[name];
  return typeof value === 'object' ? value : undefined;
}

/** Wraps text in CDATA, splitting any `]]>` so the text cannot close the section early. */
export function cdata(text: string): string {
  return `<![CDATA[${text.replaceAll(']]>', ']]]]><![CDATA[>')}]]>`;
}

/** Builds `<xml>` with one element per entry: strings as CDATA, numbers and `{ raw }` as bare text. */
export function buildXml(fields: ReadonlyArray<readonly [string, string | number | { raw: string }]>): string {
  const lines = fields.map(([name, value]) => {
    const inner = typeof value === 'string' ? cdata(value) : typeof value === 'number' ? String(value) : value.raw;
    return `<${name}>${inner}</${name}>`;
  });
  return `<xml>${lines.join('')}</xml>`;
}

/**
 * Turns the parser's output into `XmlFields`: whitespace between elements dropped, CDATA and
 * text joined, repeated names (arrays) and mixed element/text content refused (undefined).
 */
function normalise(node: unknown): XmlValue | undefined {
  if (typeof node === 'string') return decodeEscapes(node);
  if (!isRecord(node)) return undefined;
  let cdataText: string | undefined;
  let plainText: string | undefined;
  const children: XmlFields = {};
  let hasChildren = false;
  for (const key of Object.keys(node)) {
    const value = node[key];
    if (key === CDATA || key === TEXT) {
      const pieces = Array.isArray(value) ? value : [value];
      if (!pieces.every((piece) => typeof piece === 'string')) return undefined;
      if (key === CDATA) cdataText = pieces.join('');
      // Whitespace between elements is layout, not content.
      else if (pieces.join('').trim() !== '') plainText = decodeEscapes(pieces.join(''));
      continue;
    }
    if (Array.isArray(value)) return undefined;
    const child = normalise(value);
    if (child === undefined) return undefined;
    Object.defineProperty(children, key, { value: child, enumerable: true, writable: true, configurable: true });
    hasChildren = true;
  }
  // The parser does not keep the order of text beside CDATA, and WeChat never mixes them.
  if (cdataText !== undefined && plainText !== undefined) return undefined;
  const text = cdataText ?? plainText;
  if (hasChildren && text !== undefined) return undefined;
  if (hasChildren) return children;
  return text ?? '';
}

const NAMED_ESCAPES: Readonly<Record<string, string>> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

/**
 * Decodes XML's five predefined escapes and numeric character references in plain text (CDATA
 * is taken literally). Never longer than its input, so it cannot amplify anything; unknown or
 * invalid references are left as written.
 */
function decodeEscapes(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(/&(#x[0-9A-Fa-f]{1,6}|#[0-9]{1,7}|[a-z]{2,4});/g, (match, ref: string) => {
    if (!ref.startsWith('#')) return Object.hasOwn(NAMED_ESCAPES, ref) ? NAMED_ESCAPES[ref]! : match;
    const code = ref[1] === 'x' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
    const valid = code === 0x9 || code === 0xa || code === 0xd || (code >= 0x20 && code <= 0xd7ff) || (code >= 0xe000 && code <= 0x10ffff);
    return valid && code !== 0xfffe && code !== 0xffff ? String.fromCodePoint(code) : match;
  });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
