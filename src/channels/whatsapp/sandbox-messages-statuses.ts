/**
 * The fake's status webhooks: what Meta reports after a send (`sent` → `delivered` → `read`,
 * or `failed` with its error), built in Meta's shape when their turn comes and posted in order
 * through the kit's callback pump.
 */
import type { WebhookRequestSpec } from '../../core/adapter.ts';
import { CallbackPump, type CallbackRecord } from '../../sandbox/index.ts';
import type { FakeState, WhatsAppAccount } from './sandbox-graph.ts';
import { buildStatusWebhook, type StatusInput } from './sandbox-webhooks.ts';

/** A status the fake is to report; the timestamp is taken when it is delivered. */
export interface PendingStatus {
  account: WhatsAppAccount;
  wamid: string;
  recipientId: string;
  status: StatusInput['status'];
  error?: StatusInput['error'];
  /** What Meta bills for the message (per-message pricing). */
  pricing?: StatusInput['pricing'];
}

/** A status webhook the fake built, and what became of it. */
export interface StatusRecord {
  phoneNumberId: string;
  wamid: string;
  status: StatusInput['status'];
  /** Meta's error code for a `failed` status. */
  errorCode?: number;
  /** The signed request, exactly as posted. */
  request: WebhookRequestSpec;
  /** False when there was no `deliverWebhook` or every attempt failed. */
  delivered: boolean;
}

/** The fake's status queue: signed with the account's app secret, stamped at delivery on the fake's clock. */
export function createStatusPump(state: FakeState, delayMs: number): CallbackPump<PendingStatus> {
  return new CallbackPump<PendingStatus>({
    delayMs,
    deliver: state.deliverWebhook,
    build(item) {
      const input: StatusInput = { wamid: item.wamid, status: item.status, recipientId: item.recipientId, timestamp: state.clock.now() };
      if (item.error !== undefined) input.error = item.error;
      if (item.pricing !== undefined) input.pricing = item.pricing;
      return buildStatusWebhook(item.account, input);
    },
  });
}

/** The pump's records in the fake's terms, optionally of one phone number. */
export function statusRecords(records: ReadonlyArray<CallbackRecord<PendingStatus>>, phoneNumberId?: string): StatusRecord[] {
  return records
    .filter((record) => phoneNumberId === undefined || record.item.account.settings.phoneNumberId === phoneNumberId)
    .map(({ item, request, delivered }) => ({
      phoneNumberId: item.account.settings.phoneNumberId,
      wamid: item.wamid,
      status: item.status,
      ...(item.error !== undefined ? { errorCode: item.error.code } : {}),
      request,
      delivered,
    }));
}
