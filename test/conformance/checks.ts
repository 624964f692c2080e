/**
 * Shape checks for what adapters hand the core. Each returns a list of problems (empty = fine)
 * so a failing conformance test says exactly which field of which event is wrong.
 */
import type { ChannelCapabilities, ChannelDefaults, InboundEvent, InboundIdentity } from '../../src/core/adapter.ts';
import { MEDIA_PART_TYPES, type InboundPart } from '../../src/core/model.ts';

const RECEIPTS = ['sent', 'delivered', 'read'];
const STATUSES = ['sent', 'delivered', 'read', 'failed'];
const EXTENSION = /^[a-z0-9]{1,16}$/;

const isNonEmpty = (value: unknown): value is string => typeof value === 'string' && value.length > 0;
const isPositive = (value: unknown) => typeof value === 'number' && Number.isFinite(value) && value > 0;
const isPositiveInt = (value: unknown) => Number.isSafeInteger(value) && (value as number) > 0;
const isValidDate = (value: unknown) => value instanceof Date && !Number.isNaN(value.getTime());
const isPlainObject = (value: unknown) => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Problems with a channel's declared defaults. */
export function defaultsProblems(defaults: ChannelDefaults): string[] {
  const problems: string[] = [];
  if (!isNonEmpty(defaults.window)) problems.push('defaults.window must be a duration or "none"');
  if (defaults.attachments.length === 0) problems.push('defaults.attachments must not be empty');
  for (const ext of defaults.attachments) if (!EXTENSION.test(ext)) problems.push(`defaults.attachments: "${ext}" is not a lower-case extension`);
  if (!isPositive(defaults.rateLimit.perSecond)) problems.push('defaults.rateLimit.perSecond must be positive');
  const perRecipient = defaults.rateLimit.perRecipientPerSecond;
  if (perRecipient !== null && !isPositive(perRecipient)) problems.push('defaults.rateLimit.perRecipientPerSecond must be null or positive');
  return problems;
}

/** Problems with an adapter's capabilities: consistency of window and grants, sizes, receipts. */
export function capabilityProblems(capabilities: ChannelCapabilities): string[] {
  const problems: string[] = [];
  const { session, attachments, templates, receipts, rateLimit, inbound } = capabilities;
  if (session.windowMs !== null && !isPositiveInt(session.windowMs)) problems.push('session.windowMs must be null or a positive integer');
  for (const [name, grant] of Object.entries(session.grants)) {
    if (grant.durationMs !== null && !isPositiveInt(grant.durationMs)) problems.push(`session.grants.${name}.durationMs must be null or positive`);
    if (grant.quota !== null && !isPositiveInt(grant.quota)) problems.push(`session.grants.${name}.quota must be null or a positive integer`);
  }
  if (session.windowMs !== null) {
    const message = session.grants.message;
    if (message === undefined) problems.push('session.grants.message is required when there is a window');
    else if (message.durationMs !== session.windowMs) problems.push('session.grants.message.durationMs must equal session.windowMs');
  }
  for (const kind of session.allowedOutsideWindow) if (kind !== 'template') problems.push(`session.allowedOutsideWindow: unknown "${String(kind)}"`);
  if (session.allowedOutsideWindow.includes('template') && templates === null) problems.push('templates allowed outside the window but templates is null');

  if (attachments.allow.length === 0) problems.push('attachments.allow must not be empty');
  for (const ext of attachments.allow) if (!EXTENSION.test(ext)) problems.push(`attachments.allow: "${ext}" is not a lower-case extension`);
  if (new Set(attachments.allow).size !== attachments.allow.length) problems.push('attachments.allow has duplicates');
  for (const [type, bytes] of Object.entries(attachments.maxBytes)) {
    if (!(MEDIA_PART_TYPES as ReadonlyArray<string>).includes(type)) problems.push(`attachments.maxBytes: "${type}" is not a media part type`);
    if (!isPositiveInt(bytes)) problems.push(`attachments.maxBytes.${type} must be a positive integer`);
  }
  if (!isPositiveInt(attachments.inboundMaxBytes)) problems.push('attachments.inboundMaxBytes must be a positive integer');

  if (templates !== null && (!isPositiveInt(templates.maxBodyParams) || !isPositiveInt(templates.maxNameLength))) {
    problems.push('templates limits must be positive integers');
  }
  for (const receipt of receipts) if (!RECEIPTS.includes(receipt)) problems.push(`receipts: "${receipt}" is not sent, delivered or read`);
  if (new Set(receipts).size !== receipts.length) problems.push('receipts has duplicates');
  if (!isPositive(rateLimit.perSecond)) problems.push('rateLimit.perSecond must be positive');
  if (rateLimit.perRecipientPerSecond !== null && !isPositive(rateLimit.perRecipientPerSecond)) {
    problems.push('rateLimit.perRecipientPerSecond must be null or positive');
  }
  if (capabilities.ordering !== 'conversation') problems.push('ordering must be "conversation"');
  if (inbound.length === 0) problems.push('inbound must name webhook and/or polling');
  for (const kind of inbound) if (kind !== 'webhook' && kind !== 'polling') problems.push(`inbound: unknown "${String(kind)}"`);
  return problems;
}

/** Problems with one event, judged against the adapter's own capabilities. */
export function eventProblems(event: InboundEvent, capabilities: ChannelCapabilities): string[] {
  const problems: string[] = [];
  const at = event.kind === 'ignored' ? 'ignored' : `${event.kind} ${String(event.dedupeKey)}`;
  const problem = (text: string) => problems.push(`${at}: ${text}`);
  if (event.kind === 'ignored') {
    if (!isNonEmpty(event.reason)) problem('reason must be a non-empty string');
    return problems;
  }
  if (!isNonEmpty(event.dedupeKey)) problem('dedupeKey must be a non-empty string');
  if (event.kind === 'invalid') {
    if (!isNonEmpty(event.reason)) problem('reason must be a non-empty string');
    if (event.raw === undefined || event.raw.length === 0) problem('raw bytes must be kept');
    return problems;
  }
  if (!isValidDate(event.timestamp)) problem('timestamp must be a valid Date');
  if (event.raw === undefined) problem('raw must be kept');
  try {
    JSON.stringify(event);
  } catch (error) {
    problem(`must serialise to JSON (${(error as Error).message})`);
  }
  switch (event.kind) {
    case 'message':
      if (!isNonEmpty(event.externalId)) problem('externalId must be a non-empty string');
      if (!isNonEmpty(event.conversation?.externalId)) problem('conversation.externalId must be a non-empty string');
      if (event.conversation?.kind !== 'direct' && event.conversation?.kind !== 'group') problem('conversation.kind must be direct or group');
      problems.push(...identityProblems(event.sender).map((text) => `${at}: sender ${text}`));
      if (!Array.isArray(event.parts) || event.parts.length === 0) problem('parts must be a non-empty array');
      else event.parts.forEach((part, index) => problems.push(...partProblems(part).map((text) => `${at}: parts[${index}] ${text}`)));
      if (event.sessionGrant !== null && !(event.sessionGrant in capabilities.session.grants)) {
        problem(`sessionGrant "${event.sessionGrant}" is not a declared grant`);
      }
      if (event.replyTo !== undefined && !isNonEmpty(event.replyTo.externalId)) problem('replyTo.externalId must be a non-empty string');
      if (event.replyContext !== undefined) {
        if (!isNonEmpty(event.replyContext.token)) problem('replyContext.token must be a non-empty string');
        if (!isValidDate(event.replyContext.expiresAt)) problem('replyContext.expiresAt must be a valid Date');
        if (!isPositiveInt(event.replyContext.maxMessages)) problem('replyContext.maxMessages must be a positive integer');
      }
      if (event.referral !== undefined && !isPlainObject(event.referral)) problem('referral must be an object');
      if (event.pricingWindow !== undefined && (!isNonEmpty(event.pricingWindow.kind) || !isPositiveInt(event.pricingWindow.durationMs))) {
        problem('pricingWindow needs a kind and a positive durationMs');
      }
      break;
    case 'status':
      if (!isNonEmpty(event.externalId)) problem('externalId must be a non-empty string');
      if (!STATUSES.includes(event.status)) problem(`status "${String(event.status)}" is not a delivery status`);
      else if (event.status !== 'sent' && event.status !== 'failed' && !capabilities.receipts.includes(event.status)) {
        problem(`status "${event.status}" is not a declared receipt`);
      }
      if (event.recipient !== undefined && !isNonEmpty(event.recipient)) problem('recipient must be a non-empty string');
      if (event.error !== undefined && (!isNonEmpty(event.error.code) || typeof event.error.message !== 'string')) {
        problem('error needs a code and a message');
      }
      break;
    case 'identity':
      problems.push(...identityProblems(event.identity).map((text) => `${at}: identity ${text}`));
      if (!['unreachable', 'reachable', 'changed_id', 'erase'].includes(event.change)) problem(`change "${String(event.change)}" is unknown`);
      if (event.change === 'changed_id' && (!isNonEmpty(event.newExternalId) || event.newExternalId === event.identity.externalId)) {
        problem('changed_id needs a newExternalId different from the old one');
      }
      break;
    case 'conversation':
      if (!['moved', 'via_revoked', 'via_restored'].includes(event.change)) problem(`change "${String(event.change)}" is unknown`);
      if (event.change === 'moved' && (!isNonEmpty(event.externalId) || !isNonEmpty(event.newExternalId) || event.externalId === event.newExternalId)) {
        problem('moved needs an externalId and a different newExternalId');
      }
      if (event.change !== 'moved' && !isNonEmpty(event.via)) problem(`${event.change} needs the connection in via`);
      break;
    case 'edit':
      if (!isNonEmpty(event.targetExternalId)) problem('targetExternalId must be a non-empty string');
      if (!isNonEmpty(event.conversation?.externalId)) problem('conversation.externalId must be a non-empty string');
      problems.push(...identityProblems(event.sender).map((text) => `${at}: sender ${text}`));
      if (!Array.isArray(event.parts)) problem('parts must be an array');
      else event.parts.forEach((part, index) => problems.push(...partProblems(part).map((text) => `${at}: parts[${index}] ${text}`)));
      break;
    case 'delete':
      if (!isNonEmpty(event.targetExternalId)) problem('targetExternalId must be a non-empty string');
      if (event.conversation !== undefined && !isNonEmpty(event.conversation.externalId)) problem('conversation.externalId must be a non-empty string');
      if (event.sender !== undefined) problems.push(...identityProblems(event.sender).map((text) => `${at}: sender ${text}`));
      break;
    default:
      problem(`unknown kind "${String((event as { kind: unknown }).kind)}"`);
  }
  return problems;
}

function identityProblems(identity: InboundIdentity | undefined): string[] {
  if (identity === undefined || identity === null) return ['is missing'];
  const problems: string[] = [];
  if (!isNonEmpty(identity.externalId)) problems.push('externalId must be a non-empty string');
  if (identity.aliases !== undefined) {
    if (!identity.aliases.every(isNonEmpty)) problems.push('aliases must be non-empty strings');
    if (identity.aliases.includes(identity.externalId)) problems.push('aliases must not repeat externalId');
  }
  for (const field of ['displayName', 'username'] as const) {
    if (identity[field] !== undefined && typeof identity[field] !== 'string') problems.push(`${field} must be a string`);
  }
  if (identity.phone !== undefined && !/^\+?\d{5,15}$/.test(identity.phone)) problems.push('phone must be digits, optionally with +');
  if (identity.phoneVerified !== undefined && typeof identity.phoneVerified !== 'boolean') problems.push('phoneVerified must be a boolean');
  if (identity.phoneVerified === true && identity.phone === undefined) problems.push('phoneVerified without a phone');
  return problems;
}

/** Problems with one inbound part. */
export function partProblems(part: InboundPart): string[] {
  const problems: string[] = [];
  if (part.meta !== undefined && !isPlainObject(part.meta)) problems.push('meta must be an object');
  switch (part.type) {
    case 'text':
      if (typeof part.text !== 'string') problems.push('text must be a string');
      break;
    case 'image':
    case 'video':
    case 'audio':
    case 'voice':
    case 'file':
    case 'sticker':
      if (!isPlainObject(part.media) || !isNonEmpty(part.media.ref)) problems.push('media.ref must be a non-empty string');
      else {
        if (part.media.declaredMime !== undefined && !isNonEmpty(part.media.declaredMime)) problems.push('media.declaredMime must be a string');
        if (part.media.declaredSize !== undefined && !Number.isSafeInteger(part.media.declaredSize)) problems.push('media.declaredSize must be an integer');
      }
      if (part.caption !== undefined && typeof part.caption !== 'string') problems.push('caption must be a string');
      break;
    case 'location':
      if (!(Number.isFinite(part.latitude) && Math.abs(part.latitude) <= 90)) problems.push('latitude must be within ±90');
      if (!(Number.isFinite(part.longitude) && Math.abs(part.longitude) <= 180)) problems.push('longitude must be within ±180');
      break;
    case 'contact_card':
      if (typeof part.name !== 'string') problems.push('name must be a string');
      if (!Array.isArray(part.phones) || !part.phones.every((phone) => typeof phone === 'string')) problems.push('phones must be strings');
      break;
    case 'reply':
      if (!isNonEmpty(part.id)) problems.push('id must be a non-empty string');
      if (typeof part.title !== 'string') problems.push('title must be a string');
      break;
    case 'reaction':
      if (typeof part.emoji !== 'string') problems.push('emoji must be a string ("" = removed)');
      if (!isNonEmpty(part.targetExternalId)) problems.push('targetExternalId must be a non-empty string');
      break;
    case 'unsupported':
      if (!isNonEmpty(part.reason)) problems.push('reason must be a non-empty string');
      break;
    default:
      problems.push(`unknown part type "${String((part as { type: unknown }).type)}"`);
  }
  return problems;
}

/** Objects whose prototype is not a built-in one: a sign that `__proto__` was assigned, not defined. */
export function pollutedObjects(value: unknown, path = '$', seen = new Set<object>(), depth = 0): string[] {
  if (typeof value !== 'object' || value === null || seen.has(value) || depth > 200) return [];
  seen.add(value);
  const prototype: unknown = Object.getPrototypeOf(value);
  const builtIn = [Object.prototype, Array.prototype, Date.prototype, Uint8Array.prototype, Buffer.prototype, null];
  const found = builtIn.includes(prototype as object | null) ? [] : [path];
  for (const key of Object.keys(value)) {
    found.push(...pollutedObjects((value as Record<string, unknown>)[key], `${path}.${key}`, seen, depth + 1));
  }
  return found;
}
