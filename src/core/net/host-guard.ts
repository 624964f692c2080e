/**
 * The per-hop SSRF decision for the HTTP client: is this URL's host allowed, and which vetted
 * address do we connect to. The client connects to that address itself, so a second DNS answer
 * (rebinding) can never move the socket somewhere we did not check.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { domainToASCII } from 'node:url';
import type { LookupOptions } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import { HttpClientError } from './http-types.ts';
import { classifyAddress } from './address.ts';

/** One DNS answer, as `dns.promises.lookup(host, { all: true })` returns it. */
export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Resolves a host name to every address it has. */
export type HostLookup = (hostname: string) => Promise<ResolvedAddress[]>;

/** The default resolver: the OS resolver, every address, in the order it gives them. */
export const systemLookup: HostLookup = async (hostname) => {
  const answers = await dnsLookup(hostname, { all: true, verbatim: true });
  return answers.map((answer) => ({ address: answer.address, family: answer.family === 6 ? 6 : 4 }));
};

/** Lowercase, IDNA (punycode), no brackets, no trailing dot: the form hosts are compared in. */
export function normaliseHost(host: string): string {
  let value = host.trim().toLowerCase();
  if (value.startsWith('[') && value.endsWith(']')) value = value.slice(1, -1);
  if (value.endsWith('.')) value = value.slice(0, -1);
  if (isIP(value) !== 0) return isIP(value) === 6 ? canonicalIPv6(value) : value;
  return domainToASCII(value) || value;
}

/** `example.com` matches itself; `.example.com` matches its subdomains only. */
export function isTrustedHost(host: string, trustedHosts: ReadonlyArray<string>): boolean {
  const candidate = normaliseHost(host);
  return trustedHosts.some((entry) => {
    if (entry.startsWith('.')) {
      const suffix = normaliseHost(entry.slice(1));
      return suffix !== '' && candidate.endsWith(`.${suffix}`);
    }
    return normaliseHost(entry) === candidate;
  });
}

/** The checked target of one hop. */
export interface VettedHop {
  /** Normalised host (no brackets, no trailing dot). */
  host: string;
  /** The only addresses the socket may connect to; all passed the checks. */
  addresses: ResolvedAddress[];
  trusted: boolean;
}

/**
 * A `lookup` for `http.request` that answers with the vetted addresses instead of asking DNS
 * again, so Node's own connection logic (happy eyeballs across families) still works.
 */
export function pinnedLookup(addresses: ResolvedAddress[]): LookupFunction {
  const first = addresses[0]!;
  return ((_hostname: string, options: LookupOptions, callback: (...args: unknown[]) => void) => {
    if (options.all) callback(null, addresses);
    else callback(null, first.address, first.family);
  }) as LookupFunction;
}

/**
 * Applies the host rules to one URL: `untrusted_host` when a trust list is given and misses,
 * `blocked_address` when an untrusted host has ANY non-public address (a mixed answer would let
 * a later connection attempt land on the private one).
 */
export async function vetHost(
  url: URL,
  trustedHosts: ReadonlyArray<string> | undefined,
  lookup: HostLookup,
  signal: AbortSignal,
): Promise<VettedHop> {
  const host = normaliseHost(url.hostname);
  const trusted = trustedHosts !== undefined && isTrustedHost(host, trustedHosts);
  if (trustedHosts !== undefined && !trusted) {
    throw new HttpClientError('untrusted_host', `host ${host} is not in the trusted hosts of this request`);
  }
  const literal = isIP(host);
  const answers = literal !== 0 ? [{ address: host, family: literal as 4 | 6 }] : await resolve(host, lookup, signal);
  if (answers.length === 0) throw new HttpClientError('network', `host ${host} has no addresses`);
  if (!trusted) {
    for (const answer of answers) {
      const kind = classifyAddress(answer.address);
      if (kind !== 'public') {
        throw new HttpClientError('blocked_address', `host ${host} resolves to a ${kind} address`);
      }
    }
  }
  return { host, addresses: answers, trusted };
}

async function resolve(host: string, lookup: HostLookup, signal: AbortSignal): Promise<ResolvedAddress[]> {
  signal.throwIfAborted();
  // A resolver cannot be cancelled, so race it: the request's deadline must cover DNS too.
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([lookup(host), aborted]);
  } catch (error) {
    if (signal.aborted) throw signal.reason;
    throw new HttpClientError('network', `cannot resolve host ${host}`, { cause: error });
  } finally {
    if (onAbort) signal.removeEventListener('abort', onAbort);
  }
}

function canonicalIPv6(address: string): string {
  // The URL parser prints IPv6 in its canonical compressed form; reuse it for trust-list entries.
  return new URL(`http://[${address.split('%')[0]}]/`).hostname.slice(1, -1);
}
