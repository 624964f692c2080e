/**
 * The merge rules as pure functions: phone and email normalisation, which evidence counts,
 * how fields combine without loss, what an unmerge takes back, and JSON merge patch.
 */
import { describe, expect, it } from 'vitest';
import { apiPhone, autoKeys, dedupeKeys, identityEvidence, normalizeEmail, normalizePhone, storedEvidence } from '../../src/merge/evidence.ts';

/** The contract's default policy with the shipped channels: phones and WeChat UnionIDs merge. */
const DEFAULT_MERGE_POLICY = { auto: ['phone', 'wechat_unionid'], defaultRegion: null };
import { combineFields, sameJson, splitFields } from '../../src/merge/combine.ts';
import { mergePatch } from '../../src/merge/update.ts';
import type { ContactFields } from '../../src/merge/store.ts';

const fields = (over: Partial<ContactFields> = {}): ContactFields => ({
  displayName: null,
  phones: [],
  emails: [],
  attributes: {},
  conflicts: [],
  createdAt: '2026-01-01T00:00:00.000Z',
  ...over,
});
const at = new Date('2026-11-21T10:00:00.000Z');

describe('evidence', () => {
  it('normalises phones to E.164 from platforms (digits) and from people (any format, default region)', () => {
    expect(normalizePhone('16315551234', { international: true })).toBe('+16315551234');
    expect(normalizePhone('+1 (631) 555-1234')).toBe('+16315551234');
    expect(normalizePhone('0151 1234567', { region: 'de' })).toBe('+491511234567');
    expect(normalizePhone('0151 1234567')).toBeNull();
    expect(normalizePhone('+12')).toBeNull();
    expect(normalizePhone('call me')).toBeNull();
    expect(apiPhone('(631) 555-1234', { auto: [], defaultRegion: 'US' }, 'phones.0')).toBe('+16315551234');
    expect(() => apiPhone('(631) 555-1234', { auto: [], defaultRegion: null }, 'phones.0')).toThrow(expect.objectContaining({ code: 'invalid_request' }));
  });

  it('compares emails case-insensitively', () => {
    expect(normalizeEmail(' Kerry@Example.COM ')).toBe('kerry@example.com');
  });

  it('counts a phone only when verified, and UnionIDs and emails from the adapter', () => {
    const identity = { phone: '+16315551234', phoneVerified: false, evidence: [{ type: 'wechat_unionid', value: 'oU1' }] };
    expect(identityEvidence(identity)).toEqual([{ type: 'wechat_unionid', value: 'oU1' }]);
    expect(identityEvidence({ ...identity, phoneVerified: true })).toEqual([
      { type: 'phone', value: '+16315551234' },
      { type: 'wechat_unionid', value: 'oU1' },
    ]);
    expect(identityEvidence({ phone: null, phoneVerified: false, evidence: [{ type: 'email', value: 'A@B.io' }] })).toEqual([{ type: 'email', value: 'a@b.io' }]);
  });

  it('stores a platform id under the namespace its adapter declares, phones and emails under their type', () => {
    expect(
      storedEvidence([
        { type: 'platform_id', namespace: 'wechat_unionid', value: 'oU1' },
        { type: 'email', value: 'a@b.io' },
        { type: 'platform_id', namespace: 'shop_member', value: '' },
      ]),
    ).toEqual([
      { type: 'wechat_unionid', value: 'oU1' },
      { type: 'email', value: 'a@b.io' },
    ]);
    // Any declared namespace counts, with no code naming it.
    expect(identityEvidence({ phone: null, phoneVerified: false, evidence: [{ type: 'shop_member', value: 'm-7' }] })).toEqual([{ type: 'shop_member', value: 'm-7' }]);
  });

  it('merges automatically only on the kinds in merge.auto (phone and UnionID by default, not email)', () => {
    const keys = dedupeKeys([
      { type: 'email', value: 'a@b.io' },
      { type: 'phone', value: '+1' },
      { type: 'wechat_unionid', value: 'u' },
      { type: 'phone', value: '+1' },
    ]);
    expect(keys).toHaveLength(3);
    expect(autoKeys(keys, DEFAULT_MERGE_POLICY).map((k) => k.type).sort()).toEqual(['phone', 'wechat_unionid']);
    expect(autoKeys(keys, { auto: ['email'], defaultRegion: null }).map((k) => k.type)).toEqual(['email']);
  });
});

describe('combining two contacts', () => {
  it('unions lists, keeps the survivor on conflicts and records the other value with its source', () => {
    const survivor = fields({ displayName: 'Ann', phones: ['+1'], emails: ['a@x.io'], attributes: { tier: 'gold', tags: ['a'] } });
    const merged = fields({ displayName: 'Annie', phones: ['+2', '+1'], emails: ['b@x.io'], attributes: { tier: 'silver', lang: 'no', tags: ['a'] }, createdAt: '2025-01-01T00:00:00.000Z' });
    const out = combineFields(survivor, merged, 'ct_b', at);
    expect(out).toEqual({
      displayName: 'Ann',
      phones: ['+1', '+2'],
      emails: ['a@x.io', 'b@x.io'],
      attributes: { tier: 'gold', tags: ['a'], lang: 'no' },
      conflicts: [
        { field: 'displayName', value: 'Annie', source: 'ct_b', at: at.toISOString() },
        { field: 'attributes.tier', value: 'silver', source: 'ct_b', at: at.toISOString() },
      ],
      createdAt: '2025-01-01T00:00:00.000Z',
    });
  });

  it('takes the other name when the survivor has none, and keeps earlier conflicts', () => {
    const earlier = { field: 'attributes.x', value: 1, source: 'ct_z', at: at.toISOString() };
    const out = combineFields(fields({ conflicts: [earlier] }), fields({ displayName: 'Bo' }), 'ct_b', at);
    expect(out.displayName).toBe('Bo');
    expect(out.conflicts).toEqual([earlier]);
  });

  it('stores a `__proto__` attribute as data', () => {
    const merged = fields({ attributes: JSON.parse('{"__proto__": {"polluted": true}}') });
    const out = combineFields(fields(), merged, 'ct_b', at);
    expect(Object.hasOwn(out.attributes, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('splitting a contact again', () => {
  it('takes back what came only with the detached contact and keeps what the other had before', () => {
    const keptBefore = fields({ displayName: 'Ann', phones: ['+1'], attributes: { tier: 'gold' } });
    const detached = fields({ displayName: 'Annie', phones: ['+2'], emails: ['b@x.io'], attributes: { tier: 'silver', lang: 'no' } });
    const current = combineFields(keptBefore, detached, 'ct_b', at);
    expect(splitFields({ current, detached, detachedId: 'ct_b', keptBefore, keptPhones: [] })).toEqual({ ...keptBefore, createdAt: keptBefore.createdAt });
  });

  it('keeps phones still verified by a remaining identity and values changed since the merge', () => {
    const detached = fields({ phones: ['+2'], attributes: { lang: 'no' } });
    const current = fields({ phones: ['+1', '+2'], attributes: { lang: 'sv' } });
    const out = splitFields({ current, detached, detachedId: 'ct_b', keptBefore: null, keptPhones: ['+2'] });
    expect(out.phones).toEqual(['+1', '+2']);
    expect(out.attributes).toEqual({ lang: 'sv' });
  });
});

describe('JSON merge patch of attributes', () => {
  it('merges objects key by key, removes on null, replaces anything else', () => {
    const target = { a: 1, b: { c: 2, d: 3 }, e: [1] };
    expect(mergePatch(target, { a: null, b: { c: null, f: 4 }, e: [2], g: { h: 1 } })).toEqual({ b: { d: 3, f: 4 }, e: [2], g: { h: 1 } });
    expect(target).toEqual({ a: 1, b: { c: 2, d: 3 }, e: [1] });
    expect(sameJson({ a: 1, b: [1, { c: 2 }] }, { b: [1, { c: 2 }], a: 1 })).toBe(true);
  });
});
