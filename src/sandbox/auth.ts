/**
 * Token authentication as platforms do it: a bearer header or a query parameter, compared in
 * constant time against the accounts' configured tokens.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

/** Constant-time equality of two secrets of any length (both are hashed first). */
export function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
export function bearerToken(request: Request): string | undefined {
  const match = /^bearer\s+(\S+)\s*$/i.exec(request.headers.get('authorization') ?? '');
  return match?.[1];
}

/** The value of a query parameter carrying a token (`access_token`), or undefined when absent or empty. */
export function queryToken(request: Request, name: string): string | undefined {
  const value = new URL(request.url).searchParams.get(name);
  return value === null || value === '' ? undefined : value;
}

/** The bearer token, else (when `query` names a parameter) the query token. */
export function requestToken(request: Request, options: { query?: string } = {}): string | undefined {
  return bearerToken(request) ?? (options.query === undefined ? undefined : queryToken(request, options.query));
}

/**
 * The keys of the accounts whose secret equals `token` (one token may own several accounts, as
 * a Meta system-user token does). Every candidate is compared, so timing does not reveal which.
 */
export function tokenOwners<A>(token: string | undefined, accounts: Iterable<[string, A]>, secretOf: (account: A) => unknown): Set<string> {
  const owners = new Set<string>();
  if (token === undefined || token === '') return owners;
  for (const [key, account] of accounts) {
    const expected = secretOf(account);
    if (typeof expected === 'string' && expected !== '' && sameSecret(token, expected)) owners.add(key);
  }
  return owners;
}
