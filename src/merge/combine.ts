/**
 * How two contacts' fields become one without losing anything, and how an unmerge takes back
 * what came with the detached contact. Pure functions: the rules are tested without a database.
 */
import type { ContactFields } from './store.ts';

/**
 * The survivor's fields after `merged` joined it: lists are unioned; where both have a
 * different value (name, an attribute) the survivor's stays and the other is kept in
 * `conflicts` with its source contact, so an agent can still see and pick it.
 */
export function combineFields(survivor: ContactFields, merged: ContactFields, mergedId: string, at: Date): ContactFields {
  const conflicts = [...survivor.conflicts, ...merged.conflicts];
  const conflict = (field: string, value: unknown) => conflicts.push({ field, value, source: mergedId, at: at.toISOString() });
  let displayName = survivor.displayName;
  if (displayName === null) displayName = merged.displayName;
  else if (merged.displayName !== null && merged.displayName !== displayName) conflict('displayName', merged.displayName);
  const attributes = { ...survivor.attributes };
  for (const [key, value] of Object.entries(merged.attributes)) {
    if (!Object.hasOwn(attributes, key)) setKey(attributes, key, value);
    else if (!sameJson(attributes[key], value)) conflict(`attributes.${key}`, value);
  }
  return {
    displayName,
    phones: union(survivor.phones, merged.phones),
    emails: union(survivor.emails, merged.emails),
    attributes,
    conflicts: dedupeConflicts(conflicts),
    createdAt: survivor.createdAt < merged.createdAt ? survivor.createdAt : merged.createdAt,
  };
}

/** What an unmerge needs to know to give back the detached contact's share. */
export interface SplitInput {
  /** The remaining contact now. */
  current: ContactFields;
  /** The detached contact's fields (restored from the log, or those of the identity alone). */
  detached: ContactFields;
  detachedId: string;
  /** The remaining contact just before the detached one was merged in, when the log has it. */
  keptBefore: ContactFields | null;
  /** Verified phones of the identities the remaining contact keeps: they stay whatever else. */
  keptPhones: ReadonlyArray<string>;
}

/**
 * The remaining contact's fields after an unmerge: values that came only with the detached
 * contact leave with it; anything the remaining contact had before, or still has evidence
 * for, stays. Values changed since the merge stay too ("where possible").
 */
export function splitFields(input: SplitInput): ContactFields {
  const { current, detached, keptBefore } = input;
  const keepPhones = new Set([...(keptBefore?.phones ?? []), ...input.keptPhones]);
  const keepEmails = new Set(keptBefore?.emails ?? []);
  const phones = current.phones.filter((phone) => keepPhones.has(phone) || !detached.phones.includes(phone));
  const emails = current.emails.filter((email) => keepEmails.has(email) || !detached.emails.includes(email));
  const attributes = { ...current.attributes };
  for (const [key, value] of Object.entries(detached.attributes)) {
    const hadBefore = keptBefore !== null && Object.hasOwn(keptBefore.attributes, key);
    if (!hadBefore && Object.hasOwn(attributes, key) && sameJson(attributes[key], value)) delete attributes[key];
  }
  let displayName = current.displayName;
  if (keptBefore && displayName !== null && displayName === detached.displayName && keptBefore.displayName !== displayName) {
    displayName = keptBefore.displayName;
  }
  const createdAt = keptBefore && current.createdAt === detached.createdAt ? keptBefore.createdAt : current.createdAt;
  return {
    displayName,
    phones,
    emails,
    attributes,
    conflicts: current.conflicts.filter((c) => c.source !== input.detachedId),
    createdAt,
  };
}

/** Sets an own property, also for keys such as `__proto__` that plain assignment would not store. */
export function setKey(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Union keeping first-seen order. */
export function union(a: ReadonlyArray<string>, b: ReadonlyArray<string>): string[] {
  return [...new Set([...a, ...b])];
}

/** Deep equality of JSON values, independent of key order. */
export function sameJson(a: unknown, b: unknown): boolean {
  return stableJson(a) === stableJson(b);
}

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

function dedupeConflicts(conflicts: ContactFields['conflicts']): ContactFields['conflicts'] {
  const seen = new Set<string>();
  return conflicts.filter((c) => {
    const key = `${c.field}\u0000${c.source}\u0000${stableJson(c.value)}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
