/**
 * Every registered channel, for the tests that must hold for all of them (dedupe, ordering,
 * NATS outage, kill -9, replicas): its shipped sample account (`config/channels/*.yaml`, whose
 * sample secrets the sandbox accepts), a customer id in the form its simulator takes, and text
 * webhooks built by the channel's own simulator for the account exactly as the daemon loaded
 * it. A channel registered without an entry in `CUSTOMERS` fails here, not silently untested.
 */
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { channels } from '../../src/channels/index.ts';
import type { ChannelDefinition, WebhookRequestSpec } from '../../src/core/adapter.ts';
import { loadConfig } from '../../src/core/config/load.ts';
import type { AccountConfig } from '../../src/core/config/types.ts';
import { simulateCustomer } from './inbound.ts';

const SAMPLES = fileURLToPath(new URL('../../config/channels/', import.meta.url));

/** Customer `i` of a channel, as its simulator's `from` takes it. */
const CUSTOMERS: Readonly<Record<string, (i: number) => string>> = {
  whatsapp: (i) => `4915100${String(i).padStart(5, '0')}`,
  telegram: (i) => String(7_100_000_000 + i),
  line: (i) => `U${createHash('sha256').update(`customer ${i}`).digest('hex').slice(0, 32)}`,
  wechat: (i) => `oCustomer${String(i).padStart(8, '0')}`,
};

/** One registered channel as the channel-generic tests drive it. */
export interface TestChannel {
  id: string;
  definition: ChannelDefinition;
  /** The sample account's id and its channel file (name and YAML). */
  accountId: string;
  fileName: string;
  yaml: string;
  customer(i: number): string;
}

function sampleFor(id: string): { fileName: string; yaml: string; accountId: string } {
  for (const fileName of readdirSync(SAMPLES).filter((name) => name.endsWith('.yaml')).sort()) {
    const yaml = readFileSync(join(SAMPLES, fileName), 'utf8');
    if (new RegExp(`^channel:\\s*${id}\\s*$`, 'm').test(yaml)) return { fileName, yaml, accountId: /^id:\s*(\S+)/m.exec(yaml)![1]! };
  }
  throw new Error(`config/channels has no sample account of channel ${id}`);
}

/** Every registered channel with a simulator. */
export const TEST_CHANNELS: ReadonlyArray<TestChannel> = [...channels.values()]
  .filter((definition) => definition.sandbox !== undefined)
  .map((definition) => {
    const customer = CUSTOMERS[definition.id];
    if (customer === undefined) throw new Error(`test/support/channels.ts: add a customer id form for channel ${definition.id}`);
    return { id: definition.id, definition, ...sampleFor(definition.id), customer };
  });

/** The channel files of every test channel, for `startTestDaemon({ accounts })` or a child config. */
export function everyChannelAccounts(): Record<string, string> {
  return Object.fromEntries(TEST_CHANNELS.map((channel) => [channel.fileName, channel.yaml]));
}

/** The accounts of a config directory as the daemon loads them (same loader, same environment). */
export async function loadedAccounts(configDir: string): Promise<ReadonlyMap<string, AccountConfig>> {
  return (await loadConfig(configDir, channels, {})).accounts;
}

/** One customer text webhook, and the id its message is recorded under. */
export interface ChannelText {
  spec: WebhookRequestSpec;
  externalId: string;
}

/** A text from `from` to `channel`'s sample account, built by the channel's simulator. */
export function channelText(channel: TestChannel, account: AccountConfig, from: string, text: string): ChannelText {
  const simulated = simulateCustomer(channel.definition, account, { from, text, name: 'Test Customer' });
  return { spec: simulated.spec, externalId: simulated.externalId };
}
