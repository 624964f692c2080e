/**
 * Answers too large for one NATS message (NATS's default max payload is 1 MiB) against a real
 * daemon: a timeline page is cut by bytes and carries its cursor, so paging still reaches every
 * message; an answer that cannot be cut (a huge profile) is `{ ok: false }` with
 * `invalid_request` / `answer_too_large` instead of killing the process, and HTTP still serves it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WA } from '../support/daemon.ts';
import { TIMELINE_PAGE_BYTES } from '../../src/merge/timeline.ts';
import { api, contactOf, nats, postWa, startContactsDaemon, type ContactsDaemon } from './helpers.ts';

let t: ContactsDaemon;

beforeAll(async () => {
  t = await startContactsDaemon();
});
afterAll(async () => {
  await t?.stop();
  await t?.dropDatabase();
});

/** One webhook carrying `count` texts of `chars` characters from `from`. */
function manyTexts(from: string, first: number, count: number, chars: number): string {
  const timestamp = String(Math.floor(Date.now() / 1000));
  const messages = Array.from({ length: count }, (_, i) => ({
    from,
    id: `wamid.BIG${from}${String(first + i).padStart(4, '0')}`,
    timestamp,
    type: 'text',
    text: { body: `${first + i} `.padEnd(chars, 'x') },
  }));
  return JSON.stringify({
    object: 'whatsapp_business_account',
    entry: [
      {
        id: '102290129340398',
        changes: [
          {
            field: 'messages',
            value: {
              messaging_product: 'whatsapp',
              metadata: { display_phone_number: '15550783881', phone_number_id: WA.phoneNumberId },
              contacts: [{ profile: { name: 'Long Writer' }, wa_id: from }],
              messages,
            },
          },
        ],
      },
    ],
  });
}

describe('answers over the NATS max payload', () => {
  it('cuts a timeline page by bytes and returns its cursor; paging still reaches all 200 texts', async () => {
    const from = '16315559001';
    for (let first = 0; first < 200; first += 10) {
      t.manualClock.advance(1_000);
      expect(await postWa(t, manyTexts(from, first, 10, 4_096))).toBe(200);
    }
    const id = await contactOf(t.sql, WA.account, from);

    const page = await nats(t, 'contact.timeline', { id, limit: 200 });
    expect(page.ok).toBe(true);
    expect(page.messages.length).toBeGreaterThan(0);
    expect(page.messages.length).toBeLessThan(200);
    expect(page.nextCursor).toEqual(expect.any(String));
    expect(Buffer.byteLength(JSON.stringify(page.messages))).toBeLessThanOrEqual(TIMELINE_PAGE_BYTES + 1024);
    // The same request gets the same page over HTTP.
    const overHttp = await api(t, 'GET', `/contacts/${id}/timeline?limit=200`);
    expect(overHttp.body.messages.map((m: any) => m.id)).toEqual(page.messages.map((m: any) => m.id));

    const seen: string[] = page.messages.map((m: any) => m.externalId);
    let cursor: string | null = page.nextCursor;
    for (let pages = 1; cursor && pages < 50; pages++) {
      const next = await nats(t, 'contact.timeline', { id, limit: 200, before: cursor });
      expect(next.ok).toBe(true);
      seen.push(...next.messages.map((m: any) => m.externalId));
      cursor = next.nextCursor;
    }
    expect(cursor).toBeNull();
    expect(seen).toHaveLength(200);
    expect(new Set(seen).size).toBe(200);
  });

  it('answers an oversize contact.get { ok: false, invalid_request } and stays up; HTTP still serves it', async () => {
    const from = '16315559002';
    t.manualClock.advance(1_000);
    expect(await postWa(t, manyTexts(from, 0, 1, 10))).toBe(200);
    const id = await contactOf(t.sql, WA.account, from);
    // Two patches under the /v1 body limit that together make a profile over 1 MiB.
    for (const key of ['notesA', 'notesB']) {
      const patched = await api(t, 'PATCH', `/contacts/${id}`, { attributes: { [key]: 'n'.repeat(600_000) } });
      expect(patched.status).toBe(200);
    }

    const answer = await nats(t, 'contact.get', { id });
    expect(answer).toMatchObject({ ok: false, error: { code: 'invalid_request', details: { reason: 'answer_too_large', maxPayload: t.nc.info!.max_payload } } });
    expect(answer.error.message).toMatch(/NATS max payload.*HTTP/);

    // Alive: health, another NATS request, and the HTTP answer in full.
    expect((await fetch(`${t.daemon.url}/healthz`)).status).toBe(200);
    expect(await nats(t, 'contact.get', { id: 'ct_nobody' })).toMatchObject({ ok: false, error: { code: 'unknown_contact' } });
    const overHttp = await api(t, 'GET', `/contacts/${id}`);
    expect(overHttp.status).toBe(200);
    expect(overHttp.body.contact.attributes.notesB).toHaveLength(600_000);
  });
});
