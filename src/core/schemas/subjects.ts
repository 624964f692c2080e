/**
 * NATS subjects and stream names of docs/asyncapi.yaml, built from the configured prefix
 * (`nats.prefix`, default `omni`). Every subject in the daemon comes from here, and a test
 * checks `docs/asyncapi.yaml` against these builders.
 */
import { OmniError } from '../errors.ts';
import type { SessionEvent } from '../model.ts';
import { ACCOUNT_EVENTS, CONTACT_EVENTS, SESSION_STATES, type AccountEvent, type ContactEvent } from './events.ts';

/** The default subject prefix. */
export const DEFAULT_PREFIX = 'omni';

/** The queue group every replica serves request/reply subjects in. */
export const API_QUEUE_GROUP = 'omnibus';

/** The JetStream header that makes a publish idempotent within the stream's duplicate window. */
export const MSG_ID_HEADER = 'Nats-Msg-Id';

/** The request/reply endpoints: builder name → subject suffix after `<prefix>.v1.api.`. */
export const API_ENDPOINTS = {
  send: 'send',
  messageGet: 'message.get',
  contactGet: 'contact.get',
  contactFind: 'contact.find',
  contactUpdate: 'contact.update',
  contactMerge: 'contact.merge',
  contactUnmerge: 'contact.unmerge',
  contactTimeline: 'contact.timeline',
  sessionGet: 'session.get',
  // ---- lists lane ----
  contactList: 'contact.list',
  conversationList: 'conversation.list',
  conversationMessages: 'conversation.messages',
  templateList: 'template.list',
  costSummary: 'cost.summary',
  conversationRead: 'conversation.read',
  conversationTyping: 'conversation.typing',
} as const;

/** A request/reply endpoint name (`contactGet`, ...). */
export type ApiEndpoint = keyof typeof API_ENDPOINTS;

/** Every subject of the contract for one prefix. */
export interface Subjects {
  evt: {
    /** `<p>.v1.evt.message.in.<channel>.<account>`: `omni.message/v1`, direction in. */
    messageIn(channel: string, account: string): string;
    /** `<p>.v1.evt.message.out.<channel>.<account>`: `omni.message/v1`, direction out. */
    messageOut(channel: string, account: string): string;
    /** `<p>.v1.evt.message.status.<channel>.<account>`: `omni.status/v1`. */
    messageStatus(channel: string, account: string): string;
    /** `<p>.v1.evt.session.<state>.<channel>.<account>`: `omni.session/v1`. */
    session(state: SessionEvent['state'], channel: string, account: string): string;
    /** `<p>.v1.evt.contact.<event>`: `omni.contact/v1`. */
    contact(event: ContactEvent['event']): string;
    /** `<p>.v1.evt.message.deadletter.<channel>.<account>`: `omni.deadletter/v1`. */
    deadletter(channel: string, account: string): string;
    // ---- inbound lane ----
    /** `<p>.v1.evt.deadletter.in.<channel>.<account>`: `omni.deadletter.in/v1`, an inbound item set aside. */
    deadletterIn(channel: string, account: string): string;
    /** `<p>.v1.evt.message.edited.<channel>.<account>`: `omni.message.edited/v1`. */
    messageEdited(channel: string, account: string): string;
    /** `<p>.v1.evt.message.deleted.<channel>.<account>`: `omni.message.deleted/v1`. */
    messageDeleted(channel: string, account: string): string;
    /** `<p>.v1.evt.account.<event>.<channel>.<account>`: `omni.account/v1` (quota_low, quota_exhausted, quota_restored). */
    account(event: AccountEvent['event'], channel: string, account: string): string;
    /** `<p>.v1.evt.template.updated.<channel>.<account>`: `omni.template.updated/v1`. */
    templateUpdated(channel: string, account: string): string;
  };
  cmd: {
    /** `<p>.v1.cmd.send`: `omni.send/v1` commands, work-queue stream. */
    send: string;
  };
  /** The request/reply subjects `<p>.v1.api.*`, one per {@link API_ENDPOINTS} entry. */
  api: Record<ApiEndpoint, string>;
  /** The subject filters of the two streams. */
  streamFilters: { events: string; commands: string };
}

// NATS separates tokens with `.`, and `*`/`>` are wildcards: any of them in a channel or account
// would publish to, or subscribe, subjects the caller never meant.
const TOKEN = /^[^\s.*>\p{Cc}]+$/u;

/** Checks one subject token (a channel, account, state or event); throws invalid_request. */
export function subjectToken(value: string, what: string): string {
  if (typeof value !== 'string' || !TOKEN.test(value)) {
    throw new OmniError('invalid_request', `${what} is not a valid subject token: ${JSON.stringify(value)}`, {
      details: { field: what },
    });
  }
  return value;
}

function checkPrefix(prefix: string): string {
  // A prefix may be several tokens (`acme.omni`), each one a valid token.
  if (typeof prefix !== 'string' || !prefix.split('.').every((token) => TOKEN.test(token))) {
    throw new OmniError('invalid_request', `nats.prefix is not a valid subject prefix: ${JSON.stringify(prefix)}`, {
      details: { field: 'nats.prefix' },
    });
  }
  return prefix;
}

function oneOf<T extends string>(value: T, allowed: ReadonlyArray<string>, what: string): T {
  if (!allowed.includes(value)) {
    throw new OmniError('invalid_request', `${what} must be one of ${allowed.join(', ')}: ${JSON.stringify(value)}`, {
      details: { field: what },
    });
  }
  return value;
}

/** Builds every subject of the contract under `prefix`; throws invalid_request on a bad token. */
export function subjects(prefix: string = DEFAULT_PREFIX): Subjects {
  const base = `${checkPrefix(prefix)}.v1`;
  const where = (channel: string, account: string) => `${subjectToken(channel, 'channel')}.${subjectToken(account, 'account')}`;
  const scoped = (kind: string) => (channel: string, account: string) => `${base}.evt.message.${kind}.${where(channel, account)}`;
  const api = Object.fromEntries(
    Object.entries(API_ENDPOINTS).map(([name, suffix]) => [name, `${base}.api.${suffix}`]),
  ) as Record<ApiEndpoint, string>;
  return {
    evt: {
      messageIn: scoped('in'),
      messageOut: scoped('out'),
      messageStatus: scoped('status'),
      deadletter: scoped('deadletter'),
      deadletterIn: (channel, account) => `${base}.evt.deadletter.in.${where(channel, account)}`,
      messageEdited: scoped('edited'),
      messageDeleted: scoped('deleted'),
      templateUpdated: (channel, account) => `${base}.evt.template.updated.${where(channel, account)}`,
      session: (state, channel, account) => `${base}.evt.session.${oneOf(state, SESSION_STATES, 'state')}.${where(channel, account)}`,
      contact: (event) => `${base}.evt.contact.${oneOf(event, CONTACT_EVENTS, 'event')}`,
      account: (event, channel, account) => `${base}.evt.account.${oneOf(event, ACCOUNT_EVENTS, 'event')}.${where(channel, account)}`,
    },
    cmd: { send: `${base}.cmd.send` },
    api,
    streamFilters: { events: `${base}.evt.>`, commands: `${base}.cmd.>` },
  };
}

/** The JetStream stream names for `prefix`: `omni` gives `OMNI_EVENTS` and `OMNI_COMMANDS`. */
export function streams(prefix: string = DEFAULT_PREFIX): { events: string; commands: string } {
  // Stream names may not contain `.`, wildcards or whitespace; upper case keeps the contract's spelling.
  const stem = checkPrefix(prefix).toUpperCase().replace(/[^A-Z0-9]/g, '_');
  return { events: `${stem}_EVENTS`, commands: `${stem}_COMMANDS` };
}
