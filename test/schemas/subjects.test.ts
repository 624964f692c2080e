import { describe, expect, it } from 'vitest';
import { OmniError } from '../../src/core/errors.ts';
import { API_QUEUE_GROUP, streams, subjects } from '../../src/core/schemas/subjects.ts';

describe('subjects', () => {
  const s = subjects('omni');

  it('builds the event subjects of section 3', () => {
    expect(s.evt.messageIn('whatsapp', 'acme-wa')).toBe('omni.v1.evt.message.in.whatsapp.acme-wa');
    expect(s.evt.messageOut('telegram', 'acme-tg')).toBe('omni.v1.evt.message.out.telegram.acme-tg');
    expect(s.evt.messageStatus('line', 'acme-line')).toBe('omni.v1.evt.message.status.line.acme-line');
    expect(s.evt.session('expiring', 'wechat', 'acme-wc')).toBe('omni.v1.evt.session.expiring.wechat.acme-wc');
    expect(s.evt.contact('merged')).toBe('omni.v1.evt.contact.merged');
    expect(s.evt.deadletter('whatsapp', 'acme-wa')).toBe('omni.v1.evt.message.deadletter.whatsapp.acme-wa');
    expect(s.evt.deadletterIn('whatsapp', 'acme-wa')).toBe('omni.v1.evt.deadletter.in.whatsapp.acme-wa');
    expect(s.evt.messageEdited('line', 'acme-line')).toBe('omni.v1.evt.message.edited.line.acme-line');
    expect(s.evt.messageDeleted('line', 'acme-line')).toBe('omni.v1.evt.message.deleted.line.acme-line');
    expect(s.evt.account('quota_exhausted', 'line', 'acme-line')).toBe('omni.v1.evt.account.quota_exhausted.line.acme-line');
    expect(() => s.evt.account('online' as never, 'line', 'acme-line')).toThrow(OmniError);
    expect(s.evt.templateUpdated('whatsapp', 'acme-wa')).toBe('omni.v1.evt.template.updated.whatsapp.acme-wa');
  });

  it('builds the command, request/reply and stream filter subjects', () => {
    expect(s.cmd.send).toBe('omni.v1.cmd.send');
    expect(s.streamFilters).toEqual({ events: 'omni.v1.evt.>', commands: 'omni.v1.cmd.>' });
    expect(Object.values(s.api).sort()).toEqual(
      [
        'omni.v1.api.send',
        'omni.v1.api.message.get',
        'omni.v1.api.contact.get',
        'omni.v1.api.contact.find',
        'omni.v1.api.contact.update',
        'omni.v1.api.contact.merge',
        'omni.v1.api.contact.unmerge',
        'omni.v1.api.contact.timeline',
        'omni.v1.api.session.get',
        'omni.v1.api.contact.list',
        'omni.v1.api.conversation.list',
        'omni.v1.api.conversation.messages',
        'omni.v1.api.template.list',
        'omni.v1.api.cost.summary',
        'omni.v1.api.conversation.read',
        'omni.v1.api.conversation.typing',
      ].sort(),
    );
    expect(s.api.contactTimeline).toBe('omni.v1.api.contact.timeline');
    expect(API_QUEUE_GROUP).toBe('omnibus');
  });

  it('uses the configured prefix, which may have several tokens', () => {
    expect(subjects().cmd.send).toBe('omni.v1.cmd.send');
    expect(subjects('acme.omni').evt.messageIn('line', 'l1')).toBe('acme.omni.v1.evt.message.in.line.l1');
  });

  it.each(['whats.app', 'what*', 'wh>', 'whats app', 'tab\t', '', 'new\nline'])('refuses the channel token %j', (token) => {
    expect(() => s.evt.messageIn(token, 'acme-wa')).toThrow(OmniError);
  });

  it('refuses bad accounts, states, events and prefixes with invalid_request', () => {
    const codeOf = (fn: () => unknown) => {
      try {
        fn();
      } catch (error) {
        return (error as OmniError).code;
      }
      return 'no error';
    };
    expect(codeOf(() => s.evt.messageStatus('whatsapp', 'acme.wa'))).toBe('invalid_request');
    expect(codeOf(() => s.evt.session('opened', 'whatsapp', '>'))).toBe('invalid_request');
    expect(codeOf(() => s.evt.session('open' as 'opened', 'whatsapp', 'acme-wa'))).toBe('invalid_request');
    expect(codeOf(() => s.evt.contact('*' as 'created'))).toBe('invalid_request');
    for (const prefix of ['', 'omni.', '.omni', 'om ni', 'omni.>', 'omni.*.x']) {
      expect(codeOf(() => subjects(prefix))).toBe('invalid_request');
      expect(codeOf(() => streams(prefix))).toBe('invalid_request');
    }
  });
});

describe('streams', () => {
  it('names the contract streams for the default prefix', () => {
    expect(streams('omni')).toEqual({ events: 'OMNI_EVENTS', commands: 'OMNI_COMMANDS' });
    expect(streams()).toEqual({ events: 'OMNI_EVENTS', commands: 'OMNI_COMMANDS' });
  });

  it('derives valid stream names from other prefixes', () => {
    expect(streams('acme.omni-2')).toEqual({ events: 'ACME_OMNI_2_EVENTS', commands: 'ACME_OMNI_2_COMMANDS' });
  });
});
