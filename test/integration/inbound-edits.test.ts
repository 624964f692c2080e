/**
 * Edits, unsends and reply contexts recorded against real PostgreSQL and NATS, through the
 * ingest path an adapter's events take: an edit replaces the parts and keeps what it replaced,
 * an unsend deletes the content, each is announced once, and a reply token lands on the
 * conversation for the outbound side to claim.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InboundDelete, InboundEdit, InboundEvent, InboundMessage } from '../../src/core/adapter.ts';
import { messageDeletedEventSchema, messageEditedEventSchema } from '../../src/core/schemas/events.ts';
import { startTestDaemon, type TestDaemon } from '../support/daemon.ts';
import { waitFor } from '../support/services.ts';

let seq = 0;

describe('edits, unsends and reply contexts', () => {
  let t: TestDaemon;
  const channel = 'line';
  const account = 'acme-line';
  beforeAll(async () => {
    t = await startTestDaemon();
  });
  afterAll(async () => {
    await t?.stop();
  });

  const record = (events: InboundEvent[]) => {
    const capabilities = t.daemon.registry.all()[0]!.adapter.capabilities;
    return t.daemon.ingestor.record({ adapter: { channel, account, capabilities }, window: 'none' }, null, events);
  };
  const message = (text: string, extra: Partial<InboundMessage> = {}): InboundMessage => {
    const id = `lm-${Date.now()}-${++seq}`;
    return {
      kind: 'message',
      dedupeKey: id,
      externalId: id,
      conversation: { externalId: 'U-edit', kind: 'direct' },
      sender: { externalId: 'U-edit' },
      timestamp: new Date(),
      parts: [{ type: 'text', text }],
      sessionGrant: null,
      raw: { text },
      ...extra,
    };
  };
  const edit = (target: InboundMessage, text: string): InboundEdit => ({
    kind: 'edit',
    dedupeKey: `edit-${++seq}`,
    targetExternalId: target.externalId,
    conversation: target.conversation,
    sender: target.sender,
    timestamp: new Date(),
    parts: [{ type: 'text', text }],
    raw: { edited: text },
  });
  const unsend = (target: InboundMessage): InboundDelete => ({ kind: 'delete', dedupeKey: `unsend-${++seq}`, targetExternalId: target.externalId, timestamp: new Date(), raw: {} });

  it('an edit replaces the parts, keeps the history, and is announced once however often it arrives', async () => {
    const original = message('helo');
    await record([original]);
    const change = edit(original, 'hello');
    expect((await record([change])).recorded).toBe(1);
    expect((await record([change])).duplicates).toBe(1);
    const [row] = await t.sql!`select id, parts, edits, edited_at from messages where channel = ${channel} and external_id = ${original.externalId}`;
    expect(row!.parts).toEqual([{ type: 'text', text: 'hello' }]);
    expect(row!.edits).toEqual([{ dedupeKey: change.dedupeKey, at: change.timestamp.toISOString(), previousParts: [{ type: 'text', text: 'helo' }] }]);
    expect((row!.edited_at as Date).toISOString()).toBe(change.timestamp.toISOString());
    const events = await t.events(`${t.prefix}.v1.evt.message.edited.${channel}.${account}`, { where: (e) => e.data.id === row!.id });
    expect(events).toHaveLength(1);
    expect(messageEditedEventSchema.parse(events[0]!.data)).toMatchObject({ parts: [{ type: 'text', text: 'hello' }], edits: 1, externalId: original.externalId });
  });

  it('an unsend deletes text, raw and history, and is announced once', async () => {
    const original = message('my card number is 4111');
    await record([original]);
    await record([edit(original, 'my card number is 4111 1111')]);
    const gone = unsend(original);
    expect((await record([gone])).recorded).toBe(1);
    expect((await record([{ ...gone, dedupeKey: `${gone.dedupeKey}-again` }])).duplicates).toBe(1);
    const [row] = await t.sql!`select id, parts, raw, edits, deleted_at from messages where channel = ${channel} and external_id = ${original.externalId}`;
    expect(row).toMatchObject({ parts: [], raw: null, edits: null });
    expect(row!.deleted_at).not.toBeNull();
    const events = await t.events(`${t.prefix}.v1.evt.message.deleted.${channel}.${account}`, { where: (e) => e.data.id === row!.id });
    expect(events).toHaveLength(1);
    expect(messageDeletedEventSchema.parse(events[0]!.data).externalId).toBe(original.externalId);
    // An edit that arrives after the unsend brings nothing back.
    expect((await record([edit(original, 'resurrected')])).ignored).toEqual({ edit_of_deleted_message: 1 });
  });

  it('an unsend deletes the media rows of the message too', async () => {
    const photo = message('', { parts: [{ type: 'image', media: { ref: 'line-content-1', declaredMime: 'image/jpeg' } }] });
    await record([photo]);
    const [row] = await t.sql!`select id from messages where channel = ${channel} and external_id = ${photo.externalId}`;
    expect(await t.sql!`select 1 from media where message_id = ${row!.id}`).toHaveLength(1);
    await record([unsend(photo)]);
    expect(await t.sql!`select 1 from media where message_id = ${row!.id}`).toHaveLength(0);
  });

  it('an edit bringing media is held like a new message until the media is fetched, then published with it settled', async () => {
    // The test daemon's WhatsApp account, whose fake serves the bytes.
    const entry = t.daemon.registry.get('acme-wa')!;
    const scope = { adapter: { channel: 'whatsapp', account: 'acme-wa', capabilities: entry.adapter.capabilities }, window: '24h' };
    const png = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c626001000000ffff03000006000557bfabd40000000049454e44ae426082', 'hex');
    const stored = t.daemon.fakes.get('whatsapp')!.putMedia(new Uint8Array(png), 'image/png');
    const original = message('see attached', { conversation: { externalId: '15550001111', kind: 'direct' }, sender: { externalId: '15550001111' } });
    await t.daemon.ingestor.record(scope, null, [original]);
    const change: InboundEdit = { ...edit(original, ''), parts: [{ type: 'image', caption: 'see attached', media: { ref: stored.id, declaredMime: 'image/png' } }] };
    expect((await t.daemon.ingestor.record(scope, null, [change])).recorded).toBe(1);
    const [row] = await t.sql!`select id from messages where channel = 'whatsapp' and external_id = ${original.externalId}`;
    // Never waiting unheld with its media still pending: the relay would publish it so.
    const [pending] = await t.sql!`select held, payload #>> '{parts,0,media,status}' as status from outbox where msg_id like ${`${row!.id}:edited:%`}`;
    expect(pending!.held || pending!.status !== 'pending', JSON.stringify(pending)).toBe(true);
    const [event] = await waitFor(
      async () => {
        const events = (await t.events(`${t.prefix}.v1.evt.message.edited.whatsapp.acme-wa`, { timeoutMs: 500 })).filter((e) => e.data.id === row!.id);
        return events.length > 0 ? events : null;
      },
      { timeoutMs: 20_000, intervalMs: 200, description: 'the edited event published' },
    );
    expect(messageEditedEventSchema.parse(event!.data).parts[0]).toMatchObject({ type: 'image', media: { status: 'ready', mime: 'image/png', size: png.length } });
  });

  it('edits and unsends of a message never seen are counted, not stored', async () => {
    const ghost = message('never recorded');
    expect((await record([edit(ghost, 'x'), unsend(ghost)])).ignored).toEqual({ edit_of_unknown_message: 1, delete_of_unknown_message: 1 });
  });

  it('a reply context is kept on the conversation; an older one never replaces a newer', async () => {
    const later = new Date(Date.now() + 60_000);
    const first = message('with a token', { replyContext: { token: 'reply-token-new', expiresAt: later, maxMessages: 5 } });
    await record([first]);
    const stale = message('late redelivery', { replyContext: { token: 'reply-token-old', expiresAt: new Date(Date.now() + 1_000), maxMessages: 5 } });
    await record([stale]);
    const [row] = await t.sql!`select reply_token, reply_token_expires_at, reply_token_max_messages, reply_token_message_id, reply_token_used_at from conversations where channel = ${channel} and external_id = 'U-edit'`;
    expect(row).toMatchObject({ reply_token: 'reply-token-new', reply_token_max_messages: 5, reply_token_message_id: first.externalId, reply_token_used_at: null });
    expect((row!.reply_token_expires_at as Date).toISOString()).toBe(later.toISOString());
  });
});
