/**
 * Logs an operator can act on: each send retry is a warn line with code, attempt and the next
 * attempt's time; a send that ends failed and dead-lettered is an error line with account and
 * message id; none of them carries the customer's number or text, and no line repeats a key.
 * A start that cannot work names the dependency at fault with a hint; the pretty form is readable.
 */
import { Writable } from 'node:stream';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { channels } from '../../src/channels/index.ts';
import { identities } from '../../src/extensions.ts';
import { Daemon } from '../../src/core/daemon.ts';
import { formatPretty } from '../../src/core/log-pretty.ts';
import { StartupError } from '../../src/core/startup-error.ts';
import { customerWrites, httpSend, newCustomer, startOutbound, textCommand, waitForStatus, type OutboundTest } from '../outbound/helpers.ts';
import { whatsappAccountYaml } from '../support/daemon.ts';
import { freePort, natsUrl, tempDir, uniquePrefix, waitFor } from '../support/services.ts';

/** The top-level keys of a JSON object text, in order, duplicates kept (JSON.parse drops them). */
function topLevelKeys(text: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i]!;
    if (char === '"') {
      let end = i + 1;
      while (text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
      if (depth === 1 && expectKey) keys.push(JSON.parse(text.slice(i, end + 1)) as string);
      expectKey = false;
      i = end;
    } else if (char === '{' || char === '[') {
      depth++;
      expectKey = char === '{' && depth === 1;
    } else if (char === '}' || char === ']') depth--;
    else if (char === ',' && depth === 1) expectKey = true;
  }
  return keys;
}

describe('operator logs', () => {
  const lines: string[] = [];
  let o: OutboundTest;
  beforeAll(async () => {
    const destination = new Writable({
      write(chunk, _encoding, callback) {
        lines.push(...String(chunk).split('\n').filter(Boolean));
        callback();
      },
    });
    o = await startOutbound({ settings: { maxAttempts: 2 }, logDestination: destination as never, logLevel: 'info' });
  });
  afterAll(async () => {
    await o?.stop();
  });

  const parsed = () => lines.map((line) => JSON.parse(line) as Record<string, unknown>);

  it('log each retry as a warn and the dead letter as an error, with ids and no personal data', async () => {
    const customer = newCustomer();
    const text = 'private words for the log test';
    await customerWrites(o, customer);
    o.fake.failNext(5, { status: 500 });
    const answer = await httpSend(o, textCommand('oplog-1', customer, text));
    const messageId = answer.json.messageId as string;
    await waitForStatus(o, messageId, 'failed');
    await waitFor(() => parsed().some((entry) => entry.messageId === messageId && entry.level === 50), { timeoutMs: 10_000, intervalMs: 50 });

    const mine = parsed().filter((entry) => entry.messageId === messageId);
    const retry = mine.find((entry) => entry.msg === 'send failed; will retry');
    expect(retry).toMatchObject({ level: 40, account: 'acme-wa', channel: 'whatsapp', code: 'channel_unavailable', attempt: 1 });
    expect(Number.isNaN(Date.parse(String(retry?.nextAttemptAt)))).toBe(false);
    const failed = mine.find((entry) => entry.level === 50);
    expect(failed).toMatchObject({ msg: 'send failed; dead-lettered', account: 'acme-wa', code: 'channel_unavailable', deadLetter: true, attempts: 2 });
    for (const entry of mine) expect(entry.err, 'an expected failure carries no stack trace').toBeUndefined();

    const all = lines.join('\n');
    expect(all.includes(customer), 'the customer number is not logged').toBe(false);
    expect(all.includes(text), 'the message text is not logged').toBe(false);
  });

  it('never repeat a key within one line', () => {
    expect(lines.length).toBeGreaterThan(5);
    for (const line of lines) {
      const keys = topLevelKeys(line);
      expect(keys.filter((key, index) => keys.indexOf(key) !== index), line).toEqual([]);
    }
  });

  it('read as one short line each in the pretty form', () => {
    const line = JSON.stringify({ level: 40, time: '2026-12-01T12:00:01.123Z', service: 'omnibus', component: 'sender', account: 'acme-wa', code: 'rate_limited', msg: 'send failed; will retry' });
    expect(formatPretty(line)).toBe('12:00:01.123 WARN  [sender] send failed; will retry account=acme-wa code=rate_limited\n');
    expect(formatPretty('not json')).toBe('not json\n');
  });
});

describe('fatal start-up errors', () => {
  it('name the database and a hint when PostgreSQL is not there', async () => {
    const dir = await tempDir();
    await mkdir(path.join(dir, 'channels'), { recursive: true });
    const closed = await freePort();
    const yaml = [
      'http: { host: 127.0.0.1, port: 0 }',
      `nats: { url: "${natsUrl()}", prefix: ${uniquePrefix()} }`,
      `database: { url: "postgres://omnibus@127.0.0.1:${closed}/omnibus" }`,
      `dataDir: "${path.join(dir, 'data')}"`,
      'log: { level: silent }',
      'sandbox: true',
    ].join('\n');
    await writeFile(path.join(dir, 'omnibus.yaml'), `${yaml}\n`);
    await writeFile(path.join(dir, 'channels', 'acme-wa.yaml'), whatsappAccountYaml());
    const failure = await Daemon.start({ configDir: dir, channels, identities, env: {}, watch: false }).then(
      () => null,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(StartupError);
    expect(failure).toMatchObject({ dependency: 'database', hint: expect.stringMatching(/database\.url/) });
  });
});
