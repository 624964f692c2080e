import { describe, expect, it } from 'vitest';
import {
  contactEventSchema,
  deadletterEventSchema,
  errorBodySchema,
  messageEventSchema,
  sessionEventSchema,
  statusEventSchema,
} from '../../src/core/schemas/events.ts';

// docs/api.md, `omni.message/v1`, with the `//` comments removed.
const contractMessage = {
  schema: 'omni.message/v1',
  id: 'msg_...',
  direction: 'in',
  channel: 'whatsapp',
  account: 'acme-wa',
  externalId: 'wamid.HBgL...',
  conversationId: 'cv_...',
  contact: {
    id: 'ct_...',
    identity: { channel: 'whatsapp', account: 'acme-wa', externalId: '16315551234' },
    displayName: 'Kerry Fisher',
    phone: '+16315551234',
  },
  timestamp: '2026-11-21T10:00:00.000Z',
  receivedAt: '2026-11-21T10:00:00.250Z',
  parts: [
    { type: 'text', text: 'hello' },
    {
      type: 'image',
      caption: 'receipt',
      media: { id: 'med_...', mime: 'image/jpeg', ext: 'jpg', size: 48213, sha256: '...', status: 'ready', url: '/v1/media/med_...' },
    },
  ],
  replyTo: { externalId: '...' },
  session: { window: '24h', expiresAt: '2026-11-22T10:00:00.000Z' },
  raw: {},
};

// Section 4 lists these shapes field by field; the values are the contract's where it gives any.
const contractStatus = {
  schema: 'omni.status/v1',
  messageId: 'msg_01jd0000000000000000000000',
  idempotencyKey: 'ticket-812-reply-3',
  channel: 'whatsapp',
  account: 'acme-wa',
  externalId: 'wamid.HBgL...',
  status: 'failed',
  error: { code: 'recipient_unreachable', message: 'the customer blocked the business', details: { platformCode: 131047 } },
  at: '2026-11-21T10:00:01.000Z',
};

const contractSession = {
  schema: 'omni.session/v1',
  state: 'opened',
  channel: 'wechat',
  account: 'acme-wc',
  conversationId: 'cv_01',
  contactId: 'ct_01',
  window: '48h',
  openedAt: '2026-11-21T10:00:00.000Z',
  expiresAt: '2026-11-23T10:00:00.000Z',
  quota: { limit: 5, used: 0, remaining: 5 },
};

const profile = {
  id: 'ct_01',
  displayName: 'Kerry Fisher',
  phones: ['+16315551234'],
  emails: ['kerry@example.com'],
  identities: [
    {
      channel: 'whatsapp',
      account: 'acme-wa',
      externalId: '16315551234',
      displayName: 'Kerry Fisher',
      phone: '+16315551234',
      firstSeen: '2026-11-21T10:00:00.000Z',
      lastSeen: '2026-11-21T10:05:00.000Z',
    },
    {
      channel: 'telegram',
      account: 'acme-tg',
      externalId: '987654321',
      displayName: 'Kerry',
      username: 'kerryf',
      firstSeen: '2026-11-20T09:00:00.000Z',
      lastSeen: '2026-11-21T09:00:00.000Z',
    },
  ],
  attributes: { tier: 'gold', orders: 3 },
  mergedFrom: ['ct_02'],
  createdAt: '2026-11-20T09:00:00.000Z',
  updatedAt: '2026-11-21T10:05:00.000Z',
};

const contractContact = {
  schema: 'omni.contact/v1',
  event: 'merged',
  contact: profile,
  mergedIds: ['ct_02'],
  survivorId: 'ct_01',
  evidence: { type: 'phone', value: '+16315551234' },
};

describe('omni.message/v1', () => {
  it('accepts the contract example unchanged', () => {
    expect(messageEventSchema.parse(contractMessage)).toEqual(contractMessage);
  });

  it('accepts every part type of the contract', () => {
    const media = { id: 'med_1', mime: null, ext: null, size: null, sha256: null, status: 'pending', url: null };
    const parts = [
      { type: 'video', media },
      { type: 'audio', media: { ...media, status: 'failed', reason: 'fetch timed out' } },
      { type: 'voice', media, meta: { format: 'ogg/opus' } },
      { type: 'file', filename: 'invoice.pdf', media: { ...media, status: 'rejected', reason: 'exe not allowed', filename: 'x.exe' } },
      { type: 'sticker', media },
      { type: 'location', latitude: 37.48, longitude: -122.15, name: 'HQ', address: '1 Hacker Way' },
      { type: 'contact_card', name: 'Ann', phones: ['+15550100'], emails: ['ann@example.com'] },
      { type: 'reply', id: 'btn_yes', title: 'Yes' },
      { type: 'reaction', emoji: '👍', targetExternalId: 'wamid.X' },
      { type: 'unsupported', reason: 'poll' },
    ];
    const result = messageEventSchema.safeParse({ ...contractMessage, parts });
    expect(result.error?.issues).toBeUndefined();
  });

  it('accepts an outbound message not sent yet, without a window, with a referral', () => {
    const out = { ...contractMessage, direction: 'out', externalId: null, session: null, referral: { source_type: 'ad' } };
    const { replyTo: _replyTo, ...withoutReply } = out;
    expect(messageEventSchema.safeParse(withoutReply).success).toBe(true);
  });

  it('tolerates fields a later v1 adds, and strips them', () => {
    const parsed = messageEventSchema.parse({ ...contractMessage, addedLater: 1 });
    expect(parsed).not.toHaveProperty('addedLater');
  });

  it.each([
    ['an unknown part type', { parts: [{ type: 'hologram', text: 'x' }] }],
    ['an unknown media status', { parts: [{ type: 'image', media: { ...contractMessage.parts[1]!.media, status: 'lost' } }] }],
    ['a media part without media', { parts: [{ type: 'image', caption: 'x' }] }],
    ['a wrong direction', { direction: 'sideways' }],
    ['a timestamp with no zone', { timestamp: '2026-11-21T10:00:00' }],
    ['a missing contact', { contact: undefined }],
    ['a channel with a dot', { channel: 'whats.app' }],
    ['an account in upper case', { account: 'Acme' }],
    ['another schema', { schema: 'omni.message/v2' }],
    ['an id without its prefix', { id: '123' }],
  ])('rejects %s', (_label, change) => {
    expect(messageEventSchema.safeParse({ ...contractMessage, ...change }).success).toBe(false);
  });
});

describe('omni.status/v1', () => {
  it('accepts a failed status with its error', () => {
    expect(statusEventSchema.parse(contractStatus)).toEqual(contractStatus);
  });

  it('accepts a status of a message sent outside a command', () => {
    const { error: _error, ...delivered } = { ...contractStatus, status: 'delivered', idempotencyKey: null };
    expect(statusEventSchema.safeParse(delivered).success).toBe(true);
  });

  it('rejects an unknown status and an error code outside the contract', () => {
    expect(statusEventSchema.safeParse({ ...contractStatus, status: 'seen' }).success).toBe(false);
    expect(statusEventSchema.safeParse({ ...contractStatus, error: { code: '131047', message: 'x' } }).success).toBe(false);
  });
});

describe('omni.session/v1', () => {
  it('accepts a session with and without quota', () => {
    expect(sessionEventSchema.parse(contractSession)).toEqual(contractSession);
    const { quota: _quota, ...noQuota } = contractSession;
    expect(sessionEventSchema.safeParse({ ...noQuota, state: 'expiring' }).success).toBe(true);
  });

  it('rejects a state outside opened, expiring, expired', () => {
    expect(sessionEventSchema.safeParse({ ...contractSession, state: 'closed' }).success).toBe(false);
  });
});

describe('omni.contact/v1', () => {
  it('accepts a merge with its evidence, and a bare creation', () => {
    expect(contactEventSchema.parse(contractContact)).toEqual(contractContact);
    expect(contactEventSchema.safeParse({ schema: 'omni.contact/v1', event: 'created', contact: profile }).success).toBe(true);
  });

  it('rejects an unknown event and a profile without identities', () => {
    expect(contactEventSchema.safeParse({ ...contractContact, event: 'deleted' }).success).toBe(false);
    const { identities: _identities, ...noIdentities } = profile;
    expect(contactEventSchema.safeParse({ ...contractContact, contact: noIdentities }).success).toBe(false);
  });
});

describe('errors and dead letters', () => {
  it('accepts the session_expired error of section 5', () => {
    const body = { code: 'session_expired', message: 'window closed', details: { expiredAt: '2026-11-22T10:00:00.000Z', allowed: ['template'] } };
    expect(errorBodySchema.parse(body)).toEqual(body);
    expect(errorBodySchema.safeParse({ ...body, code: 'oops' }).success).toBe(false);
  });

  it('accepts a dead letter', () => {
    const letter = {
      schema: 'omni.deadletter/v1',
      channel: 'line',
      account: 'acme-line',
      error: { code: 'internal', message: 'parser failed' },
      at: '2026-11-21T10:00:00.000Z',
      raw: { events: [] },
    };
    expect(deadletterEventSchema.parse(letter)).toEqual(letter);
  });
});
