/**
 * Helpers for the contacts tests: a real daemon (PostgreSQL, NATS) with two WhatsApp accounts
 * and a configurable `merge` section, signed webhooks from a given person, the API over HTTP
 * and NATS, and a check of the contact graph's invariants.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type postgres from 'postgres';
import { API_TOKEN, WA, metaSignature, startTestDaemon, whatsappAccountYaml, type TestDaemon } from '../support/daemon.ts';
import { createTestDatabase, natsUrl, tempDir, uniquePrefix } from '../support/services.ts';
import { whatsappTestAccount, whatsappText } from '../support/inbound-whatsapp.ts';
import { waitForOutboxDrained } from '../support/stream.ts';
import { contactsExtension } from '../../src/merge/extension.ts';
import type { DaemonExtension } from '../../src/core/daemon.ts';
import { ManualClock } from '../../src/core/clock.ts';

/** The second WhatsApp account: another business number of the same company. */
export const WA2 = { account: 'acme-wa2', phoneNumberId: '106540352242933' };

/** Options of {@link startContactsDaemon}. */
export interface ContactsDaemonOptions {
  /** The `merge` section as YAML flow, e.g. `{ auto: [phone, email] }`. */
  merge?: string;
  /** Share a database and prefix with another replica. */
  shared?: { databaseUrl: string; prefix: string };
  extensions?: DaemonExtension[];
}

/** A daemon under test plus its database's drop function (when it created the database). */
export interface ContactsDaemon extends TestDaemon {
  sql: postgres.Sql;
  manualClock: ManualClock;
  dropDatabase(): Promise<void>;
}

/** Starts a daemon with the contacts extension and two WhatsApp accounts. */
export async function startContactsDaemon(options: ContactsDaemonOptions = {}): Promise<ContactsDaemon> {
  const dir = await tempDir();
  const created = options.shared ? null : await createTestDatabase();
  const databaseUrl = options.shared?.databaseUrl ?? created!.url;
  const prefix = options.shared?.prefix ?? uniquePrefix();
  await mkdir(path.join(dir, 'channels'), { recursive: true });
  const yaml = [
    'http: { host: 127.0.0.1, port: 0 }',
    `nats: { url: "${natsUrl()}", prefix: ${prefix} }`,
    `database: { url: "${databaseUrl}" }`,
    `dataDir: "${path.join(dir, 'data')}"`,
    `api: { tokens: [{ token: ${API_TOKEN}, scopes: [read, write] }] }`,
    `log: { level: ${process.env.OMNIBUS_TEST_LOG ?? 'silent'} }`,
    'sandbox: true',
    ...(options.merge ? [`merge: ${options.merge}`] : []),
  ].join('\n');
  await writeFile(path.join(dir, 'omnibus.yaml'), `${yaml}\n`);
  await writeFile(path.join(dir, 'channels', 'acme-wa.yaml'), whatsappAccountYaml());
  await writeFile(path.join(dir, 'channels', 'acme-wa2.yaml'), whatsappAccountYaml({ id: WA2.account, phoneNumberId: `"${WA2.phoneNumberId}"` }));
  // Behind the real clock, so a message's time is when the daemon received it (ingest takes the
  // earlier of the two); tests advance it so "older" is well defined.
  const manualClock = new ManualClock(Date.UTC(2025, 0, 1, 10, 0, 0));
  const t = await startTestDaemon({
    dir,
    databaseUrl,
    prefix,
    clock: manualClock,
    extra: { extensions: options.extensions ?? [contactsExtension()] },
  });
  return Object.assign(t, { sql: t.sql!, manualClock, dropDatabase: async () => created?.drop() });
}

/** A signed-webhook body, built by the WhatsApp simulator: one text message from `from` (digits) on an account. */
export function waText(options: { from: string; name?: string; account?: 'acme-wa' | 'acme-wa2'; text?: string; at?: Date }): { body: string; wamid: string } {
  const account = options.account === WA2.account ? whatsappTestAccount({ id: WA2.account, phoneNumberId: WA2.phoneNumberId }) : whatsappTestAccount();
  const message = whatsappText({ from: options.from, text: options.text ?? 'hello', account, ...(options.name !== undefined ? { name: options.name } : {}), ...(options.at !== undefined ? { at: options.at } : {}) });
  return { body: message.body, wamid: message.externalId };
}

/** Posts a signed webhook to an account; resolves with the HTTP status. */
export async function postWa(t: TestDaemon, body: string, account: string = WA.account): Promise<number> {
  const response = await fetch(`${t.daemon.url}/webhooks/whatsapp/${account}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-hub-signature-256': metaSignature(body) },
    body,
  });
  await response.arrayBuffer();
  return response.status;
}

/** Calls the HTTP API with the test token. */
export async function api(t: TestDaemon, method: string, route: string, body?: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(`${t.daemon.url}/v1${route}`, {
    method,
    headers: { authorization: `Bearer ${API_TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: await response.json() };
}

/** Calls a request/reply subject (`contact.get`, ...) over NATS. */
export async function nats(t: TestDaemon, endpoint: string, body: unknown): Promise<any> {
  const reply = await t.nc.request(`${t.prefix}.v1.api.${endpoint}`, JSON.stringify(body), { timeout: 10_000 });
  return reply.json();
}

/** Every `contact.<kind>` event in the stream once everything recorded so far is published. */
export async function contactEvents(t: TestDaemon, kind: 'created' | 'updated' | 'merged' | 'unmerged'): Promise<Array<{ subject: string; msgId: string | null; data: any }>> {
  await waitForOutboxDrained(t.sql!);
  return t.events(`${t.prefix}.v1.evt.contact.${kind}`, { atLeast: 0, timeoutMs: 0 });
}

/** The live contact holding an identity. */
export async function contactOf(sql: postgres.Sql, account: string, externalId: string): Promise<string> {
  const [row] = await sql<{ contact_id: string }[]>`select contact_id from identities where account = ${account} and external_id = ${externalId}`;
  if (!row) throw new Error(`no identity ${account}/${externalId}`);
  return row.contact_id;
}

/**
 * Everything that must hold of the contact graph at any commit: identities point at live
 * contacts, aliases point one hop to a live contact (so no cycles), and no live contact is
 * empty. Returns the violations (empty when consistent).
 */
export async function graphViolations(sql: postgres.Sql): Promise<string[]> {
  const found: string[] = [];
  for (const row of await sql`select i.id from identities i left join contacts c on c.id = i.contact_id where c.id is null or c.merged_into is not null`) {
    found.push(`identity ${row.id} points at a missing or merged contact`);
  }
  for (const row of await sql`select a.id from contacts a left join contacts s on s.id = a.merged_into where a.merged_into is not null and (s.id is null or s.merged_into is not null or s.id = a.id)`) {
    found.push(`alias ${row.id} does not point at a live contact`);
  }
  for (const row of await sql`select c.id from contacts c where c.merged_into is null and not exists (select 1 from identities i where i.contact_id = c.id)`) {
    found.push(`live contact ${row.id} has no identity`);
  }
  return found;
}
