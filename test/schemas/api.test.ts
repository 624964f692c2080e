import { describe, expect, it } from 'vitest';
import {
  apiFailureSchema,
  contactFindRequestSchema,
  contactMergeRequestSchema,
  contactPatchSchema,
  contactTimelineRequestSchema,
  contactUnmergeRequestSchema,
  contactUpdateRequestSchema,
  messageGetRequestSchema,
  sendAnswerSchema,
  sendCommandSchema,
  sessionGetRequestSchema,
} from '../../src/core/schemas/api.ts';

// docs/api.md, `omni.send/v1`, with the `//` comments removed. The example shows
// `parts` and `template` together to document both; a real command carries one of them.
const contractSend = {
  schema: 'omni.send/v1',
  idempotencyKey: 'ticket-812-reply-3',
  account: 'acme-wa',
  to: { contactId: 'ct_...' },
  parts: [
    { type: 'text', text: 'Hi Kerry' },
    { type: 'file', media: { url: 'https://...' }, filename: 'invoice.pdf' },
  ],
  template: { name: 'order_update', language: 'en_US', params: { body: ['Kerry', '#1234'] } },
  replyTo: { externalId: '...' },
};
const { template: _template, ...withParts } = contractSend;
const { parts: _parts, ...withTemplate } = contractSend;

function issues(input: unknown) {
  const result = sendCommandSchema.safeParse(input);
  return result.success ? [] : result.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message }));
}

describe('omni.send/v1', () => {
  it('accepts the contract example with parts, and with a template', () => {
    expect(sendCommandSchema.parse(withParts)).toEqual(withParts);
    expect(sendCommandSchema.parse(withTemplate)).toEqual(withTemplate);
  });

  it('accepts an externalId with its account, each media form, and no schema field (HTTP)', () => {
    const { schema: _schema, ...http } = withParts;
    const command = {
      ...http,
      to: { externalId: '16315551234' },
      parts: [
        { type: 'image', media: { base64: 'aGVsbG8=' }, caption: 'look' },
        { type: 'voice', media: { id: 'med_01jd' } },
        { type: 'video', media: { url: 'http://cdn.example.com/v.mp4' } },
      ],
    };
    expect(issues(command)).toEqual([]);
  });

  it('defaults template params to an empty object', () => {
    const parsed = sendCommandSchema.parse({ ...withTemplate, template: { name: 'hello_world', language: 'en_US' } });
    expect(parsed.template?.params).toEqual({});
  });

  it('rejects a command without idempotencyKey, or with one over 200 characters', () => {
    const { idempotencyKey: _key, ...noKey } = withParts;
    expect(issues(noKey).map((issue) => issue.path)).toContain('idempotencyKey');
    expect(issues({ ...withParts, idempotencyKey: '' }).length).toBeGreaterThan(0);
    expect(issues({ ...withParts, idempotencyKey: 'k'.repeat(201) }).length).toBeGreaterThan(0);
    expect(issues({ ...withParts, idempotencyKey: 'k'.repeat(200) })).toEqual([]);
  });

  it('rejects both parts and template, and neither', () => {
    expect(issues(contractSend)).toEqual([{ path: 'parts', message: 'give exactly one of parts or template' }]);
    const { parts: _p, ...neither } = withParts;
    expect(issues(neither)).toEqual([{ path: 'parts', message: 'give exactly one of parts or template' }]);
  });

  it('rejects to.externalId without account', () => {
    const { account: _account, ...noAccount } = withParts;
    expect(issues({ ...noAccount, to: { externalId: '16315551234' } })).toEqual([
      { path: 'account', message: 'account is required when to.externalId is given' },
    ]);
    // With a contact id the daemon picks the conversation itself.
    expect(issues({ ...noAccount, to: { contactId: 'ct_01' } })).toEqual([]);
  });

  it.each(['file:///etc/passwd', 'ftp://example.com/a.pdf', 'data:application/pdf;base64,AAAA', 'javascript:alert(1)', '/relative.pdf'])(
    'rejects the media url %s',
    (url) => {
      const command = { ...withParts, parts: [{ type: 'file', media: { url }, filename: 'a.pdf' }] };
      expect(issues(command).length).toBeGreaterThan(0);
    },
  );

  it.each([
    ['an unknown part type', { parts: [{ type: 'hologram', text: 'x' }] }],
    ['an empty parts list', { parts: [] }],
    ['an empty text', { parts: [{ type: 'text', text: '' }] }],
    ['media given two ways', { parts: [{ type: 'image', media: { url: 'https://a.example/x.jpg', base64: 'aGVsbG8=' } }] }],
    ['media that is not stored media', { parts: [{ type: 'image', media: { id: 'file_1' } }] }],
    ['a filename with a path', { parts: [{ type: 'file', media: { id: 'med_1' }, filename: '../etc/passwd' }] }],
    ['a recipient given two ways', { to: { contactId: 'ct_1', externalId: '1' } }],
    ['a misspelt field', { replyto: { externalId: 'x' } }],
    ['another schema', { schema: 'omni.send/v2' }],
    ['an account that is no account id', { account: 'acme.wa' }],
  ])('rejects %s', (_label, change) => {
    expect(issues({ ...withParts, ...change }).length).toBeGreaterThan(0);
  });
});

describe('answers', () => {
  it('accepts the send answer and the failure of section 3', () => {
    expect(sendAnswerSchema.safeParse({ ok: true, messageId: 'msg_01', status: 'queued' }).success).toBe(true);
    const failure = { ok: false, error: { code: 'no_open_session', message: 'no open session for ct_01' } };
    expect(apiFailureSchema.parse(failure)).toEqual(failure);
    expect(apiFailureSchema.safeParse({ ok: true, error: failure.error }).success).toBe(false);
  });
});

describe('request bodies', () => {
  it('message.get, contact.get and session.get take an id of the right kind', () => {
    expect(messageGetRequestSchema.safeParse({ id: 'msg_01' }).success).toBe(true);
    expect(messageGetRequestSchema.safeParse({ id: 'ct_01' }).success).toBe(false);
    expect(sessionGetRequestSchema.safeParse({ conversationId: 'cv_01' }).success).toBe(true);
    expect(sessionGetRequestSchema.safeParse({}).success).toBe(false);
  });

  it('contact.find takes exactly one way to look up', () => {
    expect(contactFindRequestSchema.safeParse({ channel: 'telegram', account: 'acme-tg', externalId: '42' }).success).toBe(true);
    expect(contactFindRequestSchema.safeParse({ phone: '+16315551234' }).success).toBe(true);
    expect(contactFindRequestSchema.safeParse({ email: 'kerry@example.com' }).success).toBe(true);
    expect(contactFindRequestSchema.safeParse({ channel: 'telegram', account: 'acme-tg' }).success).toBe(false);
    expect(contactFindRequestSchema.safeParse({ phone: '+16315551234', email: 'kerry@example.com' }).success).toBe(false);
    expect(contactFindRequestSchema.safeParse({ email: 'not-an-email' }).success).toBe(false);
  });

  it('contact.update needs at least one field and refuses unknown ones', () => {
    const patch = { displayName: 'Kerry F.', phones: ['+16315551234'], emails: ['k@example.com'], attributes: { vip: true, old: null } };
    expect(contactPatchSchema.parse(patch)).toEqual(patch);
    expect(contactUpdateRequestSchema.parse({ id: 'ct_01', ...patch })).toEqual({ id: 'ct_01', ...patch });
    expect(contactPatchSchema.safeParse({}).success).toBe(false);
    expect(contactUpdateRequestSchema.safeParse({ id: 'ct_01' }).success).toBe(false);
    expect(contactPatchSchema.safeParse({ nickname: 'K' }).success).toBe(false);
  });

  it('contact.merge refuses a self-merge and a survivor that is neither contact', () => {
    expect(contactMergeRequestSchema.safeParse({ id: 'ct_01', otherId: 'ct_02' }).success).toBe(true);
    expect(contactMergeRequestSchema.safeParse({ id: 'ct_01', otherId: 'ct_02', survivorId: 'ct_02' }).success).toBe(true);
    expect(contactMergeRequestSchema.safeParse({ id: 'ct_01', otherId: 'ct_01' }).success).toBe(false);
    expect(contactMergeRequestSchema.safeParse({ id: 'ct_01', otherId: 'ct_02', survivorId: 'ct_03' }).success).toBe(false);
  });

  it('contact.unmerge names the whole identity', () => {
    const identity = { channel: 'whatsapp', account: 'acme-wa', externalId: '16315551234' };
    expect(contactUnmergeRequestSchema.safeParse({ id: 'ct_01', identity }).success).toBe(true);
    expect(contactUnmergeRequestSchema.safeParse({ id: 'ct_01', identity: { ...identity, account: undefined } }).success).toBe(false);
  });

  it('contact.timeline defaults limit to 50 and keeps it within 1-200', () => {
    expect(contactTimelineRequestSchema.parse({ id: 'ct_01' })).toEqual({ id: 'ct_01', limit: 50 });
    expect(contactTimelineRequestSchema.parse({ id: 'ct_01', limit: 200, before: 'c1' })).toEqual({ id: 'ct_01', limit: 200, before: 'c1' });
    for (const limit of [0, 201, 1.5, '10']) {
      expect(contactTimelineRequestSchema.safeParse({ id: 'ct_01', limit }).success).toBe(false);
    }
  });
});
