/**
 * IP address classification for the SSRF guard. Only canonical textual forms are accepted:
 * anything else (decimal `2130706433`, octal `0177.0.0.1`, hex `0x7f.1`) is `invalid`, which is
 * never public, because the OS resolver would read those forms differently from us.
 */
import { isIPv4, isIPv6 } from 'node:net';

/** Why an address is (not) reachable from the daemon: `public` is the only one allowed. */
export type AddressClass =
  | 'public'
  | 'invalid'
  | 'unspecified'
  | 'loopback'
  | 'private'
  | 'link_local'
  | 'cgnat'
  | 'multicast'
  | 'broadcast'
  | 'reserved';

type Range = readonly [base: number, prefix: number, kind: AddressClass];

// IANA IPv4 special-purpose registry; order matters only where ranges nest (broadcast in 240/4).
const IPV4_RANGES: readonly Range[] = [
  [v4('0.0.0.0'), 8, 'unspecified'],
  [v4('10.0.0.0'), 8, 'private'],
  [v4('100.64.0.0'), 10, 'cgnat'],
  [v4('127.0.0.0'), 8, 'loopback'],
  [v4('169.254.0.0'), 16, 'link_local'],
  [v4('172.16.0.0'), 12, 'private'],
  [v4('192.0.0.0'), 24, 'reserved'],
  [v4('192.0.2.0'), 24, 'reserved'],
  [v4('192.88.99.0'), 24, 'reserved'],
  [v4('192.168.0.0'), 16, 'private'],
  [v4('198.18.0.0'), 15, 'reserved'],
  [v4('198.51.100.0'), 24, 'reserved'],
  [v4('203.0.113.0'), 24, 'reserved'],
  [v4('224.0.0.0'), 4, 'multicast'],
  [v4('255.255.255.255'), 32, 'broadcast'],
  [v4('240.0.0.0'), 4, 'reserved'],
];

/** True only for a canonical IPv4/IPv6 address that is globally routable unicast. */
export function isPublicAddress(ip: string): boolean {
  return classifyAddress(ip) === 'public';
}

/** Classifies an address literal (no brackets; an IPv6 zone id is allowed and ignored). */
export function classifyAddress(ip: string): AddressClass {
  const v4value = parseIPv4(ip);
  if (v4value !== null) return classifyIPv4(v4value);
  const groups = parseIPv6(ip);
  return groups === null ? 'invalid' : classifyIPv6(groups);
}

function classifyIPv4(value: number): AddressClass {
  for (const [base, prefix, kind] of IPV4_RANGES) {
    if (inPrefix(value, base, prefix)) return kind;
  }
  return 'public';
}

function classifyIPv6(g: readonly number[]): AddressClass {
  const [g0 = 0, g1 = 0, g2 = 0, g3 = 0, g4 = 0, g5 = 0, g6 = 0, g7 = 0] = g;
  const low32 = ((g6 << 16) | g7) >>> 0;
  const upperZero = g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0;
  if (upperZero && g4 === 0 && g5 === 0) {
    if (g6 === 0 && g7 === 0) return 'unspecified';
    if (g6 === 0 && g7 === 1) return 'loopback';
    return embedded(low32, 'reserved'); // IPv4-compatible ::a.b.c.d, deprecated and never routed
  }
  if (upperZero && g4 === 0 && g5 === 0xffff) return embedded(low32); // IPv4-mapped
  if (upperZero && g4 === 0xffff && g5 === 0) return embedded(low32); // IPv4-translated (SIIT)
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0) return embedded(low32); // NAT64
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 1) return 'private'; // local-use NAT64, RFC 8215
  if ((g0 & 0xff00) === 0xff00) return 'multicast';
  if ((g0 & 0xfe00) === 0xfc00) return 'private'; // unique local fc00::/7
  if ((g0 & 0xffc0) === 0xfe80) return 'link_local';
  if ((g0 & 0xffc0) === 0xfec0) return 'private'; // deprecated site-local
  if (g0 === 0x2002) return embedded(((g1 << 16) | g2) >>> 0); // 6to4 carries an IPv4 address
  if (g0 === 0x2001 && g1 < 0x200) return 'reserved'; // IETF protocol assignments incl. Teredo
  if (g0 === 0x2001 && g1 === 0xdb8) return 'reserved'; // documentation
  if ((g0 & 0xfff0) === 0x3ff0) return 'reserved'; // documentation 3fff::/20
  // Only 2000::/3 is allocated as global unicast; everything else is not a place to fetch from.
  return (g0 & 0xe000) === 0x2000 ? 'public' : 'reserved';
}

/** An IPv6 address that carries an IPv4 one is as reachable as that IPv4 address. */
function embedded(value: number, whenPublic: AddressClass = 'public'): AddressClass {
  const kind = classifyIPv4(value);
  return kind === 'public' ? whenPublic : kind;
}

function inPrefix(value: number, base: number, prefix: number): boolean {
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return ((value & mask) >>> 0) === base;
}

function v4(text: string): number {
  const value = parseIPv4(text);
  if (value === null) throw new Error(`bad IPv4 constant ${text}`);
  return value;
}

/** Strict dotted-quad: four decimal octets without leading zeros. */
function parseIPv4(text: string): number | null {
  if (!isIPv4(text)) return null;
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  let value = 0;
  for (const part of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return null;
    const octet = Number(part);
    if (octet > 255) return null;
    value = value * 256 + octet;
  }
  return value;
}

/** Eight 16-bit groups, or null; accepts `::` compression, a dotted IPv4 tail and a zone id. */
function parseIPv6(text: string): number[] | null {
  const address = text.split('%')[0] ?? '';
  if (!isIPv6(address)) return null;
  const halves = address.split('::');
  if (halves.length > 2) return null;
  const head = groupsOf(halves[0] ?? '');
  const tail = halves.length === 2 ? groupsOf(halves[1] ?? '') : [];
  if (head === null || tail === null) return null;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  return [...head, ...new Array<number>(missing).fill(0), ...tail];
}

function groupsOf(part: string): number[] | null {
  if (part === '') return [];
  const groups: number[] = [];
  for (const piece of part.split(':')) {
    if (piece.includes('.')) {
      const value = parseIPv4(piece);
      if (value === null) return null;
      groups.push(value >>> 16, value & 0xffff);
    } else {
      if (!/^[0-9a-f]{1,4}$/i.test(piece)) return null;
      groups.push(parseInt(piece, 16));
    }
  }
  return groups;
}
