/**
 * `nats.creds` with TLS: the daemon logs in with a `.creds` file (a user JWT and its NKey seed)
 * over TLS (a CA of the test's own) to a nats-server in operator (decentralised JWT) mode, and
 * publishes a webhook's event; a creds
 * file the server does not trust is fatal at start, naming `nats.creds`. There is no `nsc` here:
 * the operator, account and user JWTs are signed in the test with the NKeys nats.js ships.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { nkeys } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { channels } from '../../src/channels/index.ts';
import { identities } from '../../src/extensions.ts';
import { Daemon } from '../../src/core/daemon.ts';
import { startLocalNatsServer, type LocalNatsServer } from '../../src/core/nats/local-server.ts';
import { natsConnectOptions } from '../../src/core/nats/connect-options.ts';
import { daemonSchema } from '../../src/core/config/daemon-schema.ts';
import { whatsappAccountYaml } from '../support/daemon.ts';
import { publishesThrough } from '../support/publishes-through.ts';
import { makeCertificates } from '../support/certificates.ts';
import { createTestDatabase, freePort, tempDir, uniquePrefix, type TestDatabase } from '../support/services.ts';

type KeyPair = ReturnType<typeof nkeys.createUser>;

const b64url = (bytes: Uint8Array | string) => Buffer.from(bytes).toString('base64url');

/** A NATS v2 JWT: `nats` claims of `subject`, signed by `issuer` (ed25519-nkey). */
function natsJwt(issuer: KeyPair, subject: string, name: string, nats: Record<string, unknown>): string {
  const header = b64url(JSON.stringify({ typ: 'JWT', alg: 'ed25519-nkey' }));
  const claims = { jti: randomBytes(16).toString('hex').toUpperCase(), iat: Math.floor(Date.now() / 1000), iss: issuer.getPublicKey(), name, sub: subject, nats: { version: 2, ...nats } };
  const body = `${header}.${b64url(JSON.stringify(claims))}`;
  return `${body}.${b64url(issuer.sign(new TextEncoder().encode(body)))}`;
}

const unlimited = { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 };
const withJetStream = { ...unlimited, mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 };

/** An operator, a system account, an app account with JetStream, and a user of the app account. */
function operatorSetup() {
  const operator = nkeys.createOperator();
  const system = nkeys.createAccount();
  const account = nkeys.createAccount();
  const user = nkeys.createUser();
  const operatorJwt = natsJwt(operator, operator.getPublicKey(), 'omnibus-test', { type: 'operator', system_account: system.getPublicKey() });
  const systemJwt = natsJwt(operator, system.getPublicKey(), 'SYS', { type: 'account', limits: unlimited });
  const accountJwt = natsJwt(operator, account.getPublicKey(), 'APP', { type: 'account', limits: withJetStream });
  return { operator, system, account, user, operatorJwt, systemJwt, accountJwt };
}

/** The `.creds` file `nsc generate creds` writes: the user JWT, then its seed. */
function credsFile(userJwt: string, user: KeyPair): string {
  const seed = new TextDecoder().decode(user.getSeed());
  return [
    '-----BEGIN NATS USER JWT-----', userJwt, '------END NATS USER JWT------', '',
    '************************* IMPORTANT *************************',
    'NKEY Seed printed below can be used to sign and prove identity.', '',
    '-----BEGIN USER NKEY SEED-----', seed, '------END USER NKEY SEED------', '',
  ].join('\n');
}

describe('production NATS: a .creds file over TLS against an operator-mode server', () => {
  let dir: string;
  let database: TestDatabase;
  let server: LocalNatsServer;
  let url: string;
  let creds: string;
  let untrustedCreds: string;
  let ca: string;

  beforeAll(async () => {
    dir = await tempDir();
    database = await createTestDatabase();
    const certs = makeCertificates(dir);
    ca = certs.ca;
    const setup = operatorSetup();
    await writeFile(path.join(dir, 'operator.jwt'), setup.operatorJwt);
    const conf = [
      `operator: "${path.join(dir, 'operator.jwt')}"`,
      `system_account: ${setup.system.getPublicKey()}`,
      'resolver: MEMORY',
      `tls { cert_file: "${certs.cert}", key_file: "${certs.key}" }`,
      `resolver_preload: { ${setup.system.getPublicKey()}: "${setup.systemJwt}", ${setup.account.getPublicKey()}: "${setup.accountJwt}" }`,
    ].join('\n');
    await writeFile(path.join(dir, 'server.conf'), `${conf}\n`);
    const port = await freePort();
    server = await startLocalNatsServer({
      storeDir: path.join(dir, 'store'),
      port,
      logger: pino({ level: process.env.OMNIBUS_TEST_LOG ?? 'silent' }),
      extraArgs: ['-c', path.join(dir, 'server.conf')],
    });
    url = `tls://127.0.0.1:${port}`;
    creds = path.join(dir, 'app-user.creds');
    await writeFile(creds, credsFile(natsJwt(setup.account, setup.user.getPublicKey(), 'omnibus', { type: 'user', pub: {}, sub: {}, subs: -1, data: -1, payload: -1 }), setup.user), { mode: 0o600 });
    // Signed by an account the operator never issued: the server refuses it.
    const stranger = nkeys.createAccount();
    const strangerUser = nkeys.createUser();
    untrustedCreds = path.join(dir, 'stranger.creds');
    await writeFile(untrustedCreds, credsFile(natsJwt(stranger, strangerUser.getPublicKey(), 'stranger', { type: 'user', pub: {}, sub: {}, subs: -1, data: -1, payload: -1 }), strangerUser));
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
    await database?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function start(credsPath: string): Promise<{ daemon: Daemon; prefix: string }> {
    const prefix = uniquePrefix();
    const configDir = path.join(dir, prefix);
    await mkdir(path.join(configDir, 'channels'), { recursive: true });
    const yaml = [
      'http: { host: 127.0.0.1, port: 0 }',
      `nats: { url: "${url}", prefix: ${prefix}, creds: "${credsPath}", tls: { ca: "${ca}" } }`,
      `database: { url: "${database.url}" }`,
      `dataDir: "${path.join(configDir, 'data')}"`,
      'log: { level: silent }',
      'sandbox: true',
    ].join('\n');
    await writeFile(path.join(configDir, 'omnibus.yaml'), `${yaml}\n`);
    await writeFile(path.join(configDir, 'channels', 'acme-wa.yaml'), whatsappAccountYaml());
    return { daemon: await Daemon.start({ configDir, channels, identities, env: {}, watch: false }), prefix };
  }

  it('refuses a connection without credentials (the server really is in operator mode)', async () => {
    await expect(connect({ servers: url, reconnect: false, tls: { caFile: ca } })).rejects.toThrow(/authorization/i);
  });

  it('connects with the creds file over TLS, creates its streams and publishes a webhook event', async () => {
    const { daemon, prefix } = await start(creds);
    try {
      expect(daemon.bus?.isConnected()).toBe(true);
      await publishesThrough(daemon, prefix, url, await natsConnectOptions(daemonSchema.parse({ nats: { url, creds, tls: { ca } } }).nats), '16315550002');
    } finally {
      await daemon.stop();
    }
  });

  it('refuses to start on a creds file the server does not trust, naming nats.creds', async () => {
    await expect(start(untrustedCreds)).rejects.toThrow(/NATS refused the credentials: .*nats\.creds/);
  });

  it('refuses to start on a creds file that does not exist, naming the field', async () => {
    await expect(start(path.join(dir, 'missing.creds'))).rejects.toThrow(/nats\.creds: cannot read .*ENOENT/);
  });
});
