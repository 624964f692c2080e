/**
 * The one acceptance path of a send, shared by `api.send`, `POST /v1/messages` and the command
 * stream. Checks in the contract's order (account, recipient, session window, quota, template,
 * attachments), then records the message, its send job and its events in one transaction.
 * The first answer per idempotency key is final: a repeat gets it again and never sends twice.
 */
import { OmniError, toOmniError } from '../core/errors.ts';
import type { SendCommand, SendPart } from '../core/schemas/api.ts';
import { MEDIA_PART_TYPES, type MediaPartType } from '../core/model.ts';
import type { AdapterEntry } from '../core/registry.ts';
import type { OutboundDeps } from './deps.ts';
import { findAnswer, isRemembered, publishRefusal, rememberRefusal, type RefusalScope, type SendOutcome, type SendSource } from './answers.ts';
import { byContactAnywhere, byContactOnAccount, byConversation, byExternalId, checkReachable, latestWindow, type Recipient } from './recipients.ts';
import { checkQuota, checkSession, checkTemplate } from './rules.ts';
import { checkParts } from './part-rules.ts';
import { prepareAttachment } from './attachments.ts';
import { checkCatalog } from './template-catalog.ts';
import { recordSend, type PlannedPart, type SendPlan } from './record.ts';

/** Accepts sends; one instance per daemon. */
export class SendAcceptor {
  constructor(private readonly deps: OutboundDeps) {}

  /**
   * Checks and records a send. Answers `{ ok: false }` for refusals that are the key's first
   * answer; throws OmniError for failures of the moment (database down: `internal`), which
   * are not remembered, so a retry with the same key is checked afresh.
   */
  async accept(command: SendCommand, source: SendSource): Promise<SendOutcome> {
    try {
      const outcome = await this.decide(command, source);
      this.deps.metrics.requests.inc({ source, result: outcome.ok ? (outcome.fresh ? 'accepted' : 'repeated') : outcome.error.code });
      if (outcome.ok) return { ok: true, messageId: outcome.messageId, status: outcome.status };
      return outcome;
    } catch (error) {
      this.deps.metrics.requests.inc({ source, result: toOmniError(error).code });
      throw error;
    }
  }

  private async decide(command: SendCommand, source: SendSource): Promise<SendOutcome & { fresh?: boolean }> {
    const { db, subjects, clock } = this.deps;
    const key = command.idempotencyKey;
    const scope: RefusalScope = { channel: 'unknown', account: command.account ?? 'unknown' };
    const prior = await findAnswer(db, key);
    if (prior) {
      if (source === 'command' && !prior.ok) await publishRefusal(db, subjects, key, prior.error, scope, clock.now());
      return prior;
    }
    try {
      const plan = await this.plan(command, scope);
      return await recordSend(this.deps, plan, source);
    } catch (thrown) {
      const error = toOmniError(thrown);
      if (!isRemembered(error)) throw error;
      const first = await rememberRefusal(db, subjects, { key, error, source, scope, at: clock.now() });
      if (source === 'command') this.deps.notifyRelay();
      return first;
    }
  }

  private async plan(command: SendCommand, scope: RefusalScope): Promise<SendPlan> {
    const { db, accounts, clock } = this.deps;
    const at = clock.now();
    let entry: AdapterEntry;
    let recipient: Recipient;
    if ('conversationId' in command.to) {
      const found = await byConversation(db, accounts, command.to.conversationId);
      if (command.account !== undefined && command.account !== found.account) {
        throw new OmniError('invalid_request', 'account is not the account of to.conversationId', { details: { field: 'account' } });
      }
      if (!found.entry) throw new OmniError('unknown_account', 'the account of this conversation is not configured', { details: { account: found.account } });
      ({ entry, recipient } = { entry: found.entry, recipient: found.recipient });
      Object.assign(scope, { channel: entry.account.channel, account: entry.account.id });
      requireSend(entry);
    } else if (command.account !== undefined) {
      const found = accounts.get(command.account);
      if (!found) throw new OmniError('unknown_account', 'no such account', { details: { account: command.account } });
      entry = found;
      Object.assign(scope, { channel: entry.account.channel, account: entry.account.id });
      requireSend(entry);
      recipient = 'contactId' in command.to ? await byContactOnAccount(db, entry, command.to.contactId) : await byExternalIdOrMeet(this.deps, entry, command, command.to.externalId, at);
    } else if ('contactId' in command.to) {
      ({ entry, recipient } = await byContactAnywhere(db, accounts, command.to.contactId, at));
      Object.assign(scope, { channel: entry.account.channel, account: entry.account.id });
    } else {
      throw new OmniError('invalid_request', 'account is required when to.externalId is given', { details: { field: 'account' } });
    }
    checkReachable(recipient);
    checkParts(entry, command);
    const latest = recipient.conversationId ? await latestWindow(db, recipient.conversationId) : null;
    const window = checkSession(entry, command, latest, at, recipient.sessionKind);
    checkQuota(window);
    checkTemplate(entry, command);
    await checkCatalog(db, entry, command);
    const parts: PlannedPart[] = [];
    // One at a time: bounded memory and sockets, and the first bad attachment ends the work.
    for (const part of command.parts ?? []) {
      parts.push({ part, media: isMediaPart(part) ? await prepareAttachment(this.deps, entry, part) : null });
    }
    return { command, entry, recipient, window, parts, at };
  }
}

function requireSend(entry: AdapterEntry): void {
  if (!entry.adapter.send) {
    throw new OmniError('channel_rejected', `channel ${entry.account.channel} cannot send messages`, { details: { reason: 'send_not_supported' } });
  }
}

function isMediaPart(part: SendPart): part is Extract<SendPart, { media: unknown }> {
  return (MEDIA_PART_TYPES as readonly string[]).includes(part.type as MediaPartType);
}

/**
 * A platform id the account never met is unknown, except for a template on a channel that has
 * them: that is how a business writes first (WhatsApp), so the person is recorded and the send
 * goes on. Free-form messages to strangers stay `unknown_contact`.
 */
async function byExternalIdOrMeet(deps: OutboundDeps, entry: AdapterEntry, command: { template?: unknown }, externalId: string, at: Date): Promise<Recipient> {
  try {
    return await byExternalId(deps.db, entry, externalId);
  } catch (error) {
    const businessInitiated = command.template !== undefined && entry.adapter.capabilities.templates !== null;
    if (!(error instanceof OmniError) || error.code !== 'unknown_contact' || !businessInitiated) throw error;
    await deps.meetRecipient(entry, externalId, at);
    deps.notifyRelay();
    return byExternalId(deps.db, entry, externalId);
  }
}
