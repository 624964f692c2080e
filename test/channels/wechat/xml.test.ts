/**
 * Safe XML (reference B3, bad-input test 18): markup declarations refused before any parser
 * runs, fast and with flat memory; values kept as exact strings; hostile shapes refused.
 */
import { describe, expect, it } from 'vitest';
import { MAX_XML_BYTES, XmlRefusedError, buildXml, cdata, gateXml, parseXml, textOf } from '../../../src/channels/wechat/xml.ts';
import { parsePush } from '../../../src/channels/wechat/inbound.ts';
import { WebhookPayloadError } from '../../../src/core/errors.ts';

const utf8 = (text: string) => new TextEncoder().encode(text);
const reason = (body: string | Uint8Array) => {
  try {
    gateXml(typeof body === 'string' ? utf8(body) : body);
    return 'accepted';
  } catch (error) {
    return (error as XmlRefusedError).reason;
  }
};

/** The attacks of reference bad-input test 18 (sized to stay under the daemon's 4 MiB body cap where they can). */
const ATTACKS: Record<string, string> = {
  'billion laughs': `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">${Array.from({ length: 9 }, (_, i) => `<!ENTITY lol${i + 1} "${`&lol${i || ''};`.repeat(10)}">`).join('')}]><xml><Content>&lol9;</Content></xml>`,
  'one 1 MB entity referenced 10 000 times': `<!DOCTYPE x [<!ENTITY big "${'A'.repeat(1_000_000)}">]><xml><Content>${'&big;'.repeat(10_000)}</Content></xml>`,
  'external entity': '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml><Content>&x;</Content></xml>',
  'two DOCTYPEs': '<!DOCTYPE a [<!ENTITY a "1">]><!DOCTYPE b [<!ENTITY b "2">]><xml><Content>&a;&b;</Content></xml>',
  'lower-case doctype': '<!doctype xml><xml><Content>x</Content></xml>',
  'bare ENTITY': '<xml><!ENTITY a "b"><Content>&a;</Content></xml>',
  'comment': '<xml><!-- hi --><Content>x</Content></xml>',
  'parameter entity': '<!DOCTYPE x [<!ENTITY % p SYSTEM "http://169.254.169.254/">%p;]><xml/>',
};

describe('the XML gate', () => {
  it('refuses every markup declaration before parsing, without growing the heap', () => {
    for (const [name, body] of Object.entries(ATTACKS)) {
      const bytes = utf8(body);
      global.gc?.();
      const heapBefore = process.memoryUsage().heapUsed;
      // How fast refusals are is measured by `npm run bench`; here: refused, and nothing expanded.
      const result = reason(bytes.length > MAX_XML_BYTES ? bytes.subarray(0, MAX_XML_BYTES) : bytes);
      expect(result, name).toBe('xml_declaration_refused');
      expect(process.memoryUsage().heapUsed - heapBefore, name).toBeLessThan(50 * 1024 * 1024);
      // Over the cap, the size alone refuses it first.
      if (bytes.length > MAX_XML_BYTES) expect(reason(bytes), name).toBe('too_large');
    }
  });

  it('leaves a million numeric references and out-of-range references undecoded and harmless', () => {
    const refs = `<xml><MsgType>text</MsgType><Content>${'&#65;'.repeat(40_000)}&#99999999;&#0;</Content></xml>`;
    const { fields } = parseXml(gateXml(utf8(refs)));
    const content = textOf(fields, 'Content')!;
    expect(content.startsWith('AAAA')).toBe(true);
    expect(content.endsWith('&#99999999;&#0;')).toBe(true);
    expect(content.length).toBeLessThanOrEqual(refs.length);
    expect(reason(`<xml><Content>${'&#65;'.repeat(1_000_000)}</Content></xml>`)).toBe('too_large');
  });

  it('lets CDATA carry markup-looking text, since it is data', () => {
    const body = `<xml><Content>${cdata('<!DOCTYPE html><!ENTITY x "y"> ]]> done')}</Content></xml>`;
    expect(reason(body)).toBe('accepted');
    expect(textOf(parseXml(gateXml(utf8(body))).fields, 'Content')).toBe('<!DOCTYPE html><!ENTITY x "y"> ]]> done');
  });

  it('refuses NUL, invalid UTF-8, empty bodies, deep nesting and unterminated CDATA', () => {
    expect(reason('<xml><a>\u0000</a></xml>')).toBe('nul_byte');
    expect(reason(Uint8Array.from([0x3c, 0x78, 0xff, 0x3e]))).toBe('invalid_utf8');
    expect(reason('   \n')).toBe('empty');
    expect(reason(`${'<a>'.repeat(9)}${'</a>'.repeat(9)}`)).toBe('too_deep');
    expect(reason(`${'<a>'.repeat(50_000)}`)).toBe('too_deep');
    expect(reason('<xml><![CDATA[never closed</xml>')).toBe('invalid_xml');
    // UTF-16 markup hides behind NUL bytes.
    expect(reason(new Uint8Array(Buffer.from('<!DOCTYPE x><xml/>', 'utf16le')))).toBe('nul_byte');
  });
});

describe('parsing', () => {
  it('keeps every value a string: 64-bit MsgId exact, leading zeros, booleans and exponents untouched', () => {
    const xml = buildXml([['MsgId', { raw: '6054768590064713728' }], ['Content', '00123'], ['A', 'true'], ['B', '1e5'], ['C', ' spaced ']]);
    const { root, fields } = parseXml(gateXml(utf8(xml)));
    expect(root).toBe('xml');
    expect(fields).toEqual({ MsgId: '6054768590064713728', Content: '00123', A: 'true', B: '1e5', C: ' spaced ' });
    // Why: as a Number the id would silently become another one.
    expect(String(Number(fields.MsgId))).not.toBe(fields.MsgId);
  });

  it('decodes the five XML escapes in plain text only', () => {
    const { fields } = parseXml(gateXml(utf8('<xml><A>a &amp; b &lt;c&gt; &quot;&apos; &#x4E2D;&#25991;</A><B><![CDATA[&amp;]]></B><C>&nbsp;</C></xml>')));
    expect(fields).toEqual({ A: 'a & b <c> "\' 中文', B: '&amp;', C: '&nbsp;' });
  });

  it('refuses repeated elements, mixed content, several roots and prototype keys', () => {
    for (const body of [
      '<xml><MsgType>text</MsgType><MsgType>event</MsgType></xml>',
      '<xml><A>t<![CDATA[x]]></A></xml>',
      '<xml><A>text<B>1</B></A></xml>',
      '<xml/><xml/>',
      '<xml><__proto__><polluted>yes</polluted></__proto__></xml>',
      '<xml><constructor>x</constructor></xml>',
      '<xml><a>x</b></xml>',
      'plain text',
    ]) {
      expect(() => parseXml(gateXml(utf8(body))), body).toThrow(XmlRefusedError);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('turns every refusal into a WebhookPayloadError at the adapter edge', () => {
    for (const body of [...Object.values(ATTACKS).map((attack) => attack.slice(0, 10_000)), '<xml><a>x</b></xml>', '', '<root><MsgType>text</MsgType></root>']) {
      expect(() => parsePush(utf8(body)), body.slice(0, 40)).toThrow(WebhookPayloadError);
    }
  });
});
