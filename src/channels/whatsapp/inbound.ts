/**
 * Parses an authentic WhatsApp webhook body into events. One POST may carry up to 1000
 * updates across entries × changes × messages/statuses (reference 1.2), so every array is
 * walked and one odd item never fails the batch: an item without an id is `ignored`; an item
 * with an id but a value no database should take (a timestamp in year 33658, an id of 10 kB)
 * becomes an `invalid` event with its own bytes, which the core dead-letters.
 */
import type { InboundEvent, InboundInvalid, InboundIdentity, InboundIdentityEvent, InboundIgnored, InboundMessage, InboundStatus, TemplateChange } from '../../core/adapter.ts';
import { WebhookPayloadError } from '../../core/errors.ts';
import { decodeJsonBody, invalidItem, isBoundedId, unixSeconds } from '../../core/inbound/edge.ts';
import { FREE_ENTRY_POINT_MS } from './config.ts';
import { contractCodeOf } from './outbound-errors.ts';
import { arr, isRecord, label, messageParts, str, type JsonObject } from './inbound-parts.ts';
import { TEMPLATE_FIELDS, templateChange } from './inbound-templates.ts';
import { costOfPricing } from './costs.ts';

/** What parsing needs to know about the account. */
export interface ParseOptions {
  /** Only changes for this business number are recorded; others are ignored and counted. */
  phoneNumberId: string;
  /** Called for each app- or account-level error Meta reports in `value.errors`. */
  onAccountError?(error: { code: string; title: string }): void;
  /** The account's WABA id: template webhooks of this WABA are handed to `onTemplateChange`. */
  wabaId?: string;
  /** Called for each template change a webhook announces (status, quality, category). */
  onTemplateChange?(change: TemplateChange): void;
}

const STATUSES = new Set(['sent', 'delivered', 'read', 'failed']);
const PHONE_DIGITS = /^\d{6,15}$/;

/** Turns an authentic body into events; throws WebhookPayloadError when it is not a WhatsApp webhook. */
export function parseWebhook(body: Uint8Array, options: ParseOptions): InboundEvent[] {
  const payload = decodeJsonBody(body).value;
  if (!isRecord(payload)) throw new WebhookPayloadError('not_an_object');
  if (payload.object !== 'whatsapp_business_account') throw new WebhookPayloadError('unexpected_object');
  if (!Array.isArray(payload.entry)) throw new WebhookPayloadError('missing_entry');

  const events: InboundEvent[] = [];
  const seen = new Set<string>();
  for (const entry of payload.entry) {
    if (!isRecord(entry) || !Array.isArray(entry.changes)) {
      events.push(ignored('malformed_entry'));
      continue;
    }
    for (const change of entry.changes) {
      if (isRecord(change) && typeof change.field === 'string' && TEMPLATE_FIELDS.has(change.field)) {
        events.push(parseTemplateChange(entry, change, options));
        continue;
      }
      for (const event of parseChange(change, options)) {
        // Meta does not repeat an update inside one POST, but a repeat must not be recorded twice.
        if (event.kind !== 'ignored' && seen.has(event.dedupeKey)) events.push(ignored('duplicate_in_batch'));
        else events.push(event);
        if (event.kind !== 'ignored') seen.add(event.dedupeKey);
      }
    }
  }
  return events;
}

/** A template webhook: nothing to record, but the catalog hears of it (only this WABA's). */
function parseTemplateChange(entry: JsonObject, change: JsonObject, options: ParseOptions): InboundEvent {
  const field = change.field as string;
  if (options.wabaId === undefined || str(entry.id) !== options.wabaId) return ignored(`field:${field}`);
  const parsed = templateChange(field, change.value);
  if (parsed === null) return ignored('malformed_template_change');
  options.onTemplateChange?.(parsed);
  return ignored(`template:${field}`);
}

function parseChange(change: unknown, options: ParseOptions): InboundEvent[] {
  if (!isRecord(change)) return [ignored('malformed_change')];
  if (change.field !== 'messages') return [ignored(`field:${label(change.field)}`)];
  const value = change.value;
  if (!isRecord(value)) return [ignored('malformed_change')];
  const messages = arr(value.messages);
  const statuses = arr(value.statuses);
  const metadata = isRecord(value.metadata) ? value.metadata : {};

  if (metadata.phone_number_id !== options.phoneNumberId) {
    // Another number's traffic (a shared app, a misrouted override): counted, never recorded.
    const count = Math.max(1, messages.length + statuses.length);
    return Array.from({ length: count }, () => ignored('phone_number_id_mismatch'));
  }

  const events: InboundEvent[] = [];
  for (const error of arr(value.errors)) {
    const code = isRecord(error) && (typeof error.code === 'number' || typeof error.code === 'string') ? String(error.code) : 'unknown';
    const title = isRecord(error) ? (str(error.title) ?? str(error.message) ?? '') : '';
    options.onAccountError?.({ code, title });
    events.push(ignored(`account_error:${label(code)}`));
  }
  const contacts = arr(value.contacts).filter(isRecord);
  messages.forEach((message, index) => events.push(parseMessage(message, pickContact(contacts, message, index, messages.length), metadata)));
  for (const status of statuses) events.push(parseStatus(status, contacts, metadata));
  if (events.length === 0) events.push(ignored('empty_change'));
  return events;
}

function parseMessage(message: unknown, contact: JsonObject | undefined, metadata: JsonObject): InboundEvent {
  if (!isRecord(message) || str(message.id) === undefined) return ignored('malformed_message');
  const id = str(message.id)!;
  const raw = rawItem(metadata, contact, 'messages', message);
  if (!isBoundedId(id)) return invalid('id_too_long', raw);
  const timestamp = parseTimestamp(message.timestamp);
  if (timestamp === undefined) return invalid('bad_timestamp', raw, id);
  if (message.type === 'system') return parseSystem(message, id, timestamp, raw);

  const sender = senderIdentity(message, contact);
  if (sender === undefined) return ignored('malformed_message');
  if (!isBoundedId(sender.externalId) || sender.aliases?.some((alias) => !isBoundedId(alias))) return invalid('id_too_long', raw, id);
  const groupId = str(message.group_id);
  if (groupId !== undefined && !isBoundedId(groupId)) return invalid('id_too_long', raw, id);
  const event: InboundMessage = {
    kind: 'message',
    dedupeKey: id,
    externalId: id,
    conversation: groupId !== undefined ? { externalId: groupId, kind: 'group' } : { externalId: sender.externalId, kind: 'direct' },
    sender,
    timestamp,
    parts: messageParts(typeof message.type === 'string' ? message.type : '', message),
    sessionGrant: 'message',
    raw,
  };
  const context = isRecord(message.context) ? message.context : undefined;
  if (context !== undefined && str(context.id) !== undefined) {
    if (!isBoundedId(context.id)) return invalid('id_too_long', raw, id);
    event.replyTo = { externalId: str(context.id)! };
  }
  const contextMeta = contextFacts(context);
  if (contextMeta !== undefined && event.parts[0] !== undefined) {
    event.parts[0] = { ...event.parts[0], meta: { ...event.parts[0].meta, ...contextMeta } };
  }
  if (isRecord(message.referral)) {
    event.referral = message.referral;
    // Only ads (not boosted posts) open the 72 h free entry point, and only for pricing.
    if (message.referral.source_type === 'ad') event.pricingWindow = { kind: 'free_entry_point', durationMs: FREE_ENTRY_POINT_MS };
  }
  return event;
}

/** Facts of `context` worth keeping on the first part: the product asked about, forwarding. */
function contextFacts(context: JsonObject | undefined): Record<string, unknown> | undefined {
  if (context === undefined) return undefined;
  const facts: Record<string, unknown> = {};
  if (isRecord(context.referred_product)) facts.referredProduct = context.referred_product;
  if (context.forwarded === true) facts.forwarded = true;
  if (context.frequently_forwarded === true) facts.frequentlyForwarded = true;
  return Object.keys(facts).length > 0 ? facts : undefined;
}

/**
 * The sender, keyed on the BSUID (`user_id`) when present, then `wa_id`, then `from`
 * (reference 1.3); every other id becomes an alias. A phone only exists where Meta gave digits.
 */
function senderIdentity(message: JsonObject, contact: JsonObject | undefined): InboundIdentity | undefined {
  const waId = str(contact?.wa_id);
  const from = str(message.from);
  const ids = [str(contact?.user_id), str(message.from_user_id), waId, from, str(contact?.parent_user_id), str(message.from_parent_user_id)];
  const unique = [...new Set(ids.filter((id): id is string => id !== undefined))];
  const externalId = unique[0];
  if (externalId === undefined) return undefined;
  const identity: InboundIdentity = { externalId };
  if (unique.length > 1) identity.aliases = unique.slice(1);
  const profile = isRecord(contact?.profile) ? contact.profile : {};
  const displayName = str(profile.name);
  if (displayName !== undefined) identity.displayName = displayName;
  const username = str(profile.username);
  if (username !== undefined) identity.username = username;
  // `from` is documented as the phone; `wa_id` usually equals it but "may not always match".
  const digits = [from, waId].find((id) => id !== undefined && PHONE_DIGITS.test(id));
  if (digits !== undefined) {
    identity.phone = `+${digits}`;
    identity.phoneVerified = true;
  }
  return identity;
}

/**
 * A number or BSUID change. The identity named is the old key; `newExternalId` is the key the
 * next message will carry (BSUID first, like `senderIdentity`). Old phone numbers are not
 * reported: the number may already belong to someone else. Changes that leave the key as it
 * is (identity hash rotations, a new number under an unchanged BSUID) are ignored, counted.
 */
function parseSystem(message: JsonObject, id: string, timestamp: Date, raw: JsonObject): InboundEvent {
  const system = isRecord(message.system) ? message.system : {};
  const previousUserId = str(system.previous_user_id) ?? str(message.from_user_id);
  const from = str(message.from);
  const oldKey = previousUserId ?? from;
  const newKey = str(system.user_id) ?? (previousUserId === undefined ? (str(system.wa_id) ?? str(system.new_wa_id)) : undefined);
  if (oldKey === undefined || newKey === undefined || newKey === oldKey) return ignored(`system:${label(system.type)}`);
  if (!isBoundedId(oldKey) || !isBoundedId(newKey) || (from !== undefined && !isBoundedId(from))) return invalid('id_too_long', raw, id);
  const identity: InboundIdentity = { externalId: oldKey };
  if (from !== undefined && from !== oldKey) identity.aliases = [from];
  const event: InboundIdentityEvent = { kind: 'identity', dedupeKey: id, identity, change: 'changed_id', newExternalId: newKey, timestamp, raw };
  return event;
}

function parseStatus(status: unknown, contacts: JsonObject[], metadata: JsonObject): InboundEvent {
  if (!isRecord(status) || str(status.id) === undefined) return ignored('malformed_status');
  if (typeof status.status !== 'string' || !STATUSES.has(status.status)) return ignored(`status:${label(status.status)}`);
  const id = str(status.id)!;
  const recipient = str(status.recipient_id) ?? str(status.recipient_user_id);
  const contact = recipient === undefined ? undefined : contacts.find((c) => c.wa_id === recipient || c.user_id === recipient);
  const dedupeKey = `status:${id}:${status.status}`;
  if (!isBoundedId(id) || (recipient !== undefined && !isBoundedId(recipient))) return invalid('id_too_long', rawItem(metadata, contact, 'statuses', status));
  const timestamp = parseTimestamp(status.timestamp);
  if (timestamp === undefined) return invalid('bad_timestamp', rawItem(metadata, contact, 'statuses', status), dedupeKey);
  const event: InboundStatus = {
    kind: 'status',
    dedupeKey,
    externalId: id,
    status: status.status as InboundStatus['status'],
    timestamp,
    raw: rawItem(metadata, contact, 'statuses', status),
  };
  if (recipient !== undefined) event.recipient = recipient;
  const cost = costOfPricing(status.pricing);
  if (cost !== undefined) event.cost = cost;
  const error = arr(status.errors).find(isRecord);
  if (error !== undefined) {
    const code = typeof error.code === 'number' || typeof error.code === 'string' ? String(error.code) : 'unknown';
    const details: Record<string, unknown> = isRecord(error.error_data) ? { ...error.error_data } : {};
    if (str(error.href) !== undefined) details.href = error.href;
    // The same table as a failed send: a late 131047 means what a synchronous one does.
    event.error = { code, message: str(error.title) ?? str(error.message) ?? 'failed', details, contractCode: contractCodeOf(code) };
    // One wamid may fail for several reasons (and also be delivered): the code keeps them apart.
    event.dedupeKey += `:${code}`;
  }
  return event;
}

/** The item in Meta's own `value` shape, with only this item and its contact. */
function rawItem(metadata: JsonObject, contact: JsonObject | undefined, key: 'messages' | 'statuses', item: JsonObject): JsonObject {
  return contact === undefined ? { metadata, [key]: [item] } : { metadata, contacts: [contact], [key]: [item] };
}

/** The contact of a message: matched by id, else by position, else the only one. */
function pickContact(contacts: JsonObject[], message: unknown, index: number, count: number): JsonObject | undefined {
  if (!isRecord(message)) return undefined;
  const from = str(message.from);
  const fromUserId = str(message.from_user_id);
  const match = contacts.find((c) => (from !== undefined && c.wa_id === from) || (fromUserId !== undefined && c.user_id === fromUserId));
  if (match !== undefined) return match;
  if (contacts.length === count) return contacts[index];
  return contacts.length === 1 ? contacts[0] : undefined;
}

/** Unix seconds, as Meta's string (or a number), to a Date; undefined outside 1970–2100. */
function parseTimestamp(value: unknown): Date | undefined {
  return unixSeconds(value);
}

/** An item the core dead-letters: its own bytes (this item in Meta's `value` shape), never the batch. */
function invalid(reason: string, raw: JsonObject, id?: string): InboundInvalid {
  return invalidItem(reason, JSON.stringify(raw), id);
}

function ignored(reason: string): InboundIgnored {
  return { kind: 'ignored', reason };
}
