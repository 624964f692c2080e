/**
 * Read and typing signals on WhatsApp (reference 1.4): both are a mark-as-read of the newest
 * customer message, `POST /{phone-number-id}/messages` with `status: read`; typing adds
 * `typing_indicator: { type: text }`, which Meta shows for up to 25 s or until the next message.
 */
import type { SignalRequest } from '../../core/adapter.ts';
import { OmniError } from '../../core/errors.ts';
import type { GraphClient } from './client.ts';

/** The body of a WhatsApp read (and typing) signal. */
export function signalBody(request: SignalRequest): Record<string, unknown> {
  if (request.lastInbound === null) {
    throw new OmniError('invalid_request', 'the conversation has no customer message to mark as read', { details: { reason: 'no_inbound_message' } });
  }
  const body: Record<string, unknown> = { messaging_product: 'whatsapp', status: 'read', message_id: request.lastInbound.externalId };
  if (request.kind === 'typing') body.typing_indicator = { type: 'text' };
  return body;
}

/** Posts the signal; a refusal keeps Meta's code in details. */
export async function sendWhatsAppSignal(graph: GraphClient, phoneNumberId: string, request: SignalRequest, signal: AbortSignal): Promise<void> {
  const response = await graph.postMessage(phoneNumberId, signalBody(request), signal);
  if (response.status >= 200 && response.status < 300) return;
  const text = await response.text().catch(() => '');
  let platformCode: unknown;
  try {
    platformCode = (JSON.parse(text) as { error?: { code?: unknown } }).error?.code;
  } catch {
    platformCode = undefined;
  }
  const code = response.status === 429 ? 'rate_limited' : response.status >= 500 ? 'channel_unavailable' : 'channel_rejected';
  throw new OmniError(code, 'WhatsApp refused the signal', { details: { status: response.status, ...(platformCode !== undefined ? { platformCode } : {}) } });
}
