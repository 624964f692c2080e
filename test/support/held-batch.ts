/**
 * What the group-commit tests share: they hold one transaction on a PostgreSQL advisory lock
 * (a trigger the test installs waits on it), queue webhooks behind it, read the queue depth
 * from /metrics, and post WhatsApp webhooks carrying one or several text messages.
 */
import type postgres from 'postgres';
import type { TestDaemon } from './daemon.ts';
import { waitFor } from './services.ts';

/** A metric's value from the daemon's /metrics (0 when absent); `name` with labels if any. */
export async function metricValue(t: TestDaemon, name: string): Promise<number> {
  const text = await (await fetch(`${t.daemon.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.slice(name.length + 1)) : 0;
}

/** Waits (up to 20 s) until `check` holds; the error names `what`. */
export async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  await waitFor(check, { timeoutMs: 20_000, intervalMs: 10, description: what });
}

/** Waits until some transaction waits on an advisory lock (the held one). */
export function untilHeldOnLock(admin: postgres.Sql, what = 'a transaction waits on the lock'): Promise<void> {
  return until(async () => (await admin`select 1 from pg_stat_activity where wait_event_type = 'Lock' and wait_event = 'advisory'`).length > 0, what);
}

/** One WhatsApp webhook with text messages (Meta batches several like this under load). */
export function whatsappTexts(phoneNumberId: string, messages: ReadonlyArray<{ id: string; from: string; name: string }>, at = Math.floor(Date.now() / 1000)): object {
  return {
    object: 'whatsapp_business_account',
    entry: [{
      id: '102290129340398',
      changes: [{
        field: 'messages',
        value: {
          messaging_product: 'whatsapp',
          metadata: { display_phone_number: '15550783881', phone_number_id: phoneNumberId },
          contacts: messages.map(({ from, name }) => ({ profile: { name }, wa_id: from })),
          messages: messages.map(({ id, from }) => ({ from, id, timestamp: String(at), type: 'text', text: { body: `hello ${id}` } })),
        },
      }],
    }],
  };
}
