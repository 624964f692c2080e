/**
 * Merge evidence: which facts about a person count (`merge.auto`), how phones and emails are
 * normalised so that equal facts compare equal, and the advisory locks that make "look for
 * another contact with this fact, then create or merge" atomic across replicas.
 */
import { createHash } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js';
import type { Tx } from '../core/storage/db.ts';
import { OmniError } from '../core/errors.ts';
import type { EvidenceFact } from '../core/adapter.ts';

/**
 * Evidence names: `phone` and `email` are built in (normalised before they compare); every
 * other name is a namespace of platform ids a channel declares (`ChannelDefinition.mergeEvidence`),
 * compared exactly. Stored on identities and in the merge log as `{ type: name, value }`.
 */
export type EvidenceName = string;

/** How contacts are merged: the configured `merge` section. */
export interface MergePolicy {
  /** Evidence names that may merge contacts without a human (`merge.auto`). */
  auto: ReadonlyArray<EvidenceName>;
  /** ISO country for phones written without a country code; null = such phones are refused. */
  defaultRegion: string | null;
}

/** One fact that two contacts may share. */
export interface EvidenceKey {
  type: EvidenceName;
  value: string;
}

/** Whether a key is a platform id (a declared namespace) rather than a phone or an email. */
export function isPlatformId(key: { type: string }): boolean {
  return key.type !== 'phone' && key.type !== 'email';
}

/** The stored form of what an adapter says: a platform id is stored under its namespace. */
export function storedEvidence(facts: ReadonlyArray<EvidenceFact>): EvidenceKey[] {
  return facts.flatMap((fact) => {
    const type = fact.type === 'platform_id' ? fact.namespace : fact.type;
    return fact.value && type ? [{ type, value: fact.value }] : [];
  });
}

/**
 * A phone in E.164, or null when it cannot be read as one. Platforms hand over international
 * numbers, sometimes without the `+` (`international: true`); numbers typed into the API may
 * be national and are read in `region`.
 */
export function normalizePhone(raw: string, options: { region?: string | null; international?: boolean } = {}): string | null {
  const text = raw.trim();
  if (text.length === 0 || text.length > 40) return null;
  const key = `${options.international ? '+' : '-'}${options.region ?? ''}\u0000${text}`;
  const cached = normalizedPhones.get(key);
  if (cached !== undefined) return cached;
  const digitsOnly = /^\d+$/.test(text.replace(/[\s().-]/g, ''));
  const candidate = options.international && digitsOnly && !text.startsWith('+') ? `+${text}` : text;
  const region = options.region ? (options.region.toUpperCase() as CountryCode) : undefined;
  const parsed = parsePhoneNumberFromString(candidate, region);
  // isPossible, not isValid: stale metadata must not turn a real new number range into "no evidence".
  const normalized = parsed && parsed.isPossible() ? parsed.number : null;
  if (normalizedPhones.size >= PHONE_CACHE_SIZE) normalizedPhones.clear();
  normalizedPhones.set(key, normalized);
  return normalized;
}

/**
 * Parsed phones, by input and options: a known WhatsApp sender's number is read on every
 * message (its evidence is compared with what is stored), and parsing with libphonenumber was
 * about 4 % of ingest's CPU. Pure function of its key, so a plain bounded map; cleared whole
 * when full, which costs one re-parse per number.
 */
const normalizedPhones = new Map<string, string | null>();
const PHONE_CACHE_SIZE = 20_000;

/**
 * Drops every cached parse of these numbers (as typed or in E.164), so an erased person's phone
 * does not outlive the erasure in memory. Erasures are rare; a walk of the cache is cheap.
 */
export function forgetPhones(phones: ReadonlyArray<string>): void {
  if (phones.length === 0) return;
  const gone = new Set<string>();
  for (const phone of phones) {
    const text = phone.trim();
    gone.add(text);
    gone.add(text.startsWith('+') ? text.slice(1) : `+${text}`);
  }
  for (const [key, normalized] of normalizedPhones) {
    if ((normalized !== null && gone.has(normalized)) || gone.has(key.slice(key.indexOf('\u0000') + 1))) normalizedPhones.delete(key);
  }
}

/** Every number the parse cache holds, as typed and parsed (for tests of erasure). */
export function cachedPhones(): string[] {
  return [...normalizedPhones].flatMap(([key, normalized]) => [key.slice(key.indexOf('\u0000') + 1), ...(normalized === null ? [] : [normalized])]);
}

/** A phone from the API in E.164, or `invalid_request` naming the field. */
export function apiPhone(raw: string, policy: MergePolicy, field: string): string {
  const phone = normalizePhone(raw, { region: policy.defaultRegion });
  if (phone === null) {
    throw new OmniError('invalid_request', 'not a phone number that can be read as E.164; give the country code or set merge.defaultRegion', {
      details: { field },
    });
  }
  return phone;
}

/** An email compared case-insensitively (what every mail system in practice does). */
export function normalizeEmail(raw: string): string {
  return raw.trim().toLowerCase();
}

/** The strong evidence an identity carries, whatever `merge.auto` says (locks cover every kind). */
export function identityEvidence(identity: {
  phone: string | null;
  phoneVerified: boolean;
  evidence: ReadonlyArray<{ type: string; value: string }>;
}): EvidenceKey[] {
  const keys: EvidenceKey[] = [];
  if (identity.phone && identity.phoneVerified) {
    const phone = normalizePhone(identity.phone, { international: true });
    if (phone) keys.push({ type: 'phone', value: phone });
  }
  for (const item of identity.evidence) {
    if (!item.value) continue;
    if (item.type === 'email') keys.push({ type: 'email', value: normalizeEmail(item.value) });
    else if (item.type === 'phone') {
      const phone = normalizePhone(item.value, { international: true });
      if (phone) keys.push({ type: 'phone', value: phone });
    } else if (item.type) keys.push({ type: item.type, value: item.value });
  }
  return dedupeKeys(keys);
}

/** Keys without repeats, in a stable order. */
export function dedupeKeys(keys: ReadonlyArray<EvidenceKey>): EvidenceKey[] {
  const seen = new Map<string, EvidenceKey>();
  for (const key of keys) seen.set(`${key.type}\u0000${key.value}`, key);
  return [...seen.values()].sort((a, b) => (a.type + a.value < b.type + b.value ? -1 : a.type + a.value > b.type + b.value ? 1 : 0));
}

/** Only the keys `merge.auto` allows to merge. */
export function autoKeys(keys: ReadonlyArray<EvidenceKey>, policy: MergePolicy): EvidenceKey[] {
  return keys.filter((key) => policy.auto.includes(key.type));
}

/**
 * Takes a transaction-scoped advisory lock per key, in one global order (sorted by the key's
 * hash), so two transactions about the same person queue up instead of both seeing "nobody
 * else has this phone" and creating two contacts. Hash collisions only serialise a little more.
 */
export async function lockEvidence(tx: Tx, keys: ReadonlyArray<EvidenceKey>): Promise<void> {
  const hashes = [...new Set(keys.map((key) => lockKey(`omnibus:evidence:${key.type}:${key.value}`)))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (hashes.length === 0) return;
  // One statement; PostgreSQL evaluates the select list left to right, so the order holds.
  await tx.execute(sql`select ${sql.join(hashes.map((hash) => sql`pg_advisory_xact_lock(${hash.toString()}::bigint)`), sql`, `)}`);
}

/** A signed 64-bit advisory lock key for a name (the first 8 bytes of its SHA-256). */
function lockKey(name: string): bigint {
  return createHash('sha256').update(name).digest().readBigInt64BE(0);
}

/** Rows of a raw `execute`, whichever driver (postgres.js gives an array, other drivers `{ rows }`). */
export function rowsOf<T>(result: unknown): T[] {
  if (Array.isArray(result)) return result as T[];
  return ((result as { rows?: T[] }).rows ?? []) as T[];
}
