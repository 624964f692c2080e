/**
 * How to reach a production NATS: the `nats:` section turned into nats.js connection options
 * (an authenticator, TLS files) and JetStream options (a domain or API prefix for leaf nodes).
 * Used by the daemon and by every CLI command that connects, so they authenticate alike.
 *
 * Also tells the two kinds of start-up failure apart: a server that is not there yet (worth
 * retrying) and one that refused us (fatal: retrying the same credentials cannot help).
 */
import { readFile } from 'node:fs/promises';
import {
  credsAuthenticator,
  nkeyAuthenticator,
  tokenAuthenticator,
  usernamePasswordAuthenticator,
  type Authenticator,
  type ConnectionOptions,
  type TlsOptions,
} from '@nats-io/nats-core';
import type { JetStreamOptions } from '@nats-io/jetstream';
import type { DaemonConfig } from '../config/types.ts';

type NatsSettings = DaemonConfig['nats'];

/** A NATS setting that cannot work (a missing file, a refused credential): fatal at start. */
export class NatsSetupError extends Error {
  constructor(
    message: string,
    /** The config field at fault, e.g. `nats.password`. */
    readonly field: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'NatsSetupError';
  }
}

/** An NKey user seed as `nsc` prints it: `SU` and 56 more base32 characters. */
const SEED_RE = /^SU[A-Z2-7]{56}$/;

/** The authentication and TLS part of the connection options (no servers, no name). */
export async function natsConnectOptions(nats: NatsSettings): Promise<Pick<ConnectionOptions, 'authenticator' | 'tls'>> {
  const options: Pick<ConnectionOptions, 'authenticator' | 'tls'> = {};
  const authenticator = await authenticatorFor(nats);
  if (authenticator) options.authenticator = authenticator;
  const { ca, cert, key, handshakeFirst } = nats.tls;
  if (ca !== null || cert !== null || handshakeFirst) {
    const tls: TlsOptions = {};
    if (ca !== null) tls.caFile = await readable(ca, 'nats.tls.ca');
    if (cert !== null) tls.certFile = await readable(cert, 'nats.tls.cert');
    if (key !== null) tls.keyFile = await readable(key, 'nats.tls.key');
    if (handshakeFirst) tls.handshakeFirst = true;
    options.tls = tls;
  }
  return options;
}

/** JetStream options for `jetstream(nc, …)` / `jetstreamManager(nc, …)`. */
export function jetStreamOptions(nats: NatsSettings): JetStreamOptions {
  if (nats.jsDomain !== null) return { domain: nats.jsDomain };
  if (nats.apiPrefix !== null) return { apiPrefix: nats.apiPrefix };
  return {};
}

/** The config field of the authentication method in use, for error messages. */
export function authField(nats: NatsSettings): string {
  if (nats.creds !== null) return 'nats.creds';
  if (nats.nkey !== null) return 'nats.nkey';
  if (nats.user !== null) return 'nats.user / nats.password';
  if (nats.token !== null) return 'nats.token';
  return 'nats.url (the server wants credentials: set nats.creds, nats.nkey, nats.user/password or nats.token)';
}

/**
 * Turns a failed first connect into a NatsSetupError when retrying cannot help (the server
 * refused the credentials, or TLS could not be agreed); returns null for "not reachable".
 */
export function classifyConnectError(error: unknown, nats: NatsSettings): NatsSetupError | null {
  const text = describe(error);
  if (/authorization violation|authentication|user authentication expired|account authentication expired|permissions violation/i.test(text)) {
    return new NatsSetupError(`NATS refused the credentials: ${firstLine(text)}; check ${authField(nats)}`, authField(nats), { cause: error });
  }
  if (/tls|certificate|self[- ]signed|ssl|unable to verify|handshake/i.test(text)) {
    return new NatsSetupError(`NATS TLS failed: ${firstLine(text)}; check nats.tls and that nats.url names the server the certificate is for`, 'nats.tls', {
      cause: error,
    });
  }
  return null;
}

async function authenticatorFor(nats: NatsSettings): Promise<Authenticator | undefined> {
  const encoder = new TextEncoder();
  if (nats.creds !== null) return credsAuthenticator(new Uint8Array(await readText(nats.creds, 'nats.creds')));
  if (nats.nkey !== null) {
    const seed = SEED_RE.test(nats.nkey) ? nats.nkey : (await readText(nats.nkey, 'nats.nkey')).toString('utf8').trim();
    if (!SEED_RE.test(seed)) throw new NatsSetupError('nats.nkey is neither an NKey user seed (SU…) nor a file holding one', 'nats.nkey');
    return nkeyAuthenticator(encoder.encode(seed));
  }
  if (nats.user !== null) return usernamePasswordAuthenticator(nats.user, nats.password ?? undefined);
  if (nats.token !== null) return tokenAuthenticator(nats.token);
  return undefined;
}

async function readText(file: string, field: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unknown error';
    throw new NatsSetupError(`${field}: cannot read ${file} (${code})`, field, { cause: error });
  }
}

/** nats.js reads the TLS files itself, later and with a vaguer error: check them first. */
async function readable(file: string, field: string): Promise<string> {
  await readText(file, field);
  return file;
}

function describe(error: unknown): string {
  const parts: string[] = [];
  for (let current = error, depth = 0; current instanceof Error && depth < 5; current = current.cause, depth++) {
    parts.push(`${current.name}: ${current.message}`);
    if ('code' in current && typeof current.code === 'string') parts.push(current.code);
  }
  return parts.length > 0 ? parts.join(' | ') : String(error);
}

function firstLine(text: string): string {
  return text.split(' | ')[0]!.replace(/^Error: /, '');
}
