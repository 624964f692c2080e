/**
 * A channel that receives by long polling, for the poll-loop tests: a fake platform holds
 * numbered updates per account, and `fetchUpdates(cursor)` returns those after the cursor,
 * waiting (like Telegram's getUpdates) until one arrives or the poll is aborted. Every call is
 * logged with the adapter instance that made it, so a test can tell the replicas apart.
 */
import { z } from 'zod';
import type { ChannelAdapter, ChannelCapabilities, ChannelDefinition, InboundMessage, PolledUpdates } from '../../src/core/adapter.ts';
import { OmniError } from '../../src/core/errors.ts';

/** One `fetchUpdates` call. */
export interface PollCall {
  adapter: ChannelAdapter;
  account: string;
  cursor: string | null;
  /** How many updates it returned; undefined while in flight or when it failed. */
  returned?: number;
  aborted?: boolean;
  failed?: boolean;
}

interface Update {
  id: number;
  from: string;
  text: string;
}

const updates = new Map<string, Update[]>();
const calls: PollCall[] = [];
const prepared: ChannelAdapter[] = [];
const failures = new Map<string, Error[]>();
let waiters: Array<() => void> = [];
let nextId = 0;

/** Hooks the tests steer the fake platform with. */
export const pollPlatform = {
  calls: (account?: string) => calls.filter((c) => account === undefined || c.account === account),
  prepared: () => [...prepared],
  /** A customer writes: the next poll of `account` returns it. */
  push(account: string, from: string, text: string): { id: number; dedupeKey: string } {
    const update = { id: ++nextId, from, text };
    updates.set(account, [...(updates.get(account) ?? []), update]);
    const wake = waiters;
    waiters = [];
    for (const w of wake) w();
    return { id: update.id, dedupeKey: `u:${update.id}` };
  },
  /** The next polls of `account` fail with these errors, one each. */
  failNext(account: string, ...errors: Error[]): void {
    failures.set(account, [...(failures.get(account) ?? []), ...errors]);
  },
};

/** The polling channel (`pollchan`); `capable: false` declares only webhooks, a config error. */
export function pollChannelDefinition(id = 'pollchan', options: { capable?: boolean } = {}): ChannelDefinition {
  return {
    id,
    settingsSchema: z.strictObject({ tag: z.string().optional() }),
    defaults: { window: 'none', attachments: ['jpg'], rateLimit: { perSecond: 30, perRecipientPerSecond: null } },
    secretFields: [],
    create({ account }): ChannelAdapter {
      const capabilities: ChannelCapabilities = {
        session: { windowMs: null, grants: { message: { durationMs: null, quota: null } }, allowedOutsideWindow: [] },
        attachments: { allow: account.attachments.allow, maxBytes: {}, inboundMaxBytes: 1_000_000 },
        templates: null,
        receipts: [],
        rateLimit: account.rateLimit,
        ordering: 'conversation',
        inbound: options.capable === false ? ['webhook'] : ['webhook', 'polling'],
      };
      const adapter: ChannelAdapter = {
        channel: id,
        account: account.id,
        capabilities,
        inboundMode: 'polling',
        verify: (request) => ({ request, body: request.body }),
        parse: () => [],
        checkCredentials: async () => undefined,
        fetchMedia: async () => {
          throw new OmniError('attachment_unreachable', 'no media here');
        },
        async preparePolling() {
          prepared.push(adapter);
        },
        async fetchUpdates(cursor, signal): Promise<PolledUpdates> {
          const call: PollCall = { adapter, account: account.id, cursor };
          calls.push(call);
          const failure = failures.get(account.id)?.shift();
          if (failure) {
            call.failed = true;
            throw failure;
          }
          const after = cursor === null ? 0 : Number(cursor);
          const pending = () => (updates.get(account.id) ?? []).filter((u) => u.id > after);
          // A long poll: wait for an update, the abort, or a little while (then an empty answer).
          await new Promise<void>((resolve) => {
            if (pending().length > 0 || signal.aborted) return resolve();
            const timer = setTimeout(resolve, 1_000);
            const done = () => {
              clearTimeout(timer);
              resolve();
            };
            waiters.push(done);
            signal.addEventListener('abort', done, { once: true });
          });
          if (signal.aborted) {
            call.aborted = true;
            throw new DOMException('the poll was aborted', 'AbortError');
          }
          const found = pending();
          call.returned = found.length;
          const events: InboundMessage[] = found.map((u) => ({
            kind: 'message',
            dedupeKey: `u:${u.id}`,
            externalId: String(u.id),
            conversation: { externalId: u.from, kind: 'direct' },
            sender: { externalId: u.from },
            timestamp: new Date(),
            parts: [{ type: 'text', text: u.text }],
            sessionGrant: 'message',
            raw: u,
          }));
          return { events, nextCursor: found.length > 0 ? String(found[found.length - 1]!.id) : cursor };
        },
      };
      return adapter;
    },
  };
}

/** A channel file of the polling channel. */
export function pollChannelYaml(id: string, extra: Record<string, string> = {}, channel = 'pollchan'): string {
  return Object.entries({ id, channel, ...extra }).map(([k, v]) => `${k}: ${v}`).join('\n') + '\n';
}
