/**
 * Production NATS: the daemon authenticates (user/password, NKey, token) and speaks TLS to a
 * server with a CA made here with openssl; it connects and publishes a webhook's event. A
 * refused credential or a certificate the daemon cannot trust is fatal at start, with a
 * message naming the config field, not "unavailable, will keep trying".
 *
 * (`.creds` files need an operator/JWT setup: test/integration/nats-creds.test.ts.)
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { nkeys, type ConnectionOptions } from '@nats-io/nats-core';
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

const PASSWORD = 'alice-password-0123';
const TOKEN = 'nats-token-0123456789abcdef';

interface Server {
  url: string;
  server: LocalNatsServer;
}

async function natsServer(dir: string, name: string, conf: string, scheme = 'nats'): Promise<Server> {
  const file = path.join(dir, `${name}.conf`);
  await writeFile(file, conf);
  const port = await freePort();
  const logger = pino({ level: process.env.OMNIBUS_TEST_LOG ?? 'silent' });
  const server = await startLocalNatsServer({ storeDir: path.join(dir, name), port, logger, extraArgs: ['-c', file] });
  return { url: `${scheme}://127.0.0.1:${port}`, server };
}

describe('production NATS: authentication and TLS', () => {
  let dir: string;
  let database: TestDatabase;
  const servers: Record<string, Server> = {};
  const user = nkeys.createUser();
  const seed = new TextDecoder().decode(user.getSeed());
  let certs: ReturnType<typeof makeCertificates>;

  beforeAll(async () => {
    dir = await tempDir();
    database = await createTestDatabase();
    certs = makeCertificates(dir);
    servers.users = await natsServer(
      dir,
      'users',
      `authorization { users = [ { user: alice, password: "${PASSWORD}" }, { nkey: ${user.getPublicKey()} } ] }\n`,
    );
    servers.token = await natsServer(dir, 'token', `authorization { token: "${TOKEN}" }\n`);
    servers.tls = await natsServer(
      dir,
      'tls',
      `tls { cert_file: "${certs.cert}", key_file: "${certs.key}" }\nauthorization { user: alice, password: "${PASSWORD}" }\n`,
      'tls',
    );
  }, 60_000);

  afterAll(async () => {
    for (const entry of Object.values(servers)) await entry.server.stop();
    await database?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** Writes a config whose nats section is `nats` (YAML flow mapping body) and starts a daemon. */
  async function start(nats: string, url: string): Promise<{ daemon: Daemon; prefix: string; configDir: string }> {
    const prefix = uniquePrefix();
    const configDir = path.join(dir, prefix);
    await mkdir(path.join(configDir, 'channels'), { recursive: true });
    const yaml = [
      'http: { host: 127.0.0.1, port: 0 }',
      `nats: { url: "${url}", prefix: ${prefix}, ${nats} }`,
      `database: { url: "${database.url}" }`,
      `dataDir: "${path.join(configDir, 'data')}"`,
      'log: { level: silent }',
      'sandbox: true',
    ].join('\n');
    await writeFile(path.join(configDir, 'omnibus.yaml'), `${yaml}\n`);
    await writeFile(path.join(configDir, 'channels', 'acme-wa.yaml'), whatsappAccountYaml());
    const daemon = await Daemon.start({ configDir, channels, identities, env: {}, watch: false });
    return { daemon, prefix, configDir };
  }

  /** The nats section as the loader would see it, for building the reader's options. */
  function settings(nats: Record<string, unknown>) {
    return daemonSchema.parse({ nats }).nats;
  }

  it('connects with a user and password and publishes', async () => {
    const { daemon, prefix } = await start(`user: alice, password: "${PASSWORD}"`, servers.users!.url);
    try {
      expect(daemon.bus?.isConnected()).toBe(true);
      await publishesThrough(daemon, prefix, servers.users!.url, await natsConnectOptions(settings({ url: servers.users!.url, user: 'alice', password: PASSWORD })));
    } finally {
      await daemon.stop();
    }
  });

  it('connects with an NKey seed given inline or as a file', async () => {
    const seedFile = path.join(dir, 'user.nk');
    await writeFile(seedFile, `${seed}\n`);
    for (const nkey of [seed, seedFile]) {
      const { daemon, prefix } = await start(`nkey: "${nkey}"`, servers.users!.url);
      try {
        await publishesThrough(daemon, prefix, servers.users!.url, await natsConnectOptions(settings({ url: servers.users!.url, nkey })));
      } finally {
        await daemon.stop();
      }
    }
  });

  it('connects with a token and publishes', async () => {
    const { daemon, prefix } = await start(`token: "${TOKEN}"`, servers.token!.url);
    try {
      await publishesThrough(daemon, prefix, servers.token!.url, await natsConnectOptions(settings({ url: servers.token!.url, token: TOKEN })));
    } finally {
      await daemon.stop();
    }
  });

  it('connects over TLS trusting the configured CA and publishes', async () => {
    const { daemon, prefix } = await start(`user: alice, password: "${PASSWORD}", tls: { ca: "${certs.ca}" }`, servers.tls!.url);
    try {
      const options = await natsConnectOptions(settings({ url: servers.tls!.url, user: 'alice', password: PASSWORD, tls: { ca: certs.ca } }));
      await publishesThrough(daemon, prefix, servers.tls!.url, options);
    } finally {
      await daemon.stop();
    }
  });

  it('refuses to start on a wrong password, naming the field', async () => {
    await expect(start('user: alice, password: "not-the-password"', servers.users!.url)).rejects.toThrow(
      /NATS refused the credentials: .*nats\.user \/ nats\.password/,
    );
  });

  it('refuses to start with no credentials for a server that wants them', async () => {
    await expect(start('replicas: 1', servers.token!.url)).rejects.toThrow(/NATS refused the credentials: .*nats\.url/);
  });

  it('refuses to start on a wrong token and never echoes it', async () => {
    const wrong = 'wrong-token-abcdef0123456789';
    const failure = await start(`token: "${wrong}"`, servers.token!.url).then(
      () => null,
      (error: Error) => error,
    );
    expect(failure?.message).toMatch(/NATS refused the credentials: .*nats\.token/);
    expect(failure?.message).not.toContain(wrong);
  });

  it('refuses to start when the server certificate is signed by another CA', async () => {
    await expect(start(`user: alice, password: "${PASSWORD}", tls: { ca: "${certs.otherCa}" }`, servers.tls!.url)).rejects.toThrow(/NATS TLS failed: .*nats\.tls/);
  });

  it('refuses to start on an NKey file that does not exist, naming the field', async () => {
    await expect(start(`nkey: "${path.join(dir, 'missing.nk')}"`, servers.users!.url)).rejects.toThrow(/nats\.nkey: cannot read .*ENOENT/);
  });
});
