/**
 * Webhook traffic for fault tests: text webhooks from the WhatsApp simulator or any channel's, signed posts to any daemon URL
 * (in-process or a child process), a bounded worker pool, and a per-request ledger that sorts
 * every attempt into acked / rejected / unknown the way a platform's retry logic would.
 */
import { randomBytes } from 'node:crypto';
import { WA, metaSignature } from './daemon.ts';
import { whatsappTestAccount, whatsappText } from './inbound-whatsapp.ts';
import { postSimulated } from './inbound.ts';
import type { WebhookRequestSpec } from '../../src/core/adapter.ts';

/** One inbound text message, as the test will send it and later look it up. */
export interface TextMessage {
  wamid: string;
  from: string;
  text: string;
}

/** A unique wamid per call; `tag` keeps ids of different tests apart when reading a shared table. */
export function testWamid(tag = 'T'): string {
  return `wamid.${tag}${Date.now().toString(36)}${randomBytes(6).toString('hex')}`;
}

/**
 * The exact body Meta would POST for one text message to `phoneNumberId`: the WhatsApp
 * simulator's, carrying the test's own wamid so the ledger can follow it (posts sign it).
 */
export function textWebhookBody(message: TextMessage, phoneNumberId = WA.phoneNumberId, name = 'Fault Tester'): string {
  const simulated = whatsappText({ from: message.from, text: message.text, name, account: whatsappTestAccount({ phoneNumberId }) });
  const body = JSON.parse(simulated.body);
  body.entry[0].changes[0].value.messages[0].id = message.wamid;
  return JSON.stringify(body);
}

/** POSTs `body` to `{baseUrl}/webhooks/whatsapp/{account}`, signed with `secret` like Meta does. */
export function postSignedWhatsApp(
  baseUrl: string,
  body: string,
  options: { account?: string; secret?: string; signal?: AbortSignal } = {},
): Promise<Response> {
  return fetch(`${baseUrl}/webhooks/whatsapp/${options.account ?? WA.account}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-hub-signature-256': metaSignature(body, options.secret) },
    body,
    ...(options.signal ? { signal: options.signal } : {}),
  });
}

/** How one delivery attempt ended, as the sending platform saw it. */
export type Outcome = 'acked' | 'rejected' | 'unknown';

/**
 * Posts and classifies: 2xx = acked (the daemon promised durability), any other answer =
 * rejected (it promised nothing), no answer at all = unknown (it may or may not have committed).
 * The body is always read so keep-alive sockets are released.
 */
export async function deliver(baseUrl: string, body: string, options: { account?: string; secret?: string; timeoutMs?: number } = {}): Promise<{ outcome: Outcome; status: number | null }> {
  return classify(postSignedWhatsApp(baseUrl, body, { ...options, signal: AbortSignal.timeout(options.timeoutMs ?? 20_000) }));
}

/** Like `deliver`, for a webhook of any channel built by its simulator (`test/support/channels.ts`). */
export function deliverSpec(baseUrl: string, spec: WebhookRequestSpec, options: { timeoutMs?: number } = {}): Promise<{ outcome: Outcome; status: number | null }> {
  return classify(postSimulated(baseUrl, spec, AbortSignal.timeout(options.timeoutMs ?? 20_000)));
}

async function classify(answer: Promise<Response>): Promise<{ outcome: Outcome; status: number | null }> {
  try {
    const response = await answer;
    await response.arrayBuffer();
    return { outcome: response.ok ? 'acked' : 'rejected', status: response.status };
  } catch {
    return { outcome: 'unknown', status: null };
  }
}

/** Every attempt per wamid, so a test can ask what the platform would retry and what was promised. */
export class Ledger {
  readonly attempts = new Map<string, Outcome[]>();

  record(wamid: string, outcome: Outcome): void {
    const list = this.attempts.get(wamid) ?? [];
    list.push(outcome);
    this.attempts.set(wamid, list);
  }

  /** Wamids with at least one 2xx answer. */
  acked(): Set<string> {
    return new Set([...this.attempts].filter(([, list]) => list.includes('acked')).map(([wamid]) => wamid));
  }

  /** Wamids never answered 2xx: a platform would deliver them again. */
  notAcked(): string[] {
    return [...this.attempts].filter(([, list]) => !list.includes('acked')).map(([wamid]) => wamid);
  }

  /** How many attempts ended each way. */
  tally(): Record<Outcome, number> {
    const counts: Record<Outcome, number> = { acked: 0, rejected: 0, unknown: 0 };
    for (const list of this.attempts.values()) for (const outcome of list) counts[outcome]++;
    return counts;
  }
}

/** Runs `work` over `items` with at most `concurrency` in flight; resolves when all settled. */
export async function runPool<T>(items: readonly T[], concurrency: number, work: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      await work(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}

/**
 * Delivers each body until it is acked, the way Meta retries (with a short pause instead of
 * Meta's backoff). Throws naming the wamid when `attempts` run out.
 */
export function deliverUntilAcked(
  baseUrl: string,
  items: ReadonlyArray<{ wamid: string; body: string }>,
  ledger: Ledger,
  options: { concurrency?: number; attempts?: number; pauseMs?: number } = {},
): Promise<void> {
  return untilAcked(items.map(({ wamid, body }) => ({ id: wamid, send: () => deliver(baseUrl, body) })), ledger, options);
}

/** `deliverUntilAcked` for simulated webhooks of any channel, keyed by the message's external id. */
export function deliverSpecsUntilAcked(
  baseUrl: string,
  items: ReadonlyArray<{ id: string; spec: WebhookRequestSpec }>,
  ledger: Ledger,
  options: { concurrency?: number; attempts?: number; pauseMs?: number } = {},
): Promise<void> {
  return untilAcked(items.map(({ id, spec }) => ({ id, send: () => deliverSpec(baseUrl, spec) })), ledger, options);
}

async function untilAcked(
  items: ReadonlyArray<{ id: string; send(): Promise<{ outcome: Outcome; status: number | null }> }>,
  ledger: Ledger,
  options: { concurrency?: number; attempts?: number; pauseMs?: number },
): Promise<void> {
  const { concurrency = 8, attempts = 40, pauseMs = 250 } = options;
  await runPool(items, concurrency, async ({ id, send }) => {
    for (let attempt = 1; ; attempt++) {
      const { outcome, status } = await send();
      ledger.record(id, outcome);
      if (outcome === 'acked') return;
      if (attempt >= attempts) throw new Error(`${id} was not acked after ${attempts} deliveries (last: ${status ?? 'no answer'})`);
      await new Promise((resolve) => setTimeout(resolve, pauseMs));
    }
  });
}
