/**
 * What the LINE send tests do over and over against a real daemon and the LINE fake: send a
 * text through `/v1/messages`, have a user write (with a reply token or without), and wait for
 * a send to settle.
 */
import { expect } from 'vitest';
import { eventBase, type LineFake } from '../../src/channels/line/sandbox.ts';
import { API_TOKEN, type TestDaemon } from '../support/daemon.ts';
import { waitFor } from '../support/services.ts';

/** A settled send as the messages table holds it. */
export interface SendOutcome {
  status: string;
  route: string | null;
  error: any;
}

/** Helpers on the daemon `daemon()` returns; `idPrefix` keeps message ids of tests apart. */
export function lineSendHarness(daemon: () => TestDaemon, idPrefix: string) {
  let messageSeq = 0;
  const fake = () => daemon().daemon.fakes.get('line') as LineFake;
  return {
    fake,
    /** An agent's text to `to` on acme-line, accepted. */
    async send(key: string, to: string, text = 'Hello'): Promise<void> {
      const response = await fetch(`${daemon().daemon.url}/v1/messages`, {
        method: 'POST',
        headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ idempotencyKey: key, account: 'acme-line', to: { externalId: to }, parts: [{ type: 'text', text }] }),
      });
      expect(response.status).toBeLessThan(300);
    },
    /** A user writes at `at` (a reply token comes with it unless `replyable` is false), and it is recorded. */
    async writes(from: string, options: { at?: Date; replyable?: boolean } = {}): Promise<void> {
      const t = daemon();
      const id = `${idPrefix}${String(++messageSeq).padStart(2, '0')}`;
      const base = eventBase('message', { from, at: options.at ?? t.clock.now(), ...(options.replyable === false ? { replyable: false } : {}) });
      await fake().deliverEvents('acme-line', [{ ...base, message: { id, type: 'text', text: 'hi' } }]);
      await waitFor(async () => (await t.sql!`select 1 from messages where external_id = ${id}`).length > 0, { timeoutMs: 20_000, intervalMs: 50, description: `${from} recorded` });
    },
    /** The send `key` once it is no longer queued. */
    async outcome(key: string): Promise<SendOutcome> {
      let found: SendOutcome | undefined;
      await waitFor(async () => {
        const [row] = await daemon().sql!`select status, route, error from messages where idempotency_key = ${key}`;
        found = row as SendOutcome | undefined;
        return row !== undefined && row.status !== 'queued';
      }, { timeoutMs: 30_000, intervalMs: 50, description: `send ${key} settled` });
      return found!;
    },
  };
}
