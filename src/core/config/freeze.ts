/** Deep freezing of loaded configuration: nothing downstream can change what was validated. */

/** A Map whose contents cannot change after construction (Object.freeze does not stop `set`). */
export class FrozenMap<K, V> extends Map<K, V> {
  constructor(entries: Iterable<readonly [K, V]> = []) {
    super();
    // Map's constructor would call the overridden `set`, so fill through the prototype.
    for (const [key, value] of entries) Map.prototype.set.call(this, key, value);
    Object.freeze(this);
  }

  override set(_key: K, _value: V): this {
    throw new TypeError('configuration is frozen');
  }

  override delete(_key: K): boolean {
    throw new TypeError('configuration is frozen');
  }

  override clear(): void {
    throw new TypeError('configuration is frozen');
  }
}

/** Freezes `value` and everything reachable from it; Maps must already be FrozenMaps. */
export function deepFreeze<T>(value: T, seen: WeakSet<object> = new WeakSet()): T {
  if (value === null || typeof value !== 'object' || seen.has(value)) return value;
  seen.add(value);
  if (value instanceof FrozenMap) {
    for (const [key, entry] of value) {
      deepFreeze(key, seen);
      deepFreeze(entry, seen);
    }
    return value;
  }
  if (value instanceof Map || value instanceof Set) throw new TypeError('use FrozenMap in configuration');
  Object.freeze(value);
  // Recurse even into already-frozen objects: a shallow freeze elsewhere must not leave holes.
  for (const key of Reflect.ownKeys(value)) deepFreeze((value as Record<PropertyKey, unknown>)[key], seen);
  return value;
}
